import Crypto

/// Runs `body` over the contiguous bytes of `bytes`, copying only if the
/// collection has no contiguous storage.
func withContiguousBytes<C: Collection, R>(
  _ bytes: C,
  _ body: (UnsafeBufferPointer<UInt8>) throws(AgeError) -> R
) throws(AgeError) -> R where C.Element == UInt8 {
  if let result = bytes.withContiguousStorageIfAvailable({ buffer in
    Result { () throws(AgeError) -> R in try body(buffer) }
  }) {
    return try result.get()
  }
  let copy = Array(bytes)
  return try copy.withUnsafeBufferPointer { buffer in
    Result { () throws(AgeError) -> R in try body(buffer) }
  }.get()
}

/// Streaming encryption with bounded memory (at most one 64 KiB chunk is
/// buffered).
///
///     var encryptor = try AgeEncryptor(recipients: [.parse("age1...")])
///     for block in input { try sink(encryptor.update(block)) }
///     try sink(encryptor.finish())
///
/// The first output contains the header and the payload nonce.
public struct AgeEncryptor: Sendable {
  /// The header that will be (or was) written.
  public let header: AgeHeader
  private var prefix: [UInt8]?
  private var stream: StreamEncryptor
  private var isFinished = false

  /// Encrypts to `recipients` with a fresh random file key and nonce.
  public init(recipients: [AgeRecipient]) throws(AgeError) {
    try self.init(fileKey: .random(), nonce: randomBytes(AgePayload.nonceSize), recipients: recipients)
  }

  /// Deterministic variant for tests. Never reuse a file key or nonce.
  init(fileKey: AgeFileKey, nonce: [UInt8], recipients: [AgeRecipient]) throws(AgeError) {
    precondition(nonce.count == AgePayload.nonceSize)
    header = try AgeHeader.create(fileKey: fileKey, recipients: recipients)
    prefix = header.encoded() + nonce
    stream = StreamEncryptor(key: AgePayload.payloadKey(fileKey: fileKey, nonce: nonce))
  }

  /// Appends ciphertext for `plaintext` (any size) to `output`.
  public mutating func update<C: Collection>(_ plaintext: C, into output: inout [UInt8]) throws(AgeError) where C.Element == UInt8 {
    guard !isFinished else { throw .streamFinished }
    if let p = prefix {
      output.append(contentsOf: p)
      prefix = nil
    }
    try withContiguousBytes(plaintext) { (buffer) throws(AgeError) in
      try stream.update(buffer, into: &output)
    }
  }

  public mutating func update<C: Collection>(_ plaintext: C) throws(AgeError) -> [UInt8] where C.Element == UInt8 {
    var output: [UInt8] = []
    try update(plaintext, into: &output)
    return output
  }

  /// Appends the final chunk. Must be called exactly once.
  public mutating func finish(into output: inout [UInt8]) throws(AgeError) {
    guard !isFinished else { throw .streamFinished }
    isFinished = true
    if let p = prefix {
      output.append(contentsOf: p)
      prefix = nil
    }
    try stream.finish(into: &output)
  }

  public mutating func finish() throws(AgeError) -> [UInt8] {
    var output: [UInt8] = []
    try finish(into: &output)
    return output
  }
}

/// Streaming decryption with bounded memory: the header (up to
/// `maxHeaderSize`) and at most one encrypted chunk are buffered. Plaintext
/// is only released for chunks that authenticated.
///
/// Use the `into:` variants to see the plaintext released before an error:
/// they append to `output` and then throw. After an error (or `finish`), the
/// decryptor refuses further input.
///
/// A caller MUST call `finish()` and treat its error as fatal: only `finish`
/// can tell a complete file from one truncated at a chunk boundary.
public struct AgeDecryptor: Sendable {
  public static let defaultMaxHeaderSize = 1 << 20

  enum State: Sendable {
    case header(HeaderParser)
    case nonce(AgeFileKey, [UInt8])
    case payload(StreamDecryptor)
    case finished
    case failed(AgeError)
  }

  private let identities: [AgeIdentity]
  private var state: State
  /// The parsed header, once complete and authenticated.
  public private(set) var header: AgeHeader?
  /// Byte length of the header, once complete.
  public private(set) var headerLength: Int?

  public init(identities: [AgeIdentity], maxHeaderSize: Int = AgeDecryptor.defaultMaxHeaderSize) {
    self.identities = identities
    self.state = .header(HeaderParser(maxHeaderSize: maxHeaderSize))
  }

  public mutating func update<C: Collection>(_ ciphertext: C, into output: inout [UInt8]) throws(AgeError) where C.Element == UInt8 {
    do throws(AgeError) {
      try withContiguousBytes(ciphertext) { (buffer) throws(AgeError) in
        try process(buffer, into: &output)
      }
    } catch {
      if case .failed = state {} else { state = .failed(error) }
      throw error
    }
  }

