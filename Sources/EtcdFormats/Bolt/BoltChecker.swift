// A full structure check of a bbolt file (what `bbolt check` / `Tx.Check` verifies, and more),
// one page in memory per tree level, plus a bitset of page ids.
//
// Byte layout checked (little-endian; docs/etcd-data-dir.md §2.2-2.10; checked against files of
// etcd 3.4.23 and 3.5.1, whose `snapshot status` runs bbolt 1.3.6's check):
//
//   page 0, 1   meta pages: magic, version 2, FNV-1a checksum. One may be damaged (bbolt then
//               uses the other, and so do we: reported in `damagedMetas`, not thrown).
//   page n      header id u64 (== n) | flags u16 | count u16 | overflow u32, at byte n*pageSize;
//               occupies pages n...n+overflow, all below the active meta's high-water mark.
//   tree        meta.root -> branch/leaf pages. branch element = pos u32 | ksize u32 | pgid u64,
//               leaf element = flags u32 (0 or 0x01 bucket) | pos u32 | ksize u32 | vsize u32;
//               pos counts from the element itself. A bucket value is root u64 | sequence u64,
//               root 0 = inline: a leaf page image follows in the value.
//   freelist    only when meta.freelist != 0xFFFF...FF: flags 0x10, count ids u64 (count 0xFFFF:
//               the real count is the first u64). etcd never writes one (no-freelist-sync).
//
// Rules enforced, first failure thrown as a FormatError with page and byte offset:
//   * every page reached from the root (overflow pages included) is reached exactly once:
//     a second reference, a cycle, a page inside another's overflow range all fail;
//   * reached ids are in 2..<highWaterMark, header id == position, type branch or leaf;
//   * keys are non-empty and strictly increasing in each page; a branch element's key equals
//     its child's first key, and a subtree's keys stay below the next branch key (so keys are
//     sorted across siblings); branch pages and non-root leaves are not empty;
//   * leaf element flags are 0 or 0x01; an inline bucket holds no nested bucket;
//   * with a freelist page: ids in range and listed once, no reached page free, and every page
//     below the high-water mark reached or free (bbolt's "unreachable unfreed").
// Without a freelist page (every etcd file), unreached pages are simply free: counted in
// `freePages`, as bbolt does when it rebuilds its freelist on open.

import SystemFiles

#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

/// What a full structure check found in a sound bbolt file.
package struct BoltCheckReport: Sendable, Equatable {
  /// Page size from the meta page, in bytes.
  package var pageSize: Int
  /// The active meta's high-water mark: pages 0..<highWaterMark make up the database.
  package var highWaterMark: UInt64
  /// The meta page in use (0 or 1): the valid one with the higher txid.
  package var activeMetaPageID: UInt64
  /// The active meta's transaction id.
  package var txid: UInt64
  /// A damaged meta page that bbolt tolerates because the other one is valid (at most one).
  ///
  /// bbolt (and so etcd's `snapshot status` and a starting etcd) opens such a file without a
  /// word, using the other meta; a snapshot's two metas describe the same tree. `verify`
  /// may still want to mention it.
  package var damagedMetas: [FormatError]
  /// True when the file has a freelist page (never in files etcd writes).
  package var hasFreelistPage: Bool
  /// Branch pages reached.
  package var branchPages: Int
  /// Leaf pages reached (inline bucket images not included).
  package var leafPages: Int
  /// Overflow (continuation) pages of reached branch and leaf pages.
  package var overflowPages: Int
  /// The freelist page and its overflow pages; 0 without a freelist page.
  package var freelistPages: Int
  /// Pages below the high-water mark that hold nothing: listed in the freelist, or (without a
  /// freelist page, as in every etcd file) not reached from the root. Normal, not an error.
  package var freePages: Int
  /// Buckets, nested ones included (the root bucket not counted).
  package var buckets: Int
  /// How many of `buckets` are inline (stored inside their parent's leaf).
  package var inlineBuckets: Int
  /// Key/value pairs in all buckets (bucket elements not counted).
  package var keys: Int
  /// Levels of the deepest page tree (1 = a single leaf).
  package var deepestTree: Int

  /// Pages accounted for: the two metas, tree pages with their overflow, the freelist, the free pages.
  package var accountedPages: UInt64 {
    UInt64(2 + branchPages + leafPages + overflowPages + freelistPages + freePages)
  }
}

