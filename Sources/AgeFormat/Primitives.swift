import Crypto

#if canImport(FoundationEssentials)
  import FoundationEssentials
#else
  import Foundation
#endif

/// The 128-bit key every age file's payload is derived from.
public struct AgeFileKey: Sendable, Hashable {
  public let bytes: [UInt8]

  public init(bytes: [UInt8]) throws(AgeError) {
    guard bytes.count == 16 else { throw .invalidFileKey(length: bytes.count) }
    self.bytes = bytes
  }

  /// A fresh key from the system CSPRNG.
  public static func random() -> AgeFileKey {
    try! AgeFileKey(bytes: randomBytes(16))
  }
}

/// Cryptographically secure random bytes (the stdlib's system generator is
/// backed by the OS CSPRNG: getrandom(2) / arc4random_buf).
func randomBytes(_ count: Int) -> [UInt8] {
  var generator = SystemRandomNumberGenerator()
  var out = [UInt8](repeating: 0, count: count)
  var index = 0
  while index < count {
    var word = generator.next()
    for _ in 0..<8 where index < count {
      out[index] = UInt8(truncatingIfNeeded: word)
      word >>= 8
      index += 1
    }
  }
  return out
}

enum Primitives {
  static let zeroNonce = [UInt8](repeating: 0, count: 12)

  static func hkdf(ikm: [UInt8], salt: [UInt8], info: String) -> SymmetricKey {
    HKDF<SHA256>.deriveKey(
      inputKeyMaterial: SymmetricKey(data: ikm),
      salt: salt,
      info: Array(info.utf8),
      outputByteCount: 32
    )
  }

  static func symmetricKeyBytes(_ key: SymmetricKey) -> [UInt8] {
    key.withUnsafeBytes { Array($0) }
  }

  /// ChaCha20-Poly1305 seal; returns ciphertext || tag.
  static func seal<P: DataProtocol>(_ plaintext: P, key: SymmetricKey, nonce: [UInt8]) throws(AgeError) -> [UInt8] {
    do {
      let box = try ChaChaPoly.seal(plaintext, using: key, nonce: ChaChaPoly.Nonce(data: nonce))
      var out = [UInt8](box.ciphertext)
      out.append(contentsOf: box.tag)
      return out
    } catch {
      throw .cryptoFailure("ChaCha20-Poly1305 seal: \(error)")
    }
  }

  /// ChaCha20-Poly1305 open of ciphertext || tag; nil if authentication fails.
  static func open(_ sealed: ArraySlice<UInt8>, key: SymmetricKey, nonce: [UInt8]) -> [UInt8]? {
    guard sealed.count >= 16 else { return nil }
    let split = sealed.endIndex - 16
    do {
      let box = try ChaChaPoly.SealedBox(
        nonce: ChaChaPoly.Nonce(data: nonce),
        ciphertext: sealed[sealed.startIndex..<split],
        tag: sealed[split...]
      )
      return [UInt8](try ChaChaPoly.open(box, using: key))
    } catch {
      return nil
    }
  }

  static func open(_ sealed: [UInt8], key: SymmetricKey, nonce: [UInt8]) -> [UInt8]? {
    open(sealed[...], key: key, nonce: nonce)
  }

  /// Wraps a file key in a stanza body (fixed all-zero nonce).
  static func wrapFileKey(_ fileKey: AgeFileKey, key: SymmetricKey) throws(AgeError) -> [UInt8] {
    try seal(fileKey.bytes, key: key, nonce: zeroNonce)
  }

  /// Unwraps a 32-byte stanza body; nil if authentication fails.
  static func unwrapFileKey(_ body: [UInt8], key: SymmetricKey) -> AgeFileKey? {
    guard body.count == 32, let plain = open(body, key: key, nonce: zeroNonce) else { return nil }
    return try? AgeFileKey(bytes: plain)
  }

  static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    guard a.count == b.count else { return false }
    var diff: UInt8 = 0
    for i in 0..<a.count { diff |= a[i] ^ b[i] }
    return diff == 0
  }
}
