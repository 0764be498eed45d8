/// What a bbolt file (an etcd db or snapshot) says about itself.
///
/// Figures match `etcdctl snapshot status` (3.4) / `etcdutl snapshot status` (3.5):
/// `databaseSize` is their "totalSize" and `revision` their "revision".
package struct BoltFileSummary: Sendable, Equatable {
  /// Size of the file in bytes, trailer included.
  package var fileSize: Int64
  /// The page size recorded in the meta page, in bytes.
  package var pageSize: Int
  /// The transaction id of the active meta page.
  package var txid: UInt64
  /// The active meta's high-water mark (`meta.pgid`): the number of pages in the database.
  package var highWaterMark: UInt64
  /// `highWaterMark * pageSize`: the database image without trailer or preallocated space.
  package var databaseSize: Int64
  /// True when `fileSize % 512 == 32`, etcd's rule for "a SHA-256 trailer follows" (docs/etcd-data-dir.md §1.2).
  ///
  /// The trailer is not verified here.
  package var hasTrailer: Bool
  /// Main revision of the last key of the `key` bucket; `nil` if there is no such bucket, 0 if it is empty.
  ///
  /// An etcd that has never been written to reports 0 here (as `snapshot status` does), although
  /// its `endpoint status` says revision 1.
  package var revision: Int64?

  /// Makes a summary from its figures.
  package init(
    fileSize: Int64, pageSize: Int, txid: UInt64, highWaterMark: UInt64, databaseSize: Int64,
    hasTrailer: Bool, revision: Int64?
  ) {
    self.fileSize = fileSize
    self.pageSize = pageSize
    self.txid = txid
    self.highWaterMark = highWaterMark
    self.databaseSize = databaseSize
    self.hasTrailer = hasTrailer
    self.revision = revision
  }
}

/// Reads a `BoltFileSummary` from a file.
package enum BoltSummary {
  /// The etcd bucket holding the MVCC history, keyed by revision.
  package static let keyBucketName: [UInt8] = Array("key".utf8)

  /// Reads only the meta pages and the right-most path of the `key` bucket.
  ///
  /// Throws `FormatError` for anything wrong with the file: unreadable, not bbolt, both metas
  /// invalid, truncated, unexpected bytes after the database, a bad page on the path read, or a
  /// last revision that is not an int64 (see `EtcdRevisionKey`).
  package static func read(path: String) throws(FormatError) -> BoltFileSummary {
    let reader = try BoltFileReader(path: path)
    return try read(reader)
  }

  /// Reads the summary through an open reader (whose page counters then show what it cost).
  ///
  /// Size rule: a file with a trailer (`size % 512 == 32`) must be exactly the database plus
  /// 32 bytes. A file without one must be the database, optionally followed by whole pages
  /// (bbolt may preallocate file space past the high-water mark, and bbolt and etcd's restore
  /// ignore it); any other extra bytes are an error.
  package static func read(_ reader: BoltFileReader) throws(FormatError) -> BoltFileSummary {
    let fileSize = reader.fileSize
    let databaseSize = reader.databaseSize
    let hasTrailer = SnapshotTrailerVerifier.hasTrailer(fileSize: fileSize)
    let extra = fileSize - databaseSize  // >= 0: the reader refuses truncated files
    if hasTrailer {
      guard extra == 32 else {
        throw FormatError(
          path: reader.path,
          message:
            "\(extra - 32) unexpected bytes between the database (\(databaseSize) bytes) and the 32-byte SHA-256 trailer; a snapshot is exactly the database plus the trailer: the file was altered",
          offset: databaseSize)
      }
    } else if extra % Int64(reader.pageSize) != 0 {
      throw FormatError(
        path: reader.path,
        message:
          "\(extra) unexpected bytes after the database (\(databaseSize) bytes): neither etcd's 32-byte SHA-256 trailer nor whole pages; the file was altered or cut short",
        offset: databaseSize)
    }

    var revision: Int64? = nil
    if let bucket = try reader.bucket(named: keyBucketName) {
      if let key = try reader.lastKey(in: bucket) {
        guard key.count >= 17 else {
          throw FormatError(
            path: reader.path,
            message:
              "the last key of the `key` bucket is \(key.count) bytes; an etcd revision key is 17 or 18 bytes: this is not an etcd database, or it is damaged",
            pageID: bucket.root == 0 ? bucket.containerID : nil)
        }
        revision = try EtcdRevisionKey.mainRevision(
          of: key, path: reader.path, pageID: bucket.root == 0 ? bucket.containerID : nil)
      } else {
        revision = 0
      }
    }
    return BoltFileSummary(
      fileSize: fileSize, pageSize: reader.pageSize, txid: reader.meta.txid,
      highWaterMark: reader.meta.highWaterMark, databaseSize: databaseSize, hasTrailer: hasTrailer,
      revision: revision)
  }
}
