import EtcdFormats
import EtcdTestSupport
import Testing

/// Runs the checker, turning the typed error into a value.
private func checkOutcome(_ path: String) -> Result<BoltCheckReport, FormatError> {
  Result { () throws(FormatError) in try BoltChecker.check(path: path) }
}

/// Runs the figures (check + hash in one walk), turning the typed error into a value.
private func figuresOutcome(_ path: String) -> Result<SnapshotFigures, FormatError> {
  Result { () throws(FormatError) in try SnapshotFigures.compute(path: path) }
}

private func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

/// A small `key` bucket behind a branch page, built so tests can damage one thing at a time.
///
/// Pages: 2, 3, 4 leaves (keys r1..r3, r10..r12, r20..r22), 5 the branch over them, 6 the root
/// leaf with bucket "key" -> 5 and an inline bucket "meta".
private struct SampleTree {
  var leaves: [[[UInt8]]] = [
    [revisionKey(1), revisionKey(2), revisionKey(3)],
    [revisionKey(10), revisionKey(11), revisionKey(12)],
    [revisionKey(20), revisionKey(21), revisionKey(22)],
  ]
  /// (key, child) of the branch page; nil: the first key of each leaf and its page.
  var branch: [(key: [UInt8], child: UInt64)]? = nil
  /// Extra pages added after the root (unreachable: free).
  var extraPages = 0

  static let leafIDs: [UInt64] = [2, 3, 4]
  static let branchID: UInt64 = 5
  static let rootID: UInt64 = 6

  func builder() -> BoltImageBuilder {
    var b = BoltImageBuilder()
    for keys in leaves {
      b.add(BoltImageBuilder.leafImage(keys.map { .init(key: $0, value: Array("v".utf8) + $0.suffix(1)) }))
    }
    let children = branch ?? zip(leaves, Self.leafIDs).map { ($0.first ?? [], $1) }
    b.add(BoltImageBuilder.branchImage(children))
    b.add(
      BoltImageBuilder.leafImage([
        .init(flags: 1, key: bytes("key"), value: BoltImageBuilder.bucketValue(root: Self.branchID)),
        .init(flags: 1, key: bytes("meta"), value: BoltImageBuilder.inlineBucketValue([.init(key: bytes("a"), value: bytes("b"))])),
      ]))
    for _ in 0..<extraPages { b.add(BoltImageBuilder.leafImage([])) }
    return b
  }

  func file() -> [UInt8] { builder().build(root: Self.rootID) }
}

/// Expects a FormatError on `page` whose message contains `fragment`.
private func expectProblem(
  _ image: [UInt8], page: UInt64, _ fragment: String, sourceLocation: SourceLocation = #_sourceLocation
) throws {
  let (outcome, figures) = try withTemporaryFile(image) { (checkOutcome($0), figuresOutcome($0)) }
  switch outcome {
  case .success(let report):
    Issue.record("expected a problem on page \(page) (\(fragment)), the check passed: \(report)", sourceLocation: sourceLocation)
  case .failure(let e):
    #expect(e.pageID == page, "\(e)", sourceLocation: sourceLocation)
    #expect(e.offset != nil, "\(e)", sourceLocation: sourceLocation)
    #expect(e.message.contains(fragment), "\(e)", sourceLocation: sourceLocation)
    // Figures run the same check first and fail the same way.
    if case .failure(let f) = figures {
      #expect(f == e, sourceLocation: sourceLocation)
    } else {
      Issue.record("the figures passed where the check failed with \(e)", sourceLocation: sourceLocation)
    }
  }
}

/// Little-endian bytes.
private func le(_ value: UInt64, _ count: Int) -> [UInt8] {
  (0..<count).map { UInt8(truncatingIfNeeded: value >> (8 * UInt64($0))) }
}

/// Replaces `count` bytes at `offset` of `image`.
private func patched(_ image: [UInt8], at offset: Int, _ bytes: [UInt8]) -> [UInt8] {
  var out = image
  out.replaceSubrange(offset..<(offset + bytes.count), with: bytes)
  return out
}

