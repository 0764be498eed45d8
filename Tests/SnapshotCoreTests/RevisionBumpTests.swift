import PropertyBased
import SnapshotCore
import Testing

@Suite("RevisionBump.auto: a safe --bump-revision")
struct RevisionBumpTests {
  @Test("never below etcd's recommended 10^9; covers the assumed write rate since the snapshot")
  func coversTheGap() async {
    await propertyCheck(input: Gen.int64(in: 0...5_000_000_000), Gen.int64(in: 0...(20 * 365 * 86_400))) { revision, age in
      let now: Int64 = 1_800_000_000
      let (bump, _) = RevisionBump.auto(snapshotRevision: revision, snapshotTime: now - age, now: now)
      #expect(bump >= RevisionBump.recommended)
      #expect(bump >= UInt64(age) * RevisionBump.assumedWriteRate)
      #expect(UInt64(revision) + bump <= RevisionBump.maximum, "the revision stays far from Int64's end")
    }
  }

  @Test("older snapshots never get a smaller bump")
  func monotoneInAge() async {
    await propertyCheck(input: Gen.int64(in: 0...(10 * 365 * 86_400)), Gen.int64(in: 0...(10 * 365 * 86_400))) { a, b in
      let now: Int64 = 1_800_000_000
      let younger = RevisionBump.auto(snapshotRevision: 1000, snapshotTime: now - min(a, b), now: now).bump
      let older = RevisionBump.auto(snapshotRevision: 1000, snapshotTime: now - max(a, b), now: now).bump
      #expect(older >= younger)
    }
  }

  @Test("a fresh snapshot gets the recommended bump; a snapshot from the future counts as fresh")
  func examples() {
    #expect(RevisionBump.auto(snapshotRevision: 308, snapshotTime: 100, now: 100).bump == 1_000_000_000)
    #expect(RevisionBump.auto(snapshotRevision: 308, snapshotTime: 200, now: 100).bump == 1_000_000_000)
    // 30 days at 10 000 writes/s, doubled: 51 840 000 000.
    #expect(RevisionBump.auto(snapshotRevision: 308, snapshotTime: 0, now: 30 * 86_400).bump == 51_840_000_000)
  }
}
