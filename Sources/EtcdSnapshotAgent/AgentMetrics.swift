import Foundation
import Prometheus
import SnapshotCore

/// The agent's Prometheus series, in one registry that `GET /metrics` renders.
///
/// The series are made on swift-prometheus's registry directly rather than through the
/// swift-metrics facade: only the registry carries each family's `# HELP` text, which
/// `promtool check metrics` asks for. Names and units follow Prometheus's conventions.
package final class AgentMetrics: Sendable {
  package let registry: PrometheusCollectorRegistry
  /// Buckets of the duration histogram: a snapshot takes from a second to many minutes.
  static let durationBuckets: [Duration] = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800].map { .milliseconds(Int64($0 * 1000)) }

  package init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry(), version: String) {
    self.registry = registry
    registry.makeGauge(descriptor: metric("build_info", "The agent's version; always 1."), labels: [("version", version)]).set(to: 1)
    skippedTicks.increment(by: Int64(0))
    registry.makeGauge(descriptor: metric("start_time_seconds", "Unix time the agent started."), labels: []).set(to: Date().timeIntervalSince1970)
  }

  /// A scheduled run that came while a snapshot still ran.
  package var skippedTicks: Counter {
    registry.makeCounter(
      descriptor: metric("skipped_ticks_total", "Scheduled runs skipped because a snapshot was still running when they came."), labels: [])
  }

  /// Records a finished snapshot at one location (`local` or `s3`).
  package func recordSnapshot(location: String, duration: Duration, success: Bool, reason: SnapshotError.Code?, finishedAt: Date) {
    registry.makeDurationHistogram(
      descriptor: metric("duration_seconds", "Time a snapshot took, from the first request to the verified file or object."),
      labels: [("location", location), ("result", success ? "success" : "failure")], buckets: Self.durationBuckets
    ).record(duration)
    if success {
      registry.makeGauge(
        descriptor: metric("last_success_timestamp_seconds", "Unix time of the newest successful snapshot at this location."),
        labels: [("location", location)]
      ).set(to: finishedAt.timeIntervalSince1970)
      registry.makeCounter(descriptor: metric("successes_total", "Snapshots that succeeded, by location."), labels: [("location", location)])
        .increment()
    } else {
      registry.makeCounter(
        descriptor: metric("failures_total", "Snapshots that failed, by location and reason (the error code)."),
        labels: [("location", location), ("reason", (reason ?? .internal).rawValue)]
      ).increment()
    }
  }

  /// The newest snapshot's size and the etcd database it came from.
  package func recordSizes(snapshot: Int64, database: Int64) {
    registry.makeGauge(descriptor: metric("last_size_bytes", "Size of the newest snapshot taken."), labels: []).set(to: Double(snapshot))
    registry.makeGauge(descriptor: metric("etcd_db_size_bytes", "Size of the etcd database the newest snapshot came from."), labels: [])
      .set(to: Double(database))
  }

  /// Snapshots of this node kept at a location after retention.
  package func recordRetained(location: String, count: Int) {
    registry.makeGauge(
      descriptor: metric("retained_snapshots", "Snapshots of this node and name prefix kept at the location after the last prune."),
      labels: [("location", location)]
    ).set(to: Double(count))
  }

  /// When the next scheduled snapshot starts (0: none is scheduled).
  package func recordNextRun(_ date: Date?) {
    registry.makeGauge(descriptor: metric("next_run_timestamp_seconds", "Unix time of the next scheduled snapshot; 0 if none."), labels: [])
      .set(to: date?.timeIntervalSince1970 ?? 0)
  }

  /// Retention after a successful snapshot that did not complete.
  package func recordPruneFailure() {
    registry.makeCounter(descriptor: metric("prune_failures_total", "Retention runs after a successful snapshot that failed."), labels: [])
      .increment()
  }

  /// The schedule's period, which the alert rules compare the newest success with (0: none).
  package func recordPeriod(_ period: Duration?) {
    registry.makeGauge(
      descriptor: metric("schedule_period_seconds", "The schedule's period: the time between two scheduled snapshots; 0 if none."), labels: []
    ).set(to: period?.seconds ?? 0)
  }

  /// How a coordinated tick ended for this agent: `ran`, `failed`, `elsewhere` (another
  /// agent took it), `unfinished` (another agent still held it at the next tick), `busy` (won while a
  /// snapshot of this agent still ran, and given back).
  package func recordTick(outcome: String) {
    registry.makeCounter(
      descriptor: metric("coordinated_ticks_total", "Ticks under --coordinate, by how they ended for this agent."), labels: [("outcome", outcome)]
    ).increment()
  }

  /// A failure hook that could not be delivered.
  package func recordHookFailure(kind: String) {
    registry.makeCounter(
      descriptor: metric("hook_failures_total", "Failure hooks (exec, webhook) that failed or timed out."), labels: [("hook", kind)]
    ).increment()
  }

  /// `etcd_snapshot_NAME`; the unit (`seconds`, `bytes`, `total`, `info`) is the name's last word.
  private func metric(_ name: String, _ help: String) -> MetricNameDescriptor {
    let unit = ["seconds", "bytes", "total", "info"].first { name.hasSuffix("_" + $0) }
    let base = unit.map { String(name.dropLast($0.count + 1)) } ?? name
    return MetricNameDescriptor(namespace: "etcd_snapshot", metricName: base, unitName: unit ?? "", helpText: help)
  }

  /// The text format `GET /metrics` answers with.
  package func render() -> String { registry.emitToString() }
}
