import EtcdFormats
import EtcdTestSupport
import Foundation
import SnapshotCore
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// Native restore: option checks, the hash rule, the files and their modes, and the oracle:
/// real etcd 3.4 and 3.5 starting on the result and serving the same data.
@Suite("RestoreEngine", .serialized)
struct RestoreEngineTests {
  static let rootUser = "root:rootpw"

  /// Restore options for a one-member cluster `m1` on 127.0.0.1:`peerPort`.
  static func singleMember(peerPort: Int, dataDir: String) -> RestoreOptions {
    let peer = "http://127.0.0.1:\(peerPort)"
    var options = RestoreOptions()
    options.name = "m1"
    options.initialCluster = "m1=\(peer)"
    options.initialAdvertisePeerURLs = peer
    options.dataDir = dataDir
    return options
  }

  // MARK: - Without etcd

  @Test("the options' problems are listed together")
  func allProblems() throws {
    let dir = try TemporaryDirectory(prefix: "restore-validate")
    try FileManager.default.createDirectory(atPath: dir.appending("full"), withIntermediateDirectories: true)
    FileManager.default.createFile(atPath: dir.appending("full/file"), contents: Data())
    var options = RestoreOptions()
    options.name = "nobody"
    options.initialCluster = "m1=http://127.0.0.1:1,m2=ftp://x:2"
    options.bumpRevision = 5
    options.dataDir = dir.appending("full")
    do {
      _ = try RestorePlanner.plan(options)
      Issue.record("expected an error")
    } catch {
      #expect(error.code == .invalidConfiguration)
      #expect(error.message.contains("--mark-compacted"))
      #expect(error.message.contains("ftp"))
      #expect(error.message.contains("not empty"))
    }
    var mismatch = RestoreOptions()
    mismatch.dataDir = dir.appending("new")
    mismatch.initialAdvertisePeerURLs = "http://localhost:2390"
    #expect(throws: SnapshotError.self) { try RestorePlanner.plan(mismatch) }
  }

  @Test("defaults are etcdutl's")
  func defaults() throws {
    let options = RestoreOptions()
    #expect(options.resolvedDataDir == "default.etcd")
    #expect(options.resolvedWALDir == "default.etcd/member/wal")
    #expect(options.initialClusterToken == "etcd-cluster")
    #expect(!options.skipHashCheck)
  }

  // MARK: - With a real snapshot

