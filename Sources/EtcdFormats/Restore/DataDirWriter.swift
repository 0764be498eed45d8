// Writes a restored data directory from a plan and an open snapshot (data-dir spec 4.3-4.8):
//
//   <data-dir>.tmp-XXXXXXXX/member/snap/db        bbolt, copied bucket by bucket with BoltWriter
//   (or <data-dir>/member.tmp-XXXXXXXX/snap/db when <data-dir> exists, empty: a mount point):
//       alarm auth authRoles authUsers cluster key lease   copied unchanged (created empty if missing)
//       members          one entry per new member: hex ID -> member JSON
//       members_removed  empty
//       meta             snapshot's entries + consistent_index = N (u64 BE) + term = 1 (u64 BE)
//                        [+ scheduledCompactRev = rev(new, 0) when bumping]
//       key              [+ rev(new, 0) -> empty value when bumping; new = last main + bump]
//   <data-dir>.tmp-XXXXXXXX/member/snap/0000000000000001-<N>.snap
//   <wal-dir or data-dir tmp>/member/wal/0000000000000000-0000000000000000.wal
//   then fsync of files and directories and rename(2) into place (<data-dir>, or <data-dir>/member);
//   any failure removes the temporaries.
//   rev(main, sub) = main u64 BE | '_' | sub u64 BE (17 bytes).
import Foundation

#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

/// What the new db holds, as far as a restore reports it.
package struct RestoredDatabase: Sendable, Equatable {
  /// Store revision the restored member will serve (the bumped one when bumping).
  package var revision: Int64
  /// Revision of the snapshot's last `key` entry.
  package var snapshotRevision: Int64
  /// What the bbolt writer wrote.
  package var bolt: BoltWriterSummary
}

