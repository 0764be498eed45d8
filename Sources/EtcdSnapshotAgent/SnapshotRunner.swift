import EtcdSnapshot
import Foundation
import Logging
import SnapshotCore

/// Runs the agent's snapshots one at a time, through the `save` and `prune` use cases the CLI
/// runs, and keeps what the health check, the metrics and the status page report.
///
/// One snapshot at a time: a tick or an API call that comes while one runs is refused
/// (`run` returns nil) and the caller counts it. Retention runs only after a snapshot
/// succeeded locally: a failed snapshot never prunes anything. With S3, the bucket is
/// pruned only when the upload succeeded too.
package actor SnapshotRunner {
  private let metrics: AgentMetrics
  private let hooks: FailureNotifier
  private let logger: Logger
  private let version: String
  private var running = false
  private var nextID = 1
  private var consecutiveFailures = 0
  /// Newest first, at most `historyLimit`.
  package private(set) var history: [SnapshotRun] = []
  /// The newest run the schedule started.
  package private(set) var lastScheduled: SnapshotRun?
  /// The newest success per location.
  package private(set) var lastSuccess: [String: Date] = [:]
  /// When the agent started (the reference for "no success in two periods" before the first).
  package let startedAt: Date
  static let historyLimit = 50

  package init(metrics: AgentMetrics, hooks: FailureNotifier, logger: Logger, version: String, startedAt: Date = Date()) {
    self.metrics = metrics
    self.hooks = hooks
    self.logger = logger
    self.version = version
    self.startedAt = startedAt
  }

  /// When another agent last finished a coordinated tick (counts as a success for health).
  package private(set) var lastDoneElsewhere: Date?

  /// Another agent took a coordinated tick and finished it.
  package func recordDoneElsewhere(at date: Date) {
    lastDoneElsewhere = date
    if lastScheduled?.succeeded == false { lastScheduled = nil }
  }

  /// etcd could not be asked who takes a coordinated tick: recorded as a failed scheduled run.
  package func recordCoordinationFailure(_ error: SnapshotError, configuration: AgentConfiguration) {
    let now = timestamp(Date())
    var locations = [LocationResult(location: "local", success: false, code: error.code.rawValue, message: "coordination: \(error.message)")]
    if configuration.save.s3 != nil {
      locations.append(LocationResult(location: "s3", success: false, code: error.code.rawValue, message: locations[0].message))
    }
    let run = SnapshotRun(
      id: nextID, trigger: .schedule, node: configuration.save.nodeName, startedAt: now, finishedAt: now, durationSeconds: 0,
      result: "failure", locations: locations, pruned: [])
    nextID += 1
    for location in locations {
      metrics.recordSnapshot(location: location.location, duration: .zero, success: false, reason: error.code, finishedAt: Date())
    }
    record(run, configuration: configuration)
  }

  /// The newest success for health: this agent's local one, or another agent's coordinated tick.
  package var newestSuccess: Date? {
    [lastSuccess["local"], lastDoneElsewhere].compactMap { $0 }.max()
  }

  /// True while a snapshot runs.
  package var isRunning: Bool { running }

  /// Takes one snapshot with `configuration`, then applies retention; nil when another
  /// snapshot is still running.
  package func run(_ configuration: AgentConfiguration, trigger: SnapshotTrigger) async -> SnapshotRun? {
    guard !running else { return nil }
    running = true
    defer { running = false }
    let id = nextID
    nextID += 1
    let run = await Self.snapshot(configuration, trigger: trigger, id: id, logger: logger, metrics: metrics)
    record(run, configuration: configuration)
    return run
  }

  private func record(_ run: SnapshotRun, configuration: AgentConfiguration) {
    history.insert(run, at: 0)
    if history.count > Self.historyLimit { history.removeLast(history.count - Self.historyLimit) }
    if run.result == "aborted" {
      logger.notice("snapshot aborted: the agent is stopping (nothing of it is left behind)")
      return
    }
    let finished = Date()
    for location in run.locations where location.success { lastSuccess[location.location] = finished }
    if run.trigger == .schedule { lastScheduled = run }
    if run.succeeded {
      consecutiveFailures = 0
    } else {
      consecutiveFailures += 1
      logger.error("snapshot failed: \(run.failureMessage ?? "unknown error")")
    }
    if let prune = run.pruneError { logger.error("retention after \(run.name ?? "the snapshot") failed: \(prune)") }
    guard !configuration.hooks.isEmpty else { return }
    if !run.succeeded {
      hooks.notify(
        FailureReport(event: "snapshot_failed", agentVersion: version, consecutiveFailures: consecutiveFailures, run: run), using: configuration.hooks
      )
    } else if run.pruneError != nil {
      hooks.notify(FailureReport(event: "prune_failed", agentVersion: version, consecutiveFailures: 0, run: run), using: configuration.hooks)
    }
  }

  /// The snapshot and its retention; every outcome becomes a `SnapshotRun`, nothing throws.
  private nonisolated static func snapshot(
    _ configuration: AgentConfiguration, trigger: SnapshotTrigger, id: Int, logger: Logger, metrics: AgentMetrics
  ) async -> SnapshotRun {
    let started = Date()
    let clock = ContinuousClock.now
    var run = SnapshotRun(
      id: id, trigger: trigger, node: configuration.save.nodeName, startedAt: timestamp(started), finishedAt: "",
      durationSeconds: 0, result: "failure", locations: [], pruned: [])
    let save = SaveSnapshot(configuration: configuration.save, logger: logger)
    do {
      let outcome = try await save.runByLocation(onSkip: { logger.warning("\($0)") })
      let elapsed = ContinuousClock.now - clock
      let saved = outcome.result
      run.name = saved.metadata.name
      run.path = saved.path
      run.size = saved.metadata.size
      run.revision = saved.metadata.revision
      run.locations.append(LocationResult(location: "local", success: true))
      metrics.recordSnapshot(location: "local", duration: saved.duration, success: true, reason: nil, finishedAt: Date())
      metrics.recordSizes(snapshot: saved.metadata.size, database: saved.member.dbSize)
      if configuration.save.s3 != nil {
        if let error = outcome.uploadError {
          run.locations.append(LocationResult(location: "s3", success: false, code: error.code.rawValue, message: error.message))
          metrics.recordSnapshot(location: "s3", duration: elapsed, success: false, reason: error.code, finishedAt: Date())
        } else {
          run.s3Address = saved.upload?.address
          run.locations.append(LocationResult(location: "s3", success: true))
          metrics.recordSnapshot(location: "s3", duration: elapsed, success: true, reason: nil, finishedAt: Date())
        }
      }
      run.result = run.locations.allSatisfy(\.success) ? "success" : "failure"
      let s3 = run.s3Address.map { " and uploaded to \($0)" } ?? ""
      logger.info("snapshot \(saved.metadata.name) saved\(s3) in \(String(format: "%.2fs", elapsed.seconds))")
      // Retention is quick and runs to its end even when the agent is stopping: a snapshot
      // that was saved is never left unpruned by a signal (so the count stays as configured).
      let uploaded = outcome.uploadError == nil
      let (pruned, problem) = await Task { await prune(configuration, uploaded: uploaded, logger: logger, metrics: metrics) }.value
      run.pruned = pruned
      run.pruneError = problem
    } catch  where error.code == .cancelled || Task.isCancelled {
      // The agent is stopping: the save removed what it had written. Not a failure.
      run.result = "aborted"
      run.locations.append(LocationResult(location: "local", success: false, code: error.code.rawValue, message: error.message))
    } catch {
      let elapsed = ContinuousClock.now - clock
      // The local snapshot failed: there is no upload either (it streams from the local file).
      run.locations.append(LocationResult(location: "local", success: false, code: error.code.rawValue, message: error.message))
      metrics.recordSnapshot(location: "local", duration: elapsed, success: false, reason: error.code, finishedAt: Date())
      if configuration.save.s3 != nil {
        run.locations.append(LocationResult(location: "s3", success: false, code: error.code.rawValue, message: error.message))
        metrics.recordSnapshot(location: "s3", duration: elapsed, success: false, reason: error.code, finishedAt: Date())
      }
    }
    let finished = Date()
    run.finishedAt = timestamp(finished)
    run.durationSeconds = (finished.timeIntervalSince(started) * 1000).rounded() / 1000
    return run
  }

  /// Local retention, then S3's (only when the upload succeeded), for this node and prefix:
  /// what was deleted, and why retention did not complete when it did not.
  private nonisolated static func prune(
    _ configuration: AgentConfiguration, uploaded: Bool, logger: Logger, metrics: AgentMetrics
  ) async -> ([String], String?) {
    var prune = configuration.prune
    if !uploaded { prune.s3 = nil }
    do {
      let result = try await Catalog(storage: prune.storage, s3: prune.s3, logger: logger).prune(prune)
      let pruned = result.deleted + result.s3Deleted.map { "\($0) (s3)" }
      metrics.recordRetained(location: "local", count: result.plan.keep.count)
      if let s3Plan = result.s3Plan { metrics.recordRetained(location: "s3", count: s3Plan.keep.count) }
      for name in pruned { logger.info("retention deleted \(name)") }
      return (pruned, nil)
    } catch {
      metrics.recordPruneFailure()
      return ([], error.message)
    }
  }
}