  @Test("a stopped restore (its task cancelled, as SIGINT/SIGTERM do) ends with nothing left", arguments: [true, false])
  func cancelled(skipHash: Bool) async throws {
    let fixture = try await RestoreFixtures.shared.fixture(.etcd35)
    let dir = try TemporaryDirectory(prefix: "restore-cancel")
    let files = try fixture.write(into: dir)
    var options = RestoreOptions()
    options.dataDir = dir.appending("stopped")
    options.skipHashCheck = skipHash
    let stoppedOptions = options
    let snapshot = files.snapshot
    let outcome = await withTaskGroup(of: (any Error)?.self) { group in
      group.addTask {
        // Runs on only once cancelled: the restore then starts in a cancelled task.
        try? await Task.sleep(for: .seconds(600))
        do {
          _ = try RestoreEngine.restore(snapshot: snapshot, options: stoppedOptions)
          return nil
        } catch {
          return error
        }
      }
      group.cancelAll()
      return await group.next() ?? nil
    }
    let error = try #require(outcome, "the restore ran to the end although it was stopped")
    let stopped = (error as? SnapshotError)?.code == .cancelled || (error as? FormatError)?.isCancellation == true
    #expect(stopped, "\(error)")
    let left = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasPrefix("stopped") }
    #expect(left.isEmpty, "no data dir and no temporary: \(left)")
  }

  @Test("hash rule, layout, modes, atomicity", arguments: [EtcdRelease.etcd35])
  func files(release: EtcdRelease) async throws {
    let fixture = try await RestoreFixtures.shared.fixture(release)
    let dir = try TemporaryDirectory(prefix: "restore-files")
    let files = try fixture.write(into: dir)
    // A saved snapshot restores; the layout and modes are etcd's.
    var options = RestoreOptions()
    options.dataDir = dir.appending("ok")
    let result = try RestoreEngine.restore(snapshot: files.snapshot, options: options)
    #expect(result.hashVerified)
    #expect(result.revision == fixture.revision)
    #expect(result.member.idHex == "8e9e05c52164694d")
    #expect(String(result.clusterID, radix: 16) == "cdf818194e3a8c32")
    for (path, mode) in [
      ("", 0o700), ("/member", 0o700), ("/member/snap", 0o700), ("/member/wal", 0o700), ("/member/snap/db", 0o600),
      ("/member/snap/0000000000000001-0000000000000001.snap", 0o644),
      ("/member/wal/0000000000000000-0000000000000000.wal", 0o600),
    ] {
      let attributes = try FileManager.default.attributesOfItem(atPath: dir.appending("ok") + path)
      #expect((attributes[.posixPermissions] as? Int) == mode, "\(path)")
    }
    let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.contains(".tmp-") }
    #expect(leftovers.isEmpty)
    // etcd's own status accepts the db and counts what it should.
    let status = try SnapshotStatus.read(dir.appending("ok/member/snap/db"), with: release.binaries())
    #expect(status.revision == fixture.revision)

    // A non-empty data dir is refused.
    #expect(throws: SnapshotError.self) { try RestoreEngine.restore(snapshot: files.snapshot, options: options) }

    // A copied db has no trailer: refused without --skip-hash-check, accepted with it.
    options.dataDir = dir.appending("copied")
    #expect(throws: SnapshotError.self) { try RestoreEngine.restore(snapshot: files.copiedDB, options: options) }
    #expect(!FileManager.default.fileExists(atPath: dir.appending("copied")))
    options.skipHashCheck = true
    let copied = try RestoreEngine.restore(snapshot: files.copiedDB, options: options)
    #expect(!copied.hashVerified)

    // One flipped byte fails the hash check and leaves nothing behind.
    var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: files.snapshot)))
    bytes[5000] ^= 0x01
    let damaged = dir.appending("damaged.db")
    try Data(bytes).write(to: URL(fileURLWithPath: damaged))
    options.skipHashCheck = false
    options.dataDir = dir.appending("damaged")
    do {
      _ = try RestoreEngine.restore(snapshot: damaged, options: options)
      Issue.record("expected a hash error")
    } catch let error as SnapshotError {
      #expect(error.code == .corrupt)
      #expect(error.message.hasPrefix("expected sha256 "))
    }
    #expect(!FileManager.default.fileExists(atPath: dir.appending("damaged")))

    // A failure while writing (here: a data dir whose parent cannot be created) leaves no temporary behind.
    FileManager.default.createFile(atPath: dir.appending("plainfile"), contents: Data())
    options.dataDir = dir.appending("plainfile/sub/data")
    #expect(throws: (any Error).self) { try RestoreEngine.restore(snapshot: files.snapshot, options: options) }
    let after = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.contains(".tmp-") }
    #expect(after.isEmpty)
  }

  @Test("WAL and .snap are byte-identical to etcd's own restore; the db is logically identical", arguments: EtcdRelease.allCases)
  func sameAsEtcd(release: EtcdRelease) async throws {
    let fixture = try await RestoreFixtures.shared.fixture(release)
    let dir = try TemporaryDirectory(prefix: "restore-golden-\(release.rawValue)")
    let files = try fixture.write(into: dir)
    // Odd names, a member with two URLs, IPv6.
    let name = "we<i&rd\"n"
    let cluster = "\(name)=http://127.0.0.1:2380,b=http://[::1]:2390,c=https://10.0.0.3:2380,c=https://10.0.0.4:2380"
    var options = RestoreOptions()
    options.name = name
    options.initialCluster = cluster
    options.initialAdvertisePeerURLs = "http://127.0.0.1:2380"
    options.initialClusterToken = "tøken"
    options.dataDir = dir.appending("native")
    let native = try RestoreEngine.restore(snapshot: files.snapshot, options: options)
    let tool = try release.binaries().snapshotTool
    try TestProcess.check(
      tool,
      [
        "snapshot", "restore", files.snapshot, "--name", name, "--initial-cluster", cluster,
        "--initial-advertise-peer-urls", "http://127.0.0.1:2380", "--initial-cluster-token", "tøken",
        "--data-dir", dir.appending("etcd"),
      ], environment: EtcdServer.cleanEnvironment)
    let snapName = "/member/snap/0000000000000001-0000000000000003.snap"
    let ours = try Data(contentsOf: URL(fileURLWithPath: dir.appending("native") + snapName))
    let theirs = try Data(contentsOf: URL(fileURLWithPath: dir.appending("etcd") + snapName))
    #expect(ours == theirs)
    let walName = "/member/wal/0000000000000000-0000000000000000.wal"
    let theirWAL = try [UInt8](Data(contentsOf: URL(fileURLWithPath: dir.appending("etcd") + walName)))
    let expected: [UInt8]
    if release == .etcd34 {
      // etcdctl 3.4 writes no conf_state in the last record; the native layout is 3.5's.
      let membership = try ClusterMembership(initialCluster: cluster, token: "tøken")
      expected = WALWriter.restoreWAL(membership: membership, localID: native.member.id, confStateInSnapshotRecord: false).bytes
    } else {
      expected = try [UInt8](Data(contentsOf: URL(fileURLWithPath: dir.appending("native") + walName)))
    }
    #expect(Array(theirWAL.prefix(expected.count)) == expected)
    #expect(theirWAL.dropFirst(expected.count).allSatisfy { $0 == 0 })
    if release == .etcd35 {
      // etcdutl 3.5 makes the same bucket changes, so etcd's own status hash (CRC over every bucket, key, value) agrees.
      let a = try SnapshotStatus.read(dir.appending("native/member/snap/db"), with: release.binaries())
      let b = try SnapshotStatus.read(dir.appending("etcd/member/snap/db"), with: release.binaries())
      #expect(a.hash == b.hash)
      #expect(a.totalKey == b.totalKey)
      #expect(a.revision == b.revision)
    }
  }

  @Test(
    "etcd starts on the restored dir and serves the same keys, revisions, leases, users; writes survive a restart",
    arguments: [
      (EtcdRelease.etcd34, EtcdRelease.etcd34), (EtcdRelease.etcd34, EtcdRelease.etcd35),
      (EtcdRelease.etcd35, EtcdRelease.etcd35), (EtcdRelease.etcd35, EtcdRelease.etcd34),
    ])
  func singleMember(source: EtcdRelease, server: EtcdRelease) async throws {
    let fixture = try await RestoreFixtures.shared.fixture(source)
    let dir = try TemporaryDirectory(prefix: "restore-\(source.rawValue)-on-\(server.rawValue)")
    let files = try fixture.write(into: dir)
    let peerPort = try freeLoopbackPort()
    let options = Self.singleMember(peerPort: peerPort, dataDir: dir.appending("data"))
    let result = try RestoreEngine.restore(snapshot: files.snapshot, options: options)
    #expect(result.revision == fixture.revision)

    var started = EtcdServer.Options()
    started.peerPort = peerPort
    started.dataDir = result.dataDir
    started.client = source
    started.user = RestoreEngineTests.rootUser
    var member = try await EtcdServer(server, started)
    #expect(fixture.state.kvs.count > 2800)
    #expect(fixture.state.kvs.contains { $0.key == Data("big".utf8).base64EncodedString() && ($0.value?.count ?? 0) > 1_000_000 })
    #expect(fixture.state.leases.count == 1)
    let state = try ServedState.read(member, user: RestoreEngineTests.rootUser)
    #expect(state.revision == fixture.state.revision)
    #expect(state.kvs == fixture.state.kvs, "keys, values, create/mod revisions and versions")
    #expect(state.kvs.count == fixture.state.kvs.count)
    #expect(state.leases == fixture.state.leases)
    #expect(state.auth == fixture.state.auth)
    // Auth is still enabled, with the same passwords and permissions.
    let env = EtcdServer.cleanEnvironment
    let anonymous = try TestProcess.run(member.etcdctl, ["--endpoints", member.clientURL, "get", "k/1"], environment: env)
    #expect(anonymous.status != 0)
    let alice = ["--endpoints", member.clientURL, "--user", "alice:alicepw"]
    #expect(try TestProcess.run(member.etcdctl, alice + ["get", "k/1"], environment: env).status == 0)
    #expect(try TestProcess.run(member.etcdctl, alice + ["put", "k/1", "x"], environment: env).status != 0)
    let status = try member.endpointStatus()
    #expect(status.memberID == result.member.id)
    #expect(status.clusterID == result.clusterID)

    // A write gets the next revision and survives a restart.
    try member.ctl(["put", "after-restore", "yes"])
    #expect(try ServedState.read(member, user: RestoreEngineTests.rootUser).revision == fixture.revision + 1)
    member.stop()
    member = try await EtcdServer(server, started)
    let again = try member.ctl(["get", "after-restore", "--print-value-only"])
    #expect(again.trimmingCharacters(in: .whitespacesAndNewlines) == "yes")
    #expect(try ServedState.read(member, user: RestoreEngineTests.rootUser).revision == fixture.revision + 1)
    member.stop()
    // bbolt's check still passes after etcd wrote to our pages.
    _ = try SnapshotStatus.read(result.dataDir + "/member/snap/db", with: server.binaries())
  }

  @Test("--bump-revision with --mark-compacted: revision jumps, older revisions are compacted", arguments: [EtcdRelease.etcd35])
  func bump(release: EtcdRelease) async throws {
    let fixture = try await RestoreFixtures.shared.fixture(release)
    let dir = try TemporaryDirectory(prefix: "restore-bump")
    let files = try fixture.write(into: dir)
    let peerPort = try freeLoopbackPort()
    var options = Self.singleMember(peerPort: peerPort, dataDir: dir.appending("data"))
    options.bumpRevision = 1000
    options.markCompacted = true
    let result = try RestoreEngine.restore(snapshot: files.snapshot, options: options)
    #expect(result.revision == fixture.revision + 1000)
    var started = EtcdServer.Options()
    started.peerPort = peerPort
    started.dataDir = result.dataDir
    started.user = RestoreEngineTests.rootUser
    let member = try await EtcdServer(release, started)
    defer { member.stop() }
    #expect(try member.endpointStatus().revision == fixture.revision + 1000)
    let old = try member.run(["get", "k/1", "--rev", "\(fixture.revision)"])
    #expect(old.status != 0 && (old.stderr + old.stdout).contains("compacted"))
    try member.ctl(["put", "after-bump", "1"])
    #expect(try member.endpointStatus().revision == fixture.revision + 1001)
    #expect(try member.ctl(["get", "k/1", "--print-value-only"]).contains("second-1"))
  }

  @Test("three members restored from one snapshot form one healthy cluster", arguments: EtcdRelease.allCases)
  func threeMembers(release: EtcdRelease) async throws {
    let fixture = try await RestoreFixtures.shared.fixture(release)
    let dir = try TemporaryDirectory(prefix: "restore-cluster-\(release.rawValue)")
    let files = try fixture.write(into: dir)
    let names = ["m1", "m2", "m3"]
    var peerPorts: [Int] = []
    for _ in names { peerPorts.append(try freeLoopbackPort()) }
    let peers = peerPorts.map { "http://127.0.0.1:\($0)" }
    let cluster = zip(names, peers).map { "\($0)=\($1)" }.joined(separator: ",")
    var results: [RestoreResult] = []
    for (name, peer) in zip(names, peers) {
      var options = RestoreOptions()
      options.name = name
      options.initialCluster = cluster
      options.initialAdvertisePeerURLs = peer
      options.initialClusterToken = "restore-test"
      options.dataDir = dir.appending(name)
      results.append(try RestoreEngine.restore(snapshot: files.snapshot, options: options))
    }
    #expect(Set(results.map(\.clusterID)).count == 1)
    // Each member waits for a quorum before it answers: start them together.
    let members = try await withThrowingTaskGroup(of: (Int, EtcdServer).self) { group in
      for (i, name) in names.enumerated() {
        var started = EtcdServer.Options()
        started.name = name
        started.peerPort = peerPorts[i]
        started.initialCluster = cluster
        started.dataDir = results[i].dataDir
        started.user = RestoreEngineTests.rootUser
        group.addTask { (i, try await EtcdServer(release, started)) }
      }
      var started: [(Int, EtcdServer)] = []
      for try await member in group { started.append(member) }
      return started.sorted { $0.0 < $1.0 }.map(\.1)
    }
    defer { for m in members { m.stop() } }
    let list = try members[0].ctl(["member", "list", "-w", "json"])
    struct MemberList: Decodable {
      struct Header: Decodable {
        var clusterID: UInt64
        enum CodingKeys: String, CodingKey { case clusterID = "cluster_id" }
      }
      struct Member: Decodable {
        var id: UInt64
        var name: String?
        enum CodingKeys: String, CodingKey {
          case id = "ID"
          case name
        }
      }
      var header: Header
      var members: [Member]
    }
    let parsed = try JSONDecoder().decode(MemberList.self, from: Data(list.utf8))
    #expect(parsed.header.clusterID == results[0].clusterID)
    #expect(Set(parsed.members.map(\.id)) == Set(results[0].members.map(\.id)))
    var leaders = Set<UInt64>()
    for m in members {
      let status = try m.endpointStatus()
      #expect(status.clusterID == results[0].clusterID)
      #expect(status.revision == fixture.revision)
      leaders.insert(status.leader)
    }
    #expect(leaders.count == 1)
    #expect(leaders.allSatisfy { $0 != 0 })
    try members[0].ctl(["put", "replicated", "yes"])
    for m in members {
      let value = try m.ctl(["get", "replicated", "--print-value-only", "--consistency", "l"])
      #expect(value.contains("yes"))
    }
    let replicatedKey = Data("replicated".utf8).base64EncodedString()
    let third = try ServedState.read(members[2], user: RestoreEngineTests.rootUser)
    #expect(third.kvs.filter { $0.key != replicatedKey } == fixture.state.kvs)
  }
}

