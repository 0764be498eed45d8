// Minimal zlib (RFC 1950) / DEFLATE (RFC 1951) decoder, used only to read
// the `compressed: zlib` test vectors without a system zlib dependency.
// Bit-at-a-time canonical Huffman decoding: slow but simple; the vectors
// decompress to a few MiB at most.

struct InflateError: Error, CustomStringConvertible {
  let description: String
  init(_ d: String) { description = d }
}

private struct Huffman {
  var counts = [Int](repeating: 0, count: 16)
  var symbols: [Int] = []

  init(lengths: [Int]) throws {
    for length in lengths { counts[length] += 1 }
    counts[0] = 0
    var off = [Int](repeating: 0, count: 16)
    var running = 0
    for length in 1..<16 {
      off[length] = running
      running += counts[length]
    }
    symbols = [Int](repeating: 0, count: running)
    for (symbol, length) in lengths.enumerated() where length != 0 {
      symbols[off[length]] = symbol
      off[length] += 1
    }
  }
}

struct ZlibInflater {
  private let input: [UInt8]
  private var position = 0
  private var bitBuffer: UInt32 = 0
  private var bitCount = 0
  private var output: [UInt8] = []

  static func decompress(_ data: [UInt8]) throws -> [UInt8] {
    var inflater = ZlibInflater(input: data)
    return try inflater.run()
  }

  private init(input: [UInt8]) { self.input = input }

  private mutating func byte() throws -> UInt8 {
    guard position < input.count else { throw InflateError("unexpected end of compressed data") }
    defer { position += 1 }
    return input[position]
  }

  private mutating func bits(_ n: Int) throws -> Int {
    while bitCount < n {
      bitBuffer |= UInt32(try byte()) << UInt32(bitCount)
      bitCount += 8
    }
    let value = Int(bitBuffer & ((1 << UInt32(n)) - 1))
    bitBuffer >>= UInt32(n)
    bitCount -= n
    return value
  }

  private mutating func decode(_ h: Huffman) throws -> Int {
    var code = 0
    var first = 0
    var index = 0
    for length in 1..<16 {
      code |= try bits(1)
      let count = h.counts[length]
      if code - first < count { return h.symbols[index + code - first] }
      index += count
      first = (first + count) << 1
      code <<= 1
    }
    throw InflateError("invalid Huffman code")
  }

  private static let lengthBase = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258]
  private static let lengthExtra = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0]
  private static let distanceBase = [
    1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577,
  ]
  private static let distanceExtra = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13]
  private static let codeLengthOrder = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15]

  private mutating func run() throws -> [UInt8] {
    let cmf = try byte()
    let flg = try byte()
    guard cmf & 0x0F == 8, (Int(cmf) * 256 + Int(flg)) % 31 == 0, flg & 0x20 == 0 else {
      throw InflateError("not a zlib stream")
    }
    var final = false
    while !final {
      final = try bits(1) == 1
      switch try bits(2) {
      case 0: try stored()
      case 1: try fixed()
      case 2: try dynamic()
      default: throw InflateError("invalid block type")
      }
    }
    // Adler-32, big endian, after byte alignment.
    bitBuffer = 0
    bitCount = 0
    var expected: UInt32 = 0
    for _ in 0..<4 { expected = (expected << 8) | UInt32(try byte()) }
    var a: UInt32 = 1
    var b: UInt32 = 0
    for x in output {
      a = (a + UInt32(x)) % 65521
      b = (b + a) % 65521
    }
    guard (b << 16) | a == expected else { throw InflateError("Adler-32 mismatch") }
    return output
  }

  private mutating func stored() throws {
    bitBuffer = 0
    bitCount = 0
    let len = Int(try byte()) | (Int(try byte()) << 8)
    let nlen = Int(try byte()) | (Int(try byte()) << 8)
    guard len == (~nlen & 0xFFFF) else { throw InflateError("stored block length mismatch") }
    guard position + len <= input.count else { throw InflateError("stored block truncated") }
    output.append(contentsOf: input[position..<(position + len)])
    position += len
  }

  private mutating func fixed() throws {
    var lengths = [Int](repeating: 8, count: 288)
    for i in 144..<256 { lengths[i] = 9 }
    for i in 256..<280 { lengths[i] = 7 }
    let literal = try Huffman(lengths: lengths)
    let distance = try Huffman(lengths: [Int](repeating: 5, count: 30))
    try codes(literal, distance)
  }

  private mutating func dynamic() throws {
    let nlen = try bits(5) + 257
    let ndist = try bits(5) + 1
    let ncode = try bits(4) + 4
    var codeLengths = [Int](repeating: 0, count: 19)
    for i in 0..<ncode { codeLengths[ZlibInflater.codeLengthOrder[i]] = try bits(3) }
    let codeLengthCode = try Huffman(lengths: codeLengths)
    var lengths: [Int] = []
    while lengths.count < nlen + ndist {
      let symbol = try decode(codeLengthCode)
      switch symbol {
      case 0..<16:
        lengths.append(symbol)
      case 16:
        guard let previous = lengths.last else { throw InflateError("repeat with no previous length") }
        lengths.append(contentsOf: repeatElement(previous, count: 3 + (try bits(2))))
      case 17:
        lengths.append(contentsOf: repeatElement(0, count: 3 + (try bits(3))))
      default:
        lengths.append(contentsOf: repeatElement(0, count: 11 + (try bits(7))))
      }
    }
    guard lengths.count == nlen + ndist else { throw InflateError("too many code lengths") }
    let literal = try Huffman(lengths: Array(lengths[0..<nlen]))
    let distance = try Huffman(lengths: Array(lengths[nlen...]))
    try codes(literal, distance)
  }

  private mutating func codes(_ literal: Huffman, _ distance: Huffman) throws {
    while true {
      let symbol = try decode(literal)
      if symbol < 256 {
        output.append(UInt8(symbol))
      } else if symbol == 256 {
        return
      } else {
        let li = symbol - 257
        guard li < 29 else { throw InflateError("invalid length symbol") }
        let length = ZlibInflater.lengthBase[li] + (try bits(ZlibInflater.lengthExtra[li]))
        let di = try decode(distance)
        guard di < 30 else { throw InflateError("invalid distance symbol") }
        let dist = ZlibInflater.distanceBase[di] + (try bits(ZlibInflater.distanceExtra[di]))
        guard dist <= output.count else { throw InflateError("distance too far back") }
        let start = output.count - dist
        for k in 0..<length { output.append(output[start + k]) }
      }
    }
  }
}
