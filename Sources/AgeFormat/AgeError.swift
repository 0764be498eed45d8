/// Everything that can go wrong while reading or writing an age file.
///
/// The cases fall into the failure classes of the age test suite:
/// * header failures: `notAnAgeFile`, `unsupportedVersion`, `malformedHeader`,
///   `headerTooLarge`, `truncatedHeader`, `invalidStanza`, `scryptNotAlone`,
///   `scryptWorkFactorTooHigh`;
/// * `noIdentityMatched`;
/// * `headerMACMismatch`;
/// * payload failures: `payloadAuthenticationFailed`, `emptyFinalChunk`,
///   `truncatedPayload`, `trailingData`;
/// * `invalidArmor`;
/// * API usage / key material: `invalidRecipient`, `invalidIdentity`,
///   `invalidRecipientSet`, `invalidFileKey`, `streamFinished`, `cryptoFailure`.
public enum AgeError: Error, Sendable, Equatable, CustomStringConvertible {
  /// The input does not start with the age version line prefix.
  case notAnAgeFile(reason: String)
  /// The version line names a version other than `v1`.
  case unsupportedVersion(String)
  /// The header violates the v1 grammar. `line` is 1-based.
  case malformedHeader(line: Int, reason: String)
  /// The header grew past the configured limit without ending.
  case headerTooLarge(limit: Int)
  /// The input ended inside the header or before the 16-byte payload nonce.
  case truncatedHeader(reason: String)
  /// A stanza of a recognized type (`X25519`, `scrypt`) is malformed; the spec
  /// requires the whole file to be rejected.
  case invalidStanza(type: String, reason: String)
  /// An scrypt stanza is present together with other stanzas.
  case scryptNotAlone(stanzaCount: Int)
  /// The file's scrypt work factor exceeds what the identity allows.
  case scryptWorkFactorTooHigh(logN: Int, maximum: Int)
  /// None of the provided identities could unwrap any stanza. `stanzaTypes`
  /// lists the first argument of each stanza in header order.
  case noIdentityMatched(stanzaTypes: [String])
  /// The file key was recovered but the header MAC is wrong: the header was
  /// modified, or a stanza was crafted to unwrap with a wrong key.
  case headerMACMismatch
  /// Chunk `chunk` (0-based) failed ChaCha20-Poly1305 authentication.
  case payloadAuthenticationFailed(chunk: UInt64)
  /// The final chunk is empty although earlier chunks exist.
  case emptyFinalChunk(chunk: UInt64)
  /// The input ended without a valid final chunk. `chunks` authenticated
  /// chunks were released before the end.
  case truncatedPayload(chunks: UInt64)
  /// Data follows the final chunk (which was authentic and was released).
  case trailingData(afterChunk: UInt64)
  /// ASCII armor is malformed.
  case invalidArmor(reason: String)
  /// A recipient string could not be parsed. `recipient` is the offending
  /// string (recipients are public).
  case invalidRecipient(recipient: String, reason: String)
  /// An identity could not be parsed. The secret itself is never included;
  /// `line` is the 1-based line in an identity file, when known.
  case invalidIdentity(line: Int?, reason: String)
  /// The recipient list cannot be used together (empty, or a passphrase mixed
  /// with other recipients).
  case invalidRecipientSet(reason: String)
  /// A file key was not 16 bytes.
  case invalidFileKey(length: Int)
  /// `update`/`finish` was called after `finish` or after an error.
  case streamFinished
  /// An unexpected failure inside the crypto library.
  case cryptoFailure(String)

  public var description: String {
    switch self {
    case .notAnAgeFile(let reason):
      return "not an age file: \(reason)"
    case .unsupportedVersion(let version):
      return "unsupported age format version \"\(version)\" (only v1 is supported)"
    case .malformedHeader(let line, let reason):
      return "malformed age header at line \(line): \(reason)"
    case .headerTooLarge(let limit):
      return "age header is larger than the limit of \(limit) bytes"
    case .truncatedHeader(let reason):
      return "age file is truncated: \(reason)"
    case .invalidStanza(let type, let reason):
      return "invalid \(type) recipient stanza: \(reason)"
    case .scryptNotAlone(let count):
      return "passphrase-encrypted (scrypt) files must contain exactly one stanza, found \(count)"
    case .scryptWorkFactorTooHigh(let logN, let maximum):
      return "passphrase work factor 2^\(logN) exceeds the allowed maximum 2^\(maximum)"
    case .noIdentityMatched(let types):
      return "no identity matched; the file was encrypted to \(AgeError.describeRecipients(types))"
    case .headerMACMismatch:
      return "age header MAC mismatch: the header was tampered with or is corrupted"
    case .payloadAuthenticationFailed(let chunk):
      return "payload authentication failed at chunk \(chunk) (byte offset \(chunk * 65536) of the plaintext): data is corrupted or was tampered with"
    case .emptyFinalChunk(let chunk):
      return "payload final chunk \(chunk) is empty, which is only allowed for an empty file"
    case .truncatedPayload(let chunks):
      return "age file is truncated: the payload ended after \(chunks) chunk(s) without a final chunk"
    case .trailingData(let chunk):
      return "unexpected data after the final payload chunk \(chunk)"
    case .invalidArmor(let reason):
      return "invalid ASCII armor: \(reason)"
    case .invalidRecipient(let recipient, let reason):
      return "invalid recipient \"\(recipient)\": \(reason)"
    case .invalidIdentity(let line, let reason):
      if let line { return "invalid identity at line \(line): \(reason)" }
      return "invalid identity: \(reason)"
    case .invalidRecipientSet(let reason):
      return "invalid set of recipients: \(reason)"
    case .invalidFileKey(let length):
      return "invalid file key length \(length), expected 16"
    case .streamFinished:
      return "the stream was already finished or failed"
    case .cryptoFailure(let detail):
      return "cryptographic operation failed: \(detail)"
    }
  }

  /// "2 X25519 recipients", "a passphrase", "1 X25519 recipient and 1
  /// post-quantum (mlkem768x25519) recipient", ...
  static func describeRecipients(_ types: [String]) -> String {
    var order: [String] = []
    var counts: [String: Int] = [:]
    for type in types {
      if counts[type] == nil { order.append(type) }
      counts[type, default: 0] += 1
    }
    func plural(_ n: Int, _ word: String) -> String { "\(n) \(word)\(n == 1 ? "" : "s")" }
    let parts: [String] = order.map { type in
      let n = counts[type]!
      switch type {
      case "X25519": return plural(n, "X25519 recipient")
      case "scrypt": return n == 1 ? "a passphrase" : plural(n, "passphrase")
      case "mlkem768x25519": return plural(n, "post-quantum (mlkem768x25519) recipient")
      case "p256tag", "mlkem768p256tag": return plural(n, "hardware-key (\(type)) recipient")
      default: return plural(n, "'\(type)' recipient")
      }
    }
    switch parts.count {
    case 0: return "no recipients"
    case 1: return parts[0]
    default: return parts.dropLast().joined(separator: ", ") + " and " + parts.last!
    }
  }
}
