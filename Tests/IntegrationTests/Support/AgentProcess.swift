import EtcdTestSupport
import Foundation

#if canImport(Glibc)
  import Glibc
#endif

/// The built executable running `agent` on a free loopback port, spoken to with curl.
final class AgentProcess: Sendable {
  let process: RunningProcess
  let port: Int
  let scheme: String

  /// Starts `etcd-snapshot agent ARGUMENTS --http-listen 127.0.0.1:PORT` and waits until it listens.
  init(_ arguments: [String], environment extra: [String: String] = [:], scheme: String = "http") async throws {
    port = try freeLoopbackPort()
    self.scheme = scheme
    var env = EtcdServer.cleanEnvironment
    env.removeValue(forKey: "ETCDCTL_API")
    for (k, v) in extra { env[k] = v }
    process = try TestProcess.start(Tool.path, ["agent", "--http-listen", "127.0.0.1:\(port)"] + arguments, environment: env)
    let deadline = ContinuousClock.now + .seconds(120)
    // Looked at once more after the deadline: a late wake-up is the test's, not the agent's.
    while true {
      if process.stderrSoFar.contains("listening on \(scheme)://") { return }
      if !process.isRunning { throw HarnessError("the agent exited: \(try process.wait())") }
      if ContinuousClock.now >= deadline { throw HarnessError("the agent did not listen within 120 s: \(process.stderrSoFar)") }
      try await Task.sleep(for: .milliseconds(50))
    }
  }

  var base: String { "\(scheme)://127.0.0.1:\(port)" }

  /// What the agent logged so far.
  var log: String { process.stderrSoFar }

  /// One request with curl: the status and the body.
  func request(_ method: String = "GET", _ path: String, token: String? = nil, extra: [String] = []) throws -> (status: Int, body: String) {
    var args = ["-s", "-S", "--max-time", "120", "-X", method, "-w", "\n%{http_code}"] + extra
    if let token { args += ["-H", "Authorization: Bearer \(token)"] }
    let r = try TestProcess.run("/usr/bin/env", ["curl"] + args + [base + path], timeout: .seconds(150))
    guard r.status == 0, let newline = r.stdout.lastIndex(of: "\n"), let status = Int(r.stdout[r.stdout.index(after: newline)...]) else {
      throw HarnessError("curl \(method) \(path) failed: \(r)")
    }
    return (status, String(r.stdout[..<newline]))
  }

  /// The `/metrics` text.
  func metrics() throws -> String {
    let r = try request("GET", "/metrics")
    guard r.status == 200 else { throw HarnessError("/metrics answered \(r.status): \(r.body)") }
    return r.body
  }

  /// The value of one series (`name{labels}` exactly as rendered, or `name` without labels); nil when absent.
  func metric(_ series: String) throws -> Double? {
    Self.value(of: series, in: try metrics())
  }

  static func value(of series: String, in text: String) -> Double? {
    for line in text.split(separator: "\n") where line.hasPrefix(series + " ") {
      return Double(line.dropFirst(series.count + 1))
    }
    return nil
  }

  /// Polls `condition` every 200 ms until it holds; fails after `timeout` (a hang guard, not a timing assertion).
  func waitUntil(_ what: String, timeout: Duration = .seconds(180), _ condition: () throws -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while true {
      if try condition() { return }
      if !process.isRunning { throw HarnessError("the agent exited while waiting for \(what): \(try process.wait())") }
      if ContinuousClock.now >= deadline { throw HarnessError("\(what) did not happen within \(timeout); log:\n\(log)") }
      try await Task.sleep(for: .milliseconds(200))
    }
  }

  /// SIGTERM, and the exit.
  func stop() throws -> ProcessResult {
    process.signal(SIGTERM)
    return try process.wait(timeout: .seconds(120))
  }
}

/// `Tests/Servers/webhook-receiver.py`: every POST appended to a file as a JSON line.
final class WebhookReceiver: Sendable {
  let process: RunningProcess
  let port: Int
  let file: String
  private let directory: TemporaryDirectory

  init(failFirst: Int = 0) async throws {
    directory = try TemporaryDirectory(prefix: "webhook")
    file = directory.appending("received.jsonl")
    process = try TestProcess.start(
      "/usr/bin/env",
      ["python3", repositoryRoot() + "/Tests/Servers/webhook-receiver.py", "--out", file, "--fail-first", String(failFirst)])
    port = try await portLine(of: process, what: "webhook receiver")
  }

  var url: String { "http://127.0.0.1:\(port)/etcd-alerts" }

  struct Received: Decodable {
    var path: String
    var authorization: String?
    var status: Int
    var body: Body
    struct Body: Decodable {
      var event: String
      var consecutiveFailures: Int
      var run: Run
    }
    struct Run: Decodable {
      var result: String
      var node: String
      var trigger: String
      var locations: [Location]
    }
    struct Location: Decodable {
      var location: String
      var success: Bool
      var code: String?
      var message: String?
    }
  }

  /// The requests received so far.
  func received() throws -> [Received] {
    guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { return [] }
    return try text.split(separator: "\n").map { try JSONDecoder().decode(Received.self, from: Data($0.utf8)) }
  }

  deinit { process.signal(SIGTERM) }
}
