import Crypto
import Foundation
import Testing

@testable import AgeFormat

/// One C2SP/CCTV age test vector (see testdata/README.md).
struct AgeTestVector: Sendable {
  var name: String
  var expect: String
  var payloadSHA256: String?
  var fileKey: String?
  var identities: [String] = []
  var passphrases: [String] = []
  var armored = false
  var compressed: String?
  var comment: String?
  var unknownKeys: [String] = []
  var file: [UInt8]

  static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("testdata")

  static let allNames: [String] = {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
    return names.filter { !$0.hasPrefix(".") && $0 != "README.md" }.sorted()
  }()

  static func load(_ name: String) throws -> AgeTestVector {
    let raw = [UInt8](try Data(contentsOf: directory.appendingPathComponent(name)))
    // Textual header, then an empty line, then the file.
    var index = 0
    var vector = AgeTestVector(name: name, expect: "", file: [])
    while true {
      guard let newline = raw[index...].firstIndex(of: 0x0A) else {
        throw InflateError("\(name): no blank line after the vector header")
      }
      let line = String(decoding: raw[index..<newline], as: UTF8.self)
      index = newline + 1
      if line.isEmpty { break }
      guard let separator = line.range(of: ": ") else {
        throw InflateError("\(name): bad vector header line \(line)")
      }
      let key = String(line[..<separator.lowerBound])
      let value = String(line[separator.upperBound...])
      switch key {
      case "expect": vector.expect = value
      case "payload": vector.payloadSHA256 = value
      case "file key": vector.fileKey = value
      case "identity": vector.identities.append(value)
      case "passphrase": vector.passphrases.append(value)
      case "armored": vector.armored = value == "yes"
      case "compressed": vector.compressed = value
      case "comment": vector.comment = value
      default: vector.unknownKeys.append(key)
      }
    }
    var file = Array(raw[index...])
    if let compressed = vector.compressed {
      guard compressed == "zlib" else { throw InflateError("\(name): unknown compression \(compressed)") }
      file = try ZlibInflater.decompress(file)
    }
    vector.file = file
    return vector
  }

  var usesPostQuantumIdentity: Bool { identities.contains { $0.hasPrefix("AGE-SECRET-KEY-PQ-") } }
  var x25519Identities: [String] { identities.filter { $0.hasPrefix("AGE-SECRET-KEY-1") } }

  /// Why this vector cannot be run fully, or nil.
  var skipReason: String? {
    if !unknownKeys.isEmpty { return "unknown vector keys \(unknownKeys) (the format says to ignore such files)" }
    if usesPostQuantumIdentity {
      // With a PQ identity present the outcome depends on ML-KEM support,
      // except when the file must fail in the header regardless.
      if x25519Identities.isEmpty || expect != "header failure" {
        return "needs an mlkem768x25519 (post-quantum) identity, which is not implemented"
      }
    }
    return nil
  }
}

func sha256Hex(_ bytes: [UInt8]) -> String {
  SHA256.hash(data: bytes).map { String(format: "%02x", $0) }.joined()
}

func failureClass(_ error: AgeError) -> String {
  switch error {
  case .notAnAgeFile, .unsupportedVersion, .malformedHeader, .headerTooLarge, .truncatedHeader,
    .invalidStanza, .scryptNotAlone, .scryptWorkFactorTooHigh:
    return "header failure"
  case .noIdentityMatched:
    return "no match"
  case .headerMACMismatch:
    return "HMAC failure"
  case .payloadAuthenticationFailed, .emptyFinalChunk, .truncatedPayload, .trailingData:
    return "payload failure"
  case .invalidArmor:
    return "armor failure"
  default:
    return "unexpected error: \(error)"
  }
}

/// Feeds `file` to a decryptor in pieces of the given sizes (cycled) and
/// returns everything released plus the error, if any.
func decryptStreaming(_ file: [UInt8], identities: [AgeIdentity], pieceSizes: [Int]) -> (released: [UInt8], error: AgeError?) {
  var decryptor = AgeDecryptor(identities: identities)
  var released: [UInt8] = []
  var offset = 0
  var piece = 0
  do throws(AgeError) {
    while offset < file.count {
      let size = min(pieceSizes[piece % pieceSizes.count], file.count - offset)
      piece += 1
      try decryptor.update(file[offset..<(offset + size)], into: &released)
      offset += size
    }
    try decryptor.finish(into: &released)
    return (released, nil)
  } catch {
    return (released, error)
  }
}

