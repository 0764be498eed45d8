import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import SnapshotCore

#if canImport(Glibc)
  import Glibc
#endif

/// Calls the failure hooks, `--on-failure-exec` and `--on-failure-webhook`, with a
/// `FailureReport` as JSON, each in a task of its own: a slow or failing hook never delays
/// the schedule. A hook is bounded by `FailureHooks.timeout` (the command is killed, the
/// request abandoned); the webhook is tried `attempts` times with a growing pause, and a
/// non-2xx answer counts as a failure. Hooks that fail are logged and counted
/// (`etcd_snapshot_hook_failures_total`); the bearer token is never logged.
package final class FailureNotifier: Sendable {
  private let metrics: AgentMetrics
  private let logger: Logger

  package init(metrics: AgentMetrics, logger: Logger) {
    self.metrics = metrics
    self.logger = logger
  }

  /// Starts the hooks for `report` and returns at once.
  package func notify(_ report: FailureReport, using hooks: FailureHooks) {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    guard let body = try? encoder.encode(report) else { return }
    if let command = hooks.exec {
      Task.detached { [self] in await self.exec(command, body: body, hooks: hooks) }
    }
    if let url = hooks.webhook {
      Task.detached { [self] in await self.post(url, body: body, hooks: hooks) }
    }
  }

  // MARK: - --on-failure-exec

  private func exec(_ command: String, body: Data, hooks: FailureHooks) async {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/bin/sh")
    process.arguments = ["-c", command]
    var environment = ProcessInfo.processInfo.environment
    environment["ETCD_SNAPSHOT_FAILURE"] = String(decoding: body, as: UTF8.self)
    process.environment = environment
    let input = Pipe()
    process.standardInput = input
    process.standardOutput = FileHandle.standardError
    process.standardError = FileHandle.standardError
    let exited = AsyncStream<Int32>.makeStream()
    process.terminationHandler = { exited.continuation.yield($0.terminationStatus) }
    do {
      try process.run()
    } catch {
      logger.error("--on-failure-exec could not start /bin/sh: \(error)")
      metrics.recordHookFailure(kind: "exec")
      return
    }
    // A command that does not read its input must not block us: the write is best effort.
    Task.detached {
      try? input.fileHandleForWriting.write(contentsOf: body)
      try? input.fileHandleForWriting.close()
    }
    let timeout = hooks.timeout
    let status: Int32? = await withTaskGroup(of: Int32?.self) { group in
      group.addTask {
        for await status in exited.stream { return status }
        return nil
      }
      group.addTask {
        try? await Task.sleep(for: timeout)
        return nil
      }
      let first = await group.next() ?? nil
      group.cancelAll()
      return first
    }
    guard let status else {
      kill(process.processIdentifier, SIGKILL)
      logger.error("--on-failure-exec did not finish within \(timeout); killed it")
      metrics.recordHookFailure(kind: "exec")
      return
    }
    if status != 0 {
      logger.error("--on-failure-exec exited with status \(status)")
      metrics.recordHookFailure(kind: "exec")
    }
  }

  // MARK: - --on-failure-webhook

  private func post(_ url: URL, body: Data, hooks: FailureHooks) async {
    var token: String?
    if let file = hooks.webhookTokenFile {
      guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
        logger.error("--on-failure-webhook-token-file \(quoted(file)) cannot be read; the webhook was not called")
        metrics.recordHookFailure(kind: "webhook")
        return
      }
      token = text.trimmingCharacters(in: .whitespacesAndNewlines)
    }
    var pause: Duration = .seconds(1)
    for attempt in 1...max(1, hooks.attempts) {
      var request = HTTPClientRequest(url: url.absoluteString)
      request.method = .POST
      request.headers.add(name: "Content-Type", value: "application/json")
      request.headers.add(name: "User-Agent", value: "etcd-snapshot-agent")
      if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
      request.body = .bytes(ByteBuffer(bytes: body))
      let problem: String
      do {
        let response = try await HTTPClient.shared.execute(request, timeout: .nanoseconds(hooks.timeout.nanoseconds))
        _ = try? await response.body.collect(upTo: 64 * 1024)
        if (200..<300).contains(response.status.code) { return }
        problem = "answered \(response.status.code)"
      } catch {
        problem = "failed: \(error)"
      }
      guard attempt < hooks.attempts else {
        logger.error("--on-failure-webhook \(url.redactedForLog) \(problem); gave up after \(attempt) attempt(s)")
        metrics.recordHookFailure(kind: "webhook")
        return
      }
      logger.warning("--on-failure-webhook \(url.redactedForLog) \(problem); trying again in \(pause)")
      try? await Task.sleep(for: pause)
      pause *= 2
    }
  }
}

extension URL {
  /// The URL without user, password and query, which may carry secrets.
  var redactedForLog: String {
    guard var parts = URLComponents(url: self, resolvingAgainstBaseURL: false) else { return "(webhook)" }
    parts.user = nil
    parts.password = nil
    parts.query = parts.query == nil ? nil : "…"
    return parts.string ?? "(webhook)"
  }
}
