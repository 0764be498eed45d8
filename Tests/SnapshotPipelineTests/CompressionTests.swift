import EtcdTestSupport
import Foundation
import SnapshotCore
import SnapshotPipeline
import Testing

/// Data that compresses as a snapshot of Kubernetes objects does: JSON manifests, with some
/// random bytes in between (certificates, tokens).
func manifestLikeData(bytes: Int, seed: UInt64) -> [UInt8] {
  var random = SplitMix64(state: seed)
  var out: [UInt8] = []
  out.reserveCapacity(bytes + 600)
  var i = 0
  while out.count < bytes {
    let manifest =
      #"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cm-\#(i)","namespace":"ns-\#(i % 17)","uid":"\#(random.next())"},"data":{"key":"value-\#(i)"}}"#
    out += Array(manifest.utf8)
    for _ in 0..<Int(random.next() % 64) { out.append(UInt8(truncatingIfNeeded: random.next())) }
    i += 1
  }
  return Array(out.prefix(bytes))
}

/// Runs `input` through `stage` in pieces of random sizes (1 byte to 200 KiB).
func run(_ stage: any ByteStage, _ input: [UInt8], seed: UInt64 = 1) throws -> [UInt8] {
  var random = SplitMix64(state: seed)
  var out: [UInt8] = []
  var offset = 0
  try input.withUnsafeBytes { (all) throws in
    while offset < all.count {
      let n = min(all.count - offset, 1 + Int(random.next() % (200 * 1024)))
      try stage.update(UnsafeRawBufferPointer(rebasing: all[offset..<(offset + n)]), into: &out)
      offset += n
    }
  }
  try stage.finish(into: &out)
  return out
}

