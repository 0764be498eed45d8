import EtcdTestSupport
import PropertyBased
import SnapshotCore
import Testing

/// `count` pseudo-random bytes from `seed` (fast to make, the same for a given seed).
private func randomBytes(_ count: Int, seed: UInt64) -> [UInt8] {
  var rng = SplitMix64(state: seed)
  var out: [UInt8] = []
  out.reserveCapacity(count + 8)
  while out.count < count {
    let word = rng.next()
    for shift in stride(from: 0, to: 64, by: 8) { out.append(UInt8(truncatingIfNeeded: word >> UInt64(shift))) }
  }
  return Array(out.prefix(count))
}

/// Hardware and software CRC of `bytes[offset..<offset+length]` (the slice starts at any alignment).
private func bothCRCs(_ bytes: [UInt8], offset: Int, length: Int, start: UInt32 = 0) -> (hardware: UInt32, software: UInt32) {
  bytes.withUnsafeBytes { raw in
    let slice = UnsafeRawBufferPointer(rebasing: raw[offset..<(offset + length)])
    return (CRC32C.hardwareUpdate(start, slice), CRC32C.softwareUpdate(start, slice))
  }
}

@Suite("CRC32C: Castagnoli, as Go's crc32.MakeTable(crc32.Castagnoli)")
struct CRC32CTests {
  @Test("check value: CRC-32C(\"123456789\") = 0xE3069283")
  func checkValue() {
    let digits = Array("123456789".utf8)
    #expect(CRC32C.checksum(digits) == 0xE306_9283)
    #expect(digits.withUnsafeBytes { CRC32C.softwareUpdate(0, $0) } == 0xE306_9283)
    #expect(digits.withUnsafeBytes { CRC32C.hardwareUpdate(0, $0) } == 0xE306_9283)
    #expect(CRC32C.checksum("123456789".utf8) == 0xE306_9283)  // a non-Array collection
    #expect(CRC32C.checksum([UInt8]()) == 0)
    #expect(CRC32C.update(0x1234_5678, [UInt8]()) == 0x1234_5678)
  }

  /// RFC 3720 (iSCSI), appendix B.4.
  static let rfc3720: [(name: String, bytes: [UInt8], crc: UInt32)] = [
    ("32 bytes of zeros", [UInt8](repeating: 0, count: 32), 0x8A91_36AA),
    ("32 bytes of 0xff", [UInt8](repeating: 0xFF, count: 32), 0x62A8_AB43),
    ("32 incrementing bytes", (0..<32).map { UInt8($0) }, 0x46DD_794E),
    ("32 decrementing bytes", (0..<32).reversed().map { UInt8($0) }, 0x113F_DB5C),
    (
      "an iSCSI read command PDU",
      [
        0x01, 0xC0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x14, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x14, 0x00, 0x00, 0x00, 0x18,
        0x28, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
      ],
      0xD996_3A56
    ),
  ]

  @Test("RFC 3720 test vectors", arguments: rfc3720.indices)
  func rfc3720Vectors(index: Int) {
    let vector = Self.rfc3720[index]
    #expect(CRC32C.checksum(vector.bytes) == vector.crc, "\(vector.name)")
    let both = bothCRCs(vector.bytes, offset: 0, length: vector.bytes.count)
    #expect(both.hardware == vector.crc, "\(vector.name)")
    #expect(both.software == vector.crc, "\(vector.name)")
  }

  @Test("a known value past the three-way block sizes: 1 MiB of the byte pattern i*31+7")
  func longInput() {
    // Computed independently with Python's bit-at-a-time reference (crc32c of this pattern).
    let bytes = (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
    let both = bothCRCs(bytes, offset: 0, length: bytes.count)
    #expect(both.hardware == both.software)
    #expect(CRC32C.checksum(bytes) == Self.longInputCRC)
  }

  static let longInputCRC: UInt32 = 0xFF5B_E3FC

  @Test("hardware == software for every length 0...1600 at every alignment 0..<8")
  func everyShortLength() {
    let bytes = randomBytes(1600 + 8, seed: 0xC3C)
    for offset in 0..<8 {
      for length in 0...1600 {
        let both = bothCRCs(bytes, offset: offset, length: length)
        if both.hardware != both.software {
          Issue.record("length \(length) at offset \(offset): hardware \(both.hardware), software \(both.software)")
          return
        }
      }
    }
  }

  @Test("hardware == software on random inputs of any length, alignment and starting value")
  func hardwareMatchesSoftware() async {
    if !CRC32C.hasHardwareSupport { print("CRC32C: no SSE4.2 here; both paths run in software") }
    let gen = zip(Gen.uint64(), Gen.int(in: 0...40_000), Gen.int(in: 0...15), Gen.uint32())
    await propertyCheck(count: 300, input: gen) { seed, length, offset, start in
      let bytes = randomBytes(length + offset, seed: seed)
      let both = bothCRCs(bytes, offset: offset, length: length, start: start)
      #expect(both.hardware == both.software)
    }
  }

  @Test("incremental: checksum(a + b) == update(checksum(a), b), for every split")
  func incremental() async {
    let gen = zip(Gen.uint64(), Gen.int(in: 0...20_000), Gen.int(in: 0...20_000))
    await propertyCheck(count: 200, input: gen) { seed, length, cut in
      let bytes = randomBytes(length, seed: seed)
      let split = min(cut, length)
      let whole = CRC32C.checksum(bytes)
      #expect(CRC32C.update(CRC32C.checksum(bytes[..<split]), bytes[split...]) == whole)
      let soft = bytes.withUnsafeBytes { raw in
        CRC32C.softwareUpdate(
          CRC32C.softwareUpdate(0, UnsafeRawBufferPointer(rebasing: raw[..<split])),
          UnsafeRawBufferPointer(rebasing: raw[split...]))
      }
      #expect(soft == whole)
    }
  }

  @Test("a single flipped bit always changes the checksum")
  func singleBitErrors() async {
    let gen = zip(Gen.uint64(), Gen.int(in: 1...5000), Gen.int(in: 0...39_999))
    await propertyCheck(count: 300, input: gen) { seed, length, bitIndex in
      var bytes = randomBytes(length, seed: seed)
      let before = CRC32C.checksum(bytes)
      let bit = bitIndex % (length * 8)
      bytes[bit / 8] ^= 1 << UInt8(bit % 8)
      #expect(CRC32C.checksum(bytes) != before)
    }
  }
}
