import Crypto
import EtcdSnapshot
import EtcdTestSupport
import Foundation
import SnapshotCore
import Testing

/// The `cluster-reset` use case against real 3-member etcd 3.4 and 3.5 clusters; the oracle is
/// etcd starting on the result as a one-member cluster with the same keys.
@Suite("cluster reset", .serialized)
struct ClusterResetTests {
  /// `etcdctl member list -w json`.
  struct MemberList: Decodable {
    struct Member: Decodable {
      var name: String?
      var peerURLs: [String]?
    }
    var members: [Member]
  }

  /// SHA-256 of every file under `dir`, by relative path (proves a directory is untouched).
  func fingerprint(_ dir: String) throws -> [String: String] {
    var out: [String: String] = [:]
    let enumerator = try #require(FileManager.default.enumerator(atPath: dir))
    while let rel = enumerator.nextObject() as? String {
      var isDir: ObjCBool = false
      guard FileManager.default.fileExists(atPath: dir + "/" + rel, isDirectory: &isDir), !isDir.boolValue else {
        out[rel] = "dir"
        continue
      }
      let data = try Data(contentsOf: URL(fileURLWithPath: dir + "/" + rel))
      out[rel] = SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
    }
    return out
  }

  func refusal(_ options: ClusterResetOptions) -> SnapshotError? {
    do {
      _ = try ClusterReset.reset(options)
      return nil
    } catch {
      return error
    }
  }

  func entries(_ dir: String) throws -> [String] {
    try FileManager.default.contentsOfDirectory(atPath: dir).sorted()
  }

  @Test("a directory that is not an etcd data dir is refused, naming what is missing")
  func notADataDir() throws {
    let work = try TemporaryDirectory(prefix: "cluster-reset-empty")
    let dir = work.appending("data")
    try FileManager.default.createDirectory(atPath: dir + "/member/wal", withIntermediateDirectories: true)
    let error = try #require(refusal(ClusterResetOptions(dataDir: dir, now: 1)))
    #expect(error.code == .invalidConfiguration)
    #expect(error.message.contains("member/snap/db missing"), "\(error.message)")
    #expect(try entries(work.path) == ["data"])
  }

