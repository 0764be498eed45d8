import SnapshotCore

// What a restore will write, decided before anything is written (docs/etcd-data-dir.md §4.1, 4.3, 4.8):
//
//   <data-dir>/                          0700
//     member/                            0700
//       snap/                            0700
//         db                             0600  bbolt: the snapshot's buckets, members replaced,
//                                              members_removed emptied, meta/consistent_index = N,
//                                              meta/term = 1, optional bump (docs/etcd-data-dir.md §6)
//         0000000000000001-<N %016x>.snap 0644  raft snapshot with the v2 store membership
//       wal/ (or --wal-dir)              0700
//         0000000000000000-0000000000000000.wal  0600  N + 5 records
//
// N is the number of members of --initial-cluster. The layout is etcdutl 3.5's, which etcd
// 3.4.23 and 3.5.1 both start on (and 3.6 needs).
#if canImport(Glibc)
  import Glibc
#elseif canImport(Musl)
  import Musl
#elseif canImport(Darwin)
  import Darwin
#endif

/// The flags of `etcdutl snapshot restore`, with its defaults.
package struct RestoreOptions: Sendable, Equatable {
  /// `--name`: this member's name in `--initial-cluster`.
  package var name = "default"
  /// `--initial-cluster`: `name=url,...` for every member of the new cluster.
  package var initialCluster = "default=http://localhost:2380"
  /// `--initial-cluster-token`: mixed into every member ID.
  package var initialClusterToken = "etcd-cluster"
  /// `--initial-advertise-peer-urls`: comma-separated; must equal this member's URLs in `--initial-cluster`.
  package var initialAdvertisePeerURLs = "http://localhost:2380"
  /// `--data-dir`; `nil` means `<name>.etcd`. Must not exist, or be an empty directory.
  package var dataDir: String?
  /// `--wal-dir`; `nil` means `<data-dir>/member/wal`. When given it must not exist.
  package var walDir: String?
  /// `--skip-hash-check`: accept a file without etcd's SHA-256 trailer (a copied `member/snap/db`).
  package var skipHashCheck = false
  /// `--bump-revision`: add this to the snapshot's last revision (needs `markCompacted`).
  package var bumpRevision: UInt64 = 0
  /// `--mark-compacted`: mark every revision up to the bumped one as compacted (needs `bumpRevision` > 0).
  package var markCompacted = false

  /// etcdutl's defaults.
  package init() {}

  /// The data directory after defaults.
  package var resolvedDataDir: String { dataDir.flatMap { $0.isEmpty ? nil : $0 } ?? name + ".etcd" }

  /// The WAL directory after defaults.
  package var resolvedWALDir: String {
    walDir.flatMap { $0.isEmpty ? nil : $0 } ?? resolvedDataDir + "/member/wal"
  }

  /// Whether the WAL goes to a directory of its own (`--wal-dir` given).
  package var hasSeparateWALDir: Bool { walDir.map { !$0.isEmpty } ?? false }

  /// Problems of the flags themselves (no file system access); empty when they are fine.
  package func validate() -> [String] {
    var problems: [String] = []
    if name.isEmpty { problems.append("--name is empty; give this member's name from --initial-cluster") }
    if bumpRevision > 0 && !markCompacted {
      problems.append("--bump-revision needs --mark-compacted (etcd requires both together)")
    }
    if markCompacted && bumpRevision == 0 {
      problems.append("--mark-compacted needs --bump-revision > 0 (e.g. --bump-revision 1000000000)")
    }
    if bumpRevision > UInt64(Int64.max / 2) {
      problems.append("--bump-revision \(bumpRevision) is too large; revisions are int64 (1000000000 is the usual value)")
    }
    return problems
  }
}

