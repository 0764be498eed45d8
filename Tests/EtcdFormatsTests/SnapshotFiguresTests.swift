import EtcdFormats
import EtcdTestSupport
import Foundation
import SnapshotCore
import Testing

/// Our figures against `etcdctl snapshot status -w json` (3.4.23) and `etcdutl snapshot status -w json` (3.5.1).
@Suite("SnapshotFigures: the figures of etcd's snapshot status")
struct SnapshotFiguresTests {
  static func expectEqual(
    _ figures: SnapshotFigures, _ status: SnapshotStatus, _ what: String, sourceLocation: SourceLocation = #_sourceLocation
  ) {
    #expect(UInt64(figures.hash) == status.hash, "\(what): hash", sourceLocation: sourceLocation)
    #expect(figures.revision == status.revision, "\(what): revision", sourceLocation: sourceLocation)
    #expect(figures.totalKey == status.totalKey, "\(what): totalKey", sourceLocation: sourceLocation)
    #expect(figures.totalSize == status.totalSize, "\(what): totalSize", sourceLocation: sourceLocation)
    #expect(figures.version == "", "\(what): 3.4 and 3.5 write no storage version", sourceLocation: sourceLocation)
  }

  @Test("empty, written (deletes, a 1 MiB value) and copied member/snap/db: same figures as etcd", arguments: EtcdRelease.allCases)
  func realFiles(release: EtcdRelease) async throws {
    let f = try await EtcdFixtures.shared.fixtures(release)
    let cases: [(String, [UInt8], SnapshotStatus)] = [
      ("empty snapshot", f.emptySnapshot, f.emptyStatus),
      ("written snapshot", f.fullSnapshot, f.fullStatus),
      ("copied member/snap/db", f.copiedDB, f.copiedStatus),
    ]
    for (what, bytes, status) in cases {
      let figures = try withTemporaryFile(bytes) { try SnapshotFigures.compute(path: $0) }
      Self.expectEqual(figures, status, "\(release) \(what)")
    }
    #expect(f.fullStatus.revision == f.lastWriteRevision)
    #expect(f.emptyStatus.revision == 0)
  }

  @Test("the hash is CRC-32C of names, keys and values in order (recomputed from a plain walk)", arguments: EtcdRelease.allCases)
  func hashDefinition(release: EtcdRelease) async throws {
    let f = try await EtcdFixtures.shared.fixtures(release)
    try withTemporaryFile(f.fullSnapshot) { path in
      let reader = try BoltFileReader(path: path)
      var crc: UInt32 = 0
      var keys = 0
      for name in try reader.bucketNames() {
        crc = CRC32C.update(crc, name)
        let bucket = try #require(try reader.bucket(named: name))
        try reader.forEach(in: bucket) { (page, element) throws(FormatError) in
          crc = CRC32C.update(crc, try reader.key(of: element, in: page))
          crc = CRC32C.update(crc, try reader.value(of: element, in: page, limit: 2 << 20))
          keys += 1
        }
      }
      let (figures, report) = try SnapshotFigures.compute(BoltFileReader(path: path))
      #expect(figures.hash == crc)
      #expect(figures.totalKey == keys)
      #expect(report.keys == keys)
      #expect(report.buckets == 10)
    }
  }

  @Test("the trailer is not part of any figure; JSON uses etcdutl's names")
  func trailerAndJSON() async throws {
    let f = try await EtcdFixtures.shared.fixtures(.etcd35)
    let with = try withTemporaryFile(f.fullSnapshot) { try SnapshotFigures.compute(path: $0) }
    let without = try withTemporaryFile(Array(f.fullSnapshot.dropLast(32))) { try SnapshotFigures.compute(path: $0) }
    #expect(with == without)
    let json = String(decoding: try JSONEncoder().encode(with), as: UTF8.self)
    for field in ["\"hash\":\(with.hash)", "\"revision\":\(with.revision)", "\"totalKey\":", "\"totalSize\":", "\"version\":\"\""] {
      #expect(json.contains(field), "\(json)")
    }
    #expect(try JSONDecoder().decode(SnapshotFigures.self, from: Data(json.utf8)) == with)
  }

