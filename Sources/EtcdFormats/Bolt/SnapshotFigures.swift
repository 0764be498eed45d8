// The figures of `etcdctl snapshot status` (3.4) / `etcdutl snapshot status` (3.5), computed
// in the same walk as the full structure check (etcd too checks first, then hashes).
//
// What they are (docs/etcd-data-dir.md §7; checked against etcdctl 3.4.23 and etcdutl 3.5.1):
//
//   hash       CRC-32C (Castagnoli) of, for each top-level bucket in byte order:
//                name, then for each element in key order: key, value
//              (no lengths, no separators; a nested bucket's element adds its key only, and
//              its contents nothing). A top-level element that is not a bucket makes etcd
//              fail ("cannot get hash of bucket"), and so do we.
//   revision   main revision (bytes 0..<8, big-endian) of the last key of bucket `key`; 0 if
//              there is none. etcd decodes every key of `key` as a revision (17 or 18 bytes:
//              main u64 BE | '_' | sub u64 BE [| 't']), so a shorter key is an error, and so
//              is a main revision of 2^63 or more (etcd's revisions are int64).
//   totalKey   elements of all top-level buckets (etcd 3.4/3.5; 3.6 counts live keys instead).
//   totalSize  active meta's high-water mark * page size (the trailer is not included).
//   version    `meta/storageVersion` as stored (etcd 3.6 writes it), "" when absent.
import SnapshotCore

/// The figures `etcdutl snapshot status` prints for a snapshot or db file.
///
/// JSON (Codable) uses etcdutl's field names: `hash`, `revision`, `totalKey`, `totalSize`,
/// plus `version`. Computed natively, in bounded memory, after (in fact during) the full
/// structure check that etcd runs first.
package struct SnapshotFigures: Sendable, Equatable, Codable {
  /// CRC-32C of every top-level bucket's name, keys and values, in order (etcd prints it in decimal for JSON).
  package var hash: UInt32
  /// Main revision of the last key of the `key` bucket; 0 when it is empty.
  package var revision: Int64
  /// Key/value pairs summed over all top-level buckets (etcd 3.4/3.5's definition).
  package var totalKey: Int
  /// Size of the database image: high-water mark * page size, without the trailer.
  package var totalSize: Int64
  /// The storage version etcd 3.6 records in `meta/storageVersion`; empty when absent.
  package var version: String

  /// Makes figures from their values.
  package init(hash: UInt32, revision: Int64, totalKey: Int, totalSize: Int64, version: String) {
    self.hash = hash
    self.revision = revision
    self.totalKey = totalKey
    self.totalSize = totalSize
    self.version = version
  }

  /// Checks the file at `path` and computes its figures in one walk.
  ///
  /// Throws the first structural problem (see `BoltChecker`), or a problem etcd's own status
  /// would stumble on (a plain key among the top-level buckets, a key of `key` too short to
  /// be a revision), or a revision of 2^63 or more, which etcd never writes.
  package static func compute(path: String) throws(FormatError) -> SnapshotFigures {
    try compute(BoltFileReader(path: path)).figures
  }

  /// Checks the file behind `reader` and computes its figures; also returns the check's report.
  package static func compute(_ reader: BoltFileReader) throws(FormatError) -> (
    figures: SnapshotFigures, report: BoltCheckReport
  ) {
    var visitor = SnapshotFiguresVisitor(path: reader.path)
    let report = try BoltChecker.check(reader, visitor: &visitor)
    let figures = SnapshotFigures(
      hash: visitor.crc, revision: visitor.revision, totalKey: visitor.totalKey, totalSize: reader.databaseSize,
      version: visitor.version.map { String(decoding: $0, as: UTF8.self) } ?? "")
    return (figures, report)
  }
}

/// Computes the figures from the elements the structure check walks past.
struct SnapshotFiguresVisitor: BoltTreeVisitor {
  static let keyBucket = Array("key".utf8)
  static let metaBucket = Array("meta".utf8)
  static let storageVersionKey = Array("storageVersion".utf8)
  /// Longest storage version kept (it is a short semver string).
  static let maximumVersionSize = 256

  enum Bucket {
    case key, meta, other
  }

  let path: String
  var crc: UInt32 = 0
  var revision: Int64 = 0
  var totalKey = 0
  var version: [UInt8]? = nil
  var bucket = Bucket.other
  var capturingVersion = false

  init(path: String) {
    self.path = path
  }

  mutating func element(
    level: Int, key: ArraySlice<UInt8>, isBucket: Bool, valueSize: Int, at location: BoltElementLocation
  ) throws(FormatError) -> Bool {
    capturingVersion = false
    switch level {
    case 0:
      guard isBucket else {
        throw FormatError(
          path: path,
          message:
            "the root bucket holds a plain key \(boltDescribeKey(key)) where only buckets belong; etcd's snapshot status fails on it (\"cannot get hash of bucket\")",
          pageID: location.pageID, offset: location.offset)
      }
      crc = key.withUnsafeBytes { CRC32C.update(crc, $0) }
      bucket = key.elementsEqual(Self.keyBucket) ? .key : key.elementsEqual(Self.metaBucket) ? .meta : .other
      return false
    case 1:
      crc = key.withUnsafeBytes { CRC32C.update(crc, $0) }
      totalKey += 1
      switch bucket {
      case .key:
        guard key.count >= 17 else {
          throw FormatError(
            path: path,
            message:
              "bucket `key` holds a \(key.count)-byte key \(boltDescribeKey(key)); an etcd revision key is 17 or 18 bytes: this is not an etcd database, or it is damaged",
            pageID: location.pageID, offset: location.offset)
        }
        revision = try EtcdRevisionKey.mainRevision(
          of: key, path: path, pageID: location.pageID, offset: location.offset)
      case .meta where !isBucket && key.elementsEqual(Self.storageVersionKey):
        version = []
        capturingVersion = valueSize <= Self.maximumVersionSize
      case .meta, .other:
        break
      }
      return !isBucket
    default:
      return false
    }
  }

  mutating func value(_ piece: UnsafeRawBufferPointer) {
    crc = CRC32C.update(crc, piece)
    if capturingVersion { version?.append(contentsOf: piece) }
  }
}
