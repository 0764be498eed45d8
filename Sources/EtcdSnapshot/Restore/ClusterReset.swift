import EtcdFormats
import Foundation
import Logging
import SnapshotCore
import SystemFiles

#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

/// What `cluster-reset` is asked to do.
package struct ClusterResetOptions: Sendable {
  /// The stopped member's data directory (holds `member/snap/db` and `member/wal`).
  package var dataDir: String
  /// A snapshot to reset from (a path, or a name looked up in `snapshots` or with `s3` in the
  /// bucket); `nil` resets from the member's own `member/snap/db`.
  package var restorePath: String?
  /// Where a `restorePath` name is looked up (a path is read where it is) and S3 downloads
  /// go; needed with `restorePath`.
  package var snapshots: SnapshotDirectoryConfiguration?
  /// The bucket folder that `restorePath` names, with `--s3`.
  package var s3: S3Configuration?
  /// How an encrypted `restorePath` is decrypted (`--decrypt-identity-file`).
  package var decryption = DecryptionConfiguration()
  /// `--bundle-to DIR`: also unpack the bundle the snapshot's record names, checked before
  /// anything is moved.
  package var bundleTo: String?
  /// This member's name; `nil` means the name the old data directory records.
  package var name: String?
  /// Comma-separated peer URLs; `nil` means the URLs the old data directory records.
  package var initialAdvertisePeerURLs: String?
  /// `--initial-cluster-token`; `nil` means `etcd-cluster`.
  package var initialClusterToken: String?
  /// The current time in unix seconds (names `DIR-old-<now>`).
  package var now: Int64

  /// Options for `dataDir` at `now`, everything else defaulted.
  package init(
    dataDir: String, restorePath: String? = nil, name: String? = nil, initialAdvertisePeerURLs: String? = nil,
    initialClusterToken: String? = nil, now: Int64
  ) {
    self.dataDir = dataDir
    self.restorePath = restorePath
    self.name = name
    self.initialAdvertisePeerURLs = initialAdvertisePeerURLs
    self.initialClusterToken = initialClusterToken
    self.now = now
  }
}

/// What a reset did.
package struct ClusterResetResult: Sendable {
  /// Where the old data now is, untouched: `DIR-old-<now>`, or `DIR/member-old-<now>` when
  /// `DIR` is a mount point or a symlink.
  package var oldDataDir: String
  /// The restore that wrote the new data directory (now at `DIR`).
  package var restore: RestoreResult
  /// The member's name in the new one-member cluster.
  package var name: String
  /// Its peer URLs.
  package var peerURLs: [String]
  /// What the data came from (a snapshot file or the old `member/snap/db`).
  package var source: String
  /// How to start etcd now and, for a former cluster, what to do on the other members.
  package var instructions: String
  /// The members the old data directory recorded (empty if it could not be read).
  package var oldMembers: [RecordedMember]
  /// Temporaries of killed cluster-resets of the same data dir, removed first.
  package var removedLeftovers: [String] = []
  /// With `--bundle-to`: the bundle unpacked, and how many members it had.
  package var bundle: (address: String, entries: Int, directory: String)?
}

