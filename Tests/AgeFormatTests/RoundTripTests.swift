import EtcdTestSupport
import Testing

@testable import AgeFormat

extension SplitMix64 {
  /// `n` bytes of test data (not for cryptography).
  mutating func bytes(_ n: Int) -> [UInt8] { (0..<n).map { _ in UInt8.random(in: 0...255, using: &self) } }
}

/// Encrypts `plaintext` feeding it in random-sized pieces.
func encryptInPieces(_ plaintext: [UInt8], to recipients: [AgeRecipient], rng: inout SplitMix64) throws -> [UInt8] {
  var encryptor = try AgeEncryptor(recipients: recipients)
  var out: [UInt8] = []
  var offset = 0
  while offset < plaintext.count {
    let n = min(Int.random(in: 1...100_000, using: &rng), plaintext.count - offset)
    try encryptor.update(plaintext[offset..<(offset + n)], into: &out)
    offset += n
  }
  try encryptor.finish(into: &out)
  return out
}

func decryptInPieces(_ file: [UInt8], identities: [AgeIdentity], rng: inout SplitMix64) throws -> [UInt8] {
  var decryptor = AgeDecryptor(identities: identities)
  var out: [UInt8] = []
  var offset = 0
  while offset < file.count {
    let n = min(Int.random(in: 1...100_000, using: &rng), file.count - offset)
    try decryptor.update(file[offset..<(offset + n)], into: &out)
    offset += n
  }
  try decryptor.finish(into: &out)
  return out
}

@Suite("Round trips")
struct RoundTripTests {
  static let sizes: [Int] = [0, 1, 15, 16, 17, 1000, 65_535, 65_536, 65_537, 2 * 65_536 - 1, 2 * 65_536, 2 * 65_536 + 1, 3 * 65_536, 300_001]

  @Test(arguments: sizes)
  func x25519(_ size: Int) throws {
    var rng = SplitMix64(state: UInt64(size) &+ 1)
    let identity = AgeX25519Identity.generate()
    let plaintext = rng.bytes(size)
    let file = try encryptInPieces(plaintext, to: [.x25519(identity.recipient)], rng: &rng)

    let (header, headerLength) = try #require(try AgeHeader.parse(prefixOf: file))
    #expect(file.count == headerLength + AgePayload.encryptedPayloadSize(plaintextLength: size))
    #expect(header.stanzas.count == 1 && header.stanzas[0].type == "X25519")

    #expect(try decryptInPieces(file, identities: [.x25519(identity)], rng: &rng) == plaintext)
    #expect(try Age.decrypt(file, identities: [.x25519(identity)]) == plaintext)
    // One-shot and byte-at-a-time feeding agree.
    if size <= 70_000 {
      var decryptor = AgeDecryptor(identities: [.x25519(identity)])
      var out: [UInt8] = []
      for byte in file { try decryptor.update(CollectionOfOne(byte), into: &out) }
      try decryptor.finish(into: &out)
      #expect(out == plaintext)
      #expect(decryptor.headerLength == headerLength)
    }
  }

  @Test func randomSizes() throws {
    var rng = SplitMix64(state: 42)
    let identity = AgeX25519Identity.generate()
    for _ in 0..<12 {
      let size = Int.random(in: 0...400_000, using: &rng)
      let plaintext = rng.bytes(size)
      let file = try encryptInPieces(plaintext, to: [.x25519(identity.recipient)], rng: &rng)
      #expect(try decryptInPieces(file, identities: [.x25519(identity)], rng: &rng) == plaintext)
    }
  }

  @Test func chunkLayout() throws {
    // 65536 bytes is ONE full final chunk, not a full chunk plus an empty one.
    let identity = AgeX25519Identity.generate()
    let file = try Age.encrypt([UInt8](repeating: 7, count: 65_536), to: [.x25519(identity.recipient)])
    let (_, length) = try #require(try AgeHeader.parse(prefixOf: file))
    #expect(file.count - length == 16 + 65_536 + 16)
    let empty = try Age.encrypt([UInt8](), to: [.x25519(identity.recipient)])
    let (_, emptyLength) = try #require(try AgeHeader.parse(prefixOf: empty))
    #expect(empty.count - emptyLength == 16 + 16)
  }

