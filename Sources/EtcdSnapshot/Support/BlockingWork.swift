import Foundation
import SnapshotCore
import Synchronization

/// Runs blocking or CPU-bound work (reading, checking and writing a whole database) on a
/// thread of its own, so that the cooperative thread pool stays free for what shares the
/// process: the agent's HTTP server, its timers, S3 transfers.
///
/// The calling task's cancellation (SIGINT, SIGTERM, an agent shutting down) reaches the work
/// through the `isStopped` it is given: it is checked between chunks, and the work then
/// cleans up and throws `.cancelled` as it would in the task.
package enum BlockingWork {
  /// Runs `body` off the cooperative pool and returns what it returns; `isStopped` turns true
  /// once the calling task is cancelled (or already was).
  package static func run<T: Sendable>(
    _ body: @escaping @Sendable (_ isStopped: @escaping @Sendable () -> Bool) throws(SnapshotError) -> T
  ) async throws(SnapshotError) -> T {
    let stop = StopFlag()
    let result: Result<T, SnapshotError> = await withTaskCancellationHandler {
      await withCheckedContinuation { continuation in
        // A thread of its own, not a Dispatch worker: the work may wait for Dispatch work it
        // started (the restore's hash), which a full worker pool would never run.
        let thread = Thread {
          let isStopped: @Sendable () -> Bool = { stop.isStopped }
          continuation.resume(returning: Result { () throws(SnapshotError) in try body(isStopped) })
        }
        thread.start()
      }
    } onCancel: {
      stop.stop()
    }
    return try result.get()
  }
}

/// A one-way switch from "go on" to "stop", shared between a task and a thread.
final class StopFlag: Sendable {
  private let stopped = Atomic<Bool>(false)

  /// Asks the work to stop.
  func stop() { stopped.store(true, ordering: .relaxed) }

  /// Whether stopping was asked for.
  var isStopped: Bool { stopped.load(ordering: .relaxed) }
}
