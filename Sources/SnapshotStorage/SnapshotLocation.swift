import SnapshotCore

/// A place that keeps snapshots: the local snapshot directory (`LocalSnapshotStore`), an S3
/// folder (`S3SnapshotStore`), or memory (`InMemorySnapshotLocation`, for unit tests).
///
/// `Catalog` lists, deletes and prunes through this protocol alone, so the agent's retention
/// and the CLI's act the same on every kind of store.
package protocol SnapshotLocation: Sendable {
  /// Where this is, for messages: the directory's path, or `s3://bucket/folder`.
  var address: String { get }

  /// The command that lists this location, for the fix in a "no snapshot named" message.
  var listCommand: String { get }

  /// Every snapshot here, newest first.
  ///
  /// `readingSidecars: false` may leave the metadata records unread where each costs a
  /// request (S3): the entries then carry what their names say. Local records are read
  /// either way.
  func list(preferredPrefixes: [String], readingSidecars: Bool) async throws(SnapshotError) -> [SnapshotEntry]

  /// The names of the snapshots here, without reading their records.
  func names() async throws(SnapshotError) -> Set<String>

  /// The metadata records of those of `names` that have one.
  func records(of names: [String]) async throws(SnapshotError) -> [String: SnapshotMetadata]

  /// Why nothing here could be removed now (say, no write permission), checked before
  /// anything anywhere is removed; nil when removing can go ahead.
  func removalProblem() -> String?

  /// Removes snapshot `name`, which a listing has just shown, and its metadata record.
  func remove(name: String) async throws(SnapshotError)

  /// Makes the removals so far durable (the local directory's fsync).
  func finishRemoving() throws(SnapshotError)
}
