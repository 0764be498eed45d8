/// age ASCII armor: strict RFC 7468 PEM with label "AGE ENCRYPTED FILE".
///
/// Whole-buffer only (armored files are meant for small, text-safe payloads;
/// the binary format is the one to stream).
public enum AgeArmor {
  static let beginLine: [UInt8] = Array("-----BEGIN AGE ENCRYPTED FILE-----".utf8)
  static let endLine: [UInt8] = Array("-----END AGE ENCRYPTED FILE-----".utf8)

  @inline(__always)
  static func isWhitespace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D }

  /// True if `prefix` (after leading whitespace) starts like an armored file.
  public static func looksArmored<C: Collection>(_ prefix: C) -> Bool where C.Element == UInt8 {
    let trimmed = prefix.drop(while: isWhitespace)
    let n = min(trimmed.count, beginLine.count)
    return n > 0 && trimmed.prefix(n).elementsEqual(beginLine.prefix(n))
  }

  /// Decodes armor. Accepts whitespace before and after the block and LF or
  /// CRLF line ends; rejects everything else that is not canonical: header
  /// lines, empty lines, lines other than the last not exactly 64 columns,
  /// whitespace inside lines, missing or non-canonical padding.
  public static func decode<C: Collection>(_ armored: C) throws(AgeError) -> [UInt8] where C.Element == UInt8 {
    var bytes = Array(armored)
    var start = 0
    var end = bytes.count
    while start < end && isWhitespace(bytes[start]) { start += 1 }
    while end > start && isWhitespace(bytes[end - 1]) { end -= 1 }
    bytes = Array(bytes[start..<end])

    var lines = bytes.split(separator: 0x0A, omittingEmptySubsequences: false).map { line -> ArraySlice<UInt8> in
      line.last == 0x0D ? line.dropLast() : line
    }
    guard let first = lines.first, first.elementsEqual(beginLine) else {
      throw .invalidArmor(reason: "missing \"-----BEGIN AGE ENCRYPTED FILE-----\" line")
    }
    guard lines.count >= 2, let last = lines.last, last.elementsEqual(endLine) else {
      throw .invalidArmor(reason: "missing \"-----END AGE ENCRYPTED FILE-----\" line, or data after it")
    }
    lines.removeFirst()
    lines.removeLast()

    var encoded: [UInt8] = []
    for (index, line) in lines.enumerated() {
      let isLast = index == lines.count - 1
      guard !line.isEmpty else {
        throw .invalidArmor(reason: "empty line at line \(index + 2)")
      }
      guard line.count <= 64 else {
        throw .invalidArmor(reason: "line \(index + 2) is longer than 64 columns")
      }
      guard isLast || line.count == 64 else {
        throw .invalidArmor(reason: "line \(index + 2) is shorter than 64 columns but is not the last line")
      }
      for byte in line where !(Base64.isAlphabet(byte) || byte == UInt8(ascii: "=")) {
        throw .invalidArmor(reason: "invalid character 0x\(String(byte, radix: 16)) at line \(index + 2)")
      }
      encoded.append(contentsOf: line)
    }
    guard let decoded = Base64.decodeCanonicalPadded(encoded) else {
      throw .invalidArmor(reason: "base64 is not canonical or its padding is wrong")
    }
    return decoded
  }

  /// Encodes `file` (a binary age file) as armor, LF line ends.
  public static func encode<C: Collection>(_ file: C) -> [UInt8] where C.Element == UInt8 {
    var out = beginLine + [0x0A]
    let encoded = Base64.encodePadded(file)
    var index = 0
    while index < encoded.count {
      let end = min(index + 64, encoded.count)
      out.append(contentsOf: encoded[index..<end])
      out.append(0x0A)
      index = end
    }
    out.append(contentsOf: endLine)
    out.append(0x0A)
    return out
  }
}
