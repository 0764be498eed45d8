import EtcdTestSupport
import Foundation
import Testing

/// `save --bundle` / `--bundle-preset` and `restore` / `cluster-reset --bundle-to`: the files a
/// restore needs beside etcd, kept apart with their own recipients, read by the standard tools,
/// put back only when whole and only inside the folder asked for.
@Suite("restore bundles: save --bundle, restore and cluster-reset --bundle-to, against real etcd, age, tar and S3")
struct BundleTests {
  struct Record: Decodable {
    struct Bundle: Decodable {
      var name: String
      var path: String
      var uploadedTo: String?
      var size: Int64
      var sha256: String
      var entries: Int
      var compression: String?
      var encryption: String?
      var recipients: [String]?
    }
    var name: String
    var bundle: Bundle?
  }

  static func record(_ dir: String, _ name: String) throws -> Record {
    try JSONDecoder().decode(Record.self, from: Data(contentsOf: URL(fileURLWithPath: dir + "/.metadata/" + name)))
  }

  /// A k3s server node's files under `root`: the token (0600), config.yaml, the encryption config.
  static func k3sNode(_ root: String) throws {
    let server = root + "/var/lib/rancher/k3s/server"
    try FileManager.default.createDirectory(atPath: server + "/cred", withIntermediateDirectories: true)
    try FileManager.default.createDirectory(atPath: root + "/etc/rancher/k3s", withIntermediateDirectories: true)
    try writeFile(server + "/token", Array("K10deadbeef::server:s3cr3t\n".utf8))
    _ = chmod(server + "/token", 0o600)
    try writeFile(root + "/etc/rancher/k3s/config.yaml", Array("cluster-init: true\n".utf8))
    _ = chmod(root + "/etc/rancher/k3s/config.yaml", 0o644)
    try writeFile(server + "/cred/encryption-config.json", Array("{\"kind\":\"EncryptionConfiguration\"}".utf8))
    _ = chmod(server + "/cred/encryption-config.json", 0o600)
  }

  static let k3sFiles = [
    "var/lib/rancher/k3s/server/token", "etc/rancher/k3s/config.yaml", "var/lib/rancher/k3s/server/cred/encryption-config.json",
  ]

  @Test(
    "--bundle-preset k3s, zstd, snapshot and bundle to different recipients: age and tar read the bundle; restore --bundle-to needs its identity, then puts the files back with their modes",
    arguments: EtcdRelease.allCases)
  func k3sPreset(release: EtcdRelease) async throws {
    let server = try await EtcdServer(release)
    try server.putKeys(prefix: "/registry/secrets/", count: 500)
    let work = try TemporaryDirectory(prefix: "bundle")
    let dir = work.appending("snapshots")
    let root = work.appending("node")
    try Self.k3sNode(root)
    let snapshotKey = try EncryptedSaveTests.keygen(work, "snapshot.key")
    let bundleKey = try EncryptedSaveTests.keygen(work, "bundle.key")
    let r = try Tool.save(
      server, dir: dir,
      extra: [
        "--compress", "zstd", "--encrypt-recipient", snapshotKey.recipient, "--bundle-recipient", bundleKey.recipient, "--bundle-preset",
        "k3s", "--bundle-root", root,
      ])
    try #require(r.status == 0, "\(r)")
    let path = try #require(r.stdout.split(separator: "\n").first.map(String.init))
    let name = SystemFileName.base(path)
    let record = try Self.record(dir, name)
    let bundle = try #require(record.bundle, "the record names the bundle")
    #expect(bundle.path == dir + "/bundles/" + bundle.name)
    #expect(bundle.name == SnapshotNameText.plain(String(name.dropLast(4))) + ".bundle.tar.zst.age", "\(bundle.name)")
    #expect(bundle.entries == 3 && bundle.compression == "zstd" && bundle.encryption == "age")
    #expect(bundle.recipients == [bundleKey.recipient])
    #expect(try mode(bundle.path) == 0o600)
    #expect(try sha256Hex(ofFile: bundle.path) == bundle.sha256)
    #expect(r.stderr.contains("leaves out") && r.stderr.contains("config.yaml.d"), "the missing optional path is named: \(r.stderr)")
    // ls lists the snapshot only.
    #expect(try Tool.list(dir).map(\.name) == [name])
    // The standard tools: age with the bundle's key, zstd, GNU tar and Python's tarfile.
    let tar = work.appending("bundle.tar")
    try TestProcess.check("/bin/sh", ["-c", "age -d -i \"$1\" \"$2\" | zstd -q -d -c > \"$3\"", "sh", bundleKey.file, bundle.path, tar])
    let listed = try TestProcess.check("/usr/bin/env", ["tar", "-tf", tar]).split(separator: "\n").map(String.init)
    #expect(listed == Self.k3sFiles, "\(listed)")
    try TestProcess.check(
      "/usr/bin/env",
      [
        "python3", "-c",
        "import sys, tarfile; t = tarfile.open(sys.argv[1]); assert t.extractfile('var/lib/rancher/k3s/server/token').read().startswith(b'K10')", tar,
      ])
    let wrongKey = try TestProcess.run("/usr/bin/env", ["age", "-d", "-i", snapshotKey.file, "-o", work.appending("x"), bundle.path])
    #expect(wrongKey.status != 0, "the snapshot's key does not open the bundle")
    // The snapshot's identity alone: refused before a data directory is written, naming the bundle's recipient.
    let restored = work.appending("restored")
    let refused = try Tool.run(
      ["restore", path, "--data-dir", restored, "--decrypt-identity-file", snapshotKey.file, "--bundle-to", work.appending("out")])
    #expect(refused.status != 0)
    #expect(refused.stderr.contains(bundleKey.recipient) && refused.stderr.contains("--decrypt-identity-file"), "\(refused.stderr)")
    #expect(!exists(restored) && !exists(work.appending("out/var")), "nothing written")
    // Both identities: etcd and the files.
    let out = work.appending("out")
    let (restore, served) = try await restoreAndServe(
      path, into: restored, release: release,
      extra: ["--decrypt-identity-file", snapshotKey.file, "--decrypt-identity-file", bundleKey.file, "--bundle-to", out])
    #expect(restore.stdout.contains("unpacked the bundle") && restore.stdout.contains("3 entries"), "\(restore)")
    #expect(try served.dump() == (try server.dump()))
    for file in Self.k3sFiles {
      #expect(contents(out + "/" + file) == contents(root + "/" + file), "\(file)")
      #expect(permissions(out + "/" + file) == permissions(root + "/" + file), "\(file) keeps its mode")
    }
    let left = try FileManager.default.contentsOfDirectory(atPath: dir + "/bundles").filter { !$0.hasPrefix(".") }
    #expect(left == [bundle.name], "no decrypted copy beside the bundle: \(left)")
    // delete removes the snapshot's bundle with it.
    let d = try Tool.run(["delete", "--dir", dir, name])
    #expect(d.status == 0, "\(d)")
    #expect(!exists(bundle.path))
  }

