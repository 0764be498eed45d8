import Foundation
import SnapshotCore

/// What `GET /healthz` answers: unhealthy when the last scheduled snapshot failed, or when
/// the newest local success (or, before the first, the agent's start) is older than two
/// periods of the schedule.
package struct Health: Sendable, Equatable, Codable {
  package var healthy: Bool
  package var reason: String

  /// Pure, so that it is tested without a clock or a server.
  package static func evaluate(
    _ configuration: AgentConfiguration, lastScheduled: SnapshotRun?, lastSuccess: Date?, startedAt: Date, now: Date
  ) -> Health {
    guard configuration.snapshotsEnabled else {
      return Health(healthy: true, reason: "scheduled snapshots are disabled (--etcd-disable-snapshots)")
    }
    if let run = lastScheduled, !run.succeeded {
      let failed = run.locations.filter { !$0.success }.map(\.location).joined(separator: ", ")
      return Health(
        healthy: false, reason: "the last scheduled snapshot (\(run.startedAt)) failed (\(failed)): \(run.failureMessage ?? "unknown error")")
    }
    let reference = lastSuccess ?? startedAt
    if let period = configuration.longestGap(after: reference) {
      let limit = 2 * period.seconds
      // Jitter and the snapshot's own time come on top of two periods.
      let slack = configuration.jitter.seconds + min(60, period.seconds)
      let age = now.timeIntervalSince(reference)
      if age > limit + slack {
        let what =
          lastSuccess == nil
          ? "no snapshot has succeeded since the agent started at \(timestamp(startedAt))"
          : "the newest successful snapshot is from \(timestamp(reference))"
        return Health(healthy: false, reason: "\(what), more than two periods (\(GoDuration.format(period * 2))) ago")
      }
    }
    if let run = lastScheduled { return Health(healthy: true, reason: "the last scheduled snapshot (\(run.startedAt)) succeeded") }
    return Health(healthy: true, reason: "no scheduled snapshot has run yet")
  }
}
