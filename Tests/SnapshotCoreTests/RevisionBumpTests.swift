import PropertyBased
import SnapshotCore
import Testing

@Suite("RevisionBump.auto: a safe --bump-revision")
struct RevisionBumpTests {
  /// Any Int64, with the edges (0, ±1, both ends, around 2^60) drawn as often as the rest.
  static var anyInt64: Generator<Int64, AnySequence<(index: Int, value: Any)>> {
    Gen<Int64>.oneOf(
      Gen.int64(),
      Gen.int64(in: -2_000...2_000),
      Gen.int64(in: (Int64.max - 2_000_000_000)...Int64.max),
      Gen.int64(in: Int64.min...(Int64.min + 2_000_000_000)),
      Gen.int64(in: (Int64(RevisionBump.maximum) - 2_000_000_000)...(Int64(RevisionBump.maximum) + 2_000_000_000)),
      Gen<Int64?>.element(of: [Int64.min, -1, 0, 1, Int64.max, Int64(RevisionBump.maximum), 1 << 61, 1 << 62]).map { $0 ?? 0 }
    )
  }

  /// The revision after the bump, if it is an Int64.
  static func bumped(_ revision: Int64, by bump: UInt64) -> Int64? {
    guard let delta = Int64(exactly: bump) else { return nil }
    let (sum, overflow) = max(0, revision).addingReportingOverflow(delta)
    return overflow ? nil : sum
  }

  @Test("never below etcd's recommended 10^9; covers the assumed write rate since the snapshot")
  func coversTheGap() async throws {
    await propertyCheck(input: Gen.int64(in: 0...5_000_000_000), Gen.int64(in: 0...(20 * 365 * 86_400))) { revision, age in
      let now: Int64 = 1_800_000_000
      let (bump, _) = try RevisionBump.auto(snapshotRevision: revision, snapshotTime: now - age, now: now)
      #expect(bump >= RevisionBump.recommended)
      #expect(bump >= UInt64(age) * RevisionBump.assumedWriteRate)
      #expect(UInt64(revision) + bump <= RevisionBump.maximum, "the revision stays far from Int64's end")
    }
  }

  @Test("any Int64 revision, snapshot time and clock: no trap; a bump keeps the revision an Int64, below 2^60")
  func totalOverInt64() async {
    await propertyCheck(count: 2000, input: Self.anyInt64, Self.anyInt64, Self.anyInt64) { revision, time, now in
      do {
        let (bump, reason) = try RevisionBump.auto(snapshotRevision: revision, snapshotTime: time, now: now)
        let sum = try #require(Self.bumped(revision, by: bump), "revision \(revision) + bump \(bump) overflows Int64")
        #expect(sum <= Int64(RevisionBump.maximum))
        #expect(bump >= RevisionBump.recommended)
        #expect(!reason.isEmpty)
      } catch let error as SnapshotError {
        #expect(error.code == .invalidConfiguration)
        #expect(error.message.contains("--bump-revision"))
      }
    }
  }

  @Test("a bump of at least 10^9 whenever the headroom below 2^60 allows one; an error exactly when it does not")
  func recommendedWheneverHeadroomAllows() async {
    await propertyCheck(count: 2000, input: Self.anyInt64, Self.anyInt64, Self.anyInt64) { revision, time, now in
      let headroomAllows = max(0, revision) <= Int64(RevisionBump.maximum - RevisionBump.recommended)
      let result = Result { () throws(SnapshotError) in
        try RevisionBump.auto(snapshotRevision: revision, snapshotTime: time, now: now)
      }
      switch result {
      case .success(let choice):
        #expect(headroomAllows, "revision \(revision) got a bump of \(choice.bump) without room for 10^9")
        #expect(choice.bump >= RevisionBump.recommended)
      case .failure(let error):
        #expect(!headroomAllows, "revision \(revision) has room for a bump but got: \(error.message)")
      }
    }
  }

  @Test("older snapshots never get a smaller bump")
  func monotoneInAge() async throws {
    await propertyCheck(input: Gen.int64(in: 0...(10 * 365 * 86_400)), Gen.int64(in: 0...(10 * 365 * 86_400))) { a, b in
      let now: Int64 = 1_800_000_000
      let younger = try RevisionBump.auto(snapshotRevision: 1000, snapshotTime: now - min(a, b), now: now).bump
      let older = try RevisionBump.auto(snapshotRevision: 1000, snapshotTime: now - max(a, b), now: now).bump
      #expect(older >= younger)
    }
  }

  @Test("a fresh snapshot gets the recommended bump; a snapshot from the future counts as fresh")
  func examples() throws {
    #expect(try RevisionBump.auto(snapshotRevision: 308, snapshotTime: 100, now: 100).bump == 1_000_000_000)
    #expect(try RevisionBump.auto(snapshotRevision: 308, snapshotTime: 200, now: 100).bump == 1_000_000_000)
    // 30 days at 10 000 writes/s, doubled: 51 840 000 000.
    #expect(try RevisionBump.auto(snapshotRevision: 308, snapshotTime: 0, now: 30 * 86_400).bump == 51_840_000_000)
  }

  @Test("extreme inputs: times that overflow a subtraction, revisions past 2^60 and at Int64's end")
  func extremes() throws {
    // now - snapshotTime overflows Int64: the age saturates, the bump is capped at 2^60 - revision.
    let ancient = try RevisionBump.auto(snapshotRevision: 5, snapshotTime: .min, now: .max)
    #expect(ancient.bump == RevisionBump.maximum - 5)
    #expect(try RevisionBump.auto(snapshotRevision: 5, snapshotTime: .max, now: .min).bump == RevisionBump.recommended)
    // A negative revision counts as 0.
    #expect(try RevisionBump.auto(snapshotRevision: .min, snapshotTime: 0, now: 0).bump == RevisionBump.recommended)
    // The last revision with room for 10^9 below 2^60, and the first without.
    let last = Int64(RevisionBump.maximum - RevisionBump.recommended)
    #expect(try RevisionBump.auto(snapshotRevision: last, snapshotTime: 0, now: 0).bump == RevisionBump.recommended)
    for revision in [last + 1, Int64(RevisionBump.maximum), Int64(RevisionBump.maximum) + 1, 1 << 62, .max] {
      #expect(throws: SnapshotError.self, "revision \(revision)") {
        try RevisionBump.auto(snapshotRevision: revision, snapshotTime: 0, now: 86_400)
      }
    }
  }
}
