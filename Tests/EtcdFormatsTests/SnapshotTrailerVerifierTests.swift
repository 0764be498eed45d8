import Crypto
import EtcdFormats
import EtcdTestSupport
import Foundation
import PropertyBased
import SnapshotCore
import Testing

private func randomBytes(_ count: Int, seed: UInt64) -> [UInt8] {
  var rng = SplitMix64(state: seed)
  var out = [UInt8](repeating: 0, count: count)
  var i = 0
  while i < count {
    var word = rng.next()
    for _ in 0..<8 where i < count {
      out[i] = UInt8(truncatingIfNeeded: word)
      word >>= 8
      i += 1
    }
  }
  return out
}

private func sha256(_ bytes: some DataProtocol) -> [UInt8] { Array(SHA256.hash(data: bytes)) }

/// What etcd sends: the database image followed by the SHA-256 of it.
private func etcdStream(_ data: [UInt8]) -> [UInt8] { data + sha256(data) }

/// Feeds `stream` in chunks whose sizes come from `seed`: often 0, 1, 31, 32 or 33 bytes,
/// sometimes large, through all three `update` entry points.
private func verify(_ stream: [UInt8], chunkSeed: UInt64) -> SnapshotTrailerCheck {
  var rng = SplitMix64(state: chunkSeed)
  var verifier = SnapshotTrailerVerifier()
  let special = [0, 1, 31, 32, 33, 63, 64, 511, 512, 513]
  var offset = 0
  var step = 0
  while offset < stream.count || step == 0 {
    let left = stream.count - offset
    let size: Int
    switch rng.next() % 4 {
    case 0, 1: size = min(left, special[Int(rng.next() % UInt64(special.count))])
    case 2: size = Int(rng.next() % UInt64(min(left, 600) + 1))
    default: size = Int(rng.next() % UInt64(left + 1))
    }
    let range = offset..<(offset + size)
    switch step % 3 {
    case 0: stream.withUnsafeBytes { verifier.update(UnsafeRawBufferPointer(rebasing: $0[range])) }
    case 1: verifier.update(Array(stream[range]))
    default: verifier.update(Data(stream[range]))
    }
    offset += size
    step += 1
  }
  return verifier.finish()
}

@Suite("SnapshotTrailerVerifier: etcd's SHA-256 trailer, checked while streaming")
struct SnapshotTrailerVerifierTests {
  @Test("hex is lower-case; SHA-256 of \"abc\" is the FIPS 180-2 vector")
  func hexAndVector() {
    #expect(hex([0x00, 0x0F, 0xAB, 0xFF]) == "000fabff")
    #expect(hex([UInt8]()) == "")
    #expect(
      hex(sha256(Array("abc".utf8))) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
  }

  @Test("a database image of N × 512 bytes followed by its SHA-256 is valid, however it is chunked")
  func validStreams() async {
    await propertyCheck(count: 100, input: Gen.int(in: 1...400), Gen.uint64(), Gen.uint64()) { pages, dataSeed, chunkSeed in
      let data = randomBytes(pages * 512, seed: dataSeed)
      let stream = etcdStream(data)
      let check = verify(stream, chunkSeed: chunkSeed)
      #expect(check.isValid)
      #expect(check.problem == nil)
      #expect(check.byteCount == Int64(stream.count))
      #expect(check.expected == sha256(data))
      #expect(check.computed == sha256(data))
      #expect(check.fileSHA256 == sha256(stream))
    }
  }

  @Test("data + sha256(data) is valid exactly when data is a whole number of 512-byte pages")
  func sizeRule() async {
    let lengths = Gen<Int>.oneOf(
      Gen.int(in: 0...80),
      Gen.int(in: 1...400).map { $0 * 512 },
      zip(Gen.int(in: 1...400), Gen.int(in: -40...40)).map { $0 * 512 + $1 },
      Gen.int(in: 0...205_000))
    await propertyCheck(count: 300, input: lengths, Gen.uint64(), Gen.uint64()) { length, dataSeed, chunkSeed in
      let stream = etcdStream(randomBytes(length, seed: dataSeed))
      let check = verify(stream, chunkSeed: chunkSeed)
      #expect(check.isValid == (length % 512 == 0), "data length \(length)")
      #expect((check.problem == nil) == check.isValid)
      #expect(check.fileSHA256 == sha256(stream))
    }
  }

