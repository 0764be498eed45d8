import Foundation
import Logging
import SnapshotCore
import SnapshotStorage

/// `ls`, `delete` and `prune` over the snapshot locations (the local directory today).
package struct Catalog: Sendable {
  /// Where the snapshots are.
  package var storage: SnapshotDirectoryConfiguration

  /// A catalog over the configured directory.
  package init(storage: SnapshotDirectoryConfiguration) {
    self.storage = storage
  }

  var local: LocalSnapshotStore {
    LocalSnapshotStore(directory: storage.snapshotDirectory, inspect: FileInspection.inspect)
  }

  /// Every snapshot, newest first.
  package func list(preferredPrefixes: [String] = []) throws(SnapshotError) -> [SnapshotEntry] {
    try local.list(preferredPrefixes: preferredPrefixes)
  }

  /// Deletes the named snapshots; nothing is deleted if any name is unknown or not a name.
  package func delete(names: [String]) throws(SnapshotError) -> [String] {
    guard !names.isEmpty else {
      throw SnapshotError(.invalidConfiguration, "give the names of the snapshots to delete (see `etcd-snapshot ls`)")
    }
    return try local.delete(names: names)
  }

  /// Keeps the newest `retention` snapshots per node among those named `<prefix>-…`, as k3s's
  /// `etcd-snapshot prune` does; files not named like k3s snapshots are never pruned.
  package func prune(_ configuration: PruneConfiguration) throws(SnapshotError) -> PruneResult {
    let problems = configuration.problems()
    guard problems.isEmpty else { throw SnapshotError.invalid(problems) }
    let entries = try local.list(preferredPrefixes: [configuration.namePrefix])
    let items = entries.compactMap { entry -> RetentionItem? in
      guard let name = entry.name, name.prefix == configuration.namePrefix else { return nil }
      return entry.retentionItem
    }
    let plan = RetentionPlan.make(items, keep: configuration.retention)
    let names = plan.delete.map(\.name)
    if configuration.dryRun || names.isEmpty {
      return PruneResult(plan: plan, deleted: [], dryRun: configuration.dryRun)
    }
    let deleted = try local.delete(names: names)
    return PruneResult(plan: plan, deleted: deleted, dryRun: false)
  }
}

/// What `prune` decided and did.
package struct PruneResult: Sendable {
  /// The retention plan.
  package var plan: RetentionPlan
  /// Names actually deleted (empty on a dry run).
  package var deleted: [String]
  /// True when nothing was deleted on purpose.
  package var dryRun: Bool
}
