import Crypto
import _CryptoExtras

// MARK: - X25519

/// An X25519 recipient (`age1...`).
public struct AgeX25519Recipient: Sendable, Hashable {
  static let hrp = "age"
  static let info = "age-encryption.org/v1/X25519"

  /// The 32-byte Curve25519 public key (u-coordinate).
  public let publicKey: [UInt8]

  public init(publicKey: [UInt8]) throws(AgeError) {
    guard publicKey.count == 32 else {
      throw .invalidRecipient(recipient: Base64.encodeUnpaddedString(publicKey), reason: "X25519 public keys are 32 bytes")
    }
    self.publicKey = publicKey
  }

  /// Parses `age1...` (Bech32, HRP `age`, 32 bytes of data).
  public init(_ string: String) throws(AgeError) {
    let decoded: (hrp: String, data: [UInt8])
    do {
      decoded = try Bech32.decode(string)
    } catch {
      throw .invalidRecipient(recipient: string, reason: "not valid Bech32: \(error)")
    }
    guard decoded.hrp == AgeX25519Recipient.hrp else {
      if decoded.hrp.hasPrefix("age1") {
        throw .invalidRecipient(
          recipient: string, reason: "unsupported recipient type \"\(decoded.hrp)\" (only native X25519 \"age1...\" recipients are supported)")
      }
      throw .invalidRecipient(recipient: string, reason: "expected an \"age1...\" X25519 recipient, found prefix \"\(decoded.hrp)\"")
    }
    guard decoded.data.count == 32 else {
      throw .invalidRecipient(recipient: string, reason: "X25519 recipients encode 32 bytes, found \(decoded.data.count)")
    }
    self.publicKey = decoded.data
  }

  /// The canonical lower-case `age1...` string.
  public var string: String { Bech32.encode(hrp: AgeX25519Recipient.hrp, data: publicKey) }

  func wrap(_ fileKey: AgeFileKey) throws(AgeError) -> AgeStanza {
    let ephemeral = Curve25519.KeyAgreement.PrivateKey()
    let share = [UInt8](ephemeral.publicKey.rawRepresentation)
    let shared: [UInt8]
    do {
      let peer = try Curve25519.KeyAgreement.PublicKey(rawRepresentation: publicKey)
      shared = try ephemeral.sharedSecretFromKeyAgreement(with: peer).withUnsafeBytes { Array($0) }
    } catch {
      throw .cryptoFailure("X25519: \(error)")
    }
    guard shared.contains(where: { $0 != 0 }) else {
      throw .invalidRecipient(recipient: string, reason: "low-order public key (all-zero shared secret)")
    }
    let wrapKey = Primitives.hkdf(ikm: shared, salt: share + publicKey, info: AgeX25519Recipient.info)
    let body = try Primitives.wrapFileKey(fileKey, key: wrapKey)
    return AgeStanza(type: "X25519", arguments: [Base64.encodeUnpaddedString(share)], body: body)
  }
}

/// An X25519 identity (`AGE-SECRET-KEY-1...`).
public struct AgeX25519Identity: Sendable {
  static let hrp = "age-secret-key-"

  let privateKey: Curve25519.KeyAgreement.PrivateKey

  /// A new random identity.
  public static func generate() -> AgeX25519Identity {
    AgeX25519Identity(privateKey: Curve25519.KeyAgreement.PrivateKey())
  }

  init(privateKey: Curve25519.KeyAgreement.PrivateKey) {
    self.privateKey = privateKey
  }

  public init(secretKey: [UInt8]) throws(AgeError) {
    guard secretKey.count == 32 else {
      throw .invalidIdentity(line: nil, reason: "X25519 secret keys are 32 bytes, found \(secretKey.count)")
    }
    do {
      self.privateKey = try Curve25519.KeyAgreement.PrivateKey(rawRepresentation: secretKey)
    } catch {
      throw .invalidIdentity(line: nil, reason: "invalid X25519 secret key")
    }
  }

  /// Parses `AGE-SECRET-KEY-1...` (upper or lower case, not mixed).
  public init(_ string: String) throws(AgeError) {
    let decoded: (hrp: String, data: [UInt8])
    do {
      decoded = try Bech32.decode(string)
    } catch {
      throw .invalidIdentity(line: nil, reason: "not valid Bech32: \(error)")
    }
    guard decoded.hrp == AgeX25519Identity.hrp else {
      if decoded.hrp == "age-secret-key-pq-" {
        throw .invalidIdentity(line: nil, reason: "post-quantum (AGE-SECRET-KEY-PQ-1...) identities are not supported")
      }
      if decoded.hrp.hasPrefix("age-plugin-") {
        throw .invalidIdentity(line: nil, reason: "plugin identities (AGE-PLUGIN-...) are not supported")
      }
      throw .invalidIdentity(line: nil, reason: "expected an \"AGE-SECRET-KEY-1...\" identity, found prefix \"\(decoded.hrp.uppercased())\"")
    }
    try self.init(secretKey: decoded.data)
  }

  /// The 32-byte secret scalar.
  public var secretKey: [UInt8] { [UInt8](privateKey.rawRepresentation) }

