import EtcdTestSupport
import Foundation
import Testing

/// `save --encrypt-recipient` (age): what is stored, that the standard `age` reads it without
/// us, that we read what `age` made, and that a missing or wrong identity or a damaged file
/// is refused with nothing left behind.
@Suite("save --encrypt-recipient (age): NAME[.zst].age, read by age -d and by status, verify and restore with the identity")
struct EncryptedSaveTests {
  struct Record: Decodable {
    var name: String
    var size: Int64
    var sha256: String
    var compression: String?
    var storedSize: Int64?
    var storedSHA256: String?
    var encryption: String?
    var recipients: [String]?
  }

  static func record(_ dir: String, _ name: String) throws -> Record {
    try JSONDecoder().decode(Record.self, from: Data(contentsOf: URL(fileURLWithPath: dir + "/.metadata/" + name)))
  }

  /// An identity made by the real `age-keygen`: (key file, public key).
  static func keygen(_ work: TemporaryDirectory, _ name: String) throws -> (file: String, recipient: String, secret: String) {
    let file = work.appending(name)
    try TestProcess.check("/usr/bin/env", ["age-keygen", "-o", file])
    let recipient = try TestProcess.check("/usr/bin/env", ["age-keygen", "-y", file]).trimmingCharacters(in: .whitespacesAndNewlines)
    let secret = try String(contentsOfFile: file, encoding: .utf8).split(separator: "\n").first { $0.hasPrefix("AGE-SECRET-KEY-") }
    return (file, recipient, String(try #require(secret)))
  }

  /// Runs `age ARGS` on a pseudo-terminal that answers its passphrase prompts.
  static func ageTTY(_ arguments: [String], passphrase: String) throws -> ProcessResult {
    var environment = ProcessInfo.processInfo.environment
    environment["AGE_TTY_PASSPHRASE"] = passphrase
    return try TestProcess.run("/usr/bin/env", ["python3", repositoryRoot() + "/Tests/Fixtures/age-tty.py"] + arguments, environment: environment)
  }

  /// The command that writes the plain snapshot of the compressed file "$0" to stdout.
  static func expand(_ compression: String) -> String {
    switch compression {
    case "zstd": "zstd -q -d -c \"$0\""
    case "gzip": "gzip -d -c \"$0\""
    case "zip": "unzip -p \"$0\""
    default: "cat \"$0\""
    }
  }

  static let suffixes = ["none": "", "zstd": ".zst", "gzip": ".gz", "zip": ".zip"]

  static let cases: [(String, EtcdRelease)] = ["none", "zstd", "gzip", "zip"].flatMap { c in EtcdRelease.allCases.map { (c, $0) } }

  @Test(
    "each compression, encrypted to two recipients, on etcd 3.4 and 3.5: NAME+suffix.age (0600), age -d gives the recorded plain snapshot; status, verify and restore with either identity",
    arguments: cases)
  func roundTrip(compression: String, release: EtcdRelease) async throws {
    let server = try await EtcdServer(release)
    try server.putKeys(prefix: "/registry/secrets/", count: 2000)
    // Values go on etcdctl's command line: at most 128 KiB each (MAX_ARG_STRLEN).
    try server.ctl(["put", "/registry/big", String(repeating: "s", count: 120_000)])
    let work = try TemporaryDirectory(prefix: "esave")
    let dir = work.appending("snapshots")
    let first = try Self.keygen(work, "first.key")
    let second = try Self.keygen(work, "second.key")
    let recipientsFile = work.appending("recipients.txt")
    try "# the second operator\n\(second.recipient)\n".write(toFile: recipientsFile, atomically: true, encoding: .utf8)
    let r = try Tool.save(
      server, dir: dir, extra: ["--compress", compression, "--encrypt-recipient", first.recipient, "--encrypt-recipients-file", recipientsFile])
    try #require(r.status == 0, "\(r)")
    let path = try #require(r.stdout.split(separator: "\n").first.map(String.init))
    let suffix = try #require(Self.suffixes[compression]) + ".age"
    #expect(path.hasSuffix(suffix), "\(path)")
    #expect(try mode(path) == 0o600)
    #expect(r.stdout.contains("encrypted (age) to 2 recipient(s)"), "\(r.stdout)")
    let fileName = SystemFileName.base(path)
    let record = try Self.record(dir, fileName)
    #expect(record.encryption == "age" && record.recipients == [first.recipient, second.recipient], "\(record)")
    #expect(record.compression == (compression == "none" ? nil : compression))
    #expect(record.storedSHA256 == (try sha256Hex(ofFile: path)))
    // Debian's age, with either key, gives the compressed file; the tool expands it to the
    // plain snapshot the record describes.
    for key in [first.file, second.file] {
      let inner = work.appending("inner")
      try TestProcess.check("/usr/bin/env", ["age", "-d", "-i", key, "-o", inner, path])
      let plain = work.appending("plain")
      try TestProcess.check("/bin/sh", ["-c", Self.expand(compression) + " > \"$1\"", inner, plain])
      #expect(try sha256Hex(ofFile: plain) == record.sha256, "age -d -i \(key)")
      let plainSize = try #require(try FileManager.default.attributesOfItem(atPath: plain)[.size] as? Int)
      #expect(Int64(plainSize) == record.size)
    }
    // No plain text of the secrets in the stored file.
    let stored = try Data(contentsOf: URL(fileURLWithPath: path))
    #expect(stored.range(of: Data("/registry/secrets/".utf8)) == nil, "the keys are not readable in the file")
    // Ours, with the identity.
    let s = try Tool.run(["status", path, "--decrypt-identity-file", second.file, "-o", "json"])
    #expect(s.status == 0 && s.stdout.contains("\"revision\""), "\(s)")
    let v = try Tool.run(["verify", path, "--decrypt-identity-file", first.file])
    #expect(v.status == 0 && v.stdout.contains("decrypted: the age header and every payload chunk authenticated"), "\(v)")
    #expect(v.stdout.contains("file's size and SHA-256 match the metadata record"), "\(v)")
    let rows = try Tool.list(dir)
    #expect(rows.count == 1 && rows.first?.name == fileName && rows.first?.size == Int64(stored.count), "ls shows the stored file: \(rows)")
    let (restore, restored) = try await restoreAndServe(
      path, into: work.appending("restored"), release: release, extra: ["--decrypt-identity-file", second.file])
    #expect(restore.stdout.contains("SHA-256 verified"), "\(restore)")
    #expect(try restored.dump() == (try server.dump()), "every key, value, revision and version")
    let left = try FileManager.default.contentsOfDirectory(atPath: dir).filter { !$0.hasPrefix(".") }
    #expect(left == [fileName], "no decrypted copy beside the snapshot: \(left)")
  }

  @Test("no identity, a wrong one, a bad identity file: each reader refuses, names the recipients and the flag, and leaves nothing")
  func identities() async throws {
    let server = try await EtcdServer(.etcd35)
    try server.putKeys(prefix: "/registry/secrets/", count: 300)
    let work = try TemporaryDirectory(prefix: "esave")
    let dir = work.appending("snapshots")
    let right = try Self.keygen(work, "right.key")
    let wrong = try Self.keygen(work, "wrong.key")
    let r = try Tool.save(server, dir: dir, extra: ["--compress", "zstd", "--encrypt-recipient", right.recipient])
    try #require(r.status == 0, "\(r)")
    let path = try #require(r.stdout.split(separator: "\n").first.map(String.init))
    let notAKey = work.appending("not-a-key")
    try "AGE-SECRET-KEY-1NOTAKEY\n".write(toFile: notAKey, atomically: true, encoding: .utf8)
    for (extra, message) in [
      ([String](), "--decrypt-identity-file"),
      (["--decrypt-identity-file", wrong.file], "cannot be decrypted with the identities given"),
      (["--decrypt-identity-file", notAKey], "--decrypt-identity-file \(notAKey): "),
      (["--decrypt-identity-file", work.appending("missing")], "cannot be read"),
    ] {
      for command in [["status", path], ["verify", path], ["restore", path, "--data-dir", work.appending("never")]] {
        let result = try Tool.run(command + extra)
        #expect(result.status != 0, "\(command) \(extra): \(result)")
        let text = result.stdout + result.stderr
        #expect(text.contains(message), "\(command) \(extra): \(result)")
        if extra.isEmpty || extra.last == wrong.file {
          #expect(text.contains(right.recipient), "names the recipient it was made for: \(result)")
        }
        #expect(!text.contains(right.secret) && !text.contains(wrong.secret) && !text.contains("NOTAKEY"), "no secret in messages: \(result)")
      }
      #expect(!FileManager.default.fileExists(atPath: work.appending("never")), "\(extra): no data dir")
      let left = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasPrefix(".download-") }
      #expect(left.isEmpty, "\(extra): no decrypted copy left: \(left)")
    }
    // The variable works as the flag does.
    let v = try Tool.run(["verify", path], environment: ["ETCD_SNAPSHOT_DECRYPT_IDENTITY_FILE": right.file])
    #expect(v.status == 0, "\(v)")
  }

  @Test("a flipped bit in the header, the nonce, a payload chunk or the last tag, and a cut at each chunk boundary: refused, nothing restored")
  func damaged() async throws {
    let server = try await EtcdServer(.etcd35)
    try server.putKeys(prefix: "/registry/pods/", count: 500)
    for i in 0..<3 { try server.ctl(["put", "/registry/big\(i)", String(repeating: "p", count: 100_000)]) }
    let work = try TemporaryDirectory(prefix: "esave")
    let dir = work.appending("snapshots")
    let key = try Self.keygen(work, "key")
    // Plain inside: several 64 KiB chunks.
    let r = try Tool.save(server, dir: dir, extra: ["--encrypt-recipient", key.recipient])
    try #require(r.status == 0, "\(r)")
    let path = try #require(r.stdout.split(separator: "\n").first.map(String.init))
    let original = try Data(contentsOf: URL(fileURLWithPath: path))
    let headerEnd = try #require(original.range(of: Data("\n---".utf8))).lowerBound + 49  // "\n--- " + 43 base64 characters + "\n"
    let payload = headerEnd + 16
    let chunk = 65_536 + 16
    try #require(original.count > payload + 2 * chunk, "at least three chunks: \(original.count)")
    var damages: [(String, Data)] = []
    for (label, offset) in [
      ("the version line", 3), ("a stanza", 30), ("the header MAC", headerEnd - 10), ("the nonce", headerEnd + 3),
      ("the first chunk", payload + 100), ("the second chunk's tag", payload + 2 * chunk - 1), ("the last byte", original.count - 1),
    ] {
      var flipped = original
      flipped[offset] ^= 0x04
      damages.append(("a bit of \(label)", flipped))
    }
    for (label, length) in [
      ("inside the header", 40), ("after the header", headerEnd), ("after the nonce", payload), ("after the first chunk", payload + chunk),
      ("after the second chunk", payload + 2 * chunk), ("one byte short", original.count - 1),
    ] {
      damages.append(("cut \(label)", original.prefix(length)))
    }
    damages.append(("a byte appended", original + Data([0])))
    for (label, bytes) in damages {
      try bytes.write(to: URL(fileURLWithPath: path))
      let v = try Tool.run(["verify", path, "--decrypt-identity-file", key.file])
      #expect(v.status != 0, "\(label): \(v)")
      let dataDir = work.appending("never")
      let restore = try Tool.run(["restore", path, "--data-dir", dataDir, "--decrypt-identity-file", key.file])
      #expect(restore.status != 0 && restore.stderr.contains(path), "\(label): \(restore)")
      #expect(!FileManager.default.fileExists(atPath: dataDir), "\(label): no data dir")
      let left = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasPrefix(".download-") }
      #expect(left.isEmpty, "\(label): no decrypted copy left: \(left)")
    }
    // The original still restores: the checks above were about the damage.
    try original.write(to: URL(fileURLWithPath: path))
    let v = try Tool.run(["verify", path, "--decrypt-identity-file", key.file])
    #expect(v.status == 0, "\(v)")
  }

