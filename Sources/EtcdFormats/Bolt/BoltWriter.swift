// A bulk-load writer of a fresh, compact bbolt file from buckets and keys given in byte order.
//
// Byte layout written (all integers little-endian; docs/etcd-data-dir.md §2.1-2.8 and the
// bulk-load rules of 2.11; files read back by bbolt 1.3.6 in etcd 3.4.23 and etcd 3.5.1):
//
//   page 0, 1  meta: header(id 0|1, flags 0x04) then magic 0xED0CDAED u32 | version 2 u32 |
//              pageSize u32 | flags 0 u32 | root pgid u64 | root sequence 0 u64 |
//              freelist 0xFFFFFFFFFFFFFFFF u64 (no freelist page, as etcd runs bbolt) |
//              high-water pgid u64 | txid u64 (0 on page 0, 1 on page 1) | FNV-1a 64 of the 56 bytes before
//   page 2..   pages in the order they fill: the leaves of each non-inline bucket, then its
//              branch levels bottom-up, then the root bucket's tree last.
//   leaf      = header(id, 0x02, count, overflow) | count x (flags u32 | pos u32 | ksize u32 | vsize u32)
//               | key0 value0 key1 value1 ...   (pos measured from the element's own header)
//   branch    = header(id, 0x01, count, overflow) | count x (pos u32 | ksize u32 | child u64) | keys
//               a branch key is byte-identical to the first key of its child page.
//   bucket    = value of a root element with flag 0x01: root pgid u64 | sequence 0 u64, or for a
//               bucket whose single leaf fits in pageSize/4: 16 zero bytes + that leaf's image (id 0).
//   overflow  = a node larger than a page occupies ceil(size / pageSize) contiguous pages,
//               header.overflow = pages - 1; unused bytes are zero.
//
// Memory stays bounded: one pending leaf (one page, or one element if it alone is larger) and
// one pending branch page per tree level; pages go to disk as soon as they are full.

import SystemFiles

#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

/// What a finished `BoltWriter` wrote.
package struct BoltWriterSummary: Sendable, Equatable {
  /// Page size of the file (4096).
  package var pageSize: Int
  /// High-water mark: pages in the file (`fileSize / pageSize`).
  package var highWaterMark: UInt64
  /// Page id of the root bucket's root page.
  package var rootPageID: UInt64
  /// Number of top-level buckets.
  package var bucketCount: Int
  /// Number of key/value pairs over all buckets.
  package var keyCount: Int
}