/// Where an element lies, for error messages.
package struct BoltElementLocation: Sendable, Equatable {
  /// The file page holding the element (for an inline bucket: the page holding the bucket).
  package var pageID: UInt64
  /// Byte offset of the element's header in the file.
  package var offset: Int64
}

/// Receives the elements of every bucket, in key order, during a structure check.
///
/// The walk is depth-first: a bucket element (level L) is followed by the elements of that
/// bucket (level L + 1) before the next element of level L. Level 0 holds the root bucket's
/// elements, i.e. the top-level buckets; level 1 their keys.
package protocol BoltTreeVisitor {
  /// One element; return true to be handed its value (never for a bucket) through `value`.
  mutating func element(level: Int, key: ArraySlice<UInt8>, isBucket: Bool, valueSize: Int, at location: BoltElementLocation)
    throws(FormatError) -> Bool
  /// The next piece of the value asked for; all pieces in order, none for an empty value.
  mutating func value(_ piece: UnsafeRawBufferPointer)
}

/// A visitor that looks at nothing: a plain structure check.
package struct BoltStructureOnly: BoltTreeVisitor {
  /// Makes one.
  package init() {}
  /// Asks for no value.
  package mutating func element(
    level: Int, key: ArraySlice<UInt8>, isBucket: Bool, valueSize: Int, at location: BoltElementLocation
  ) throws(FormatError) -> Bool { false }
  /// Never called.
  package mutating func value(_ piece: UnsafeRawBufferPointer) {}
}

/// Full structure check of a bbolt file in bounded memory (see the rules at the top of the file).
///
/// Stricter than bbolt 1.3.6 (etcd 3.4/3.5), which checks only page references, bounds and
/// types: key order and branch keys are checked too, as bbolt 1.4 does (and more exactly:
/// a branch key must equal its child's first key, which bbolt relies on when it rewrites the
/// child). Memory: one page (the first `pageSize` bytes of a node) per tree level, a bitset of
/// `highWaterMark` bits, and for values handed to a visitor a 256 KiB buffer.
package enum BoltChecker {
  /// Deepest nesting of page levels and buckets followed before the file is declared corrupt.
  package static let maximumNesting = 64

  /// Opens `path` and checks it.
  package static func check(path: String) throws(FormatError) -> BoltCheckReport {
    let reader = try BoltFileReader(path: path)
    return try check(reader)
  }

  /// Checks the file behind an open reader.
  package static func check(_ reader: BoltFileReader) throws(FormatError) -> BoltCheckReport {
    var visitor = BoltStructureOnly()
    return try check(reader, visitor: &visitor)
  }

  /// Checks the file and hands every element (and the values it asks for) to `visitor`.
  ///
  /// The first problem is thrown; what the visitor saw before it is then incomplete.
  package static func check<Visitor: BoltTreeVisitor>(_ reader: BoltFileReader, visitor: inout Visitor)
    throws(FormatError) -> BoltCheckReport
  {
    var walker = BoltCheckWalker(reader: reader, visitor: visitor)
    defer { visitor = walker.visitor }  // also after a failure: what it saw up to the problem
    try walker.run()
    return walker.report
  }
}

// MARK: - The walk

/// A set of page ids below the high-water mark.
struct BoltPageBitset {
  private var words: [UInt64]

  init(count: UInt64) {
    words = [UInt64](repeating: 0, count: Int((count + 63) / 64))
  }

  func contains(_ id: UInt64) -> Bool {
    words[Int(id >> 6)] & (1 << (id & 63)) != 0
  }

  /// Adds `id`; false if it was there already.
  mutating func insert(_ id: UInt64) -> Bool {
    let index = Int(id >> 6)
    let bit: UInt64 = 1 << (id & 63)
    if words[index] & bit != 0 { return false }
    words[index] |= bit
    return true
  }

  /// Number of ids in `range` that are not in the set.
  func countMissing(in range: Range<UInt64>) -> Int {
    var missing = 0
    var id = range.lowerBound
    while id < range.upperBound {
      if id & 63 == 0, range.upperBound - id >= 64 {
        missing += 64 - words[Int(id >> 6)].nonzeroBitCount
        id += 64
      } else {
        if !contains(id) { missing += 1 }
        id += 1
      }
    }
    return missing
  }

