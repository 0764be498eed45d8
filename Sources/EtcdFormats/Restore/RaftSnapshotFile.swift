// The raft snapshot file of a restored member (docs/etcd-data-dir.md §4.6; byte-identical to etcdctl
// 3.4.23 and etcdutl 3.5.1):
//
//   name     = %016x-%016x.snap = (term 1, index N)
//   file     = snappb.Snapshot{ crc(1) varint = CRC-32C(data) starting at 0, data(2) bytes }
//   data     = raftpb.Snapshot{ data(1) = v2 store JSON,
//                               metadata(2) = SnapshotMetadata{ conf_state(1) = ConfState{voters id1..idN},
//                                                               index(2) = N, term(3) = 1 } }
//   v2 JSON  = {"Root":{... "/0/members/<hex>/raftAttributes" per member ...},"WatcherHub":{...
//              Events: N create events then null up to Capacity 1000 ...},"CurrentIndex":N,
//              "Stats":{... createSuccess N ...},"CurrentVersion":2}   (no whitespace)
//   Members get creation index k = 1..N in ascending ID order; object keys in byte order.
import SnapshotCore

/// The `.snap` file a restore writes: the v2 store holding the membership, wrapped as raft and snappb want.
package enum RaftSnapshotFile {
  /// Capacity of the v2 store's event history; the Events array must have exactly this many slots.
  package static let eventCapacity = 1000

  /// `0000000000000001-<N %016x>.snap`.
  package static func fileName(term: UInt64 = 1, index: UInt64) -> String {
    WALWriter.hex16(term) + "-" + WALWriter.hex16(index) + ".snap"
  }

  /// The whole file for `membership` (term 1, index N).
  package static func fileBytes(membership: ClusterMembership) -> [UInt8] {
    let n = UInt64(membership.members.count)
    var metadata: [UInt8] = []
    RaftProto.field(1, bytes: RaftProto.confState(voters: membership.members.map(\.id)), into: &metadata)
    RaftProto.field(2, varint: n, into: &metadata)
    RaftProto.field(3, varint: 1, into: &metadata)
    var snapshot: [UInt8] = []
    RaftProto.field(1, bytes: Array(v2StoreJSON(membership: membership).utf8), into: &snapshot)
    RaftProto.field(2, bytes: metadata, into: &snapshot)
    var file: [UInt8] = []
    RaftProto.field(1, varint: UInt64(CRC32C.update(0, snapshot)), into: &file)
    RaftProto.field(2, bytes: snapshot, into: &file)
    return file
  }

  /// The v2 store JSON etcd 3.4/3.5 read the membership from.
  package static func v2StoreJSON(membership: ClusterMembership) -> String {
    let expire = "\"ExpireTime\":\"0001-01-01T00:00:00Z\""
    func node(_ path: String, _ index: Int, value: String = "\"\"", children: String) -> String {
      "{\"Path\":\(GoJSON.string(path)),\"CreatedIndex\":\(index),\"ModifiedIndex\":\(index),\(expire),"
        + "\"Value\":\(value),\"Children\":\(children)}"
    }
    let n = membership.members.count
    // Creation index by ascending numeric ID; JSON object keys by byte order of the hex IDs.
    let indexed = membership.members.enumerated().map { (k: $0.offset + 1, member: $0.element) }
    let byHex = indexed.sorted { $0.member.idHex.utf8.lexicographicallyPrecedes($1.member.idHex.utf8) }
    let memberNodes = byHex.map { item -> String in
      let path = "/0/members/" + item.member.idHex
      let ra = node(
        path + "/raftAttributes", item.k, value: GoJSON.string(item.member.raftAttributesJSON), children: "null")
      return GoJSON.string(item.member.idHex) + ":" + node(path, item.k, children: "{\"raftAttributes\":" + ra + "}")
    }
    let members = node("/0/members", 1, children: "{" + memberNodes.joined(separator: ",") + "}")
    let zero = node("/0", 0, children: "{\"members\":" + members + "}")
    let one = node("/1", 0, children: "{}")
    let root = node("/", 0, children: "{\"0\":" + zero + ",\"1\":" + one + "}")
    var events = indexed.map { item -> String in
      "{\"action\":\"create\",\"node\":{\"key\":"
        + GoJSON.string("/0/members/" + item.member.idHex + "/raftAttributes")
        + ",\"value\":" + GoJSON.string(item.member.raftAttributesJSON)
        + ",\"modifiedIndex\":\(item.k),\"createdIndex\":\(item.k)}}"
    }
    events += [String](repeating: "null", count: max(0, eventCapacity - n))
    let hub =
      "{\"EventHistory\":{\"Queue\":{\"Events\":[" + events.joined(separator: ",") + "],"
      + "\"Size\":\(n),\"Front\":0,\"Back\":\(n),\"Capacity\":\(eventCapacity)},\"StartIndex\":1,\"LastIndex\":\(n)}}"
    let statNames = [
      "getsSuccess", "getsFail", "setsSuccess", "setsFail", "deleteSuccess", "deleteFail", "updateSuccess",
      "updateFail", "createSuccess", "createFail", "compareAndSwapSuccess", "compareAndSwapFail",
      "compareAndDeleteSuccess", "compareAndDeleteFail", "expireCount", "watchers",
    ]
    let stats = "{" + statNames.map { "\"\($0)\":\($0 == "createSuccess" ? n : 0)" }.joined(separator: ",") + "}"
    return "{\"Root\":" + root + ",\"WatcherHub\":" + hub + ",\"CurrentIndex\":\(n),\"Stats\":" + stats
      + ",\"CurrentVersion\":2}"
  }
}
