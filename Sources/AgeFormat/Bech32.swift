// Bech32 (BIP-173) with the data-part length limit lifted, as age requires.
// The checksum is the original Bech32 constant (1), not Bech32m.

public enum Bech32 {
  static let charset: [UInt8] = Array("qpzry9x8gf2tvdw0s3jn54khce6mua7l".utf8)
  static let charsetReverse: [Int8] = {
    var table = [Int8](repeating: -1, count: 128)
    for (index, char) in charset.enumerated() {
      table[Int(char)] = Int8(index)
    }
    return table
  }()
  static let generator: [UInt32] = [0x3b6a_57b2, 0x2650_8e6d, 0x1ea1_19fa, 0x3d42_33dd, 0x2a14_62b3]

  public enum DecodingError: Error, Sendable, Equatable, CustomStringConvertible {
    case mixedCase
    case invalidCharacter(position: Int)
    case missingSeparator
    case emptyHumanReadablePart
    case tooShort
    case invalidChecksum
    case invalidPadding

    public var description: String {
      switch self {
      case .mixedCase: return "mixes upper and lower case"
      case .invalidCharacter(let position): return "invalid character at position \(position)"
      case .missingSeparator: return "missing the '1' separator"
      case .emptyHumanReadablePart: return "empty human-readable prefix"
      case .tooShort: return "too short to contain a checksum"
      case .invalidChecksum: return "checksum does not match (typo?)"
      case .invalidPadding: return "invalid trailing bits in the data part"
      }
    }
  }

  static func polymod(_ values: [UInt8]) -> UInt32 {
    var chk: UInt32 = 1
    for value in values {
      let top = chk >> 25
      chk = ((chk & 0x1ff_ffff) << 5) ^ UInt32(value)
      for i in 0..<5 where (top >> UInt32(i)) & 1 == 1 {
        chk ^= generator[i]
      }
    }
    return chk
  }

  static func expandHRP(_ hrp: [UInt8]) -> [UInt8] {
    hrp.map { $0 >> 5 } + [0] + hrp.map { $0 & 31 }
  }

  /// Regroups bits. With `pad == false`, leftover bits must be fewer than
  /// `from` and all zero (BIP-173 `convertbits` semantics).
  static func convertBits(_ data: [UInt8], from: Int, to: Int, pad: Bool) -> [UInt8]? {
    var accumulator: UInt32 = 0
    var bits = 0
    let maxValue: UInt32 = (1 << UInt32(to)) - 1
    var out: [UInt8] = []
    out.reserveCapacity(data.count * from / to + 1)
    for value in data {
      if UInt32(value) >> UInt32(from) != 0 { return nil }
      accumulator = (accumulator << UInt32(from)) | UInt32(value)
      bits += from
      while bits >= to {
        bits -= to
        out.append(UInt8((accumulator >> UInt32(bits)) & maxValue))
      }
      accumulator &= (1 << UInt32(bits)) - 1
    }
    if pad {
      if bits > 0 {
        out.append(UInt8((accumulator << UInt32(to - bits)) & maxValue))
      }
    } else if bits >= from || ((accumulator << UInt32(to - bits)) & maxValue) != 0 {
      return nil
    }
    return out
  }

  /// Encodes `data` (8-bit bytes) under `hrp`. The result is lower case unless
  /// `uppercase` is set (age identities are conventionally upper case).
  public static func encode(hrp: String, data: [UInt8], uppercase: Bool = false) -> String {
    let hrpBytes = Array(hrp.lowercased().utf8)
    let values = convertBits(data, from: 8, to: 5, pad: true)!
    let checksumInput = expandHRP(hrpBytes) + values + [0, 0, 0, 0, 0, 0]
    let mod = polymod(checksumInput) ^ 1
    var out = hrpBytes
    out.append(UInt8(ascii: "1"))
    for value in values { out.append(charset[Int(value)]) }
    for i in 0..<6 {
      out.append(charset[Int((mod >> UInt32(5 * (5 - i))) & 31)])
    }
    let string = String(decoding: out, as: UTF8.self)
    return uppercase ? string.uppercased() : string
  }

  /// Decodes a Bech32 string. Returns the human-readable part in lower case
  /// and the data as 8-bit bytes. No overall length limit is applied.
  public static func decode(_ string: String) throws(DecodingError) -> (hrp: String, data: [UInt8]) {
    let bytes = Array(string.utf8)
    var hasLower = false
    var hasUpper = false
    for (index, byte) in bytes.enumerated() {
      guard byte >= 33 && byte <= 126 else { throw .invalidCharacter(position: index) }
      if byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z") { hasLower = true }
      if byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") { hasUpper = true }
    }
    if hasLower && hasUpper { throw .mixedCase }
    let lower = bytes.map { ($0 >= 65 && $0 <= 90) ? $0 + 32 : $0 }
    guard let separator = lower.lastIndex(of: UInt8(ascii: "1")) else { throw .missingSeparator }
    if separator == 0 { throw .emptyHumanReadablePart }
    if lower.count - separator - 1 < 6 { throw .tooShort }
    let hrp = Array(lower[..<separator])
    var values: [UInt8] = []
    values.reserveCapacity(lower.count - separator - 1)
    for index in (separator + 1)..<lower.count {
      let value = charsetReverse[Int(lower[index])]
      if value < 0 { throw .invalidCharacter(position: index) }
      values.append(UInt8(value))
    }
    guard polymod(expandHRP(hrp) + values) == 1 else { throw .invalidChecksum }
    guard let data = convertBits(Array(values.dropLast(6)), from: 5, to: 8, pad: false) else {
      throw .invalidPadding
    }
    return (String(decoding: hrp, as: UTF8.self), data)
  }
}
