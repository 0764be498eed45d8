// Native `etcdutl snapshot restore`: snapshot file in, etcd data directory out (docs/etcd-data-dir.md §1.2, 4.8).
//
//   snapshot = bbolt image (S bytes) [SHA-256 of the S bytes (32)]
//   trailer present  <=>  fileSize % 512 == 32   (etcd's rule, identical in 3.4, 3.5, 3.6)
//   no trailer and not --skip-hash-check  -> refused ("snapshot missing hash")
//   trailer and not --skip-hash-check     -> SHA-256 of the first S bytes must equal it
//   then: plan -> one walk of the bbolt tree that checks its whole structure (BoltChecker) and
//   copies it into the new db (BoltWriter), while another thread hashes the same bytes
//   -> .snap + WAL in <data-dir>.tmp-XXXX -> fsync -> (hash and copy both sound) rename.
import Crypto
import Dispatch
import SnapshotCore
import Synchronization
import SystemFiles

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
  /// Temporaries of killed restores to the same paths, removed first.
  package var removedLeftovers: [String] = []
}

/// Restores a snapshot into a new data directory, exactly as etcd's own restore would.
package enum RestoreEngine {
  /// Restores `path` with `options`; on any failure no data directory (or WAL directory) is left.
  ///
  /// What killed restores to the same paths left is removed first (see `RestoreLeftovers`).
  /// One read of the snapshot: its whole bbolt structure is checked in the walk that copies it
  /// into the new db (written under a temporary name), while a second thread computes the
  /// SHA-256 of the same bytes; only when both succeed is the data directory renamed into place.
  /// A damaged or crafted file (keys out of order, shared pages, …) is reported as a
  /// `FormatError` of the snapshot, not as a complaint of the writer about the new db; a hash
  /// mismatch is reported in preference to any other problem of the file. Throws `SnapshotError`
  /// (`.invalidConfiguration` with every flag problem, `.corrupt` for a hash problem,
  /// `.cannotWrite`, `.cancelled`) or `FormatError` for a damaged bbolt image.
  ///
  /// `isStopped` (the calling task's cancellation unless given) is asked between chunks; true
  /// ends the restore with nothing left behind.
  package static func restore(
    snapshot path: String, options: RestoreOptions, isStopped: @escaping @Sendable () -> Bool = { Task.isCancelled }
  ) throws -> RestoreResult {
    let removed = RestoreLeftovers.sweepRestore(
      dataDir: options.resolvedDataDir, walDir: options.hasSeparateWALDir ? options.resolvedWALDir : nil)
    let plan = try RestorePlanner.plan(options)
    let hash = try SnapshotHashCheck.start(path: path, skip: options.skipHashCheck)
    let staged: DataDirWriter.Staged
    do {
      let reader = try BoltFileReader(path: path)
      staged = try DataDirWriter.stage(plan: plan, reader: reader, isStopped: isStopped)
    } catch {
      guard let hash else { throw error }
      if isCancellation(error) {
        hash.stop()
      } else if case .failure(let problem) = hash.wait(isStopped: isStopped), problem.code == .corrupt {
        throw problem
      }
      throw error
    }
    if let hash, case .failure(let problem) = hash.wait(isStopped: isStopped) {
      DataDirWriter.discard(staged)
      throw problem
    }
    try DataDirWriter.publish(staged)
    let db = staged.database
    return RestoreResult(
      dataDir: plan.dataDir, walDir: plan.walDir, member: plan.local, members: plan.membership.members,
      clusterID: plan.membership.clusterID, revision: db.revision, snapshotRevision: db.snapshotRevision,
      hashVerified: hash != nil, databaseSize: Int64(db.bolt.highWaterMark) * Int64(db.bolt.pageSize),
      removedLeftovers: removed)
  }

  /// Applies etcd's hash rule; returns whether the trailer was verified.
  package static func checkHash(
    path: String, skip: Bool, isStopped: @escaping @Sendable () -> Bool = { Task.isCancelled }
  ) throws -> Bool {
    guard let check = try SnapshotHashCheck.open(path: path, skip: skip) else { return false }
    try check.verify(isStopped: isStopped)
    return true
  }

  private static func isCancellation(_ error: any Error) -> Bool {
    (error as? FormatError)?.isCancellation == true || (error as? SnapshotError)?.code == .cancelled
  }
}

/// etcd's hash rule for one snapshot file, run where the caller wants it (here or on a thread of its own).
final class SnapshotHashCheck: @unchecked Sendable {
  // `outcome` is written once by the hashing thread before it signals `done`, and read only after `done`.
  private let path: String
  private let fd: Int32
  private let body: Int64
  private let stopped = Atomic<Bool>(false)
  private let done = DispatchSemaphore(value: 0)
  private var outcome: Result<Void, SnapshotError>?

