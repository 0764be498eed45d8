import Testing

@testable import AgeFormat

@Suite("Bech32")
struct Bech32Tests {
  // BIP-173 valid test vectors (checksums only; data is decoded as 8-bit
  // groups, so vectors whose 5-bit data is not a whole number of bytes are
  // checked through the checksum path separately).
  @Test(arguments: [
    "A12UEL5L",
    "a12uel5l",
    "an83characterlonghumanreadablepartthatcontainsthenumber1andtheexcludedcharactersbio1tt5tgs",
    "abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw",
    "split1checkupstagehandshakeupstreamerranterredcaperred2y9e3w",
    "?1ezyfcl",
  ])
  func validBIP173(_ string: String) throws {
    let (hrp, data) = try Bech32.decode(string)
    #expect(Bech32.encode(hrp: hrp, data: data) == string.lowercased())
  }

  @Test func lengthLimitIsLifted() throws {
    // Invalid in BIP-173 only because it is 91 characters long.
    let s = "an84characterslonghumanreadablepartthatcontainsthenumber1andtheexcludedcharactersbio1569pvx"
    _ = try Bech32.decode(s)
    // And a long data part round-trips.
    let data = (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
    let encoded = Bech32.encode(hrp: "age1test", data: data)
    #expect(encoded.count > 1600)
    #expect(try Bech32.decode(encoded).data == data)
  }

  @Test(arguments: [
    (" 1nwldj5", "space in HRP"),
    ("\u{7f}1axkwrx", "DEL in HRP"),
    ("pzry9x0s0muk", "no separator"),
    ("1pzry9x0s0muk", "empty HRP"),
    ("x1b4n0q5v", "invalid data character"),
    ("li1dgmt3", "checksum too short"),
    ("A1G7SGD8", "checksum computed over upper-case HRP"),
    ("10a06t8", "empty HRP"),
    ("1qzzfhee", "empty HRP"),
    ("a12UEL5L", "mixed case"),
    ("a12uel5m", "bad checksum"),
  ])
  func invalidBIP173(_ string: String, _ why: String) {
    #expect(throws: Bech32.DecodingError.self, "\(why)") { try Bech32.decode(string) }
  }

  @Test func specExampleKeyPair() throws {
    // From the age spec: identity 0x42 * 32 and its recipient.
    let identity = try AgeX25519Identity("AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEX")
    #expect(identity.secretKey == [UInt8](repeating: 0x42, count: 32))
    #expect(identity.recipient.string == "age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj")
    #expect(identity.string == "AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEX")
    // Lower-case identities are accepted too.
    let lower = try AgeX25519Identity("age-secret-key-1gfpyysjzgfpyysjzgfpyysjzgfpyysjzgfpyysjzgfpyysjzgfpq4egaex")
    #expect(lower.secretKey == identity.secretKey)
  }

  @Test func generatedIdentityRoundTrips() throws {
    let identity = AgeX25519Identity.generate()
    #expect(identity.string.hasPrefix("AGE-SECRET-KEY-1"))
    #expect(identity.string == identity.string.uppercased())
    let parsed = try AgeX25519Identity(identity.string)
    #expect(parsed.secretKey == identity.secretKey)
    let recipient = try AgeX25519Recipient(identity.recipient.string)
    #expect(recipient == identity.recipient)
    #expect(recipient.string.hasPrefix("age1"))
    #expect(AgeIdentity.x25519(identity).recipientString == recipient.string)
  }

  @Test func badRecipientStrings() {
    let identity = AgeX25519Identity.generate()
    for bad in [
      "",
      "age1",
      identity.string,  // an identity is not a recipient
      "age1pq1" + String(repeating: "q", count: 60),
      String(identity.recipient.string.dropLast()) + "x",
      "ssh-ed25519 AAAA",
    ] {
      #expect(throws: AgeError.self) { try AgeRecipient.parse(bad) }
    }
    do {
      _ = try AgeRecipient.parse(identity.string)
      Issue.record("accepted an identity as a recipient")
    } catch {
      guard case .invalidRecipient(_, let reason) = error else {
        Issue.record("\(error)")
        return
      }
      #expect(reason.contains("age-secret-key-") || reason.contains("AGE-SECRET-KEY"))
    }
  }

  @Test func identityFiles() throws {
    let a = AgeX25519Identity.generate()
    let b = AgeX25519Identity.generate()
    let file = """
      # created: 2024-01-01T00:00:00Z
      # public key: \(a.recipient.string)
      \(a.string)

      \(b.string)\r
      """
    let ids = try AgeIdentity.parseIdentityFile(file)
    #expect(ids.count == 2)
    #expect(ids.map(\.recipientString) == [a.recipient.string, b.recipient.string])

    do {
      _ = try AgeIdentity.parseIdentityFile("# comment\n\(a.string)\nAGE-SECRET-KEY-1NOTVALID\n")
      Issue.record("accepted a bad identity")
    } catch {
      guard case .invalidIdentity(let line, _) = error else {
        Issue.record("\(error)")
        return
      }
      #expect(line == 3)
      #expect(!"\(error)".contains("NOTVALID"), "errors must not echo secret material")
    }
    #expect(throws: AgeError.self) { try AgeIdentity.parseIdentityFile("# only comments\n\n") }
  }
}

@Suite("Base64")
struct Base64Tests {
  @Test func canonicalUnpadded() {
    for n in 0..<70 {
      let data = (0..<n).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
      let encoded = Base64.encodeUnpadded(data)
      #expect(!encoded.contains(UInt8(ascii: "=")))
      #expect(Base64.decodeCanonicalUnpadded(encoded) == data)
      #expect(Base64.decodeCanonicalPadded(Base64.encodePadded(data)) == data)
    }
    #expect(Base64.decodeCanonicalUnpadded("AA==") == nil)  // padding
    #expect(Base64.decodeCanonicalUnpadded("AB") == nil)  // non-zero trailing bits
    #expect(Base64.decodeCanonicalUnpadded("AAA") == [0, 0])
    #expect(Base64.decodeCanonicalUnpadded("AAB") == nil)
    #expect(Base64.decodeCanonicalUnpadded("A") == nil)  // impossible length
    #expect(Base64.decodeCanonicalUnpadded("AA\nA") == nil)
    #expect(Base64.decodeCanonicalPadded(Array("AA".utf8)) == nil)  // missing padding
    #expect(Base64.decodeCanonicalPadded(Array("AB==".utf8)) == nil)
    #expect(Base64.decodeCanonicalPadded(Array("A=A=".utf8)) == nil)
    #expect(Base64.decodeCanonicalPadded(Array("AA==".utf8)) == [0])
  }
}