  @Test(
    "a stopped member of a 3-member cluster becomes a one-member cluster with all its keys (own db and snapshot)",
    arguments: EtcdRelease.allCases, [false, true])
  func resetMember(release: EtcdRelease, fromSnapshot: Bool) async throws {
    let work = try TemporaryDirectory(prefix: "cluster-reset")
    var ports: [Int] = []
    while ports.count < 3 {
      let p = try freeLoopbackPort()
      if !ports.contains(p) { ports.append(p) }
    }
    let names = ["m1", "m2", "m3"]
    let cluster = zip(names, ports).map { "\($0)=http://127.0.0.1:\($1)" }.joined(separator: ",")
    let dir = work.appending("m3.etcd")
    func options(_ i: Int) -> EtcdServer.Options {
      var o = EtcdServer.Options()
      o.name = names[i]
      o.peerPort = ports[i]
      o.initialCluster = cluster
      if i == 2 { o.dataDir = dir }
      return o
    }
    let all = (0..<3).map(options)
    // Started together: a member waits for a quorum before it serves.
    let servers = try await withThrowingTaskGroup(of: (Int, EtcdServer).self) { group in
      for (i, o) in all.enumerated() { group.addTask { (i, try await EtcdServer(release, o)) } }
      var started: [(Int, EtcdServer)] = []
      for try await s in group { started.append(s) }
      return started.sorted { $0.0 < $1.0 }.map(\.1)
    }
    try servers[0].putKeys(prefix: "/registry/pods/", count: 300)
    try servers[1].ctl(["put", "/registry/other", "x"])
    try servers[0].ctl(["del", "/registry/pods/7"])
    let expected = try servers[2].dump()  // linearizable on m3: it has applied everything
    #expect(expected.kvs?.count == 300)
    var snapshot: String?
    if fromSnapshot {
      let file = work.appending("snap.db")
      try servers[2].ctl(["snapshot", "save", file])
      snapshot = file
    }
    for server in servers.reversed() { server.stop() }
    let before = try fingerprint(dir)

    let now: Int64 = 1_700_000_000
    // A damaged snapshot: refused before anything is renamed; DIR as it was, no temporary left.
    let damaged = work.appending("damaged.db")
    try Data((0..<1056).map { UInt8(truncatingIfNeeded: $0 &* 31) }).write(to: URL(fileURLWithPath: damaged))
    let corrupt = try #require(refusal(ClusterResetOptions(dataDir: dir, restorePath: damaged, now: now)))
    #expect(corrupt.code == .corrupt)
    #expect(corrupt.message.contains("\(dir) was not changed"), "\(corrupt.message)")
    #expect(try fingerprint(dir) == before)
    #expect(try entries(work.path).filter { $0.contains(".reset-tmp") || $0.contains("-old-") }.isEmpty)

    // The reset itself, as a user runs it: the built executable.
    let run = try Tool.run(["cluster-reset", "--data-dir", dir] + (snapshot.map { ["--restore-path", $0] } ?? []))
    try #require(run.status == 0, "\(run)")
    let instructions = run.stdout
    let peerURL = "http://127.0.0.1:\(ports[2])"
    let oldName = try #require(try entries(work.path).first { $0.hasPrefix(URL(fileURLWithPath: dir).lastPathComponent + "-old-") })
    let oldDataDir = work.appending(oldName)
    #expect(instructions.contains("member m3 (\(peerURL))"), "\(run)")
    #expect(instructions.contains("the old data dir is kept at \(oldDataDir)"), "\(run)")
    #expect(instructions.contains("SHA-256 verified") == fromSnapshot, "a snapshot's trailer is checked; a db has none")
    #expect(instructions.contains("--initial-cluster m3=\(peerURL)"), "\(instructions)")
    #expect(instructions.contains("--data-dir \(dir)"))
    for other in 0..<2 {
      let line = instructions.split(separator: "\n").first { $0.hasPrefix("  \(names[other]) ") }
      #expect(line?.hasSuffix(" http://127.0.0.1:\(ports[other])") == true, "\(instructions)")
    }
    #expect(instructions.contains("member add"))
    #expect(instructions.contains("--initial-cluster-state existing"))
    #expect(try fingerprint(oldDataDir) == before, "the old data dir must be untouched")
    #expect(try entries(work.path).filter { $0.contains(".reset-tmp") }.isEmpty)
    #expect(FileManager.default.fileExists(atPath: dir + "/" + ClusterReset.markerName))

    var single = EtcdServer.Options()
    single.name = "m3"
    single.peerPort = ports[2]
    single.initialCluster = "m3=\(peerURL)"
    single.dataDir = dir
    let reset = try await EtcdServer(release, single)
    #expect(try reset.dump().kvs == expected.kvs)
    let list = try JSONDecoder().decode(MemberList.self, from: Data(reset.ctl(["member", "list", "-w", "json"]).utf8))
    #expect(list.members.count == 1)
    #expect(list.members.first?.name == "m3")
    #expect(list.members.first?.peerURLs == [peerURL])
    try reset.ctl(["put", "/after-reset", "works"])
    #expect(try reset.ctl(["get", "/after-reset", "--print-value-only"]).contains("works"))

    // While etcd runs on DIR: refused by its lock, nothing changes.
    let layout = try entries(work.path)
    let locked = try Tool.run(["cluster-reset", "--data-dir", dir])
    #expect(locked.status == 69, "\(locked)")
    #expect(locked.stderr.contains("stop etcd"), "\(locked)")
    #expect(try entries(work.path) == layout)
    reset.stop()

    // A second run: refused by the marker, with what happened and how to force it.
    let again = try Tool.run(["cluster-reset", "--data-dir", dir])
    #expect(again.status == 64, "\(again)")
    #expect(again.stderr.contains("already the result of a cluster-reset"), "\(again)")
    #expect(again.stderr.contains(oldDataDir))
    #expect(again.stderr.contains("delete \(dir)/\(ClusterReset.markerName)"))
    #expect(try entries(work.path) == layout)
  }
}