  @Test("every single-bit flip of a small snapshot is caught")
  func everyBitFlipSmall() {
    let data = randomBytes(1024, seed: 42)
    let stream = etcdStream(data)
    #expect(verify(stream, chunkSeed: 0).isValid)
    var missed: [Int] = []
    for bit in 0..<(stream.count * 8) {
      var flipped = stream
      flipped[bit / 8] ^= 1 << (bit % 8)
      let check = verify(flipped, chunkSeed: UInt64(bit))
      if check.isValid || check.problem?.contains("SHA-256 mismatch") != true { missed.append(bit) }
    }
    #expect(missed == [])
  }

  @Test("a single-bit flip anywhere in a larger snapshot is caught")
  func bitFlipAnywhere() async {
    await propertyCheck(count: 100, input: Gen.int(in: 1...300), Gen.uint64(), Gen.uint64(), Gen.double(in: 0..<1)) {
      pages, dataSeed, chunkSeed, position in
      var stream = etcdStream(randomBytes(pages * 512, seed: dataSeed))
      let bit = Int(position * Double(stream.count * 8))
      stream[bit / 8] ^= 1 << (bit % 8)
      let check = verify(stream, chunkSeed: chunkSeed)
      #expect(!check.isValid, "bit \(bit) of \(stream.count * 8)")
      #expect(check.problem != nil)
      #expect(check.fileSHA256 == sha256(stream))
    }
  }

  @Test("every truncation of a small snapshot is caught")
  func everyTruncationSmall() {
    let stream = etcdStream(randomBytes(1024, seed: 7))
    var missed: [Int] = []
    for length in 0..<stream.count {
      let check = verify(Array(stream[..<length]), chunkSeed: UInt64(length))
      if check.isValid || check.problem == nil || check.byteCount != Int64(length) { missed.append(length) }
    }
    #expect(missed == [])
  }

  @Test("a truncated or extended stream is invalid")
  func truncatedOrExtended() async {
    await propertyCheck(count: 100, input: Gen.int(in: 1...300), Gen.uint64(), Gen.uint64(), Gen.double(in: 0..<1), Gen.int(in: 1...1100)) {
      pages, dataSeed, chunkSeed, cut, extra in
      let stream = etcdStream(randomBytes(pages * 512, seed: dataSeed))
      let truncated = Array(stream[..<Int(cut * Double(stream.count))])
      #expect(!verify(truncated, chunkSeed: chunkSeed).isValid, "cut to \(truncated.count) of \(stream.count)")
      let extended = stream + randomBytes(extra, seed: chunkSeed)
      #expect(!verify(extended, chunkSeed: chunkSeed).isValid, "\(extra) bytes appended")
    }
  }

  @Test("a zero trailer or the digest of other bytes is refused, naming both digests")
  func wrongTrailers() {
    let data = randomBytes(4096, seed: 3)
    for trailer in [[UInt8](repeating: 0, count: 32), sha256(data.dropLast()), sha256(data + [0])] {
      let check = verify(data + trailer, chunkSeed: 1)
      #expect(!check.isValid)
      #expect(check.problem?.contains(hex(trailer)) == true)
      #expect(check.problem?.contains(hex(sha256(data))) == true)
    }
  }

  @Test("fileSHA256, byteCount, expected and computed do not depend on chunking, for any bytes")
  func chunkingIndependent() async {
    await propertyCheck(count: 200, input: Gen.int(in: 0...205_000), Gen.uint64(), Gen.uint64(), Gen.uint64()) {
      length, dataSeed, seedA, seedB in
      let stream = randomBytes(length, seed: dataSeed)
      let a = verify(stream, chunkSeed: seedA)
      let b = verify(stream, chunkSeed: seedB)
      #expect(a == b)
      #expect(a.fileSHA256 == sha256(stream))
      #expect(a.byteCount == Int64(length))
      if length >= 32 {
        #expect(a.expected == Array(stream.suffix(32)))
        #expect(a.computed == sha256(stream.dropLast(32)))
      } else {
        #expect(a.expected == nil)
        #expect(a.computed == nil)
      }
    }
  }