  public mutating func update<C: Collection>(_ ciphertext: C) throws(AgeError) -> [UInt8] where C.Element == UInt8 {
    var output: [UInt8] = []
    try update(ciphertext, into: &output)
    return output
  }

  /// Signals end of input. Throws if the file was truncated (inside the
  /// header, before the nonce, or without a final chunk).
  public mutating func finish(into output: inout [UInt8]) throws(AgeError) {
    do throws(AgeError) {
      switch state {
      case .header(let parser):
        try parser.finishTruncated()
      case .nonce:
        throw .truncatedHeader(reason: "the input ended before the 16-byte payload nonce")
      case .payload(var stream):
        try stream.finish(into: &output)
        state = .finished
      case .finished, .failed:
        throw .streamFinished
      }
    } catch {
      if case .failed = state {} else { state = .failed(error) }
      throw error
    }
  }

  public mutating func finish() throws(AgeError) -> [UInt8] {
    var output: [UInt8] = []
    try finish(into: &output)
    return output
  }

  private mutating func process(_ buffer: UnsafeBufferPointer<UInt8>, into output: inout [UInt8]) throws(AgeError) {
    var rest = buffer[...]
    while true {
      switch state {
      case .header(var parser):
        guard !rest.isEmpty else { return }
        let used = try parser.consume(rest)
        guard let used else {
          state = .header(parser)
          return
        }
        let parsed = parser.header!
        let fileKey = try parsed.unwrapFileKey(identities: identities)
        header = parsed
        headerLength = parser.consumed
        rest = rest.dropFirst(used)
        state = .nonce(fileKey, [])

      case .nonce(let fileKey, var nonce):
        let take = min(AgePayload.nonceSize - nonce.count, rest.count)
        nonce.append(contentsOf: rest.prefix(take))
        rest = rest.dropFirst(take)
        if nonce.count < AgePayload.nonceSize {
          state = .nonce(fileKey, nonce)
          return
        }
        state = .payload(StreamDecryptor(key: AgePayload.payloadKey(fileKey: fileKey, nonce: nonce)))

      case .payload(var stream):
        guard !rest.isEmpty else { return }
        // Avoid holding two copies of the stream buffer while it is mutated.
        state = .finished
        do throws(AgeError) {
          try stream.update(UnsafeBufferPointer(rebasing: rest), into: &output)
        } catch {
          state = .failed(error)
          throw error
        }
        state = .payload(stream)
        return

      case .finished, .failed:
        throw .streamFinished
      }
    }
  }
}

// MARK: - Convenience

public enum Age {
  /// Encrypts a whole buffer.
  public static func encrypt<C: Collection>(_ plaintext: C, to recipients: [AgeRecipient]) throws(AgeError) -> [UInt8] where C.Element == UInt8 {
    var encryptor = try AgeEncryptor(recipients: recipients)
    var out = try encryptor.update(plaintext)
    try encryptor.finish(into: &out)
    return out
  }

  /// Decrypts a whole buffer.
  public static func decrypt<C: Collection>(_ ciphertext: C, identities: [AgeIdentity]) throws(AgeError) -> [UInt8] where C.Element == UInt8 {
    var decryptor = AgeDecryptor(identities: identities)
    var out = try decryptor.update(ciphertext)
    try decryptor.finish(into: &out)
    return out
  }

  /// A new header for the same file key under `recipients`. Replacing a
  /// file's header with it (keeping everything from the old header's end,
  /// i.e. the nonce and chunks) yields a valid file for the new recipients.
  public static func rekeyHeader(fileKey: AgeFileKey, recipients: [AgeRecipient]) throws(AgeError) -> [UInt8] {
    try AgeHeader.create(fileKey: fileKey, recipients: recipients).encoded()
  }

  /// Parses the header at the start of `filePrefix`, unwraps its file key
  /// with `identities` (verifying the MAC) and builds a replacement header
  /// for `recipients`. The new file is `newHeader + file[oldHeaderLength...]`.
  public static func rekey<C: Collection>(
    filePrefix: C,
    identities: [AgeIdentity],
    recipients: [AgeRecipient]
  ) throws(AgeError) -> (newHeader: [UInt8], oldHeaderLength: Int) where C.Element == UInt8 {
    guard let (header, length) = try AgeHeader.parse(prefixOf: filePrefix) else {
      throw .truncatedHeader(reason: "the supplied prefix ends before the header does")
    }
    let fileKey = try header.unwrapFileKey(identities: identities)
    return (try rekeyHeader(fileKey: fileKey, recipients: recipients), length)
  }
}