  @Test("a missing required path (the k3s token, a --bundle path) fails the save before etcd is asked: no snapshot, no bundle")
  func missingPath() async throws {
    let server = try await EtcdServer(.etcd35)
    let work = try TemporaryDirectory(prefix: "bundle")
    let dir = work.appending("snapshots")
    let preset = try Tool.save(server, dir: dir, extra: ["--bundle-preset", "k3s", "--bundle-root", work.appending("empty")])
    #expect(preset.status != 0)
    #expect(preset.stderr.contains("server/token") && preset.stderr.contains("--bundle-root"), "\(preset.stderr)")
    #expect(!preset.stderr.contains("using http"), "etcd was not asked: \(preset.stderr)")
    let path = try Tool.save(server, dir: dir, extra: ["--bundle", work.appending("nope")])
    #expect(path.status != 0 && path.stderr.contains("nope"), "\(path.stderr)")
    let relative = try Tool.save(server, dir: dir, extra: ["--bundle", "etc/x"])
    #expect(relative.status != 0 && relative.stderr.contains("absolute"), "\(relative.stderr)")
    #expect(try Tool.list(dir).isEmpty)
    #expect(((try? FileManager.default.contentsOfDirectory(atPath: dir + "/bundles")) ?? []).filter { !$0.hasPrefix(".") }.isEmpty)
  }

  @Test(
    "cluster-reset --bundle-to checks the bundle before it moves anything: a changed bundle leaves the data dir untouched; the right one is unpacked")
  func clusterReset() async throws {
    let server = try await EtcdServer(.etcd35)
    try server.putKeys(prefix: "/registry/configmaps/", count: 300)
    let work = try TemporaryDirectory(prefix: "bundle")
    let dir = work.appending("snapshots")
    let files = work.appending("kubeadm")
    try FileManager.default.createDirectory(atPath: files + "/pki", withIntermediateDirectories: true)
    try writeFile(files + "/pki/ca.key", Array("-----BEGIN PRIVATE KEY-----\n".utf8))
    _ = chmod(files + "/pki/ca.key", 0o600)
    let r = try Tool.save(server, dir: dir, extra: ["--bundle", files])
    try #require(r.status == 0, "\(r)")
    #expect(r.stderr.contains("the bundle is not encrypted"), "a warning: \(r.stderr)")
    let path = try #require(r.stdout.split(separator: "\n").first.map(String.init))
    let bundle = try #require(try Self.record(dir, SystemFileName.base(path)).bundle)
    server.stop()
    let before = try directoryState(server.dataDir)
    // One byte changed: refused, nothing moved, nothing unpacked.
    var bytes = try #require(contents(bundle.path))
    let original = bytes
    bytes[600] ^= 0x01
    try writeFile(bundle.path, bytes)
    let out = work.appending("out")
    let refused = try Tool.run(["cluster-reset", "--data-dir", server.dataDir, "--restore-path", path, "--bundle-to", out])
    #expect(refused.status != 0)
    #expect(refused.stderr.contains("bundle") && refused.stderr.contains("SHA-256"), "\(refused.stderr)")
    #expect(try directoryState(server.dataDir) == before, "the data dir is untouched")
    #expect(!exists(out))
    try writeFile(bundle.path, original)
    let reset = try Tool.run(["cluster-reset", "--data-dir", server.dataDir, "--restore-path", path, "--bundle-to", out])
    #expect(reset.status == 0, "\(reset)")
    #expect(reset.stdout.contains("unpacked the bundle"), "\(reset.stdout)")
    #expect(contents(out + files + "/pki/ca.key") == Array("-----BEGIN PRIVATE KEY-----\n".utf8))
    #expect(permissions(out + files + "/pki/ca.key") == 0o600)
  }

