import EtcdTestSupport
import PropertyBased
import SnapshotCore
import Testing

private let groupNames = ["on-demand-a", "on-demand-b", "etcd-snapshot-a", "on-demand-a.example"]

/// Items with unique names, few groups and a narrow time range so that ties are common.
private let uniqueItemsGen = zip(Gen.int(in: 0...3), Gen.int64(in: 0...12)).array(of: 0...40).map { pairs in
  pairs.enumerated().map { index, pair in
    RetentionItem(name: "\(groupNames[pair.0])-\(pair.1)-\(index)", group: groupNames[pair.0], timestamp: pair.1)
  }
}

/// Items drawn with replacement from a small pool, so exact duplicates occur.
private let duplicatedItemsGen = zip(Gen.int(in: 0...1), Gen.int64(in: 0...3)).array(of: 0...25).map { pairs in
  pairs.map { RetentionItem(name: "\(groupNames[$0.0])-\($0.1)", group: groupNames[$0.0], timestamp: $0.1) }
}

private let keepGen = Gen.int(in: -3...8)

/// Sorted for comparing as multisets.
private func canonical(_ items: [RetentionItem]) -> [RetentionItem] {
  items.sorted { ($0.group, $0.name, $0.timestamp) < ($1.group, $1.name, $1.timestamp) }
}

/// `a` is newer than `b`: later, or as old with a greater name.
private func isNewer(_ a: RetentionItem, than b: RetentionItem) -> Bool {
  a.timestamp > b.timestamp || (a.timestamp == b.timestamp && a.name > b.name)
}

private func isOldestFirst(_ items: [RetentionItem]) -> Bool {
  zip(items, items.dropFirst()).allSatisfy { a, b in !isNewer(a, than: b) }
}

@Suite("RetentionPlan: keep the newest N per group")
struct RetentionPlanTests {
  @Test("seven snapshots of one node with keep 5: the two oldest go")
  func k3sDefault() {
    let items = (1...7).map { RetentionItem(name: "on-demand-n-\($0)", group: "on-demand-n", timestamp: Int64($0)) }
    let plan = RetentionPlan.make(items.reversed(), keep: 5)
    #expect(plan.delete.map(\.name) == ["on-demand-n-1", "on-demand-n-2"])
    #expect(plan.keep.map(\.name) == ["on-demand-n-3", "on-demand-n-4", "on-demand-n-5", "on-demand-n-6", "on-demand-n-7"])
  }

  @Test("groups are counted separately")
  func perGroup() {
    let items = [
      RetentionItem(name: "a1", group: "a", timestamp: 1), RetentionItem(name: "a2", group: "a", timestamp: 2),
      RetentionItem(name: "b1", group: "b", timestamp: 10), RetentionItem(name: "b2", group: "b", timestamp: 20),
      RetentionItem(name: "b3", group: "b", timestamp: 30),
    ]
    let plan = RetentionPlan.make(items, keep: 1)
    #expect(Set(plan.keep.map(\.name)) == ["a2", "b3"])
    #expect(plan.delete.map(\.name) == ["a1", "b1", "b2"])
  }

  @Test("equal times: the greater name counts as newer")
  func tieByName() {
    let items = ["x-b", "x-a", "x-c"].map { RetentionItem(name: $0, group: "x", timestamp: 5) }
    let plan = RetentionPlan.make(items, keep: 2)
    #expect(plan.keep.map(\.name) == ["x-b", "x-c"])
    #expect(plan.delete.map(\.name) == ["x-a"])
  }

  @Test("nothing in, nothing planned", arguments: [-1, 0, 1, 5])
  func empty(keep: Int) {
    let plan = RetentionPlan.make([], keep: keep)
    #expect(plan.keep.isEmpty && plan.delete.isEmpty)
  }

  @Test("keep ∪ delete is the input as a multiset")
  func partition() async {
    await propertyCheck(count: 500, input: uniqueItemsGen, keepGen) { items, keep in
      let plan = RetentionPlan.make(items, keep: keep)
      #expect(canonical(plan.keep + plan.delete) == canonical(items))
    }
    await propertyCheck(count: 500, input: duplicatedItemsGen, keepGen) { items, keep in
      let plan = RetentionPlan.make(items, keep: keep)
      #expect(canonical(plan.keep + plan.delete) == canonical(items))
    }
  }

  @Test("keep and delete are disjoint")
  func disjoint() async {
    await propertyCheck(count: 500, input: uniqueItemsGen, keepGen) { items, keep in
      let plan = RetentionPlan.make(items, keep: keep)
      #expect(Set(plan.keep).isDisjoint(with: Set(plan.delete)))
    }
  }

  @Test("an item is kept exactly when fewer than N items of its group are newer")
  func keepsExactlyTheNewest() async {
    await propertyCheck(count: 500, input: uniqueItemsGen, keepGen) { items, keep in
      let n = keep < 1 ? Int.max : keep
      let plan = RetentionPlan.make(items, keep: keep)
      let kept = Set(plan.keep)
      for item in items {
        let newer = items.filter { $0.group == item.group && isNewer($0, than: item) }.count
        #expect(kept.contains(item) == (newer < n), "\(item.name): \(newer) newer, keep \(keep)")
      }
      for group in Set(items.map(\.group)) {
        let size = items.filter { $0.group == group }.count
        #expect(plan.keep.filter { $0.group == group }.count == min(n, size))
      }
    }
  }

