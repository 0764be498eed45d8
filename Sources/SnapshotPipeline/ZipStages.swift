import CZlib
import Foundation
import SnapshotCore

/// What k3s writes with `--etcd-snapshot-compress` (Go's archive/zip): one Deflate entry,
/// streamed (sizes and CRC-32 in a data descriptor after the data), mode 0600 in the central
/// directory, and the ZIP64 records once the entry or the archive passes 4 GiB. Written in
/// one pass, so it can go straight to S3 as it is made.
package final class ZipCompressor: ByteStage {
  private let zlib: ZlibStream
  private let name: [UInt8]
  private let modified: (time: UInt16, date: UInt16)
  private var crc: UInt = crc32(0, nil, 0)
  private var plainSize: UInt64 = 0
  private var storedSize: UInt64 = 0
  private var wroteHeader = false

  /// A compressor for the entry `entryName` (k3s: the snapshot's name without `.zip`).
  package init(entryName: String, level: Int, modified: Date = Date()) throws(SnapshotError) {
    guard (1...9).contains(level) else { throw SnapshotError(.invalidConfiguration, "zip level \(level): use --compress-level 1 to 9") }
    guard !entryName.isEmpty, !entryName.utf8.contains(0x2F) else { throw SnapshotError(.internal, "zip entry name `\(entryName)`") }
    zlib = try ZlibStream(.deflate, windowBits: -15, level: Int32(level))
    name = Array(entryName.utf8)
    self.modified = dosTime(modified)
  }

  package func update(_ input: UnsafeRawBufferPointer, into output: inout [UInt8]) throws(SnapshotError) {
    if !wroteHeader { writeLocalHeader(into: &output) }
    guard !input.isEmpty else { return }
    var remaining = input
    while !remaining.isEmpty {
      let n = min(remaining.count, 1 << 30)
      crc = crc32(crc, remaining.baseAddress!.assumingMemoryBound(to: Bytef.self), uInt(n))
      remaining = UnsafeRawBufferPointer(rebasing: remaining[n...])
    }
    plainSize += UInt64(input.count)
    let before = output.count
    try deflating(zlib, input, flush: Z_NO_FLUSH, into: &output)
    storedSize += UInt64(output.count - before)
  }

  package func finish(into output: inout [UInt8]) throws(SnapshotError) {
    if !wroteHeader { writeLocalHeader(into: &output) }
    let before = output.count
    try deflating(zlib, UnsafeRawBufferPointer(start: nil, count: 0), flush: Z_FINISH, into: &output)
    storedSize += UInt64(output.count - before)
    let zip64 = plainSize >= 0xFFFF_FFFF || storedSize >= 0xFFFF_FFFF
    // Data descriptor: signature, CRC-32, sizes (8 bytes each once ZIP64).
    var w = LittleEndianWriter()
    w.u32(0x0807_4B50)
    w.u32(UInt32(crc))
    if zip64 {
      w.u64(storedSize)
      w.u64(plainSize)
    } else {
      w.u32(UInt32(storedSize))
      w.u32(UInt32(plainSize))
    }
    let centralOffset = UInt64(localHeaderLength) + storedSize + UInt64(w.bytes.count)
    // Central directory: one entry, made on Unix, mode 0600.
    var extra = LittleEndianWriter()
    if zip64 {
      extra.u16(0x0001)
      extra.u16(16)
      extra.u64(plainSize)
      extra.u64(storedSize)
    }
    var c = LittleEndianWriter()
    c.u32(0x0201_4B50)
    c.u16(3 << 8 | (zip64 ? 45 : 20))  // made by: Unix
    c.u16(zip64 ? 45 : 20)
    c.u16(0x0008)
    c.u16(8)
    c.u16(modified.time)
    c.u16(modified.date)
    c.u32(UInt32(crc))
    c.u32(zip64 ? 0xFFFF_FFFF : UInt32(storedSize))
    c.u32(zip64 ? 0xFFFF_FFFF : UInt32(plainSize))
    c.u16(UInt16(name.count))
    c.u16(UInt16(extra.bytes.count))
    c.u16(0)  // comment
    c.u16(0)  // disk
    c.u16(0)  // internal attributes
    c.u32(UInt32(0o100600) << 16)  // external attributes: a regular file, rw-------
    c.u32(0)  // the local header's offset
    c.bytes += name
    c.bytes += extra.bytes
    let centralSize = UInt64(c.bytes.count)
    w.bytes += c.bytes
    let archive64 = zip64 || centralOffset >= 0xFFFF_FFFF
    if archive64 {
      let recordOffset = centralOffset + centralSize
      w.u32(0x0606_4B50)  // ZIP64 end of central directory record
      w.u64(44)
      w.u16(3 << 8 | 45)
      w.u16(45)
      w.u32(0)
      w.u32(0)
      w.u64(1)
      w.u64(1)
      w.u64(centralSize)
      w.u64(centralOffset)
      w.u32(0x0706_4B50)  // its locator
      w.u32(0)
      w.u64(recordOffset)
      w.u32(1)
    }
    w.u32(0x0605_4B50)  // end of central directory
    w.u16(0)
    w.u16(0)
    w.u16(archive64 ? 0xFFFF : 1)
    w.u16(archive64 ? 0xFFFF : 1)
    w.u32(archive64 ? 0xFFFF_FFFF : UInt32(centralSize))
    w.u32(archive64 ? 0xFFFF_FFFF : UInt32(centralOffset))
    w.u16(0)
    output += w.bytes
  }

  private var localHeaderLength: Int { 30 + name.count }

  private func writeLocalHeader(into output: inout [UInt8]) {
    wroteHeader = true
    var w = LittleEndianWriter()
    w.u32(0x0403_4B50)
    w.u16(20)
    w.u16(0x0008)  // sizes and CRC-32 follow the data
    w.u16(8)  // Deflate
    w.u16(modified.time)
    w.u16(modified.date)
    w.u32(0)
    w.u32(0)
    w.u32(0)
    w.u16(UInt16(name.count))
    w.u16(0)
    w.bytes += name
    output += w.bytes
  }
}

