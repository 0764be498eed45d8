import SnapshotCore
import SnapshotStorage

/// A snapshot named on the command line: a path, or a name that `ls` prints.
package enum SnapshotReference {
  /// Resolves `argument` to a file and the metadata record beside it, if any.
  ///
  /// A path (anything with a `/`, or an existing file) is taken as is; its record is looked up
  /// in `.metadata/` next to it. Otherwise the name is looked up in the snapshot directory.
  package static func resolve(
    _ argument: String, in storage: SnapshotDirectoryConfiguration
  ) throws(SnapshotError) -> (path: String, metadata: SnapshotMetadata?) {
    if argument.contains("/") || fileExists(argument) {
      guard fileExists(argument) else {
        throw SnapshotError(.notFound, "\(argument) does not exist: give the path of a snapshot file or a name from `etcd-snapshot ls`")
      }
      let store = LocalSnapshotStore(directory: parentDirectory(of: argument))
      let name = String(argument.split(separator: "/").last ?? Substring(argument))
      return (argument, metadata(store.readMetadata(name: name)))
    }
    let store = LocalSnapshotStore(directory: storage.snapshotDirectory)
    if let problem = LocalSnapshotStore.nameProblem(argument) {
      throw SnapshotError(.invalidConfiguration, problem)
    }
    let path = store.path(of: argument)
    guard fileExists(path) else {
      throw SnapshotError(
        .notFound,
        "no snapshot named \(quoted(argument)) in \(storage.snapshotDirectory): see `etcd-snapshot ls`, or give a path")
    }
    return (path, metadata(store.readMetadata(name: argument)))
  }

  private static func metadata(_ lookup: LocalSnapshotStore.MetadataLookup) -> SnapshotMetadata? {
    if case .found(let m) = lookup { return m }
    return nil
  }
}
