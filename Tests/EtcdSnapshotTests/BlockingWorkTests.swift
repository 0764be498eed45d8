import EtcdSnapshot
import Foundation
import SnapshotCore
import Synchronization
import Testing

/// A counter shared by tasks and threads.
private final class Counter: Sendable {
  let value = Atomic<Int>(0)
}

@Suite("BlockingWork: CPU-bound work off the cooperative pool")
struct BlockingWorkTests {
  @Test("the work's value or typed error comes back")
  func valueAndError() async throws {
    let value = try await BlockingWork.run { _ throws(SnapshotError) in 6 * 7 }
    #expect(value == 42)
    let error = try await #require(throws: SnapshotError.self) {
      try await BlockingWork.run { _ throws(SnapshotError) -> Int in throw SnapshotError(.corrupt, "page 7 is damaged") }
    }
    #expect(error.code == .corrupt && error.message == "page 7 is damaged")
  }

  @Test("more blocked works than cores leave the pool free for other tasks")
  func poolStaysFree() async throws {
    let blocked = max(4, 2 * ProcessInfo.processInfo.activeProcessorCount)
    let release = DispatchSemaphore(value: 0)
    let started = Counter()
    let outcomes = await withTaskGroup(of: Bool.self) { group in
      for _ in 0..<blocked {
        group.addTask {
          (try? await BlockingWork.run { _ throws(SnapshotError) in
            started.value.add(1, ordering: .relaxed)
            // Bounded: a pool that stayed blocked fails the test instead of hanging it.
            return release.wait(timeout: .now() + .seconds(60)) == .success
          }) ?? false
        }
      }
      // Runs on the cooperative pool only if the works above left it free.
      group.addTask {
        while started.value.load(ordering: .relaxed) < blocked { try? await Task.sleep(for: .milliseconds(5)) }
        for _ in 0..<blocked { release.signal() }
        return true
      }
      var all: [Bool] = []
      for await outcome in group { all.append(outcome) }
      return all
    }
    #expect(outcomes.count == blocked + 1)
    #expect(outcomes.allSatisfy { $0 }, "every blocked work was released by a task on the pool")
  }

  @Test("cancelling the task stops the work at its next check")
  func cancellation() async throws {
    let running = Counter()
    let task = Task {
      try await BlockingWork.run { isStopped throws(SnapshotError) -> Int in
        running.value.store(1, ordering: .relaxed)
        let limit = ContinuousClock.now + .seconds(60)
        while !isStopped() {
          if ContinuousClock.now > limit { return -1 }
          usleep(1000)
        }
        throw SnapshotError(.cancelled, "stopped on request")
      }
    }
    while running.value.load(ordering: .relaxed) == 0 { try await Task.sleep(for: .milliseconds(5)) }
    task.cancel()
    let result = await task.result
    #expect(throws: SnapshotError.self) { try result.get() }
    #expect((try? result.get()) != -1, "the work saw the cancellation")
  }

  @Test("a task cancelled before the work starts hands it a stop at once")
  func cancelledBefore() async throws {
    let task = Task {
      while !Task.isCancelled { await Task.yield() }
      return try await BlockingWork.run { isStopped throws(SnapshotError) in isStopped() }
    }
    task.cancel()
    #expect(try await task.value == true)
  }
}