  @Test("the newest of every group is never deleted, whatever keep is")
  func neverDeletesNewest() async {
    await propertyCheck(count: 500, input: uniqueItemsGen, Gen.int(in: -100...3)) { items, keep in
      let plan = RetentionPlan.make(items, keep: keep)
      for group in Set(items.map(\.group)) {
        let members = items.filter { $0.group == group }
        let newest = members.first { m in !members.contains { isNewer($0, than: m) } }!
        #expect(plan.keep.contains(newest))
        #expect(!plan.delete.contains(newest))
      }
    }
  }

  @Test("planning again over what was kept deletes nothing")
  func idempotent() async {
    await propertyCheck(count: 500, input: uniqueItemsGen, keepGen) { items, keep in
      let first = RetentionPlan.make(items, keep: keep)
      let second = RetentionPlan.make(first.keep, keep: keep)
      #expect(second.delete.isEmpty)
      #expect(second.keep == first.keep)
    }
  }

  @Test("keep 0 or below keeps everything (k3s: retention 0 never prunes)")
  func keepZeroKeepsAll() async {
    await propertyCheck(count: 300, input: uniqueItemsGen, Gen.int(in: Int.min...0)) { items, keep in
      let plan = RetentionPlan.make(items, keep: keep)
      #expect(plan.delete.isEmpty)
      #expect(Set(plan.keep) == Set(items))
    }
  }

  @Test("the plan does not depend on input order")
  func orderIndependent() async {
    await propertyCheck(count: 500, input: uniqueItemsGen, keepGen, Gen.uint64()) { items, keep, seed in
      var rng = SplitMix64(state: seed)
      let shuffled = items.shuffled(using: &rng)
      #expect(RetentionPlan.make(shuffled, keep: keep) == RetentionPlan.make(items, keep: keep))
    }
    await propertyCheck(count: 300, input: duplicatedItemsGen, keepGen, Gen.uint64()) { items, keep, seed in
      var rng = SplitMix64(state: seed)
      let shuffled = items.shuffled(using: &rng)
      #expect(RetentionPlan.make(shuffled, keep: keep) == RetentionPlan.make(items, keep: keep))
    }
  }

  @Test("both lists are oldest first")
  func sortedOldestFirst() async {
    await propertyCheck(count: 300, input: uniqueItemsGen, keepGen) { items, keep in
      let plan = RetentionPlan.make(items, keep: keep)
      #expect(isOldestFirst(plan.keep))
      #expect(isOldestFirst(plan.delete))
    }
  }

  @Test("a keep at least as large as every group deletes nothing")
  func largeKeep() async {
    await propertyCheck(count: 200, input: uniqueItemsGen, Gen.int(in: 40...Int.max)) { items, keep in
      let plan = RetentionPlan.make(items, keep: keep)
      #expect(plan.delete.isEmpty)
      #expect(plan.keep.count == items.count)
    }
  }
}

@Suite("RetentionPlan with names in the future")
struct RetentionPlanFutureTests {
  @Test("a name far in the future neither counts nor is deleted: the real newest stay")
  func futureNamesSetApart() {
    let now: Int64 = 1_800_000_000
    let real = (1...5).map { RetentionItem(name: "on-demand-n-\(now - Int64($0) * 3600)", group: "on-demand-n", timestamp: now - Int64($0) * 3600) }
    let planted = (1...5).map { RetentionItem(name: "on-demand-n-\(9_000_000_000 + $0)", group: "on-demand-n", timestamp: 9_000_000_000 + Int64($0)) }
    let plan = RetentionPlan.make(real + planted, keep: 3, now: now)
    #expect(Set(plan.future) == Set(planted))
    #expect(Set(plan.keep) == Set(real.prefix(3)), "the three newest real snapshots are kept")
    #expect(Set(plan.delete) == Set(real.suffix(2)))
    // Without a clock (as before), the planted names would have pushed every real one out.
    #expect(Set(RetentionPlan.make(real + planted, keep: 3).delete).isSuperset(of: Set(real)))
  }

  @Test("a small skew still counts: a node whose clock is a few minutes ahead")
  func smallSkewCounts() {
    let now: Int64 = 1_800_000_000
    let ahead = RetentionItem(name: "a", group: "g", timestamp: now + RetentionPlan.futureSkew)
    let old = RetentionItem(name: "b", group: "g", timestamp: now - 10)
    let plan = RetentionPlan.make([ahead, old], keep: 1, now: now)
    #expect(plan.future.isEmpty && plan.keep == [ahead] && plan.delete == [old])
  }

  @Test("keep, delete and future partition the input; the future part is never deleted")
  func partitionWithFuture() async {
    await propertyCheck(count: 300, input: Gen.int64(in: 0...200), Gen.int(in: 1...4), Gen.int64(in: 0...100)) { n, keep, now in
      let items = (0..<n).map { RetentionItem(name: "s\($0)", group: "g\($0 % 3)", timestamp: ($0 * 7919) % 1000) }
      let plan = RetentionPlan.make(items, keep: keep, now: now)
      #expect(Set(plan.keep + plan.delete + plan.future) == Set(items))
      #expect(plan.future.allSatisfy { $0.timestamp > now + RetentionPlan.futureSkew })
      #expect(Set(plan.delete).isDisjoint(with: Set(plan.future)))
    }
  }
}