  @Test("streams shorter than the trailer are refused as too short", arguments: [0, 1, 16, 31])
  func tooShort(length: Int) throws {
    let stream = randomBytes(length, seed: UInt64(length))
    let check = verify(stream, chunkSeed: 9)
    #expect(!check.isValid)
    #expect(check.expected == nil && check.computed == nil)
    #expect(try #require(check.problem).contains("too short"))
    #expect(check.fileSHA256 == sha256(stream))
  }

  @Test("a right trailer after a size that is not pages is refused for its size")
  func badSize() throws {
    let stream = etcdStream(randomBytes(1000, seed: 5))
    let check = verify(stream, chunkSeed: 2)
    #expect(check.expected == check.computed)
    #expect(!check.isValid)
    #expect(try #require(check.problem).contains("size % 512"))
  }

  @Test("finish() can be called mid-stream without disturbing the rest")
  func finishMidStream() async {
    await propertyCheck(count: 100, input: Gen.int(in: 1...64), Gen.uint64(), Gen.double(in: 0...1)) { pages, seed, at in
      let stream = etcdStream(randomBytes(pages * 512, seed: seed))
      let split = Int(at * Double(stream.count))
      var verifier = SnapshotTrailerVerifier()
      verifier.update(Array(stream[..<split]))
      let early = verifier.finish()
      #expect(early == verify(Array(stream[..<split]), chunkSeed: seed))
      verifier.update(Array(stream[split...]))
      #expect(verifier.finish() == verify(stream, chunkSeed: seed))
      #expect(verifier.finish().isValid)
    }
  }

  @Test("a fresh verifier has seen nothing; empty updates change nothing")
  func empty() {
    var verifier = SnapshotTrailerVerifier()
    #expect(verifier.byteCount == 0)
    verifier.update([UInt8]())
    verifier.update(Data())
    let check = verifier.finish()
    #expect(check.byteCount == 0)
    #expect(!check.isValid)
    #expect(check.fileSHA256 == sha256([UInt8]()))
  }

  @Test("the announced size: database plus trailer; an impossible announcement (2^63, past bbolt's limit) is unknown")
  func announcedFileSize() async {
    let announced: Int64? = SnapshotTrailerVerifier.announcedFileSize(remainingBytes: 4096 * 5, firstChunkBytes: 4096)
    let expected: Int64 = 4096 * 6 + 32
    #expect(announced == expected)
    #expect(SnapshotTrailerVerifier.announcedFileSize(remainingBytes: 0, firstChunkBytes: 0) == 32)
    let limit = SnapshotTrailerVerifier.maximumDatabaseSize
    #expect(SnapshotTrailerVerifier.announcedFileSize(remainingBytes: UInt64(limit) - 10, firstChunkBytes: 10) == limit + 32)
    for remaining: UInt64 in [UInt64(limit) - 9, 1 << 63, UInt64(Int64.max), .max] {
      #expect(SnapshotTrailerVerifier.announcedFileSize(remainingBytes: remaining, firstChunkBytes: 10) == nil, "\(remaining)")
    }
    let remainings = Gen<UInt64>.oneOf(
      Gen.uint64(), Gen.uint64(in: 0...(1 << 40)), Gen.uint64(in: (UInt64(limit) - (8 << 20))...(UInt64(limit) + 8)))
    await propertyCheck(count: 500, input: remainings, Gen.int(in: 0...(4 << 20))) { remaining, chunk in
      let size = SnapshotTrailerVerifier.announcedFileSize(remainingBytes: remaining, firstChunkBytes: chunk)
      if remaining <= UInt64(limit) - UInt64(chunk) {
        #expect(size == Int64(remaining) + Int64(chunk) + 32)
      } else {
        #expect(size == nil)
      }
    }
  }
}
