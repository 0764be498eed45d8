import Dispatch

/// A task executor with a thread of its own (a serial Dispatch queue, which Dispatch gives a
/// thread even when the cooperative pool is full).
///
/// The test process runs many suites at once, and CPU-bound synchronous tests can hold every
/// thread of the cooperative pool for minutes. Work that must answer a peer within a bound
/// (a gRPC client's connect) runs under `withTaskExecutorPreference(executor)` so that its
/// timeouts measure the peer, not the other tests.
package final class DedicatedTaskExecutor: TaskExecutor, @unchecked Sendable {
  private let queue: DispatchQueue

  /// An executor whose jobs run on their own serial queue named `label`.
  package init(label: String) {
    queue = DispatchQueue(label: label)
  }

  package func enqueue(_ job: consuming ExecutorJob) {
    let job = UnownedJob(job)
    let executor = asUnownedTaskExecutor()
    queue.async { job.runSynchronously(on: executor) }
  }
}