  @Test("synthetic files: nested and inline buckets, storage version, a plain key at the top")
  func syntheticRules() throws {
    func leaf(_ pairs: [(String, String)]) -> [BoltImageBuilder.Element] {
      pairs.map { BoltImageBuilder.Element(key: Array($0.0.utf8), value: Array($0.1.utf8)) }
    }
    var b = BoltImageBuilder()
    // `key` holds two revisions; `meta` a storage version; `nest` a nested bucket whose contents etcd does not hash.
    let keyLeaf = b.add(
      BoltImageBuilder.leafImage([
        .init(key: revisionKey(5), value: Array("five".utf8)), .init(key: revisionKey(9, tombstone: true), value: [1, 2]),
      ]))
    let root = b.add(
      BoltImageBuilder.leafImage([
        .init(flags: 1, key: Array("key".utf8), value: BoltImageBuilder.bucketValue(root: keyLeaf)),
        .init(flags: 1, key: Array("meta".utf8), value: BoltImageBuilder.inlineBucketValue(leaf([("storageVersion", "3.6.0")]))),
        .init(
          flags: 1, key: Array("nest".utf8),
          value: BoltImageBuilder.inlineBucketValue([.init(key: Array("a".utf8), value: Array("1".utf8))])),
      ]))
    let figures = try withTemporaryFile(b.build(root: root)) { try SnapshotFigures.compute(path: $0) }
    var expected = CRC32C.checksum(Array("key".utf8))
    for part in [revisionKey(5), Array("five".utf8), revisionKey(9, tombstone: true), [1, 2]] {
      expected = CRC32C.update(expected, part)
    }
    for part in ["meta", "storageVersion", "3.6.0", "nest", "a", "1"] { expected = CRC32C.update(expected, Array(part.utf8)) }
    #expect(figures == SnapshotFigures(hash: expected, revision: 9, totalKey: 4, totalSize: Int64(b.nextID) * 4096, version: "3.6.0"))

    // A nested bucket inside a top-level bucket: its name is hashed and counted, its contents are not.
    var n = BoltImageBuilder()
    let nestedLeaf = n.add(BoltImageBuilder.leafImage(leaf([("x", "1"), ("y", "2")])))
    let outer = n.add(
      BoltImageBuilder.leafImage([
        .init(key: Array("a".utf8), value: Array("v".utf8)),
        .init(flags: 1, key: Array("sub".utf8), value: BoltImageBuilder.bucketValue(root: nestedLeaf)),
      ]))
    let nroot = n.add(
      BoltImageBuilder.leafImage([.init(flags: 1, key: Array("top".utf8), value: BoltImageBuilder.bucketValue(root: outer))]))
    let (nested, report) = try withTemporaryFile(n.build(root: nroot)) { try SnapshotFigures.compute(BoltFileReader(path: $0)) }
    var nestedCRC: UInt32 = 0
    for part in ["top", "a", "v", "sub"] { nestedCRC = CRC32C.update(nestedCRC, Array(part.utf8)) }
    #expect(nested.hash == nestedCRC)
    #expect(nested.totalKey == 2)
    #expect(nested.revision == 0)
    #expect(report.buckets == 2)
    #expect(report.keys == 3)

    // A plain key among the top-level buckets: etcd's status fails ("cannot get hash of bucket").
    var p = BoltImageBuilder()
    let proot = p.add(BoltImageBuilder.leafImage(leaf([("stray", "value")])))
    let plain = try withTemporaryFile(p.build(root: proot)) { path in
      Result { () throws(FormatError) in try SnapshotFigures.compute(path: path) }
    }
    guard case .failure(let e) = plain else {
      Issue.record("a plain top-level key passed")
      return
    }
    #expect(e.message.contains("cannot get hash of bucket"))
    #expect(e.pageID == proot)

    // A key of `key` too short to be a revision.
    var s = BoltImageBuilder()
    let shortLeaf = s.add(BoltImageBuilder.leafImage(leaf([("short", "v")])))
    let sroot = s.add(
      BoltImageBuilder.leafImage([.init(flags: 1, key: Array("key".utf8), value: BoltImageBuilder.bucketValue(root: shortLeaf))]))
    let short = try withTemporaryFile(s.build(root: sroot)) { path in
      Result { () throws(FormatError) in try SnapshotFigures.compute(path: path) }
    }
    guard case .failure(let e2) = short else {
      Issue.record("a 5-byte revision key passed")
      return
    }
    #expect(e2.message.contains("an etcd revision key is 17 or 18 bytes"))
    #expect(e2.pageID == shortLeaf)
  }
}
