import EtcdSnapshotAgent
import Foundation
import PropertyBased
import SnapshotCore
import Testing

@testable import EtcdSnapshotAgent

/// A configuration with `spec` and the k3s defaults otherwise.
private func configuration(_ spec: String = "@every 1h") throws -> AgentConfiguration {
  let save = SaveConfiguration(
    connection: ConnectionConfiguration(), storage: SnapshotDirectoryConfiguration(dataDir: "/tmp/x", directory: nil), nodeName: "n1")
  return AgentConfiguration(save: save, schedule: try CronSchedule(parsing: spec, defaultTimeZone: TimeZone(identifier: "UTC")!))
}

private func run(success: Bool, at date: Date) -> SnapshotRun {
  SnapshotRun(
    id: 1, trigger: .schedule, node: "n1", startedAt: rfc3339(timestamp: Int64(date.timeIntervalSince1970)), finishedAt: "",
    durationSeconds: 1, result: success ? "success" : "failure",
    locations: [LocationResult(location: "local", success: success, code: success ? nil : "unavailable", message: success ? nil : "etcd is down")],
    pruned: [])
}

@Suite("agent logic: health, listen addresses, tokens, escaping, configuration changes")
struct AgentLogicTests {
  let start = Date(timeIntervalSince1970: 1_800_000_000)

  @Test("healthy before the first run and within two periods; unhealthy after a failed scheduled run")
  func healthRules() throws {
    let c = try configuration("@every 1h")
    #expect(Health.evaluate(c, lastScheduled: nil, lastSuccess: nil, startedAt: start, now: start.addingTimeInterval(60)).healthy)
    let failed = Health.evaluate(c, lastScheduled: run(success: false, at: start), lastSuccess: start, startedAt: start, now: start)
    #expect(!failed.healthy && failed.reason.contains("failed (local): etcd is down"), "\(failed.reason)")
    let ok = Health.evaluate(c, lastScheduled: run(success: true, at: start), lastSuccess: start, startedAt: start, now: start)
    #expect(ok.healthy)
  }

  @Test("unhealthy when the newest success (or the start) is older than two periods plus the jitter and a minute")
  func healthAge() throws {
    let c = try configuration("@every 1h")
    let limit = 2 * 3600.0 + 5 + 60
    let justIn = Health.evaluate(c, lastScheduled: nil, lastSuccess: start, startedAt: start, now: start.addingTimeInterval(limit - 1))
    #expect(justIn.healthy)
    let stale = Health.evaluate(c, lastScheduled: nil, lastSuccess: start, startedAt: start, now: start.addingTimeInterval(limit + 1))
    #expect(!stale.healthy && stale.reason.contains("the newest successful snapshot"), "\(stale.reason)")
    let never = Health.evaluate(c, lastScheduled: nil, lastSuccess: nil, startedAt: start, now: start.addingTimeInterval(limit + 1))
    #expect(!never.healthy && never.reason.contains("no snapshot has succeeded since the agent started"), "\(never.reason)")
    var disabled = c
    disabled.snapshotsEnabled = false
    #expect(Health.evaluate(disabled, lastScheduled: nil, lastSuccess: nil, startedAt: start, now: start.addingTimeInterval(1e6)).healthy)
  }

  @Test(
    "--http-listen forms",
    arguments: [
      ("127.0.0.1:9180", "127.0.0.1", 9180), (":9180", "0.0.0.0", 9180), ("[::1]:80", "::1", 80), ("localhost:0", "localhost", 0),
    ])
  func listen(text: String, host: String, port: Int) throws {
    let a = try #require(ListenAddress(parsing: text))
    #expect(a.host == host && a.port == port)
    #expect(ListenAddress(parsing: a.description) == a, "description parses back")
  }

  @Test("bad --http-listen values", arguments: ["9180", "host", "host:", "h:70000", "h:-1", "a b:80"])
  func badListen(text: String) {
    #expect(ListenAddress(parsing: text) == nil)
  }

