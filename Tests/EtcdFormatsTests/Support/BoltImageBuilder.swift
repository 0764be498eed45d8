import EtcdFormats
import EtcdTestSupport

/// Builds small bbolt images byte by byte (test-only), following the layout of docs/etcd-data-dir.md §2, so tests
/// can make shapes real etcd rarely produces: inline key buckets, missing buckets, empty
/// leaves, cycles, odd page sizes.
struct BoltImageBuilder {
  var pageSize: Int
  /// Pages from id 2 on; each entry is a whole node image (possibly several pages long).
  private(set) var nodes: [(id: UInt64, bytes: [UInt8])] = []
  private(set) var nextID: UInt64 = 2

  init(pageSize: Int = 4096) {
    self.pageSize = pageSize
  }

  struct Element {
    var flags: UInt32 = 0
    var key: [UInt8]
    var value: [UInt8]
  }

  /// A leaf node image (header id filled in by `add`), elements in the given order.
  static func leafImage(_ elements: [Element], id: UInt64 = 0) -> [UInt8] {
    var out = header(id: id, flags: 0x02, count: elements.count, overflow: 0)
    var data: [UInt8] = []
    for (i, e) in elements.enumerated() {
      let pos = 16 * (elements.count - i) + data.count
      out += le32(e.flags) + le32(UInt32(pos)) + le32(UInt32(e.key.count)) + le32(UInt32(e.value.count))
      data += e.key + e.value
    }
    return out + data
  }

  static func branchImage(_ children: [(key: [UInt8], child: UInt64)], id: UInt64 = 0) -> [UInt8] {
    var out = header(id: id, flags: 0x01, count: children.count, overflow: 0)
    var data: [UInt8] = []
    for (i, c) in children.enumerated() {
      let pos = 16 * (children.count - i) + data.count
      out += le32(UInt32(pos)) + le32(UInt32(c.key.count)) + le64(c.child)
      data += c.key
    }
    return out + data
  }

  /// Adds a node image as the next page(s); fixes its header id and overflow; returns its id.
  @discardableResult
  mutating func add(_ image: [UInt8]) -> UInt64 {
    let id = nextID
    var bytes = image
    let pages = max(1, (bytes.count + pageSize - 1) / pageSize)
    bytes.replaceSubrange(0..<8, with: BoltImageBuilder.le64(id))
    bytes.replaceSubrange(12..<16, with: BoltImageBuilder.le32(UInt32(pages - 1)))
    bytes += [UInt8](repeating: 0, count: pages * pageSize - bytes.count)
    nodes.append((id, bytes))
    nextID += UInt64(pages)
    return id
  }

  /// A bucket value pointing at a page tree.
  static func bucketValue(root: UInt64) -> [UInt8] {
    le64(root) + le64(0)
  }

  /// An inline bucket value: 16-byte header with root 0, then a leaf page image.
  static func inlineBucketValue(_ elements: [Element]) -> [UInt8] {
    le64(0) + le64(0) + leafImage(elements)
  }

  /// The whole file: two metas (txid0 on page 0, txid1 on page 1), the nodes, optional trailer.
  func build(root: UInt64, txid0: UInt64 = 4, txid1: UInt64 = 3, trailer: Bool = false) -> [UInt8] {
    var file = metaPage(id: 0, root: root, txid: txid0) + metaPage(id: 1, root: root, txid: txid1)
    for node in nodes { file += node.bytes }
    if trailer { file += [UInt8](repeating: 0xAB, count: 32) }
    return file
  }

  func metaPage(id: UInt64, root: UInt64, txid: UInt64, checksum: UInt64? = nil) -> [UInt8] {
    var meta = le32(0xED0C_DAED) + le32(2) + le32(UInt32(pageSize)) + le32(0)
    meta += le64(root) + le64(0) + le64(.max) + le64(nextID) + le64(txid)
    meta += le64(checksum ?? BoltMeta.fnv1a64(meta))
    var page = BoltImageBuilder.header(id: id, flags: 0x04, count: 0, overflow: 0) + meta
    page += [UInt8](repeating: 0, count: pageSize - page.count)
    return page
  }

  static func header(id: UInt64, flags: UInt16, count: Int, overflow: UInt32) -> [UInt8] {
    le64(id) + [UInt8(flags & 0xFF), UInt8(flags >> 8), UInt8(count & 0xFF), UInt8(count >> 8)] + le32(overflow)
  }

  static func le32(_ v: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) } }
  static func le64(_ v: UInt64) -> [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) } }
  private func le32(_ v: UInt32) -> [UInt8] { BoltImageBuilder.le32(v) }
  private func le64(_ v: UInt64) -> [UInt8] { BoltImageBuilder.le64(v) }
}

/// An etcd revision key: main (8 bytes BE) '_' sub (8 bytes BE) [+ 't' for a tombstone].
func revisionKey(_ main: Int64, _ sub: Int64 = 0, tombstone: Bool = false) -> [UInt8] {
  var key: [UInt8] = (0..<8).reversed().map { UInt8(truncatingIfNeeded: UInt64(bitPattern: main) >> (8 * $0)) }
  key.append(0x5F)
  key += (0..<8).reversed().map { UInt8(truncatingIfNeeded: UInt64(bitPattern: sub) >> (8 * $0)) }
  if tombstone { key.append(0x74) }
  return key
}
