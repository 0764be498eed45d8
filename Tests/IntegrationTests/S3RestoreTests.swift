import EtcdTestSupport
import Foundation
import Testing

/// `status`, `verify`, `restore`, `cluster-reset` of a snapshot named in the bucket.
@Suite("status, verify, restore and cluster-reset from S3", .serialized)
struct S3RestoreTests {
  @Test("restore NAME --s3: downloaded, checked, restored; etcd 3.4 and 3.5 serve the same data", arguments: EtcdRelease.allCases)
  func restoreFromBucket(release: EtcdRelease) async throws {
    let server = try await EtcdServer(release)
    try server.putKeys(prefix: "/registry/pods/", count: 2000)
    try server.ctl(["del", "/registry/pods/5"])
    let expected = try server.dump()
    let s3 = try await S3Fixture()
    let saved = try s3.save(server)
    try #require(saved.status == 0, "\(saved)")
    let name = try S3Fixture.name(from: saved)
    // Only the bucket has it now.
    let deleted = try Tool.run(["delete", "--dir", s3.dir, name])
    try #require(deleted.status == 0, "\(deleted)")

    let status = try Tool.run(["status", name, "--dir", s3.dir, "-o", "json"] + s3.arguments(), environment: s3.environment)
    #expect(status.status == 0, "\(status)")
    #expect(status.stdout.contains("\"revision\":\(expected.header.revision)"), "\(status.stdout)")

    let verify = try Tool.run(["verify", name, "--dir", s3.dir] + s3.arguments(), environment: s3.environment)
    #expect(verify.status == 0 && verify.stdout.contains("OK"), "\(verify)")

    let peerPort = try freeLoopbackPort()
    let peer = "http://127.0.0.1:\(peerPort)"
    let dataDir = s3.work.appending("restored")
    let r = try Tool.run(
      [
        "restore", name, "--dir", s3.dir, "--data-dir", dataDir, "--name", "m1", "--initial-cluster", "m1=\(peer)", "--initial-advertise-peer-urls",
        peer,
      ]
        + s3.arguments(), environment: s3.environment)
    try #require(r.status == 0, "\(r)")
    #expect(r.stdout.contains("restored s3://\(s3.bucket)/\(s3.folder)\(name)"), "\(r.stdout)")
    #expect(try directoryState(s3.dir).keys.allSatisfy { !$0.contains(".download") }, "the download is removed")
    var options = EtcdServer.Options()
    options.dataDir = dataDir
    options.peerPort = peerPort
    let restored = try await EtcdServer(release, options)
    #expect(try restored.dump() == expected)
  }

  @Test("an object that does not match its sidecar is refused: no data dir, nothing left behind")
  func damagedObjectRefused() async throws {
    let server = try await EtcdServer(.etcd35)
    try server.putKeys(prefix: "/k/", count: 500)
    let s3 = try await S3Fixture()
    let saved = try s3.save(server)
    try #require(saved.status == 0, "\(saved)")
    let name = try S3Fixture.name(from: saved)
    // Flip one byte in a copy and put it back over the object (the sidecar still has the old sha256).
    let local = s3.dir + "/" + name
    var bytes = try Data(contentsOf: URL(fileURLWithPath: local))
    bytes[bytes.count / 2] ^= 0x20
    let damaged = s3.work.appending("damaged")
    try bytes.write(to: URL(fileURLWithPath: damaged))
    _ = try s3.moto.oracle(bucket: s3.bucket, ["put", s3.folder + name, damaged])

    let dataDir = s3.work.appending("restored")
    let r = try Tool.run(["restore", name, "--dir", s3.dir, "--data-dir", dataDir] + s3.arguments(), environment: s3.environment)
    #expect(r.status == 65, "\(r)")
    #expect(r.stderr.contains("does not match its metadata record"), "\(r.stderr)")
    #expect(!FileManager.default.fileExists(atPath: dataDir))
    #expect(try directoryState(s3.dir).keys.allSatisfy { !$0.contains(".download") })

    let verify = try Tool.run(["verify", name, "--dir", s3.dir] + s3.arguments(), environment: s3.environment)
    #expect(verify.status == 65 && verify.stdout.contains("FAILED"), "\(verify)")

    let missing = try Tool.run(
      ["restore", "on-demand-nobody-1", "--dir", s3.dir, "--data-dir", dataDir] + s3.arguments(), environment: s3.environment)
    #expect(missing.status == 66 && missing.stderr.contains("ls --s3"), "\(missing)")
  }

  @Test("cluster-reset --restore-path NAME --s3 on a stopped member")
  func clusterResetFromBucket() async throws {
    let server = try await EtcdServer(.etcd35)
    try server.putKeys(prefix: "/k/", count: 300)
    let expected = try server.dump()
    let s3 = try await S3Fixture()
    let saved = try s3.save(server)
    try #require(saved.status == 0, "\(saved)")
    let name = try S3Fixture.name(from: saved)
    try server.ctl(["put", "/k/after-snapshot", "x"])
    try server.stop()

    let r = try Tool.run(
      ["cluster-reset", "--data-dir", server.dataDir, "--restore-path", name, "--dir", s3.dir] + s3.arguments(), environment: s3.environment)
    try #require(r.status == 0, "\(r)")
    var options = EtcdServer.Options()
    options.dataDir = server.dataDir
    options.peerPort = Int(server.peerURL.split(separator: ":").last ?? "")
    let reset = try await EtcdServer(.etcd35, options)
    #expect(try reset.dump().kvs == expected.kvs, "the data is the snapshot's, without the later write")
  }
}
