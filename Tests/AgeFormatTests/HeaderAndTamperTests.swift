import EtcdTestSupport
import Testing

@testable import AgeFormat

@Suite("Header")
struct HeaderTests {
  @Test func encodeParseRoundTrip() throws {
    let fileKey = AgeFileKey.random()
    // Body lengths around the 48-byte (64-column) wrapping boundary.
    var stanzas: [AgeStanza] = []
    for n in [0, 1, 31, 32, 47, 48, 49, 95, 96, 97, 300] {
      stanzas.append(AgeStanza(type: "example.com/test", arguments: ["a\(n)", "b"], body: (0..<n).map { UInt8(truncatingIfNeeded: $0) }))
    }
    stanzas.append(AgeStanza(type: "noargs", arguments: [], body: [1, 2, 3]))
    var header = AgeHeader(stanzas: stanzas, mac: [])
    header.mac = AgeHeader.computeMAC(fileKey: fileKey, macInput: header.macInput())
    let encoded = header.encoded()
    let text = String(decoding: encoded, as: UTF8.self)
    #expect(text.hasPrefix("age-encryption.org/v1\n-> example.com/test a0 b\n\n-> "))
    let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
    #expect(lines.allSatisfy { $0.count <= 64 || $0.hasPrefix("-> ") })

    let (parsed, length) = try #require(try AgeHeader.parse(prefixOf: encoded + [9, 9, 9]))
    #expect(parsed == header)
    #expect(length == encoded.count)
    try parsed.verifyMAC(fileKey: fileKey)
    #expect(throws: AgeError.headerMACMismatch) { try parsed.verifyMAC(fileKey: .random()) }

    // Every strict prefix is "need more data" (or a truncation error at EOF).
    for cut in 0..<encoded.count {
      #expect(try AgeHeader.parse(prefixOf: encoded[0..<cut]) == nil)
      #expect(throws: AgeError.self) { try AgeHeader.parse(prefixOf: encoded[0..<cut], isCompleteFile: true) }
    }
  }

  @Test func fullLineBodyEndsWithEmptyLine() {
    let stanza = AgeStanza(type: "t", arguments: [], body: [UInt8](repeating: 0, count: 48))
    var out: [UInt8] = []
    stanza.encode(into: &out)
    #expect(String(decoding: out, as: UTF8.self) == "-> t\n" + String(repeating: "A", count: 64) + "\n\n")
  }

  static let mac = "--- " + String(repeating: "A", count: 43)
  static let body = String(repeating: "A", count: 43)

  @Test(arguments: [
    ("age-encryption.org/v2\n-> X\n\n\(mac)\n", "unsupported version"),
    ("age-encryption.org/v1 \n-> X\n\n\(mac)\n", "bad version line"),
    ("age-encryption.org/v1\r\n-> X\n\n\(mac)\n", "CRLF"),
    ("age-encryption.org/v1\n\(mac)\n", "no stanzas"),
    ("age-encryption.org/v1\n->\n\n\(mac)\n", "no arguments"),
    ("age-encryption.org/v1\n-> \n\n\(mac)\n", "empty argument list"),
    ("age-encryption.org/v1\n-> X  Y\n\n\(mac)\n", "empty argument"),
    ("age-encryption.org/v1\n-> X Y \n\n\(mac)\n", "trailing space"),
    ("age-encryption.org/v1\n-> X\n\(mac)\n", "missing body"),
    ("age-encryption.org/v1\n-> X\n\(body)=\n\(mac)\n", "padding"),
    ("age-encryption.org/v1\n-> X\nAB\n\(mac)\n", "non-canonical body"),
    ("age-encryption.org/v1\n-> X\n\(String(repeating: "A", count: 65))\n\n\(mac)\n", "long body line"),
    ("age-encryption.org/v1\n-> X\n\(String(repeating: "A", count: 64))\n\(mac)\n", "missing final short line"),
    ("age-encryption.org/v1\n-> X\nAAAA\nAAAA\n\(mac)\n", "two short lines"),
    ("age-encryption.org/v1\n-> X\nAA\rA\n\(mac)\n", "CR in body"),
    ("age-encryption.org/v1\n-> X\n\n---\n", "MAC missing"),
    ("age-encryption.org/v1\n-> X\n\n---AAAA\n", "MAC without space"),
    ("age-encryption.org/v1\n-> X\n\n---  \(body)\n", "MAC extra space"),
    ("age-encryption.org/v1\n-> X\n\n\(mac) \n", "MAC trailing space"),
    ("age-encryption.org/v1\n-> X\n\n--- \(String(repeating: "A", count: 42))B\n", "MAC non-canonical"),
    ("age-encryption.org/v1\n-> X\n\n--- \(String(repeating: "A", count: 42))\n", "MAC truncated"),
    ("age-encryption.org/v1\n-> X\n\nfoo\n", "garbage line"),
    ("age-encryption.org/v1\n-> X\u{7f}\n\n\(mac)\n", "non-VCHAR argument"),
  ])
  func rejects(_ text: String, _ why: String) {
    #expect(throws: AgeError.self, "\(why)") { try AgeHeader.parse(prefixOf: Array(text.utf8)) }
  }