// MARK: - Fixtures

/// A snapshot made by one real etcd (kept in memory, a few MB), with what that etcd served when it was taken.
struct RestoreFixture: Sendable {
  var snapshot: Data
  var copiedDB: Data
  var revision: Int64
  var state: ServedState

  /// Writes the snapshot and the copied db into `dir` for one test.
  func write(into dir: TemporaryDirectory) throws -> (snapshot: String, copiedDB: String) {
    let paths = (snapshot: dir.appending("fixture-snapshot.db"), copiedDB: dir.appending("fixture-copied.db"))
    try snapshot.write(to: URL(fileURLWithPath: paths.snapshot))
    try copiedDB.write(to: URL(fileURLWithPath: paths.copiedDB))
    return paths
  }
}

/// Makes each release's snapshot once per test process.
actor RestoreFixtures {
  static let shared = RestoreFixtures()
  private var made: [EtcdRelease: Task<RestoreFixture, any Error>] = [:]

  func fixture(_ release: EtcdRelease) async throws -> RestoreFixture {
    if let task = made[release] { return try await task.value }
    let task = Task { try await Self.make(release) }
    made[release] = task
    return try await task.value
  }

  /// 3000 keys, overwrites, deletes, a 1 MB value, a lease with two keys, users and roles, auth on.
  static func make(_ release: EtcdRelease) async throws -> RestoreFixture {
    let dir = try TemporaryDirectory(prefix: "restore-fixture-\(release.rawValue)")
    let server = try await EtcdServer(release)
    try server.putKeys(prefix: "k/", count: 3000)
    for i in 0..<50 { try server.ctl(["put", "k/\(i)", "second-\(i)"]) }
    try server.ctl(["del", "k/10"])
    try server.ctl(["del", "--prefix", "k/20"])
    let big = String(repeating: "0123456789abcdef", count: 65536)
    let put = try TestProcess.run(
      server.binaries.etcdctl, server.connectionArguments + ["put", "big"], environment: EtcdServer.cleanEnvironment,
      stdin: big)
    guard put.status == 0 else { throw HarnessError("put big failed: \(put)") }
    let granted = try server.ctl(["lease", "grant", "3600"])
    guard let id = granted.split(separator: " ").dropFirst().first.map(String.init) else {
      throw HarnessError("no lease id in \(granted)")
    }
    try server.ctl(["put", "--lease=\(id)", "leased/a", "1"])
    try server.ctl(["put", "--lease=\(id)", "leased/b", "2"])
    try server.ctl(["role", "add", "reader"])
    try server.ctl(["role", "grant-permission", "reader", "read", "k/", "--prefix=true"])
    try server.ctl(["user", "add", "root:rootpw", "--interactive=false"])
    try server.ctl(["user", "grant-role", "root", "root"])
    try server.ctl(["user", "add", "alice:alicepw", "--interactive=false"])
    try server.ctl(["user", "grant-role", "alice", "reader"])
    try server.ctl(["auth", "enable"])
    try server.ctl(["put", "after-auth", "x"], user: RestoreEngineTests.rootUser)
    let state = try ServedState.read(server, user: RestoreEngineTests.rootUser)
    let snapshot = dir.appending("snapshot.db")
    try server.ctl(["snapshot", "save", snapshot], user: RestoreEngineTests.rootUser)
    server.stop()
    let copied = dir.appending("copied.db")
    try FileManager.default.copyItem(atPath: server.dataDir + "/member/snap/db", toPath: copied)
    return RestoreFixture(
      snapshot: try Data(contentsOf: URL(fileURLWithPath: snapshot)), copiedDB: try Data(contentsOf: URL(fileURLWithPath: copied)),
      revision: state.revision, state: state)
  }
}