  /// The first id in `range` not in the set.
  func firstMissing(in range: Range<UInt64>) -> UInt64? {
    var id = range.lowerBound
    while id < range.upperBound {
      if id & 63 == 0, range.upperBound - id >= 64, words[Int(id >> 6)] == .max {
        id += 64
        continue
      }
      if !contains(id) { return id }
      id += 1
    }
    return nil
  }
}

/// Where a page was referred to from: the field holding its id.
private struct BoltReference {
  var pageID: UInt64
  var offset: Int64
  var what: String
}

/// The key a page must start with (its parent's branch key), and where that key is.
private struct BoltLowerBound {
  var key: ArraySlice<UInt8>
  var branchPageID: UInt64
  var elementIndex: Int
  var offset: Int64
}

/// The key a page's keys must stay below (the next branch key of an ancestor), and where it is.
private struct BoltUpperBound {
  var key: ArraySlice<UInt8>
  var branchPageID: UInt64
  var elementIndex: Int
}

/// A leaf element as located in its page.
private struct BoltLeafEntry {
  var flags: UInt32
  var elementOffset: Int
  var keyOffset: Int
  var keySize: Int
  var valueSize: Int
}

/// Reads values beyond a page's first bytes through its own descriptor into a reused buffer.
private final class BoltValueStream {
  static let bufferSize = 256 * 1024
  let fd: Int32
  let buffer: UnsafeMutableRawBufferPointer

  init(path: String, expectedSize: Int64) throws(FormatError) {
    let fd: Int32
    do { fd = try SystemFile.openForReading(path) } catch {
      throw FormatError(path: path, message: "cannot open: \(BoltFileReader.errnoText(error.errno))")
    }
    var st = stat()
    guard fstat(fd, &st) == 0, Int64(st.st_size) == expectedSize else {
      close(fd)
      throw FormatError(path: path, message: "the file changed while it was being read (its size is no longer \(expectedSize) bytes)")
    }
    self.fd = fd
    buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: BoltValueStream.bufferSize, alignment: 64)
  }

  deinit {
    buffer.deallocate()
    close(fd)
  }

  /// Reads `count` (<= bufferSize) bytes at `offset` into the buffer; the bytes read.
  func read(count: Int, at offset: Int64, path: String, pageID: UInt64) throws(FormatError) -> UnsafeRawBufferPointer {
    let filled: Int
    do {
      filled = try SystemFile.read(fd, into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<count]), at: offset, path: path)
    } catch {
      throw FormatError(
        path: path, message: "cannot read: \(BoltFileReader.errnoText(error.errno))", pageID: pageID, offset: error.offset ?? offset)
    }
    if filled < count {
      throw FormatError(
        path: path,
        message:
          "truncated: the file ends at byte \(offset + Int64(filled)), inside data the database needs; was the file changed while reading?",
        pageID: pageID, offset: offset + Int64(filled))
    }
    return UnsafeRawBufferPointer(rebasing: buffer[0..<count])
  }
}

/// One check of one file: the state of the depth-first walk.
private struct BoltCheckWalker<Visitor: BoltTreeVisitor> {
  let reader: BoltFileReader
  var visitor: Visitor
  var report: BoltCheckReport
  let path: String
  let highWaterMark: UInt64
  let pageSize: Int
  var reached: BoltPageBitset
  var freed: BoltPageBitset?
  /// Pages on the current path from the root (for telling a cycle from a second reference).
  var ancestors: [UInt64] = []
  var valueStream: BoltValueStream?

  init(reader: BoltFileReader, visitor: Visitor) {
    self.reader = reader
    self.visitor = visitor
    path = reader.path
    highWaterMark = reader.meta.highWaterMark
    pageSize = reader.pageSize
    reached = BoltPageBitset(count: reader.meta.highWaterMark)
    report = BoltCheckReport(
      pageSize: reader.pageSize, highWaterMark: reader.meta.highWaterMark, activeMetaPageID: reader.meta.pageID,
      txid: reader.meta.txid, damagedMetas: [], hasFreelistPage: reader.meta.freelistPageID != BoltMeta.noFreelist,
      branchPages: 0, leafPages: 0, overflowPages: 0, freelistPages: 0, freePages: 0, buckets: 0, inlineBuckets: 0,
      keys: 0, deepestTree: 0)
  }