/// Pure page images for the bulk writer: leaf, branch and meta pages as bytes.
package enum BoltPageBuilder {
  /// One leaf element: flags (0 or 0x01 for a bucket), key, value.
  package struct LeafItem: Sendable, Equatable {
    /// 0, or `0x01` when the value is a bucket value.
    package var flags: UInt32
    /// The key.
    package var key: [UInt8]
    /// The value.
    package var value: [UInt8]
    /// Makes an item.
    package init(flags: UInt32 = 0, key: [UInt8], value: [UInt8]) {
      self.flags = flags
      self.key = key
      self.value = value
    }
  }

  /// One branch element: the first key of the child page and the child's pgid.
  package struct BranchItem: Sendable, Equatable {
    /// First key of the child page.
    package var key: [UInt8]
    /// The child page.
    package var child: UInt64
  }

  /// Bytes a leaf of `items` needs (header, element headers, keys and values).
  package static func leafSize(_ items: [LeafItem]) -> Int {
    items.reduce(16) { $0 + 16 + $1.key.count + $1.value.count }
  }

  /// Pages (1 + overflow) that a node of `byteCount` bytes occupies.
  package static func pageCount(byteCount: Int, pageSize: Int) -> Int {
    max(1, (byteCount + pageSize - 1) / pageSize)
  }

  /// A leaf page image with id `id`; padded to whole pages when `padded` (not for inline buckets).
  package static func leafPage(id: UInt64, items: [LeafItem], pageSize: Int, padded: Bool = true) -> [UInt8] {
    let size = leafSize(items)
    let pages = pageCount(byteCount: size, pageSize: pageSize)
    var bytes = [UInt8](repeating: 0, count: padded ? pages * pageSize : size)
    putHeader(&bytes, id: id, flags: 0x02, count: items.count, overflow: padded ? pages - 1 : 0)
    var data = 16 + 16 * items.count
    for (i, item) in items.enumerated() {
      let element = 16 + 16 * i
      putU32(&bytes, element, item.flags)
      putU32(&bytes, element + 4, UInt32(data - element))
      putU32(&bytes, element + 8, UInt32(item.key.count))
      putU32(&bytes, element + 12, UInt32(item.value.count))
      bytes.replaceSubrange(data..<(data + item.key.count), with: item.key)
      data += item.key.count
      bytes.replaceSubrange(data..<(data + item.value.count), with: item.value)
      data += item.value.count
    }
    return bytes
  }

  /// Bytes a branch of `items` needs.
  package static func branchSize(_ items: [BranchItem]) -> Int {
    items.reduce(16) { $0 + 16 + $1.key.count }
  }

  /// A branch page image with id `id`, padded to whole pages.
  package static func branchPage(id: UInt64, items: [BranchItem], pageSize: Int) -> [UInt8] {
    let size = branchSize(items)
    let pages = pageCount(byteCount: size, pageSize: pageSize)
    var bytes = [UInt8](repeating: 0, count: pages * pageSize)
    putHeader(&bytes, id: id, flags: 0x01, count: items.count, overflow: pages - 1)
    var data = 16 + 16 * items.count
    for (i, item) in items.enumerated() {
      let element = 16 + 16 * i
      putU32(&bytes, element, UInt32(data - element))
      putU32(&bytes, element + 4, UInt32(item.key.count))
      putU64(&bytes, element + 8, item.child)
      bytes.replaceSubrange(data..<(data + item.key.count), with: item.key)
      data += item.key.count
    }
    return bytes
  }

  /// A meta page image (page `id` 0 or 1) with a valid FNV-1a checksum and no freelist page.
  package static func metaPage(
    id: UInt64, pageSize: Int, root: UInt64, highWaterMark: UInt64, txid: UInt64,
    freelist: UInt64 = BoltMeta.noFreelist
  ) -> [UInt8] {
    var bytes = [UInt8](repeating: 0, count: pageSize)
    putHeader(&bytes, id: id, flags: 0x04, count: 0, overflow: 0)
    putU32(&bytes, 16, BoltMeta.magic)
    putU32(&bytes, 20, BoltMeta.version)
    putU32(&bytes, 24, UInt32(pageSize))
    putU32(&bytes, 28, 0)
    putU64(&bytes, 32, root)
    putU64(&bytes, 40, 0)
    putU64(&bytes, 48, freelist)
    putU64(&bytes, 56, highWaterMark)
    putU64(&bytes, 64, txid)
    putU64(&bytes, 72, BoltMeta.fnv1a64(bytes[16..<72]))
    return bytes
  }

  /// The value of a bucket element: header (root, sequence 0) and, for inline buckets, the leaf image.
  package static func bucketValue(root: UInt64, inline items: [LeafItem]? = nil, pageSize: Int) -> [UInt8] {
    var bytes = [UInt8](repeating: 0, count: 16)
    putU64(&bytes, 0, root)
    if let items { bytes += leafPage(id: 0, items: items, pageSize: pageSize, padded: false) }
    return bytes
  }

  private static func putHeader(_ b: inout [UInt8], id: UInt64, flags: UInt16, count: Int, overflow: Int) {
    putU64(&b, 0, id)
    b[8] = UInt8(flags & 0xFF)
    b[9] = UInt8(flags >> 8)
    b[10] = UInt8(count & 0xFF)
    b[11] = UInt8((count >> 8) & 0xFF)
    putU32(&b, 12, UInt32(overflow))
  }

  static func putU32(_ b: inout [UInt8], _ at: Int, _ v: UInt32) {
    for i in 0..<4 { b[at + i] = UInt8(truncatingIfNeeded: v >> (8 * UInt32(i))) }
  }

  static func putU64(_ b: inout [UInt8], _ at: Int, _ v: UInt64) {
    for i in 0..<8 { b[at + i] = UInt8(truncatingIfNeeded: v >> (8 * UInt64(i))) }
  }
}