  @Test("what age -r made of a zstd'ed snapshot, and what age -p made, restore with us; our passphrase file decrypts with age -d")
  func madeByAge() async throws {
    let server = try await EtcdServer(.etcd35)
    try server.putKeys(prefix: "/registry/configmaps/", count: 800)
    let work = try TemporaryDirectory(prefix: "esave")
    let plain = work.appending("plain.db")
    try server.ctl(["snapshot", "save", plain])
    let key = try Self.keygen(work, "key")
    try TestProcess.check(
      "/bin/sh", ["-c", "zstd -q -3 -c \"$0\" | age -r \"$1\" -o \"$2\"", plain, key.recipient, work.appending("by-age.zst.age")])
    let (_, restored) = try await restoreAndServe(
      work.appending("by-age.zst.age"), into: work.appending("restored-r"), extra: ["--decrypt-identity-file", key.file])
    #expect(try restored.dump() == (try server.dump()))
    restored.stop()
    // age -p reads the passphrase from the terminal only.
    let passphrase = "correct horse battery staple"
    let passphraseFile = work.appending("passphrase")
    try (passphrase + "\n").write(toFile: passphraseFile, atomically: true, encoding: .utf8)
    let byAgeP = work.appending("by-age-p.age")
    let p = try Self.ageTTY(["-p", "-o", byAgeP, plain], passphrase: passphrase)
    try #require(p.status == 0, "\(p)")
    let s = try Tool.run(["status", byAgeP, "--decrypt-passphrase-file", passphraseFile])
    #expect(s.status == 0, "\(s)")
    let (_, restoredP) = try await restoreAndServe(byAgeP, into: work.appending("restored-p"), extra: ["--decrypt-passphrase-file", passphraseFile])
    #expect(try restoredP.dump() == (try server.dump()))
    // Ours with a passphrase, read by age -d.
    let dir = work.appending("snapshots")
    let r = try Tool.save(server, dir: dir, extra: ["--compress", "gzip", "--encrypt-passphrase-file", passphraseFile])
    try #require(r.status == 0 && r.stdout.contains("with a passphrase"), "\(r)")
    let path = try #require(r.stdout.split(separator: "\n").first.map(String.init))
    #expect(path.hasSuffix(".gz.age"))
    let inner = work.appending("ours.gz")
    let d = try Self.ageTTY(["-d", "-o", inner, path], passphrase: passphrase)
    try #require(d.status == 0, "\(d)")
    try TestProcess.check("/bin/sh", ["-c", "gzip -d -c \"$0\" > \"$1\"", inner, work.appending("ours.db")])
    #expect(try sha256Hex(ofFile: work.appending("ours.db")) == (try Self.record(dir, SystemFileName.base(path)).sha256))
    // The wrong passphrase is refused.
    let wrongFile = work.appending("wrong")
    try "not it\n".write(toFile: wrongFile, atomically: true, encoding: .utf8)
    let w = try Tool.run(["verify", path, "--decrypt-passphrase-file", wrongFile])
    #expect(w.status != 0 && w.stderr.contains("cannot be decrypted"), "\(w)")
  }

