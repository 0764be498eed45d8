import Crypto
import EtcdFormats
import SnapshotCore
import Testing

/// WAL and `.snap` bytes against the golden vectors of docs/etcd-data-dir.md §4.5/4.6 (etcdutl 3.5.1, etcdctl 3.4.23).
@Suite("WALWriter")
struct WALWriterTests {
  static func sha256(_ bytes: [UInt8]) -> String {
    SHA256.hash(data: bytes).map { b in (b < 16 ? "0" : "") + String(b, radix: 16) }.joined()
  }

  static func defaultMembership() throws -> ClusterMembership {
    try ClusterMembership(initialCluster: "default=http://localhost:2380", token: "etcd-cluster")
  }

  @Test("CRC-32C test vector and chaining")
  func crc() {
    #expect(CRC32C.update(0, Array("123456789".utf8)) == 0xE306_9283)
    let a = Array("hello ".utf8)
    let b = Array("world".utf8)
    #expect(CRC32C.update(CRC32C.update(0, a), b) == CRC32C.update(0, a + b))
  }

  @Test("default restore WAL is byte-identical to etcdutl 3.5.1")
  func wal35() throws {
    let m = try Self.defaultMembership()
    let wal = WALWriter.restoreWAL(membership: m, localID: m.members[0].id)
    #expect(wal.bytes.count == 288)
    #expect(Self.sha256(wal.bytes) == "5d6ef1158b8cf9062b717f2d86ae1cf6ef98f09cb5a0af0f259a839ff2050928")
    #expect(Array(wal.bytes.prefix(12)) == [0x04, 0, 0, 0, 0, 0, 0, 0x84, 0x08, 0x04, 0x10, 0x00])
  }

  @Test("without conf_state the WAL is byte-identical to etcdctl 3.4.23")
  func wal34() throws {
    let m = try Self.defaultMembership()
    let wal = WALWriter.restoreWAL(membership: m, localID: m.members[0].id, confStateInSnapshotRecord: false)
    #expect(wal.bytes.count == 272)
    #expect(Self.sha256(wal.bytes) == "998433ada9e5ef3b2890ff34c680938790a190000239b88b6343e5ce66de7544")
  }

  @Test("frames are 8-byte aligned with the padding in the length field")
  func framing() throws {
    var wal = WALWriter()
    wal.append(.metadata, data: [1, 2, 3])
    // record = 08 01 10 <crc varint> 1a 03 01 02 03
    let length = Int(wal.bytes[0])
    let pad = (8 - length % 8) % 8
    #expect(wal.bytes.count == 8 + length + pad)
    #expect(wal.bytes[7] == (pad > 0 ? UInt8(0x80 | pad) : 0))
  }

  @Test("default .snap file is byte-identical to etcdctl 3.4.23 / etcdutl 3.5.1")
  func snapFile() throws {
    let m = try Self.defaultMembership()
    let bytes = RaftSnapshotFile.fileBytes(membership: m)
    #expect(bytes.count == 6490)
    #expect(Self.sha256(bytes) == "391e233526d2ed237b95d33b9d3c7975cf3db23b1913a478baacdeee4177b533")
    #expect(RaftSnapshotFile.fileName(index: 1) == "0000000000000001-0000000000000001.snap")
    #expect(WALWriter.firstFileName == "0000000000000000-0000000000000000.wal")
  }
}