/// Writes a fresh bbolt file in one pass: `beginBucket`, `put` in key order, `endBucket`, ..., `finish`.
///
/// Buckets must come in byte order of their names and keys in byte order within a bucket (as
/// a bbolt cursor yields them); every page is written once, sequentially, as it fills, so
/// memory does not grow with the database. `finish()` writes the two meta pages, fsyncs and
/// closes; a writer dropped before `finish()` closes the file and leaves it incomplete (the
/// caller removes it). Not thread-safe.
package final class BoltWriter {
  /// Page size of every file this writer makes.
  package static let defaultPageSize = 4096
  /// bbolt's key size limit.
  package static let maximumKeySize = 32768
  /// bbolt's value size limit (2^31 - 2).
  package static let maximumValueSize = Int(Int32.max) - 1
  /// Most elements on one page (bbolt stores the count in a u16 and reserves 0xFFFF).
  package static let maximumElementsPerPage = 0xFFFE
  /// Bytes of written pages kept in memory before they go to the file in one write.
  private static let flushThreshold = 1 << 20

  /// The file being written.
  package let path: String
  /// Its page size.
  package let pageSize: Int

  private var fd: Int32
  private var nextPage: UInt64 = 2
  private var buffer: [UInt8] = []
  private var bufferStartPage: UInt64 = 2
  private var rootTree = TreeState()
  private var bucket: TreeState?
  private var bucketName: [UInt8]?
  private var previousBucketName: [UInt8]?
  private var previousKey: [UInt8]?
  private var bucketCount = 0
  private var keyCount = 0
  private var finished = false
  /// Asked at every flush; true ends the write with `FormatError.stopped`.
  private let isStopped: @Sendable () -> Bool

  /// Creates (or truncates) `path` with `mode` and prepares to write; `isStopped` (the calling
  /// task's cancellation unless given) is asked at every flush.
  package init(
    path: String, mode: mode_t = 0o600, pageSize: Int = BoltWriter.defaultPageSize,
    isStopped: @escaping @Sendable () -> Bool = { Task.isCancelled }
  ) throws(FormatError) {
    self.path = path
    self.pageSize = pageSize
    self.isStopped = isStopped
    do {
      self.fd = try SystemFile.create(path, mode: mode, exclusive: false)
    } catch {
      throw FormatError.writing(path, "cannot create: \(BoltWriter.errnoText(error.errno)); check the directory's permissions")
    }
    buffer.reserveCapacity(BoltWriter.flushThreshold + pageSize)
  }

  deinit {
    if fd >= 0 { close(fd) }
  }

  /// Starts the bucket `name`; names must be strictly increasing and no bucket may be open.
  package func beginBucket(_ name: [UInt8]) throws(FormatError) {
    guard !finished, bucket == nil else { throw usage("beginBucket while a bucket is open or after finish") }
    guard !name.isEmpty, name.count <= BoltWriter.maximumKeySize else {
      throw usage("bucket name of \(name.count) bytes; bbolt needs 1 to \(BoltWriter.maximumKeySize)")
    }
    if let previous = previousBucketName, !previous.lexicographicallyPrecedes(name) {
      throw usage("bucket \(printable(name)) is not after \(printable(previous)); buckets must come in byte order")
    }
    bucket = TreeState()
    bucketName = name
    previousKey = nil
  }

  /// Adds one key/value pair to the open bucket; keys must be strictly increasing.
  package func put(key: [UInt8], value: [UInt8]) throws(FormatError) {
    guard var state = bucket else { throw usage("put without an open bucket") }
    guard !key.isEmpty, key.count <= BoltWriter.maximumKeySize else {
      throw usage("key of \(key.count) bytes; bbolt needs 1 to \(BoltWriter.maximumKeySize)")
    }
    guard value.count <= BoltWriter.maximumValueSize else { throw usage("value of \(value.count) bytes is over bbolt's limit") }
    if let previous = previousKey, !previous.lexicographicallyPrecedes(key) {
      throw usage("key \(printable(key)) is not after \(printable(previous)) in bucket \(printable(bucketName ?? []))")
    }
    previousKey = key
    keyCount += 1
    bucket = nil  // keeps `state` uniquely referenced while it grows
    try add(BoltPageBuilder.LeafItem(key: key, value: value), to: &state)
    bucket = state
  }

  /// Ends the open bucket: inline if it fits in pageSize/4 as one leaf, else its tree is completed.
  package func endBucket() throws(FormatError) {
    guard var state = bucket, let name = bucketName else { throw usage("endBucket without an open bucket") }
    let value: [UInt8]
    if state.leavesWritten == 0 && state.leafSize <= pageSize / 4 {
      value = BoltPageBuilder.bucketValue(root: 0, inline: state.leaf, pageSize: pageSize)
    } else {
      let root = try finishTree(&state)
      value = BoltPageBuilder.bucketValue(root: root, pageSize: pageSize)
    }
    bucket = nil
    bucketName = nil
    previousBucketName = name
    bucketCount += 1
    try add(BoltPageBuilder.LeafItem(flags: 0x01, key: name, value: value), to: &rootTree)
  }

  /// Writes the root bucket's tree and both meta pages, fsyncs and closes the file.
  package func finish() throws(FormatError) -> BoltWriterSummary {
    guard !finished, bucket == nil else { throw usage("finish while a bucket is open or twice") }
    let root = try finishTree(&rootTree)
    try flushBuffer()
    let hwm = nextPage
    try pwriteAll(BoltPageBuilder.metaPage(id: 0, pageSize: pageSize, root: root, highWaterMark: hwm, txid: 0), at: 0)
    try pwriteAll(
      BoltPageBuilder.metaPage(id: 1, pageSize: pageSize, root: root, highWaterMark: hwm, txid: 1), at: Int64(pageSize))
    do { try SystemFile.sync(fd, path: path) } catch {
      throw FormatError.writing(path, "fsync failed: \(BoltWriter.errnoText(error.errno))")
    }
    let open = fd
    fd = -1
    finished = true
    do { try SystemFile.close(open, path: path) } catch {
      throw FormatError.writing(path, "close failed: \(BoltWriter.errnoText(error.errno))")
    }
    return BoltWriterSummary(
      pageSize: pageSize, highWaterMark: hwm, rootPageID: root, bucketCount: bucketCount, keyCount: keyCount)
  }

  // MARK: - Tree building

  private struct BranchLevel {
    var items: [BoltPageBuilder.BranchItem] = []
    var size = 16
    var written = 0
  }

  private struct TreeState {
    var leaf: [BoltPageBuilder.LeafItem] = []
    var leafSize = 16
    var leavesWritten = 0
    var levels: [BranchLevel] = []
  }

  private func add(_ item: BoltPageBuilder.LeafItem, to state: inout TreeState) throws(FormatError) {
    let size = 16 + item.key.count + item.value.count
    if !state.leaf.isEmpty
      && (state.leafSize + size > pageSize || state.leaf.count >= BoltWriter.maximumElementsPerPage)
    {
      try flushLeaf(&state)
    }
    state.leaf.append(item)
    state.leafSize += size
  }

  private func flushLeaf(_ state: inout TreeState) throws(FormatError) {
    let id = nextPage
    try emit(BoltPageBuilder.leafPage(id: id, items: state.leaf, pageSize: pageSize))
    let first = state.leaf.first?.key ?? []
    state.leaf.removeAll(keepingCapacity: true)
    state.leafSize = 16
    state.leavesWritten += 1
    try addBranch(BoltPageBuilder.BranchItem(key: first, child: id), level: 0, state: &state)
  }

  private func addBranch(_ item: BoltPageBuilder.BranchItem, level: Int, state: inout TreeState) throws(FormatError) {
    if state.levels.count <= level { state.levels.append(BranchLevel()) }
    let size = 16 + item.key.count
    let current = state.levels[level]
    // A branch page takes at least two children (it may overflow when keys are huge), so every
    // level is at most half as wide as the one below and the tree always ends in one root.
    if current.items.count >= 2
      && (current.size + size > pageSize || current.items.count >= BoltWriter.maximumElementsPerPage)
    {
      try flushBranch(level: level, state: &state)
    }
    state.levels[level].items.append(item)
    state.levels[level].size += size
  }

  private func flushBranch(level: Int, state: inout TreeState) throws(FormatError) {
    let items = state.levels[level].items
    let id = nextPage
    try emit(BoltPageBuilder.branchPage(id: id, items: items, pageSize: pageSize))
    state.levels[level].items.removeAll(keepingCapacity: true)
    state.levels[level].size = 16
    state.levels[level].written += 1
    try addBranch(BoltPageBuilder.BranchItem(key: items.first?.key ?? [], child: id), level: level + 1, state: &state)
  }

  /// Writes what is pending, bottom-up, and returns the root page id.
  private func finishTree(_ state: inout TreeState) throws(FormatError) -> UInt64 {
    if !state.leaf.isEmpty || state.leavesWritten == 0 { try flushLeaf(&state) }
    var level = 0
    while true {
      let current = state.levels[level]
      if current.written == 0 && current.items.count == 1 { return current.items[0].child }
      try flushBranch(level: level, state: &state)
      level += 1
    }
  }

  // MARK: - Output

  /// Appends a page image (whole pages) at `nextPage`.
  private func emit(_ page: [UInt8]) throws(FormatError) {
    buffer += page
    nextPage += UInt64(page.count / pageSize)
    if buffer.count >= BoltWriter.flushThreshold { try flushBuffer() }
  }

  private func flushBuffer() throws(FormatError) {
    guard !buffer.isEmpty else { return }
    // A stopped restore (SIGINT, SIGTERM) ends here, at the next flush, with its cleanup done by the caller.
    if isStopped() { throw FormatError.stopped(path) }
    try pwriteAll(buffer, at: Int64(bufferStartPage) * Int64(pageSize))
    buffer.removeAll(keepingCapacity: true)
    bufferStartPage = nextPage
  }

  private func pwriteAll(_ bytes: [UInt8], at offset: Int64) throws(FormatError) {
    do { try SystemFile.writeAll(fd, bytes, at: offset, path: path) } catch {
      throw FormatError.writing(
        path, "write failed: \(BoltWriter.errnoText(error.errno)); free space or fix permissions and retry",
        offset: error.offset ?? offset)
    }
  }

  private func usage(_ message: String) -> FormatError {
    FormatError(path: path, message: "bbolt writer: \(message)")
  }

  private func printable(_ bytes: [UInt8]) -> String {
    if bytes.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) { return "\"" + String(decoding: bytes, as: UTF8.self) + "\"" }
    return "0x" + bytes.map { String($0, radix: 16).leftPadded(2) }.joined()
  }

  static func errnoText(_ code: Int32) -> String { BoltFileReader.errnoText(code) }
}

extension String {
  fileprivate func leftPadded(_ width: Int) -> String {
    count >= width ? self : String(repeating: "0", count: width - count) + self
  }
}

extension FormatError {
  /// Writing `path` was stopped on request.
  static func stopped(_ path: String) -> FormatError {
    var error = FormatError(path: path, message: "stopped on request")
    error.isCancellation = true
    return error
  }

  /// A failure to write `path` (the new db), not a problem of the input.
  static func writing(_ path: String, _ message: String, offset: Int64? = nil) -> FormatError {
    var error = FormatError(path: path, message: message, offset: offset)
    error.isWriteFailure = true
    return error
  }
}
