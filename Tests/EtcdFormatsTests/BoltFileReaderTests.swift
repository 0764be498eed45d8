import EtcdFormats
import EtcdTestSupport
import Foundation
import Testing

/// Shapes built byte by byte: inline buckets, deep trees, overflow pages, and broken pages.
@Suite("BoltFileReader: synthetic files")
struct BoltFileReaderTests {
  typealias E = BoltImageBuilder.Element

  /// A root leaf holding the given buckets (name, value), sorted by name.
  static func rootLeaf(_ buckets: [(String, [UInt8])]) -> [UInt8] {
    BoltImageBuilder.leafImage(
      buckets.sorted { $0.0 < $1.0 }.map { E(flags: 1, key: Array($0.0.utf8), value: $0.1) })
  }

  static let emptyInline = BoltImageBuilder.inlineBucketValue([])

  func summary(_ bytes: [UInt8]) throws -> BoltFileSummary {
    try withTemporaryFile(bytes) { path in try BoltSummary.read(path: path) }
  }

  func formatError(_ bytes: [UInt8], name: String = "test.db") throws -> FormatError {
    try withTemporaryFile(bytes, name: name) { path in
      switch BoltCorruptionTests.outcome(path) {
      case .success(let s):
        throw FixtureError(description: "expected a FormatError, got \(s)")
      case .failure(let error):
        #expect(error.path == path)
        #expect(error.description.hasPrefix(path + ": "))
        return error
      }
    }
  }

  @Test("inline key bucket: revision is main of the last key; tombstones count")
  func inlineKeyBucket() throws {
    var b = BoltImageBuilder()
    let key = BoltImageBuilder.inlineBucketValue([
      E(key: revisionKey(2), value: [1]), E(key: revisionKey(3, 1), value: [2]),
      E(key: revisionKey(5, 0, tombstone: true), value: [3]),
    ])
    let root = b.add(Self.rootLeaf([("alarm", Self.emptyInline), ("key", key), ("meta", Self.emptyInline)]))
    let s = try summary(b.build(root: root))
    #expect(s.revision == 5)
    #expect(s.pageSize == 4096)
    #expect(s.txid == 4)
    #expect(s.highWaterMark == 3)
    #expect(s.databaseSize == 3 * 4096)
    #expect(s.fileSize == 3 * 4096)
    #expect(!s.hasTrailer)
  }

  @Test("empty key bucket gives 0; no key bucket, or a plain key named `key`, gives nil")
  func missingOrEmpty() throws {
    var b = BoltImageBuilder()
    var root = b.add(Self.rootLeaf([("key", Self.emptyInline), ("meta", Self.emptyInline)]))
    #expect(try summary(b.build(root: root)).revision == 0)

    b = BoltImageBuilder()
    root = b.add(Self.rootLeaf([("alarm", Self.emptyInline), ("meta", Self.emptyInline)]))
    #expect(try summary(b.build(root: root)).revision == nil)

    b = BoltImageBuilder()
    root = b.add(BoltImageBuilder.leafImage([E(flags: 0, key: Array("key".utf8), value: revisionKey(9))]))
    #expect(try summary(b.build(root: root)).revision == nil)

    b = BoltImageBuilder()
    root = b.add(BoltImageBuilder.leafImage([]))
    #expect(try summary(b.build(root: root)).revision == nil)
  }

  /// A key bucket as a 3-level tree over `leaves` leaves of `perLeaf` revisions each.
  static func deepTree(_ b: inout BoltImageBuilder, leaves: Int, perLeaf: Int, emptyLast: Bool = false) -> UInt64 {
    var level: [(key: [UInt8], child: UInt64)] = []
    var rev: Int64 = 2
    for l in 0..<leaves {
      var elements: [E] = []
      if !(emptyLast && l == leaves - 1) {
        for _ in 0..<perLeaf {
          elements.append(E(key: revisionKey(rev), value: Array(repeating: 7, count: 20)))
          rev += 1
        }
      }
      let firstKey = elements.first?.key ?? revisionKey(rev)
      level.append((firstKey, b.add(BoltImageBuilder.leafImage(elements))))
    }
    while level.count > 1 {
      level = stride(from: 0, to: level.count, by: 4).map { start in
        let group = Array(level[start..<min(start + 4, level.count)])
        return (group[0].key, b.add(BoltImageBuilder.branchImage(group)))
      }
    }
    return level[0].child
  }

