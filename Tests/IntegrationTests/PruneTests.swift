import EtcdTestSupport
import Foundation
import Testing

/// `prune` with k3s semantics, over real snapshot files with k3s-style names.
@Suite("prune")
struct PruneTests {
  @Test("keeps the newest N per node and prefix; other prefixes and foreign files are untouched")
  func prunePerNode() async throws {
    let work = try TemporaryDirectory(prefix: "prune")
    let dir = work.appending("snaps")
    let nodeA = (1...7).map { "on-demand-node-a-\(1_700_000_000 + $0 * 60)" }
    let nodeB = (1...3).map { "on-demand-node-b.example.com-\(1_700_000_000 + $0 * 60)" }
    let scheduled = (1...4).map { "etcd-snapshot-node-a-\(1_700_000_000 + $0 * 60)" }
    try await populateSnapshots(dir, names: nodeA + nodeB + scheduled + ["by-hand.db"])

    let dry = try Tool.run(["prune", "--dir", dir, "--snapshot-retention", "2", "--dry-run"])
    #expect(dry.status == 0, "\(dry)")
    let wouldDelete = dry.stdout.split(separator: "\n").filter { $0.hasPrefix("would delete ") }
      .map { String($0.dropFirst("would delete ".count)) }
    #expect(Set(wouldDelete) == Set(nodeA.prefix(5) + nodeB.prefix(1)))
    #expect(try Tool.list(dir).count == 15, "a dry run deletes nothing")

    let r = try Tool.run(["prune", "--dir", dir, "--snapshot-retention", "2"])
    #expect(r.status == 0, "\(r)")
    let left = Set(try Tool.list(dir).map(\.name))
    #expect(left == Set(nodeA.suffix(2) + nodeB.suffix(2) + scheduled + ["by-hand.db"]))

    // Pruning again with the same retention changes nothing.
    let again = try Tool.run(["prune", "--dir", dir, "--snapshot-retention", "2"])
    #expect(again.status == 0)
    #expect(again.stdout.contains("nothing to prune"))
    #expect(Set(try Tool.list(dir).map(\.name)) == left)

    // The scheduled prefix is pruned only when asked for by --name.
    let sched = try Tool.run(["prune", "--dir", dir, "--name", "etcd-snapshot", "--snapshot-retention", "1"])
    #expect(sched.status == 0, "\(sched)")
    #expect(Set(try Tool.list(dir).map(\.name)) == left.subtracting(scheduled.prefix(3)))
  }

  @Test("prune --node prunes only that node (one that left); ls shows each node's newest snapshot and its age")
  func pruneOneNode() async throws {
    let work = try TemporaryDirectory(prefix: "prune-node")
    let dir = work.appending("snaps")
    let now = Int(Date().timeIntervalSince1970)
    let here = (1...4).map { "on-demand-node-a-\(now - $0 * 3600)" }
    let gone = (1...4).map { "on-demand-gone-\(now - 400 * 86400 - $0 * 3600)" }
    try await populateSnapshots(dir, names: here + gone)

    let ls = try Tool.run(["ls", "--dir", dir])
    #expect(ls.status == 0, "\(ls)")
    let nodes = ls.stderr.split(separator: "\n").filter { $0.hasPrefix("gone ") || $0.hasPrefix("node-a ") }
    #expect(nodes.count == 2 && nodes[0].hasPrefix("gone ") && nodes[0].hasSuffix(" 400d"), "the departed node stands out first: \(ls.stderr)")
    #expect(nodes.last?.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first == "4", "\(ls.stderr)")

    let r = try Tool.run(["prune", "--dir", dir, "--node", "gone", "--snapshot-retention", "1"])
    #expect(r.status == 0, "\(r)")
    #expect(r.stdout.contains("of node `gone`"), "\(r.stdout)")
    #expect(Set(try Tool.list(dir).map(\.name)) == Set(here + [gone[0]]), "node-a untouched, the departed node down to its newest")
  }

  @Test("bad retention values are refused before anything is deleted", arguments: ["-1", "x"])
  func badRetention(value: String) async throws {
    let work = try TemporaryDirectory(prefix: "prune-bad")
    let dir = work.appending("snaps")
    try await populateSnapshots(dir, names: ["on-demand-n-1700000000", "on-demand-n-1700000060"])
    let r = try Tool.run(["prune", "--dir", dir, "--snapshot-retention=\(value)"])
    #expect(r.status == 64, "\(r)")
    #expect(r.stderr.contains("snapshot-retention"))
    #expect(try Tool.list(dir).count == 2)
  }
}