  @Test func malformedHeaderNamesTheLine() {
    let text = "age-encryption.org/v1\n-> X Y\nAAAA\n-> X  Z\n\n\(HeaderTests.mac)\n"
    #expect(throws: AgeError.malformedHeader(line: 4, reason: "stanza has an empty argument (extra space)")) {
      try AgeHeader.parse(prefixOf: Array(text.utf8))
    }
  }

  @Test func accepts() throws {
    let text =
      "age-encryption.org/v1\n-> X\n\n-> !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~ 1\nAAAA\n\(HeaderTests.mac)\n"
    let (header, length) = try #require(try AgeHeader.parse(prefixOf: Array(text.utf8)))
    #expect(length == text.utf8.count)
    #expect(header.stanzas.count == 2)
    #expect(header.stanzas[1].body == [0, 0, 0])
    #expect(header.encoded() == Array(text.utf8))
  }

  @Test func headerSizeLimit() {
    let text = "age-encryption.org/v1\n-> " + String(repeating: "x", count: 5000)
    #expect(throws: AgeError.headerTooLarge(limit: 1000)) {
      try AgeHeader.parse(prefixOf: Array(text.utf8), maxHeaderSize: 1000)
    }
  }

  @Test func scryptMustBeAlone() throws {
    let fileKey = AgeFileKey.random()
    let scrypt = try AgeRecipient.passphrase("p", workFactor: 2).wrap(fileKey)
    let x = try AgeRecipient.x25519(AgeX25519Identity.generate().recipient).wrap(fileKey)
    var header = AgeHeader(stanzas: [x, scrypt], mac: [])
    header.mac = AgeHeader.computeMAC(fileKey: fileKey, macInput: header.macInput())
    #expect(throws: AgeError.scryptNotAlone(stanzaCount: 2)) {
      try header.unwrapFileKey(identities: [.passphrase("p")])
    }
  }

  @Test func malformedX25519StanzasAreFatal() throws {
    let identity = AgeX25519Identity.generate()
    let share = Base64.encodeUnpaddedString([UInt8](repeating: 9, count: 32))
    let cases: [AgeStanza] = [
      AgeStanza(type: "X25519", arguments: [], body: [UInt8](repeating: 0, count: 32)),
      AgeStanza(type: "X25519", arguments: [share, "extra"], body: [UInt8](repeating: 0, count: 32)),
      AgeStanza(type: "X25519", arguments: [Base64.encodeUnpaddedString([UInt8](repeating: 9, count: 31))], body: [UInt8](repeating: 0, count: 32)),
      AgeStanza(type: "X25519", arguments: [share], body: [UInt8](repeating: 0, count: 33)),
      // Low-order point (all-zero shared secret).
      AgeStanza(type: "X25519", arguments: [Base64.encodeUnpaddedString([UInt8](repeating: 0, count: 32))], body: [UInt8](repeating: 0, count: 32)),
    ]
    for stanza in cases {
      #expect(throws: AgeError.self) { try AgeIdentity.x25519(identity).unwrap(stanza) }
    }
    // Wrong case of the type: simply not ours.
    let lower = AgeStanza(type: "x25519", arguments: [share], body: [UInt8](repeating: 0, count: 32))
    #expect(try AgeIdentity.x25519(identity).unwrap(lower) == nil)
  }

  @Test(arguments: ["", "0", "01", "+1", "-1", "0x10", "1a", " 1", "99999999999999999999999"])
  func badScryptWorkFactors(_ factor: String) {
    let stanza = AgeStanza(
      type: "scrypt", arguments: [Base64.encodeUnpaddedString([UInt8](repeating: 1, count: 16)), factor], body: [UInt8](repeating: 0, count: 32))
    #expect(throws: AgeError.self) { try AgeIdentity.passphrase("p").unwrap(stanza) }
  }
}

@Suite("Tampering and truncation")
struct TamperTests {
  @Test func everyBitFlipIsRejected() throws {
    let identity = AgeX25519Identity.generate()
    let file = try Age.encrypt(Array("a small etcd snapshot".utf8), to: [.x25519(identity.recipient)])
    var accepted: [Int] = []
    for index in 0..<file.count {
      for bit in 0..<8 {
        var copy = file
        copy[index] ^= 1 << UInt8(bit)
        if (try? Age.decrypt(copy, identities: [.x25519(identity)])) != nil {
          accepted.append(index * 8 + bit)
        }
      }
    }
    #expect(accepted.isEmpty, "bit flips accepted at bit offsets \(accepted)")
  }