  @Test("deep key bucket: reads one page per level, finds keys, walks everything")
  func deepKeyBucket() throws {
    var b = BoltImageBuilder()
    let keyRoot = Self.deepTree(&b, leaves: 16, perLeaf: 10)  // 16 leaves, 4 + 1 branches: 3 levels
    let root = b.add(Self.rootLeaf([("key", BoltImageBuilder.bucketValue(root: keyRoot)), ("meta", Self.emptyInline)]))
    try withTemporaryFile(b.build(root: root)) { path in
      let reader = try BoltFileReader(path: path)
      reader.recordsPageIDs = true
      let s = try BoltSummary.read(reader)
      #expect(s.revision == 161)
      #expect(reader.pageIDsRead.count == 4)  // root bucket leaf + 3 levels of the key bucket
      #expect(reader.pagesRead == 2 + 4)

      let bucket = try #require(try reader.bucket(named: Array("key".utf8)))
      let (page, element) = try #require(try reader.find(key: revisionKey(77), in: bucket))
      #expect(try reader.value(of: element, in: page, limit: 100) == Array(repeating: 7, count: 20))
      #expect(try reader.find(key: revisionKey(1000), in: bucket) == nil)
      #expect(try reader.find(key: [0], in: bucket) == nil)
      var count = 0
      var last: [UInt8] = []
      try reader.forEach(in: bucket) { (page, element) throws(FormatError) in
        let key = try reader.key(of: element, in: page)
        #expect(last.lexicographicallyPrecedes(key))
        last = key
        count += 1
      }
      #expect(count == 160)
      #expect(try reader.bucketNames() == [Array("key".utf8), Array("meta".utf8)])
    }
  }

  @Test("an empty right-most leaf: the last key comes from its left sibling")
  func emptyRightmostLeaf() throws {
    var b = BoltImageBuilder()
    let keyRoot = Self.deepTree(&b, leaves: 5, perLeaf: 3, emptyLast: true)
    let root = b.add(Self.rootLeaf([("key", BoltImageBuilder.bucketValue(root: keyRoot))]))
    #expect(try summary(b.build(root: root)).revision == 13)
  }

  @Test("a leaf spanning overflow pages: the last key is read without reading the values")
  func overflowLeaf() throws {
    var b = BoltImageBuilder()
    let big = [UInt8](repeating: 0x42, count: 200_000)
    let leaf = b.add(
      BoltImageBuilder.leafImage([E(key: revisionKey(10), value: big), E(key: revisionKey(11), value: big)]))
    let root = b.add(Self.rootLeaf([("key", BoltImageBuilder.bucketValue(root: leaf))]))
    let bytes = b.build(root: root)
    #expect(bytes.count > 400_000)
    try withTemporaryFile(bytes) { path in
      let reader = try BoltFileReader(path: path)
      #expect(try BoltSummary.read(reader).revision == 11)
      #expect(reader.bytesRead < 5 * 4096)
    }
  }

  @Test("16 KiB pages are taken from the meta page, and found by probing when meta 0 is damaged")
  func largePages() throws {
    var b = BoltImageBuilder(pageSize: 16384)
    let key = BoltImageBuilder.inlineBucketValue([E(key: revisionKey(42), value: [])])
    let root = b.add(Self.rootLeaf([("key", key)]))
    var bytes = b.build(root: root, txid0: 8, txid1: 7, trailer: true)
    var s = try summary(bytes)
    #expect(s.pageSize == 16384)
    #expect(s.revision == 42)
    #expect(s.txid == 8)
    #expect(s.hasTrailer)
    #expect(s.fileSize == s.databaseSize + 32)
    bytes[16] ^= 0x01  // break meta 0's magic: meta 1 must be found at 16 KiB
    s = try summary(bytes)
    #expect(s.pageSize == 16384)
    #expect(s.txid == 7)
    #expect(s.revision == 42)
  }

  @Test("size rules: trailer exact, whole preallocated pages ok; other extra bytes, truncation: errors")
  func sizeRules() throws {
    var b = BoltImageBuilder()
    let root = b.add(Self.rootLeaf([("key", Self.emptyInline)]))
    let plain = b.build(root: root)
    #expect(try summary(plain + [UInt8](repeating: 0, count: 32)).hasTrailer)
    #expect(try summary(plain + [UInt8](repeating: 0, count: 8192)).databaseSize == Int64(plain.count))

    var error = try formatError(plain + [UInt8](repeating: 0, count: 100))
    #expect(error.message.contains("100 unexpected bytes after the database"))
    #expect(error.offset == Int64(plain.count))

    error = try formatError(plain + [UInt8](repeating: 0, count: 512 + 32))
    #expect(error.message.contains("512 unexpected bytes between the database"))

    error = try formatError(Array(plain.dropLast(100)))
    #expect(error.message.hasPrefix("truncated: the database needs 12288 bytes"))
    #expect(error.message.contains("12188"))
    #expect(error.offset == Int64(plain.count - 100))
  }