@Suite("BoltChecker: full structure check")
struct BoltCheckerTests {
  // MARK: Real files

  @Test("real etcd files pass; unreachable pages are free pages, as bbolt sees them", arguments: EtcdRelease.allCases)
  func realFiles(release: EtcdRelease) async throws {
    let f = try await EtcdFixtures.shared.fixtures(release)
    for (what, image, status) in [
      ("empty snapshot", f.emptySnapshot, f.emptyStatus), ("written snapshot", f.fullSnapshot, f.fullStatus),
      ("copied member/snap/db", f.copiedDB, f.copiedStatus),
    ] {
      let report = try withTemporaryFile(image) { try BoltChecker.check(path: $0) }
      #expect(report.damagedMetas.isEmpty, "\(what)")
      #expect(!report.hasFreelistPage, "\(what): etcd never syncs a freelist")
      #expect(report.accountedPages == report.highWaterMark, "\(what): every page is a meta, tree or free page")
      #expect(Int64(report.highWaterMark) * Int64(report.pageSize) == status.totalSize, "\(what)")
      #expect(report.keys == status.totalKey, "\(what)")
      #expect(report.buckets == 10, "\(what)")
      #expect(report.inlineBuckets >= 5, "\(what): small buckets are inline")
      print(
        "\(release) \(what): \(report.highWaterMark) pages: \(report.branchPages) branch, \(report.leafPages) leaf, \(report.overflowPages) overflow, \(report.freePages) free; depth \(report.deepestTree)"
      )
      if what == "written snapshot" {
        #expect(report.freePages > 0, "etcd rewrites pages as it goes; the old ones stay behind as free pages")
        #expect(report.overflowPages >= 256, "the 1 MiB value lies on overflow pages")
        #expect(report.deepestTree >= 2)
      }
    }
  }

  // MARK: Synthetic files

  @Test("a sound synthetic tree passes; extra unreachable pages are free")
  func soundTree() throws {
    var tree = SampleTree()
    tree.extraPages = 3
    let report = try withTemporaryFile(tree.file()) { try BoltChecker.check(path: $0) }
    #expect(report.branchPages == 1)
    #expect(report.leafPages == 4)
    #expect(report.freePages == 3)
    #expect(report.keys == 10)
    #expect(report.buckets == 2)
    #expect(report.inlineBuckets == 1)
    #expect(report.deepestTree == 2)
    #expect(report.accountedPages == report.highWaterMark)
  }

  @Test("a key out of order inside a leaf")
  func keyOutOfOrder() throws {
    var tree = SampleTree()
    tree.leaves[1] = [revisionKey(10), revisionKey(12), revisionKey(11)]
    try expectProblem(tree.file(), page: 3, "keys out of order in page 3: element 2")
    tree.leaves[1] = [revisionKey(10), revisionKey(11), revisionKey(11)]
    try expectProblem(tree.file(), page: 3, "not greater than element 1")
  }

  @Test("keys out of order across siblings: a leaf reaching into the next one's range")
  func keyPastSibling() throws {
    var tree = SampleTree()
    tree.leaves[0] = [revisionKey(1), revisionKey(2), revisionKey(10)]
    try expectProblem(tree.file(), page: 2, "is not below")
  }

  @Test("a branch key that differs from its child's first key")
  func branchKeyMismatch() throws {
    var tree = SampleTree()
    tree.branch = [(revisionKey(1), 2), (revisionKey(9), 3), (revisionKey(20), 4)]
    try expectProblem(tree.file(), page: SampleTree.branchID, "element 1 has key")
    tree.branch = [(revisionKey(1), 2), (revisionKey(10, 1), 3), (revisionKey(20), 4)]
    try expectProblem(tree.file(), page: SampleTree.branchID, "a branch key must equal its child's first key")
    // Branch keys out of order are reported on the branch page itself.
    tree.branch = [(revisionKey(1), 2), (revisionKey(20), 4), (revisionKey(10), 3)]
    try expectProblem(tree.file(), page: SampleTree.branchID, "keys out of order in branch page 5")
  }