/// Reads a zip that holds one file (k3s's `.zip` snapshots, or ours): the local header, the
/// Deflate (or stored) data, the data descriptor when there is one; checks the CRC-32 and
/// sizes, and that what follows is the central directory, not a second file.
package final class ZipDecompressor: ByteStage {
  private enum State {
    case header
    case data(method: UInt16, descriptor: Bool, zip64: Bool, storedSize: UInt64?, plainSize: UInt64?)
    case trailer(zip64: Bool, descriptor: Bool, storedSize: UInt64?, plainSize: UInt64?, expectedCRC: UInt32?)
    case done
  }

  private var state = State.header
  private var pending: [UInt8] = []
  private var zlib: ZlibStream?
  private var crc: UInt = crc32(0, nil, 0)
  private var plainCount: UInt64 = 0
  private var storedCount: UInt64 = 0
  private var entryName = ""

  /// A decompressor.
  package init() throws(SnapshotError) {}

  /// The name of the entry (known once its header has been read).
  package var name: String { entryName }

  package func update(_ input: UnsafeRawBufferPointer, into output: inout [UInt8]) throws(SnapshotError) {
    var input = input
    while !input.isEmpty {
      switch state {
      case .header:
        pending += input
        input = UnsafeRawBufferPointer(start: nil, count: 0)
        try readHeader()
        if case .data = state {
          let rest = pending
          pending = []
          var failure: SnapshotError?
          rest.withUnsafeBytes { raw in
            do throws(SnapshotError) { try self.update(raw, into: &output) } catch { failure = error }
          }
          if let failure { throw failure }
        }
      case .data(let method, let descriptor, let zip64, let storedSize, let plainSize):
        if method == 0 {
          // Stored: the sizes are known from the header.
          let left = (storedSize ?? 0) - storedCount
          let n = Int(min(UInt64(input.count), left))
          take(UnsafeRawBufferPointer(rebasing: input[..<n]), into: &output)
          storedCount += UInt64(n)
          input = UnsafeRawBufferPointer(rebasing: input[n...])
          if storedCount == storedSize {
            state = .trailer(zip64: zip64, descriptor: descriptor, storedSize: storedSize, plainSize: plainSize, expectedCRC: nil)
          }
          continue
        }
        let used = try inflateSome(input, into: &output)
        storedCount += UInt64(used.consumed)
        input = UnsafeRawBufferPointer(rebasing: input[used.consumed...])
        if used.ended {
          state = .trailer(zip64: zip64, descriptor: descriptor, storedSize: storedSize, plainSize: plainSize, expectedCRC: nil)
        }
      case .trailer, .done:
        pending += input
        input = UnsafeRawBufferPointer(start: nil, count: 0)
        try readTrailer()
      }
    }
  }

  package func finish(into output: inout [UInt8]) throws(SnapshotError) {
    switch state {
    case .header:
      throw SnapshotError(.corrupt, pending.isEmpty ? "the zip file is empty" : "the zip file ends inside its first header: truncated")
    case .data:
      throw SnapshotError(.corrupt, "the zip file ends inside the compressed data of \(entryName): truncated")
    case .trailer:
      try readTrailer()
      guard case .done = state else {
        throw SnapshotError(.corrupt, "the zip file ends before its central directory is complete: truncated")
      }
    case .done:
      break
    }
  }

  private func take(_ plain: UnsafeRawBufferPointer, into output: inout [UInt8]) {
    guard !plain.isEmpty else { return }
    crc = crc32(crc, plain.baseAddress!.assumingMemoryBound(to: Bytef.self), uInt(plain.count))
    plainCount += UInt64(plain.count)
    output += plain
  }

  private func readHeader() throws(SnapshotError) {
    guard pending.count >= 30 else { return }
    var r = LittleEndianReader(pending)
    guard r.u32() == 0x0403_4B50 else { throw SnapshotError(.corrupt, "not a zip file (no local file header at the start)") }
    _ = r.u16()
    let flags = r.u16()
    let method = r.u16()
    _ = r.u32()  // time, date
    let crcField = r.u32()
    let storedField = r.u32()
    let plainField = r.u32()
    let nameLength = Int(r.u16())
    let extraLength = Int(r.u16())
    guard pending.count >= 30 + nameLength + extraLength else { return }
    entryName = String(decoding: pending[30..<(30 + nameLength)], as: UTF8.self)
    if flags & 0x0001 != 0 { throw SnapshotError(.corrupt, "the zip entry \(entryName) is encrypted (zip encryption is not supported)") }
    guard method == 8 || method == 0 else {
      throw SnapshotError(.corrupt, "the zip entry \(entryName) uses compression method \(method); only Deflate (8) and stored (0) are read")
    }
    var stored: UInt64? = UInt64(storedField)
    var plain: UInt64? = UInt64(plainField)
    var zip64 = false
    var extra = LittleEndianReader(Array(pending[(30 + nameLength)..<(30 + nameLength + extraLength)]))
    while extra.remaining >= 4 {
      let tag = extra.u16()
      let size = Int(extra.u16())
      guard extra.remaining >= size else { break }
      if tag == 0x0001 {
        zip64 = true
        var field = LittleEndianReader(extra.bytes(size))
        if plainField == 0xFFFF_FFFF, field.remaining >= 8 { plain = field.u64() }
        if storedField == 0xFFFF_FFFF, field.remaining >= 8 { stored = field.u64() }
      } else {
        _ = extra.bytes(size)
      }
    }
    let descriptor = flags & 0x0008 != 0
    if descriptor && method == 0 {
      throw SnapshotError(.corrupt, "the zip entry \(entryName) is stored without its size in the header; only Deflate entries may be streamed")
    }
    if descriptor {
      stored = nil
      plain = nil
    } else if method == 0 && stored != plain {
      throw SnapshotError(.corrupt, "the stored zip entry \(entryName) has different sizes in its header")
    }
    _ = crcField
    pending.removeFirst(30 + nameLength + extraLength)
    if method == 8 { zlib = try ZlibStream(.inflate, windowBits: -15) }
    state = .data(method: method, descriptor: descriptor, zip64: zip64, storedSize: stored, plainSize: plain)
    if !descriptor { expectedHeaderCRC = crcField }
  }

  private var expectedHeaderCRC: UInt32?

  /// Inflates from `input`; returns how many bytes it used and whether the Deflate stream ended.
  private func inflateSome(_ input: UnsafeRawBufferPointer, into output: inout [UInt8]) throws(SnapshotError) -> (consumed: Int, ended: Bool) {
    guard let zlib else { throw SnapshotError(.internal, "zip: no inflate stream") }
    let input = UnsafeRawBufferPointer(rebasing: input.prefix(1 << 30))
    var ended = false
    var plain: [UInt8] = []
    try zlib.run(input, into: &plain) { (stream) throws(SnapshotError) -> Bool in
      let r = inflate(stream, Z_NO_FLUSH)
      switch r {
      case Z_STREAM_END:
        ended = true
        return false
      case Z_OK: return stream.pointee.avail_out == 0 || stream.pointee.avail_in > 0
      case Z_BUF_ERROR: return false
      default:
        throw SnapshotError(
          .corrupt, "the compressed data of \(entryName) in the zip is damaged: \(zlib.message.isEmpty ? "zlib error \(r)" : zlib.message)")
      }
    }
    let left = Int(zlib.stream.pointee.avail_in)
    plain.withUnsafeBytes { take($0, into: &output) }
    return (input.count - left, ended)
  }

  private func readTrailer() throws(SnapshotError) {
    guard case .trailer(let zip64, let descriptor, let storedSize, let plainSize, _) = state else {
      if case .done = state, !pending.isEmpty {
        // After the end of central directory: nothing may follow but a zip comment (already read).
        throw SnapshotError(.corrupt, "the zip file has \(pending.count) bytes after its end record")
      }
      return
    }
    var offset = 0
    var expectedCRC = expectedHeaderCRC
    var stored = storedSize
    var plain = plainSize
    if descriptor {
      // Signature (optional), CRC-32, sizes: 4 bytes each, or 8 with ZIP64. Go writes 8 only
      // past 4 GiB without a ZIP64 extra in the local header, so the counts decide.
      var r = LittleEndianReader(pending)
      guard r.remaining >= 4 else { return }
      var first = r.u32()
      if first == 0x0807_4B50 {
        guard r.remaining >= 4 else { return }
        first = r.u32()
        offset = 4
      }
      expectedCRC = first
      let wide = zip64 || storedCount >= 0xFFFF_FFFF || plainCount >= 0xFFFF_FFFF
      let width = wide ? 8 : 4
      guard r.remaining >= 2 * width else { return }
      stored = wide ? r.u64() : UInt64(r.u32())
      plain = wide ? r.u64() : UInt64(r.u32())
      offset += 4 + 2 * width
    }
    // Then the central directory; a second local header means a second file.
    guard pending.count >= offset + 4 else { return }
    var r = LittleEndianReader(Array(pending[offset...]))
    let next = r.u32()
    if next == 0x0403_4B50 {
      throw SnapshotError(.corrupt, "the zip holds more than one file; a snapshot zip holds one (\(entryName))")
    }
    guard next == 0x0201_4B50 else { throw SnapshotError(.corrupt, "the zip has unexpected bytes after the data of \(entryName)") }
    guard UInt32(crc) == expectedCRC else {
      throw SnapshotError(.corrupt, "the CRC-32 of \(entryName) in the zip does not match its data: the file is damaged")
    }
    guard stored == storedCount, plain == plainCount else {
      throw SnapshotError(.corrupt, "the sizes recorded for \(entryName) in the zip do not match its data: the file is damaged")
    }
    // The end of central directory record must be there: look for it from the end.
    let tail = pending[offset...]
    guard let end = lastIndex(of: [0x50, 0x4B, 0x05, 0x06], in: Array(tail)) else { return }
    let record = Array(tail).suffix(from: end)
    guard record.count >= 22 else { return }
    let commentLength = Int(UInt16(record[record.startIndex + 20]) | UInt16(record[record.startIndex + 21]) << 8)
    guard record.count >= 22 + commentLength else { return }
    if record.count > 22 + commentLength { throw SnapshotError(.corrupt, "the zip file has bytes after its end record") }
    state = .done
    pending = []
  }
}

