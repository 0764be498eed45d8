import EtcdTestSupport
import Foundation

/// `Tests/Servers/fault-proxy.py` in front of a plaintext etcd: corrupts or stalls the stream.
final class FaultProxy: Sendable {
  let process: RunningProcess
  let port: Int
  let readyFile: String
  private let directory: TemporaryDirectory

  /// Starts the proxy towards `upstream` (host:port) with fault flags such as
  /// `["--corrupt-data-after", "200000"]`.
  init(upstream: String, faults: [String]) async throws {
    directory = try TemporaryDirectory(prefix: "proxy")
    readyFile = directory.appending("ready")
    process = try TestProcess.start(
      "/usr/bin/env",
      ["python3", repositoryRoot() + "/Tests/Servers/fault-proxy.py", "--listen-port", "0", "--upstream", upstream]
        + (faults.contains("--stall-after") ? ["--ready-file", readyFile] : []) + faults)
    port = try await portLine(of: process, what: "fault proxy")
  }

  /// The endpoint clients should use.
  var endpoint: String { "http://127.0.0.1:\(port)" }

  /// Waits until the proxy has stalled a connection mid-stream.
  func waitUntilStalled() async throws {
    let deadline = ContinuousClock.now + .seconds(60)
    while !FileManager.default.fileExists(atPath: readyFile) {
      if ContinuousClock.now > deadline && !FileManager.default.fileExists(atPath: readyFile) {
        throw HarnessError("the proxy never stalled a stream")
      }
      try await Task.sleep(for: .milliseconds(10))
    }
  }

  deinit { process.signal(SIGTERM) }
}

/// The port a helper server prints as its first line, `PORT n`.
///
/// A generous harness wait: on a loaded 2-core machine python's start can take >20 s (a CI failure).
/// The output is looked at once more after the deadline (a late wake-up is the test's, not the server's).
func portLine(of process: RunningProcess, what: String) async throws -> Int {
  let deadline = ContinuousClock.now + .seconds(120)
  while true {
    if let line = process.stdoutSoFar.split(separator: "\n").first, line.hasPrefix("PORT "), let p = Int(line.dropFirst(5)) { return p }
    if !process.isRunning { throw HarnessError("\(what) exited: \(try process.wait())") }
    if ContinuousClock.now >= deadline { throw HarnessError("\(what) did not print its port within 120 s") }
    try await Task.sleep(for: .milliseconds(20))
  }
}
