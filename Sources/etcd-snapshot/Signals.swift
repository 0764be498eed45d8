import Foundation
import UnixSignals

#if canImport(Glibc)
  import Glibc
#endif

/// How long a stopped command may take to clean up before the process exits anyway.
let cleanupBound: Duration = .seconds(30)

/// Runs `body`, cancelling it on SIGINT or SIGTERM (swift-service-lifecycle's `UnixSignals`)
/// so that it removes what it half-wrote before the process exits with the error `body` then
/// throws. A body that does not end within `cleanupBound` after the signal is not waited for.
func cancellingOnSignals<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) async throws -> T {
  // Ignored first, so that a signal arriving before the handler is set does not kill the
  // process half-way (Dispatch's handler then takes over).
  for number in [SIGINT, SIGTERM] { signal(number, SIG_IGN) }
  let signals = await UnixSignalsSequence(trapping: .sigint, .sigterm)
  return try await withThrowingTaskGroup(of: T?.self) { group in
    group.addTask { try await body() }
    group.addTask {
      for await _ in signals {
        return nil
      }
      return nil
    }
    while let outcome = try await group.next() {
      if let value = outcome {
        group.cancelAll()
        return value
      }
      // A signal: stop the body, and give it a bounded time to clean up.
      group.cancelAll()
      group.addTask {
        try? await Task.sleep(for: cleanupBound)
        guard !Task.isCancelled else { return nil }
        note("etcd-snapshot: stopped; cleaning up took longer than \(cleanupBound), exiting anyway")
        exit(130)
      }
    }
    throw CancellationError()
  }
}
