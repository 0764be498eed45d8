import NIOCore
import S3Protocol
import SnapshotCore
import SystemFiles

#if canImport(Glibc)
  import Glibc
#endif

/// A byte range of an open file as an async sequence of 1 MiB buffers, for streaming a
/// multipart part from the snapshot file without holding the whole part in memory.
///
/// Each iteration reads the range again from the start (`pread`, so the file offset is not
/// shared state): a retried request sends the same bytes.
struct FileRangeChunks: AsyncSequence, Sendable {
  typealias Element = ByteBuffer

  let fd: Int32
  let offset: Int64
  let length: Int64
  static let chunkSize = 1 << 20

  struct AsyncIterator: AsyncIteratorProtocol {
    let fd: Int32
    var position: Int64
    let end: Int64

    mutating func next() async throws -> ByteBuffer? {
      guard position < end else { return nil }
      let want = Int(Swift.min(Int64(FileRangeChunks.chunkSize), end - position))
      var buffer = ByteBufferAllocator().buffer(capacity: want)
      let n = try buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: want) { ptr in
        try FileRangeChunks.readFully(fd: fd, into: UnsafeMutableRawBufferPointer(rebasing: ptr[0..<want]), at: position)
      }
      position += Int64(n)
      return buffer
    }
  }

  func makeAsyncIterator() -> AsyncIterator {
    AsyncIterator(fd: fd, position: offset, end: offset + length)
  }

  /// Calls `body` with each chunk of the range, reusing one buffer.
  static func forEach(fd: Int32, offset: Int64, length: Int64, _ body: (UnsafeRawBufferPointer) -> Void) throws {
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkSize, alignment: 16)
    defer { buffer.deallocate() }
    var position = offset
    let end = offset + length
    while position < end {
      let want = Int(Swift.min(Int64(chunkSize), end - position))
      let n = try readFully(fd: fd, into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<want]), at: position)
      body(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
      position += Int64(n)
    }
  }

  /// Fills `buffer` from `at`; a short file is an error (the part was handed out because
  /// those bytes were on disk).
  static func readFully(fd: Int32, into buffer: UnsafeMutableRawBufferPointer, at: Int64) throws -> Int {
    let n: Int
    do {
      n = try SystemFile.read(fd, into: buffer, at: at, path: "the snapshot file")
    } catch {
      throw SnapshotError(.io, "cannot read the snapshot file back for the upload: \(error.reason)")
    }
    if n < buffer.count {
      throw SnapshotError(.io, "the snapshot file ended early while a part was read back for the upload")
    }
    return n
  }

}