/// What a server serves: every key with its revisions, the store revision, leases and auth.
struct ServedState: Sendable, Equatable {
  struct KV: Decodable, Sendable, Equatable {
    var key: String
    var createRevision: Int64
    var modRevision: Int64
    var version: Int64
    var value: String?
    var lease: Int64?
    enum CodingKeys: String, CodingKey {
      case key, version, value, lease
      case createRevision = "create_revision"
      case modRevision = "mod_revision"
    }
  }
  var revision: Int64
  var kvs: [KV]
  /// `lease list` ids with granted TTL and attached keys.
  var leases: [String]
  /// `user list`, `role list`, `user get`, `role get` outputs.
  var auth: [String]

  static func read(_ ctl: (_ arguments: [String]) throws -> String) throws -> ServedState {
    struct Range: Decodable {
      struct Header: Decodable { var revision: Int64 }
      var header: Header
      var kvs: [KV]?
    }
    let range = try JSONDecoder().decode(Range.self, from: Data(ctl(["get", "--prefix", "", "-w", "json"]).utf8))
    let leaseIDs = try ctl(["lease", "list"]).split(separator: "\n").dropFirst().map(String.init).sorted()
    var leases: [String] = []
    for id in leaseIDs {
      struct TTL: Decodable {
        var id: Int64
        var grantedTTL: Int64
        var keys: [String]?
        enum CodingKeys: String, CodingKey {
          case id
          case grantedTTL = "granted-ttl"
          case keys
        }
      }
      let ttl = try JSONDecoder().decode(TTL.self, from: Data(ctl(["lease", "timetolive", id, "--keys", "-w", "json"]).utf8))
      leases.append("\(id) id=\(ttl.id) granted=\(ttl.grantedTTL) keys=\((ttl.keys ?? []).sorted())")
    }
    let auth = try [
      ctl(["user", "list"]), ctl(["role", "list"]), ctl(["user", "get", "alice"]), ctl(["user", "get", "root"]),
      ctl(["role", "get", "reader"]),
    ]
    return ServedState(revision: range.header.revision, kvs: range.kvs ?? [], leases: leases, auth: auth)
  }

  static func read(_ server: EtcdServer, user: String) throws -> ServedState {
    try read { try server.ctl($0, user: user) }
  }

}
