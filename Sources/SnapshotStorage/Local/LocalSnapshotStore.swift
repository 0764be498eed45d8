import EtcdFormats
import Foundation
import SnapshotCore
import SystemFiles

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// Snapshots in one local directory, with their metadata records in `<dir>/.metadata/<name>`.
///
/// Layout (as k3s keeps it): snapshot files directly in the directory, mode 0600; the directory
/// and `.metadata` mode 0700. Files ending in `.part` are writes in progress or left by a crash
/// and are never listed. Hidden files are not snapshots.
package struct LocalSnapshotStore: Sendable {
  /// The snapshot directory.
  package let directory: String
  /// Reads what a snapshot file without a metadata record says about itself
  /// (revision, or a problem); injected so the store does not depend on the format readers.
  package let inspect: @Sendable (String) -> (revision: Int64?, problem: String?)

  /// A store over `directory`.
  package init(
    directory: String,
    inspect: @escaping @Sendable (String) -> (revision: Int64?, problem: String?) = { _ in (nil, nil) }
  ) {
    self.directory = directory
    self.inspect = inspect
  }

  /// Folder of the metadata records.
  package var metadataDirectory: String { directory + "/.metadata" }

  /// Path of a snapshot file.
  package func path(of name: String) -> String { directory + "/" + name }

  /// Creates the directory (and missing parents) with mode 0700 and checks it can be written.
  ///
  /// An existing directory keeps its mode; a group- or world-readable one is reported by
  /// `looseModeWarning`.
  package func prepare() throws(SnapshotError) {
    try makeDirectories(directory)
    try checkOwnership()
    try makeDirectories(metadataDirectory)
  }

  /// Refuses a directory that someone else could fill: owned by another user, or writable by
  /// group or others. Files planted there would be listed, restored and pruned as snapshots.
  /// A missing directory is fine (nothing is in it).
  package func checkOwnership() throws(SnapshotError) {
    var st = stat()
    guard lstat(directory, &st) == 0 else { return }
    if (st.st_mode & S_IFMT) == S_IFLNK {
      guard stat(directory, &st) == 0 else { return }
    }
    let me = geteuid()
    if st.st_uid != me {
      throw SnapshotError(
        .permissionDenied,
        "\(directory) belongs to uid \(st.st_uid), not to you (uid \(me)): others could plant or swap snapshots there; run `chown \(me) \(directory)` or choose another --dir"
      )
    }
    let mode = st.st_mode & 0o777
    if mode & 0o022 != 0 {
      throw SnapshotError(
        .permissionDenied,
        "\(directory) can be written by its group or by others (mode \(String(mode, radix: 8))): anyone there could plant or swap snapshots; run `chmod 700 \(directory)`"
      )
    }
  }

  /// A warning when the directory is readable by others (snapshots hold every Secret), else nil.
  package func looseModeWarning() -> String? {
    var st = stat()
    guard stat(directory, &st) == 0 else { return nil }
    let mode = st.st_mode & 0o777
    guard mode & 0o077 != 0 else { return nil }
    return "\(directory) has mode \(String(mode, radix: 8)): snapshots hold every Secret of the cluster; consider `chmod 700 \(directory)`"
  }

  /// Starts writing snapshot `name`; nothing is visible until the file is committed.
  package func create(name: String) throws(SnapshotError) -> AtomicFile {
    try AtomicFile(path: path(of: name), what: "the snapshot file")
  }

  /// Writes the metadata record for a snapshot atomically; `replacing` swaps in a new
  /// version of an existing record (e.g. once the upload of `save --s3` has finished).
  package func writeMetadata(_ metadata: SnapshotMetadata, replacing: Bool = false) throws(SnapshotError) {
    let data: Data
    do { data = try metadata.encoded() } catch {
      throw SnapshotError(.internal, "cannot encode the metadata record: \(error)")
    }
    let target = metadataDirectory + "/" + metadata.name
    var file = try AtomicFile(path: target, what: "the metadata record", replacing: replacing)
    do throws(SnapshotError) {
      try file.write(Array(data))
      try file.commit()
    } catch {
      file.abort()
      throw error
    }
  }

  /// Removes a metadata record, if there is one.
  package func removeMetadata(name: String) {
    unlink(metadataDirectory + "/" + name)
  }

  /// What looking for a metadata record found.
  package enum MetadataLookup: Sendable {
    /// No record.
    case none
    /// A record.
    case found(SnapshotMetadata)
    /// A record that cannot be read or decoded, and why.
    case unreadable(String)
  }

  /// Reads the metadata record of snapshot `name`.
  package func readMetadata(name: String) -> MetadataLookup {
    let p = metadataDirectory + "/" + name
    guard FileManager.default.fileExists(atPath: p) else { return .none }
    guard let data = FileManager.default.contents(atPath: p) else { return .unreadable("cannot read \(p)") }
    do { return .found(try SnapshotMetadata.decode(data)) } catch {
      return .unreadable("metadata record \(p) is not valid JSON: \(error)")
    }
  }

  /// Every snapshot in the directory, newest first. A missing directory lists as empty.
  package func list(preferredPrefixes: [String] = []) throws(SnapshotError) -> [SnapshotEntry] {
    var entries: [SnapshotEntry] = []
    for name in try fileNames() {
      let p = path(of: name)
      var st = stat()
      guard lstat(p, &st) == 0 else { continue }
      let size = Int64(st.st_size)
      let mtime = Int64(st.st_mtim.tv_sec)
      var metadata: SnapshotMetadata?
      var problem: String?
      switch readMetadata(name: name) {
      case .found(let m): metadata = m
      case .unreadable(let text): problem = text
      case .none: break
      }
      let parsed = metadata?.snapshotName ?? SnapshotName.parse(name, preferredPrefixes: preferredPrefixes)
      var revision = metadata?.revision
      if metadata == nil {
        let seen = inspect(p)
        revision = seen.revision
        problem = problem ?? seen.problem
      } else if let m = metadata, m.stored.size != size {
        problem = "size is \(size) bytes but the metadata record says \(m.stored.size): the file was changed or truncated"
      }
      entries.append(
        SnapshotEntry(
          fileName: name, name: parsed, metadata: metadata, location: .local(path: p), size: size,
          timestamp: parsed?.timestamp ?? mtime, revision: revision, problem: problem))
    }
    return entries.sorted(by: SnapshotEntry.newestFirst)
  }

  /// The names of the snapshot files: regular files, neither hidden nor `.part`. A missing
  /// directory has none.
  package func fileNames() throws(SnapshotError) -> [String] {
    let names: [String]
    do {
      names = try FileManager.default.contentsOfDirectory(atPath: directory)
    } catch {
      var st = stat()
      if stat(directory, &st) != 0 && errno == ENOENT { return [] }
      throw SnapshotError(.io, "cannot read the snapshot directory \(directory): \(error.localizedDescription)")
    }
    return names.filter { name in
      guard !name.hasPrefix("."), !name.hasSuffix(".part") else { return false }
      var st = stat()
      return lstat(path(of: name), &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG
    }
  }

  /// Removes what runs that were killed left behind, and returns its paths: `.download-PID-*`
  /// folders whose process is gone, and with `parts` the `.part` files (only while holding the
  /// directory's `DirectoryLock`: every writer of a `.part` holds it, so none is running).
  /// They hold full plaintext copies of a cluster's Secrets, hidden from `ls` and never pruned.
  package func removeDebris(parts: Bool) -> [String] {
    var removed: [String] = []
    for folder in [directory, metadataDirectory] {
      guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder) else { continue }
      for name in names {
        let p = folder + "/" + name
        var st = stat()
        guard lstat(p, &st) == 0 else { continue }
        let isFile = (st.st_mode & S_IFMT) == S_IFREG
        let isDirectory = (st.st_mode & S_IFMT) == S_IFDIR
        if parts && isFile && name.hasSuffix(".part") {
          if unlink(p) == 0 { removed.append(p) }
        } else if isDirectory && folder == directory, let pid = Self.downloadOwner(name), !RestoreLeftovers.isRunning(pid) {
          if (try? FileManager.default.removeItem(atPath: p)) != nil { removed.append(p) }
        }
      }
    }
    return removed
  }

  /// The pid in a download folder's name (`.download-PID-RANDOM`), or nil.
  package static func downloadOwner(_ name: String) -> Int32? {
    guard name.hasPrefix(".download-") else { return nil }
    let rest = name.dropFirst(".download-".count)
    guard let dash = rest.firstIndex(of: "-") else { return nil }
    return Int32(rest[..<dash])
  }

  /// The name of a new download folder of this process.
  package static func downloadFolderName() -> String {
    ".download-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
  }

  /// Why a user-given name cannot be a snapshot name here, or nil.
  package static func nameProblem(_ name: String) -> String? {
    if name.isEmpty { return "an empty snapshot name was given" }
    if name.contains("/") || name.contains("..") {
      return "\(quoted(name)) is not a snapshot name: names must not contain `/` or `..` (give the name `ls` prints, not a path)"
    }
    if name.hasPrefix(".") || name.hasSuffix(".part") {
      return "\(quoted(name)) is not a snapshot: hidden and `.part` files are not snapshots"
    }
    return nil
  }

  private func makeDirectories(_ path: String) throws(SnapshotError) {
    var st = stat()
    if stat(path, &st) == 0 {
      guard (st.st_mode & S_IFMT) == S_IFDIR else {
        throw SnapshotError(.cannotWrite, "\(path) exists and is not a directory: choose another --dir")
      }
      if access(path, W_OK | X_OK) != 0 {
        let code = errno
        throw SnapshotError.posix(code, call: "access", path: path, what: "snapshots")
      }
      return
    }
    let parent = SystemFile.parentDirectory(of: path)
    if parent != path && parent != "/" && parent != "." { try makeDirectories(parent) }
    if mkdir(path, 0o700) != 0 {
      let code = errno
      if code == EEXIST { return }
      throw SnapshotError.posix(code, call: "mkdir", path: path, what: "the snapshot directory")
    }
    chmod(path, 0o700)
  }
}