  @Test("bad recipients are refused before etcd is asked, naming the fix; nothing is saved")
  func flags() async throws {
    let server = try await EtcdServer(.etcd35)
    let work = try TemporaryDirectory(prefix: "esave")
    let dir = work.appending("snapshots")
    let key = try Self.keygen(work, "key")
    let empty = work.appending("empty-recipients")
    try "# nobody yet\n".write(toFile: empty, atomically: true, encoding: .utf8)
    let passphrase = work.appending("passphrase")
    try "a passphrase\n".write(toFile: passphrase, atomically: true, encoding: .utf8)
    for (arguments, message) in [
      (["--encrypt-recipient", "age1notakey"], "is not an age X25519 recipient"),
      (["--encrypt-recipient", "ssh-ed25519 AAAA"], "age-keygen -y"),
      (["--encrypt-recipients-file", work.appending("missing")], "cannot be read"),
      (["--encrypt-recipients-file", empty], "holds no recipient"),
      (["--encrypt-recipients-file", key.file], "line 3 holds a secret key (an identity), not a recipient"),
      (["--encrypt-recipient", key.secret], "was given a secret key (an identity), not a recipient"),
      (["--encrypt-passphrase-file", passphrase, "--encrypt-recipient", key.recipient], "age allows a passphrase only alone"),
    ] {
      let r = try Tool.save(server, dir: dir, extra: arguments)
      #expect(r.status != 0 && r.stderr.contains(message), "\(arguments): \(r)")
      #expect(!r.stderr.contains(key.secret), "no secret in messages: \(r)")
      let made = (try? FileManager.default.contentsOfDirectory(atPath: dir).filter { !$0.hasPrefix(".") }) ?? []
      #expect(made.isEmpty, "\(arguments): nothing saved: \(made)")
    }
    // From a config file too.
    let config = work.appending("config.yaml")
    try "encrypt-recipient:\n  - \(key.recipient)\n".write(toFile: config, atomically: true, encoding: .utf8)
    let r = try Tool.save(server, dir: dir, extra: ["--config", config])
    #expect(r.status == 0 && (r.stdout.split(separator: "\n").first ?? "").hasSuffix(".age"), "\(r)")
  }