  @Test("a page referenced twice: by two branch elements, or by two buckets")
  func referencedTwice() throws {
    var tree = SampleTree()
    tree.branch = [(revisionKey(1), 2), (revisionKey(10), 3), (revisionKey(20), 3)]
    try expectProblem(tree.file(), page: SampleTree.branchID, "already used elsewhere (a page referenced twice)")

    var b = BoltImageBuilder()
    let shared = b.add(BoltImageBuilder.leafImage([.init(key: bytes("k"), value: bytes("v"))]))
    let root = b.add(
      BoltImageBuilder.leafImage([
        .init(flags: 1, key: bytes("a"), value: BoltImageBuilder.bucketValue(root: shared)),
        .init(flags: 1, key: bytes("b"), value: BoltImageBuilder.bucketValue(root: shared)),
      ]))
    try expectProblem(b.build(root: root), page: root, "bucket \"b\" in page \(root) refers to page \(shared), which is already used")
  }

  @Test("a page inside another page's overflow range")
  func overlappingOverflow() throws {
    // Leaf 2 claims one overflow page: page 3, which the branch also references.
    let image = patched(SampleTree().file(), at: 2 * 4096 + 12, le(1, 4))
    try expectProblem(image, page: SampleTree.branchID, "refers to page 3, which is already used elsewhere")
    // The other way round: the page whose overflow covers an already reached page is named.
    let later = patched(SampleTree().file(), at: 3 * 4096 + 12, le(1, 4))  // page 3 spans 3...4, 4 comes after
    try expectProblem(later, page: SampleTree.branchID, "refers to page 4, which is already used elsewhere")
    let back = patched(SampleTree().file(), at: 4 * 4096 + 12, le(1, 4))  // page 4 spans 4...5: the branch itself
    try expectProblem(back, page: 4, "page 4 spans pages 4...5, but page 5 is already used elsewhere")
  }

  @Test("a page at or past the high-water mark")
  func pastHighWaterMark() throws {
    var tree = SampleTree()
    tree.branch = [(revisionKey(1), 2), (revisionKey(10), 3), (revisionKey(20), 7)]
    try expectProblem(tree.file(), page: SampleTree.branchID, "refers to page 7, at or past the high-water mark 7")
    tree.branch = [(revisionKey(1), 2), (revisionKey(10), 3), (revisionKey(20), 1 << 40)]
    try expectProblem(tree.file(), page: SampleTree.branchID, "at or past the high-water mark")
    tree.branch = [(revisionKey(1), 2), (revisionKey(10), 3), (revisionKey(20), 1)]
    try expectProblem(tree.file(), page: SampleTree.branchID, "refers to meta page 1")
    // A page whose overflow runs past the mark.
    let image = patched(SampleTree().file(), at: 4 * 4096 + 12, le(5, 4))
    try expectProblem(image, page: 4, "runs past the high-water mark")
  }

  @Test("a cycle: a branch element pointing at its own page or at the root")
  func cycle() throws {
    var tree = SampleTree()
    tree.branch = [(revisionKey(1), 2), (revisionKey(10), 3), (revisionKey(20), SampleTree.branchID)]
    try expectProblem(tree.file(), page: SampleTree.branchID, "refers back to page 5, which is above it in the same tree (a cycle)")
    tree.branch = [(revisionKey(1), 2), (revisionKey(10), 3), (revisionKey(20), SampleTree.rootID)]
    try expectProblem(tree.file(), page: SampleTree.branchID, "refers back to page 6")
  }

  @Test("a page header that names another page, or has the wrong type")
  func badHeaders() throws {
    try expectProblem(patched(SampleTree().file(), at: 3 * 4096, le(9, 8)), page: 3, "page 3 says it is page 9")
    try expectProblem(patched(SampleTree().file(), at: 3 * 4096 + 8, le(0x10, 2)), page: 3, "type freelist")
    try expectProblem(patched(SampleTree().file(), at: 3 * 4096 + 8, le(0x04, 2)), page: 3, "type meta")
    // Leaf element flags other than 0 and 1.
    try expectProblem(patched(SampleTree().file(), at: 3 * 4096 + 16, le(2, 4)), page: 3, "has flags 0x02")
    // An empty key.
    try expectProblem(patched(SampleTree().file(), at: 3 * 4096 + 16 + 8, le(0, 4)), page: 3, "empty key")
  }

