import EtcdSnapshot
import EtcdTestSupport
import PropertyBased
import SnapshotCore
import SnapshotStorage
import Testing

private let now: Int64 = 1_700_000_000

private func named(_ prefix: String, _ node: String, _ age: Int64) -> InMemorySnapshotLocation.Stored {
  .init(name: SnapshotName(prefix: prefix, node: node, timestamp: now - age).fileName)
}

private func rule(prefix: String = "on-demand", node: String? = nil, dryRun: Bool = false) -> RetentionRule {
  RetentionRule(prefix: prefix, node: node, dryRun: dryRun, now: now)
}

/// A mixed folder: three snapshots of n1, two of n2, two scheduled ones of n1, and files
/// that are not k3s snapshots.
private let mixed: [InMemorySnapshotLocation.Stored] = [
  named("on-demand", "n1", 30), named("on-demand", "n1", 20), named("on-demand", "n1", 10),
  named("on-demand", "n2", 20), named("on-demand", "n2", 10),
  named("etcd-snapshot", "n1", 30), named("etcd-snapshot", "n1", 10),
  .init(name: "backup.db"), .init(name: "on-demand-n1-latest"),
]

@Suite("Catalog.prune: retention per node, over any location")
struct CatalogPruneTests {
  @Test("keeps the newest N of each node with the prefix; other prefixes and other files stay", arguments: LocationKind.allCases)
  func perNode(kind: LocationKind) async throws {
    let location = try TestLocation(kind, mixed)
    let result = try await Catalog.prune(location.location, keep: 1, rule())
    let gone = [named("on-demand", "n1", 30).name, named("on-demand", "n1", 20).name, named("on-demand", "n2", 20).name]
    #expect(result.deleted == gone)
    #expect(result.plan.delete.map(\.name) == gone)
    #expect(result.plan.keep.map(\.name).sorted() == [named("on-demand", "n1", 10).name, named("on-demand", "n2", 10).name].sorted())
    #expect(try await location.names() == mixed.map(\.name).filter { !gone.contains($0) }.sorted())
  }

  @Test("a dry run plans the same and deletes nothing", arguments: LocationKind.allCases)
  func dryRun(kind: LocationKind) async throws {
    let location = try TestLocation(kind, mixed)
    let planned = try await Catalog.prune(location.location, keep: 1, rule(dryRun: true))
    #expect(planned.deleted.isEmpty)
    #expect(try await location.names() == mixed.map(\.name).sorted())
    let done = try await Catalog.prune(location.location, keep: 1, rule())
    #expect(done.plan == planned.plan)
  }

  @Test("retention 0 keeps everything, as in k3s", arguments: LocationKind.allCases)
  func retentionZero(kind: LocationKind) async throws {
    let location = try TestLocation(kind, mixed)
    let result = try await Catalog.prune(location.location, keep: 0, rule())
    #expect(result.deleted.isEmpty && result.plan.delete.isEmpty)
    #expect(result.plan.keep.count == 5)
    #expect(try await location.names() == mixed.map(\.name).sorted())
  }

  @Test("with a node, only that node's snapshots are counted and pruned", arguments: LocationKind.allCases)
  func oneNode(kind: LocationKind) async throws {
    let location = try TestLocation(kind, mixed)
    let result = try await Catalog.prune(location.location, keep: 1, rule(node: "n2"))
    #expect(result.deleted == [named("on-demand", "n2", 20).name])
    #expect(try await location.names().count == mixed.count - 1)
  }

  @Test("names dated in the future are set apart: they neither count nor get deleted", arguments: LocationKind.allCases)
  func future(kind: LocationKind) async throws {
    let planted = named("on-demand", "n1", -(RetentionPlan.futureSkew + 60))
    let nearFuture = named("on-demand", "n1", -(RetentionPlan.futureSkew - 60))
    let location = try TestLocation(kind, mixed + [planted, nearFuture])
    let result = try await Catalog.prune(location.location, keep: 2, rule(node: "n1"))
    #expect(result.plan.future.map(\.name) == [planted.name])
    // The near-future name counts (clocks differ a little): with it, two of n1 are kept.
    #expect(result.plan.keep.map(\.name) == [named("on-demand", "n1", 10).name, nearFuture.name])
    #expect(result.deleted == [named("on-demand", "n1", 30).name, named("on-demand", "n1", 20).name])
    #expect(try await location.names().contains(planted.name))
  }

  @Test("an ambiguous name is split by its record; only such names cost a record read")
  func ambiguousNames() async throws {
    // on-demand-nightly-n1-T reads as node `nightly-n1` of on-demand, unless its record says
    // prefix on-demand-nightly, node n1 (as a save with --name on-demand-nightly wrote it).
    var nightly = named("on-demand-nightly", "n1", 5)
    nightly.record = record(prefix: "on-demand-nightly", node: "n1", timestamp: now - 5)
    var withRecord = named("on-demand", "n1", 10)
    withRecord.record = record(prefix: "on-demand", node: "n1", timestamp: now - 10)
    let unrecorded = named("on-demand", "x-y", 15)
    let location = InMemorySnapshotLocation(snapshots: [nightly, withRecord, named("on-demand", "n1", 20), unrecorded])
    let result = try await Catalog.prune(location, keep: 1, rule())
    #expect(location.recordReads == 2, "only the names whose node has a dash: \(location.recordReads)")
    #expect(!result.plan.keep.contains { $0.name == nightly.name } && !result.plan.delete.contains { $0.name == nightly.name })
    #expect(result.deleted == [named("on-demand", "n1", 20).name])
    // Without a record the split is k3s's: node x-y of on-demand, kept as the newest of its node.
    #expect(result.plan.keep.map(\.name).contains(unrecorded.name))
    #expect(location.stored.contains(nightly.name))
  }

