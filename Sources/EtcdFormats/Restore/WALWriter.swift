// The first WAL file of a restored member (docs/etcd-data-dir.md §4.5 and 5; byte-identical to
// etcdutl 3.5.1, and with `confStateInSnapshotRecord: false` to etcdctl 3.4.23):
//
//   file   = frame*                      name %016x-%016x.wal = (sequence, first index) = 0000000000000000-0000000000000000.wal
//   frame  = length u64 LE | walpb.Record (len bytes) | pad zero bytes
//            pad = (8 - len % 8) % 8; length = len | (0x80 | pad) << 56 when pad > 0, else len
//   Record = type(1) varint | crc(2) varint uint32 | data(3) bytes (absent for the crc record)
//   crc    = CRC-32C (Castagnoli) running over the data of every record from the start of the
//            WAL, starting at 0; each record stores the value after its own data.
//   records, members sorted by ID ascending id1 < ... < idN, local member L, cluster C:
//     crc(4) crc=0 | metadata(1) {NodeID L, ClusterID C} | snapshot(5) {index 0, term 0}
//     | entry(2) {ConfChange, term 1, index i, ConfChange{0, AddNode, id_i, member JSON}} for i = 1..N
//     | state(3) HardState{term 1, vote id1, commit N} | snapshot(5) {index N, term 1, ConfState{voters}}
//   Protobufs are proto2 as gogo writes them: scalars always, bytes only when set, repeated
//   uint64 unpacked, fields in number order.
import SnapshotCore

#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

/// A minimal proto2 encoder for the handful of etcd/raft messages a restore writes.
package enum RaftProto {
  /// Appends a varint.
  package static func varint(_ value: UInt64, into out: inout [UInt8]) {
    var v = value
    while v >= 0x80 {
      out.append(UInt8(v & 0x7F) | 0x80)
      v >>= 7
    }
    out.append(UInt8(v))
  }

  /// Appends a varint field (wire type 0).
  package static func field(_ number: UInt64, varint value: UInt64, into out: inout [UInt8]) {
    varint(number << 3, into: &out)
    varint(value, into: &out)
  }

  /// Appends a length-delimited field (wire type 2).
  package static func field(_ number: UInt64, bytes value: [UInt8], into out: inout [UInt8]) {
    varint(number << 3 | 2, into: &out)
    varint(UInt64(value.count), into: &out)
    out += value
  }

  /// raftpb.ConfState{voters (unpacked), auto_leave false}.
  package static func confState(voters: [UInt64]) -> [UInt8] {
    var out: [UInt8] = []
    for v in voters { field(1, varint: v, into: &out) }
    field(5, varint: 0, into: &out)
    return out
  }

  /// etcdserverpb.Metadata{NodeID, ClusterID}.
  package static func metadata(nodeID: UInt64, clusterID: UInt64) -> [UInt8] {
    var out: [UInt8] = []
    field(1, varint: nodeID, into: &out)
    field(2, varint: clusterID, into: &out)
    return out
  }

  /// walpb.Snapshot{index, term, conf_state if given}.
  package static func walSnapshot(index: UInt64, term: UInt64, confState: [UInt8]? = nil) -> [UInt8] {
    var out: [UInt8] = []
    field(1, varint: index, into: &out)
    field(2, varint: term, into: &out)
    if let confState { field(3, bytes: confState, into: &out) }
    return out
  }

  /// raftpb.ConfChange{ID 0, Type AddNode, NodeID, Context}.
  package static func confChangeAddNode(nodeID: UInt64, context: [UInt8]) -> [UInt8] {
    var out: [UInt8] = []
    field(1, varint: 0, into: &out)
    field(2, varint: 0, into: &out)
    field(3, varint: nodeID, into: &out)
    field(4, bytes: context, into: &out)
    return out
  }

  /// raftpb.Entry{Type, Term, Index, Data}.
  package static func entry(type: UInt64, term: UInt64, index: UInt64, data: [UInt8]) -> [UInt8] {
    var out: [UInt8] = []
    field(1, varint: type, into: &out)
    field(2, varint: term, into: &out)
    field(3, varint: index, into: &out)
    field(4, bytes: data, into: &out)
    return out
  }

  /// raftpb.HardState{term, vote, commit}.
  package static func hardState(term: UInt64, vote: UInt64, commit: UInt64) -> [UInt8] {
    var out: [UInt8] = []
    field(1, varint: term, into: &out)
    field(2, varint: vote, into: &out)
    field(3, varint: commit, into: &out)
    return out
  }
}

