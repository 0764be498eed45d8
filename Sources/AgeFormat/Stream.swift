import Crypto

/// age's STREAM parameters.
public enum AgePayload {
  /// Plaintext bytes per chunk (64 KiB).
  public static let chunkSize = 64 * 1024
  /// ChaCha20-Poly1305 tag size.
  public static let tagSize = 16
  /// Ciphertext bytes of a full chunk.
  public static let encryptedChunkSize = chunkSize + tagSize
  /// Size of the payload nonce that follows the header.
  public static let nonceSize = 16

  static func payloadKey(fileKey: AgeFileKey, nonce: [UInt8]) -> SymmetricKey {
    Primitives.hkdf(ikm: fileKey.bytes, salt: nonce, info: "payload")
  }

  /// 11-byte big-endian counter || final flag.
  static func chunkNonce(counter: UInt64, final: Bool) -> [UInt8] {
    var nonce = [UInt8](repeating: 0, count: 12)
    var c = counter
    var i = 10
    while c != 0 && i >= 0 {
      nonce[i] = UInt8(truncatingIfNeeded: c)
      c >>= 8
      i -= 1
    }
    nonce[11] = final ? 1 : 0
    return nonce
  }

  /// Size of the payload (nonce + chunks) for a plaintext of `length` bytes.
  public static func encryptedPayloadSize(plaintextLength length: Int) -> Int {
    let chunks = max(1, (length + chunkSize - 1) / chunkSize)
    return nonceSize + length + chunks * tagSize
  }
}

/// Encrypts STREAM chunks. Holds back up to one chunk, because the final
/// chunk can only be marked once the end of input is known.
struct StreamEncryptor: Sendable {
  let key: SymmetricKey
  var counter: UInt64 = 0
  var pending: [UInt8] = []

  init(key: SymmetricKey) {
    self.key = key
    pending.reserveCapacity(AgePayload.chunkSize)
  }

  mutating func update(_ input: UnsafeBufferPointer<UInt8>, into output: inout [UInt8]) throws(AgeError) {
    var index = 0
    while index < input.count {
      if pending.count == AgePayload.chunkSize {
        // More input exists, so the pending full chunk is not final.
        try sealPending(final: false, into: &output)
      }
      let take = min(AgePayload.chunkSize - pending.count, input.count - index)
      pending.append(contentsOf: UnsafeBufferPointer(rebasing: input[index..<(index + take)]))
      index += take
    }
  }

  mutating func finish(into output: inout [UInt8]) throws(AgeError) {
    // Either no chunk was emitted yet (pending may be empty: the empty
    // payload), or pending holds 1...chunkSize bytes.
    try sealPending(final: true, into: &output)
  }

  private mutating func sealPending(final: Bool, into output: inout [UInt8]) throws(AgeError) {
    let nonce = AgePayload.chunkNonce(counter: counter, final: final)
    output.append(contentsOf: try Primitives.seal(pending, key: key, nonce: nonce))
    pending.removeAll(keepingCapacity: true)
    counter += 1
  }
}

/// Decrypts STREAM chunks, releasing plaintext only for authenticated chunks.
struct StreamDecryptor: Sendable {
  let key: SymmetricKey
  var counter: UInt64 = 0
  var pending: [UInt8] = []

  init(key: SymmetricKey) {
    self.key = key
    pending.reserveCapacity(AgePayload.encryptedChunkSize)
  }

  mutating func update(_ input: UnsafeBufferPointer<UInt8>, into output: inout [UInt8]) throws(AgeError) {
    var index = 0
    while index < input.count {
      if pending.count == AgePayload.encryptedChunkSize {
        // At least one more byte follows, so this must be a non-final chunk.
        try openFullNonFinal(into: &output)
      }
      let take = min(AgePayload.encryptedChunkSize - pending.count, input.count - index)
      pending.append(contentsOf: UnsafeBufferPointer(rebasing: input[index..<(index + take)]))
      index += take
    }
  }

  /// A full chunk followed by more data.
  private mutating func openFullNonFinal(into output: inout [UInt8]) throws(AgeError) {
    if let plain = Primitives.open(pending, key: key, nonce: AgePayload.chunkNonce(counter: counter, final: false)) {
      output.append(contentsOf: plain)
      pending.removeAll(keepingCapacity: true)
      counter += 1
      return
    }
    // A full final chunk followed by extra bytes: release the authentic
    // chunk, then report the trailing data.
    if let plain = Primitives.open(pending, key: key, nonce: AgePayload.chunkNonce(counter: counter, final: true)) {
      output.append(contentsOf: plain)
      throw .trailingData(afterChunk: counter)
    }
    throw .payloadAuthenticationFailed(chunk: counter)
  }

  /// End of input: whatever is pending must be the final chunk.
  mutating func finish(into output: inout [UInt8]) throws(AgeError) {
    if pending.isEmpty {
      throw .truncatedPayload(chunks: counter)
    }
    if pending.count < AgePayload.tagSize {
      // Shorter than a tag: the file was cut inside a chunk.
      throw .truncatedPayload(chunks: counter)
    }
    if let plain = Primitives.open(pending, key: key, nonce: AgePayload.chunkNonce(counter: counter, final: true)) {
      if plain.isEmpty && counter > 0 {
        throw .emptyFinalChunk(chunk: counter)
      }
      output.append(contentsOf: plain)
      pending.removeAll()
      counter += 1
      return
    }
    if pending.count == AgePayload.encryptedChunkSize,
      let plain = Primitives.open(pending, key: key, nonce: AgePayload.chunkNonce(counter: counter, final: false))
    {
      // An authentic non-final chunk at the very end: the file was cut
      // at a chunk boundary.
      output.append(contentsOf: plain)
      throw .truncatedPayload(chunks: counter + 1)
    }
    throw .payloadAuthenticationFailed(chunk: counter)
  }
}
