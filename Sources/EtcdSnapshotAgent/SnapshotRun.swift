import EtcdSnapshot
import Foundation
import SnapshotCore

/// What started a snapshot.
package enum SnapshotTrigger: String, Sendable, Codable {
  /// A tick of the schedule.
  case schedule
  /// `POST /v1/snapshots`.
  case api
}

/// How one location fared in a run: `local` (the snapshot directory) or `s3`.
package struct LocationResult: Sendable, Codable, Equatable {
  package var location: String
  package var success: Bool
  /// The error code (`unavailable`, `cannotWrite`, …) when it failed.
  package var code: String?
  /// What went wrong and what to do, as the CLI would print it.
  package var message: String?
}

/// One snapshot run of the agent, as `POST /v1/snapshots` answers it, the status page shows
/// it and the failure hooks receive it (documented in the README, "Failure hooks").
package struct SnapshotRun: Sendable, Codable, Equatable {
  /// Counts up from 1 in each agent process.
  package var id: Int
  package var trigger: SnapshotTrigger
  /// The node the snapshot is named after.
  package var node: String
  package var startedAt: String
  package var finishedAt: String
  package var durationSeconds: Double
  /// `success`: the snapshot is everywhere it should be; `failure`: it is missing somewhere;
  /// `aborted`: the agent stopped while it ran (SIGTERM), and it was cleaned up.
  package var result: String
  /// The snapshot's file name, when the local save succeeded.
  package var name: String?
  package var path: String?
  package var size: Int64?
  package var revision: Int64?
  package var s3Address: String?
  /// One entry per location: `local`, and `s3` when S3 is configured.
  package var locations: [LocationResult]
  /// Snapshots retention deleted after the run (`NAME` or `NAME (s3://…)`).
  package var pruned: [String]
  /// Why retention did not complete, when it did not (the snapshot itself still counts).
  package var pruneError: String?

  /// Every location succeeded.
  package var succeeded: Bool { result == "success" }

  /// The first failure's message, if any.
  package var failureMessage: String? { locations.first { !$0.success }?.message }
}

/// What a failure hook is given: `event` is `snapshot_failed` or `prune_failed`.
package struct FailureReport: Sendable, Codable, Equatable {
  package var event: String
  package var agentVersion: String
  /// Scheduled snapshots that failed one after another, this one included.
  package var consecutiveFailures: Int
  package var run: SnapshotRun
}

/// Dates as the CLI prints them: RFC 3339 in UTC, to the second.
func timestamp(_ date: Date) -> String { rfc3339(timestamp: Int64(date.timeIntervalSince1970.rounded(.down))) }