  @Test("an empty leaf under a branch; an empty bucket root is fine")
  func emptyLeaf() throws {
    var tree = SampleTree()
    tree.leaves[1] = []
    tree.branch = [(revisionKey(1), 2), (revisionKey(10), 3), (revisionKey(20), 4)]
    try expectProblem(tree.file(), page: 3, "leaf page 3 is empty but is a child of branch page 5")

    var b = BoltImageBuilder()
    let emptyRoot = b.add(BoltImageBuilder.leafImage([]))
    let root = b.add(
      BoltImageBuilder.leafImage([
        .init(flags: 1, key: bytes("alarm"), value: BoltImageBuilder.inlineBucketValue([])),
        .init(flags: 1, key: bytes("key"), value: BoltImageBuilder.bucketValue(root: emptyRoot)),
      ]))
    let report = try withTemporaryFile(b.build(root: root)) { try BoltChecker.check(path: $0) }
    #expect(report.buckets == 2)
    #expect(report.keys == 0)
  }

  @Test("an inline bucket holding a nested bucket")
  func nestedInInline() throws {
    var b = BoltImageBuilder()
    let inner = BoltImageBuilder.inlineBucketValue([.init(key: bytes("x"), value: bytes("y"))])
    let root = b.add(
      BoltImageBuilder.leafImage([
        .init(flags: 1, key: bytes("outer"), value: BoltImageBuilder.inlineBucketValue([.init(flags: 1, key: bytes("in"), value: inner)]))
      ]))
    try expectProblem(b.build(root: root), page: root, "holds a nested bucket \"in\"")
  }

  @Test("a damaged meta page is tolerated (the other one is used, as bbolt does); two are not")
  func damagedMeta() throws {
    let tree = SampleTree()
    let b = tree.builder()
    let good0 = b.metaPage(id: 0, root: SampleTree.rootID, txid: 4)
    let good1 = b.metaPage(id: 1, root: SampleTree.rootID, txid: 3)
    let body = Array(tree.file()[(2 * 4096)...])
    for (page, meta0, meta1) in [
      (UInt64(0), b.metaPage(id: 0, root: SampleTree.rootID, txid: 4, checksum: 12345), good1),
      (UInt64(1), good0, b.metaPage(id: 1, root: SampleTree.rootID, txid: 3, checksum: 12345)),
    ] {
      let report = try withTemporaryFile(meta0 + meta1 + body) { try BoltChecker.check(path: $0) }
      #expect(report.damagedMetas.count == 1)
      let damage = try #require(report.damagedMetas.first)
      #expect(damage.pageID == page)
      #expect(damage.offset == Int64(page) * 4096 + 72)
      #expect(damage.message.contains("meta page \(page) is damaged (checksum mismatch"))
      #expect(report.activeMetaPageID == 1 - page)
      #expect(report.keys == 10)
    }
    let both = b.metaPage(id: 0, root: SampleTree.rootID, txid: 4, checksum: 1) + b.metaPage(id: 1, root: 6, txid: 3, checksum: 1)
    let outcome = try withTemporaryFile(both + body) { checkOutcome($0) }
    guard case .failure(let e) = outcome else {
      Issue.record("two damaged metas passed")
      return
    }
    #expect(e.pageID == 0)
    #expect(e.message.contains("both bbolt meta pages are invalid"))
  }

  // MARK: A synced freelist (bbolt without etcd's no-freelist-sync)

