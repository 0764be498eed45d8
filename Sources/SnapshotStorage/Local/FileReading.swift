import SnapshotCore
import SystemFiles

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// True when `path` is a regular file (symlinks followed).
package func fileExists(_ path: String) -> Bool {
  var st = stat()
  return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG
}

/// Reads a file from start to end in fixed-size chunks: memory stays at one buffer whatever
/// the file's size.
package enum ChunkedFileReader {
  /// Calls `body` with each chunk of the file in order.
  package static func forEachChunk(
    of path: String, chunkSize: Int = 1 << 20, _ body: (UnsafeRawBufferPointer) throws(SnapshotError) -> Void
  ) throws(SnapshotError) {
    let fd: Int32
    do { fd = try SystemFile.openForReading(path) } catch { throw SnapshotError.posix(error, what: "the snapshot") }
    defer { close(fd) }
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkSize, alignment: 4096)
    defer { buffer.deallocate() }
    while true {
      let n: Int
      do { n = try SystemFile.read(fd, into: buffer, path: path) } catch { throw SnapshotError.posix(error, what: "the snapshot") }
      if n == 0 { return }
      try body(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
    }
  }
}
