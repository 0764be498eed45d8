import EtcdFormats
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

/// `status`: the figures of `etcdutl snapshot status`, read natively in bounded memory.
///
/// Like etcdutl it first checks the bbolt structure and fails on any problem; like etcdutl it
/// does not check the SHA-256 trailer (that is `verify`'s job).
package enum ReadSnapshotStatus {
  /// Reads the figures of the snapshot at `path`.
  package static func run(path: String, metadata: SnapshotMetadata?) throws(SnapshotError) -> SnapshotStatusReport {
    do {
      return SnapshotStatusReport(path: path, figures: try SnapshotFigures.compute(path: path), metadata: metadata)
    } catch {
      throw SnapshotError(.corrupt, "\(error.description); this is not a usable etcd snapshot", cause: error)
    }
  }
}