  /// The sample tree plus a freelist page (id 7) listing `free`, and `extra` unreachable pages 8...
  private func withFreelist(_ free: [UInt64], extra: Int = 2, count: UInt16? = nil, longForm: Bool = false) -> [UInt8] {
    var tree = SampleTree()
    tree.extraPages = 0
    var b = tree.builder()
    var image = BoltImageBuilder.header(
      id: 0, flags: 0x10, count: Int(longForm ? 0xFFFF : count ?? UInt16(free.count)), overflow: 0)
    if longForm { image += le(UInt64(free.count), 8) }
    for id in free { image += le(id, 8) }
    let freelistID = b.add(image)
    for _ in 0..<extra { b.add(BoltImageBuilder.leafImage([])) }
    func meta(_ id: UInt64, txid: UInt64) -> [UInt8] {
      var m = le(0xED0C_DAED, 4) + le(2, 4) + le(4096, 4) + le(0, 4)
      m += le(SampleTree.rootID, 8) + le(0, 8) + le(freelistID, 8) + le(b.nextID, 8) + le(txid, 8)
      m += le(BoltMeta.fnv1a64(m), 8)
      let page = BoltImageBuilder.header(id: id, flags: 0x04, count: 0, overflow: 0) + m
      return page + [UInt8](repeating: 0, count: 4096 - page.count)
    }
    let file = b.build(root: SampleTree.rootID)
    return meta(0, txid: 4) + meta(1, txid: 3) + Array(file[(2 * 4096)...])
  }

  @Test("a synced freelist: free pages listed once, none reachable, none leaked")
  func syncedFreelist() throws {
    let report = try withTemporaryFile(withFreelist([8, 9])) { try BoltChecker.check(path: $0) }
    #expect(report.hasFreelistPage)
    #expect(report.freelistPages == 1)
    #expect(report.freePages == 2)
    #expect(report.accountedPages == report.highWaterMark)
    try expectProblem(withFreelist([8]), page: 9, "page 9 is neither reachable from the root nor listed in the freelist")
    try expectProblem(withFreelist([8, 9, 8]), page: 7, "lists page 8 twice")
    try expectProblem(withFreelist([3, 8, 9]), page: SampleTree.branchID, "refers to page 3, which the freelist lists as free")
    try expectProblem(withFreelist([8, 9, 10]), page: 7, "lists page 10, outside the data pages")
    try expectProblem(withFreelist([7, 8, 9]), page: 7, "lists its own page 7")
    try expectProblem(withFreelist([8, 9], count: 600), page: 7, "lists 600 pages, more than fit")
    // Many free pages: 8-byte ids, 510 to a 4 KiB page (more than 16-byte elements would allow).
    let many = try withTemporaryFile(withFreelist(Array(8..<408), extra: 400)) { try BoltChecker.check(path: $0) }
    #expect(many.freePages == 400)
    #expect(many.accountedPages == many.highWaterMark)
    // count 0xFFFF: the real count is the first u64 (bbolt writes this form from 65535 ids on).
    let long = try withTemporaryFile(withFreelist([8, 9], longForm: true)) { try BoltChecker.check(path: $0) }
    #expect(long.freePages == 2)
  }

  @Test("a page tree deeper than any real one is refused, without exhausting the stack")
  func tooDeep() throws {
    // A chain of 80 one-element branch pages over one leaf, every key "k" (each consistent with the next).
    var b = BoltImageBuilder()
    var child = b.add(BoltImageBuilder.leafImage([.init(key: bytes("k"), value: bytes("v"))]))
    for _ in 0..<80 { child = b.add(BoltImageBuilder.branchImage([(bytes("k"), child)])) }
    let root = b.add(
      BoltImageBuilder.leafImage([.init(flags: 1, key: bytes("deep"), value: BoltImageBuilder.bucketValue(root: child))]))
    let outcome = try withTemporaryFile(b.build(root: root)) { checkOutcome($0) }
    guard case .failure(let e) = outcome else {
      Issue.record("an 81-level tree passed")
      return
    }
    #expect(e.message.contains("nested deeper than 64 levels"), "\(e)")
    // 60 levels are fine.
    var ok = BoltImageBuilder()
    var c = ok.add(BoltImageBuilder.leafImage([.init(key: bytes("k"), value: bytes("v"))]))
    for _ in 0..<60 { c = ok.add(BoltImageBuilder.branchImage([(bytes("k"), c)])) }
    let okRoot = ok.add(
      BoltImageBuilder.leafImage([.init(flags: 1, key: bytes("deep"), value: BoltImageBuilder.bucketValue(root: c))]))
    let report = try withTemporaryFile(ok.build(root: okRoot)) { try BoltChecker.check(path: $0) }
    #expect(report.deepestTree == 61)
  }
}