  @Test("a removal that fails says what was pruned before it; the rest stays")
  func failureMidway() async throws {
    let location = InMemorySnapshotLocation(address: "s3://bucket/", snapshots: mixed)
    location.failRemoval(of: [named("on-demand", "n1", 20).name])
    let error = try await #require(throws: SnapshotError.self) { try await Catalog.prune(location, keep: 1, rule()) }
    #expect(error.message.contains("pruned before the failure: \(named("on-demand", "n1", 30).name) (s3://bucket/)"), "\(error.message)")
    #expect(error.message.contains("run the same prune again for the rest"))
    #expect(location.stored.contains(named("on-demand", "n2", 20).name))
    #expect(location.removals == [named("on-demand", "n1", 30).name])
  }

  @Test("a location that cannot be listed prunes nothing")
  func unavailable() async throws {
    let location = InMemorySnapshotLocation(snapshots: mixed)
    location.makeUnavailable("connection refused")
    await #expect(throws: SnapshotError.self) { try await Catalog.prune(location, keep: 1, rule()) }
    #expect(location.stored == mixed.map(\.name).sorted())
  }
}

// MARK: - Laws

private let prefixes = ["on-demand", "etcd-snapshot"]
private let nodes = ["n1", "n2", "n3"]

/// Snapshots of a few prefixes and nodes at ages that collide, some in the future, and
/// files that are not k3s snapshots.
private let foldersGen = zip(Gen.int(in: 0...1), Gen.int(in: 0...2), Gen.int64(in: -1_000...40)).array(of: 0...30).map { rows in
  var seen: Set<String> = []
  var out: [InMemorySnapshotLocation.Stored] = [.init(name: "backup.db")]
  for (p, n, age) in rows {
    let s = named(prefixes[p], nodes[n], age)
    if seen.insert(s.name).inserted { out.append(s) }
  }
  return out
}

@Suite("Catalog.prune: laws")
struct CatalogPruneLawTests {
  @Test("what is deleted is what the plan says; every counted group keeps its newest min(count, N); the rest is untouched")
  func conservation() async throws {
    await propertyCheck(count: 300, input: foldersGen, Gen.int(in: 0...4), Gen.int(in: 0...3)) { folder, keep, nodeIndex in
      let location = InMemorySnapshotLocation(snapshots: folder)
      let node = nodeIndex < nodes.count ? nodes[nodeIndex] : nil
      let result = try await Catalog.prune(location, keep: keep, rule(node: node))
      let before = Set(folder.map(\.name))
      let after = Set(location.stored)
      #expect(before.subtracting(after) == Set(result.deleted))
      #expect(result.deleted == result.plan.delete.map(\.name))
      let counted = folder.compactMap { SnapshotName.parse($0.name, preferredPrefixes: ["on-demand"]) }.filter {
        $0.prefix == "on-demand" && (node == nil || $0.node == node) && $0.timestamp <= now + RetentionPlan.futureSkew
      }
      for (group, members) in Dictionary(grouping: counted, by: \.group) {
        let newest = members.sorted { $0.timestamp > $1.timestamp }.prefix(keep < 1 ? members.count : keep).map(\.fileName)
        let left = after.filter { SnapshotName.parse($0, preferredPrefixes: ["on-demand"])?.group == group }
        #expect(Set(newest).isSubset(of: left), "group \(group): \(newest) kept of \(members.map(\.fileName))")
        let future = left.filter { (SnapshotName.parse($0)?.timestamp ?? 0) > now + RetentionPlan.futureSkew }
        #expect(left.count == newest.count + future.count, "group \(group): exactly the newest and the future ones are left")
      }
      for name in before where !counted.contains(where: { $0.fileName == name }) {
        #expect(after.contains(name), "\(name) is not counted and must stay")
      }
      let again = try await Catalog.prune(location, keep: keep, rule(node: node))
      #expect(again.deleted.isEmpty, "a second prune deletes nothing")
    }
  }

  @Test("a real directory and memory decide the same")
  func directoryMatchesMemory() async throws {
    await propertyCheck(count: 40, input: foldersGen, Gen.int(in: 0...3)) { folder, keep in
      let memory = InMemorySnapshotLocation(snapshots: folder)
      let directory = try TestLocation(.directory, folder)
      let a = try await Catalog.prune(memory, keep: keep, rule())
      let b = try await Catalog.prune(directory.location, keep: keep, rule())
      #expect(a.plan == b.plan)
      #expect(a.deleted == b.deleted)
      #expect(memory.stored == (try await directory.names()))
      let listedMemory = try await Catalog.list([memory]).map(\.fileName)
      let listedDirectory = try await Catalog.list([directory.location]).map(\.fileName)
      #expect(listedMemory == listedDirectory)
    }
  }
}
