import Foundation
import Logging
import SnapshotCore
import SnapshotStorage

/// `ls`, `delete` and `prune` over the snapshot locations: the local directory, and an S3
/// bucket folder with `--s3`.
package struct Catalog: Sendable {
  /// Where the local snapshots are.
  package var storage: SnapshotDirectoryConfiguration
  /// The S3 location, with `--s3`.
  package var s3: S3Configuration?
  /// Log of S3 retries.
  package var logger: Logger

  /// A catalog over the configured directory (and bucket).
  package init(storage: SnapshotDirectoryConfiguration, s3: S3Configuration? = nil, logger: Logger = Logger(label: "etcd-snapshot")) {
    self.storage = storage
    self.s3 = s3
    self.logger = logger
  }

  var local: LocalSnapshotStore {
    LocalSnapshotStore(directory: storage.snapshotDirectory, inspect: FileInspection.inspect)
  }

  /// Runs `body` with the configured locations: the local directory, then the S3 folder
  /// with `--s3`.
  func withLocations<T: Sendable>(_ body: ([any SnapshotLocation]) async throws(SnapshotError) -> T) async throws(SnapshotError) -> T {
    let local = self.local
    guard let s3 else { return try await body([local]) }
    return try await Self.withS3Store(s3, logger: logger) { store throws(SnapshotError) in try await body([local, store]) }
  }

  /// Runs `body` with the store of the S3 folder, and closes its client after.
  static func withS3Store<T: Sendable>(
    _ s3: S3Configuration, logger: Logger, _ body: (S3SnapshotStore) async throws(SnapshotError) -> T
  ) async throws(SnapshotError) -> T {
    do {
      return try await S3Client.with(s3, logger: logger) { client in try await body(S3SnapshotStore(client: client)) }
    } catch {
      throw SnapshotError.wrapping(error)
    }
  }

  /// Every snapshot, local and (with `--s3`) in S3, newest first.
  ///
  /// `readingSidecars: false` lists the bucket from its list pages alone (name, node, time,
  /// size, location): one request per 1,000 objects instead of one more per snapshot. Local
  /// records are read either way (they cost no request).
  package func list(preferredPrefixes: [String] = [], readingSidecars: Bool = true) async throws(SnapshotError) -> [SnapshotEntry] {
    try await withLocations { locations throws(SnapshotError) in
      try await Self.list(locations, preferredPrefixes: preferredPrefixes, readingSidecars: readingSidecars)
    }
  }

  /// Deletes the named snapshots wherever they are (local, and S3 with `--s3`); nothing is
  /// deleted if any name is unknown everywhere or is not a name.
  ///
  /// Returns the names deleted; with `--s3`, each followed by its location in parentheses.
  package func delete(names: [String], waitLock: Duration? = nil) async throws(SnapshotError) -> [String] {
    let lock = try await lockDirectory(for: "snapshot delete", wait: waitLock)
    defer { withExtendedLifetime(lock) {} }
    let several = s3 != nil
    return try await withLocations { locations throws(SnapshotError) in
      try await Self.delete(names: names, from: locations).map { several ? "\($0.name) (\($0.location))" : $0.name }
    }
  }

  /// Keeps the newest `retention` snapshots per node among those named `<prefix>-…`, as k3s's
  /// `etcd-snapshot prune` does, locally; and with `--s3` the newest `s3.retention` per node in
  /// the bucket. Files not named like k3s snapshots are never pruned.
  ///
  /// Names dated more than `RetentionPlan.futureSkew` after `now` are set apart: they do not
  /// count toward the retention and are not deleted (a wrong clock or a planted name must not
  /// push the real newest snapshots out).
  package func prune(_ configuration: PruneConfiguration, now: Int64 = Int64(Date().timeIntervalSince1970)) async throws(SnapshotError)
    -> PruneResult
  {
    let problems = configuration.problems()
    guard problems.isEmpty else { throw SnapshotError.invalid(problems) }
    let lock = try await lockDirectory(for: "snapshot prune", wait: configuration.waitLock)
    defer { withExtendedLifetime(lock) {} }
    // The S3 location is opened only when the local prune has succeeded, as before the seam.
    let rule = RetentionRule(prefix: configuration.namePrefix, node: configuration.node, dryRun: configuration.dryRun, now: now)
    let local = try await Self.prune(self.local, keep: configuration.retention, rule)
    var result = PruneResult(plan: local.plan, deleted: local.deleted, dryRun: configuration.dryRun)
    guard let s3 = configuration.s3 else { return result }
    let remote = try await Self.withS3Store(s3, logger: logger) { store throws(SnapshotError) in
      try await Self.prune(store, keep: s3.retention, rule)
    }
    result.s3Plan = remote.plan
    result.s3Deleted = remote.deleted
    return result
  }

  /// The local directory's lock (nil when the directory does not exist: nothing to protect),
  /// with the debris of killed runs removed once it is held.
  private func lockDirectory(for purpose: String, wait: Duration?) async throws(SnapshotError) -> DirectoryLock? {
    try local.checkOwnership()
    let lock = try await DirectoryLock.acquire(directory: storage.snapshotDirectory, purpose: purpose, wait: wait, optional: true)
    if lock != nil {
      for path in local.removeDebris(parts: true) { logger.notice("removed \(path), left by a run that was killed") }
    }
    return lock
  }
}