/// Checks and figures of a file (one walk), or the first problem.
private func inspect(_ path: String) -> Result<(figures: SnapshotFigures, report: BoltCheckReport), FormatError> {
  Result { () throws(FormatError) in try SnapshotFigures.compute(BoltFileReader(path: path)) }
}

/// Damaged copies of a real snapshot: the checker and the figures never crash or hang; they
/// either succeed or throw a FormatError.
@Suite("BoltChecker: damaged real snapshots")
struct BoltCheckerDamageTests {
  /// The pages of a real snapshot by role (page ids), from one recorded walk.
  struct PageRoles {
    var branch: [UInt64] = []
    var leaf: [UInt64] = []
    var overflow: [UInt64] = []
    var free: [UInt64] = []
  }

  static func roles(of image: [UInt8], reader: BoltFileReader) -> PageRoles {
    var roles = PageRoles()
    var used = Set<UInt64>()
    for id in reader.pageIDsRead {
      let start = Int(id) * reader.pageSize
      let overflow = UInt64(image[start + 12]) | UInt64(image[start + 13]) << 8 | UInt64(image[start + 14]) << 16
      if image[start + 8] == 0x01 { roles.branch.append(id) } else { roles.leaf.append(id) }
      used.insert(id)
      if overflow > 0 {
        for extra in (id + 1)...(id + overflow) {
          roles.overflow.append(extra)
          used.insert(extra)
        }
      }
    }
    roles.free = (2..<reader.meta.highWaterMark).filter { !used.contains($0) }
    return roles
  }

