import EtcdFormats
import Logging
import SnapshotCore

/// What `status` reports: etcdutl's figures and our metadata record.
package struct SnapshotStatusReport: Sendable {
  /// The file.
  package var path: String
  /// hash, revision, totalKey, totalSize, version: as `etcdutl snapshot status` computes them.
  package var figures: SnapshotFigures
  /// Our record, when the snapshot was saved by etcd-snapshot.
  package var metadata: SnapshotMetadata?
}

/// `status`: the figures of `etcdutl snapshot status`, read natively in bounded memory, on a
/// thread of its own (`BlockingWork`).
///
/// Like etcdutl it first checks the bbolt structure and fails on any problem; like etcdutl it
/// does not check the SHA-256 trailer (that is `verify`'s job).
package struct ReadSnapshotStatus: Sendable {
  /// The snapshot.
  package var source: SnapshotSource
  /// Log of S3 retries.
  package var logger: Logger

  /// The use case for `source`.
  package init(_ source: SnapshotSource, logger: Logger) {
    self.source = source
    self.logger = logger
  }

  /// Finds (or downloads and checks) the snapshot and reads its figures.
  package func run() async throws(SnapshotError) -> SnapshotStatusReport {
    try await source.withLocalFile(logger: logger) { path, metadata in
      try await BlockingWork.run { _ throws(SnapshotError) in try Self.read(path: path, metadata: metadata) }
    }
  }

  /// Reads the figures of the snapshot at `path`.
  package static func read(path: String, metadata: SnapshotMetadata?) throws(SnapshotError) -> SnapshotStatusReport {
    do {
      return SnapshotStatusReport(path: path, figures: try SnapshotFigures.compute(path: path), metadata: metadata)
    } catch {
      throw SnapshotError(.corrupt, "\(error.description); this is not a usable etcd snapshot", cause: error)
    }
  }
}
