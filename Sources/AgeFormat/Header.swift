import Crypto

/// One recipient stanza: `-> type arg...` followed by a base64 body.
public struct AgeStanza: Sendable, Hashable {
  /// The first argument, e.g. `X25519` or `scrypt`.
  public var type: String
  /// The arguments after the type.
  public var arguments: [String]
  /// The decoded body.
  public var body: [UInt8]

  public init(type: String, arguments: [String], body: [UInt8]) {
    self.type = type
    self.arguments = arguments
    self.body = body
  }

  /// Appends the canonical encoding (arg line, body wrapped at 64 columns,
  /// always ending with a line shorter than 64 columns).
  func encode(into out: inout [UInt8]) {
    out.append(contentsOf: Array("-> ".utf8))
    out.append(contentsOf: Array(([type] + arguments).joined(separator: " ").utf8))
    out.append(0x0A)
    let encoded = Base64.encodeUnpadded(body)
    var index = 0
    while true {
      let end = min(index + 64, encoded.count)
      out.append(contentsOf: encoded[index..<end])
      out.append(0x0A)
      if end - index < 64 { break }
      index = end
    }
  }
}

/// A parsed or constructed v1 header.
public struct AgeHeader: Sendable, Hashable {
  public static let versionLine = "age-encryption.org/v1"
  static let versionPrefix: [UInt8] = Array("age-encryption.org/".utf8)

  public var stanzas: [AgeStanza]
  /// The 32-byte header MAC.
  public var mac: [UInt8]

  public init(stanzas: [AgeStanza], mac: [UInt8]) {
    self.stanzas = stanzas
    self.mac = mac
  }

  // MARK: Encoding

  /// The header bytes up to and including `---` (the MAC input).
  func macInput() -> [UInt8] {
    var out = Array((AgeHeader.versionLine + "\n").utf8)
    for stanza in stanzas { stanza.encode(into: &out) }
    out.append(contentsOf: Array("---".utf8))
    return out
  }

  /// The complete encoded header, ending with the MAC line's newline. The
  /// payload (nonce + chunks) follows immediately.
  public func encoded() -> [UInt8] {
    var out = macInput()
    out.append(0x20)
    out.append(contentsOf: Base64.encodeUnpadded(mac))
    out.append(0x0A)
    return out
  }

  static func computeMAC(fileKey: AgeFileKey, macInput: [UInt8]) -> [UInt8] {
    let key = Primitives.hkdf(ikm: fileKey.bytes, salt: [], info: "header")
    return Array(HMAC<SHA256>.authenticationCode(for: macInput, using: key))
  }

  /// Builds a header wrapping `fileKey` for `recipients`, with a valid MAC.
  /// This is also the "rekey" primitive: the same file key under new
  /// recipients, so the existing payload stays valid.
  public static func create(fileKey: AgeFileKey, recipients: [AgeRecipient]) throws(AgeError) -> AgeHeader {
    guard !recipients.isEmpty else { throw .invalidRecipientSet(reason: "no recipients") }
    let passphrases = recipients.filter { if case .scrypt = $0 { return true } else { return false } }.count
    if passphrases > 0 && recipients.count > 1 {
      throw .invalidRecipientSet(reason: "a passphrase cannot be combined with other recipients or passphrases")
    }
    var stanzas: [AgeStanza] = []
    for recipient in recipients {
      stanzas.append(try recipient.wrap(fileKey))
    }
    var header = AgeHeader(stanzas: stanzas, mac: [])
    header.mac = computeMAC(fileKey: fileKey, macInput: header.macInput())
    return header
  }

  /// Checks the MAC under `fileKey` (constant time).
  public func verifyMAC(fileKey: AgeFileKey) throws(AgeError) {
    let expected = AgeHeader.computeMAC(fileKey: fileKey, macInput: macInput())
    guard Primitives.constantTimeEqual(expected, mac) else { throw .headerMACMismatch }
  }

  // MARK: Unwrapping