  @Test(
    "single-bit flips in meta, branch, leaf, overflow and free pages", .timeLimit(.minutes(10)),
    arguments: EtcdRelease.allCases)
  func bitFlips(release: EtcdRelease) async throws {
    let f = try await EtcdFixtures.shared.fixtures(release)
    let image = f.fullSnapshot
    let file = try ScratchFile(image)
    let reader = try BoltFileReader(path: file.path)
    reader.recordsPageIDs = true
    let (original, report) = try SnapshotFigures.compute(reader)
    let roles = Self.roles(of: image, reader: reader)
    let pageSize = reader.pageSize
    #expect(!roles.branch.isEmpty && !roles.leaf.isEmpty && !roles.overflow.isEmpty && !roles.free.isEmpty)
    #expect(roles.free.count == report.freePages)

    var rng = SplitMix64(state: 0xF1_1B17 &+ UInt64(image.count))
    func randomOffset(in pages: [UInt64], within: Range<Int>? = nil) -> Int {
      let page = pages[Int.random(in: 0..<pages.count, using: &rng)]
      return Int(page) * pageSize + Int.random(in: within ?? 0..<pageSize, using: &rng)
    }
    let clock = ContinuousClock()
    let started = clock.now
    var detected: [String: Int] = [:]
    var runs = 0

    // Meta pages: the decoded 80 bytes and the rest. A snapshot's two metas describe the same
    // tree, so whichever survives, the figures stay the same.
    for _ in 0..<60 {
      let page = Int.random(in: 0...1, using: &rng)
      let byte = Int.random(in: 0..<10, using: &rng) == 0 ? Int.random(in: 80..<pageSize, using: &rng) : Int.random(in: 0..<80, using: &rng)
      let bit = Int.random(in: 0..<8, using: &rng)
      let outcome = file.withFlippedBit(at: page * pageSize + byte, bit: bit) { inspect(file.path) }
      runs += 1
      guard case .success(let result) = outcome else {
        Issue.record("meta page \(page) byte \(byte) bit \(bit): \(outcome)")
        continue
      }
      #expect(result.figures == original, "meta page \(page) byte \(byte) bit \(bit)")
      let checked = (0..<10).contains(byte) || (16..<80).contains(byte)
      #expect(result.report.damagedMetas.map(\.pageID) == (checked ? [UInt64(page)] : []), "meta page \(page) byte \(byte) bit \(bit)")
    }

    // Free pages: never read, never matter.
    for _ in 0..<20 {
      let offset = randomOffset(in: roles.free)
      let bit = Int.random(in: 0..<8, using: &rng)
      let outcome = file.withFlippedBit(at: offset, bit: bit) { inspect(file.path) }
      runs += 1
      guard case .success(let result) = outcome else {
        Issue.record("free page byte \(offset) bit \(bit): \(outcome)")
        continue
      }
      #expect(result.figures == original && result.report == report, "free page byte \(offset) bit \(bit)")
    }

    // Page header ids of reached pages: always found, on that page.
    for id in (roles.branch + roles.leaf).shuffled(using: &rng).prefix(24) {
      let bit = Int.random(in: 0..<64, using: &rng)
      let outcome = file.withFlippedBit(at: Int(id) * pageSize + bit / 8, bit: bit % 8) { inspect(file.path) }
      runs += 1
      if case .failure(let e) = outcome {
        #expect(e.pageID == id && e.message.contains("says it is page"), "\(e)")
      } else {
        Issue.record("a flipped header id of page \(id) passed")
      }
    }

    // Branch, leaf and overflow pages: a FormatError or a success (a flip in a value, or in
    // unused bytes, is not a structural problem), never a crash.
    let weighted: [(String, [UInt64], Range<Int>?)] = [
      ("branch", roles.branch, nil), ("branch header+elements", roles.branch, 0..<(16 + 16 * 8)),
      ("leaf", roles.leaf, nil), ("leaf header+elements", roles.leaf, 0..<(16 + 16 * 8)),
      ("overflow", roles.overflow, nil),
    ]
    for (name, pages, within) in weighted {
      for _ in 0..<40 {
        let offset = randomOffset(in: pages, within: within)
        let bit = Int.random(in: 0..<8, using: &rng)
        let outcome = file.withFlippedBit(at: offset, bit: bit) { inspect(file.path) }
        runs += 1
        switch outcome {
        case .success(let result):
          #expect(result.report.highWaterMark == report.highWaterMark)
        case .failure(let e):
          detected[name, default: 0] += 1
          #expect(!e.message.isEmpty)
          #expect(e.pageID != nil, "\(e)")
        }
      }
    }
    #expect(detected["branch header+elements", default: 0] > 20, "\(detected)")
    #expect(detected["leaf header+elements", default: 0] > 20, "\(detected)")
    print("\(release): \(runs) damaged copies checked in \(clock.now - started); structural problems found: \(detected)")
  }

  @Test("truncation at many offsets: a FormatError unless the whole database is there", arguments: EtcdRelease.allCases)
  func truncations(release: EtcdRelease) async throws {
    let f = try await EtcdFixtures.shared.fixtures(release)
    for image in [f.fullSnapshot, f.emptySnapshot] {
      let file = try ScratchFile(image)
      let (original, report) = try SnapshotFigures.compute(BoltFileReader(path: file.path))
      let databaseSize = Int(report.highWaterMark) * report.pageSize
      var rng = SplitMix64(state: 0x7_2C_A7E &+ UInt64(image.count))
      var lengths = (0..<40).map { _ in Int.random(in: 0..<image.count, using: &rng) }
      lengths += [0, 1, 79, 80, 4095, 4096, 8192, 8193, databaseSize - 1, databaseSize, databaseSize + 1, image.count - 1]
      for length in lengths {
        let outcome = file.withLength(length) { inspect(file.path) }
        switch outcome {
        case .success(let result):
          #expect(length >= databaseSize, "cut to \(length) of \(image.count) bytes passed")
          #expect(result.figures == original)
        case .failure(let e):
          #expect(length < databaseSize, "cut to \(length): \(e)")
          #expect(!e.message.isEmpty)
        }
      }
    }
  }
}