  @Test("constantTimeEqual agrees with ==")
  func tokens() async {
    await propertyCheck(input: Gen.uint8().array(of: 0...8), Gen.uint8().array(of: 0...8)) { a, b in
      #expect(constantTimeEqual(a, b) == (a == b))
      #expect(constantTimeEqual(a, a))
    }
  }

  @Test("escape leaves no markup character outside an entity, and keeps the rest")
  func escaping() async {
    await propertyCheck(input: Gen.character(in: " "..."\u{FF}").string(of: 0...30)) { text in
      let out = escape(text)
      #expect(!out.contains("<") && !out.contains(">") && !out.contains("\"") && !out.contains("'"))
      let back = out.replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">")
        .replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&#39;", with: "'").replacingOccurrences(of: "&amp;", with: "&")
      #expect(back == text)
    }
  }

  @Test("the status page escapes names and messages it did not write")
  func pageEscapes() throws {
    var c = try configuration()
    c.save.nodeName = "n1"
    var failed = run(success: false, at: start)
    failed.locations[0].message = "<script>alert(1)</script>"
    let page = StatusPage(
      configuration: c, history: [failed], lastSuccess: [:], entries: [], listProblem: "<img src=x>",
      health: Health(healthy: false, reason: "<b>bad</b>"), now: start
    ).render()
    #expect(!page.contains("<script") && !page.contains("<img") && !page.contains("<b>"))
    #expect(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"))
  }

  @Test("the jitter is at most 5 s and at most a fifth of the period")
  func jitter() throws {
    #expect(try configuration("@every 2s").jitterBound(after: start) == .milliseconds(400))
    #expect(try configuration("0 */12 * * *").jitterBound(after: start) == .seconds(5))
  }

  @Test("a waiter wakes when the configuration is replaced, and when it is cancelled")
  func configurationStore() async throws {
    let store = ConfigurationStore(try configuration("@every 1h"))
    let generation = store.current.generation
    async let woke: Void = store.waitForChange(from: generation)
    try await Task.sleep(for: .milliseconds(20))
    store.replace(with: try configuration("@every 2h"))
    await woke
    #expect(store.current.configuration.schedule.spec == "@every 2h" && store.current.generation == generation + 1)
    // Cancelled while waiting: returns.
    let task = Task { await store.waitForChange(from: store.current.generation) }
    task.cancel()
    await task.value
    // Already changed: returns at once.
    await store.waitForChange(from: generation)
  }
}

@Suite("agent schedule: coordinated ticks and the health period")
struct AgentScheduleTests {
  @Test("with --coordinate, @every D ticks at multiples of D since the epoch, the same for every agent")
  func alignedTicks() throws {
    var c = try configuration("@every 4s")
    c.coordination = Coordination()
    let t = Date(timeIntervalSince1970: 1_800_000_001.7)
    #expect(c.nextTick(after: t) == Date(timeIntervalSince1970: 1_800_000_004))
    #expect(c.nextTick(after: Date(timeIntervalSince1970: 1_800_000_004)) == Date(timeIntervalSince1970: 1_800_000_008))
    c.coordination = nil
    #expect(c.nextTick(after: t) == Date(timeIntervalSince1970: 1_800_000_005), "alone, @every counts from now as robfig does")
  }

  @Test("the health period is the longest gap between runs")
  func longestGap() throws {
    let start = Date(timeIntervalSince1970: 1_800_000_000)
    #expect(try configuration("0 */12 * * *").longestGap(after: start) == .seconds(12 * 3600))
    let irregular = try #require(try configuration("0 0 1,2 * *").longestGap(after: start))
    #expect(irregular >= .seconds(27 * 86400), "a month, not a day: \(irregular)")
    #expect(try configuration("0 0 30 2 *").longestGap(after: start) == nil)
  }
}