// MARK: - Over any locations

/// How `prune` chooses in one location.
package struct RetentionRule: Sendable {
  /// Only names `<prefix>-<node>-<time>` are counted and pruned.
  package var prefix: String
  /// Only this node's snapshots, or every node's (nil).
  package var node: String?
  /// Plan only, delete nothing.
  package var dryRun: Bool
  /// Now, Unix seconds: names dated after it by more than `RetentionPlan.futureSkew` are set apart.
  package var now: Int64

  /// A rule.
  package init(prefix: String, node: String? = nil, dryRun: Bool = false, now: Int64) {
    self.prefix = prefix
    self.node = node
    self.dryRun = dryRun
    self.now = now
  }
}

/// One snapshot deleted, and where it was.
package struct DeletedSnapshot: Sendable, Equatable {
  /// Its name.
  package var name: String
  /// The address of its location.
  package var location: String

  /// A deleted snapshot.
  package init(name: String, location: String) {
    self.name = name
    self.location = location
  }
}

extension Catalog {
  /// Every snapshot of `locations`, newest first.
  package static func list(
    _ locations: [any SnapshotLocation], preferredPrefixes: [String] = [], readingSidecars: Bool = true
  ) async throws(SnapshotError) -> [SnapshotEntry] {
    var entries: [SnapshotEntry] = []
    for location in locations {
      entries += try await location.list(preferredPrefixes: preferredPrefixes, readingSidecars: readingSidecars)
    }
    return entries.sorted(by: SnapshotEntry.newestFirst)
  }

  /// Deletes the named snapshots from every one of `locations` that has them, in order.
  ///
  /// All or nothing as far as can be known beforehand: a name that is not a name, or that no
  /// location has, or a location that refuses removals, deletes nothing and every such problem
  /// is reported at once. A removal that fails anyway says what was deleted before it.
  package static func delete(names: [String], from locations: [any SnapshotLocation]) async throws(SnapshotError) -> [DeletedSnapshot] {
    guard !names.isEmpty else {
      throw SnapshotError(.invalidConfiguration, "give the names of the snapshots to delete (see `etcd-snapshot ls`)")
    }
    var present: [Set<String>] = []
    for location in locations { present.append(try await location.names()) }
    var problems: [String] = []
    for name in names {
      if let p = LocalSnapshotStore.nameProblem(name) {
        problems.append(p)
      } else if !present.contains(where: { $0.contains(name) }) {
        let places = locations.map(\.address).joined(separator: " or ")
        // The last location's command lists them all (`ls --s3` shows the directory too).
        let hint = locations.last?.listCommand ?? "etcd-snapshot ls"
        problems.append("no snapshot named \(quoted(name)) in \(places): see `\(hint)`")
      }
    }
    var unique: [String] = []
    for name in names where !unique.contains(name) { unique.append(name) }
    for (i, location) in locations.enumerated() where unique.contains(where: { present[i].contains($0) }) {
      if let p = location.removalProblem() { problems.append(p) }
    }
    guard problems.isEmpty else { throw SnapshotError.nothingDeleted(problems) }
    var deleted: [DeletedSnapshot] = []
    do throws(SnapshotError) {
      for (i, location) in locations.enumerated() {
        let here = unique.filter { present[i].contains($0) }
        for name in here {
          try await location.remove(name: name)
          deleted.append(DeletedSnapshot(name: name, location: location.address))
        }
        if !here.isEmpty { try location.finishRemoving() }
      }
    } catch {
      throw error.after(deleted, doing: "deleted", again: "run the same delete again for the rest")
    }
    return deleted
  }