  @Test(
    "save --compress zstd --encrypt-recipient --s3: the object is NAME.zst.age; restore from the bucket with the identity",
    arguments: ["zstd", "none"])
  func s3(compression: String) async throws {
    let server = try await EtcdServer(.etcd35)
    try S3Fixture.fill(server, megabytes: 12)
    try server.putKeys(prefix: "/registry/secrets/", count: 1000)
    let s3 = try await S3Fixture(folder: "age/")
    let key = try Self.keygen(s3.work, "key")
    let r = try s3.save(server, extra: ["--compress", compression, "--encrypt-recipient", key.recipient])
    try #require(r.status == 0, "\(r)")
    let name = try S3Fixture.name(from: r)
    #expect(name.hasSuffix(compression == "zstd" ? ".zst.age" : ".age") && (compression == "zstd" || !name.contains(".zst")), "\(name)")
    let local = s3.dir + "/" + name
    let object = try #require(try s3.objects().first { $0.key == "age/" + name })
    #expect(object.size == (try Data(contentsOf: URL(fileURLWithPath: local))).count, "the object is the stored file")
    try FileManager.default.removeItem(atPath: local)
    let refused = try Tool.run(["verify", name, "--dir", s3.dir] + s3.arguments(), environment: s3.environment)
    #expect(refused.status != 0 && refused.stderr.contains(key.recipient), "\(refused)")
    let (_, restored) = try await restoreAndServe(
      name, into: s3.work.appending("restored"), extra: ["--dir", s3.dir, "--decrypt-identity-file", key.file] + s3.arguments(),
      environment: s3.environment)
    #expect(try restored.dump() == (try server.dump()))
  }