  func error(_ message: String, page: UInt64?, offset: Int64?) -> FormatError {
    FormatError(path: path, message: message + "; the file is damaged", pageID: page, offset: offset)
  }

  mutating func run() throws(FormatError) {
    let meta = reader.meta
    for (id, result) in [(UInt64(0), reader.meta0), (UInt64(1), reader.meta1)] {
      guard case .failure(let problem) = result else { continue }
      report.damagedMetas.append(
        FormatError(
          path: path,
          message:
            "meta page \(id) is damaged (\(problem)); bbolt and etcd ignore it and use meta page \(meta.pageID) (txid \(meta.txid))",
          pageID: id, offset: Int64(id) * Int64(pageSize) + Int64(problem.offsetInPage)))
    }
    _ = reached.insert(0)
    _ = reached.insert(1)
    if meta.freelistPageID != BoltMeta.noFreelist {
      try readFreelist(meta.freelistPageID)
    }

    let metaOffset = Int64(meta.pageID) * Int64(pageSize)
    try walkPage(
      meta.rootPageID,
      from: BoltReference(pageID: meta.pageID, offset: metaOffset + 32, what: "meta page \(meta.pageID) (root bucket)"),
      lower: nil, upper: nil, level: 0, treeDepth: 1, nesting: 1)

    if let freed {
      // bbolt: every page below the high-water mark is reached or free ("unreachable unfreed").
      var id: UInt64 = 2
      while let missing = reached.firstMissing(in: id..<highWaterMark) {
        id = missing + 1
        if freed.contains(missing) { continue }
        throw error(
          "page \(missing) is neither reachable from the root nor listed in the freelist (a leaked page)",
          page: missing, offset: Int64(missing) * Int64(pageSize))
      }
      report.freePages = Int(highWaterMark) - freed.countMissing(in: 0..<highWaterMark)
    } else {
      report.freePages = reached.countMissing(in: 2..<highWaterMark)
    }
  }

  // MARK: Freelist

  /// The freelist page `id`, read and checked here rather than by `BoltFileReader.page`, whose
  /// element-area check counts 16-byte elements where a freelist has 8-byte ids.
  func freelistPage(_ id: UInt64) throws(FormatError) -> BoltPage {
    let offset = Int64(id) * Int64(pageSize)
    // A page with nothing in memory yet: `bytes(in:)` then reads it from the file.
    guard let blank = BoltPageHeader([UInt8](repeating: 0, count: BoltPageHeader.byteCount), at: 0) else {
      preconditionFailure("16 bytes always decode as a page header")
    }
    let unread = BoltPage(id: id, containerID: id, header: blank, fileOffset: offset, byteCount: pageSize, head: [])
    let head = try reader.bytes(in: unread, at: 0, count: pageSize)
    guard let header = BoltPageHeader(head, at: 0) else {
      throw error("freelist page \(id) is too short", page: id, offset: offset)
    }
    guard header.id == id else {
      throw error("bad page header: freelist page \(id) says it is page \(header.id)", page: id, offset: offset)
    }
    guard header.flags == BoltPageHeader.freelistFlag else {
      throw error(
        "bad page header: the meta's freelist page \(id) has type \(BoltPageHeader.kindName(header.flags)), expected freelist",
        page: id, offset: offset + 8)
    }
    guard UInt64(header.overflow) < highWaterMark - id else {
      throw error(
        "freelist page \(id) with \(header.overflow) overflow pages runs past the high-water mark \(highWaterMark)", page: id,
        offset: offset + 12)
    }
    return BoltPage(
      id: id, containerID: id, header: header, fileOffset: offset, byteCount: (Int(header.overflow) + 1) * pageSize,
      head: head)
  }