  /// Finds the file key with `identities` and verifies the header MAC.
  ///
  /// Throws `scryptNotAlone` if an scrypt stanza is mixed with others,
  /// `invalidStanza`/`scryptWorkFactorTooHigh` if a stanza of a type an
  /// identity implements is malformed, `noIdentityMatched` if nothing
  /// unwrapped, `headerMACMismatch` if the MAC is wrong.
  public func unwrapFileKey(identities: [AgeIdentity]) throws(AgeError) -> AgeFileKey {
    if stanzas.contains(where: { $0.type == "scrypt" }) && stanzas.count != 1 {
      throw .scryptNotAlone(stanzaCount: stanzas.count)
    }
    for stanza in stanzas {
      for identity in identities {
        if let fileKey = try identity.unwrap(stanza) {
          try verifyMAC(fileKey: fileKey)
          return fileKey
        }
      }
    }
    throw .noIdentityMatched(stanzaTypes: stanzas.map(\.type))
  }

  // MARK: Parsing

  /// Parses the header at the start of `file`.
  ///
  /// Returns nil if `file` ends before the header does (supply a longer
  /// prefix), unless `isCompleteFile` is set, in which case that is a
  /// `truncatedHeader` error. On success, `length` is the number of header
  /// bytes; the payload (16-byte nonce, then chunks) starts there.
  public static func parse<C: Collection>(
    prefixOf file: C,
    isCompleteFile: Bool = false,
    maxHeaderSize: Int = AgeDecryptor.defaultMaxHeaderSize
  ) throws(AgeError) -> (header: AgeHeader, length: Int)? where C.Element == UInt8 {
    var parser = HeaderParser(maxHeaderSize: maxHeaderSize)
    let bytes = Array(file)
    if let length = try parser.consume(bytes[...]) {
      return (parser.header!, length)
    }
    if isCompleteFile { try parser.finishTruncated() }
    return nil
  }
}

/// Incremental, strict line-based header parser.
struct HeaderParser: Sendable {
  enum State: Sendable {
    case version
    case stanzaOrMAC  // expecting "-> " (or "---" once a stanza exists)
    case body  // inside a stanza body
    case done
  }

  let maxHeaderSize: Int
  var state: State = .version
  var lineNumber = 0
  /// Bytes of the current, not yet terminated line.
  var partialLine: [UInt8] = []
  var consumed = 0
  var stanzas: [AgeStanza] = []
  var currentType = ""
  var currentArguments: [String] = []
  var currentBody: [UInt8] = []
  var header: AgeHeader?

  init(maxHeaderSize: Int) {
    self.maxHeaderSize = maxHeaderSize
  }

  /// Feeds bytes. Returns the number of bytes of `input` that belonged to the
  /// header once the header is complete, nil if more input is needed.
  mutating func consume<C: Collection>(_ input: C) throws(AgeError) -> Int? where C.Element == UInt8 {
    precondition(state != .done)
    var used = 0
    for byte in input {
      used += 1
      consumed += 1
      if byte == 0x0A {
        lineNumber += 1
        let line = partialLine
        partialLine.removeAll(keepingCapacity: true)
        try handle(line: line)
        if case .done = state { return used }
      } else {
        partialLine.append(byte)
        if lineNumber == 0 && partialLine.count <= AgeHeader.versionPrefix.count { try checkVersionPrefix() }
      }
      if consumed > maxHeaderSize { throw .headerTooLarge(limit: maxHeaderSize) }
    }
    return nil
  }

  /// Called at end of input while the header is incomplete.
  func finishTruncated() throws(AgeError) {
    if consumed == 0 { throw .notAnAgeFile(reason: "the input is empty") }
    if lineNumber == 0 && !AgeHeader.versionPrefix.starts(with: partialLine.prefix(AgeHeader.versionPrefix.count)) {
      throw .notAnAgeFile(reason: "missing the \"age-encryption.org/\" version line")
    }
    throw .truncatedHeader(reason: "the input ended inside the header (line \(lineNumber + 1))")
  }

  /// Early rejection of inputs that are obviously not age files.
  private func checkVersionPrefix() throws(AgeError) {
    let prefix = AgeHeader.versionPrefix
    let n = min(partialLine.count, prefix.count)
    if partialLine[0..<n] == prefix[0..<n] { return }
    let armor = Array("-----BEGIN".utf8)
    let m = min(partialLine.count, armor.count)
    if partialLine[0..<m] == armor[0..<m] {
      if m < armor.count { return }  // undecided yet
      throw .notAnAgeFile(reason: "the input looks like ASCII-armored age (decode it with AgeArmor first)")
    }
    throw .notAnAgeFile(reason: "missing the \"age-encryption.org/\" version line")
  }