/// Writes the files of a plan into temporary directories and renames them into place.
package enum DataDirWriter {
  /// etcd's top-level buckets; a restore creates the missing ones empty.
  package static let etcdBuckets: [[UInt8]] = [
    "alarm", "auth", "authRoles", "authUsers", "cluster", "key", "lease", "members", "members_removed", "meta",
  ].map { Array($0.utf8) }

  /// Where the files are built before one rename makes them visible.
  ///
  /// A data dir that does not exist yet is built as its sibling `DIR.tmp-X` and renamed to
  /// `DIR`. An existing empty data dir (often a volume of its own, such as `/var/lib/etcd`,
  /// which cannot be renamed: EBUSY) is left in place: `member/` is built inside it as
  /// `DIR/member.tmp-X` and renamed to `DIR/member` last. Either way every byte is written on
  /// the target's own file system, and etcd finds no `member/` until it is complete.
  struct Staging: Equatable {
    /// The temporary directory that the final rename publishes (removed on failure).
    var temporary: String
    /// Its final name.
    var final: String
    /// The temporary `member/` directory.
    var member: String

    init(dataDir: String, existing: Bool, suffix: String) {
      if existing {
        temporary = dataDir + "/member" + suffix
        final = dataDir + "/member"
        member = temporary
      } else {
        temporary = dataDir + suffix
        final = dataDir
        member = temporary + "/member"
      }
    }
  }

  /// Writes everything for `plan` from `reader`; on failure nothing is left at the final paths.
  package static func write(plan: RestorePlan, reader: BoltFileReader) throws -> RestoredDatabase {
    let suffix = ".tmp-" + String(UInt32.random(in: 0...UInt32.max), radix: 16)
    let existing = RestorePlanner.directoryState(plan.dataDir) == .emptyDirectory
    let staging = Staging(dataDir: plan.dataDir, existing: existing, suffix: suffix)
    let separateWAL = plan.options.hasSeparateWALDir
    let walTmp = separateWAL ? plan.walDir + suffix : staging.member + "/wal"
    var renamedWAL = false
    do {
      if !existing { try makeDirectory(parentOf: plan.dataDir) }
      if separateWAL { try makeDirectory(parentOf: plan.walDir) }
      var dirs = [staging.member, staging.member + "/snap"]
      if staging.temporary != staging.member { dirs.insert(staging.temporary, at: 0) }
      for dir in dirs { try makeDirectory(dir) }
      try makeDirectory(walTmp)

      let database = try writeDatabase(plan: plan, reader: reader, to: staging.member + "/snap/db")
      try writeFile(
        staging.member + "/snap/" + plan.snapFileName, RaftSnapshotFile.fileBytes(membership: plan.membership),
        mode: 0o644)
      let wal = WALWriter.restoreWAL(membership: plan.membership, localID: plan.local.id)
      try writeFile(walTmp + "/" + plan.walFileName, wal.bytes, mode: 0o600)

      try syncDirectory(walTmp)
      for dir in dirs.reversed() { try syncDirectory(dir) }
      if separateWAL {
        try renameItem(walTmp, plan.walDir)
        renamedWAL = true
        try syncDirectory(parent(of: plan.walDir))
      }
      try renameItem(staging.temporary, staging.final)
      try syncDirectory(parent(of: staging.final))
      return database
    } catch {
      try? FileManager.default.removeItem(atPath: staging.temporary)
      if separateWAL { try? FileManager.default.removeItem(atPath: renamedWAL ? plan.walDir : walTmp) }
      throw error
    }
  }

  /// Copies every bucket of `reader` into a new db at `path`, applying the restore's changes.
  static func writeDatabase(plan: RestorePlan, reader: BoltFileReader, to path: String) throws -> RestoredDatabase {
    let writer = try BoltWriter(path: path, mode: 0o600)
    var names = Set(try reader.bucketNames())
    names.formUnion(etcdBuckets)
    let sorted = names.sorted { $0.lexicographicallyPrecedes($1) }
    var lastRevision: Int64 = 0
    var bumped: Int64?
    for name in sorted {
      try writer.beginBucket(name)
      let source = try reader.bucket(named: name)
      switch String(decoding: name, as: UTF8.self) {
      case "members":
        let members = plan.membership.members.sorted { $0.idHex.utf8.lexicographicallyPrecedes($1.idHex.utf8) }
        for member in members { try writer.put(key: Array(member.idHex.utf8), value: Array(member.json.utf8)) }
      case "members_removed":
        break
      case "meta":
        var entries: [[UInt8]: [UInt8]] = [:]
        if let source {
          try reader.forEach(in: source) { (page, element) throws(FormatError) in
            try rejectNested(element, page: page, reader: reader, bucket: "meta")
            entries[try reader.key(of: element, in: page)] = try reader.value(
              of: element, in: page, limit: BoltWriter.maximumValueSize)
          }
        }
        entries[Array("consistent_index".utf8)] = bigEndian(plan.raftIndex)
        entries[Array("term".utf8)] = bigEndian(1)
        if let bumped { entries[Array("scheduledCompactRev".utf8)] = revisionKey(main: UInt64(bumped)) }
        for key in entries.keys.sorted(by: { $0.lexicographicallyPrecedes($1) }) {
          try writer.put(key: key, value: entries[key] ?? [])
        }
      case "key":
        var last: (key: [UInt8], pageID: UInt64, offset: Int64)?
        if let source {
          try reader.forEach(in: source) { (page, element) throws(FormatError) in
            try rejectNested(element, page: page, reader: reader, bucket: "key")
            let key = try reader.key(of: element, in: page)
            try writer.put(key: key, value: reader.value(of: element, in: page, limit: BoltWriter.maximumValueSize))
            last = (key, page.containerID, page.fileOffset + Int64(element.keyOffset))
          }
        }
        if let last {
          lastRevision = try EtcdRevisionKey.mainRevision(
            of: last.key, path: reader.path, pageID: last.pageID, offset: last.offset)
        }
        if plan.options.bumpRevision > 0 {
          let bump = plan.options.bumpRevision
          guard let sum = bumpedRevision(lastRevision, by: bump) else {
            throw SnapshotErrorFactory.invalid(
              "--bump-revision \(bump) added to the snapshot's revision \(lastRevision) exceeds etcd's largest revision \(Int64.max); use a smaller --bump-revision (1000000000 is the usual value)"
            )
          }
          bumped = sum
          try writer.put(key: revisionKey(main: UInt64(sum)), value: [])
        }
      default:
        if let source {
          try reader.forEach(in: source) { (page, element) throws(FormatError) in
            try rejectNested(element, page: page, reader: reader, bucket: String(decoding: name, as: UTF8.self))
            try writer.put(
              key: reader.key(of: element, in: page),
              value: reader.value(of: element, in: page, limit: BoltWriter.maximumValueSize))
          }
        }
      }
      try writer.endBucket()
    }
    let summary = try writer.finish()
    return RestoredDatabase(revision: bumped ?? lastRevision, snapshotRevision: lastRevision, bolt: summary)
  }

  /// `revision + bump`, or `nil` when the sum is not an int64 revision (etcd's revisions are int64).
  package static func bumpedRevision(_ revision: Int64, by bump: UInt64) -> Int64? {
    guard let delta = Int64(exactly: bump) else { return nil }
    let (sum, overflow) = revision.addingReportingOverflow(delta)
    return overflow ? nil : sum
  }

  /// 17-byte revision key `(main, 0)`.
  package static func revisionKey(main: UInt64, sub: UInt64 = 0) -> [UInt8] {
    bigEndian(main) + [0x5F] + bigEndian(sub)
  }

  /// u64 big-endian.
  package static func bigEndian(_ v: UInt64) -> [UInt8] {
    (0..<8).map { UInt8(truncatingIfNeeded: v >> UInt64(56 - 8 * $0)) }
  }

  private static func rejectNested(_ element: BoltLeafElement, page: BoltPage, reader: BoltFileReader, bucket: String)
    throws(FormatError)
  {
    if element.isBucket {
      throw FormatError(
        path: reader.path, message: "bucket \(bucket) contains a nested bucket; this is not an etcd database",
        pageID: page.containerID, offset: page.fileOffset)
    }
  }

  // MARK: - File system

  private static func makeDirectory(_ path: String) throws {
    guard mkdir(path, 0o700) == 0 else { throw ioError("cannot create directory \(path)", errno) }
    _ = chmod(path, 0o700)
  }

  private static func makeDirectory(parentOf path: String) throws {
    let parent = parent(of: path)
    if RestorePlanner.directoryState(parent) != .missing { return }
    do {
      try FileManager.default.createDirectory(
        atPath: parent, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
    } catch {
      throw SnapshotErrorFactory.cannotWrite("cannot create directory \(parent): \(error); check permissions")
    }
  }

  private static func writeFile(_ path: String, _ bytes: [UInt8], mode: mode_t) throws {
    let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
    guard fd >= 0 else { throw ioError("cannot create \(path)", errno) }
    defer { close(fd) }
    _ = fchmod(fd, mode)
    var done = 0
    while done < bytes.count {
      let n = bytes.withUnsafeBytes { raw in pwrite(fd, raw.baseAddress.map { $0 + done }, raw.count - done, off_t(done)) }
      if n < 0 {
        if errno == EINTR { continue }
        throw ioError("cannot write \(path)", errno)
      }
      done += n
    }
    guard fsync(fd) == 0 else { throw ioError("cannot fsync \(path)", errno) }
  }

  private static func syncDirectory(_ path: String) throws {
    let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    guard fd >= 0 else { throw ioError("cannot open directory \(path)", errno) }
    defer { close(fd) }
    guard fsync(fd) == 0 else { throw ioError("cannot fsync directory \(path)", errno) }
  }

  private static func renameItem(_ from: String, _ to: String) throws {
    guard rename(from, to) == 0 else { throw ioError("cannot rename \(from) to \(to)", errno) }
  }

  static func parent(of path: String) -> String {
    let trimmed = path.count > 1 && path.hasSuffix("/") ? String(path.dropLast()) : path
    guard let slash = trimmed.lastIndex(of: "/") else { return "." }
    return slash == trimmed.startIndex ? "/" : String(trimmed[trimmed.startIndex..<slash])
  }

  private static func ioError(_ what: String, _ code: Int32) -> Error {
    SnapshotErrorFactory.cannotWrite("\(what): \(String(cString: strerror(code))); check free space and permissions")
  }
}
