import AgeFormat
import EtcdTestSupport
import Foundation
import Testing

/// Our age files against Debian's `age` and `age-keygen` (the reference implementation).
@Suite("age interop: Debian's age decrypts ours, we decrypt age's")
struct AgeToolTests {
  func bytes(_ count: Int, seed: UInt64) -> [UInt8] {
    var random = SplitMix64(state: seed)
    return (0..<count).map { _ in UInt8(truncatingIfNeeded: random.next()) }
  }

  func write(_ data: [UInt8], _ path: String) throws { try Data(data).write(to: URL(fileURLWithPath: path)) }
  func read(_ path: String) throws -> [UInt8] { Array(try Data(contentsOf: URL(fileURLWithPath: path))) }

  @Test("age-keygen's key: we derive the same recipient as age-keygen -y, and both directions decrypt")
  func keygenKey() throws {
    let work = try TemporaryDirectory(prefix: "age")
    let key = work.appending("key.txt")
    try TestProcess.check("/usr/bin/age-keygen", ["-o", key])
    let theirRecipient = try TestProcess.check("/usr/bin/age-keygen", ["-y", key]).trimmingCharacters(in: .whitespacesAndNewlines)
    let identities = try AgeIdentity.parseIdentityFile(String(decoding: try read(key), as: UTF8.self))
    #expect(identities.count == 1)
    #expect(identities.first?.recipientString == theirRecipient)

    for size in [0, 1, 65_536, 200_003] {
      let plain = bytes(size, seed: UInt64(size))
      // Ours, decrypted by age.
      let ours = work.appending("ours-\(size).age")
      try write(try Age.encrypt(plain, to: [try AgeRecipient.parse(theirRecipient)]), ours)
      let out = work.appending("ours-\(size).out")
      try TestProcess.check("/usr/bin/age", ["-d", "-i", key, "-o", out, ours])
      // age opens -o FILE at its first byte of output: an empty plaintext makes no file.
      let decrypted = FileManager.default.fileExists(atPath: out) ? try read(out) : []
      #expect(decrypted == plain, "age -d reads ours, \(size) bytes")
      // age's, decrypted by us.
      let source = work.appending("plain-\(size)")
      try write(plain, source)
      let theirs = work.appending("theirs-\(size).age")
      try TestProcess.check("/usr/bin/age", ["-r", theirRecipient, "-o", theirs, source])
      #expect(try Age.decrypt(try read(theirs), identities: identities) == plain, "we read age -r, \(size) bytes")
    }
  }

  @Test("our generated key works with age: age -r OUR_RECIPIENT, then age -d -i OUR_KEY_FILE; two recipients")
  func ourKey() throws {
    let work = try TemporaryDirectory(prefix: "age")
    let ours = AgeX25519Identity.generate()
    let other = AgeX25519Identity.generate()
    let keyFile = work.appending("our-key.txt")
    try write(Array("# created by etcd-snapshot's tests\n\(ours.string)\n".utf8), keyFile)
    let plain = bytes(100_000, seed: 7)
    let source = work.appending("plain")
    try write(plain, source)
    let encrypted = work.appending("x.age")
    try TestProcess.check("/usr/bin/age", ["-r", ours.recipient.string, "-r", other.recipient.string, "-o", encrypted, source])
    let out = work.appending("out")
    try TestProcess.check("/usr/bin/age", ["-d", "-i", keyFile, "-o", out, encrypted])
    #expect(try read(out) == plain)
    // Ours to both: age decrypts with either key.
    let both = work.appending("both.age")
    try write(try Age.encrypt(plain, to: [.x25519(ours.recipient), .x25519(other.recipient)]), both)
    let otherFile = work.appending("other-key.txt")
    try write(Array("\(other.string)\n".utf8), otherFile)
    for (i, identity) in [keyFile, otherFile].enumerated() {
      let decrypted = work.appending("both-\(i).out")
      try TestProcess.check("/usr/bin/age", ["-d", "-i", identity, "-o", decrypted, both])
      #expect(try read(decrypted) == plain, "with \(identity)")
    }
    // A wrong key: age refuses, and so do we, naming what the file was made for.
    let stranger = AgeX25519Identity.generate()
    do {
      _ = try Age.decrypt(try read(both), identities: [.x25519(stranger)])
      Issue.record("a stranger's key decrypted the file")
    } catch {
      #expect("\(error)".contains("2 X25519"), "\(error)")
    }
  }
}
