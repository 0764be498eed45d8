import SnapshotCore
import SystemFiles

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

extension LocalSnapshotStore: SnapshotLocation {
  /// The directory.
  package var address: String { directory }

  package var listCommand: String { "etcd-snapshot ls --dir \(directory)" }

  /// Every snapshot file; the records are read either way (they cost no request).
  package func list(preferredPrefixes: [String], readingSidecars: Bool) async throws(SnapshotError) -> [SnapshotEntry] {
    try list(preferredPrefixes: preferredPrefixes)
  }

  package func names() async throws(SnapshotError) -> Set<String> {
    Set(try fileNames())
  }

  package func records(of names: [String]) async throws(SnapshotError) -> [String: SnapshotMetadata] {
    var out: [String: SnapshotMetadata] = [:]
    for name in names {
      if case .found(let record) = readMetadata(name: name) { out[name] = record }
    }
    return out
  }

  /// Removing a file needs write and search permission on its directory.
  package func removalProblem() -> String? {
    guard access(directory, W_OK | X_OK) != 0 else { return nil }
    let code = errno
    return SnapshotError.posix(code, call: "access", path: directory, what: "snapshots").message
  }

  /// Removes the snapshot, its record and the local bundle the record names (a file named
  /// as a bundle of this snapshot, nothing else).
  package func remove(name: String) async throws(SnapshotError) {
    let p = path(of: name)
    var bundle: BundleRecord?
    if case .found(let record) = readMetadata(name: name) { bundle = record.bundle }
    if unlink(p) != 0 {
      let code = errno
      throw SnapshotError.posix(code, call: "unlink", path: p, what: "the snapshot")
    }
    removeMetadata(name: name)
    if let bundle, bundle.belongs(to: name), bundle.path.hasSuffix("/" + bundle.name) { _ = unlink(bundle.path) }
  }

  /// Syncs the directory, so the removals survive a crash.
  package func finishRemoving() throws(SnapshotError) {
    try syncDirectory(directory)
  }
}
