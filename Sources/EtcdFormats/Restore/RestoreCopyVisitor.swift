// The new db of a restore, written while the structure check walks the snapshot (one read of it):
//
//   level 0 (top-level bucket N)   close the previous bucket; create, empty, each of etcd's buckets
//                                  that sorts before N and is missing; begin N
//   level 0 (plain key)            ignored, as a bucket-by-bucket copy ignores it
//   level 1 in members             dropped: the plan's members are written instead (hex ID -> JSON)
//   level 1 in members_removed     dropped: the bucket stays empty
//   level 1 in meta                collected; written at the end with consistent_index = N,
//                                  term = 1 [, scheduledCompactRev = rev(new, 0) when bumping]
//   level 1 in key and the others  copied; the last key of `key` gives the snapshot's revision,
//                                  and rev(last + bump, 0) -> "" is appended when bumping
//   level 1 bucket                 refused: etcd's buckets hold no nested bucket
//
// A value reaches the visitor in pieces after its element; it is put when the next element (or
// the end) shows it complete. Any error leaves the writer unfinished; the caller removes its file.

import SnapshotCore

/// Copies a snapshot into a `BoltWriter` from the elements of a structure check.
struct RestoreCopyVisitor: BoltTreeVisitor {
  private enum Bucket {
    case members, membersRemoved, meta, key, other
  }

  private static let sortedEtcdBuckets = DataDirWriter.etcdBuckets.sorted { $0.lexicographicallyPrecedes($1) }

  let writer: BoltWriter
  let plan: RestorePlan
  let path: String
  /// The revision of the last `key` entry, once that bucket is closed.
  private(set) var lastRevision: Int64 = 0
  /// `lastRevision + bump` when bumping, once `key` is closed.
  private(set) var bumped: Int64?
  /// Set when the bump overflows; the walk is then stopped by a `FormatError` that the caller replaces with this.
  private(set) var bumpFailure: SnapshotError?

  private var nextEtcdBucket = 0
  private var current: Bucket?
  private var currentName: [UInt8] = []
  private var metaEntries: [[UInt8]: [UInt8]] = [:]
  private var lastKey: (key: [UInt8], location: BoltElementLocation)?
  private var pendingKey: [UInt8]?
  private var pendingValue: [UInt8] = []
  private var pendingIsMeta = false
  private var pendingLocation: BoltElementLocation?

  init(writer: BoltWriter, plan: RestorePlan, path: String) {
    self.writer = writer
    self.plan = plan
    self.path = path
  }

  mutating func element(
    level: Int, key: ArraySlice<UInt8>, isBucket: Bool, valueSize: Int, at location: BoltElementLocation
  ) throws(FormatError) -> Bool {
    try flushPending()
    switch level {
    case 0:
      guard isBucket else { return false }
      try closeBucket()
      let name = Array(key)
      try createMissing(before: name)
      if nextEtcdBucket < Self.sortedEtcdBuckets.count, Self.sortedEtcdBuckets[nextEtcdBucket] == name {
        nextEtcdBucket += 1
      }
      try writer.beginBucket(name)
      current = Self.kind(of: name)
      currentName = name
      return false
    case 1:
      guard !isBucket else {
        throw FormatError(
          path: path,
          message:
            "bucket \(String(decoding: currentName, as: UTF8.self)) contains a nested bucket \(boltDescribeKey(key)); this is not an etcd database",
          pageID: location.pageID, offset: location.offset)
      }
      guard valueSize <= BoltWriter.maximumValueSize else {
        throw FormatError(
          path: path, message: "a value of \(valueSize) bytes is larger than bbolt allows (\(BoltWriter.maximumValueSize))",
          pageID: location.pageID, offset: location.offset)
      }
      switch current {
      case .members, .membersRemoved, nil:
        return false
      case .meta:
        pendingIsMeta = true
      case .key:
        pendingLocation = location
      case .other:
        break
      }
      pendingKey = Array(key)
      pendingValue.removeAll(keepingCapacity: pendingValue.capacity <= 1 << 20)
      pendingValue.reserveCapacity(valueSize)
      return true
    default:
      return false
    }
  }