/// Everything a restore writes, decided and checked before the first byte is written.
package struct RestorePlan: Sendable, Equatable {
  /// The options it was made from.
  package var options: RestoreOptions
  /// The new cluster's members, sorted by ID.
  package var membership: ClusterMembership
  /// This member (`--name`).
  package var local: RestoreMember
  /// Final data directory.
  package var dataDir: String
  /// Final WAL directory.
  package var walDir: String
  /// N: number of members; also the raft index and `consistent_index` of the restored member.
  package var raftIndex: UInt64 { UInt64(membership.members.count) }
  /// Name of the `.snap` file.
  package var snapFileName: String { RaftSnapshotFile.fileName(term: 1, index: raftIndex) }
  /// Name of the WAL file.
  package var walFileName: String { WALWriter.firstFileName }
}

/// Turns options into a plan, reporting every problem at once.
package enum RestorePlanner {
  /// Validates `options` (flags, membership, directories) and makes the plan.
  ///
  /// Throws one `SnapshotError(.invalidConfiguration)` listing every problem, one per line.
  package static func plan(_ options: RestoreOptions) throws(SnapshotError) -> RestorePlan {
    var problems = options.validate()
    var membership: ClusterMembership?
    do {
      membership = try ClusterMembership(initialCluster: options.initialCluster, token: options.initialClusterToken)
    } catch {
      problems += error.problems
    }
    var local: RestoreMember?
    if let membership {
      if let member = membership.member(named: options.name) {
        local = member
        var advertised: [String] = []
        for raw in options.initialAdvertisePeerURLs.split(separator: ",", omittingEmptySubsequences: true) {
          switch ClusterMembership.normalizeURL(String(raw)) {
          case .success(let url): advertised.append(url)
          case .failure(let problem): problems.append("--initial-advertise-peer-urls \"\(raw)\": \(problem)")
          }
        }
        advertised.sort { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        if advertised != member.peerURLs {
          problems.append(
            "--initial-advertise-peer-urls \(advertised.joined(separator: ",")) does not match "
              + "\(options.name)'s URLs in --initial-cluster (\(member.peerURLs.joined(separator: ","))); make them equal")
        }
      } else {
        problems.append(
          "--name \(options.name) is not in --initial-cluster (\(membership.members.map(\.name).joined(separator: ", "))); "
            + "add \(options.name)=<peer-url> or fix --name")
      }
    }
    let dataDir = options.resolvedDataDir
    let walDir = options.resolvedWALDir
    switch directoryState(dataDir) {
    case .missing, .emptyDirectory: break
    case .nonEmptyDirectory:
      problems.append("data dir \(dataDir) already exists and is not empty; choose a new --data-dir or remove it")
    case .notDirectory:
      problems.append("data dir \(dataDir) exists and is not a directory; choose a new --data-dir")
    }
    if options.hasSeparateWALDir, directoryState(walDir) != .missing {
      problems.append("wal dir \(walDir) already exists; choose a new --wal-dir or remove it")
    }
    guard problems.isEmpty, let membership, let local else {
      throw SnapshotError(.invalidConfiguration, "cannot restore:\n  " + problems.joined(separator: "\n  "))
    }
    return RestorePlan(options: options, membership: membership, local: local, dataDir: dataDir, walDir: walDir)
  }

  /// What is at a path.
  package enum DirectoryState: Sendable, Equatable {
    /// Nothing.
    case missing
    /// An empty directory.
    case emptyDirectory
    /// A directory with entries.
    case nonEmptyDirectory
    /// A file or something else.
    case notDirectory
  }

  /// Looks at `path` (following a symbolic link, as etcd does).
  package static func directoryState(_ path: String) -> DirectoryState {
    var st = stat()
    guard stat(path, &st) == 0 else { return errno == ENOENT ? .missing : .notDirectory }
    guard (st.st_mode & S_IFMT) == S_IFDIR else { return .notDirectory }
    guard let dir = opendir(path) else { return .nonEmptyDirectory }
    defer { closedir(dir) }
    while let entry = readdir(dir) {
      let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
        String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
      }
      if name != "." && name != ".." { return .nonEmptyDirectory }
    }
    return .emptyDirectory
  }
}