  @Test func everyTruncationIsRejected() throws {
    let identity = AgeX25519Identity.generate()
    let file = try Age.encrypt(Array("a small etcd snapshot".utf8), to: [.x25519(identity.recipient)])
    for cut in 0..<file.count {
      #expect(throws: AgeError.self, "cut at \(cut)") {
        try Age.decrypt(file[0..<cut], identities: [.x25519(identity)])
      }
    }
    // And appending anything is rejected too.
    #expect(throws: AgeError.self) { try Age.decrypt(file + [0], identities: [.x25519(identity)]) }
  }

  @Test func multiChunkTruncationAndTrailingData() throws {
    let identity = AgeX25519Identity.generate()
    var rng = SplitMix64(state: 7)
    let plaintext = rng.bytes(2 * 65_536 + 100)
    let file = try Age.encrypt(plaintext, to: [.x25519(identity.recipient)])
    let (_, headerLength) = try #require(try AgeHeader.parse(prefixOf: file))
    let payloadStart = headerLength + 16
    let chunk = AgePayload.encryptedChunkSize
    var cuts = [0, headerLength - 1, headerLength, headerLength + 1, payloadStart, payloadStart + 1, file.count - 1]
    for k in 1...2 {
      cuts += [payloadStart + k * chunk - 1, payloadStart + k * chunk, payloadStart + k * chunk + 1, payloadStart + k * chunk + 16]
    }
    for cut in cuts {
      var decryptor = AgeDecryptor(identities: [.x25519(identity)])
      var out: [UInt8] = []
      do {
        try decryptor.update(file[0..<cut], into: &out)
        try decryptor.finish(into: &out)
        Issue.record("truncation at \(cut) accepted")
      } catch {
        // Only authenticated whole chunks are ever released.
        #expect(out.count % 65_536 == 0)
        #expect(Array(plaintext.prefix(out.count)) == out)
      }
    }
    // Cut exactly after the second (non-final) chunk: a truncation error
    // that releases both chunks.
    var decryptor = AgeDecryptor(identities: [.x25519(identity)])
    var out: [UInt8] = []
    #expect(throws: AgeError.truncatedPayload(chunks: 2)) {
      try decryptor.update(file[0..<(payloadStart + 2 * chunk)], into: &out)
      try decryptor.finish(into: &out)
    }
    #expect(out == Array(plaintext.prefix(2 * 65_536)))

    #expect(throws: AgeError.self) { try Age.decrypt(file + [0], identities: [.x25519(identity)]) }
    // Flipping the final-chunk flag is an authentication failure at that chunk.
    var corrupted = file
    corrupted[payloadStart + chunk + 5] ^= 0x80
    #expect(throws: AgeError.payloadAuthenticationFailed(chunk: 1)) {
      try Age.decrypt(corrupted, identities: [.x25519(identity)])
    }
  }
}

@Suite("Rekey")
struct RekeyTests {
  @Test func rekeyKeepsPayloadAndSwitchesRecipients() throws {
    let old = AgeX25519Identity.generate()
    let new1 = AgeX25519Identity.generate()
    let new2 = AgeX25519Identity.generate()
    var rng = SplitMix64(state: 99)
    let plaintext = rng.bytes(150_000)
    let file = try Age.encrypt(plaintext, to: [.x25519(old.recipient)])

    // Only a prefix is needed.
    let (newHeader, oldHeaderLength) = try Age.rekey(
      filePrefix: file.prefix(4096),
      identities: [.x25519(old)],
      recipients: [.x25519(new1.recipient), .x25519(new2.recipient)]
    )
    let rekeyed = newHeader + file[oldHeaderLength...]
    #expect(Array(rekeyed[newHeader.count...]) == Array(file[oldHeaderLength...]))

    #expect(try Age.decrypt(rekeyed, identities: [.x25519(new1)]) == plaintext)
    #expect(try Age.decrypt(rekeyed, identities: [.x25519(new2)]) == plaintext)
    #expect(throws: AgeError.noIdentityMatched(stanzaTypes: ["X25519", "X25519"])) {
      try Age.decrypt(rekeyed, identities: [.x25519(old)])
    }
    // The original is untouched and still works for the old identity only.
    #expect(try Age.decrypt(file, identities: [.x25519(old)]) == plaintext)

    // Rekey to a passphrase, through the header-level API.
    let (header, length) = try #require(try AgeHeader.parse(prefixOf: rekeyed))
    let fileKey = try header.unwrapFileKey(identities: [.x25519(new1)])
    let passHeader = try Age.rekeyHeader(fileKey: fileKey, recipients: [.passphrase("pw", workFactor: 10)])
    let passFile = passHeader + rekeyed[length...]
    #expect(try Age.decrypt(passFile, identities: [.passphrase("pw")]) == plaintext)
    #expect(throws: AgeError.self) { try Age.decrypt(passFile, identities: [.x25519(new1)]) }
  }

  @Test func rekeyNeedsTheWholeHeader() throws {
    let id = AgeX25519Identity.generate()
    let file = try Age.encrypt([1, 2, 3], to: [.x25519(id.recipient)])
    #expect(throws: AgeError.self) {
      try Age.rekey(filePrefix: file.prefix(20), identities: [.x25519(id)], recipients: [.x25519(id.recipient)])
    }
    #expect(throws: AgeError.noIdentityMatched(stanzaTypes: ["X25519"])) {
      try Age.rekey(filePrefix: file, identities: [.x25519(.generate())], recipients: [.x25519(id.recipient)])
    }
  }
}
