import EtcdTestSupport
import Foundation
import Testing

/// What an operator sees of the agent, checked by the real tools: Debian's Prometheus scrapes
/// it, promtool lints its metrics and unit-tests the alert rules in contrib/, and headless
/// Chromium loads its status page.
@Suite("agent: Prometheus, promtool, the status page in Chromium", .serialized)
struct AgentObservabilityTests {
  /// A program the suite needs; a missing one fails the run (scripts/install-deps.sh installs it).
  private func program(_ name: String) throws -> String {
    for dir in ["/usr/bin", "/usr/local/bin", "/bin"] where FileManager.default.isExecutableFile(atPath: "\(dir)/\(name)") {
      return "\(dir)/\(name)"
    }
    throw HarnessError("\(name) is not installed: run scripts/install-deps.sh")
  }

  @Test("a real Prometheus scrapes the agent and its query API returns the last-success series; promtool check metrics passes")
  func prometheusScrapes() async throws {
    let prometheus = try program("prometheus")
    let promtool = try program("promtool")
    let server = try await EtcdServer(.etcd35)
    let work = try TemporaryDirectory(prefix: "prom")
    let agent = try await AgentProcess(
      server.connectionArguments + ["--dir", work.appending("snapshots"), "--node-name", "node1", "--etcd-snapshot-schedule-cron", "@every 1s"])
    try await agent.waitUntil("a success") { (try agent.metric("etcd_snapshot_successes_total{location=\"local\"}") ?? 0) >= 1 }

    let lint = try TestProcess.run(promtool, ["check", "metrics"], stdin: try agent.metrics())
    #expect(lint.status == 0, "promtool check metrics: \(lint)")

    let port = try freeLoopbackPort()
    try """
    global:
      scrape_interval: 1s
      evaluation_interval: 1s
    scrape_configs:
      - job_name: etcd-snapshot
        static_configs:
          - targets: ["127.0.0.1:\(agent.port)"]
    """.write(toFile: work.appending("prometheus.yml"), atomically: true, encoding: .utf8)
    let prom = try TestProcess.start(
      prometheus,
      [
        "--config.file=\(work.appending("prometheus.yml"))", "--storage.tsdb.path=\(work.appending("tsdb"))",
        "--web.listen-address=127.0.0.1:\(port)",
      ])
    defer { prom.signal(SIGTERM) }
    struct Answer: Decodable {
      var status: String
      var data: DataPart
      struct DataPart: Decodable { var result: [Series] }
      struct Series: Decodable {
        var metric: [String: String]
        var value: [ValuePart]
      }
      enum ValuePart: Decodable {
        case number(Double)
        case text(String)
        init(from decoder: any Decoder) throws {
          let c = try decoder.singleValueContainer()
          if let d = try? c.decode(Double.self) { self = .number(d) } else { self = .text(try c.decode(String.self)) }
        }
      }
    }
    var found: Answer.Series?
    try await agent.waitUntil("Prometheus has the last-success series", timeout: .seconds(240)) {
      guard prom.isRunning else { throw HarnessError("prometheus exited: \(prom.stderrSoFar)") }
      let r = try TestProcess.run(
        "/usr/bin/env",
        ["curl", "-s", "--max-time", "10", "http://127.0.0.1:\(port)/api/v1/query?query=etcd_snapshot_last_success_timestamp_seconds"])
      guard r.status == 0, let answer = try? JSONDecoder().decode(Answer.self, from: Data(r.stdout.utf8)) else { return false }
      found = answer.data.result.first
      return answer.status == "success" && found != nil
    }
    let series = try #require(found)
    #expect(series.metric["location"] == "local" && series.metric["job"] == "etcd-snapshot", "\(series.metric)")
    if case .text(let text) = series.value.last, let value = Double(text) {
      #expect(value > 1_700_000_000, "a Unix time: \(value)")
    } else {
      Issue.record("the sample's value is not a number: \(series.value)")
    }
    #expect(try agent.stop().status == 0)
  }

  @Test("promtool test rules: the alert rules in contrib/ fire on no success in two periods, on failures and on a missing agent")
  func alertRules() throws {
    let promtool = try program("promtool")
    let root = repositoryRoot()
    let check = try TestProcess.run(promtool, ["check", "rules", root + "/contrib/prometheus/etcd-snapshot-alerts.yaml"])
    #expect(check.status == 0, "\(check)")
    let test = try TestProcess.run(promtool, ["test", "rules", root + "/contrib/prometheus/etcd-snapshot-alerts.test.yaml"])
    #expect(test.status == 0, "\(test)")
  }

  @Test("the status page in headless Chromium shows health, schedule, next runs, the last result per location and the snapshots on a time line")
  func statusPage() async throws {
    let chromium = try program("chromium")
    let server = try await EtcdServer(.etcd35)
    let work = try TemporaryDirectory(prefix: "page")
    // Retention 0 keeps every snapshot, so that those listed before the page are still on it.
    let agent = try await AgentProcess(
      server.connectionArguments + [
        "--dir", work.appending("snapshots"), "--node-name", "node1", "--etcd-snapshot-schedule-cron", "@every 1s",
        "--etcd-snapshot-retention", "0",
      ])
    try await agent.waitUntil("two successes") { (try agent.metric("etcd_snapshot_successes_total{location=\"local\"}") ?? 0) >= 2 }
    let names = try Tool.list(work.appending("snapshots")).map(\.name)
    let r = try TestProcess.run(
      chromium,
      [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--user-data-dir=\(work.appending("profile"))",
        "--dump-dom", agent.base + "/",
      ], timeout: .seconds(180))
    #expect(r.status == 0, "\(r.stderr)")
    let dom = r.stdout
    #expect(dom.contains("<title>etcd-snapshot agent: node1</title>"), "\(dom.prefix(400))")
    #expect(dom.contains("class=\"badge ok\">healthy</span>"), "\(dom)")
    #expect(dom.contains("<code>@every 1s</code>"))
    #expect(dom.components(separatedBy: "class=\"next-run\"").count - 1 == 5, "five next runs")
    #expect(dom.contains("<tr data-location=\"local\"><td>local</td>") && dom.contains("<span class=\"ok\">success</span>"))
    #expect(dom.contains("class=\"lane\" data-location=\"local\" data-node=\"node1\""))
    #expect(dom.components(separatedBy: "class=\"mark").count - 1 >= names.count, "a mark per snapshot listed before the page")
    for name in names.prefix(3) { #expect(dom.contains(name), "\(name) is on the page") }
    #expect(!dom.contains("<script"), "no script on the page")
    #expect(try agent.stop().status == 0)
  }
}
