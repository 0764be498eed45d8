import Foundation
import Logging
import SnapshotCore
import SnapshotStorage
import SystemFiles

#if canImport(Glibc)
  import Glibc
#endif

/// A snapshot named on the command line: a path, or a name that `ls` prints.
package enum SnapshotReference {
  /// Resolves `argument` to a file and the metadata record beside it, if any.
  ///
  /// A path (anything with a `/`: `./x`, `/x`, `dir/x`) is taken as is; its record is looked
  /// up in `.metadata/` next to it. A bare name is always a snapshot name, looked up in the
  /// snapshot directory as k3s does, never a file of the current directory: a root user in
  /// `/tmp` must not restore a file that someone else put there under a snapshot's name.
  package static func resolve(
    _ argument: String, in storage: SnapshotDirectoryConfiguration
  ) throws(SnapshotError) -> (path: String, metadata: SnapshotMetadata?) {
    if argument.contains("/") {
      guard fileExists(argument) else {
        throw SnapshotError(.notFound, "\(argument) does not exist: give the path of a snapshot file or a name from `etcd-snapshot ls`")
      }
      let store = LocalSnapshotStore(directory: SystemFile.parentDirectory(of: argument))
      let name = String(argument.split(separator: "/").last ?? Substring(argument))
      return (argument, metadata(store.readMetadata(name: name)))
    }
    let store = LocalSnapshotStore(directory: storage.snapshotDirectory)
    try store.checkOwnership()
    if let problem = LocalSnapshotStore.nameProblem(argument) {
      throw SnapshotError(.invalidConfiguration, problem)
    }
    let path = store.path(of: argument)
    guard fileExists(path) else {
      throw SnapshotError(
        .notFound,
        "no snapshot named \(quoted(argument)) in \(storage.snapshotDirectory): see `etcd-snapshot ls`, or give a path (./\(argument) for a file in the current directory)"
      )
    }
    return (path, metadata(store.readMetadata(name: argument)))
  }

  private static func metadata(_ lookup: LocalSnapshotStore.MetadataLookup) -> SnapshotMetadata? {
    if case .found(let m) = lookup { return m }
    return nil
  }
}

extension SnapshotReference {
  /// Runs `body` with a local file for `argument`: with `s3`, the named object is first
  /// downloaded into a private folder of the snapshot directory, its SHA-256 checked against
  /// the sidecar record (or etcd's trailer) while it streams, and removed after `body`.
  /// Without `s3`, as `resolve`.
  package static func withLocalFile<T: Sendable>(
    _ argument: String, in storage: SnapshotDirectoryConfiguration, s3: S3Configuration?,
    decryption: DecryptionConfiguration = DecryptionConfiguration(), logger: Logger,
    _ body: (_ path: String, _ metadata: SnapshotMetadata?) async throws -> T
  ) async throws(SnapshotError) -> T {
    guard let s3 else {
      let (path, metadata) = try resolve(argument, in: storage)
      return try await PlainSnapshot.with(path, address: path, record: metadata, decryption: decryption) { plain, _ in try await body(plain, metadata)
      }
    }
    let store = LocalSnapshotStore(directory: storage.snapshotDirectory)
    try store.prepare()
    _ = store.removeDebris(parts: false)
    let folder = storage.snapshotDirectory + "/" + LocalSnapshotStore.downloadFolderName()
    guard mkdir(folder, 0o700) == 0 else {
      let code = errno
      throw SnapshotError.posix(code, call: "mkdir", path: folder, what: "the download folder")
    }
    defer { try? FileManager.default.removeItem(atPath: folder) }
    do {
      return try await S3Client.with(s3, logger: logger) { client in
        let path = folder + "/" + argument
        let record = try await S3SnapshotStore(client: client).download(name: argument, to: path)
        return try await PlainSnapshot.with(path, address: s3.address(of: argument), record: record, decryption: decryption) { plain, _ in
          try await body(plain, record)
        }
      }
    } catch {
      throw SnapshotError.wrapping(error)
    }
  }
}
