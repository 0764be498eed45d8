/// Where a listed snapshot lives.
package enum SnapshotAddress: Sendable, Equatable, Codable {
  /// A file on this machine.
  case local(path: String)
  /// An object in an S3-compatible bucket.
  case s3(bucket: String, key: String)

  /// Short word for tables and JSON: `local` or `s3`.
  package var kind: String {
    switch self {
    case .local: "local"
    case .s3: "s3"
    }
  }

  /// The path, or the object's key.
  package var address: String {
    switch self {
    case .local(let path): path
    case .s3(_, let key): key
    }
  }

  /// `file:///path` or `s3://bucket/key`.
  package var url: String {
    switch self {
    case .local(let path): "file://" + path
    case .s3(let bucket, let key): S3Configuration.address(bucket: bucket, key: key)
    }
  }
}

/// One snapshot in a listing: what its name, its metadata record and the file itself say.
package struct SnapshotEntry: Sendable, Equatable {
  /// File (or object) name.
  package var fileName: String
  /// The parsed name; nil for files not named like k3s snapshots (e.g. `etcdctl` output).
  package var name: SnapshotName?
  /// The record written at save time, if there is one.
  package var metadata: SnapshotMetadata?
  /// Where it lives.
  package var location: SnapshotAddress
  /// Size in bytes.
  package var size: Int64
  /// Creation time, Unix seconds: the name's, else the file's modification time.
  package var timestamp: Int64
  /// The store revision: from the metadata, else read from the file; nil if unknown.
  package var revision: Int64?
  /// A problem found when looking at the file (e.g. not a bbolt database), else nil.
  package var problem: String?

  /// Makes an entry.
  package init(
    fileName: String, name: SnapshotName?, metadata: SnapshotMetadata?, location: SnapshotAddress,
    size: Int64, timestamp: Int64, revision: Int64?, problem: String? = nil
  ) {
    self.fileName = fileName
    self.name = name
    self.metadata = metadata
    self.location = location
    self.size = size
    self.timestamp = timestamp
    self.revision = revision
    self.problem = problem
  }

  /// True when etcd's checksum was verified at save time (recorded in the metadata).
  package var verified: Bool { metadata?.verified ?? false }

  /// The retention item for this entry, or nil when the name is not k3s-style.
  package var retentionItem: RetentionItem? {
    guard let name else { return nil }
    return RetentionItem(name: fileName, group: name.group, timestamp: name.timestamp)
  }

  /// Newest first, then by name: the order `ls` prints.
  package static func newestFirst(_ a: SnapshotEntry, _ b: SnapshotEntry) -> Bool {
    a.timestamp != b.timestamp ? a.timestamp > b.timestamp : a.fileName > b.fileName
  }
}
