/// One snapshot as retention sees it.
package struct RetentionItem: Hashable, Sendable {
  /// Unique name of the snapshot in its location.
  package var name: String
  /// Snapshots are counted per group (`<prefix>-<node>`), as k3s does.
  package var group: String
  /// Creation time, Unix seconds; newer ones are kept.
  package var timestamp: Int64

  /// Makes an item.
  package init(name: String, group: String, timestamp: Int64) {
    self.name = name
    self.group = group
    self.timestamp = timestamp
  }
}

/// What a prune will do: the snapshots kept and the ones deleted, oldest first in each list.
package struct RetentionPlan: Equatable, Sendable {
  /// Kept snapshots.
  package var keep: [RetentionItem]
  /// Snapshots to delete.
  package var delete: [RetentionItem]

  /// A plan with the given lists.
  package init(keep: [RetentionItem], delete: [RetentionItem]) {
    self.keep = keep
    self.delete = delete
  }

  /// Keeps the newest `keep` snapshots of every group and marks the rest for deletion.
  ///
  /// Ties in time are broken by name so that the plan does not depend on input order.
  /// `keep` below 1 is treated as 1: pruning never deletes a group's newest snapshot.
  package static func make(_ items: [RetentionItem], keep: Int) -> RetentionPlan {
    let keepCount = max(1, keep)
    var kept: [RetentionItem] = []
    var deleted: [RetentionItem] = []
    let groups = Dictionary(grouping: items, by: \.group)
    for group in groups.keys.sorted() {
      let newestFirst = (groups[group] ?? []).sorted(by: newer)
      kept += newestFirst.prefix(keepCount)
      deleted += newestFirst.dropFirst(keepCount)
    }
    return RetentionPlan(keep: kept.sorted(by: older), delete: deleted.sorted(by: older))
  }

  private static func newer(_ a: RetentionItem, _ b: RetentionItem) -> Bool {
    a.timestamp != b.timestamp ? a.timestamp > b.timestamp : a.name > b.name
  }

  private static func older(_ a: RetentionItem, _ b: RetentionItem) -> Bool {
    a.timestamp != b.timestamp ? a.timestamp < b.timestamp : a.name < b.name
  }
}