  @Test("broken pages: wrong id, wrong type, past the high-water mark, cycles, bad elements")
  func brokenPages() throws {
    // Child pointer past the high-water mark.
    var b = BoltImageBuilder()
    var root = b.add(Self.rootLeaf([("key", BoltImageBuilder.bucketValue(root: 99))]))
    var error = try formatError(b.build(root: root))
    #expect(error.message.contains("page 99 (referenced from page 2) is past the high-water mark 3"))

    // Header id that is not the page's position.
    b = BoltImageBuilder()
    var leaf = b.add(BoltImageBuilder.leafImage([E(key: revisionKey(3), value: [])]))
    root = b.add(Self.rootLeaf([("key", BoltImageBuilder.bucketValue(root: leaf))]))
    var bytes = b.build(root: root)
    bytes[2 * 4096] = 9
    error = try formatError(bytes)
    #expect(error.message.contains("bad page header: page 2 says it is page 9"))
    #expect(error.pageID == 2)
    #expect(error.offset == Int64(2 * 4096))

    // A freelist-typed page where a tree page must be.
    bytes = b.build(root: root)
    bytes[2 * 4096 + 8] = 0x10
    error = try formatError(bytes)
    #expect(error.message.contains("page 2 has type freelist (referenced from page 3), expected branch or leaf"))

    // Unknown flags.
    bytes = b.build(root: root)
    bytes[2 * 4096 + 8] = 0x03
    error = try formatError(bytes)
    #expect(error.message.contains("page 2 has type unknown (0x03)"))

    // Overflow running past the high-water mark.
    bytes = b.build(root: root)
    bytes[2 * 4096 + 12] = 5
    error = try formatError(bytes)
    #expect(error.message.contains("with 5 overflow pages runs past the high-water mark 4"))

    // Element count too large for the page.
    bytes = b.build(root: root)
    bytes[2 * 4096 + 10] = 0xFF
    bytes[2 * 4096 + 11] = 0xFF
    error = try formatError(bytes)
    #expect(error.message.contains("65535 elements do not fit"))

    // Key position pointing outside the page.
    bytes = b.build(root: root)
    bytes[2 * 4096 + 16 + 4 + 2] = 0x7F
    error = try formatError(bytes)
    #expect(error.message.contains("leaf element 0 points outside its page"))

    // Root pointing at a meta page.
    b = BoltImageBuilder()
    leaf = b.add(BoltImageBuilder.leafImage([]))
    bytes = b.build(root: leaf)
    error = try formatError(
      b.metaPage(id: 0, root: 1, txid: 2) + b.metaPage(id: 1, root: 1, txid: 1) + Array(bytes[8192...]))
    #expect(error.message.contains("puts the root bucket at page 1, outside the database"))

    // A branch that points at itself.
    b = BoltImageBuilder()
    let selfID = b.nextID
    let branch = b.add(BoltImageBuilder.branchImage([(revisionKey(1), selfID)]))
    root = b.add(Self.rootLeaf([("key", BoltImageBuilder.bucketValue(root: branch))]))
    error = try formatError(b.build(root: root))
    #expect(error.message.contains("page 2 is referenced twice in one tree (a cycle)"))

    // A last key too short to be a revision.
    b = BoltImageBuilder()
    root = b.add(Self.rootLeaf([("key", BoltImageBuilder.inlineBucketValue([E(key: [1, 2, 3], value: [])]))]))
    error = try formatError(b.build(root: root))
    #expect(error.message.contains("the last key of the `key` bucket is 3 bytes"))

    // An inline bucket whose page image is not a leaf.
    b = BoltImageBuilder()
    var inline = Self.emptyInline
    inline[16 + 8] = 0x01
    root = b.add(Self.rootLeaf([("key", inline)]))
    error = try formatError(b.build(root: root))
    #expect(error.message.contains("inline bucket page has type branch, expected leaf"))
  }

  @Test("unopenable paths and tiny files")
  func unopenable() throws {
    var error: FormatError? = #expect(throws: FormatError.self) {
      try BoltSummary.read(path: "/nonexistent/dir/snap.db")
    }
    #expect(error?.message == "cannot open: No such file or directory (errno 2)")
    #expect(error?.description == "/nonexistent/dir/snap.db: cannot open: No such file or directory (errno 2)")

    let dir = try TemporaryDirectory(prefix: "bolt-dir")
    error = #expect(throws: FormatError.self) { try BoltSummary.read(path: dir.path) }
    #expect(error?.message.hasPrefix("is a directory") == true)

    error = try formatError([])
    #expect(error?.message.hasPrefix("empty file (0 bytes)") == true)

    // The start of a valid meta page, cut at 60 bytes.
    let b = BoltImageBuilder()
    error = try formatError(Array(b.metaPage(id: 0, root: 2, txid: 1)[0..<60]))
    #expect(error?.message.hasPrefix("file is only 60 bytes, too short to hold two bbolt meta pages") == true)

    // One valid meta page of 4 KiB and nothing after it.
    error = try formatError(b.metaPage(id: 0, root: 2, txid: 1))
    #expect(error?.message.hasPrefix("file is 4096 bytes, too short to hold the two bbolt meta pages") == true)
  }
}
