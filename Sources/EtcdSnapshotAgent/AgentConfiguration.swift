import Foundation
import SnapshotCore

/// Everything `etcd-snapshot agent` runs with: what one scheduled snapshot is (the `save`
/// configuration), when, what is kept afterwards, who is told when it fails, and where the
/// HTTP server listens. Built by the executable from flags, `ETCD_SNAPSHOT_*` and the config
/// files, through the same settings layer as every other command.
package struct AgentConfiguration: Sendable {
  /// One snapshot: connection, directory, name prefix (k3s's `etcd-snapshot`), node, S3.
  package var save: SaveConfiguration
  /// `--etcd-snapshot-schedule-cron` (k3s's default `0 */12 * * *`).
  package var schedule: CronSchedule
  /// `--etcd-disable-snapshots`: no scheduled snapshots; the HTTP server still runs.
  package var snapshotsEnabled = true
  /// `--etcd-snapshot-retention`: snapshots of this node kept locally (0 keeps all); the S3
  /// retention is `save.s3.retention`.
  package var retention = 5
  /// `--http-listen`.
  package var listen = ListenAddress(host: "127.0.0.1", port: 9180)
  /// `--http-tls-cert` and `--http-tls-key`, both or neither.
  package var tlsCertificate: String?
  package var tlsKey: String?
  /// `--api-token-file`: the bearer token that `POST` and `DELETE` need; without it they are refused.
  package var apiTokenFile: String?
  /// `--on-failure-exec`, `--on-failure-webhook`.
  package var hooks = FailureHooks()
  /// Upper bound of the random delay added to each tick, as k3s; never more than a fifth of
  /// the schedule's period, so that a schedule of seconds is not pushed past its next tick.
  package var jitter: Duration = .seconds(5)

  /// `--coordinate`: one snapshot per tick cluster-wide, through etcd; nil: off.
  package var coordination: Coordination?

  package init(save: SaveConfiguration, schedule: CronSchedule) {
    self.save = save
    self.schedule = schedule
  }

  /// What prunes after a successful snapshot: this node's snapshots with this prefix, locally
  /// with `retention` and in S3 with the S3 retention, as k3s does after each scheduled run.
  package var prune: PruneConfiguration {
    var prune = PruneConfiguration(storage: save.storage)
    prune.retention = retention
    prune.namePrefix = save.namePrefix
    prune.s3 = save.s3
    prune.node = save.nodeName
    prune.waitLock = save.waitLock
    return prune
  }

  /// Every problem, in words (the settings layer adds where each value came from).
  package func problems() -> [String] {
    var problems = save.problems()
    if retention < 0 { problems.append("--etcd-snapshot-retention must be 0 (keep all) or more (got \(retention))") }
    switch (tlsCertificate, tlsKey) {
    case (nil, nil), (.some, .some): break
    case (.some, nil): problems.append("--http-tls-cert needs --http-tls-key (the certificate's private key)")
    case (nil, .some): problems.append("--http-tls-key needs --http-tls-cert")
    }
    if let url = hooks.webhook {
      if url.scheme != "http" && url.scheme != "https" || url.host == nil {
        problems.append("--on-failure-webhook must be an http:// or https:// URL (got \(quoted(url.absoluteString)))")
      }
    }
    if let coordination {
      if coordination.prefix.isEmpty { problems.append("--coordinate-prefix must not be empty (default /etcd-snapshot/coordination/)") }
      if coordination.leaseTTL < .seconds(2) { problems.append("--coordinate-lease-ttl must be at least 2s") }
    }
    if hooks.webhookTokenFile != nil && hooks.webhook == nil {
      problems.append("--on-failure-webhook-token-file needs --on-failure-webhook")
    }
    return problems
  }

  /// The first tick after `date`. With coordination, `@every D` runs at multiples of D since
  /// the Unix epoch, so that every agent has the same ticks (alone, it counts from its start
  /// as robfig/cron does).
  package func nextTick(after date: Date) -> Date? {
    guard coordination != nil, let interval = schedule.interval, interval >= .seconds(1) else { return schedule.next(after: date) }
    let step = interval.seconds
    return Date(timeIntervalSince1970: ((date.timeIntervalSince1970 / step).rounded(.down) + 1) * step)
  }

  /// The period that health and the alert rules allow two of: the longest gap between the
  /// next runs (a spec such as `0 0 1,2 * *` has gaps of a day and of a month; the month counts).
  package func longestGap(after date: Date) -> Duration? {
    if let interval = schedule.interval { return interval }
    var runs: [Date] = []
    var after = date
    while runs.count < 13, let n = nextTick(after: after) {
      runs.append(n)
      after = n
    }
    guard runs.count >= 2 else { return nil }
    let gaps = zip(runs.dropFirst(), runs).map { $0.timeIntervalSince($1) }
    return gaps.max().map { .milliseconds(Int64($0 * 1000)) }
  }

  /// The jitter bound for this schedule.
  package func jitterBound(after date: Date) -> Duration {
    guard let period = schedule.period(after: date) else { return jitter }
    return min(jitter, period / 5)
  }
}

/// How agents on several members share the ticks (`--coordinate`).
package struct Coordination: Sendable, Equatable {
  /// `--coordinate-prefix`: where the tick keys go.
  package var prefix = "/etcd-snapshot/coordination/"
  /// `--coordinate-lease-ttl`: how soon a tick whose holder died is taken over.
  package var leaseTTL: Duration = .seconds(10)

  package init() {}
}

/// Where the HTTP server listens: `HOST:PORT`, `[V6]:PORT` or `:PORT` (all addresses).
package struct ListenAddress: Sendable, Equatable, CustomStringConvertible {
  package var host: String
  package var port: Int

  package init(host: String, port: Int) {
    self.host = host
    self.port = port
  }

  /// Parses `127.0.0.1:9180`, `[::1]:9180`, `:9180`; nil when it is none of these.
  package init?(parsing text: String) {
    guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else {
      return nil
    }
    var host = String(text[..<colon])
    if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
    if host.isEmpty { host = "0.0.0.0" }
    guard !host.contains(" ") else { return nil }
    self.host = host
    self.port = port
  }

  package var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// Who is told when a scheduled snapshot fails.
package struct FailureHooks: Sendable {
  /// A command run with `/bin/sh -c`, the failure as JSON on its standard input.
  package var exec: String?
  /// A URL the failure is POSTed to as JSON.
  package var webhook: URL?
  /// A file holding the bearer token sent to the webhook.
  package var webhookTokenFile: String?
  /// How long one hook may run (the command, or one webhook attempt).
  package var timeout: Duration = .seconds(30)
  /// Webhook attempts in all.
  package var attempts = 3

  package init() {}

  package var isEmpty: Bool { exec == nil && webhook == nil }
}