  @Test func multipleRecipients() throws {
    let a = AgeX25519Identity.generate()
    let b = AgeX25519Identity.generate()
    let plaintext = Array("etcd snapshot".utf8)
    let file = try Age.encrypt(plaintext, to: [.x25519(a.recipient), .x25519(b.recipient)])
    #expect(try Age.decrypt(file, identities: [.x25519(a)]) == plaintext)
    #expect(try Age.decrypt(file, identities: [.x25519(b)]) == plaintext)
    #expect(try Age.decrypt(file, identities: [.x25519(.generate()), .x25519(b)]) == plaintext)
    do {
      _ = try Age.decrypt(file, identities: [.x25519(.generate()), .passphrase("x")])
      Issue.record("decrypted with the wrong identity")
    } catch {
      #expect(error == .noIdentityMatched(stanzaTypes: ["X25519", "X25519"]))
      #expect("\(error)".contains("2 X25519 recipients"))
    }
  }

  @Test func passphrase() throws {
    let plaintext = Array(repeating: UInt8(1), count: 70_000)
    let file = try Age.encrypt(plaintext, to: [.passphrase("correct horse", workFactor: 10)])
    let (header, _) = try #require(try AgeHeader.parse(prefixOf: file))
    #expect(header.stanzas.count == 1)
    #expect(header.stanzas[0].type == "scrypt")
    #expect(header.stanzas[0].arguments.last == "10")
    #expect(try Age.decrypt(file, identities: [.passphrase("correct horse")]) == plaintext)

    #expect(throws: AgeError.noIdentityMatched(stanzaTypes: ["scrypt"])) {
      try Age.decrypt(file, identities: [.passphrase("wrong")])
    }
    #expect("\(AgeError.noIdentityMatched(stanzaTypes: ["scrypt"]))".contains("a passphrase"))
    #expect(throws: AgeError.scryptWorkFactorTooHigh(logN: 10, maximum: 9)) {
      try Age.decrypt(file, identities: [.passphrase("correct horse", maxWorkFactor: 9)])
    }
    // X25519 identities ignore scrypt stanzas.
    #expect(throws: AgeError.noIdentityMatched(stanzaTypes: ["scrypt"])) {
      try Age.decrypt(file, identities: [.x25519(.generate())])
    }
  }

  @Test func defaultWorkFactor() throws {
    #expect(try AgeScryptRecipient(passphrase: "p").workFactor == 18)
    #expect(AgeScryptIdentity(passphrase: "p").maxWorkFactor == 22)
  }

  @Test func passphraseCannotBeMixed() {
    #expect(throws: AgeError.self) {
      try AgeEncryptor(recipients: [.passphrase("a", workFactor: 2), .x25519(AgeX25519Identity.generate().recipient)])
    }
    #expect(throws: AgeError.self) { try AgeEncryptor(recipients: []) }
  }

  @Test func finishedStreamsRefuseInput() throws {
    let identity = AgeX25519Identity.generate()
    var encryptor = try AgeEncryptor(recipients: [.x25519(identity.recipient)])
    let file = try encryptor.finish()
    #expect(throws: AgeError.streamFinished) { try encryptor.update([1]) }
    #expect(throws: AgeError.streamFinished) { try encryptor.finish() }
    var decryptor = AgeDecryptor(identities: [.x25519(identity)])
    #expect(try decryptor.update(file) == [])
    #expect(try decryptor.finish() == [])
    #expect(throws: AgeError.streamFinished) { try decryptor.update([1]) }
  }

  @Test func notAnAgeFile() {
    for input in ["", "hello", "age-encryption.org", "-----BEGIN AGE ENCRYPTED FILE-----\n"] {
      do {
        _ = try Age.decrypt(Array(input.utf8), identities: [.x25519(.generate())])
        Issue.record("accepted \(input)")
      } catch {
        switch error {
        case .notAnAgeFile, .truncatedHeader: break
        default: Issue.record("\(input): \(error)")
        }
      }
    }
    // Early rejection: no need to see the whole line.
    var decryptor = AgeDecryptor(identities: [])
    #expect(throws: AgeError.notAnAgeFile(reason: "missing the \"age-encryption.org/\" version line")) {
      try decryptor.update(Array("PK\u{3}\u{4}".utf8))
    }
  }

  @Test func armorRoundTrip() throws {
    let identity = AgeX25519Identity.generate()
    let plaintext = Array("armored".utf8)
    let file = try Age.encrypt(plaintext, to: [.x25519(identity.recipient)])
    let armored = AgeArmor.encode(file)
    #expect(AgeArmor.looksArmored(armored))
    #expect(!AgeArmor.looksArmored(file))
    #expect(try AgeArmor.decode(armored) == file)
    #expect(try Age.decrypt(AgeArmor.decode(armored), identities: [.x25519(identity)]) == plaintext)
    // The binary decryptor points at the armor instead of a generic error.
    do {
      _ = try Age.decrypt(armored, identities: [.x25519(identity)])
      Issue.record("decrypted armor as binary")
    } catch {
      #expect("\(error)".contains("armored"))
    }
  }
}