/// `cluster-reset`: turn a stopped member into a new one-member cluster that keeps the data
/// (k3s's `--cluster-reset` for a plain etcd member).
///
/// Order: the data directory is checked (`member/snap/db`, `member/wal`), its db is locked
/// with `flock` as etcd locks it (a running etcd is refused), a previous reset's marker is
/// refused, the member's name and peer URLs are read from the WAL metadata and the `members`
/// bucket, the new data directory is restored into a temporary sibling with the marker file,
/// then `DIR` becomes `DIR-old-<now>` and the new one becomes `DIR`. When `DIR` is a mount point
/// or a symlink (it cannot be renamed, and its sibling may be on another volume), all of it
/// happens inside `DIR`: the new `member/` is built there, `DIR/member` becomes
/// `DIR/member-old-<now>`. The old data is never deleted nor copied to another volume; a
/// failure before the renames leaves `DIR` as it was.
package struct ClusterReset: Sendable {
  /// File in the new data directory's root recording a reset (etcd ignores unknown files there).
  package static let markerName = ".etcd-snapshot-cluster-reset"

  /// What to reset, and from what.
  package var options: ClusterResetOptions
  /// Log of S3 retries.
  package var logger: Logger

  /// The use case for `options`.
  package init(_ options: ClusterResetOptions, logger: Logger) {
    self.options = options
    self.logger = logger
  }

  /// Finds (or downloads and checks) the snapshot, if one is named, then resets on a thread of
  /// its own (`BlockingWork`).
  package func run() async throws(SnapshotError) -> ClusterResetResult {
    let options = self.options
    guard let restorePath = options.restorePath else {
      if options.bundleTo != nil {
        throw SnapshotError(
          .invalidConfiguration, "--bundle-to needs --restore-path SNAPSHOT: the bundle is the one that snapshot's record names")
      }
      if options.s3 != nil {
        throw SnapshotError(
          .invalidConfiguration, "--s3 needs --restore-path NAME: the name of the snapshot in the bucket (see `etcd-snapshot ls --s3`)")
      }
      return try await BlockingWork.run { isStopped throws(SnapshotError) in try Self.reset(options, isStopped: isStopped) }
    }
    guard let storage = options.snapshots else {
      throw SnapshotError(.invalidConfiguration, "no snapshot directory to look up --restore-path \(quoted(restorePath)) in: give its path")
    }
    let source = SnapshotSource(restorePath, storage: storage, s3: options.s3, decryption: options.decryption)
    let logger = self.logger
    return try await source.withLocalFile(logger: logger) { path, record in
      var copy = options
      copy.restorePath = path
      let local = copy
      guard let bundleTo = options.bundleTo else {
        return try await BlockingWork.run { isStopped throws(SnapshotError) in try Self.reset(local, isStopped: isStopped) }
      }
      // Read, decrypted and checked whole before the data directory is moved.
      return try await SnapshotBundleReader.with(
        record, snapshot: options.s3.map { $0.address(of: restorePath) } ?? restorePath, storage: storage, s3: options.s3,
        decryption: options.decryption, logger: logger
      ) { plain, entries, address in
        var result = try await BlockingWork.run { isStopped throws(SnapshotError) in try Self.reset(local, isStopped: isStopped) }
        try await BlockingWork.run { isStopped throws(SnapshotError) in
          try BundleExtractor.extract(plain, address: address, to: bundleTo, isStopped: isStopped)
        }
        result.bundle = (address, entries.count, bundleTo)
        return result
      }
    }
  }

  /// Resets from the local file `options.restorePath` (or the member's own database);
  /// `isStopped` is asked between chunks of the restore.
  package static func reset(
    _ options: ClusterResetOptions, isStopped: @escaping @Sendable () -> Bool = { Task.isCancelled }
  ) throws(SnapshotError) -> ClusterResetResult {
    do {
      return try resetting(options, isStopped: isStopped)
    } catch let error as SnapshotError {
      throw error
    } catch let error as FormatError {
      throw SnapshotError(.corrupt, "\(error.description); nothing was reset", cause: error)
    } catch {
      throw SnapshotError(.internal, "cluster-reset failed: \(error); nothing was reset")
    }
  }

  private static func resetting(_ options: ClusterResetOptions, isStopped: @escaping @Sendable () -> Bool) throws -> ClusterResetResult {
    var dir = options.dataDir
    while dir.count > 1 && dir.hasSuffix("/") { dir.removeLast() }
    guard !dir.isEmpty else { throw SnapshotError(.invalidConfiguration, "--data-dir is empty; give the member's data dir") }
    try checkIsDataDir(dir)
    let db = dir + "/member/snap/db"
    let lock = try lockDatabase(db, dataDir: dir)
    defer { close(lock) }
    let removed = RestoreLeftovers.sweepClusterReset(dataDir: dir)
    try checkMarker(dir)

    var identity: DataDirIdentity?
    var identityProblem = ""
    do {
      identity = try DataDirInspector.identity(dataDir: dir)
    } catch {
      identityProblem = "\(error)"
    }
    let local = identity?.local
    let name: String
    if let given = options.name, !given.isEmpty {
      name = given
    } else if let recorded = local?.name, !recorded.isEmpty {
      name = recorded
    } else {
      throw SnapshotError(.invalidConfiguration, missingIdentity("the member's name", flag: "--name NAME", identity, identityProblem))
    }
    let peerURLs: [String]
    if let given = options.initialAdvertisePeerURLs, !given.isEmpty {
      peerURLs = given.split(separator: ",", omittingEmptySubsequences: true).map(String.init)
    } else if let recorded = local?.peerURLs, !recorded.isEmpty {
      peerURLs = recorded
    } else {
      throw SnapshotError(
        .invalidConfiguration,
        missingIdentity("the member's peer URLs", flag: "--initial-advertise-peer-urls URLS", identity, identityProblem))
    }

    // A data dir that is a mount point (or a symlink to elsewhere) cannot be renamed, and its
    // sibling may be on another volume: then everything happens inside it, on its own volume.
    let inPlace = isMountPointOrSymlink(dir)
    let oldDir = inPlace ? dir + "/member-old-\(options.now)" : dir + "-old-\(options.now)"
    guard RestorePlanner.directoryState(oldDir) == .missing, !pathExists(oldDir) else {
      throw SnapshotError(
        .invalidConfiguration, "\(oldDir) already exists; the old data dir would be moved there. Move it away and retry")
    }
    let source = options.restorePath ?? db
    let sourceText =
      options.restorePath.map { "snapshot \($0)" } ?? "the member's own database \(db) (all peers forgotten)"

    let tmpName = RestoreLeftovers.suffix(".reset-tmp-")
    let tmp = inPlace ? dir + "/" + tmpName : dir + tmpName
    var restoreOptions = RestoreOptions()
    restoreOptions.name = name
    restoreOptions.initialCluster = peerURLs.map { "\(name)=\($0)" }.joined(separator: ",")
    restoreOptions.initialAdvertisePeerURLs = peerURLs.joined(separator: ",")
    restoreOptions.initialClusterToken = options.initialClusterToken.flatMap { $0.isEmpty ? nil : $0 } ?? "etcd-cluster"
    restoreOptions.dataDir = tmp
    restoreOptions.skipHashCheck = options.restorePath == nil
    var restored: RestoreResult
    do {
      restored = try RestoreSnapshot.restore(path: source, options: restoreOptions, isStopped: isStopped)
      let marker = markerText(
        now: options.now, source: sourceText, oldDir: oldDir, name: name, memberID: restored.member.idHex)
      try writeSynced(tmp + "/" + markerName, Array(marker.utf8))
      try syncDirectory(tmp)
    } catch {
      try? FileManager.default.removeItem(atPath: tmp)
      if let error = error as? SnapshotError {
        throw SnapshotError(error.code, "\(error.message)\n\(dir) was not changed", cause: error.cause)
      }
      throw error
    }

    if inPlace {
      try swapMember(dir: dir, tmp: tmp, oldMember: oldDir)
    } else {
      try swapDirectories(dir: dir, tmp: tmp, oldDir: oldDir)
    }
    restored.dataDir = dir
    restored.walDir = dir + "/member/wal"

    let members = identity?.members ?? []
    let instructions = instructionsText(
      dir: dir, name: name, peerURLs: restored.member.peerURLs, token: restoreOptions.initialClusterToken,
      localID: identity?.memberID, oldMembers: members)
    return ClusterResetResult(
      oldDataDir: oldDir, restore: restored, name: name, peerURLs: restored.member.peerURLs, source: sourceText,
      instructions: instructions, oldMembers: members, removedLeftovers: removed)
  }

  /// `DIR` becomes `DIR-old-<now>` and the new data dir `DIR`, or `DIR` is put back.
  private static func swapDirectories(dir: String, tmp: String, oldDir: String) throws {
    do { try SystemFile.rename(dir, to: oldDir) } catch {
      let reason = error.reason
      try? FileManager.default.removeItem(atPath: tmp)
      throw SnapshotError(.cannotWrite, "cannot move \(dir) to \(oldDir): \(reason); \(dir) was not changed")
    }
    do { try SystemFile.rename(tmp, to: dir) } catch {
      let reason = error.reason
      if (try? SystemFile.rename(oldDir, to: dir)) != nil {
        try? FileManager.default.removeItem(atPath: tmp)
        throw SnapshotError(.cannotWrite, "cannot move the new data dir \(tmp) to \(dir): \(reason); \(dir) was put back")
      }
      throw SnapshotError(
        .cannotWrite,
        "cannot move the new data dir \(tmp) to \(dir): \(reason), and cannot move \(oldDir) back: the old data "
          + "dir is intact at \(oldDir), the new one at \(tmp); rename one of them to \(dir)")
    }
    try? SystemFile.syncDirectory(holding: dir)
  }

  /// Inside `DIR` (a mount point): `DIR/member` becomes `DIR/member-old-<now>`, the new
  /// `member/` (restored into `DIR/.reset-tmp-X`) becomes `DIR/member`, and the marker moves to
  /// `DIR`. Every step is a rename on DIR's own volume; a failure puts `member/` back.
  private static func swapMember(dir: String, tmp: String, oldMember: String) throws {
    do { try SystemFile.rename(dir + "/member", to: oldMember) } catch {
      let reason = error.reason
      try? FileManager.default.removeItem(atPath: tmp)
      throw SnapshotError(.cannotWrite, "cannot move \(dir)/member to \(oldMember): \(reason); \(dir) was not changed")
    }
    do { try SystemFile.rename(tmp + "/member", to: dir + "/member") } catch {
      let reason = error.reason
      if (try? SystemFile.rename(oldMember, to: dir + "/member")) != nil {
        try? FileManager.default.removeItem(atPath: tmp)
        throw SnapshotError(.cannotWrite, "cannot move the new member dir into \(dir): \(reason); \(dir)/member was put back")
      }
      throw SnapshotError(
        .cannotWrite,
        "cannot move the new member dir \(tmp)/member to \(dir)/member: \(reason), and cannot move \(oldMember) back: the old "
          + "member dir is intact at \(oldMember); rename it to \(dir)/member")
    }
    try? SystemFile.rename(tmp + "/" + markerName, to: dir + "/" + markerName)
    try? FileManager.default.removeItem(atPath: tmp)
    try? SystemFile.syncDirectory(dir)
  }

  /// True when `dir` is a symlink, or on another device than its parent (a mount point).
  private static func isMountPointOrSymlink(_ dir: String) -> Bool {
    var link = stat()
    if lstat(dir, &link) == 0 && (link.st_mode & S_IFMT) == S_IFLNK { return true }
    var here = stat()
    var up = stat()
    guard stat(dir, &here) == 0, stat(dir + "/..", &up) == 0 else { return false }
    return here.st_dev != up.st_dev
  }

  // MARK: - Checks

  private static func checkIsDataDir(_ dir: String) throws {
    guard RestorePlanner.directoryState(dir) != .missing else {
      throw SnapshotError(.notFound, "data dir \(dir) does not exist; give the stopped member's --data-dir")
    }
    var missing: [String] = []
    var st = stat()
    if stat(dir + "/member/snap/db", &st) != 0 || (st.st_mode & S_IFMT) != S_IFREG { missing.append("member/snap/db") }
    if stat(dir + "/member/wal", &st) != 0 || (st.st_mode & S_IFMT) != S_IFDIR { missing.append("member/wal") }
    guard missing.isEmpty else {
      throw SnapshotError(
        .invalidConfiguration,
        "\(dir) is not an etcd data dir: \(missing.joined(separator: " and ")) missing; give the member's --data-dir "
          + "(a separate --wal-dir is not supported by cluster-reset)")
    }
  }

  /// Takes etcd's lock on the db (bbolt's exclusive `flock`); returns the open descriptor.
  private static func lockDatabase(_ db: String, dataDir: String) throws -> Int32 {
    let fd: Int32
    do { fd = try SystemFile.openForReading(db) } catch {
      throw SnapshotError(
        error.errno == EACCES ? .permissionDenied : .io, "cannot open \(db): \(error.reason); run cluster-reset as the user etcd runs as")
    }
    while flock(fd, LOCK_EX | LOCK_NB) != 0 {
      let code = errno
      if code == EINTR { continue }
      close(fd)
      if code == EWOULDBLOCK {
        throw SnapshotError(
          .unavailable,
          "etcd is running on \(dataDir) (\(db) is locked): stop etcd on this member first, then run cluster-reset "
            + "again; nothing was changed")
      }
      throw SnapshotError(.io, "cannot lock \(db): \(SystemFile.errnoText(code)); nothing was changed")
    }
    return fd
  }

  private static func checkMarker(_ dir: String) throws {
    let path = dir + "/" + markerName
    guard FileManager.default.fileExists(atPath: path) else { return }
    let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
    var fields: [String: String] = [:]
    for line in text.split(separator: "\n") {
      guard let colon = line.firstIndex(of: ":") else { continue }
      fields[String(line[..<colon])] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
    }
    let when = fields["time"] ?? "an unknown time"
    let from = fields["source"] ?? "an unknown source"
    let old = fields["old data dir"] ?? "a DIR-old-<time> directory beside it"
    throw SnapshotError(
      .invalidConfiguration,
      "\(dir) is already the result of a cluster-reset (at \(when), from \(from); the data dir before it is \(old)); "
        + "refusing to reset it again. If you really mean to reset this member again, delete \(path) and rerun; "
        + "nothing was changed")
  }

  private static func missingIdentity(
    _ what: String, flag: String, _ identity: DataDirIdentity?, _ problem: String
  ) -> String {
    if let identity {
      return "cannot find \(what): member \(String(identity.memberID, radix: 16)) (from the WAL) is not in the "
        + "members bucket of the old db; give \(flag)"
    }
    return "cannot read \(what) from the old data dir (\(problem)); give \(flag)"
  }

  // MARK: - Texts

  private static func markerText(now: Int64, source: String, oldDir: String, name: String, memberID: String) -> String {
    let iso = Date(timeIntervalSince1970: TimeInterval(now)).ISO8601Format()
    return """
      etcd-snapshot cluster-reset
      time: \(iso) (unix \(now))
      source: \(source)
      old data dir: \(oldDir)
      member: \(name) (ID \(memberID))
      This data dir was made by `etcd-snapshot cluster-reset`; etcd ignores this file.
      cluster-reset refuses to run again on this data dir while this file exists: delete it to reset again.

      """
  }

  private static func instructionsText(
    dir: String, name: String, peerURLs: [String], token: String, localID: UInt64?, oldMembers: [RecordedMember]
  ) -> String {
    let urls = peerURLs.joined(separator: ",")
    let cluster = peerURLs.map { "\(name)=\($0)" }.joined(separator: ",")
    var text = """
      Start etcd on this member as a new one-member cluster:

        etcd --name \(name) --data-dir \(dir) \\
          --initial-advertise-peer-urls \(urls) \\
          --initial-cluster \(cluster) \\
          --initial-cluster-token \(token) --initial-cluster-state new

      Keep its usual --listen-client-urls, --advertise-client-urls, --listen-peer-urls and TLS flags;
      drop --initial-cluster-state existing if it had it.
      """
    let others = oldMembers.filter { $0.id != localID }
    guard !others.isEmpty else { return text + "\n" }
    let width = oldMembers.map { $0.name.count }.max() ?? 0
    func row(_ m: RecordedMember) -> String {
      let label = m.name.isEmpty ? "(unnamed \(m.idHex))" : m.name
      return "  " + label.padding(toLength: max(width, label.count), withPad: " ", startingAt: 0) + "  "
        + m.peerURLs.joined(separator: ",") + (m.id == localID ? "  (this member)" : "")
    }
    text += """


      The old cluster had \(oldMembers.count) members:
      \(oldMembers.sorted { $0.name < $1.name }.map(row).joined(separator: "\n"))

      The other members still hold the old cluster. Once this member serves:
        1. Stop etcd on every other member (\(others.map { $0.name.isEmpty ? $0.idHex : $0.name }.joined(separator: ", "))).
        2. Move their data dirs aside (do not delete them), e.g. mv /var/lib/etcd /var/lib/etcd-old-<time>.
        3. Join them back one at a time. For each, against this member run
             etcdctl member add NAME --peer-urls=PEER-URLS
           then start etcd on that member with an empty data dir, the --initial-cluster that
           `member add` prints, and --initial-cluster-state existing; wait until
           `etcdctl endpoint health` is fine before adding the next.

      """
    return text
  }

  // MARK: - Files

  private static func writeSynced(_ path: String, _ bytes: [UInt8]) throws {
    do { try SystemFile.writeNewFile(path, bytes) } catch { throw SnapshotError(.cannotWrite, "cannot \(error)") }
  }

  private static func syncDirectory(_ path: String) throws {
    do { try SystemFile.syncDirectory(path) } catch { throw SnapshotError(.cannotWrite, "cannot \(error)") }
  }

  private static func pathExists(_ path: String) -> Bool {
    var st = stat()
    return lstat(path, &st) == 0
  }
}