  /// The canonical upper-case `AGE-SECRET-KEY-1...` string.
  public var string: String {
    Bech32.encode(hrp: AgeX25519Identity.hrp, data: secretKey, uppercase: true)
  }

  public var recipient: AgeX25519Recipient {
    try! AgeX25519Recipient(publicKey: [UInt8](privateKey.publicKey.rawRepresentation))
  }

  /// Returns the file key, nil if the stanza is not for this identity, or
  /// throws if it is a malformed X25519 stanza.
  func unwrap(_ stanza: AgeStanza) throws(AgeError) -> AgeFileKey? {
    guard stanza.type == "X25519" else { return nil }
    guard stanza.arguments.count == 1 else {
      throw .invalidStanza(type: "X25519", reason: "expected exactly 2 arguments, found \(stanza.arguments.count + 1)")
    }
    guard let share = Base64.decodeCanonicalUnpadded(stanza.arguments[0]), share.count == 32 else {
      throw .invalidStanza(type: "X25519", reason: "the ephemeral share is not canonical base64 of 32 bytes")
    }
    guard stanza.body.count == 32 else {
      throw .invalidStanza(type: "X25519", reason: "the body is \(stanza.body.count) bytes, expected 32")
    }
    let shared: [UInt8]
    do {
      let peer = try Curve25519.KeyAgreement.PublicKey(rawRepresentation: share)
      shared = try privateKey.sharedSecretFromKeyAgreement(with: peer).withUnsafeBytes { Array($0) }
    } catch {
      throw .cryptoFailure("X25519: \(error)")
    }
    guard shared.contains(where: { $0 != 0 }) else {
      throw .invalidStanza(type: "X25519", reason: "the ephemeral share is a low-order point (all-zero shared secret)")
    }
    let ourPublic = [UInt8](privateKey.publicKey.rawRepresentation)
    let wrapKey = Primitives.hkdf(ikm: shared, salt: share + ourPublic, info: AgeX25519Recipient.info)
    return Primitives.unwrapFileKey(stanza.body, key: wrapKey)
  }
}

// MARK: - scrypt (passphrase)

enum ScryptParameters {
  static let saltLabel: [UInt8] = Array("age-encryption.org/v1/scrypt".utf8)

  static func deriveWrapKey(passphrase: [UInt8], salt: [UInt8], logN: Int) throws(AgeError) -> SymmetricKey {
    do {
      return try KDF.Scrypt.deriveKey(
        from: passphrase,
        salt: saltLabel + salt,
        outputByteCount: 32,
        rounds: 1 << logN,
        blockSize: 8,
        parallelism: 1
      )
    } catch {
      throw .cryptoFailure("scrypt (log N = \(logN)): \(error)")
    }
  }
}

/// A passphrase recipient. Encrypting with scrypt costs 2^workFactor * 1 KiB
/// of memory and matching CPU time.
public struct AgeScryptRecipient: Sendable {
  /// age's default: log2 N = 18 (256 MiB, about a second).
  public static let defaultWorkFactor = 18

  let passphrase: [UInt8]
  /// log2 of scrypt N.
  public let workFactor: Int

  public init(passphrase: String, workFactor: Int = AgeScryptRecipient.defaultWorkFactor) throws(AgeError) {
    guard !passphrase.isEmpty else { throw .invalidRecipientSet(reason: "empty passphrase") }
    guard (1...30).contains(workFactor) else {
      throw .invalidRecipientSet(reason: "scrypt work factor must be between 1 and 30, got \(workFactor)")
    }
    self.passphrase = Array(passphrase.utf8)
    self.workFactor = workFactor
  }

  func wrap(_ fileKey: AgeFileKey) throws(AgeError) -> AgeStanza {
    let salt = randomBytes(16)
    let key = try ScryptParameters.deriveWrapKey(passphrase: passphrase, salt: salt, logN: workFactor)
    let body = try Primitives.wrapFileKey(fileKey, key: key)
    return AgeStanza(type: "scrypt", arguments: [Base64.encodeUnpaddedString(salt), String(workFactor)], body: body)
  }
}

/// A passphrase identity. Files whose work factor exceeds `maxWorkFactor`
/// are rejected before any scrypt work is done.
public struct AgeScryptIdentity: Sendable {
  /// Default upper bound for log2 N when decrypting (2^22 needs 4 GiB).
  public static let defaultMaxWorkFactor = 22

  let passphrase: [UInt8]
  public let maxWorkFactor: Int

  public init(passphrase: String, maxWorkFactor: Int = AgeScryptIdentity.defaultMaxWorkFactor) {
    self.passphrase = Array(passphrase.utf8)
    self.maxWorkFactor = maxWorkFactor
  }

