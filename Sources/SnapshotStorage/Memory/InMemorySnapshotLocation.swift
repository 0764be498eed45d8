import SnapshotCore
import Synchronization

/// Snapshots kept in memory: a `SnapshotLocation` for unit tests of the catalog and of
/// retention, without files, processes or a bucket. Never on a path a user runs.
///
/// Entries list as local files under `address`. Failures can be planted: a removal of a
/// name in `failingRemovals`, or any call once `unavailable` is set, throws as a store would.
package final class InMemorySnapshotLocation: SnapshotLocation {
  /// One stored snapshot.
  package struct Stored: Sendable, Equatable {
    /// Its name.
    package var name: String
    /// Its size in bytes.
    package var size: Int64
    /// Its modification time (Unix seconds): the time of names that carry none.
    package var modified: Int64
    /// Its metadata record, if it has one.
    package var record: SnapshotMetadata?

    /// A snapshot named `name`.
    package init(name: String, size: Int64 = 1024, modified: Int64 = 0, record: SnapshotMetadata? = nil) {
      self.name = name
      self.size = size
      self.modified = modified
      self.record = record
    }
  }

  private struct State {
    var snapshots: [String: Stored] = [:]
    var failingRemovals: Set<String> = []
    var removalProblem: String?
    var unavailable: String?
    var recordReads = 0
    var removals: [String] = []
  }

  package let address: String
  private let state: Mutex<State>

  /// An empty location; `address` stands in for a directory in messages.
  package init(address: String = "/memory/snapshots", snapshots: [Stored] = []) {
    self.address = address
    var initial = State()
    for s in snapshots { initial.snapshots[s.name] = s }
    state = Mutex(initial)
  }

  package var listCommand: String { "etcd-snapshot ls --dir \(address)" }

  /// Adds (or replaces) a snapshot.
  package func add(_ snapshot: Stored) {
    state.withLock { $0.snapshots[snapshot.name] = snapshot }
  }

  /// The names held now, sorted.
  package var stored: [String] { state.withLock { $0.snapshots.keys.sorted() } }

  /// Removals that fail with an I/O error.
  package func failRemoval(of names: Set<String>) { state.withLock { $0.failingRemovals = names } }

  /// What `removalProblem()` answers (nil: removing may go ahead).
  package func refuseRemovals(_ problem: String?) { state.withLock { $0.removalProblem = problem } }

  /// Every call fails with this problem (nil: the location answers again).
  package func makeUnavailable(_ problem: String?) { state.withLock { $0.unavailable = problem } }

  /// How many metadata records were read by `records(of:)` (the cost sidecars have in S3).
  package var recordReads: Int { state.withLock { $0.recordReads } }

  /// The names removed, in order.
  package var removals: [String] { state.withLock { $0.removals } }

  private func available() throws(SnapshotError) {
    if let problem = state.withLock({ $0.unavailable }) { throw SnapshotError(.io, problem) }
  }

  package func list(preferredPrefixes: [String], readingSidecars: Bool) async throws(SnapshotError) -> [SnapshotEntry] {
    try available()
    let snapshots = state.withLock { Array($0.snapshots.values) }
    return snapshots.map { s in
      let record = readingSidecars ? s.record : nil
      let parsed = record?.snapshotName ?? SnapshotName.parse(s.name, preferredPrefixes: preferredPrefixes)
      let problem = record.flatMap { $0.stored.size == s.size ? nil : "size is \(s.size) bytes but the metadata record says \($0.stored.size)" }
      return SnapshotEntry(
        fileName: s.name, name: parsed, metadata: record, location: .local(path: address + "/" + s.name), size: s.size,
        timestamp: parsed?.timestamp ?? s.modified, revision: record?.revision, problem: problem)
    }.sorted(by: SnapshotEntry.newestFirst)
  }

  package func names() async throws(SnapshotError) -> Set<String> {
    try available()
    return state.withLock { Set($0.snapshots.keys) }
  }

  package func records(of names: [String]) async throws(SnapshotError) -> [String: SnapshotMetadata] {
    try available()
    return state.withLock { state in
      state.recordReads += names.count
      var out: [String: SnapshotMetadata] = [:]
      for name in names { if let record = state.snapshots[name]?.record { out[name] = record } }
      return out
    }
  }

  package func removalProblem() -> String? { state.withLock { $0.removalProblem } }

  package func remove(name: String) async throws(SnapshotError) {
    try available()
    let failure: String? = state.withLock { state in
      if state.failingRemovals.contains(name) { return "cannot remove \(address)/\(name): Input/output error" }
      guard state.snapshots.removeValue(forKey: name) != nil else { return "\(address)/\(name) was already gone" }
      state.removals.append(name)
      return nil
    }
    if let failure { throw SnapshotError(.io, failure) }
  }

  package func finishRemoving() throws(SnapshotError) { try available() }
}