  mutating func readFreelist(_ id: UInt64) throws(FormatError) {
    let page = try freelistPage(id)
    for pageID in id...(id + UInt64(page.header.overflow)) {
      _ = reached.insert(pageID)
    }
    report.freelistPages = Int(page.header.overflow) + 1
    var count = Int(page.header.count)
    var start = BoltPageHeader.byteCount
    if page.header.count == 0xFFFF {
      let raw = try reader.bytes(in: page, at: start, count: 8)
      let real = BoltLE.u64(raw, 0)
      guard real <= UInt64(page.byteCount / 8) else {
        throw error(
          "freelist page \(id) says it lists \(real) pages, more than fit in its \(page.byteCount) bytes", page: id,
          offset: page.fileOffset + 16)
      }
      count = Int(real)
      start += 8
    }
    guard start + 8 * count <= page.byteCount else {
      throw error(
        "freelist page \(id) lists \(count) pages, more than fit in its \(page.byteCount) bytes", page: id,
        offset: page.fileOffset + 10)
    }
    var freed = BoltPageBitset(count: highWaterMark)
    var index = 0
    while index < count {
      let batch = min(count - index, 8192)
      let raw = try reader.bytes(in: page, at: start + 8 * index, count: 8 * batch)
      for j in 0..<batch {
        let free = BoltLE.u64(raw, 8 * j)
        let offset = page.fileOffset + Int64(start + 8 * (index + j))
        guard free >= 2, free < highWaterMark else {
          throw error(
            "freelist page \(id) lists page \(free), outside the data pages 2..<\(highWaterMark)", page: id, offset: offset)
        }
        guard freed.insert(free) else {
          throw error("freelist page \(id) lists page \(free) twice", page: id, offset: offset)
        }
        guard !reached.contains(free) else {
          throw error("freelist page \(id) lists its own page \(free) as free", page: id, offset: offset)
        }
      }
      index += batch
    }
    self.freed = freed
  }

  // MARK: Pages

  mutating func walkPage(
    _ id: UInt64, from reference: BoltReference, lower: BoltLowerBound?, upper: BoltUpperBound?, level: Int, treeDepth: Int,
    nesting: Int
  ) throws(FormatError) {
    guard nesting <= BoltChecker.maximumNesting else {
      throw error(
        "pages and buckets nested deeper than \(BoltChecker.maximumNesting) levels (at \(reference.what))",
        page: reference.pageID, offset: reference.offset)
    }
    guard id >= 2 else {
      throw error("\(reference.what) refers to meta page \(id) as a data page", page: reference.pageID, offset: reference.offset)
    }
    guard id < highWaterMark else {
      throw error(
        "\(reference.what) refers to page \(id), at or past the high-water mark \(highWaterMark)", page: reference.pageID,
        offset: reference.offset)
    }
    if reached.contains(id) {
      if ancestors.contains(id) {
        throw error(
          "\(reference.what) refers back to page \(id), which is above it in the same tree (a cycle)",
          page: reference.pageID, offset: reference.offset)
      }
      throw error(
        "\(reference.what) refers to page \(id), which is already used elsewhere (a page referenced twice)",
        page: reference.pageID, offset: reference.offset)
    }
    if let freed, freed.contains(id) {
      throw error(
        "\(reference.what) refers to page \(id), which the freelist lists as free", page: reference.pageID,
        offset: reference.offset)
    }
    let page = try reader.page(id, parent: reference.pageID)
    let overflow = UInt64(page.header.overflow)
    for pageID in id...(id + overflow) {
      guard reached.insert(pageID) else {
        throw error(
          "page \(id) spans pages \(id)...\(id + overflow), but page \(pageID) is already used elsewhere (overlapping pages)",
          page: id, offset: page.fileOffset + 12)
      }
      if pageID != id, let freed, freed.contains(pageID) {
        throw error(
          "page \(id) spans pages \(id)...\(id + overflow), but the freelist lists page \(pageID) as free", page: id,
          offset: page.fileOffset + 12)
      }
    }
    report.overflowPages += Int(overflow)
    if page.isBranch { report.branchPages += 1 } else { report.leafPages += 1 }
    report.deepestTree = max(report.deepestTree, treeDepth)

    ancestors.append(id)
    defer { ancestors.removeLast() }
    try walkNode(page, lower: lower, upper: upper, level: level, treeDepth: treeDepth, nesting: nesting, inline: false)
  }

  mutating func walkNode(
    _ page: BoltPage, lower: BoltLowerBound?, upper: BoltUpperBound?, level: Int, treeDepth: Int, nesting: Int, inline: Bool
  ) throws(FormatError) {
    if page.isBranch {
      try walkBranch(page, lower: lower, upper: upper, level: level, treeDepth: treeDepth, nesting: nesting)
    } else {
      try walkLeaf(page, lower: lower, upper: upper, level: level, nesting: nesting, inline: inline)
    }
  }

  func placeName(_ page: BoltPage) -> String {
    page.id.map { "page \($0)" } ?? "the inline bucket in page \(page.containerID)"
  }

