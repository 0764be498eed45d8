import EtcdSnapshot
import EtcdTestSupport
import Foundation
import Testing

/// `restore --data-dir` into an existing empty directory that is a volume of its own (as
/// `/var/lib/etcd` often is): written in place, on that volume, and visible only when whole.
@Suite("restore into a mount point", .serialized)
struct RestoreMountTests {
  @Test("restore into an empty tmpfs mount point: written there, and etcd 3.5 serves the same data")
  func intoMountPoint() async throws {
    let server = try await EtcdServer(.etcd35)
    try server.putKeys(prefix: "/registry/pods/", count: 500)
    let expected = try server.dump()
    let work = try TemporaryDirectory(prefix: "restore-mnt")
    let dir = work.appending("snaps")
    let saved = try Tool.save(server, dir: dir)
    try #require(saved.status == 0, "\(saved)")
    let name = try #require(try Tool.list(dir).first?.name)
    // Room for etcd's preallocated 64 MB WAL segments (restored one, and the next one etcd makes).
    let mount = try TmpfsMount(options: "size=256m,mode=0700")
    let peerPort = try freeLoopbackPort()
    let peer = "http://127.0.0.1:\(peerPort)"
    let r = try Tool.run([
      "restore", name, "--dir", dir, "--data-dir", mount.path, "--name", "m1", "--initial-cluster", "m1=\(peer)",
      "--initial-advertise-peer-urls", peer,
    ])
    try #require(r.status == 0, "\(r)")
    #expect(try FileManager.default.contentsOfDirectory(atPath: mount.path) == ["member"], "only member/ is left in the target")
    #expect(
      try FileManager.default.contentsOfDirectory(atPath: parentDirectory(mount.path)).sorted() == ["mnt"],
      "nothing was written beside the mount point")
    var options = EtcdServer.Options()
    options.dataDir = mount.path
    options.peerPort = peerPort
    let restored = try await EtcdServer(.etcd35, options)
    #expect(try restored.dump() == expected)
  }

  @Test("a restore that fails on the mount point (volume full) leaves it empty")
  func failureLeavesItEmpty() async throws {
    let server = try await EtcdServer(.etcd35)
    try server.putKeys(prefix: "/registry/pods/", count: 2000)
    let work = try TemporaryDirectory(prefix: "restore-full")
    let dir = work.appending("snaps")
    let saved = try Tool.save(server, dir: dir)
    try #require(saved.status == 0, "\(saved)")
    let name = try #require(try Tool.list(dir).first?.name)
    let mount = try TmpfsMount(options: "size=128k,mode=0700")
    let r = try Tool.run(["restore", name, "--dir", dir, "--data-dir", mount.path])
    #expect(r.status == 73, "\(r.stderr)")
    #expect(try FileManager.default.contentsOfDirectory(atPath: mount.path).isEmpty, "no member/ and no temporary")
  }
}

/// The directory holding `path`.
private func parentDirectory(_ path: String) -> String {
  URL(fileURLWithPath: path).deletingLastPathComponent().path
}

/// `cluster-reset --data-dir` on a volume of its own: the old `member/` stays on that volume,
/// inside the data dir, and nothing is copied beside it.
@Suite("cluster-reset on a mount point", .serialized)
struct ClusterResetMountTests {
  @Test("cluster-reset of a member whose data dir is a tmpfs mount point: in place, old member kept inside, etcd serves the keys")
  func inPlace() async throws {
    // etcd 3.5 preallocates each 64 MB WAL segment (tmpfs counts it), the old member with its
    // WAL stays on the volume, and the restarted etcd preallocates its next segment: 64m was
    // too small for that and failed at random with ENOSPC in etcd's own first commit.
    let mount = try TmpfsMount(options: "size=256m,mode=0700")
    var options = EtcdServer.Options()
    options.dataDir = mount.path
    let server = try await EtcdServer(.etcd35, options)
    try server.putKeys(prefix: "/registry/pods/", count: 300)
    let expected = try server.dump()
    server.stop()
    let oldMember = try FileManager.default.contentsOfDirectory(atPath: mount.path + "/member").sorted()
    let r = try Tool.run(["cluster-reset", "--data-dir", mount.path])
    try #require(r.status == 0, "\(r)")
    let inside = try FileManager.default.contentsOfDirectory(atPath: mount.path).sorted()
    let old = try #require(inside.first { $0.hasPrefix("member-old-") }, "\(inside)")
    #expect(inside.contains("member") && inside.contains(ClusterReset.markerName), "\(inside)")
    #expect(!inside.contains { $0.contains(".reset-tmp") }, "\(inside)")
    #expect(try FileManager.default.contentsOfDirectory(atPath: mount.path + "/" + old).sorted() == oldMember)
    #expect(r.stdout.contains(mount.path + "/" + old), "the message names where the old member is: \(r.stdout)")
    let beside = try FileManager.default.contentsOfDirectory(atPath: URL(fileURLWithPath: mount.path).deletingLastPathComponent().path)
    #expect(beside == ["mnt"], "nothing was written beside the mount point: \(beside)")
    var again = EtcdServer.Options()
    again.dataDir = mount.path
    again.peerPort = Int(try #require(server.peerURL.split(separator: ":").last))
    let reset = try await EtcdServer(.etcd35, again)
    #expect(try reset.dump() == expected)
  }
}