  /// The bytes after the age header (the payload nonce and chunks).
  static func payload(_ data: Data) throws -> Data {
    let end = try #require(data.range(of: Data("\n---".utf8))).lowerBound + 49
    return data.suffix(from: end)
  }

  @Test(
    "rekey: a new header for new recipients, the payload unchanged; the old identity then fails, the new ones open it; a wrong identity, a plain file or a changed file are refused and left as they were"
  )
  func rekey() async throws {
    let server = try await EtcdServer(.etcd35)
    try server.putKeys(prefix: "/registry/secrets/", count: 1500)
    let work = try TemporaryDirectory(prefix: "esave")
    let dir = work.appending("snapshots")
    let old = try Self.keygen(work, "old.key")
    let new1 = try Self.keygen(work, "new1.key")
    let new2 = try Self.keygen(work, "new2.key")
    let r = try Tool.save(server, dir: dir, extra: ["--compress", "zstd", "--encrypt-recipient", old.recipient])
    try #require(r.status == 0, "\(r)")
    let path = try #require(r.stdout.split(separator: "\n").first.map(String.init))
    let name = SystemFileName.base(path)
    let before = try Data(contentsOf: URL(fileURLWithPath: path))
    // Refused, and nothing changed: a wrong identity, and no identity at all.
    for extra in [["--decrypt-identity-file", new1.file], []] {
      let refused = try Tool.run(["rekey", name, "--dir", dir, "--encrypt-recipient", new1.recipient] + extra)
      #expect(refused.status != 0, "\(extra): \(refused)")
      #expect(refused.stderr.contains(extra.isEmpty ? "--decrypt-identity-file" : old.recipient), "\(extra): \(refused)")
      #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before, "\(extra): unchanged")
    }
    let rekeyed = try Tool.run([
      "rekey", name, "--dir", dir, "--decrypt-identity-file", old.file, "--encrypt-recipient", new1.recipient, "--encrypt-recipient", new2.recipient,
    ])
    try #require(rekeyed.status == 0 && rekeyed.stdout.contains("rekeyed \(path)"), "\(rekeyed)")
    let after = try Data(contentsOf: URL(fileURLWithPath: path))
    #expect(after != before)
    #expect(try Self.payload(after) == (try Self.payload(before)), "the same file key: the payload is kept byte for byte")
    #expect(try mode(path) == 0o600)
    let record = try Self.record(dir, name)
    let afterSHA = try sha256Hex(ofFile: path)
    #expect(record.recipients == [new1.recipient, new2.recipient] && record.storedSHA256 == afterSHA, "\(record)")
    #expect(record.storedSize == Int64(after.count))
    let left = try FileManager.default.contentsOfDirectory(atPath: dir).filter { !$0.hasPrefix(".") }
    #expect(left == [name], "no .part left: \(left)")
    // The old identity no longer opens it, with us or with age; the new ones do.
    let oldVerify = try Tool.run(["verify", path, "--decrypt-identity-file", old.file])
    #expect(oldVerify.status != 0 && oldVerify.stderr.contains(new1.recipient), "\(oldVerify)")
    #expect(try TestProcess.run("/usr/bin/env", ["age", "-d", "-i", old.file, "-o", work.appending("x"), path]).status != 0)
    try TestProcess.check("/usr/bin/env", ["age", "-d", "-i", new2.file, "-o", work.appending("by-age.zst"), path])
    let v = try Tool.run(["verify", path, "--decrypt-identity-file", new2.file])
    #expect(v.status == 0, "\(v)")
    let (_, restored) = try await restoreAndServe(path, into: work.appending("restored"), extra: ["--decrypt-identity-file", new1.file])
    #expect(try restored.dump() == (try server.dump()))
    // A changed file is not rekeyed: its record says otherwise.
    var changed = after
    changed[changed.count - 5] ^= 0x10
    try changed.write(to: URL(fileURLWithPath: path))
    let c = try Tool.run(["rekey", path, "--decrypt-identity-file", new1.file, "--encrypt-recipient", old.recipient])
    #expect(c.status != 0 && c.stderr.contains("changed after it was saved"), "\(c)")
    #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == changed, "left as it was")
    // A plain snapshot has no header to rekey.
    let plain = try Tool.save(server, dir: dir, extra: ["--name", "plain"])
    let plainPath = try #require(plain.stdout.split(separator: "\n").first.map(String.init))
    let p = try Tool.run(["rekey", plainPath, "--decrypt-identity-file", new1.file, "--encrypt-recipient", old.recipient])
    #expect(p.status != 0 && p.stderr.contains("is not age-encrypted"), "\(p)")
  }

