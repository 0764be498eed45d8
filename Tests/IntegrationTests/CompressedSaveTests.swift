import EtcdTestSupport
import Foundation
import Testing

/// `save --compress` (and k3s's `--snapshot-compress`): what is stored, what its record says,
/// and that every reader and the standard tools read it.
@Suite("save --compress zstd|gzip|zip: stored compressed, recorded with both digests, read back by us and by the standard tools")
struct CompressedSaveTests {
  struct Record: Decodable {
    var name: String
    var size: Int64
    var sha256: String
    var compression: String?
    var storedSize: Int64?
    var storedSHA256: String?
  }

  static func record(_ dir: String, _ name: String) throws -> Record {
    try JSONDecoder().decode(Record.self, from: Data(contentsOf: URL(fileURLWithPath: dir + "/.metadata/" + name)))
  }

  /// The standard tool's command that writes the plain snapshot of `path` to stdout.
  static func expandCommand(_ compression: String) -> String {
    switch compression {
    case "zstd": "zstd -q -d -c \"$0\""
    case "gzip": "gzip -d -c \"$0\""
    default: "unzip -p \"$0\""
    }
  }

  /// `status -o json` without the metadata record, re-encoded with sorted keys.
  static func figures(_ json: String) throws -> String {
    var object = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
    object.removeValue(forKey: "metadata")
    return String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
  }

  static let suffixes = ["zstd": ".zst", "gzip": ".gz", "zip": ".zip"]

  static let cases: [(String, EtcdRelease)] = ["zstd", "gzip", "zip"].flatMap { c in EtcdRelease.allCases.map { (c, $0) } }

  @Test(
    "each compression on etcd 3.4 and 3.5: NAME+suffix (0600), the record's digests match the file and the plain snapshot; status, verify, restore",
    arguments: cases)
  func roundTrip(compression: String, release: EtcdRelease) async throws {
    let server = try await EtcdServer(release)
    try server.putKeys(prefix: "/registry/configmaps/", count: 3000)
    try server.ctl(["put", "/registry/big", String(repeating: "v", count: 120_000)])
    let work = try TemporaryDirectory(prefix: "csave")
    let dir = work.appending("snapshots")
    let r = try Tool.save(server, dir: dir, extra: ["--compress", compression])
    try #require(r.status == 0, "\(r)")
    let path = try #require(r.stdout.split(separator: "\n").first.map(String.init))
    let suffix = try #require(Self.suffixes[compression])
    #expect(path.hasSuffix(suffix), "\(path)")
    #expect(try mode(path) == 0o600)
    #expect(r.stdout.contains("stored \(compression) in"), "\(r.stdout)")
    let fileName = SystemFileName.base(path)
    let record = try Self.record(dir, fileName)
    #expect(record.name == fileName && record.compression == compression)
    // The stored digests are the file's; the others are the plain snapshot's, as the
    // standard tool expands it.
    let stored = try Data(contentsOf: URL(fileURLWithPath: path))
    let storedSHA = try sha256Hex(ofFile: path)
    #expect(record.storedSize == Int64(stored.count) && record.storedSHA256 == storedSHA)
    let plain = work.appending("expanded-by-the-tool")
    try TestProcess.check("/bin/sh", ["-c", Self.expandCommand(compression) + " > \"$1\"", path, plain])
    let plainSize = try #require(try FileManager.default.attributesOfItem(atPath: plain)[.size] as? Int)
    let plainSHA = try sha256Hex(ofFile: plain)
    #expect(record.size == Int64(plainSize) && record.sha256 == plainSHA)
    #expect(Int64(stored.count) * 2 < record.size, "JSON-like keys compress: \(stored.count) of \(record.size)")
    if compression == "zip" {
      // k3s's layout: one entry named as the plain snapshot, which unzip and Python check.
      let listing = try TestProcess.run("/usr/bin/env", ["unzip", "-Z1", path])
      #expect(listing.stdout == SnapshotNameText.plain(fileName) + "\n", "\(listing)")
      #expect(try TestProcess.run("/usr/bin/env", ["unzip", "-tq", path]).status == 0)
      #expect(try TestProcess.run("/usr/bin/env", ["python3", "-m", "zipfile", "-t", path]).status == 0)
    }
    // Status of the compressed file gives the plain file's figures (the plain copy has no record).
    let s = try Tool.run(["status", path, "-o", "json"])
    let plainStatus = try Tool.run(["status", plain, "-o", "json"])
    #expect(s.status == 0 && plainStatus.status == 0, "\(s)\n\(plainStatus)")
    #expect(try Self.figures(s.stdout) == Self.figures(plainStatus.stdout), "\(s)\n\(plainStatus)")
    let v = try Tool.run(["verify", path])
    #expect(v.status == 0 && v.stdout.contains("the \(compression) file's size and SHA-256 match the metadata record"), "\(v)")
    let rows = try Tool.list(dir)
    #expect(rows.count == 1 && rows.first?.name == fileName && rows.first?.hasMetadata == true, "\(rows)")
    let (restore, restored) = try await restoreAndServe(path, into: work.appending("restored"), release: release)
    #expect(restore.stdout.contains("SHA-256 verified"), "\(restore)")
    #expect(try restored.dump() == (try server.dump()), "every key, value, revision and version")
    let left = try FileManager.default.contentsOfDirectory(atPath: dir).filter { !$0.hasPrefix(".") }
    #expect(left == [fileName], "nothing but the snapshot in the directory: \(left)")
  }

