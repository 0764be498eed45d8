import EtcdTestSupport
import Foundation
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// `etcd-snapshot agent` as a user runs it: the built executable against real etcd, moto S3,
/// a webhook receiver and a shell hook, spoken to over HTTP.
@Suite("agent: schedule, retention, metrics, health, hooks, API", .serialized)
struct AgentTests {
  /// The snapshots of `node` in `rows` at `location` with the agent's default prefix.
  private func count(_ rows: [ListedS3], location: String, node: String = "node1") -> Int {
    rows.filter { $0.location == location && $0.name.hasPrefix("etcd-snapshot-\(node)-") }.count
  }

  @Test("@every 2s with retention 3 keeps exactly 3, locally and in S3; /metrics counts the successes")
  func retentionLocalAndS3() async throws {
    let server = try await EtcdServer(.etcd35)
    try server.putKeys(prefix: "agent", count: 50)
    let s3 = try await S3Fixture(folder: "agent/")
    let agent = try await AgentProcess(
      server.connectionArguments + [
        "--dir", s3.dir, "--node-name", "node1", "--etcd-snapshot-schedule-cron", "@every 2s", "--etcd-snapshot-retention", "3",
        "--etcd-s3-retention", "3",
      ] + s3.arguments(), environment: s3.environment)
    try await agent.waitUntil("five successful snapshots in S3") {
      (try agent.metric("etcd_snapshot_successes_total{location=\"s3\"}") ?? 0) >= 5
    }
    let metrics = try agent.metrics()
    #expect(AgentProcess.value(of: "etcd_snapshot_retained_snapshots{location=\"local\"}", in: metrics) == 3, "\(metrics)")
    #expect(AgentProcess.value(of: "etcd_snapshot_retained_snapshots{location=\"s3\"}", in: metrics) == 3, "\(metrics)")
    #expect((AgentProcess.value(of: "etcd_snapshot_last_success_timestamp_seconds{location=\"local\"}", in: metrics) ?? 0) > 1_700_000_000)
    #expect(!metrics.contains("etcd_snapshot_failures_total{"), "no failures: \(metrics)")
    let stopped = try agent.stop()
    #expect(stopped.status == 0, "SIGTERM stops the agent cleanly: \(stopped)")
    #expect(stopped.stderr.contains("next snapshot at"), "the next run is logged")
    let rows = try s3.list()
    #expect(count(rows, location: "local") == 3, "\(rows.map(\.name))")
    #expect(count(rows, location: "s3") == 3, "\(rows.map(\.name))")
    #expect(rows.allSatisfy { $0.problem == nil && $0.verified }, "\(rows)")
    let leftovers = try FileManager.default.contentsOfDirectory(atPath: s3.dir).filter { $0.hasSuffix(".part") }
    #expect(leftovers.isEmpty, "no .part after SIGTERM: \(leftovers)")
    #expect(try s3.openUploads().isEmpty, "no multipart upload left open")
  }

