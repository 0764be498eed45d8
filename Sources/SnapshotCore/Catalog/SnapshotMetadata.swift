import Foundation

/// The record written beside every snapshot we take (`<dir>/.metadata/<name>`), as JSON.
///
/// It is the source of truth for a snapshot's name split, size and checksum; `ls` shows it,
/// `verify` (later) checks the file against `sha256`. Field names are stable: older records
/// must keep decoding, so new fields are optional.
package struct SnapshotMetadata: Codable, Sendable, Equatable {
  /// Version of this record's layout.
  package var formatVersion: Int = 1
  /// File name of the snapshot.
  package var name: String
  /// Name prefix (`--name`).
  package var prefix: String
  /// Node that took it.
  package var node: String
  /// Creation time, Unix seconds (the name's timestamp).
  package var timestamp: Int64
  /// Creation time, RFC 3339, for people and other tools.
  package var createdAt: String
  /// Size of the snapshot in bytes, trailer included: the plain bbolt file etcd sent (what
  /// status and restore read), whether or not it is stored compressed.
  package var size: Int64
  /// SHA-256 of the plain snapshot (trailer included), lower-case hex.
  package var sha256: String
  /// How the stored file is compressed (`zstd`, `gzip`, `zip`); nil: stored plain.
  package var compression: SnapshotCompression?
  /// Size of the stored file when it is not the plain snapshot (compressed); nil: `size`.
  package var storedSize: Int64?
  /// SHA-256 of the stored file when it is not the plain snapshot; nil: `sha256`.
  package var storedSHA256: String?
  /// How the stored file is encrypted (`age`); nil: not encrypted.
  package var encryption: String?
  /// Whom it is encrypted to: the `age1…` public keys, or `passphrase`; named when an
  /// identity does not fit.
  package var recipients: [String]?
  /// The restore bundle made with it (`save --bundle`), kept apart.
  package var bundle: BundleRecord?
  /// The store revision inside the snapshot.
  package var revision: Int64
  /// etcd server version reported by Status.
  package var etcdVersion: String
  /// Cluster ID, hex as etcd prints it.
  package var clusterID: String
  /// ID of the member that sent the snapshot, hex.
  package var memberID: String
  /// EtcdEndpoint the snapshot was taken from.
  package var endpoint: String
  /// Version of etcd-snapshot that wrote it.
  package var toolVersion: String
  /// True when etcd's SHA-256 trailer was checked while saving.
  package var verified: Bool
  /// `s3://bucket/key` of the uploaded copy (local records of `save --s3`), if the upload succeeded.
  package var uploadedTo: String?
  /// Why the upload of `save --s3` failed; the local snapshot is complete and verified.
  package var uploadError: String?

  /// Makes a record; `fileName` is the name's file name with the suffix of how it is stored
  /// (`.zst`), by default the plain one.
  package init(
    name: SnapshotName, fileName: String? = nil, size: Int64, sha256: String, revision: Int64, etcdVersion: String,
    clusterID: UInt64, memberID: UInt64, endpoint: String, toolVersion: String, verified: Bool
  ) {
    self.name = fileName ?? name.fileName
    self.prefix = name.prefix
    self.node = name.node
    self.timestamp = name.timestamp
    self.createdAt = rfc3339(timestamp: name.timestamp)
    self.size = size
    self.sha256 = sha256
    self.revision = revision
    self.etcdVersion = etcdVersion
    self.clusterID = String(clusterID, radix: 16)
    self.memberID = String(memberID, radix: 16)
    self.endpoint = endpoint
    self.toolVersion = toolVersion
    self.verified = verified
  }

  /// Size and SHA-256 of the file as stored (on disk, in the bucket).
  package var stored: (size: Int64, sha256: String) { (storedSize ?? size, storedSHA256 ?? sha256) }

  /// The stored file's SHA-256 when the record knows it: not after `rekey --s3`, which
  /// rewrites the header in the bucket without reading the payload (`storedSize` set,
  /// `storedSHA256` absent); the age chunks and the plain SHA-256 still check it.
  package var storedDigest: String? { storedSHA256 ?? (storedSize == nil ? sha256 : nil) }

  /// The parsed name this record describes.
  package var snapshotName: SnapshotName {
    SnapshotName(prefix: prefix, node: node, timestamp: timestamp)
  }

  /// Encodes as pretty, key-sorted JSON with a final newline.
  package func encoded() throws -> Data {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    return try encoder.encode(self) + Data("\n".utf8)
  }

  /// Decodes a record.
  package static func decode(_ data: Data) throws -> SnapshotMetadata {
    try JSONDecoder().decode(SnapshotMetadata.self, from: data)
  }
}

/// `2024-01-02T03:04:05Z` for a Unix time in seconds.
package func rfc3339(timestamp: Int64) -> String {
  let formatter = ISO8601DateFormatter()
  formatter.formatOptions = [.withInternetDateTime]
  formatter.timeZone = TimeZone(identifier: "UTC")
  return formatter.string(from: Date(timeIntervalSince1970: TimeInterval(timestamp)))
}
