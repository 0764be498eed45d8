import EtcdProto

/// What `Maintenance.Status` says about the member that answered.
package struct MemberStatus: Sendable, Equatable {
  /// etcd server version, e.g. `3.5.1`.
  package var version: String
  /// Size of the backend database file in bytes (may lag behind the snapshot's real size).
  package var dbSize: Int64
  /// Bytes of the database in use.
  package var dbSizeInUse: Int64
  /// Leader's member ID; 0 when the member sees no leader.
  package var leader: UInt64
  /// Raft index and term.
  package var raftIndex: UInt64
  /// Raft term.
  package var raftTerm: UInt64
  /// Store revision at the time of the call.
  package var revision: Int64
  /// This member's ID.
  package var memberID: UInt64
  /// The cluster's ID.
  package var clusterID: UInt64
  /// True for a learner (non-voting) member.
  package var isLearner: Bool
  /// Alarms and other problems the member reports.
  package var errors: [String]

  init(_ r: EtcdStatusResponse) {
    version = r.version
    dbSize = r.dbSize
    dbSizeInUse = r.dbSizeInUse
    leader = r.leader
    raftIndex = r.raftIndex
    raftTerm = r.raftTerm
    revision = r.header.revision
    memberID = r.header.memberID
    clusterID = r.header.clusterID
    isLearner = r.isLearner
    errors = r.errors
  }

  /// Why this member should not be snapshotted, or nil when it is a healthy voter.
  package var unsuitability: String? {
    if isLearner {
      return "it is a learner (a non-voting member that may lag behind); snapshot a voting member instead"
    }
    if leader == 0 {
      return "it has no leader (it may be cut off from the cluster and hold stale data)"
    }
    if let corrupt = errors.first(where: { $0.uppercased().contains("CORRUPT") }) {
      return "it reports a corruption alarm (\(corrupt))"
    }
    return nil
  }
}
