import CZlib
import SnapshotCore

/// A zlib deflate or inflate stream with a fixed address (zlib checks that its state points
/// back at the very `z_stream` it was initialised with, so the struct must not move).
final class ZlibStream {
  enum Direction { case deflate, inflate }

  let direction: Direction
  let stream: UnsafeMutablePointer<z_stream>
  private let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 128 * 1024, alignment: 16)

  /// `windowBits` as zlib takes them: 31 gzip, -15 raw deflate (zip), 47 inflate with gzip or zlib.
  init(_ direction: Direction, windowBits: Int32, level: Int32 = Z_DEFAULT_COMPRESSION) throws(SnapshotError) {
    self.direction = direction
    stream = .allocate(capacity: 1)
    stream.initialize(to: z_stream())
    let size = Int32(MemoryLayout<z_stream>.size)
    let r =
      switch direction {
      case .deflate: deflateInit2_(stream, level, Z_DEFLATED, windowBits, 8, Z_DEFAULT_STRATEGY, zlibVersion(), size)
      case .inflate: inflateInit2_(stream, windowBits, zlibVersion(), size)
      }
    guard r == Z_OK else {
      stream.deallocate()
      scratch.deallocate()
      throw SnapshotError(.internal, "zlib could not start (\(r))")
    }
  }

  deinit {
    switch direction {
    case .deflate: deflateEnd(stream)
    case .inflate: inflateEnd(stream)
    }
    stream.deallocate()
    scratch.deallocate()
  }

  /// Feeds `input` (zlib takes at most 4 GiB per call); `body` runs zlib once per output chunk
  /// and returns its result code, which decides whether to go on.
  func run(
    _ input: UnsafeRawBufferPointer, into output: inout [UInt8], _ step: (UnsafeMutablePointer<z_stream>) throws(SnapshotError) -> Bool
  ) throws(SnapshotError) {
    var offset = 0
    repeat {
      let n = min(input.count - offset, 1 << 30)
      stream.pointee.next_in = n == 0 ? nil : UnsafeMutablePointer(mutating: (input.baseAddress! + offset).assumingMemoryBound(to: Bytef.self))
      stream.pointee.avail_in = UInt32(n)
      offset += n
      var more = true
      while more {
        stream.pointee.next_out = scratch.baseAddress!.assumingMemoryBound(to: Bytef.self)
        stream.pointee.avail_out = UInt32(scratch.count)
        defer {
          let produced = scratch.count - Int(stream.pointee.avail_out)
          output.append(contentsOf: UnsafeRawBufferPointer(rebasing: scratch[..<produced]))
          stream.pointee.next_out = nil
        }
        more = try step(stream)
      }
    } while offset < input.count
    stream.pointee.next_in = nil
  }

  /// zlib's message for the last error, if it gave one.
  var message: String { stream.pointee.msg.map { String(cString: $0) } ?? "" }
}
