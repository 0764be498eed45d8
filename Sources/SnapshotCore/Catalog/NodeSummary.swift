/// Per node: how many snapshots there are and how old the newest is, so that a node that left
/// (or was renamed) stands out in `ls`: its newest snapshot keeps getting older.
package struct NodeSummary: Equatable, Sendable {
  /// The node name (`-` for snapshots whose name says none).
  package var node: String
  /// Snapshots of that node, in every location listed.
  package var count: Int
  /// Creation time of its newest snapshot, Unix seconds.
  package var newest: Int64

  /// Makes a summary row.
  package init(node: String, count: Int, newest: Int64) {
    self.node = node
    self.count = count
    self.newest = newest
  }

  /// One row per node, the node with the oldest newest snapshot first (the likeliest to have left).
  package static func make(_ entries: [SnapshotEntry]) -> [NodeSummary] {
    var rows: [String: NodeSummary] = [:]
    for e in entries {
      let node = e.name?.node ?? "-"
      var row = rows[node] ?? NodeSummary(node: node, count: 0, newest: e.timestamp)
      row.count += 1
      row.newest = max(row.newest, e.timestamp)
      rows[node] = row
    }
    return rows.values.sorted { $0.newest != $1.newest ? $0.newest < $1.newest : $0.node < $1.node }
  }

  /// An age in the largest whole unit that fits: `45s`, `12m`, `5h`, `3d`; `in the future` below zero.
  package static func age(seconds: Int64) -> String {
    if seconds < 0 { return "in the future" }
    if seconds < 60 { return "\(seconds)s" }
    if seconds < 3600 { return "\(seconds / 60)m" }
    if seconds < 86400 { return "\(seconds / 3600)h" }
    return "\(seconds / 86400)d"
  }
}
