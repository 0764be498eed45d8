// Reads who a stopped member was from its data directory (docs/etcd-data-dir.md §3.3, 4.5):
//
//   member/wal/<lowest %016x-%016x.wal>   frame = u64 LE length (low 56 bits; top byte 0x80|pad
//                                          when padded) | walpb.Record | pad
//     record 1: crc(4)       crc = running CRC before this file (0 for the very first file)
//     record 2: metadata(1)  data = etcdserverpb.Metadata{NodeID(1) varint, ClusterID(2) varint},
//                            crc = CRC-32C update of record 1's crc over data
//   member/snap/db  bucket "members": key = member ID in lower-case hex, value = member JSON
//                   {"id":…,"peerURLs":[…],"isLearner":true,"name":"…","clientURLs":[…]}
// Every WAL file etcd cuts starts with these two records, so the lowest-numbered file left
// after purging still names the member. Checked against etcd 3.4.23 and 3.5.1 data dirs.
import Foundation
import SnapshotCore
import SystemFiles

#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

/// A member as the old data directory's `members` bucket records it.
package struct RecordedMember: Sendable, Equatable {
  /// Member ID (the bucket key, hex).
  package var id: UInt64
  /// Its name (empty for a member added but never started).
  package var name: String
  /// Its peer URLs.
  package var peerURLs: [String]
  /// Whether it is a learner.
  package var isLearner: Bool

  /// The ID as etcd prints it.
  package var idHex: String { String(id, radix: 16) }
}

/// What a stopped member's data directory says about the member and its cluster.
package struct DataDirIdentity: Sendable, Equatable {
  /// The member's own ID (WAL metadata).
  package var memberID: UInt64
  /// The cluster ID (WAL metadata).
  package var clusterID: UInt64
  /// Every member of the `members` bucket, sorted by ID.
  package var members: [RecordedMember]
  /// This member's entry, if the bucket has it.
  package var local: RecordedMember? { members.first { $0.id == memberID } }
}

/// Reads a data directory's identity: the WAL's metadata record and the db's `members` bucket.
package enum DataDirInspector {
  /// Reads `dataDir/member/wal` and `dataDir/member/snap/db`.
  package static func identity(dataDir: String) throws -> DataDirIdentity {
    let (memberID, clusterID) = try WALMetadataReader.read(walDir: dataDir + "/member/wal")
    let members = try members(db: dataDir + "/member/snap/db")
    return DataDirIdentity(memberID: memberID, clusterID: clusterID, members: members)
  }

  /// The entries of the `members` bucket of the bbolt file at `path` (empty if it has none).
  package static func members(db path: String) throws -> [RecordedMember] {
    let reader = try BoltFileReader(path: path)
    guard let bucket = try reader.bucket(named: Array("members".utf8)) else { return [] }
    var raw: [([UInt8], [UInt8])] = []
    try reader.forEach(in: bucket) { (page, element) throws(FormatError) in
      guard !element.isBucket else { return }
      raw.append((try reader.key(of: element, in: page), try reader.value(of: element, in: page, limit: 1 << 20)))
    }
    struct JSONMember: Decodable {
      var name: String?
      var peerURLs: [String]?
      var isLearner: Bool?
    }
    var members: [RecordedMember] = []
    for (key, value) in raw {
      let hex = String(decoding: key, as: UTF8.self)
      guard let id = UInt64(hex, radix: 16) else {
        throw FormatError(path: path, message: "members bucket key \"\(hex)\" is not a hex member ID")
      }
      let decoded: JSONMember
      do {
        decoded = try JSONDecoder().decode(JSONMember.self, from: Data(value))
      } catch {
        throw FormatError(path: path, message: "member \(hex) in the members bucket is not member JSON: \(error)")
      }
      members.append(
        RecordedMember(
          id: id, name: decoded.name ?? "", peerURLs: decoded.peerURLs ?? [], isLearner: decoded.isLearner ?? false))
    }
    return members.sorted { $0.id < $1.id }
  }
}

