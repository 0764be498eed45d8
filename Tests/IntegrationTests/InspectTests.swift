import EtcdTestSupport
import Foundation
import Testing

/// `status` and `verify` on real snapshot files, compared with etcd's own tools.
@Suite("status and verify", .serialized)
struct InspectTests {
  /// A filled server and three files from it: our save, etcdctl's save, a copied member/snap/db.
  struct Files {
    let server: EtcdServer
    let work: TemporaryDirectory
    let dir: String
    let ours: String
    let byEtcdctl: String
    let dbCopy: String
  }

  func makeFiles(_ release: EtcdRelease) async throws -> Files {
    let server = try await EtcdServer(release)
    try server.putKeys(prefix: "/registry/pods/", count: 2500)
    try server.ctl(["put", "/registry/big", String(repeating: "b", count: 100_000)])
    try server.ctl(["del", "/registry/pods/1", "/registry/pods/2"])
    let work = try TemporaryDirectory(prefix: "inspect")
    let dir = work.appending("snaps")
    let r = try Tool.save(server, dir: dir)
    try #require(r.status == 0, "\(r)")
    let ours = try #require(r.stdout.split(separator: "\n").first.map(String.init))
    // One more write, so that etcdctl's snapshot differs from ours.
    try server.ctl(["put", "/registry/after-ours", "x"])
    let byEtcdctl = work.appending("etcdctl.db")
    try server.ctl(["snapshot", "save", byEtcdctl])
    server.stop()
    let dbCopy = work.appending("member-snap-db")
    try FileManager.default.copyItem(atPath: server.dataDir + "/member/snap/db", toPath: dbCopy)
    return Files(server: server, work: work, dir: dir, ours: ours, byEtcdctl: byEtcdctl, dbCopy: dbCopy)
  }

  struct StatusJSON: Decodable, Equatable {
    var hash: UInt64
    var revision: Int64
    var totalKey: Int
    var totalSize: Int64
  }

  @Test("status gives etcdutl's and etcdctl's figures on the same files", arguments: EtcdRelease.allCases)
  func statusMatchesEtcd(release: EtcdRelease) async throws {
    let f = try await makeFiles(release)
    for path in [f.ours, f.byEtcdctl, f.dbCopy] {
      let r = try Tool.run(["status", path, "-o", "json"])
      try #require(r.status == 0, "\(path): \(r)")
      let ours = try JSONDecoder().decode(StatusJSON.self, from: Data(r.stdout.utf8))
      let theirs = try SnapshotStatus.read(path, with: f.server.binaries)
      #expect(ours == StatusJSON(hash: theirs.hash, revision: theirs.revision, totalKey: theirs.totalKey, totalSize: theirs.totalSize), "\(path)")
    }
    // By name, from the snapshot directory, with our metadata record.
    let name = URL(fileURLWithPath: f.ours).lastPathComponent
    let byName = try Tool.run(["status", "--dir", f.dir, name])
    #expect(byName.status == 0, "\(byName)")
    #expect(byName.stdout.contains("HASH") && byName.stdout.contains("saved by etcd-snapshot"), "\(byName)")
    let missing = try Tool.run(["status", "--dir", f.dir, "no-such-snapshot"])
    #expect(missing.status == 66)
    #expect(missing.stderr.contains("no snapshot named `no-such-snapshot`"))
  }

  @Test("verify passes sound files and names the problem in damaged ones", arguments: EtcdRelease.allCases)
  func verifyFindsDamage(release: EtcdRelease) async throws {
    let f = try await makeFiles(release)
    let name = URL(fileURLWithPath: f.ours).lastPathComponent

    let good = try Tool.run(["verify", "--dir", f.dir, name, f.byEtcdctl, f.dbCopy])
    #expect(good.status == 0, "\(good)")
    #expect(
      good.stdout.contains(
        "\(name): OK (etcd's SHA-256 trailer matches the database; size and SHA-256 match the metadata record; bbolt structure is sound)"))
    #expect(good.stdout.contains("no SHA-256 trailer"), "the db copy is noted: \(good)")

    // A flipped byte inside the database: the trailer no longer matches.
    let flipped = f.work.appending("flipped.db")
    var bytes = try Data(contentsOf: URL(fileURLWithPath: f.byEtcdctl))
    bytes[bytes.count / 2] ^= 0x01
    try bytes.write(to: URL(fileURLWithPath: flipped))
    let bad = try Tool.run(["verify", flipped])
    #expect(bad.status == 65, "\(bad)")
    #expect(bad.stdout.contains("FAILED: SHA-256 mismatch"), "\(bad)")

    // Another valid snapshot put in place of ours: trailer fine, metadata record not.
    try FileManager.default.removeItem(atPath: f.ours)
    try FileManager.default.copyItem(atPath: f.byEtcdctl, toPath: f.ours)
    let swapped = try Tool.run(["verify", "--dir", f.dir, "--all"])
    #expect(swapped.status == 65, "\(swapped)")
    #expect(swapped.stdout.contains("changed after it was saved") || swapped.stdout.contains("truncated or replaced"), "\(swapped)")
    #expect(swapped.stderr.contains("1 of 1 snapshot(s) failed verification"), "\(swapped)")
  }

  @Test("status, verify and restore never crash on damaged files and never leave a partial data dir", arguments: EtcdRelease.allCases)
  func damagedFilesNeverCrash(release: EtcdRelease) async throws {
    let f = try await makeFiles(release)
    let original = try Data(contentsOf: URL(fileURLWithPath: f.byEtcdctl))
    var rng = SplitMix64(state: release == .etcd34 ? 34 : 35)
    let damaged = f.work.appending("damaged.db")
    for round in 0..<24 {
      var bytes = original
      if round % 3 == 0 {
        bytes = bytes.prefix(Int.random(in: 0..<bytes.count, using: &rng))
      } else {
        // Flips in the first pages (metas, root, branches) hit structure rather than values.
        let limit = round % 3 == 1 ? min(bytes.count, 8 * 4096) : bytes.count
        let bit = Int.random(in: 0..<(limit * 8), using: &rng)
        bytes[bit / 8] ^= UInt8(1 << (bit % 8))
      }
      try bytes.write(to: URL(fileURLWithPath: damaged))
      let restored = f.work.appending("restored-\(round)")
      let commands = [
        ["status", damaged], ["verify", damaged], ["restore", damaged, "--data-dir", restored],
        // Past the hash check, so that the damage reaches the bbolt reader and writer.
        ["restore", damaged, "--data-dir", restored + "-skip", "--skip-hash-check"],
      ]
      for command in commands {
        let r = try Tool.run(command, timeout: .seconds(60))
        #expect([0, 65].contains(r.status), "\(command[0]) round \(round): \(r)")
        if r.status == 65 {
          #expect(r.stderr.contains("etcd-snapshot: error:"), "a clear message: \(r)")
          if command[0] == "restore" {
            #expect(!FileManager.default.fileExists(atPath: command[3]), "no partial data dir: \(r)")
          }
        }
      }
      let leftovers = try FileManager.default.contentsOfDirectory(atPath: f.work.path).filter { $0.contains("tmp") }
      #expect(leftovers.isEmpty, "no temporary directories left: \(leftovers)")
    }
  }
}
