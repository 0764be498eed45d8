import Foundation
import Logging
import ServiceLifecycle
import SnapshotCore

/// The schedule as a service: sleeps until each tick (plus a random jitter, as k3s), takes
/// the snapshot through `SnapshotRunner`, and logs the next run time at start and after each
/// run. Ticks that pass while a snapshot runs are skipped and counted.
///
/// On graceful shutdown (SIGTERM, SIGINT) the loop is cancelled: a snapshot in flight is
/// aborted by the save use case, which removes its `.part` and aborts its multipart upload.
/// A configuration replaced on SIGHUP takes effect at once, also between two ticks.
package struct SnapshotScheduler: Service {
  private let store: ConfigurationStore
  private let runner: SnapshotRunner
  private let metrics: AgentMetrics
  private let logger: Logger

  package init(store: ConfigurationStore, runner: SnapshotRunner, metrics: AgentMetrics, logger: Logger) {
    self.store = store
    self.runner = runner
    self.metrics = metrics
    self.logger = logger
  }

  package func run() async throws {
    await cancelWhenGracefulShutdown {
      await loop()
    }
  }

  private func loop() async {
    while !Task.isCancelled {
      let (configuration, generation) = store.current
      guard configuration.snapshotsEnabled else {
        logger.info("scheduled snapshots are disabled (--etcd-disable-snapshots)")
        metrics.recordNextRun(nil)
        metrics.recordPeriod(nil)
        await store.waitForChange(from: generation)
        continue
      }
      let schedule = configuration.schedule
      guard let tick = configuration.nextTick(after: Date()) else {
        logger.warning("the schedule \(quoted(schedule.spec)) has no run time in the next five years: no snapshot will be taken")
        metrics.recordNextRun(nil)
        metrics.recordPeriod(nil)
        await store.waitForChange(from: generation)
        continue
      }
      let bound = configuration.jitterBound(after: tick)
      let jitter = bound > .zero ? Duration.milliseconds(Int64.random(in: 0...(bound.nanoseconds / 1_000_000))) : .zero
      // With --coordinate the jitter delays the snapshot, not the claim: the agents claim at
      // the tick, so that a follower's claim has the whole window before the leader's agent
      // claims, and the winner waits its jitter before it snapshots.
      let start = configuration.coordination == nil ? tick.addingTimeInterval(jitter.seconds) : tick
      metrics.recordNextRun(tick)
      metrics.recordPeriod(configuration.longestGap(after: tick))
      logger.info("next snapshot at \(timestamp(tick)) (\(quoted(schedule.spec)))")
      guard await sleep(until: start, unlessChangedFrom: generation) else { continue }
      if let coordination = configuration.coordination {
        await coordinated(tick, jitter: jitter, configuration: configuration, coordination: coordination)
      } else if await runner.run(configuration, trigger: .schedule) == nil {
        metrics.skippedTicks.increment()
        logger.warning("skipped the tick of \(timestamp(tick)): a snapshot is still running")
        continue
      }
      // Ticks that passed while the snapshot ran were not taken: count them.
      var missed = 0
      var next = tick
      let now = Date()
      while let n = configuration.nextTick(after: next), n <= now, missed < 10_000 {
        missed += 1
        next = n
      }
      if missed > 0 {
        metrics.skippedTicks.increment(by: Int64(missed))
        logger.warning("skipped \(missed) tick(s) that came while the snapshot ran, the last at \(timestamp(next))")
      }
    }
  }

  /// The tick through etcd: this agent snapshots only if it wins the tick (or takes it over
  /// from a holder that went away); it gives up when the next tick comes.
  private func coordinated(_ tick: Date, jitter: Duration, configuration: AgentConfiguration, coordination: Coordination) async {
    let coordinator = TickCoordinator(prefix: coordination.prefix, leaseTTL: coordination.leaseTTL, logger: logger)
    let deadline = configuration.nextTick(after: tick) ?? tick.addingTimeInterval(3600)
    let runner = self.runner
    let outcome = await coordinator.run(tick: tick, configuration: configuration, deadline: deadline) {
      // The claim is held (its lease renewed) while the jitter passes.
      try? await Task.sleep(for: jitter)
      if Task.isCancelled { return nil }
      return await runner.run(configuration, trigger: .schedule)
    }
    switch outcome {
    case .ran(let run):
      metrics.recordTick(outcome: run.succeeded ? "ran" : "failed")
    case .doneElsewhere(let node):
      metrics.recordTick(outcome: "elsewhere")
      await runner.recordDoneElsewhere(at: Date())
      logger.info("the tick of \(timestamp(tick)) was taken by the agent of \(quoted(node))")
    case .busy where Task.isCancelled:
      logger.notice("the tick of \(timestamp(tick)) was given back: the agent is stopping")
    case .busy:
      metrics.recordTick(outcome: "busy")
      metrics.skippedTicks.increment()
      logger.warning("gave the tick of \(timestamp(tick)) back: a snapshot is still running here")
    case .heldElsewhere(let node):
      metrics.recordTick(outcome: "unfinished")
      logger.warning("the tick of \(timestamp(tick)) was still held by \(quoted(node)) when the next tick came")
    case .failed(let error) where error.code == .cancelled || Task.isCancelled:
      logger.notice("the tick of \(timestamp(tick)) was abandoned: the agent is stopping")
    case .failed(let error):
      metrics.recordTick(outcome: "failed")
      await runner.recordCoordinationFailure(error, configuration: configuration)
    }
  }

  /// Sleeps until the wall-clock `date`; false when the configuration changed or the task
  /// was cancelled first. A clock that jumps is re-read: the sleep ends at `date`, not early.
  private func sleep(until date: Date, unlessChangedFrom generation: Int) async -> Bool {
    while true {
      let left = date.timeIntervalSinceNow
      if left <= 0 { return !Task.isCancelled }
      let changed = await withTaskGroup(of: Bool.self) { group in
        group.addTask {
          try? await Task.sleep(for: .milliseconds(Int64(min(left, 3600) * 1000) + 1))
          return false
        }
        group.addTask {
          await store.waitForChange(from: generation)
          return true
        }
        let first = await group.next() ?? true
        group.cancelAll()
        return first
      }
      if changed || Task.isCancelled { return false }
    }
  }
}