  func unwrap(_ stanza: AgeStanza) throws(AgeError) -> AgeFileKey? {
    guard stanza.type == "scrypt" else { return nil }
    guard stanza.arguments.count == 2 else {
      throw .invalidStanza(type: "scrypt", reason: "expected exactly 3 arguments, found \(stanza.arguments.count + 1)")
    }
    guard let salt = Base64.decodeCanonicalUnpadded(stanza.arguments[0]), salt.count == 16 else {
      throw .invalidStanza(type: "scrypt", reason: "the salt is not canonical base64 of 16 bytes")
    }
    let factorText = Array(stanza.arguments[1].utf8)
    guard let first = factorText.first, first >= UInt8(ascii: "1"), first <= UInt8(ascii: "9"),
      factorText.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") })
    else {
      throw .invalidStanza(type: "scrypt", reason: "the work factor \"\(stanza.arguments[1])\" is not a decimal number without leading zeros")
    }
    // Digits only, so the only failure mode is overflow.
    guard let logN = Int(stanza.arguments[1]), logN <= 64 else {
      throw .invalidStanza(type: "scrypt", reason: "the work factor \"\(stanza.arguments[1])\" is out of range")
    }
    guard logN <= maxWorkFactor else {
      throw .scryptWorkFactorTooHigh(logN: logN, maximum: maxWorkFactor)
    }
    guard stanza.body.count == 32 else {
      throw .invalidStanza(type: "scrypt", reason: "the body is \(stanza.body.count) bytes, expected 32")
    }
    let key = try ScryptParameters.deriveWrapKey(passphrase: passphrase, salt: salt, logN: logN)
    return Primitives.unwrapFileKey(stanza.body, key: key)
  }
}

// MARK: - Type-erased recipient and identity

public enum AgeRecipient: Sendable {
  case x25519(AgeX25519Recipient)
  case scrypt(AgeScryptRecipient)

  /// Parses a recipient string (`age1...`). Surrounding whitespace is
  /// ignored.
  public static func parse(_ string: String) throws(AgeError) -> AgeRecipient {
    .x25519(try AgeX25519Recipient(trimmed(string)))
  }

  /// Parses a recipients file: one `age1...` per line, `#` comments and blank
  /// lines ignored.
  public static func parseRecipientsFile(_ contents: String) throws(AgeError) -> [AgeRecipient] {
    var out: [AgeRecipient] = []
    for line in lines(of: contents) {
      let text = trimmed(line)
      if text.isEmpty || text.hasPrefix("#") { continue }
      out.append(try parse(text))
    }
    return out
  }

  public static func passphrase(_ passphrase: String, workFactor: Int = AgeScryptRecipient.defaultWorkFactor) throws(AgeError) -> AgeRecipient {
    .scrypt(try AgeScryptRecipient(passphrase: passphrase, workFactor: workFactor))
  }

  func wrap(_ fileKey: AgeFileKey) throws(AgeError) -> AgeStanza {
    switch self {
    case .x25519(let r): return try r.wrap(fileKey)
    case .scrypt(let r): return try r.wrap(fileKey)
    }
  }
}

public enum AgeIdentity: Sendable {
  case x25519(AgeX25519Identity)
  case scrypt(AgeScryptIdentity)

  /// Parses one `AGE-SECRET-KEY-1...` string.
  public static func parse(_ string: String) throws(AgeError) -> AgeIdentity {
    .x25519(try AgeX25519Identity(trimmed(string)))
  }

  /// Parses an identity file (as written by age-keygen): one identity per
  /// line; lines starting with `#` and blank lines are ignored; CRLF is
  /// accepted. Errors carry the 1-based line number, never the secret.
  public static func parseIdentityFile(_ contents: String) throws(AgeError) -> [AgeIdentity] {
    var out: [AgeIdentity] = []
    for (index, line) in lines(of: contents).enumerated() {
      let text = trimmed(line)
      if text.isEmpty || text.hasPrefix("#") { continue }
      do {
        out.append(try parse(text))
      } catch {
        if case .invalidIdentity(_, let reason) = error {
          throw .invalidIdentity(line: index + 1, reason: reason)
        }
        throw error
      }
    }
    guard !out.isEmpty else { throw .invalidIdentity(line: nil, reason: "the identity file contains no identities") }
    return out
  }

  public static func passphrase(_ passphrase: String, maxWorkFactor: Int = AgeScryptIdentity.defaultMaxWorkFactor) -> AgeIdentity {
    .scrypt(AgeScryptIdentity(passphrase: passphrase, maxWorkFactor: maxWorkFactor))
  }

  /// The recipient string for X25519 identities; nil for passphrases.
  public var recipientString: String? {
    switch self {
    case .x25519(let id): return id.recipient.string
    case .scrypt: return nil
    }
  }

  func unwrap(_ stanza: AgeStanza) throws(AgeError) -> AgeFileKey? {
    switch self {
    case .x25519(let id): return try id.unwrap(stanza)
    case .scrypt(let id): return try id.unwrap(stanza)
    }
  }
}

func trimmed(_ s: String) -> String {
  var scalars = Substring(s)
  while let first = scalars.first, first == " " || first == "\t" || first == "\r" { scalars.removeFirst() }
  while let last = scalars.last, last == " " || last == "\t" || last == "\r" { scalars.removeLast() }
  return String(scalars)
}

/// Splits on LF at the byte level (a Swift `Character` treats CRLF as one
/// grapheme, so splitting on "\n" would miss CRLF line ends).
func lines(of contents: String) -> [String] {
  contents.utf8.split(separator: 0x0A, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
}