  @Test("a changed byte, a cut, or another valid zstd file in place of a saved .zst: verify and restore name the problem, nothing is restored")
  func damaged() async throws {
    let server = try await EtcdServer(.etcd35)
    try server.putKeys(prefix: "/registry/secrets/", count: 1000)
    let work = try TemporaryDirectory(prefix: "csave")
    let dir = work.appending("snapshots")
    let r = try Tool.save(server, dir: dir, extra: ["--compress", "zstd", "--compress-level", "1"])
    try #require(r.status == 0, "\(r)")
    let path = try #require(r.stdout.split(separator: "\n").first.map(String.init))
    let original = try Data(contentsOf: URL(fileURLWithPath: path))
    var flipped = original
    flipped[original.count / 2] ^= 0x01
    // The same snapshot compressed anew: valid zstd, the same content, but not the file saved.
    let plain = work.appending("plain")
    try TestProcess.check("/bin/sh", ["-c", "zstd -q -d -c \"$0\" > \"$1\" && zstd -q -19 -c \"$1\" > \"$2\"", path, plain, plain + ".zst"])
    let replaced = try Data(contentsOf: URL(fileURLWithPath: plain + ".zst"))
    // A flipped bit is found by zstd, or (a bit zstd does not read: the same data comes out)
    // by the stored SHA-256 of the record.
    for (damage, bytes, findings) in [
      ("flipped", flipped, ["the zstd data is damaged", "its metadata record says"]), ("cut", original.prefix(original.count - 100), ["truncated"]),
      ("replaced", replaced, ["its metadata record says"]),
    ] {
      try Data(bytes).write(to: URL(fileURLWithPath: path))
      let v = try Tool.run(["verify", path])
      #expect(v.status != 0, "\(damage): \(v)")
      #expect(findings.contains { v.stdout.contains($0) }, "\(damage): \(v)")
      let dataDir = work.appending("never")
      let restore = try Tool.run(["restore", path, "--data-dir", dataDir])
      #expect(restore.status != 0 && restore.stderr.contains(path), "\(damage): \(restore)")
      #expect(!FileManager.default.fileExists(atPath: dataDir), "\(damage): no data dir")
      let left = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasPrefix(".download-") }
      #expect(left.isEmpty, "\(damage): no expanded copy left: \(left)")
    }
  }

  @Test("bad --compress values are refused before etcd is asked; --snapshot-compress means zip, as in k3s")
  func flags() async throws {
    let server = try await EtcdServer(.etcd35)
    let work = try TemporaryDirectory(prefix: "csave")
    let dir = work.appending("snapshots")
    for (arguments, message) in [
      (["--compress", "lz4"], "is not a compression: use zstd, gzip, zip or none"),
      (["--compress", "zstd", "--compress-level", "20"], "out of range for zstd: use 1 to 19"),
      (["--compress-level", "3"], "--compress-level needs --compress zstd, gzip or zip"),
      (["--compress", "gzip", "--snapshot-compress"], "disagree"),
    ] {
      let r = try Tool.save(server, dir: dir, extra: arguments)
      #expect(r.status != 0 && r.stderr.contains(message), "\(arguments): \(r)")
      let made = (try? FileManager.default.contentsOfDirectory(atPath: dir).filter { !$0.hasPrefix(".") }) ?? []
      #expect(made.isEmpty, "\(arguments): nothing saved: \(made)")
    }
    for spelling in ["--snapshot-compress", "--etcd-snapshot-compress"] {
      let r = try Tool.save(server, dir: dir, extra: [spelling, "--name", "k3s" + spelling])
      #expect(r.status == 0 && (r.stdout.split(separator: "\n").first ?? "").hasSuffix(".zip"), "\(spelling): \(r)")
    }
    // In a k3s config.yaml too.
    let config = work.appending("config.yaml")
    try "etcd-snapshot-compress: true\n".write(toFile: config, atomically: true, encoding: .utf8)
    let r = try Tool.save(server, dir: dir, extra: ["--config", config, "--name", "from-config"])
    #expect(r.status == 0 && (r.stdout.split(separator: "\n").first ?? "").hasSuffix(".zip"), "\(r)")
  }

  @Test("save --compress zstd --s3: the object is NAME.zst with the record; restore NAME.zst --s3 serves every key")
  func s3() async throws {
    let server = try await EtcdServer(.etcd35)
    try S3Fixture.fill(server, megabytes: 12)
    try server.putKeys(prefix: "/registry/pods/", count: 2000)
    let s3 = try await S3Fixture(folder: "zst/")
    let r = try s3.save(server, extra: ["--compress", "zstd"])
    try #require(r.status == 0, "\(r)")
    let name = try S3Fixture.name(from: r)
    #expect(name.hasSuffix(".zst"))
    let keys = try s3.objects().map(\.key)
    #expect(keys.contains("zst/" + name) && keys.contains("zst/.metadata/" + name), "\(keys)")
    let local = s3.dir + "/" + name
    let object = try #require(try s3.objects().first { $0.key == "zst/" + name })
    #expect(object.size == (try Data(contentsOf: URL(fileURLWithPath: local))).count, "the object is the stored file")
    // Restored from the bucket, with the local copy gone.
    try FileManager.default.removeItem(atPath: local)
    let (_, restored) = try await restoreAndServe(
      name, into: s3.work.appending("restored"), extra: ["--dir", s3.dir] + s3.arguments(), environment: s3.environment)
    #expect(try restored.dump() == (try server.dump()))
  }

  @Test("agent --etcd-snapshot-compress: scheduled snapshots are k3s zips that restore")
  func agent() async throws {
    let server = try await EtcdServer(.etcd35)
    try server.putKeys(prefix: "/registry/leases/", count: 500)
    let work = try TemporaryDirectory(prefix: "csave")
    let dir = work.appending("snapshots")
    let agent = try await AgentProcess(
      server.connectionArguments + [
        "--dir", dir, "--node-name", "node1", "--etcd-snapshot-schedule-cron", "@every 2s", "--etcd-snapshot-compress",
      ])
    func zips() -> [String] {
      ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.hasSuffix(".zip") }
    }
    try await agent.waitUntil("a scheduled zip") { !zips().isEmpty }
    #expect(try agent.stop().status == 0)
    let zip = try #require(zips().sorted().first)
    #expect(try Self.record(dir, zip).compression == "zip")
    let (_, restored) = try await restoreAndServe(dir + "/" + zip, into: work.appending("restored"))
    #expect(try restored.dump() == (try server.dump()))
  }
}

enum SnapshotNameText {
  /// `x.zip` -> `x`.
  static func plain(_ fileName: String) -> String {
    for suffix in [".zip", ".zst", ".gz"] where fileName.hasSuffix(suffix) { return String(fileName.dropLast(suffix.count)) }
    return fileName
  }
}