  @Test("etcd stopped: failures counted, /healthz unhealthy, both hooks called (webhook retried); etcd back: it recovers by itself")
  func failureAndRecovery() async throws {
    let server = try await EtcdServer(.etcd35)
    let work = try TemporaryDirectory(prefix: "agent")
    let webhook = try await WebhookReceiver(failFirst: 1)
    try "hook-secret\n".write(toFile: work.appending("hook-token"), atomically: true, encoding: .utf8)
    let execOut = work.appending("exec.jsonl")
    let agent = try await AgentProcess(
      server.connectionArguments + [
        "--dir", work.appending("snapshots"), "--node-name", "node1", "--etcd-snapshot-schedule-cron", "@every 1s",
        "--etcd-snapshot-retention", "1", "--dial-timeout", "1s", "--command-timeout", "3s",
        "--on-failure-exec", "cat >> '\(execOut)'; echo >> '\(execOut)'",
        "--on-failure-webhook", webhook.url, "--on-failure-webhook-token-file", work.appending("hook-token"),
      ])
    try await agent.waitUntil("a first success") { (try agent.metric("etcd_snapshot_successes_total{location=\"local\"}") ?? 0) >= 1 }
    #expect(try agent.request("GET", "/healthz").status == 200)
    #expect(try agent.request("GET", "/readyz").status == 200)

    let pid = try #require(server.pid)
    kill(pid, SIGSTOP)
    var resumed = false
    defer { if !resumed { kill(pid, SIGCONT) } }
    try await agent.waitUntil("failures counted") { try agent.metrics().contains("etcd_snapshot_failures_total{location=\"local\"") }
    // Older snapshots of this node, beyond the retention of 1: a failed snapshot must not prune them.
    let dir = work.appending("snapshots")
    let existing = try #require(try Tool.list(dir).first)
    let planted = (1...3).map { "\(dir)/etcd-snapshot-node1-\(1_700_000_000 + $0)" }
    for path in planted { try FileManager.default.copyItem(atPath: existing.path, toPath: path) }
    let failedBefore = try agent.metrics().split(separator: "\n").filter { $0.hasPrefix("etcd_snapshot_failures_total{") }
    try await agent.waitUntil("another failure after they were planted") {
      try agent.metrics().split(separator: "\n").filter { $0.hasPrefix("etcd_snapshot_failures_total{") } != failedBefore
    }
    for path in planted { #expect(FileManager.default.fileExists(atPath: path), "a failed snapshot prunes nothing: \(path)") }
    try await agent.waitUntil("/healthz unhealthy") { try agent.request("GET", "/healthz").status == 503 }
    let health = try agent.request("GET", "/healthz")
    #expect(health.body.contains("the last scheduled snapshot") && health.body.contains("failed"), "\(health.body)")
    try await agent.waitUntil("the webhook retried after a 503 and was answered 204") { try webhook.received().count >= 2 }
    let received = try webhook.received()
    #expect(received[0].status == 503 && received[1].status == 204, "\(received.map(\.status))")
    for r in received.prefix(2) {
      #expect(r.authorization == "Bearer hook-secret")
      #expect(r.path == "/etcd-alerts")
      #expect(r.body.event == "snapshot_failed" && r.body.run.result == "failure" && r.body.run.node == "node1")
      #expect(r.body.run.locations.first?.success == false && r.body.run.locations.first?.message?.isEmpty == false)
      #expect(r.body.consecutiveFailures >= 1)
    }
    try await agent.waitUntil("the exec hook wrote the failure") {
      ((try? String(contentsOfFile: execOut, encoding: .utf8)) ?? "").contains("\"event\":\"snapshot_failed\"")
    }
    #expect(!agent.log.contains("hook-secret"), "the webhook token is never logged")

    kill(pid, SIGCONT)
    resumed = true
    let before = try agent.metric("etcd_snapshot_successes_total{location=\"local\"}") ?? 0
    try await agent.waitUntil("a success after etcd came back") {
      (try agent.metric("etcd_snapshot_successes_total{location=\"local\"}") ?? 0) > before
    }
    try await agent.waitUntil("/healthz healthy again") { try agent.request("GET", "/healthz").status == 200 }
    #expect(try agent.stop().status == 0)
    for path in planted { #expect(!FileManager.default.fileExists(atPath: path), "the next success pruned it: \(path)") }
    #expect(try Tool.list(dir).count == 1, "retention 1 after the success")
  }

  @Test("API: POST and DELETE need the bearer token (none and a wrong one are 401, unlogged); snapshot now and delete work")
  func api() async throws {
    let server = try await EtcdServer(.etcd35)
    let work = try TemporaryDirectory(prefix: "agent")
    let dir = work.appending("snapshots")
    try "s3cr3t-api-token\n".write(toFile: work.appending("token"), atomically: true, encoding: .utf8)
    let agent = try await AgentProcess(
      server.connectionArguments + ["--dir", dir, "--node-name", "node1", "--etcd-disable-snapshots", "--api-token-file", work.appending("token")])
    #expect(try agent.request("POST", "/v1/snapshots").status == 401)
    #expect(try agent.request("POST", "/v1/snapshots", token: "wrong").status == 401)
    let made = try agent.request("POST", "/v1/snapshots", token: "s3cr3t-api-token")
    #expect(made.status == 201, "\(made.body)")
    struct Made: Decodable {
      var name: String
      var path: String
      var result: String
      var trigger: String
    }
    let run = try JSONDecoder().decode(Made.self, from: Data(made.body.utf8))
    #expect(run.result == "success" && run.trigger == "api")
    #expect(FileManager.default.fileExists(atPath: run.path))

    let listed = try agent.request("GET", "/v1/snapshots")
    #expect(listed.status == 200)
    let rows = try JSONDecoder().decode([Listed].self, from: Data(listed.body.utf8))
    #expect(rows == (try Tool.list(dir)), "the API lists what `ls -o json` lists")
    #expect(rows.map(\.name) == [run.name])

    #expect(try agent.request("DELETE", "/v1/snapshots/\(run.name)").status == 401)
    #expect(try agent.request("DELETE", "/v1/snapshots/\(run.name)", token: "nope").status == 401)
    #expect(FileManager.default.fileExists(atPath: run.path), "a refused DELETE deletes nothing")
    let unknown = try agent.request("DELETE", "/v1/snapshots/etcd-snapshot-node1-1", token: "s3cr3t-api-token")
    #expect(unknown.status == 404, "\(unknown)")
    let deleted = try agent.request("DELETE", "/v1/snapshots/\(run.name)", token: "s3cr3t-api-token")
    #expect(deleted.status == 200, "\(deleted)")
    #expect(!FileManager.default.fileExists(atPath: run.path))
    #expect(try Tool.list(dir).isEmpty)
    let log = try agent.stop().stderr
    #expect(log.contains("refused POST /v1/snapshots: no bearer token") && log.contains("wrong bearer token"), "\(log)")
    #expect(!log.contains("s3cr3t-api-token") && !log.contains("nope"), "tokens are never logged: \(log)")

    // Without a token file, the API is read-only.
    let readOnly = try await AgentProcess(server.connectionArguments + ["--dir", dir, "--etcd-disable-snapshots"])
    #expect(try readOnly.request("POST", "/v1/snapshots", token: "anything").status == 403)
    #expect(try readOnly.request("GET", "/v1/snapshots").status == 200)
    #expect(try readOnly.stop().status == 0)
  }

  @Test("SIGTERM while a snapshot streams and uploads: exit 0 within the bound, no .part, no open multipart upload, nothing listed half-made")
  func stopMidSnapshot() async throws {
    let server = try await EtcdServer(.etcd35)
    try S3Fixture.fill(server, megabytes: 48)
    let s3 = try await S3Fixture(folder: "stop/")
    let agent = try await AgentProcess(
      server.connectionArguments + ["--dir", s3.dir, "--node-name", "node1", "--etcd-snapshot-schedule-cron", "@every 1s"] + s3.arguments(),
      environment: s3.environment)
    try await agent.waitUntil("a snapshot in flight") {
      ((try? FileManager.default.contentsOfDirectory(atPath: s3.dir)) ?? []).contains { $0.hasSuffix(".part") }
    }
    let stopped = try agent.stop()
    #expect(stopped.status == 0, "\(stopped)")
    #expect(stopped.stderr.contains("snapshot aborted: the agent is stopping"), "an abort is not a failure: \(stopped.stderr)")
    #expect(!stopped.stderr.contains("snapshot failed"), "\(stopped.stderr)")
    let left = (try? FileManager.default.contentsOfDirectory(atPath: s3.dir)) ?? []
    #expect(!left.contains { $0.hasSuffix(".part") }, "no .part: \(left)")
    #expect(try s3.openUploads().isEmpty, "the multipart upload was aborted")
    for row in try s3.list() { #expect(row.problem == nil && row.verified, "only whole snapshots are listed: \(row)") }
  }

  @Test("HTTPS with --http-tls-cert and --http-tls-key; a key without a certificate is refused")
  func https() async throws {
    let work = try TemporaryDirectory(prefix: "agent")
    let certificates = try TestCertificates(in: work.appending("certs"))
    let agent = try await AgentProcess(
      [
        "--endpoints", "127.0.0.1:9", "--dir", work.appending("s"), "--etcd-disable-snapshots", "--http-tls-cert", certificates.serverCert,
        "--http-tls-key", certificates.serverKey,
      ], scheme: "https")
    let r = try agent.request("GET", "/readyz", extra: ["--cacert", certificates.ca])
    #expect(r.status == 200 && r.body.hasPrefix("ready"), "\(r)")
    #expect(throws: (any Error).self, "TLS verification is on: an unknown CA is refused") {
      try agent.request("GET", "/readyz", extra: ["--cacert", certificates.otherCA])
    }
    #expect(try agent.stop().status == 0)
    let bad = try Tool.run(["agent", "--check-config", "--dir", work.appending("s"), "--http-tls-key", certificates.serverKey])
    #expect(bad.status == 64 && bad.stderr.contains("--http-tls-key needs --http-tls-cert"), "\(bad)")
  }

  @Test("--check-config: a k3s config.yaml gives k3s's schedule, retention and bucket; bad specs stop it with the field named")
  func checkConfig() throws {
    let work = try TemporaryDirectory(prefix: "agent")
    let config = work.appending("config.yaml")
    try """
    token: K10abcdef::server:secret
    node-name: cp-1
    etcd-snapshot-schedule-cron: "CRON_TZ=Europe/Berlin 0 */6 * * *"
    etcd-snapshot-retention: 2
    etcd-snapshot-dir: \(work.appending("snapshots"))
    etcd-s3: true
    etcd-s3-endpoint: 127.0.0.1:9
    etcd-s3-bucket: backups
    etcd-s3-folder: prod
    etcd-s3-retention: 7
    """.write(toFile: config, atomically: true, encoding: .utf8)
    let r = try Tool.run(["agent", "-c", config, "--check-config"])
    #expect(r.status == 0, "\(r)")
    #expect(r.stdout.contains("schedule: CRON_TZ=Europe/Berlin 0 */6 * * * (Europe/Berlin)"), "\(r.stdout)")
    #expect(r.stdout.contains("/etcd-snapshot-cp-1-<unix time>, retention 2"), "\(r.stdout)")
    #expect(r.stdout.contains("s3: s3://backups/prod/, retention 7"), "\(r.stdout)")
    let runs = r.stdout.split(separator: "\n").filter { $0.hasPrefix("  ") }
    #expect(runs.count == 5, "\(r.stdout)")
    // Every six hours in Berlin time: 00, 06, 12, 18 local, printed with Berlin's offset.
    #expect(
      runs.allSatisfy { $0.contains("T00:00:00+") || $0.contains("T06:00:00+") || $0.contains("T12:00:00+") || $0.contains("T18:00:00+") }, "\(runs)")
    #expect(r.stderr.contains("`token` is not an etcd-snapshot setting") && !r.stderr.contains("K10abcdef"), "\(r.stderr)")

    let defaults = try Tool.run(["agent", "--check-config", "--dir", work.appending("d"), "--node-name", "n"])
    #expect(defaults.status == 0, "\(defaults)")
    #expect(defaults.stdout.contains("schedule: 0 */12 * * *") && defaults.stdout.contains("retention 5"), "k3s's defaults: \(defaults.stdout)")
    #expect(defaults.stdout.contains("etcd-snapshot-n-<unix time>"), "k3s's name prefix: \(defaults.stdout)")

    let bad = try Tool.run(["agent", "--check-config", "--dir", work.appending("d"), "--etcd-snapshot-schedule-cron", "0 25 * * *"])
    #expect(bad.status == 64, "\(bad)")
    #expect(bad.stderr.contains("field \"hour\"") && bad.stderr.contains("25"), "\(bad.stderr)")
    let missing = try Tool.run(["agent", "--check-config", "--dir", work.appending("d"), "--cacert", work.appending("no-ca.pem")])
    #expect(missing.status == 64 && missing.stderr.contains("--cacert") && missing.stderr.contains("cannot be read"), "\(missing)")
    let never = try Tool.run(["agent", "--check-config", "--dir", work.appending("d"), "--etcd-snapshot-schedule-cron", "0 0 30 2 *"])
    #expect(never.status == 0 && never.stdout.contains("next runs: none in the next five years"), "\(never)")
    let suspicious = try Tool.run(["agent", "--check-config", "--dir", work.appending("d"), "--etcd-snapshot-schedule-cron", "* */5 * * *"])
    #expect(suspicious.status == 0 && suspicious.stderr.contains("0 */5 * * *"), "a warning suggests the fix: \(suspicious)")
  }

  @Test("SIGHUP reloads the config file; a bad one is reported and the old schedule keeps running")
  func reload() async throws {
    let work = try TemporaryDirectory(prefix: "agent")
    let config = work.appending("config.yaml")
    try "etcd-snapshot-schedule-cron: \"@every 1h\"\netcd-snapshot-dir: \(work.appending("s"))\n".write(
      toFile: config, atomically: true, encoding: .utf8)
    let agent = try await AgentProcess(["-c", config, "--endpoints", "127.0.0.1:9"])
    try "etcd-snapshot-schedule-cron: \"0 99 * * *\"\netcd-snapshot-dir: \(work.appending("s"))\n".write(
      toFile: config, atomically: true, encoding: .utf8)
    agent.process.signal(SIGHUP)
    try await agent.waitUntil("the bad configuration reported") { agent.log.contains("the old one keeps running") }
    #expect(agent.log.contains("field \"hour\""), "\(agent.log)")
    try "etcd-snapshot-schedule-cron: \"@every 2h\"\netcd-snapshot-dir: \(work.appending("s"))\n".write(
      toFile: config, atomically: true, encoding: .utf8)
    agent.process.signal(SIGHUP)
    try await agent.waitUntil("the new schedule in force") { agent.log.contains("configuration reloaded; schedule `@every 2h`") }
    try await agent.waitUntil("the next run logged for the new schedule") { agent.log.contains("(`@every 2h`)") }
    #expect(try agent.stop().status == 0)
  }
}
