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
  /// Snapshots named more than `futureSkew` after now: kept, and never counted, so that a
  /// wrong clock or a planted name cannot push the real newest snapshots out.
  package var future: [RetentionItem] = []

  /// How far in the future a name may be (clocks of nodes differ a little) and still count.
  package static let futureSkew: Int64 = 600

  /// A plan with the given lists.
  package init(keep: [RetentionItem], delete: [RetentionItem], future: [RetentionItem] = []) {
    self.keep = keep
    self.delete = delete
    self.future = future
  }

  /// Keeps the newest `keep` snapshots of every group and marks the rest for deletion.
  ///
  /// Ties in time are broken by name so that the plan does not depend on input order.
  /// `keep` 0 (or less) keeps everything, as k3s's retention 0: pruning is off.
  /// With `now` (Unix seconds), names more than `futureSkew` ahead of it are set apart in
  /// `future`: neither kept by count nor deleted.
  package static func make(_ items: [RetentionItem], keep: Int, now: Int64? = nil) -> RetentionPlan {
    let keepCount = keep < 1 ? Int.max : keep
    var kept: [RetentionItem] = []
    var deleted: [RetentionItem] = []
    var future: [RetentionItem] = []
    var counted = items
    if let now {
      let (limit, overflow) = now.addingReportingOverflow(futureSkew)
      if !overflow {
        future = items.filter { $0.timestamp > limit }
        counted = items.filter { $0.timestamp <= limit }
      }
    }
    let groups = Dictionary(grouping: counted, by: \.group)
    for group in groups.keys.sorted() {
      let newestFirst = (groups[group] ?? []).sorted(by: newer)
      kept += newestFirst.prefix(keepCount)
      deleted += newestFirst.dropFirst(keepCount)
    }
    return RetentionPlan(keep: kept.sorted(by: older), delete: deleted.sorted(by: older), future: future.sorted(by: older))
  }

  private static func newer(_ a: RetentionItem, _ b: RetentionItem) -> Bool {
    a.timestamp != b.timestamp ? a.timestamp > b.timestamp : a.name > b.name
  }

  private static func older(_ a: RetentionItem, _ b: RetentionItem) -> Bool {
    a.timestamp != b.timestamp ? a.timestamp < b.timestamp : a.name < b.name
  }
}
