// Writes a restored data directory from a plan and an open snapshot (docs/etcd-data-dir.md §4.3-4.8):
//
//   <data-dir>.tmp-PID-XXXXXXXX/member/snap/db        bbolt, copied with BoltWriter during the structure check
//   (or <data-dir>/member.tmp-PID-XXXXXXXX/snap/db when <data-dir> exists, empty: a mount point):
//       alarm auth authRoles authUsers cluster key lease   copied unchanged (created empty if missing)
//       members          one entry per new member: hex ID -> member JSON
//       members_removed  empty
//       meta             snapshot's entries + consistent_index = N (u64 BE) + term = 1 (u64 BE)
//                        [+ scheduledCompactRev = rev(new, 0) when bumping]
//       key              [+ rev(new, 0) -> empty value when bumping; new = last main + bump]
//   <data-dir>.tmp-PID-XXXXXXXX/member/snap/0000000000000001-<N>.snap
//   <wal-dir or data-dir tmp>/member/wal/0000000000000000-0000000000000000.wal
//   then fsync of files and directories and rename(2) into place (<data-dir>, or <data-dir>/member);
//   any failure removes the temporaries; those of a killed run are removed by the next
//   restore to the same paths (RestoreLeftovers).
//   rev(main, sub) = main u64 BE | '_' | sub u64 BE (17 bytes).
import Foundation
import SystemFiles

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

  /// A data directory written in full under its temporary names, not yet visible.
  package struct Staged: Sendable {
    fileprivate var plan: RestorePlan
    fileprivate var staging: Staging
    fileprivate var walTemporary: String
    /// What the new db holds.
    package var database: RestoredDatabase
  }

  /// Writes and fsyncs every file under temporary names, checking the snapshot's whole bbolt
  /// structure in the same read that copies it; on failure the temporaries are removed.
  ///
  /// `isStopped` is asked as the database is written; true ends the stage as a cancellation.
  package static func stage(
    plan: RestorePlan, reader: BoltFileReader, isStopped: @escaping @Sendable () -> Bool = { Task.isCancelled }
  ) throws -> Staged {
    let suffix = RestoreLeftovers.suffix()
    let existing = RestorePlanner.directoryState(plan.dataDir) == .emptyDirectory
    let staging = Staging(dataDir: plan.dataDir, existing: existing, suffix: suffix)
    let separateWAL = plan.options.hasSeparateWALDir
    let walTmp = separateWAL ? plan.walDir + suffix : staging.member + "/wal"
    do {
      if !existing { try makeDirectory(parentOf: plan.dataDir) }
      if separateWAL { try makeDirectory(parentOf: plan.walDir) }
      var dirs = [staging.member, staging.member + "/snap"]
      if staging.temporary != staging.member { dirs.insert(staging.temporary, at: 0) }
      for dir in dirs { try makeDirectory(dir) }
      try makeDirectory(walTmp)

      let database = try writeDatabase(plan: plan, reader: reader, to: staging.member + "/snap/db", isStopped: isStopped)
      try writeFile(
        staging.member + "/snap/" + plan.snapFileName, RaftSnapshotFile.fileBytes(membership: plan.membership),
        mode: 0o644)
      let wal = WALWriter.restoreWAL(membership: plan.membership, localID: plan.local.id)
      try writeFile(walTmp + "/" + plan.walFileName, wal.bytes, mode: 0o600)

      try syncDirectory(walTmp)
      for dir in dirs.reversed() { try syncDirectory(dir) }
      return Staged(plan: plan, staging: staging, walTemporary: walTmp, database: database)
    } catch {
      removeTemporaries(staging, walTemporary: separateWAL ? walTmp : nil)
      throw error
    }
  }

  /// Renames a staged data directory (and WAL directory) into place; on failure nothing is left.
  package static func publish(_ staged: Staged) throws {
    let plan = staged.plan
    let separateWAL = plan.options.hasSeparateWALDir
    var renamedWAL = false
    do {
      if separateWAL {
        try renameItem(staged.walTemporary, plan.walDir)
        renamedWAL = true
        try syncDirectory(SystemFile.parentDirectory(of: plan.walDir))
      }
      try renameItem(staged.staging.temporary, staged.staging.final)
      try syncDirectory(SystemFile.parentDirectory(of: staged.staging.final))
    } catch {
      try? FileManager.default.removeItem(atPath: staged.staging.temporary)
      if separateWAL { try? FileManager.default.removeItem(atPath: renamedWAL ? plan.walDir : staged.walTemporary) }
      throw error
    }
  }

  /// Removes a staged data directory that is not to be published.
  package static func discard(_ staged: Staged) {
    removeTemporaries(staged.staging, walTemporary: staged.plan.options.hasSeparateWALDir ? staged.walTemporary : nil)
  }

  /// Removes the temporary data directory and, when separate, the temporary WAL directory.
  private static func removeTemporaries(_ staging: Staging, walTemporary: String?) {
    try? FileManager.default.removeItem(atPath: staging.temporary)
    if let walTemporary { try? FileManager.default.removeItem(atPath: walTemporary) }
  }

  /// Checks `reader`'s structure and copies every bucket into a new db at `path` in the same walk,
  /// applying the restore's changes (see `RestoreCopyVisitor`).
  static func writeDatabase(
    plan: RestorePlan, reader: BoltFileReader, to path: String, isStopped: @escaping @Sendable () -> Bool
  ) throws -> RestoredDatabase {
    let writer = try BoltWriter(path: path, mode: 0o600, isStopped: isStopped)
    var visitor = RestoreCopyVisitor(writer: writer, plan: plan, path: reader.path)
    let summary: BoltWriterSummary
    do {
      _ = try BoltChecker.check(reader, visitor: &visitor)
      summary = try visitor.finish()
    } catch {
      if let failure = visitor.bumpFailure { throw failure }
      throw error
    }
    return RestoredDatabase(
      revision: visitor.bumped ?? visitor.lastRevision, snapshotRevision: visitor.lastRevision, bolt: summary)
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

  // MARK: - File system

  private static func makeDirectory(_ path: String) throws {
    guard mkdir(path, 0o700) == 0 else { throw ioError(SystemCallError(errno: errno, call: "create directory", path: path)) }
    _ = chmod(path, 0o700)
  }

  private static func makeDirectory(parentOf path: String) throws {
    let parent = SystemFile.parentDirectory(of: path)
    if RestorePlanner.directoryState(parent) != .missing { return }
    do {
      try FileManager.default.createDirectory(
        atPath: parent, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
    } catch {
      throw SnapshotErrorFactory.cannotWrite("cannot create directory \(parent): \(error); check permissions")
    }
  }

  private static func writeFile(_ path: String, _ bytes: [UInt8], mode: mode_t) throws {
    do { try SystemFile.writeNewFile(path, bytes, mode: mode) } catch { throw ioError(error) }
  }

  private static func syncDirectory(_ path: String) throws {
    do { try SystemFile.syncDirectory(path) } catch { throw ioError(error) }
  }

  private static func renameItem(_ from: String, _ to: String) throws {
    do { try SystemFile.rename(from, to: to) } catch { throw ioError(error) }
  }

  private static func ioError(_ failure: SystemCallError) -> Error {
    SnapshotErrorFactory.cannotWrite("cannot \(failure); check free space and permissions")
  }
}
