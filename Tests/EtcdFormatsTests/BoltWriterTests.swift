import EtcdFormats
import EtcdTestSupport
import Foundation
import SnapshotCore
import Testing

/// The bulk writer: read back with `BoltFileReader`, and bbolt's own check through etcd's `snapshot status`.
@Suite("BoltWriter")
struct BoltWriterTests {
  /// Buckets of every shape: empty, inline, one leaf, a 3-level tree, overflow values and long keys.
  static func sampleBuckets() -> [(name: [UInt8], items: [([UInt8], [UInt8])])] {
    var rng = SplitMix64(state: 42)
    let deep = (0..<20_000).map { i -> ([UInt8], [UInt8]) in
      (revision(UInt64(i + 1)), Array("value-\(i)-\(rng.next() % 1000)".utf8))
    }
    let big = [
      (Array("a".utf8), [UInt8](repeating: 7, count: 1 << 20)),
      (Array("b".utf8), [UInt8](repeating: 1, count: 10)),
      (Array("c".utf8), [UInt8](repeating: 9, count: 10_000)),
      ([UInt8](repeating: 0x64, count: 5000), Array("long key".utf8)),
    ]
    let leaf = (0..<60).map { i in (Array(String(format: "k%03d", i).utf8), [UInt8](repeating: UInt8(i), count: 40)) }
    return [
      (Array("alarm".utf8), []),
      (Array("big".utf8), big),
      (Array("inline".utf8), [(Array("x".utf8), Array("1".utf8)), (Array("y".utf8), [])]),
      (Array("key".utf8), deep),
      (Array("leaf".utf8), leaf),
    ]
  }

  static func revision(_ main: UInt64) -> [UInt8] {
    (0..<8).map { UInt8(truncatingIfNeeded: main >> UInt64(56 - 8 * $0)) } + [0x5F] + [UInt8](repeating: 0, count: 8)
  }

  static func write(_ buckets: [(name: [UInt8], items: [([UInt8], [UInt8])])], to path: String) throws -> BoltWriterSummary {
    let writer = try BoltWriter(path: path)
    for bucket in buckets {
      try writer.beginBucket(bucket.name)
      for (k, v) in bucket.items { try writer.put(key: k, value: v) }
      try writer.endBucket()
    }
    return try writer.finish()
  }

  /// Everything in the file: bucket name -> pairs, in order.
  static func readAll(_ path: String) throws -> [[UInt8]: [([UInt8], [UInt8])]] {
    let reader = try BoltFileReader(path: path)
    var result: [[UInt8]: [([UInt8], [UInt8])]] = [:]
    for name in try reader.bucketNames() {
      guard let bucket = try reader.bucket(named: name) else { continue }
      var items: [([UInt8], [UInt8])] = []
      try reader.forEach(in: bucket) { (page, element) throws(FormatError) in
        items.append((try reader.key(of: element, in: page), try reader.value(of: element, in: page, limit: 1 << 24)))
      }
      result[name] = items
    }
    return result
  }

  /// `snapshot status` hash (docs/etcd-data-dir.md §7): CRC-32C over bucket names, keys and values.
  static func statusHash(_ buckets: [(name: [UInt8], items: [([UInt8], [UInt8])])]) -> UInt32 {
    var crc: UInt32 = 0
    for b in buckets {
      crc = CRC32C.update(crc, b.name)
      for (k, v) in b.items {
        crc = CRC32C.update(crc, k)
        crc = CRC32C.update(crc, v)
      }
    }
    return crc
  }

  @Test("round trip through BoltFileReader: every bucket, key and value, with valid metas")
  func roundTrip() throws {
    let dir = try TemporaryDirectory(prefix: "bolt-writer")
    let path = dir.appending("db")
    let buckets = Self.sampleBuckets()
    let summary = try Self.write(buckets, to: path)
    let size = try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int
    #expect(size == Int(summary.highWaterMark) * 4096)
    let reader = try BoltFileReader(path: path)
    #expect(reader.pageSize == 4096)
    #expect(reader.meta.freelistPageID == UInt64.max)
    #expect(reader.meta.highWaterMark == summary.highWaterMark)
    #expect((try? reader.meta0.get().txid) == 0)
    #expect((try? reader.meta1.get().txid) == 1)
    let back = try Self.readAll(path)
    #expect(back.count == buckets.count)
    for bucket in buckets {
      let got = back[bucket.name] ?? []
      #expect(got.count == bucket.items.count)
      let same = got.elementsEqual(bucket.items) { (a: ([UInt8], [UInt8]), b: ([UInt8], [UInt8])) -> Bool in
        a.0 == b.0 && a.1 == b.1
      }
      #expect(same)
    }
    // The 20 000-entry bucket needs a 3-level tree (root branch -> branches -> leaves).
    let key = try #require(try reader.bucket(named: Array("key".utf8)))
    let root = try reader.rootPage(of: key)
    #expect(root.isBranch)
    let child = try reader.page(try reader.branchChild(0, of: root), parent: root.id)
    #expect(child.isBranch)
    #expect(try reader.lastKey(in: key) == Self.revision(20_000))
  }

  @Test("an empty database (no buckets) is valid")
  func empty() throws {
    let dir = try TemporaryDirectory(prefix: "bolt-writer-empty")
    let summary = try Self.write([], to: dir.appending("db"))
    #expect(summary.highWaterMark == 3)
    #expect(try BoltFileReader(path: dir.appending("db")).bucketNames().isEmpty)
  }

  @Test("keys out of order are refused")
  func order() throws {
    let dir = try TemporaryDirectory(prefix: "bolt-writer-order")
    let writer = try BoltWriter(path: dir.appending("db"))
    try writer.beginBucket(Array("b".utf8))
    try writer.put(key: [2], value: [])
    #expect(throws: FormatError.self) { try writer.put(key: [1], value: []) }
    #expect(throws: FormatError.self) { try writer.put(key: [2], value: []) }
    try writer.endBucket()
    #expect(throws: FormatError.self) { try writer.beginBucket(Array("a".utf8)) }
  }

  @Test("etcd's snapshot status (bbolt's check) accepts the file and agrees on hash and key count", arguments: EtcdRelease.allCases)
  func etcdStatus(release: EtcdRelease) throws {
    let dir = try TemporaryDirectory(prefix: "bolt-writer-status")
    let path = dir.appending("db")
    let buckets = Self.sampleBuckets()
    let summary = try Self.write(buckets, to: path)
    let status = try SnapshotStatus.read(path, with: release.binaries())
    #expect(status.hash == UInt64(Self.statusHash(buckets)))
    let keyCount = buckets.reduce(0) { $0 + $1.items.count }
    #expect(status.totalKey == keyCount)
    #expect(status.totalSize == Int64(summary.highWaterMark) * 4096)
    #expect(status.revision == 20_000)
  }
}
