import SnapshotCore
import Testing

@Suite("NodeSummary")
struct NodeSummaryTests {
  func entry(_ name: String) -> SnapshotEntry {
    let parsed = SnapshotName.parse(name)
    return SnapshotEntry(
      fileName: name, name: parsed, metadata: nil, location: .local(path: "/s/" + name), size: 1, timestamp: parsed?.timestamp ?? 7,
      revision: nil)
  }

  @Test("one row per node, counted over all locations, the node whose newest is oldest first")
  func rows() {
    let entries = ["on-demand-a-100", "on-demand-a-300", "etcd-snapshot-a-200", "on-demand-gone-50", "on-demand-b-250", "by-hand.db"]
      .map(entry)
    #expect(
      NodeSummary.make(entries) == [
        NodeSummary(node: "-", count: 1, newest: 7), NodeSummary(node: "gone", count: 1, newest: 50),
        NodeSummary(node: "b", count: 1, newest: 250), NodeSummary(node: "a", count: 3, newest: 300),
      ])
    #expect(NodeSummary.make([]).isEmpty)
  }

  @Test(
    "ages in the largest whole unit",
    arguments: [
      (-5, "in the future"), (0, "0s"), (59, "59s"), (60, "1m"), (3599, "59m"), (3600, "1h"), (86399, "23h"), (86400, "1d"), (400 * 86400, "400d"),
    ])
  func ages(_ seconds: Int64, _ text: String) {
    #expect(NodeSummary.age(seconds: seconds) == text)
  }
}
