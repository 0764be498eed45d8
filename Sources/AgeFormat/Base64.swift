// Base64 as used by age: RFC 4648 standard alphabet.
//
// * `encodeUnpadded` / `decodeCanonicalUnpadded`: the header encoding (no `=`,
//   canonical trailing bits required).
// * `decodeCanonicalPadded`: the strict padded form used inside ASCII armor.

enum Base64 {
  static let alphabet: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

  /// 0...63 for alphabet characters, 0xFF otherwise.
  static let reverse: [UInt8] = {
    var table = [UInt8](repeating: 0xFF, count: 256)
    for (index, char) in alphabet.enumerated() {
      table[Int(char)] = UInt8(index)
    }
    return table
  }()

  @inline(__always)
  static func isAlphabet(_ byte: UInt8) -> Bool {
    reverse[Int(byte)] != 0xFF
  }

  static func encodeUnpadded<C: Collection>(_ data: C) -> [UInt8] where C.Element == UInt8 {
    var out: [UInt8] = []
    out.reserveCapacity((data.count * 4 + 2) / 3)
    var iterator = data.makeIterator()
    while let b0 = iterator.next() {
      let b1 = iterator.next()
      let b2 = b1 == nil ? nil : iterator.next()
      out.append(alphabet[Int(b0 >> 2)])
      out.append(alphabet[Int(((b0 & 0x03) << 4) | ((b1 ?? 0) >> 4))])
      if let b1 {
        out.append(alphabet[Int(((b1 & 0x0F) << 2) | ((b2 ?? 0) >> 6))])
        if let b2 {
          out.append(alphabet[Int(b2 & 0x3F)])
        }
      }
    }
    return out
  }

  static func encodeUnpaddedString<C: Collection>(_ data: C) -> String where C.Element == UInt8 {
    String(decoding: encodeUnpadded(data), as: UTF8.self)
  }

  /// Decodes unpadded base64, rejecting `=`, characters outside the alphabet,
  /// impossible lengths (4k+1) and non-zero unused trailing bits.
  static func decodeCanonicalUnpadded<C: Collection>(_ text: C) -> [UInt8]? where C.Element == UInt8 {
    var out: [UInt8] = []
    out.reserveCapacity(text.count * 3 / 4)
    var accumulator: UInt32 = 0
    var bits = 0
    for char in text {
      let value = reverse[Int(char)]
      if value == 0xFF { return nil }
      accumulator = (accumulator << 6) | UInt32(value)
      bits += 6
      if bits >= 8 {
        bits -= 8
        out.append(UInt8(truncatingIfNeeded: accumulator >> UInt32(bits)))
        accumulator &= (1 << UInt32(bits)) - 1
      }
    }
    // Leftover: 0 bits (len % 4 == 0), 2 bits (len % 4 == 3), 4 bits (len % 4 == 2),
    // or 6 bits (len % 4 == 1, never valid).
    if bits >= 6 { return nil }
    if accumulator != 0 { return nil }
    return out
  }

  static func decodeCanonicalUnpadded(_ text: String) -> [UInt8]? {
    decodeCanonicalUnpadded(Array(text.utf8))
  }

  /// Strict padded base64: length multiple of 4, `=` only as the final one
  /// or two characters, canonical trailing bits.
  static func decodeCanonicalPadded<C: Collection>(_ text: C) -> [UInt8]? where C.Element == UInt8 {
    let chars = Array(text)
    guard chars.count % 4 == 0 else { return nil }
    var padding = 0
    if chars.last == UInt8(ascii: "=") { padding += 1 }
    if chars.count >= 2 && chars[chars.count - 2] == UInt8(ascii: "=") {
      guard padding == 1 else { return nil }
      padding += 1
    }
    let body = chars[..<(chars.count - padding)]
    // Padding must be exactly what the length implies.
    let expectedPadding = (4 - body.count % 4) % 4
    guard expectedPadding == padding, body.count % 4 != 1 else { return nil }
    return decodeCanonicalUnpadded(body)
  }

  static func encodePadded<C: Collection>(_ data: C) -> [UInt8] where C.Element == UInt8 {
    var out = encodeUnpadded(data)
    while out.count % 4 != 0 { out.append(UInt8(ascii: "=")) }
    return out
  }
}