  private static func isVCHAR(_ b: UInt8) -> Bool { b >= 0x21 && b <= 0x7E }

  private mutating func handle(line: [UInt8]) throws(AgeError) {
    switch state {
    case .version:
      guard line.starts(with: AgeHeader.versionPrefix) else {
        throw .notAnAgeFile(reason: "missing the \"age-encryption.org/\" version line")
      }
      let version = line[AgeHeader.versionPrefix.count...]
      guard !version.isEmpty, version.allSatisfy(HeaderParser.isVCHAR) else {
        throw .malformedHeader(line: lineNumber, reason: "invalid version line")
      }
      guard version.elementsEqual("v1".utf8) else {
        throw .unsupportedVersion(String(decoding: version, as: UTF8.self))
      }
      state = .stanzaOrMAC

    case .stanzaOrMAC:
      if line.starts(with: Array("-> ".utf8)) {
        try startStanza(line)
      } else if line.starts(with: Array("---".utf8)) {
        guard !stanzas.isEmpty else {
          throw .malformedHeader(line: lineNumber, reason: "the header has no recipient stanzas")
        }
        try parseMAC(line)
      } else if line.starts(with: Array("->".utf8)) {
        throw .malformedHeader(line: lineNumber, reason: "stanza line must start with \"-> \" followed by arguments")
      } else {
        throw .malformedHeader(
          line: lineNumber,
          reason: stanzas.isEmpty
            ? "expected a recipient stanza (\"-> \")"
            : "expected a recipient stanza (\"-> \") or the MAC line (\"--- \")")
      }

    case .body:
      guard line.count <= 64 else {
        throw .malformedHeader(line: lineNumber, reason: "stanza body line is longer than 64 columns")
      }
      guard line.allSatisfy(Base64.isAlphabet) else {
        throw .malformedHeader(
          line: lineNumber,
          reason:
            "stanza body line contains a character that is not unpadded base64 (every stanza body must end with a line shorter than 64 columns, which may be empty)"
        )
      }
      currentBody.append(contentsOf: line)
      if line.count < 64 {
        guard let body = Base64.decodeCanonicalUnpadded(currentBody) else {
          throw .malformedHeader(line: lineNumber, reason: "stanza body is not canonical unpadded base64")
        }
        stanzas.append(AgeStanza(type: currentType, arguments: currentArguments, body: body))
        currentBody.removeAll()
        state = .stanzaOrMAC
      }

    case .done:
      preconditionFailure()
    }
  }

  private mutating func startStanza(_ line: [UInt8]) throws(AgeError) {
    let rest = line[3...]
    let parts = rest.split(separator: 0x20, omittingEmptySubsequences: false)
    guard !rest.isEmpty else {
      throw .malformedHeader(line: lineNumber, reason: "stanza has no arguments")
    }
    var arguments: [String] = []
    for part in parts {
      guard !part.isEmpty else {
        throw .malformedHeader(line: lineNumber, reason: "stanza has an empty argument (extra space)")
      }
      guard part.allSatisfy(HeaderParser.isVCHAR) else {
        throw .malformedHeader(line: lineNumber, reason: "stanza argument contains a non-printable character")
      }
      arguments.append(String(decoding: part, as: UTF8.self))
    }
    currentType = arguments[0]
    currentArguments = Array(arguments.dropFirst())
    currentBody = []
    state = .body
  }

  private mutating func parseMAC(_ line: [UInt8]) throws(AgeError) {
    guard line.count > 3, line[3] == 0x20 else {
      throw .malformedHeader(line: lineNumber, reason: "MAC line must be \"--- \" followed by the MAC")
    }
    let encoded = line[4...]
    guard encoded.count == 43, let mac = Base64.decodeCanonicalUnpadded(encoded), mac.count == 32 else {
      throw .malformedHeader(line: lineNumber, reason: "header MAC is not 43 characters of canonical unpadded base64")
    }
    header = AgeHeader(stanzas: stanzas, mac: mac)
    state = .done
  }
}
