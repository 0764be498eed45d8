import EtcdTestSupport
import Foundation
import Testing

/// `restore` with the built executable; the oracle is a real etcd starting on the result.
@Suite("native restore", .serialized)
struct RestoreTests {
  /// A source server with keys, overwrites, deletes, a big value and a lease with keys.
  func source(_ release: EtcdRelease) async throws -> EtcdServer {
    let server = try await EtcdServer(release)
    try server.putKeys(prefix: "/registry/pods/", count: 3000)
    try server.putKeys(prefix: "/registry/pods/", count: 50)  // overwrites: versions > 1
    try server.ctl(["del", "--prefix", "/registry/pods/10"])
    try server.ctl(["put", "/registry/big", String(repeating: "v", count: 120_000)])
    let grant = try server.ctl(["lease", "grant", "3600"])
    let leaseID = try #require(grant.split(separator: " ").dropFirst().first.map(String.init))
    try server.ctl(["put", "/registry/leases/a", "1", "--lease=\(leaseID)"])
    try server.ctl(["put", "/registry/leases/b", "2", "--lease=\(leaseID)"])
    return server
  }

  @Test(
    "a snapshot we saved, restored natively, serves the same keys, revisions and leases on etcd 3.4 and 3.5",
    arguments: EtcdRelease.allCases)
  func roundTrip(release: EtcdRelease) async throws {
    let server = try await source(release)
    let expected = try server.dump()
    let leases = try server.ctl(["lease", "list"])
    let work = try TemporaryDirectory(prefix: "restore")
    let dir = work.appending("snaps")
    let saved = try Tool.save(server, dir: dir)
    try #require(saved.status == 0, "\(saved)")
    let name = try #require(try Tool.list(dir).first?.name)

    for target in EtcdRelease.allCases {
      let peerPort = try freeLoopbackPort()
      let peer = "http://127.0.0.1:\(peerPort)"
      let dataDir = work.appending("restored-\(target.rawValue)")
      let r = try Tool.run([
        "restore", name, "--dir", dir, "--data-dir", dataDir, "--name", "m1", "--initial-cluster", "m1=\(peer)",
        "--initial-advertise-peer-urls", peer,
      ])
      try #require(r.status == 0, "\(r)")
      #expect(r.stdout.hasPrefix(dataDir + "\n"), "\(r)")
      #expect(r.stdout.contains("SHA-256 verified"))
      #expect(try mode(dataDir) == 0o700)
      #expect(try mode(dataDir + "/member/snap/db") == 0o600)

      var options = EtcdServer.Options()
      options.dataDir = dataDir
      options.peerPort = peerPort
      let restored = try await EtcdServer(target, options)
      #expect(try restored.dump() == expected, "\(release) snapshot on \(target): every key, value, revision, version and lease")
      #expect(try restored.ctl(["lease", "list"]) == leases)
      try restored.ctl(["put", "/after-restore", "x"])
      #expect(try restored.revision() == expected.header.revision + 1)
    }
  }

  /// Puts binary keys and an empty value through etcd's JSON gateway (etcdctl cannot).
  static let putRaw = """
    import base64, json, sys, urllib.request
    url = sys.argv[1]
    def put(k, v):
        body = json.dumps({"key": base64.b64encode(k).decode(), "value": base64.b64encode(v).decode()}).encode()
        req = urllib.request.Request(url + "/v3/kv/put", data=body, headers={"Content-Type": "application/json"})
        urllib.request.urlopen(req, timeout=30).read()
    put(bytes([0, 255, 1, 254]), b"binary key")
    put(b"/bin/\\xff\\x00", bytes(range(256)))
    put(b"/empty-value", b"")
    """

