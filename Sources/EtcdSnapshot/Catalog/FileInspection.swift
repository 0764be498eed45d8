import EtcdFormats
import SnapshotPipeline
import SystemFiles

/// What a snapshot file says about itself when no metadata record describes it.
package enum FileInspection {
  /// The revision inside the file (from its bbolt pages, a few page reads), or the problem
  /// that prevented reading it.
  ///
  /// A compressed file (k3s's `.zip`, zstd, gzip: told by its first bytes) is not expanded
  /// for a listing: its revision is left unknown, and `status` or `verify` reads it.
  @Sendable package static func inspect(_ path: String) -> (revision: Int64?, problem: String?) {
    if let head = try? SystemFile.readHead(path, count: StoredFormat.sniffLength),
      let compression = StoredFormat(sniffing: head).compression, compression != .plain
    {
      return (nil, nil)
    }
    do {
      let summary = try BoltSummary.read(path: path)
      return (summary.revision, nil)
    } catch {
      return (nil, error.message)
    }
  }
}
