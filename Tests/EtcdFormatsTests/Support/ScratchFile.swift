import EtcdTestSupport
import Foundation

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// A temporary copy of some bytes that tests damage in place (one byte or a length at a time)
/// and restore, so thousands of variants cost no more than a few syscalls each.
final class ScratchFile {
  private let directory: TemporaryDirectory
  let path: String
  let original: [UInt8]
  private let fd: Int32

  init(_ bytes: [UInt8], name: String = "scratch.db") throws {
    directory = try TemporaryDirectory(prefix: "bolt-scratch")
    path = directory.appending(name)
    original = bytes
    try Data(bytes).write(to: URL(fileURLWithPath: path))
    fd = open(path, O_RDWR | O_CLOEXEC)
    guard fd >= 0 else { throw FixtureError(description: "cannot open \(path)") }
  }

  deinit {
    close(fd)
  }

  /// Runs `body` with bit `bit` of byte `offset` flipped, then restores the byte.
  func withFlippedBit<R>(at offset: Int, bit: Int, _ body: () throws -> R) rethrows -> R {
    write(original[offset] ^ (1 << UInt8(bit)), at: offset)
    defer { write(original[offset], at: offset) }
    return try body()
  }

  /// Runs `body` with the file cut to `length` bytes, then restores it.
  func withLength<R>(_ length: Int, _ body: () throws -> R) rethrows -> R {
    _ = ftruncate(fd, off_t(length))
    defer {
      _ = ftruncate(fd, off_t(original.count))
      original.withUnsafeBytes { raw in
        guard let base = raw.baseAddress, length < original.count else { return }
        _ = pwrite(fd, base + length, original.count - length, off_t(length))
      }
    }
    return try body()
  }

  /// Overwrites bytes permanently (for setting up a broken file).
  func overwrite(_ bytes: [UInt8], at offset: Int) {
    for (i, byte) in bytes.enumerated() { write(byte, at: offset + i) }
  }

  private func write(_ byte: UInt8, at offset: Int) {
    var value = byte
    _ = pwrite(fd, &value, 1, off_t(offset))
  }
}