@Suite("C2SP CCTV age test vectors")
struct TestVectorTests {
  @Test("vector", arguments: AgeTestVector.allNames)
  func vector(_ name: String) throws {
    let vector = try AgeTestVector.load(name)
    if vector.skipReason != nil {
      try checkSkippedVector(vector)
      return
    }
    var identities: [AgeIdentity] = []
    for identity in vector.x25519Identities {
      identities.append(try AgeIdentity.parse(identity))
    }
    for passphrase in vector.passphrases {
      identities.append(.passphrase(passphrase))
    }

    var file = vector.file
    if vector.armored {
      do {
        file = try AgeArmor.decode(vector.file)
      } catch {
        #expect(vector.expect == "armor failure", "\(name): unexpected armor error \(error)")
        return
      }
      #expect(vector.expect != "armor failure", "\(name): armor was accepted but must be rejected")
      if vector.expect == "armor failure" { return }
    }

    // Several ways of splitting the input must all give the same result.
    let splits: [[Int]] = [[file.count + 1], [1, 7, 64, 1000, 65_552, 3], [65_536], [65_553]]
    var first: (released: [UInt8], error: AgeError?)?
    for pieceSizes in splits {
      let result = decryptStreaming(file, identities: identities, pieceSizes: pieceSizes)
      if let first {
        #expect(result.released == first.released, "\(name): released plaintext depends on input splitting \(pieceSizes)")
        #expect(result.error == first.error, "\(name): error depends on input splitting \(pieceSizes)")
      } else {
        first = result
      }
    }
    let (released, error) = first!

    if let error {
      #expect(failureClass(error) == vector.expect, "\(name): got \(failureClass(error)) (\(error)), expected \(vector.expect)")
    } else {
      #expect(vector.expect == "success", "\(name): decrypted successfully, expected \(vector.expect)")
    }
    if vector.expect == "success" || vector.expect == "payload failure", let payload = vector.payloadSHA256 {
      #expect(sha256Hex(released) == payload, "\(name): released plaintext does not match the payload hash")
    }

    // Header round trip: every vector that is not a header failure must
    // parse, and re-encode to exactly the same bytes.
    if vector.expect != "header failure" {
      let parsed = try AgeHeader.parse(prefixOf: file, isCompleteFile: true)
      let (header, length) = try #require(parsed)
      #expect(header.encoded() == Array(file[0..<length]), "\(name): header did not re-encode identically")
    }

    // STREAM round trip: re-encrypting the payload with the same file key
    // and nonce must give back the same payload bytes.
    if vector.expect == "success", let fileKeyHex = vector.fileKey {
      let (_, length) = try #require(try AgeHeader.parse(prefixOf: file, isCompleteFile: true))
      let fileKey = try AgeFileKey(bytes: hexBytes(fileKeyHex))
      let nonce = Array(file[length..<(length + 16)])
      var encryptor = try AgeEncryptor(fileKey: fileKey, nonce: nonce, recipients: [.x25519(AgeX25519Identity.generate().recipient)])
      var out = try encryptor.update(released)
      try encryptor.finish(into: &out)
      let newHeaderLength = encryptor.header.encoded().count
      #expect(Array(out[newHeaderLength...]) == Array(file[length...]), "\(name): STREAM re-encryption differs")
    }
  }

  /// For vectors we cannot decrypt (post-quantum identities), still check
  /// what we can: a header that must be valid parses and round-trips, and
  /// our identities do not claim to match.
  func checkSkippedVector(_ vector: AgeTestVector) throws {
    guard !vector.armored, vector.expect != "header failure", vector.unknownKeys.isEmpty else { return }
    let (header, length) = try #require(try AgeHeader.parse(prefixOf: vector.file, isCompleteFile: true))
    #expect(header.encoded() == Array(vector.file[0..<length]))
    do {
      _ = try header.unwrapFileKey(identities: [.x25519(.generate())])
      Issue.record("\(vector.name): unexpectedly unwrapped")
    } catch {
      if case .noIdentityMatched(let types) = error {
        #expect(types.contains { $0.lowercased() == "mlkem768x25519" })
      } else {
        Issue.record("\(vector.name): unexpected \(error)")
      }
    }
  }

  @Test("vector inventory: all files present, known skip list")
  func inventory() throws {
    #expect(AgeTestVector.allNames.count >= 143)
    var skipped: [String] = []
    for name in AgeTestVector.allNames where try AgeTestVector.load(name).skipReason != nil {
      skipped.append(name)
    }
    // All skips are post-quantum vectors.
    #expect(skipped.allSatisfy { $0.hasPrefix("hybrid") || $0 == "armor_hybrid" }, "\(skipped)")
    #expect(skipped.count == 18, "\(skipped)")
  }
}

func hexBytes(_ hex: String) -> [UInt8] {
  var out: [UInt8] = []
  var iterator = hex.utf8.makeIterator()
  func nibble(_ c: UInt8) -> UInt8 {
    switch c {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
    default: return c - UInt8(ascii: "A") + 10
    }
  }
  while let hi = iterator.next(), let lo = iterator.next() {
    out.append(nibble(hi) << 4 | nibble(lo))
  }
  return out
}