  @Test(
    "save --s3 --bundle: the bundle goes to FOLDER/bundles, ls --s3 lists the snapshot only, restore --s3 --bundle-to reads it from the bucket, delete --s3 removes it"
  )
  func s3() async throws {
    let server = try await EtcdServer(.etcd35)
    try server.putKeys(prefix: "/registry/pods/", count: 300)
    let s3 = try await S3Fixture(folder: "prod/")
    let root = s3.work.appending("node")
    try Self.k3sNode(root)
    let key = try EncryptedSaveTests.keygen(s3.work, "bundle.key")
    let r = try s3.save(server, extra: ["--bundle-preset", "k3s", "--bundle-root", root, "--bundle-recipient", key.recipient])
    try #require(r.status == 0, "\(r)")
    let name = try S3Fixture.name(from: r)
    let bundle = try #require(try Self.record(s3.dir, name).bundle)
    #expect(bundle.uploadedTo == "s3://\(s3.bucket)/prod/bundles/\(bundle.name)", "\(bundle)")
    let keys = try s3.objects().map(\.key)
    #expect(keys.contains("prod/bundles/" + bundle.name), "\(keys)")
    let listed = try s3.list().filter { $0.url.hasPrefix("s3://") }.map(\.name)
    #expect(listed == [name], "the bundle is not listed as a snapshot: \(listed)")
    // From the bucket alone.
    try FileManager.default.removeItem(atPath: s3.dir + "/" + name)
    try FileManager.default.removeItem(atPath: bundle.path)
    let out = s3.work.appending("out")
    let (restore, served) = try await restoreAndServe(
      name, into: s3.work.appending("restored"),
      extra: ["--dir", s3.dir, "--decrypt-identity-file", key.file, "--bundle-to", out] + s3.arguments(), environment: s3.environment)
    #expect(restore.stdout.contains("unpacked the bundle s3://"), "\(restore)")
    #expect(try served.dump() == (try server.dump()))
    #expect(contents(out + "/var/lib/rancher/k3s/server/token") == contents(root + "/var/lib/rancher/k3s/server/token"))
    let d = try Tool.run(["delete", "--dir", s3.dir, name] + s3.arguments(), environment: s3.environment)
    #expect(d.status == 0, "\(d)")
    let remaining = try s3.objects().map(\.key)
    #expect(remaining.isEmpty, "snapshot, sidecar and bundle deleted: \(remaining)")
  }

  @Test("the agent makes a bundle with each scheduled snapshot, and its retention prunes them together")
  func agent() async throws {
    let server = try await EtcdServer(.etcd35)
    try server.putKeys(prefix: "/registry/leases/", count: 100)
    let work = try TemporaryDirectory(prefix: "bundle")
    let dir = work.appending("snapshots")
    let root = work.appending("node")
    try Self.k3sNode(root)
    let agent = try await AgentProcess(
      server.connectionArguments + [
        "--dir", dir, "--node-name", "node1", "--etcd-snapshot-schedule-cron", "@every 2s", "--etcd-snapshot-retention", "2",
        "--bundle-preset", "k3s", "--bundle-root", root,
      ])
    func names(_ folder: String) -> [String] {
      ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).filter { !$0.hasPrefix(".") && $0 != "bundles" }.sorted()
    }
    try await agent.waitUntil("four scheduled snapshots, two kept") {
      (try agent.metric("etcd_snapshot_successes_total{location=\"local\"}") ?? 0) >= 4
    }
    #expect(try agent.stop().status == 0)
    let snapshots = names(dir)
    let bundles = names(dir + "/bundles")
    #expect(snapshots.count == 2, "\(snapshots)")
    #expect(bundles == snapshots.map { $0 + ".bundle.tar" }, "one bundle per kept snapshot, the pruned ones' removed: \(bundles)")
  }
}
