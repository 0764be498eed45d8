import Crypto
import EtcdTestSupport
import Foundation
import SnapshotCore
import SnapshotPipeline
import Testing

/// Runs a Python snippet with `path` as sys.argv[1]; returns its stdout.
func python(_ code: String, _ arguments: [String]) throws -> String {
  try TestProcess.check("/usr/bin/env", ["python3", "-c", code] + arguments)
}

@Suite("k3s's zip: what Python's zipfile and unzip read, and zips made as k3s and zip tools make them")
struct ZipTests {
  @Test("our zip: one Deflate entry named as the snapshot, streamed, mode 0600; unzip -t and zipfile agree")
  func ourZipIsStandard() throws {
    let work = try TemporaryDirectory(prefix: "zip")
    let data = manifestLikeData(bytes: 1_500_000, seed: 21)
    let path = work.appending("etcd-snapshot-node1-1733400000.zip")
    try Data(try compress(.zip, data)).write(to: URL(fileURLWithPath: path))
    let t = try TestProcess.run("/usr/bin/unzip", ["-t", path])
    #expect(t.status == 0 && t.stdout.contains("No errors detected"), "\(t)")
    let info = try python(
      """
      import sys, zipfile, hashlib
      z = zipfile.ZipFile(sys.argv[1])
      assert z.testzip() is None
      [i] = z.infolist()
      print(i.filename, i.compress_type, i.flag_bits & 8, oct(i.external_attr >> 16), i.file_size, hashlib.sha256(z.read(i)).hexdigest())
      """, [path])
    let sha = SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
    #expect(info.trimmingCharacters(in: .whitespacesAndNewlines) == "etcd-snapshot-node1-1733400000 8 8 0o100600 \(data.count) \(sha)")
  }

  @Test(
    "zips made by Python's zipfile, seekable (sizes in the header) and streamed (a data descriptor, as Go's archive/zip writes), restore the same bytes"
  )
  func othersZips() throws {
    let work = try TemporaryDirectory(prefix: "zip")
    let data = manifestLikeData(bytes: 1_000_000, seed: 22)
    let plain = work.appending("etcd-snapshot-node1-1733400000")
    try Data(data).write(to: URL(fileURLWithPath: plain))
    for streamed in [false, true] {
      let out = work.appending("made-\(streamed).zip")
      _ = try python(
        """
        import sys, zipfile, io
        src, out, streamed = sys.argv[1], sys.argv[2], sys.argv[3] == "true"
        class NoSeek(io.RawIOBase):
            def __init__(self, f): self.f = f
            def writable(self): return True
            def write(self, b): return self.f.write(b)
        f = open(out, "wb")
        target = NoSeek(f) if streamed else f
        with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as z:
            with open(src, "rb") as s, z.open("etcd-snapshot-node1-1733400000", "w") as e:
                e.write(s.read())
        f.close()
        """, [plain, out, String(streamed)])
      let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: out)))
      #expect(bytes[6] & 8 == (streamed ? 8 : 0), "a data descriptor only when streamed")
      let stage = try ZipDecompressor()
      #expect(try run(stage, bytes) == data, "streamed: \(streamed)")
      #expect(stage.name == "etcd-snapshot-node1-1733400000")
    }
  }

  @Test("a zip of two files, a stored entry without sizes, an encrypted entry: refused with the reason")
  func refused() throws {
    let work = try TemporaryDirectory(prefix: "zip")
    let out = work.appending("two.zip")
    _ = try python(
      """
      import sys, zipfile
      with zipfile.ZipFile(sys.argv[1], "w", compression=zipfile.ZIP_DEFLATED) as z:
          z.writestr("a", b"x" * 1000)
          z.writestr("b", b"y" * 1000)
      """, [out])
    do {
      _ = try run(try ZipDecompressor(), Array(try Data(contentsOf: URL(fileURLWithPath: out))))
      Issue.record("a zip of two files was read")
    } catch let error as SnapshotError {
      #expect(error.message.contains("more than one file"), "\(error.message)")
    }
    var encrypted = try compress(.zip, [1, 2, 3])
    encrypted[6] |= 1
    do {
      _ = try run(try ZipDecompressor(), encrypted)
      Issue.record("an encrypted zip entry was read")
    } catch let error as SnapshotError {
      #expect(error.message.contains("encrypted"), "\(error.message)")
    }
  }
}

/// Past 4 GiB, where a zip needs ZIP64: written with the real stage, read by Python's zipfile
/// (which checks the CRC-32 and the ZIP64 sizes) and by our decompressor.
@Suite("k3s's zip past 4 GiB: ZIP64")
struct Zip64Tests {
  @Test("a 4.25 GiB entry: ZIP64 sizes and offsets that Python's zipfile reads whole (CRC checked), and so do we")
  func past4GiB() throws {
    let work = try TemporaryDirectory(prefix: "zip64")
    let path = work.appending("big.zip")
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    try #require(fd >= 0)
    let zip = try ZipCompressor(entryName: "etcd-snapshot-node1-1733400000", level: 1)
    var block = [UInt8](repeating: 0, count: 1 << 20)
    let total: Int64 = (4 << 30) + (256 << 20)
    var out: [UInt8] = []
    func write() throws {
      try out.withUnsafeBytes { raw in
        var done = 0
        while done < raw.count {
          let n = Glibc.write(fd, raw.baseAddress! + done, raw.count - done)
          guard n > 0 else { throw HarnessError("write failed: \(errno)") }
          done += n
        }
      }
      out.removeAll(keepingCapacity: true)
    }
    var hash = SHA256()
    for i in 0..<Int(total >> 20) {
      // Mostly zeros (fast to deflate), with a counter so no two blocks are the same.
      withUnsafeBytes(of: UInt64(i).littleEndian) { for (j, b) in $0.enumerated() { block[j] = b } }
      hash.update(data: block)
      try block.withUnsafeBytes { try zip.update($0, into: &out) }
      try write()
    }
    try zip.finish(into: &out)
    try write()
    close(fd)
    let expected = hash.finalize().map { String(format: "%02x", $0) }.joined()
    let seen = try python(
      """
      import sys, zipfile, hashlib
      z = zipfile.ZipFile(sys.argv[1])
      [i] = z.infolist()
      h = hashlib.sha256()
      with z.open(i) as e:
          while True:
              b = e.read(1 << 20)
              if not b: break
              h.update(b)
      print(i.file_size, h.hexdigest())
      """, [path])
    #expect(seen.trimmingCharacters(in: .whitespacesAndNewlines) == "\(total) \(expected)")
    // Ours, in small slices as the readers feed it.
    let unzip = try ZipDecompressor()
    let input = open(path, O_RDONLY)
    defer { close(input) }
    var buffer = [UInt8](repeating: 0, count: 16 << 10)
    var ours = SHA256()
    var size: Int64 = 0
    var expanded: [UInt8] = []
    while true {
      let n = buffer.withUnsafeMutableBytes { Glibc.read(input, $0.baseAddress, $0.count) }
      if n <= 0 { break }
      expanded.removeAll(keepingCapacity: true)
      try buffer.withUnsafeBytes { try unzip.update(UnsafeRawBufferPointer(rebasing: $0[0..<n]), into: &expanded) }
      ours.update(data: expanded)
      size += Int64(expanded.count)
    }
    expanded.removeAll(keepingCapacity: true)
    try unzip.finish(into: &expanded)
    ours.update(data: expanded)
    size += Int64(expanded.count)
    #expect(size == total)
    #expect(ours.finalize().map { String(format: "%02x", $0) }.joined() == expected)
  }
}