  mutating func walkBranch(
    _ page: BoltPage, lower: BoltLowerBound?, upper: BoltUpperBound?, level: Int, treeDepth: Int, nesting: Int
  ) throws(FormatError) {
    let id = page.containerID
    var current = try branchEntry(0, of: page)
    if let lower {
      try expectFirstKey(current.key, of: page, equals: lower)
    }
    for index in 0..<page.count {
      var next: (key: ArraySlice<UInt8>, child: UInt64, elementOffset: Int, keyOffset: Int)? = nil
      if index + 1 < page.count { next = try branchEntry(index + 1, of: page) }
      if let next, boltCompareKeys(current.key, next.key) >= 0 {
        throw error(
          "keys out of order in branch page \(id): element \(index + 1) has key \(boltDescribeKey(next.key)), not greater than element \(index)'s \(boltDescribeKey(current.key))",
          page: id, offset: page.fileOffset + Int64(next.keyOffset))
      }
      if next == nil, let upper, boltCompareKeys(current.key, upper.key) >= 0 {
        throw error(
          "keys out of order: the last key of branch page \(id), \(boltDescribeKey(current.key)), is not below \(boltDescribeKey(upper.key)), the key of the next subtree (element \(upper.elementIndex) of page \(upper.branchPageID))",
          page: id, offset: page.fileOffset + Int64(current.keyOffset))
      }
      let childUpper =
        next.map { BoltUpperBound(key: $0.key, branchPageID: id, elementIndex: index + 1) } ?? upper
      try walkPage(
        current.child,
        from: BoltReference(
          pageID: id, offset: page.fileOffset + Int64(current.elementOffset + 8), what: "branch page \(id) element \(index)"),
        lower: BoltLowerBound(
          key: current.key, branchPageID: id, elementIndex: index, offset: page.fileOffset + Int64(current.keyOffset)),
        upper: childUpper, level: level, treeDepth: treeDepth + 1, nesting: nesting + 1)
      if let next { current = next }
    }
  }

  /// A page's first key must be its parent's branch key for it.
  func expectFirstKey(_ key: ArraySlice<UInt8>, of page: BoltPage, equals lower: BoltLowerBound) throws(FormatError) {
    guard key != lower.key else { return }
    throw error(
      "branch page \(lower.branchPageID) element \(lower.elementIndex) has key \(boltDescribeKey(lower.key)), but its child \(placeName(page)) starts with \(boltDescribeKey(key)); a branch key must equal its child's first key",
      page: lower.branchPageID, offset: lower.offset)
  }

  mutating func walkLeaf(
    _ page: BoltPage, lower: BoltLowerBound?, upper: BoltUpperBound?, level: Int, nesting: Int, inline: Bool
  ) throws(FormatError) {
    let id = page.containerID
    guard page.count > 0 else {
      if let lower {
        throw error(
          "leaf page \(page.id ?? id) is empty but is a child of branch page \(lower.branchPageID) (element \(lower.elementIndex)); only a bucket's root leaf may be empty",
          page: id, offset: page.fileOffset + 10)
      }
      return
    }
    var previous: ArraySlice<UInt8> = []
    for index in 0..<page.count {
      let entry = try leafEntry(index, of: page)
      let key = try keyBytes(page, at: entry.keyOffset, count: entry.keySize)
      let keyOffset = page.fileOffset + Int64(entry.keyOffset)
      if index == 0 {
        if let lower { try expectFirstKey(key, of: page, equals: lower) }
      } else if boltCompareKeys(previous, key) >= 0 {
        throw error(
          "keys out of order in \(placeName(page)): element \(index) has key \(boltDescribeKey(key)), not greater than element \(index - 1)'s \(boltDescribeKey(previous))",
          page: id, offset: keyOffset)
      }
      if index == page.count - 1, let upper, boltCompareKeys(key, upper.key) >= 0 {
        throw error(
          "keys out of order: the last key of \(placeName(page)), \(boltDescribeKey(key)), is not below \(boltDescribeKey(upper.key)), the first key of the next page (element \(upper.elementIndex) of branch page \(upper.branchPageID))",
          page: id, offset: keyOffset)
      }
      previous = key

      let isBucket = entry.flags == 1
      let location = BoltElementLocation(pageID: id, offset: page.fileOffset + Int64(entry.elementOffset))
      if isBucket { report.buckets += 1 } else { report.keys += 1 }
      let wantsValue = try visitor.element(
        level: level, key: key, isBucket: isBucket, valueSize: entry.valueSize, at: location)
      if isBucket {
        try walkBucket(entry, in: page, key: key, level: level + 1, nesting: nesting + 1, inline: inline)
      } else if wantsValue {
        try streamValue(page, at: entry.keyOffset + entry.keySize, count: entry.valueSize)
      }
    }
  }