  mutating func value(_ piece: UnsafeRawBufferPointer) {
    pendingValue.append(contentsOf: piece)
  }

  /// Ends the copy after a complete walk: the last bucket, the missing ones, the file's metas.
  mutating func finish() throws(FormatError) -> BoltWriterSummary {
    try flushPending()
    try closeBucket()
    try createMissing(before: nil)
    return try writer.finish()
  }

  // MARK: - Buckets

  private static func kind(of name: [UInt8]) -> Bucket {
    switch String(decoding: name, as: UTF8.self) {
    case "members": .members
    case "members_removed": .membersRemoved
    case "meta": .meta
    case "key": .key
    default: .other
    }
  }

  private mutating func flushPending() throws(FormatError) {
    guard let key = pendingKey else { return }
    pendingKey = nil
    if pendingIsMeta {
      pendingIsMeta = false
      metaEntries[key] = pendingValue
    } else {
      try writer.put(key: key, value: pendingValue)
      if let location = pendingLocation {
        pendingLocation = nil
        lastKey = (key, location)
      }
    }
  }

  /// Begins and closes, empty but for what the restore puts there, each missing etcd bucket sorting before `name` (all when nil).
  private mutating func createMissing(before name: [UInt8]?) throws(FormatError) {
    while nextEtcdBucket < Self.sortedEtcdBuckets.count {
      let missing = Self.sortedEtcdBuckets[nextEtcdBucket]
      if let name, !missing.lexicographicallyPrecedes(name) { return }
      nextEtcdBucket += 1
      try writer.beginBucket(missing)
      current = Self.kind(of: missing)
      try closeBucket()
    }
  }

  /// Adds what the restore puts at the end of the current bucket, and ends it.
  private mutating func closeBucket() throws(FormatError) {
    guard let bucket = current else { return }
    current = nil
    switch bucket {
    case .members:
      let members = plan.membership.members.sorted { $0.idHex.utf8.lexicographicallyPrecedes($1.idHex.utf8) }
      for member in members { try writer.put(key: Array(member.idHex.utf8), value: Array(member.json.utf8)) }
    case .meta:
      metaEntries[Array("consistent_index".utf8)] = DataDirWriter.bigEndian(plan.raftIndex)
      metaEntries[Array("term".utf8)] = DataDirWriter.bigEndian(1)
      if let bumped { metaEntries[Array("scheduledCompactRev".utf8)] = DataDirWriter.revisionKey(main: UInt64(bumped)) }
      for key in metaEntries.keys.sorted(by: { $0.lexicographicallyPrecedes($1) }) {
        try writer.put(key: key, value: metaEntries[key] ?? [])
      }
      metaEntries = [:]
    case .key:
      if let lastKey {
        lastRevision = try EtcdRevisionKey.mainRevision(
          of: lastKey.key, path: path, pageID: lastKey.location.pageID, offset: lastKey.location.offset)
      }
      let bump = plan.options.bumpRevision
      if bump > 0 {
        guard let sum = DataDirWriter.bumpedRevision(lastRevision, by: bump) else {
          bumpFailure = SnapshotErrorFactory.invalid(
            "--bump-revision \(bump) added to the snapshot's revision \(lastRevision) exceeds etcd's largest revision \(Int64.max); use a smaller --bump-revision (1000000000 is the usual value)"
          )
          throw FormatError(path: path, message: "--bump-revision \(bump) is too large for revision \(lastRevision)")
        }
        bumped = sum
        try writer.put(key: DataDirWriter.revisionKey(main: UInt64(sum)), value: [])
      }
    case .membersRemoved, .other:
      break
    }
    try writer.endBucket()
  }
}