  @Test(
    "a rich cluster (100k keys, 1 MB values, binary keys, empty values, deletes, a compaction, leases, auth) restores exactly",
    arguments: EtcdRelease.allCases)
  func richSource(release: EtcdRelease) async throws {
    let server = try await EtcdServer(release)
    let root = "root:rootpw"
    try TestProcess.check(
      "/usr/bin/env",
      ["python3", repositoryRoot() + "/Tests/Fixtures/fill-etcd.py", "--endpoint", server.clientURL, "--small", "100000", "--big", "3", "--quiet"],
      timeout: .seconds(300))
    try TestProcess.check("/usr/bin/env", ["python3", "-c", Self.putRaw, server.clientURL])
    try server.ctl(["del", "--prefix", "/registry/pods/"])
    let compactAt = try server.revision()
    try server.putKeys(prefix: "/registry/after-compaction/", count: 300)
    try server.ctl(["compact", String(compactAt)])
    let grant = try server.ctl(["lease", "grant", "7200"])
    let leaseID = try #require(grant.split(separator: " ").dropFirst().first.map(String.init))
    try server.ctl(["put", "/registry/leases/holder", "x", "--lease=\(leaseID)"])
    try server.ctl(["role", "add", "reader"])
    try server.ctl(["role", "grant-permission", "reader", "read", "/registry/", "--prefix=true"])
    try server.ctl(["user", "add", root])
    try server.ctl(["user", "grant-role", "root", "root"])
    try server.ctl(["user", "add", "alice:alicepw"])
    try server.ctl(["user", "grant-role", "alice", "reader"])
    try server.ctl(["auth", "enable"])

    let expected = try server.dump(user: root)
    #expect((expected.kvs?.count ?? 0) > 90_000)
    let users = try server.ctl(["user", "list"], user: root)
    let roles = try server.ctl(["role", "get", "reader"], user: root)
    let ttl = try server.ctl(["lease", "timetolive", leaseID, "--keys"], user: root)
    #expect(ttl.contains("/registry/leases/holder"))
    let work = try TemporaryDirectory(prefix: "restore-rich")
    let ours = try Tool.run(
      ["save", "--endpoints", server.clientURL, "--dir", work.appending("snaps"), "--user", "root", "--password", "rootpw"])
    try #require(ours.status == 0, "\(ours)")
    let theirs = work.appending("etcdctl.db")
    try server.ctl(["snapshot", "save", theirs], user: root)
    let snapshots = [try #require(ours.stdout.split(separator: "\n").first.map(String.init)), theirs]

    for (i, snapshot) in snapshots.enumerated() {
      for target in EtcdRelease.allCases {
        let peerPort = try freeLoopbackPort()
        let peer = "http://127.0.0.1:\(peerPort)"
        let dataDir = work.appending("restored-\(i)-\(target.rawValue)")
        let r = try Tool.run([
          "restore", snapshot, "--data-dir", dataDir, "--name", "m1", "--initial-cluster", "m1=\(peer)",
          "--initial-advertise-peer-urls", peer,
        ])
        try #require(r.status == 0, "\(r)")
        var options = EtcdServer.Options()
        options.dataDir = dataDir
        options.peerPort = peerPort
        var restored: EtcdServer? = try await EtcdServer(target, options)
        let what = "\(release) snapshot \(i == 0 ? "saved by us" : "saved by etcdctl") on \(target)"
        #expect(try restored?.dump(user: root) == expected, "\(what): keys, values, revisions, versions, leases")
        #expect(try restored?.ctl(["user", "list"], user: root) == users, "\(what)")
        #expect(try restored?.ctl(["role", "get", "reader"], user: root) == roles, "\(what)")
        #expect(try restored?.ctl(["lease", "timetolive", leaseID, "--keys"], user: root).contains("/registry/leases/holder") == true)
        let denied = try TestProcess.run(
          target.binaries().etcdctl, ["--endpoints", restored?.clientURL ?? "", "put", "/x", "y", "--user", "alice:alicepw"],
          environment: EtcdServer.cleanEnvironment)
        #expect(denied.status != 0, "\(what): alice may read, not write")
        try restored?.ctl(["put", "/after-restore", "written"], user: root)
        restored?.stop()
        restored = nil
        let again = try await EtcdServer(target, options)
        #expect(try again.ctl(["get", "/after-restore", "--print-value-only"], user: root) == "written\n", "\(what): survives a restart")
        #expect(try again.revision() == expected.header.revision + 1)
      }
    }
  }

  @Test("--bump-revision auto --mark-compacted: revisions jump past the old ones, older ones are compacted")
  func bumpRevisionAuto() async throws {
    let server = try await EtcdServer(.etcd35)
    try server.putKeys(prefix: "/registry/configmaps/", count: 200)
    let before = try server.revision()
    let work = try TemporaryDirectory(prefix: "restore-bump")
    let snapshot = work.appending("s.db")
    try server.ctl(["snapshot", "save", snapshot])
    let peerPort = try freeLoopbackPort()
    let peer = "http://127.0.0.1:\(peerPort)"
    let dataDir = work.appending("restored")
    let r = try Tool.run([
      "restore", snapshot, "--data-dir", dataDir, "--name", "m1", "--initial-cluster", "m1=\(peer)",
      "--initial-advertise-peer-urls", peer, "--bump-revision", "auto", "--mark-compacted",
    ])
    try #require(r.status == 0, "\(r)")
    let chosenText = try #require(r.stderr.split(separator: "chose ").dropFirst().first?.split(separator: ":").first)
    let chosen = try #require(Int64(chosenText), "\(r.stderr)")
    #expect(chosen >= 1_000_000_000)

    var options = EtcdServer.Options()
    options.dataDir = dataDir
    options.peerPort = peerPort
    let restored = try await EtcdServer(.etcd35, options)
    #expect(try restored.revision() == before + chosen)
    let old = try TestProcess.run(
      restored.binaries.etcdctl, restored.connectionArguments + ["get", "/registry/configmaps/1", "--rev", String(before)],
      environment: EtcdServer.cleanEnvironment)
    #expect(old.status != 0 && old.stderr.contains("compacted"), "\(old)")
    try restored.ctl(["put", "/after", "x"])
    #expect(try restored.revision() == before + chosen + 1)
    #expect(try restored.ctl(["get", "/registry/configmaps/7", "--print-value-only"]) == "value-7\n")
  }

  @Test("bad input: nothing is written, existing data is untouched")
  func refusals() async throws {
    let server = try await source(.etcd35)
    let work = try TemporaryDirectory(prefix: "restore-bad")
    let snapshot = work.appending("s.db")
    try server.ctl(["snapshot", "save", snapshot])

    // A non-empty data directory is refused and left as it was.
    let occupied = work.appending("occupied")
    try FileManager.default.createDirectory(atPath: occupied, withIntermediateDirectories: true)
    FileManager.default.createFile(atPath: occupied + "/keep", contents: Data("x".utf8))
    let r1 = try Tool.run(["restore", snapshot, "--data-dir", occupied])
    #expect(r1.status != 0, "\(r1)")
    #expect(r1.stderr.contains(occupied), "\(r1)")
    #expect(try FileManager.default.contentsOfDirectory(atPath: occupied) == ["keep"])

    // A damaged snapshot: hash mismatch, no data directory.
    var bytes = try Data(contentsOf: URL(fileURLWithPath: snapshot))
    bytes[bytes.count / 3] ^= 0x40
    let damaged = work.appending("damaged.db")
    try bytes.write(to: URL(fileURLWithPath: damaged))
    let target = work.appending("new")
    let r2 = try Tool.run(["restore", damaged, "--data-dir", target])
    #expect(r2.status == 65, "\(r2)")
    #expect(r2.stderr.contains("sha256") || r2.stderr.contains("SHA-256"), "\(r2)")
    #expect(!FileManager.default.fileExists(atPath: target))
    #expect(try FileManager.default.contentsOfDirectory(atPath: work.path).allSatisfy { !$0.contains(".tmp") })

    // A copied member/snap/db needs --skip-hash-check, as with etcdutl.
    server.stop()
    let copy = work.appending("db-copy")
    try FileManager.default.copyItem(atPath: server.dataDir + "/member/snap/db", toPath: copy)
    let r3 = try Tool.run(["restore", copy, "--data-dir", target])
    #expect(r3.status == 65, "\(r3)")
    #expect(r3.stderr.contains("--skip-hash-check"), "\(r3)")
    #expect(!FileManager.default.fileExists(atPath: target))
    let r4 = try Tool.run(["restore", copy, "--data-dir", target, "--skip-hash-check"])
    #expect(r4.status == 0, "\(r4)")

    // Bad flags are all reported at once.
    let r5 = try Tool.run([
      "restore", snapshot, "--data-dir", work.appending("x"), "--bump-revision", "5", "--name", "",
    ])
    #expect(r5.status == 64, "\(r5)")
    #expect(r5.stderr.contains("--mark-compacted") && r5.stderr.contains("--name is empty"), "\(r5)")
    #expect(!FileManager.default.fileExists(atPath: work.appending("x")))
  }
}