func compress(_ c: SnapshotCompression, _ input: [UInt8], level: Int? = nil, seed: UInt64 = 1) throws -> [UInt8] {
  try run(try #require(try c.compressor(level: level, entryName: "etcd-snapshot-node1-1733400000")), input, seed: seed)
}

func decompress(_ c: SnapshotCompression, _ input: [UInt8], seed: UInt64 = 2) throws -> [UInt8] {
  try run(try #require(try c.decompressor()), input, seed: seed)
}

/// Runs a tool with `input` on stdin (from a file) and returns its stdout bytes.
func tool(_ program: String, _ arguments: [String], input: [UInt8]) throws -> [UInt8] {
  let work = try TemporaryDirectory(prefix: "pipeline")
  let inPath = work.appending("in")
  let outPath = work.appending("out")
  try Data(input).write(to: URL(fileURLWithPath: inPath))
  let r = try TestProcess.run("/bin/sh", ["-c", "\"$0\" \"$@\" < '\(inPath)' > '\(outPath)'", program] + arguments)
  guard r.status == 0 else { throw HarnessError("\(program) \(arguments) failed: \(r)") }
  return Array(try Data(contentsOf: URL(fileURLWithPath: outPath)))
}

let compressed: [SnapshotCompression] = [.zstd, .gzip, .zip]

@Suite("compression stages: zstd, gzip and k3s's zip")
struct CompressionTests {
  @Test("round trip at every size around the chunk boundaries, in random pieces", arguments: compressed)
  func roundTrip(_ c: SnapshotCompression) throws {
    for (i, size) in [0, 1, 2, 65535, 65536, 65537, 131_072, 1 << 20, 3_000_001].enumerated() {
      let data = manifestLikeData(bytes: size, seed: UInt64(i))
      let packed = try compress(c, data, seed: UInt64(i))
      do {
        #expect(try decompress(c, packed, seed: UInt64(i) + 7) == data, "\(c) size \(size)")
      } catch {
        Issue.record("\(c) size \(size), \(packed.count) bytes compressed: \(error)")
      }
      #expect(StoredFormat(sniffing: packed).compression == c, "\(c) is told by its first bytes")
      if size >= 1 << 20 { #expect(packed.count * 3 < data.count, "manifests compress at least 3:1 with \(c): \(packed.count) of \(data.count)") }
    }
  }

  @Test("levels: the range is enforced with the flag named; every level round-trips", arguments: compressed)
  func levels(_ c: SnapshotCompression) throws {
    let (range, _) = try #require(c.levels)
    let data = manifestLikeData(bytes: 300_000, seed: 9)
    for level in [range.lowerBound, range.upperBound] {
      #expect(try decompress(c, try compress(c, data, level: level)) == data)
    }
    #expect(throws: SnapshotError.self) { _ = try c.compressor(level: range.upperBound + 1, entryName: "x") }
    do throws(SnapshotError) {
      _ = try c.compressor(level: range.upperBound + 1, entryName: "x")
    } catch {
      #expect(error.message.contains("--compress-level"), "\(error.message)")
    }
  }

  @Test("the system tools read what we write: zstd -d, gzip -d")
  func toolsReadOurs() throws {
    let data = manifestLikeData(bytes: 2_500_000, seed: 3)
    #expect(try tool("zstd", ["-d", "-c", "-q"], input: try compress(.zstd, data)) == data)
    #expect(try tool("gzip", ["-d", "-c"], input: try compress(.gzip, data)) == data)
  }

  @Test("we read what the system tools write: zstd -1, zstd -19 --long, concatenated frames, gzip -1, gzip -9")
  func oursReadTools() throws {
    let data = manifestLikeData(bytes: 2_500_000, seed: 4)
    #expect(try decompress(.zstd, try tool("zstd", ["-1", "-c", "-q"], input: data)) == data)
    #expect(try decompress(.zstd, try tool("zstd", ["-19", "-c", "-q", "--no-check"], input: data)) == data)
    let two =
      try tool("zstd", ["-3", "-c", "-q"], input: Array(data.prefix(1000)))
      + (try tool("zstd", ["-3", "-c", "-q"], input: Array(data.dropFirst(1000))))
    #expect(try decompress(.zstd, two) == data, "two frames, as `cat a.zst b.zst`")
    #expect(try decompress(.gzip, try tool("gzip", ["-1", "-c"], input: data)) == data)
    #expect(try decompress(.gzip, try tool("gzip", ["-9", "-c", "-n"], input: data)) == data)
    let members = try tool("gzip", ["-c"], input: Array(data.prefix(5))) + (try tool("gzip", ["-c"], input: Array(data.dropFirst(5))))
    #expect(try decompress(.gzip, members) == data, "two members, as `cat a.gz b.gz`")
  }

  @Test("every truncation is an error, never a shorter result", arguments: compressed)
  func truncations(_ c: SnapshotCompression) throws {
    let data = manifestLikeData(bytes: 20_000, seed: 5)
    let packed = try compress(c, data)
    for length in 0..<packed.count {
      #expect(throws: SnapshotError.self, "\(c) cut at \(length) of \(packed.count)") {
        _ = try decompress(c, Array(packed.prefix(length)), seed: UInt64(length))
      }
    }
  }

  @Test("trailing bytes after the compressed data are an error", arguments: compressed)
  func trailing(_ c: SnapshotCompression) throws {
    let packed = try compress(c, manifestLikeData(bytes: 10_000, seed: 6))
    for junk: [UInt8] in [[0], [0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48]] {
      #expect(throws: SnapshotError.self, "\(c) + \(junk.count) bytes") { _ = try decompress(c, packed + junk) }
    }
  }

  @Test(
    "damage in the compressed data never passes as other data: it is found (zstd's checksum, gzip's and zip's CRC-32), or the bit was one the format ignores and the same data comes out",
    arguments: compressed)
  func damagedPayload(_ c: SnapshotCompression) throws {
    let data = manifestLikeData(bytes: 200_000, seed: 8)
    let packed = try compress(c, data)
    var random = SplitMix64(state: 11)
    // Bits in the middle of the compressed data (headers hold fields, such as gzip's MTIME,
    // that no reader checks). zstd also has bits no decoder reads (the padding of a
    // bitstream, unused table entries): a flip there gives the same data, and the stored
    // SHA-256 in the metadata refuses the file (CompressedSaveTests.damaged). Different
    // data without an error would be a silent corruption.
    var found = 0
    for _ in 0..<200 {
      var bad = packed
      let bit = packed.count * 8 / 4 + Int(random.next() % UInt64(packed.count * 8 / 2))
      bad[bit / 8] ^= 1 << UInt8(bit % 8)
      do {
        let out = try decompress(c, bad)
        if out != data { Issue.record("\(c): bit \(bit) flipped, and different data came out with no error") }
      } catch {
        found += 1
      }
    }
    #expect(found >= 180, "\(c): \(found) of 200 flips found by the format itself")
  }

  @Test("formats are told by content: bolt, zstd, gzip, zip, age, unknown")
  func sniffing() throws {
    var bolt = [UInt8](repeating: 0, count: 4096)
    bolt[16...19] = [0xED, 0xDA, 0x0C, 0xED]
    #expect(StoredFormat(sniffing: bolt) == .bolt)
    #expect(StoredFormat(sniffing: Array("age-encryption.org/v1\n-> X25519 abc\n".utf8)) == .age)
    #expect(StoredFormat(sniffing: try compress(.zstd, [1, 2, 3])) == .zstd)
    #expect(StoredFormat(sniffing: try compress(.gzip, [1, 2, 3])) == .gzip)
    #expect(StoredFormat(sniffing: try compress(.zip, [1, 2, 3])) == .zip)
    #expect(StoredFormat(sniffing: Array("hello, world, this is text".utf8)) == .unknown)
    #expect(StoredFormat(sniffing: [0x28, 0xB5]) == .unknown, "too short for any magic")
  }
}