  /// Applies retention to one location: keeps the newest `keep` snapshots of each node named
  /// `<rule.prefix>-…` (0 keeps them all, as k3s), and deletes the rest unless `rule.dryRun`.
  package static func prune(
    _ location: any SnapshotLocation, keep: Int, _ rule: RetentionRule
  ) async throws(SnapshotError) -> (plan: RetentionPlan, deleted: [String]) {
    var entries = try await location.list(preferredPrefixes: [rule.prefix], readingSidecars: false)
    // A name such as on-demand-nightly-n1-TS splits two ways (prefix on-demand, node
    // nightly-n1; or prefix on-demand-nightly, node n1): its record says which. Only such
    // ambiguous names cost a record read; without a record the split is k3s's.
    let ambiguous = entries.filter { entry in
      entry.metadata == nil && entry.name?.prefix == rule.prefix && (entry.name?.node.contains("-") ?? false)
    }.map(\.fileName)
    if !ambiguous.isEmpty {
      let records = try await location.records(of: ambiguous)
      for i in entries.indices {
        if let record = records[entries[i].fileName] { entries[i].name = record.snapshotName }
      }
    }
    let plan = Self.plan(entries, prefix: rule.prefix, node: rule.node, keep: keep, now: rule.now)
    guard !rule.dryRun, !plan.delete.isEmpty else { return (plan, []) }
    var deleted: [String] = []
    do throws(SnapshotError) {
      for item in plan.delete {
        try await location.remove(name: item.name)
        deleted.append(item.name)
      }
      try location.finishRemoving()
    } catch {
      let done = deleted.map { DeletedSnapshot(name: $0, location: location.address) }
      throw error.after(done, doing: "pruned", again: "run the same prune again for the rest")
    }
    return (plan, deleted)
  }

  static func plan(_ entries: [SnapshotEntry], prefix: String, node: String?, keep: Int, now: Int64) -> RetentionPlan {
    let items = entries.compactMap { entry -> RetentionItem? in
      guard let name = entry.name, name.prefix == prefix, node == nil || name.node == node else { return nil }
      return entry.retentionItem
    }
    return RetentionPlan.make(items, keep: keep, now: now)
  }
}

extension SnapshotError {
  /// This error, saying what had been done before it and how to finish.
  fileprivate func after(_ done: [DeletedSnapshot], doing verb: String, again: String) -> SnapshotError {
    var e = self
    let list = done.isEmpty ? "nothing" : done.map { "\($0.name) (\($0.location))" }.joined(separator: ", ")
    e.message += "\n\(verb) before the failure: \(list); \(again)"
    return e
  }
}

/// What `prune` decided and did.
package struct PruneResult: Sendable {
  /// The local retention plan.
  package var plan: RetentionPlan
  /// Local names actually deleted (empty on a dry run).
  package var deleted: [String]
  /// True when nothing was deleted on purpose.
  package var dryRun: Bool
  /// The S3 retention plan, with `--s3`.
  package var s3Plan: RetentionPlan?
  /// S3 names actually deleted.
  package var s3Deleted: [String] = []
}
