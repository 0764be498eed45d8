// Native `etcdutl snapshot restore`: snapshot file in, etcd data directory out (data-dir spec 1.2, 4.8).
//
//   snapshot = bbolt image (S bytes) [SHA-256 of the S bytes (32)]
//   trailer present  <=>  fileSize % 512 == 32   (etcd's rule, identical in 3.4, 3.5, 3.6)
//   no trailer and not --skip-hash-check  -> refused ("snapshot missing hash")
//   trailer and not --skip-hash-check     -> SHA-256 of the first S bytes must equal it
//   then: plan -> full bbolt structure check (BoltChecker) -> db (BoltWriter) + .snap + WAL in
//   <data-dir>.tmp-XXXX -> fsync -> rename.
import Crypto
import SnapshotCore

#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

/// What a restore produced.
package struct RestoreResult: Sendable, Equatable {
  /// The data directory written.
  package var dataDir: String
  /// The WAL directory written.
  package var walDir: String
  /// This member.
  package var member: RestoreMember
  /// All members, sorted by ID.
  package var members: [RestoreMember]
  /// The new cluster ID.
  package var clusterID: UInt64
  /// Store revision the member will serve.
  package var revision: Int64
  /// Revision of the snapshot itself.
  package var snapshotRevision: Int64
  /// Whether etcd's SHA-256 trailer was checked (false with `--skip-hash-check`).
  package var hashVerified: Bool
  /// Size of the new db.
  package var databaseSize: Int64
}

/// Restores a snapshot into a new data directory, exactly as etcd's own restore would.
package enum RestoreEngine {
  /// Restores `path` with `options`; on any failure no data directory (or WAL directory) is left.
  ///
  /// The whole bbolt structure is checked before anything is written, so that a damaged or
  /// crafted file (keys out of order, shared pages, …) is reported as a `FormatError` of the
  /// snapshot, not as a complaint of the writer about the new db. Throws `SnapshotError`
  /// (`.invalidConfiguration` with every flag problem, `.corrupt` for a hash problem,
  /// `.cannotWrite`) or `FormatError` for a damaged bbolt image.
  package static func restore(snapshot path: String, options: RestoreOptions) throws -> RestoreResult {
    let plan = try RestorePlanner.plan(options)
    let verified = try checkHash(path: path, skip: options.skipHashCheck)
    let reader = try BoltFileReader(path: path)
    _ = try BoltChecker.check(reader)
    let db = try DataDirWriter.write(plan: plan, reader: reader)
    return RestoreResult(
      dataDir: plan.dataDir, walDir: plan.walDir, member: plan.local, members: plan.membership.members,
      clusterID: plan.membership.clusterID, revision: db.revision, snapshotRevision: db.snapshotRevision,
      hashVerified: verified, databaseSize: Int64(db.bolt.highWaterMark) * Int64(db.bolt.pageSize))
  }

  /// Applies etcd's hash rule; returns whether the trailer was verified.
  package static func checkHash(path: String, skip: Bool) throws -> Bool {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else {
      let code = errno
      throw SnapshotError(
        code == ENOENT ? .notFound : .io, "cannot open snapshot \(path): \(String(cString: strerror(code)))")
    }
    defer { close(fd) }
    var st = stat()
    guard fstat(fd, &st) == 0 else { throw SnapshotError(.io, "cannot read the size of \(path)") }
    let size = Int64(st.st_size)
    let hasTrailer = size % 512 == 32
    if !hasTrailer {
      if skip { return false }
      throw SnapshotError(
        .corrupt,
        "snapshot missing hash but --skip-hash-check=false: \(path) has no SHA-256 trailer (size \(size) is not "
          + "512·k + 32); if it is a copied member/snap/db, restore it with --skip-hash-check")
    }
    if skip { return false }
    let body = size - 32
    var hasher = SHA256()
    var buffer = [UInt8](repeating: 0, count: 1 << 20)
    var offset: Int64 = 0
    while offset < body {
      if Task.isCancelled { throw SnapshotError(.cancelled, "stopped while checking \(path); nothing was restored") }
      let want = Int(min(Int64(buffer.count), body - offset))
      let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, want, off_t(offset)) }
      if n < 0 && errno == EINTR { continue }
      guard n > 0 else { throw SnapshotError(.io, "cannot read \(path) at byte \(offset)") }
      buffer.withUnsafeBytes { hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
      offset += Int64(n)
    }
    var trailer = [UInt8](repeating: 0, count: 32)
    let n = trailer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, 32, off_t(body)) }
    guard n == 32 else { throw SnapshotError(.io, "cannot read the SHA-256 trailer of \(path)") }
    let computed = Array(hasher.finalize())
    guard computed == trailer else {
      throw SnapshotError(
        .corrupt,
        "expected sha256 \(hex(trailer)), got \(hex(computed)): \(path) is damaged or truncated; "
          + "use another snapshot (or --skip-hash-check to restore it anyway)")
    }
    return true
  }
}

/// Builds the `SnapshotError`s of the restore code.
enum SnapshotErrorFactory {
  static func invalid(_ message: String) -> SnapshotError { SnapshotError(.invalidConfiguration, message) }
  static func cannotWrite(_ message: String) -> SnapshotError { SnapshotError(.cannotWrite, message) }
}