/// Reads the metadata record (member and cluster ID) at the start of a WAL directory.
package enum WALMetadataReader {
  /// The `(nodeID, clusterID)` of the lowest-numbered `.wal` file in `walDir`.
  package static func read(walDir: String) throws -> (UInt64, UInt64) {
    let names: [String]
    do {
      names = try FileManager.default.contentsOfDirectory(atPath: walDir)
    } catch {
      throw SnapshotError(.io, "cannot list WAL directory \(walDir): \(error.localizedDescription)")
    }
    let wals = names.filter { $0.hasSuffix(".wal") && $0.count == 37 }.sorted()
    guard let first = wals.first else {
      throw SnapshotError(.notFound, "no WAL file (NNNNNNNNNNNNNNNN-NNNNNNNNNNNNNNNN.wal) in \(walDir)")
    }
    let path = walDir + "/" + first
    let head = try readHead(path: path, count: 64 * 1024)
    return try metadata(inWALHead: head, path: path)
  }

  /// Decodes the metadata record from the first bytes of a WAL file.
  package static func metadata(inWALHead bytes: [UInt8], path: String) throws(FormatError) -> (UInt64, UInt64) {
    var offset = 0
    var running: UInt32 = 0
    var sawCRC = false
    for _ in 0..<2 {
      guard offset + 8 <= bytes.count else {
        throw FormatError(path: path, message: "WAL ends before its metadata record", offset: Int64(offset))
      }
      var field: UInt64 = 0
      for i in 0..<8 { field |= UInt64(bytes[offset + i]) << UInt64(8 * i) }
      let length = Int(truncatingIfNeeded: field & 0x00FF_FFFF_FFFF_FFFF)
      let top = UInt8(truncatingIfNeeded: field >> 56)
      let pad = top & 0x80 != 0 ? Int(top & 7) : 0
      guard length > 0, length < 10 << 20, offset + 8 + length + pad <= bytes.count else {
        throw FormatError(
          path: path, message: "WAL record at byte \(offset) has a bad length \(length)", offset: Int64(offset))
      }
      let record = Array(bytes[(offset + 8)..<(offset + 8 + length)])
      let fields = try ProtoFields(record, path: path, offset: Int64(offset + 8))
      let type = fields.varints[1] ?? 0
      let crc = UInt32(truncatingIfNeeded: fields.varints[2] ?? 0)
      if type == 4 {
        running = crc
        sawCRC = true
      } else if type == 1 {
        let data = fields.bytes[3] ?? []
        let computed = data.withUnsafeBytes { CRC32C.update(running, $0) }
        guard !sawCRC || computed == crc else {
          throw FormatError(
            path: path, message: "WAL metadata record CRC mismatch (the WAL is damaged)", offset: Int64(offset))
        }
        let metadata = try ProtoFields(data, path: path, offset: Int64(offset + 8))
        guard let node = metadata.varints[1], node != 0 else {
          throw FormatError(path: path, message: "WAL metadata record has no member ID", offset: Int64(offset))
        }
        return (node, metadata.varints[2] ?? 0)
      }
      offset += 8 + length + pad
    }
    throw FormatError(path: path, message: "WAL does not start with a metadata record", offset: 0)
  }

  private static func readHead(path: String, count: Int) throws -> [UInt8] {
    do { return try SystemFile.readHead(path, count: count) } catch {
      throw SnapshotError(.io, "cannot \(error)")
    }
  }

}

/// The varint and length-delimited fields of one protobuf message (last value wins).
struct ProtoFields {
  var varints: [UInt64: UInt64] = [:]
  var bytes: [UInt64: [UInt8]] = [:]

  init(_ data: [UInt8], path: String, offset: Int64) throws(FormatError) {
    var i = 0
    func varint() throws(FormatError) -> UInt64 {
      var value: UInt64 = 0
      var shift: UInt64 = 0
      while i < data.count, shift < 64 {
        let b = data[i]
        i += 1
        value |= UInt64(b & 0x7F) << shift
        if b & 0x80 == 0 { return value }
        shift += 7
      }
      throw FormatError(path: path, message: "truncated protobuf varint", offset: offset + Int64(i))
    }
    while i < data.count {
      let tag = try varint()
      switch tag & 7 {
      case 0: varints[tag >> 3] = try varint()
      case 2:
        let n = try varint()
        guard n <= UInt64(data.count - i) else {
          throw FormatError(path: path, message: "truncated protobuf field", offset: offset + Int64(i))
        }
        bytes[tag >> 3] = Array(data[i..<(i + Int(n))])
        i += Int(n)
      case 1: i += 8
      case 5: i += 4
      default: throw FormatError(path: path, message: "bad protobuf wire type", offset: offset + Int64(i))
      }
    }
  }
}