  mutating func walkBucket(
    _ entry: BoltLeafEntry, in page: BoltPage, key: ArraySlice<UInt8>, level: Int, nesting: Int, inline: Bool
  ) throws(FormatError) {
    let id = page.containerID
    let valueOffset = page.fileOffset + Int64(entry.keyOffset + entry.keySize)
    if inline {
      throw error(
        "the inline bucket in page \(id) holds a nested bucket \(boltDescribeKey(key)); bbolt only inlines buckets without nested buckets",
        page: id, offset: page.fileOffset + Int64(entry.elementOffset))
    }
    let element = BoltLeafElement(
      flags: entry.flags, keyOffset: entry.keyOffset, keySize: entry.keySize, valueSize: entry.valueSize)
    let bucket = try reader.bucket(of: element, in: page)
    if bucket.inlineOffset != nil {
      report.inlineBuckets += 1
      guard nesting <= BoltChecker.maximumNesting else {
        throw error(
          "pages and buckets nested deeper than \(BoltChecker.maximumNesting) levels", page: id, offset: valueOffset)
      }
      let image = try reader.rootPage(of: bucket)
      try walkNode(image, lower: nil, upper: nil, level: level, treeDepth: 1, nesting: nesting, inline: true)
    } else {
      try walkPage(
        bucket.root,
        from: BoltReference(pageID: id, offset: valueOffset, what: "bucket \(boltDescribeKey(key)) in page \(id)"),
        lower: nil, upper: nil, level: level, treeDepth: 1, nesting: nesting)
    }
  }

  // MARK: Elements

  /// The 16 bytes of element `index`'s header, decoded by `decode`.
  func withElementHeader<R>(
    _ index: Int, of page: BoltPage, _ decode: (UnsafeRawBufferPointer) -> R
  ) throws(FormatError) -> (R, Int) {
    let elementOffset = BoltPageHeader.byteCount + 16 * index
    if elementOffset + 16 <= page.head.count {
      let value = page.head.withUnsafeBytes { raw in
        decode(UnsafeRawBufferPointer(rebasing: raw[elementOffset..<(elementOffset + 16)]))
      }
      return (value, elementOffset)
    }
    let raw = try reader.bytes(in: page, at: elementOffset, count: 16)
    return (raw.withUnsafeBytes { decode($0) }, elementOffset)
  }

  func leafEntry(_ index: Int, of page: BoltPage) throws(FormatError) -> BoltLeafEntry {
    let ((flags, pos, keySize, valueSize), elementOffset) = try withElementHeader(index, of: page) { raw in
      (u32(raw, 0), u32(raw, 4), u32(raw, 8), u32(raw, 12))
    }
    let location = page.fileOffset + Int64(elementOffset)
    guard flags <= 1 else {
      throw error(
        "leaf element \(index) of \(placeName(page)) has flags 0x\(boltHex(UInt64(flags), width: 2)) (expected 0, or 0x01 for a bucket)",
        page: page.containerID, offset: location)
    }
    try checkKeySize(Int(keySize), index: index, of: page, at: location)
    let keyOffset = elementOffset + Int(pos)
    guard keyOffset + Int(keySize) + Int(valueSize) <= page.byteCount else {
      throw error(
        "leaf element \(index) of \(placeName(page)) points outside it (key at byte \(keyOffset), \(keySize) + \(valueSize) bytes, in \(page.byteCount) bytes)",
        page: page.containerID, offset: location)
    }
    return BoltLeafEntry(
      flags: flags, elementOffset: elementOffset, keyOffset: keyOffset, keySize: Int(keySize), valueSize: Int(valueSize))
  }

