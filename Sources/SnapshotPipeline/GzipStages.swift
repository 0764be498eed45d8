import CZlib
import SnapshotCore

/// gzip compression (one member, as `gzip` writes it), through the system's zlib.
package final class GzipCompressor: ByteStage {
  private let zlib: ZlibStream

  /// A compressor at `level` (1...9).
  package init(level: Int) throws(SnapshotError) {
    guard (1...9).contains(level) else { throw SnapshotError(.invalidConfiguration, "gzip level \(level): use --compress-level 1 to 9") }
    zlib = try ZlibStream(.deflate, windowBits: 31, level: Int32(level))
  }

  package func update(_ input: UnsafeRawBufferPointer, into output: inout [UInt8]) throws(SnapshotError) {
    guard !input.isEmpty else { return }
    try deflating(zlib, input, flush: Z_NO_FLUSH, into: &output)
  }

  package func finish(into output: inout [UInt8]) throws(SnapshotError) {
    try deflating(zlib, UnsafeRawBufferPointer(start: nil, count: 0), flush: Z_FINISH, into: &output)
  }
}

/// Deflates `input` with `flush` (Z_NO_FLUSH, or Z_FINISH to end the stream).
func deflating(_ zlib: ZlibStream, _ input: UnsafeRawBufferPointer, flush: Int32, into output: inout [UInt8]) throws(SnapshotError) {
  try zlib.run(input, into: &output) { (stream) throws(SnapshotError) -> Bool in
    let r = deflate(stream, flush)
    if flush == Z_FINISH {
      if r == Z_STREAM_END { return false }
      guard r == Z_OK || r == Z_BUF_ERROR else { throw SnapshotError(.internal, "deflate failed (\(r)) \(zlib.message)") }
      return true
    }
    guard r == Z_OK || r == Z_BUF_ERROR else { throw SnapshotError(.internal, "deflate failed (\(r)) \(zlib.message)") }
    return stream.pointee.avail_out == 0
  }
}

/// gzip decompression of one or more members (as `gzip -d`), checking each member's CRC-32
/// and length. Anything after the last member that is not another member is an error.
package final class GzipDecompressor: ByteStage {
  private let zlib: ZlibStream
  /// Inside a member (its header may have begun).
  private var inMember = false
  private var members = 0

  /// A decompressor.
  package init() throws(SnapshotError) {
    zlib = try ZlibStream(.inflate, windowBits: 31)
  }

  package func update(_ input: UnsafeRawBufferPointer, into output: inout [UInt8]) throws(SnapshotError) {
    guard !input.isEmpty else { return }
    try zlib.run(input, into: &output) { (stream) throws(SnapshotError) -> Bool in
      if !inMember && stream.pointee.avail_in > 0 { inMember = true }
      let r = inflate(stream, Z_NO_FLUSH)
      switch r {
      case Z_STREAM_END:
        inMember = false
        members += 1
        guard inflateReset(stream) == Z_OK else { throw SnapshotError(.internal, "zlib could not restart") }
        return stream.pointee.avail_in > 0 || stream.pointee.avail_out == 0
      case Z_OK:
        return stream.pointee.avail_out == 0 || stream.pointee.avail_in > 0
      case Z_BUF_ERROR:
        return false  // needs more input
      default:
        let what = members == 0 ? "the gzip data is damaged" : "the data after gzip member \(members) is damaged or not gzip"
        throw SnapshotError(.corrupt, "\(what): \(zlib.message.isEmpty ? "zlib error \(r)" : zlib.message)")
      }
    }
  }

  package func finish(into output: inout [UInt8]) throws(SnapshotError) {
    guard members > 0 || inMember else { throw SnapshotError(.corrupt, "the gzip file is empty") }
    guard !inMember else { throw SnapshotError(.corrupt, "the gzip data ends in the middle of a member: the file is truncated") }
  }
}