/// The WAL of a freshly restored member, built in memory (a few hundred bytes per member).
package struct WALWriter: Sendable {
  /// WAL record types.
  package enum RecordType: UInt64, Sendable {
    /// etcdserverpb.Metadata.
    case metadata = 1
    /// raftpb.Entry.
    case entry = 2
    /// raftpb.HardState.
    case state = 3
    /// CRC of the previous files.
    case crc = 4
    /// walpb.Snapshot.
    case snapshot = 5
  }

  /// The name of the first WAL file: sequence 0, index 0.
  package static let firstFileName = walFileName(sequence: 0, index: 0)

  /// `%016x-%016x.wal`.
  package static func walFileName(sequence: UInt64, index: UInt64) -> String {
    hex16(sequence) + "-" + hex16(index) + ".wal"
  }

  /// The file's bytes so far.
  package private(set) var bytes: [UInt8] = []
  /// The running CRC after the last record.
  package private(set) var crc: UInt32 = 0

  /// An empty WAL.
  package init() {}

  /// Appends one record; `data` nil for a record without field 3 (the crc record).
  package mutating func append(_ type: RecordType, data: [UInt8]?, crcOverride: UInt32? = nil) {
    if let data { crc = CRC32C.update(crc, data) }
    var record: [UInt8] = []
    RaftProto.field(1, varint: type.rawValue, into: &record)
    RaftProto.field(2, varint: UInt64(crcOverride ?? crc), into: &record)
    if let data { RaftProto.field(3, bytes: data, into: &record) }
    let length = UInt64(record.count)
    let pad = (8 - record.count % 8) % 8
    var field = length
    if pad > 0 { field |= UInt64(0x80 | pad) << 56 }
    for i in 0..<8 { bytes.append(UInt8(truncatingIfNeeded: field >> UInt64(8 * i))) }
    bytes += record
    bytes += [UInt8](repeating: 0, count: pad)
  }

  /// The exact record sequence of a restore (docs/etcd-data-dir.md §4.5) for `membership` and local member `localID`.
  ///
  /// `confStateInSnapshotRecord` is true for etcd 3.5/3.6 output (the native layout), false to
  /// match etcdctl 3.4 byte for byte.
  package static func restoreWAL(
    membership: ClusterMembership, localID: UInt64, confStateInSnapshotRecord: Bool = true
  ) -> WALWriter {
    var wal = WALWriter()
    wal.append(.crc, data: nil, crcOverride: 0)
    wal.append(.metadata, data: RaftProto.metadata(nodeID: localID, clusterID: membership.clusterID))
    wal.append(.snapshot, data: RaftProto.walSnapshot(index: 0, term: 0))
    let ids = membership.members.map(\.id)
    for (i, member) in membership.members.enumerated() {
      let change = RaftProto.confChangeAddNode(nodeID: member.id, context: Array(member.json.utf8))
      wal.append(.entry, data: RaftProto.entry(type: 1, term: 1, index: UInt64(i + 1), data: change))
    }
    let n = UInt64(ids.count)
    wal.append(.state, data: RaftProto.hardState(term: 1, vote: ids.first ?? 0, commit: n))
    wal.append(
      .snapshot,
      data: RaftProto.walSnapshot(
        index: n, term: 1, confState: confStateInSnapshotRecord ? RaftProto.confState(voters: ids) : nil))
    return wal
  }

  static func hex16(_ v: UInt64) -> String {
    let h = String(v, radix: 16)
    return String(repeating: "0", count: max(0, 16 - h.count)) + h
  }
}