  func branchEntry(_ index: Int, of page: BoltPage) throws(FormatError) -> (
    key: ArraySlice<UInt8>, child: UInt64, elementOffset: Int, keyOffset: Int
  ) {
    let ((pos, keySize, child), elementOffset) = try withElementHeader(index, of: page) { raw in
      (u32(raw, 0), u32(raw, 4), u64(raw, 8))
    }
    let location = page.fileOffset + Int64(elementOffset)
    try checkKeySize(Int(keySize), index: index, of: page, at: location)
    let keyOffset = elementOffset + Int(pos)
    guard keyOffset + Int(keySize) <= page.byteCount else {
      throw error(
        "branch element \(index) of page \(page.containerID) points outside it (key at byte \(keyOffset), \(keySize) bytes, in \(page.byteCount) bytes)",
        page: page.containerID, offset: location)
    }
    let key = try keyBytes(page, at: keyOffset, count: Int(keySize))
    return (key, child, elementOffset, keyOffset)
  }

  func checkKeySize(_ size: Int, index: Int, of page: BoltPage, at location: Int64) throws(FormatError) {
    guard size > 0 else {
      throw error("element \(index) of \(placeName(page)) has an empty key (bbolt never stores one)", page: page.containerID, offset: location)
    }
    guard size <= BoltFileReader.maximumKeySize else {
      throw error(
        "element \(index) of \(placeName(page)) has a key of \(size) bytes, longer than bbolt allows (\(BoltFileReader.maximumKeySize))",
        page: page.containerID, offset: location)
    }
  }

  /// Key bytes: a slice of the page's first bytes when they hold it (no copy), else read.
  func keyBytes(_ page: BoltPage, at offset: Int, count: Int) throws(FormatError) -> ArraySlice<UInt8> {
    if offset + count <= page.head.count { return page.head[offset..<(offset + count)] }
    return ArraySlice(try reader.bytes(in: page, at: offset, count: count))
  }

  /// Hands `count` bytes at `offset` of `page` to the visitor: from memory, then in 256 KiB reads.
  mutating func streamValue(_ page: BoltPage, at offset: Int, count: Int) throws(FormatError) {
    let inHead = max(0, min(count, page.head.count - offset))
    if inHead > 0 {
      page.head.withUnsafeBytes { raw in
        visitor.value(UnsafeRawBufferPointer(rebasing: raw[offset..<(offset + inHead)]))
      }
    }
    var remaining = count - inHead
    guard remaining > 0 else { return }
    let stream: BoltValueStream
    if let valueStream {
      stream = valueStream
    } else {
      stream = try BoltValueStream(path: path, expectedSize: reader.fileSize)
      valueStream = stream
    }
    var position = page.fileOffset + Int64(offset + inHead)
    while remaining > 0 {
      let n = min(remaining, BoltValueStream.bufferSize)
      let piece = try stream.read(count: n, at: position, path: path, pageID: page.containerID)
      visitor.value(piece)
      remaining -= n
      position += Int64(n)
    }
  }
}

// MARK: - Helpers

private func u32(_ raw: UnsafeRawBufferPointer, _ offset: Int) -> UInt32 {
  UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
}

private func u64(_ raw: UnsafeRawBufferPointer, _ offset: Int) -> UInt64 {
  UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
}

/// Byte-wise comparison (memcmp order, a shorter prefix first): negative, zero or positive.
func boltCompareKeys(_ a: ArraySlice<UInt8>, _ b: ArraySlice<UInt8>) -> Int {
  a.withUnsafeBytes { pa in
    b.withUnsafeBytes { pb in
      let n = min(pa.count, pb.count)
      if n > 0, let x = pa.baseAddress, let y = pb.baseAddress {
        let c = memcmp(x, y, n)
        if c != 0 { return c < 0 ? -1 : 1 }
      }
      return pa.count == pb.count ? 0 : (pa.count < pb.count ? -1 : 1)
    }
  }
}

/// A key for messages: quoted when printable ASCII, else hex; long keys shortened.
func boltDescribeKey(_ key: ArraySlice<UInt8>) -> String {
  let shown = key.prefix(48)
  let more = key.count > shown.count ? "… (\(key.count) bytes)" : ""
  if shown.allSatisfy({ $0 >= 0x20 && $0 < 0x7F && $0 != 0x22 && $0 != 0x5C }) {
    return "\"" + String(decoding: shown, as: UTF8.self) + "\"" + more
  }
  return "0x" + shown.map { boltHex(UInt64($0), width: 2) }.joined() + more
}