  private init(path: String, fd: Int32, body: Int64) {
    self.path = path
    self.fd = fd
    self.body = body
  }

  deinit { close(fd) }

  /// Opens `path` and applies the size rule; nil when the hash is not to be checked.
  ///
  /// Throws `.notFound`/`.io` when the file cannot be opened, `.corrupt` when it has no trailer
  /// and `skip` is false.
  static func open(path: String, skip: Bool) throws(SnapshotError) -> SnapshotHashCheck? {
    let fd: Int32
    do { fd = try SystemFile.openForReading(path) } catch {
      throw SnapshotError(error.errno == ENOENT ? .notFound : .io, "cannot open snapshot \(path): \(error.reason)")
    }
    let size: Int64
    do { size = try SystemFile.size(fd, path: path) } catch {
      close(fd)
      throw SnapshotError(.io, "cannot read the size of \(path): \(error.reason)")
    }
    let hasTrailer = SnapshotTrailerVerifier.hasTrailer(fileSize: size)
    if skip || !hasTrailer { close(fd) }
    if skip { return nil }
    if !hasTrailer {
      throw SnapshotError(
        .corrupt,
        "snapshot missing hash but --skip-hash-check=false: \(path) has no SHA-256 trailer (size \(size) is not "
          + "512·k + 32); if it is a copied member/snap/db, restore it with --skip-hash-check")
    }
    return SnapshotHashCheck(path: path, fd: fd, body: size - 32)
  }

  /// `open`, then the SHA-256 computed on a thread of its own; collect it with `wait`.
  static func start(path: String, skip: Bool) throws(SnapshotError) -> SnapshotHashCheck? {
    guard let check = try open(path: path, skip: skip) else { return nil }
    DispatchQueue.global(qos: .userInitiated).async {
      let result: Result<Void, SnapshotError>
      do throws(SnapshotError) {
        try check.verify { check.stopped.load(ordering: .relaxed) }
        result = .success(())
      } catch {
        result = .failure(error)
      }
      check.outcome = result
      check.done.signal()
    }
    return check
  }

  /// Asks a started check to end at its next chunk.
  func stop() {
    stopped.store(true, ordering: .relaxed)
  }

  /// The outcome of a started check, once it ends; stops it once `isStopped` says so.
  func wait(isStopped: () -> Bool) -> Result<Void, SnapshotError> {
    while done.wait(timeout: .now() + .milliseconds(50)) == .timedOut {
      if isStopped() { stop() }
    }
    done.signal()  // a later wait returns at once
    return outcome ?? .failure(SnapshotError(.internal, "the hash check of \(path) ended without an outcome"))
  }

  /// SHA-256 of the body against the trailer; `isStopped` is asked before each 1 MiB chunk.
  func verify(isStopped: () -> Bool) throws(SnapshotError) {
    var hasher = SHA256()
    var buffer = [UInt8](repeating: 0, count: 1 << 20)
    var offset: Int64 = 0
    while offset < body {
      if isStopped() { throw SnapshotError(.cancelled, "stopped while checking \(path); nothing was restored") }
      let want = Int(min(Int64(buffer.count), body - offset))
      let n: Int
      do {
        n = try buffer.withUnsafeMutableBytes { raw in
          Result { () throws(SystemCallError) in
            try SystemFile.read(fd, into: UnsafeMutableRawBufferPointer(rebasing: raw[0..<want]), at: offset, path: path)
          }
        }.get()
      } catch {
        throw SnapshotError(.io, "cannot read \(path) at byte \(error.offset ?? offset): \(error.reason)")
      }
      guard n > 0 else { throw SnapshotError(.io, "cannot read \(path) at byte \(offset): the file ended early") }
      buffer.withUnsafeBytes { hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
      offset += Int64(n)
    }
    let trailer = (try? SystemFile.read(fd, count: 32, at: body, path: path)) ?? []
    guard trailer.count == 32 else { throw SnapshotError(.io, "cannot read the SHA-256 trailer of \(path)") }
    let computed = Array(hasher.finalize())
    guard computed == trailer else {
      throw SnapshotError(
        .corrupt,
        "expected sha256 \(hex(trailer)), got \(hex(computed)): \(path) is damaged or truncated; "
          + "use another snapshot (or --skip-hash-check to restore it anyway)")
    }
  }
}

/// Builds the `SnapshotError`s of the restore code.
enum SnapshotErrorFactory {
  static func invalid(_ message: String) -> SnapshotError { SnapshotError(.invalidConfiguration, message) }
  static func cannotWrite(_ message: String) -> SnapshotError { SnapshotError(.cannotWrite, message) }
}