  @Test("agent --encrypt-recipient --compress zstd: scheduled snapshots are .zst.age files that restore with the identity")
  func agent() async throws {
    let server = try await EtcdServer(.etcd35)
    try server.putKeys(prefix: "/registry/leases/", count: 500)
    let work = try TemporaryDirectory(prefix: "esave")
    let dir = work.appending("snapshots")
    let key = try Self.keygen(work, "key")
    let agent = try await AgentProcess(
      server.connectionArguments + [
        "--dir", dir, "--node-name", "node1", "--etcd-snapshot-schedule-cron", "@every 2s", "--compress", "zstd",
        "--encrypt-recipient", key.recipient,
      ])
    func encrypted() -> [String] {
      ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.hasSuffix(".zst.age") }
    }
    try await agent.waitUntil("a scheduled .zst.age") { !encrypted().isEmpty }
    #expect(try agent.stop().status == 0)
    let file = try #require(encrypted().sorted().first)
    #expect(try Self.record(dir, file).recipients == [key.recipient])
    let (_, restored) = try await restoreAndServe(dir + "/" + file, into: work.appending("restored"), extra: ["--decrypt-identity-file", key.file])
    #expect(try restored.dump() == (try server.dump()))
  }

  @Test(
    "rekey --s3: the object gets a new header in the store (one ranged GET, the rest UploadPartCopy), its metadata and payload kept; the old identity fails, the new one restores; small objects too; a wrong identity leaves it as it was",
    arguments: [14, 0])
  func rekeyS3(megabytes: Int) async throws {
    let server = try await EtcdServer(.etcd35)
    if megabytes > 0 { try S3Fixture.fill(server, megabytes: megabytes) }
    try server.putKeys(prefix: "/registry/secrets/", count: 300)
    let s3 = try await S3Fixture(folder: "rekey/")
    let old = try Self.keygen(s3.work, "old.key")
    let new = try Self.keygen(s3.work, "new.key")
    let r = try s3.save(server, extra: ["--encrypt-recipient", old.recipient])
    try #require(r.status == 0, "\(r)")
    let name = try S3Fixture.name(from: r)
    let key = "rekey/" + name
    let before = try #require(try s3.objects().first { $0.key == key })
    #expect(megabytes == 0 ? before.size < 8 << 20 : before.size > 10 << 20, "the one-PUT path, or the UploadPartCopy one: \(before.size)")
    let beforeFile = s3.work.appending("before.age")
    _ = try s3.moto.oracle(bucket: s3.bucket, ["get", key, beforeFile])
    // A wrong identity: refused, the object unchanged.
    let wrong = try Tool.run(
      ["rekey", name, "--decrypt-identity-file", new.file, "--encrypt-recipient", new.recipient] + s3.arguments(), environment: s3.environment)
    #expect(wrong.status != 0 && wrong.stderr.contains(old.recipient), "\(wrong)")
    let rekeyed = try Tool.run(
      ["rekey", name, "--decrypt-identity-file", old.file, "--encrypt-recipient", new.recipient] + s3.arguments(), environment: s3.environment)
    try #require(rekeyed.status == 0 && rekeyed.stdout.contains("rekeyed s3://\(s3.bucket)/\(key)"), "\(rekeyed)")
    let after = try #require(try s3.objects().first { $0.key == key })
    #expect(after.metadata == before.metadata, "the object's metadata is kept")
    #expect(try s3.openUploads().isEmpty)
    let afterFile = s3.work.appending("after.age")
    _ = try s3.moto.oracle(bucket: s3.bucket, ["get", key, afterFile])
    let beforeData = try Data(contentsOf: URL(fileURLWithPath: beforeFile))
    let afterData = try Data(contentsOf: URL(fileURLWithPath: afterFile))
    #expect(after.size == afterData.count)
    let samePayload = try Self.payload(afterData) == Self.payload(beforeData)
    #expect(afterData != beforeData && samePayload, "the payload is kept byte for byte")
    #expect(try TestProcess.run("/usr/bin/env", ["age", "-d", "-i", old.file, "-o", s3.work.appending("x"), afterFile]).status != 0)
    try TestProcess.check("/usr/bin/env", ["age", "-d", "-i", new.file, "-o", s3.work.appending("plain.db"), afterFile])
    // ls --s3 sees the new size in the record (no problem), and restore from the bucket opens with the new key.
    let row = try #require(try s3.list().first { $0.url.hasPrefix("s3://") })
    #expect(row.problem == nil && row.size == Int64(afterData.count), "\(row)")
    try FileManager.default.removeItem(atPath: s3.dir + "/" + name)
    let (_, restored) = try await restoreAndServe(
      name, into: s3.work.appending("restored"), extra: ["--dir", s3.dir, "--decrypt-identity-file", new.file] + s3.arguments(),
      environment: s3.environment)
    #expect(try restored.dump() == (try server.dump()))
  }

  @Test(
    "through S3, each compression, encrypted or not, on etcd 3.4 and 3.5: the object is the stored file; restore --s3 from the bucket alone (with the identity) gives every key",
    arguments: cases.flatMap { c in [(c.0, c.1, true), (c.0, c.1, false)] })
  func s3RoundTrip(compression: String, release: EtcdRelease, encrypted: Bool) async throws {
    let server = try await EtcdServer(release)
    try server.putKeys(prefix: "/registry/secrets/", count: 500)
    let s3 = try await S3Fixture(folder: "matrix/")
    let key = try Self.keygen(s3.work, "key")
    let r = try s3.save(server, extra: ["--compress", compression] + (encrypted ? ["--encrypt-recipient", key.recipient] : []))
    try #require(r.status == 0, "\(r)")
    let name = try S3Fixture.name(from: r)
    #expect(name.hasSuffix(try #require(Self.suffixes[compression]) + (encrypted ? ".age" : "")), "\(name)")
    let local = s3.dir + "/" + name
    let object = try #require(try s3.objects().first { $0.key == "matrix/" + name })
    #expect(object.size == (try Data(contentsOf: URL(fileURLWithPath: local))).count, "the object is the stored file")
    try FileManager.default.removeItem(atPath: local)
    let (_, restored) = try await restoreAndServe(
      name, into: s3.work.appending("restored"), release: release,
      extra: ["--dir", s3.dir] + (encrypted ? ["--decrypt-identity-file", key.file] : []) + s3.arguments(), environment: s3.environment)
    #expect(try restored.dump() == (try server.dump()))
  }

  @Test("agent with a bad recipient (or bundle recipient) stops at start, naming it, instead of failing every scheduled snapshot")
  func agentBadKey() async throws {
    let server = try await EtcdServer(.etcd35)
    let work = try TemporaryDirectory(prefix: "esave")
    let key = try Self.keygen(work, "key")
    let port = try freeLoopbackPort()
    let common =
      server.connectionArguments + [
        "--dir", work.appending("snapshots"), "--node-name", "node1", "--etcd-snapshot-schedule-cron", "@every 1s",
        "--http-listen", "127.0.0.1:\(port)",
      ]
    let missing = try Tool.run(["agent"] + common + ["--encrypt-recipients-file", work.appending("nope.txt")], timeout: .seconds(60))
    #expect(missing.status != 0 && missing.stderr.contains("nope.txt"), "\(missing)")
    let secret = try Tool.run(
      ["agent"] + common + ["--encrypt-recipient", key.recipient, "--bundle", work.path, "--bundle-recipient", "age1notakey"],
      timeout: .seconds(60))
    #expect(secret.status != 0 && secret.stderr.contains("age1notakey"), "\(secret)")
    #expect(((try? FileManager.default.contentsOfDirectory(atPath: work.appending("snapshots"))) ?? []).filter { !$0.hasPrefix(".") }.isEmpty)
  }
}