private func lastIndex(of needle: [UInt8], in bytes: [UInt8]) -> Int? {
  guard bytes.count >= needle.count else { return nil }
  var i = bytes.count - needle.count
  while i >= 0 {
    if bytes[i] == needle[0] && Array(bytes[i..<(i + needle.count)]) == needle { return i }
    i -= 1
  }
  return nil
}

/// DOS time and date (2-second resolution, local time as zip tools read it; UTC here, as Go's
/// archive/zip writes Modified in UTC when no location is set).
private func dosTime(_ date: Date) -> (time: UInt16, date: UInt16) {
  var calendar = Calendar(identifier: .gregorian)
  calendar.timeZone = TimeZone(identifier: "UTC")!
  let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
  let year = max(1980, min(2107, c.year ?? 1980))
  let time = UInt16((c.hour ?? 0) << 11 | (c.minute ?? 0) << 5 | (c.second ?? 0) / 2)
  let day = UInt16((year - 1980) << 9 | (c.month ?? 1) << 5 | (c.day ?? 1))
  return (time, day)
}

struct LittleEndianWriter {
  var bytes: [UInt8] = []
  mutating func u16(_ v: UInt16) { bytes += [UInt8(v & 0xFF), UInt8(v >> 8)] }
  mutating func u32(_ v: UInt32) { for i in 0..<4 { bytes.append(UInt8(truncatingIfNeeded: v >> (8 * i))) } }
  mutating func u64(_ v: UInt64) { for i in 0..<8 { bytes.append(UInt8(truncatingIfNeeded: v >> (8 * i))) } }
}

struct LittleEndianReader {
  private let data: [UInt8]
  private var position = 0
  init(_ data: [UInt8]) { self.data = data }
  var remaining: Int { data.count - position }
  mutating func bytes(_ n: Int) -> [UInt8] {
    defer { position += n }
    return Array(data[position..<(position + n)])
  }
  mutating func u16() -> UInt16 { bytes(2).reversed().reduce(0) { $0 << 8 | UInt16($1) } }
  mutating func u32() -> UInt32 { bytes(4).reversed().reduce(0) { $0 << 8 | UInt32($1) } }
  mutating func u64() -> UInt64 { bytes(8).reversed().reduce(0) { $0 << 8 | UInt64($1) } }
}
