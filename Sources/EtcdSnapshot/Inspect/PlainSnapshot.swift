import Crypto
import Foundation
import SnapshotCore
import SnapshotPipeline
import SnapshotStorage
import SystemFiles

#if canImport(Glibc)
  import Glibc
#endif

/// The plain bbolt file a reader (status, verify, restore, cluster-reset) needs, with random
/// access, for a stored snapshot in any format we read.
///
/// The format is told by the file's first bytes, never by its name: a k3s `.zip`, a `.zst`
/// or `.gz` made by the tools, or one renamed by hand. A compressed snapshot is expanded into
/// a private folder (0700, `.download-PID-N`) beside it, or under `$TMPDIR` when that
/// directory cannot be written, and removed when the reader is done, however it ends. A
/// folder left by a killed run is debris that the next save or download in that directory
/// removes.
package enum PlainSnapshot {
  /// Runs `body` with the plain file of the snapshot stored at `path` (`address` names it in
  /// messages: its path, or its `s3://` address) and the format it was stored in. With
  /// `record`, a compressed file's size and SHA-256 are checked against the stored ones it
  /// names while it is expanded (the plain file's are for the reader to check).
  package static func with<T: Sendable>(
    _ path: String, address: String, record: SnapshotMetadata? = nil,
    _ body: (_ plainPath: String, _ format: StoredFormat) async throws -> T
  ) async throws(SnapshotError) -> T {
    let head: [UInt8]
    do { head = try SystemFile.readHead(path, count: StoredFormat.sniffLength) } catch {
      throw SnapshotError.posix(error, what: "the snapshot")
    }
    let format = StoredFormat(sniffing: head)
    guard let compression = format.compression, compression != .plain else {
      if format == .age {
        throw SnapshotError(
          .invalidConfiguration,
          "\(address) is encrypted (age-encryption.org/v1) and this version cannot decrypt it yet: decrypt it with `age -d -i IDENTITY_FILE -o FILE \(address)` and give FILE"
        )
      }
      // A bbolt file, or something the readers will name the problem of.
      do { return try await body(path, format) } catch { throw SnapshotError.wrapping(error) }
    }
    let folder = try privateFolder(near: path)
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let plain = folder + "/" + plainName(of: path)
    let expected = record.flatMap { $0.storedSHA256 == nil ? nil : $0.stored }
    try await BlockingWork.run { isStopped throws(SnapshotError) in
      let stored = try expand(path, to: plain, compression: compression, address: address, isStopped: isStopped)
      if let expected, expected.size != stored.size || expected.sha256 != stored.sha256 {
        throw SnapshotError(
          .corrupt,
          "\(address) is \(stored.size) bytes with SHA-256 \(stored.sha256), but its metadata record says \(expected.size) bytes with SHA-256 \(expected.sha256): it changed after it was saved; nothing was read from it"
        )
      }
    }
    do { return try await body(plain, format) } catch {
      // Messages name the snapshot the user gave, not the expanded copy.
      var e = SnapshotError.wrapping(error)
      e.message = e.message.replacingOccurrences(of: plain, with: "\(address) (expanded)")
      throw e
    }
  }

  /// The file name without the suffix of its compression (`x.zip` -> `x`).
  static func plainName(of path: String) -> String {
    var name = SystemFile.baseName(path)
    for suffix in SnapshotName.compressedSuffixes where name.hasSuffix(suffix) && name.count > suffix.count {
      name.removeLast(suffix.count)
      break
    }
    return name
  }

  /// A new 0700 folder beside `path`, else under `$TMPDIR` (or /tmp).
  private static func privateFolder(near path: String) throws(SnapshotError) -> String {
    let name = LocalSnapshotStore.downloadFolderName()
    let beside = SystemFile.parentDirectory(of: path) + "/" + name
    if mkdir(beside, 0o700) == 0 { return beside }
    let temporary = (ProcessInfo.processInfo.environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp") + "/" + name
    guard mkdir(temporary, 0o700) == 0 else {
      let code = errno
      throw SnapshotError.posix(code, call: "mkdir", path: temporary, what: "a folder for the expanded snapshot")
    }
    return temporary
  }

  /// Expands the compressed file at `path` into a new file `plain`; returns the size and
  /// SHA-256 of what was read.
  @discardableResult
  static func expand(
    _ path: String, to plain: String, compression: SnapshotCompression, address: String, isStopped: @Sendable () -> Bool
  ) throws(SnapshotError) -> (size: Int64, sha256: String) {
    guard let stage = try compression.decompressor() else { return (0, "") }
    var hash = SHA256()
    var size: Int64 = 0
    let slice = compression == .zstd ? 256 : 16 << 10
    let input: Int32
    let output: Int32
    do {
      input = try SystemFile.openForReading(path)
    } catch {
      throw SnapshotError.posix(error, what: "the snapshot")
    }
    defer { _ = close(input) }
    do {
      output = try SystemFile.create(plain)
    } catch {
      throw SnapshotError.posix(error, what: "the expanded snapshot")
    }
    defer { _ = close(output) }
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
    defer { buffer.deallocate() }
    var out: [UInt8] = []
    out.reserveCapacity(4 << 20)
    func flush() throws(SnapshotError) {
      guard !out.isEmpty else { return }
      do { try SystemFile.writeAll(output, out, path: plain) } catch { throw SnapshotError.posix(error, what: "the expanded snapshot") }
      out.removeAll(keepingCapacity: true)
    }
    do throws(SnapshotError) {
      while true {
        if isStopped() { throw SnapshotError(.cancelled, "stopped while expanding \(address)") }
        let n: Int
        do {
          n = try SystemFile.read(input, into: buffer, path: path)
        } catch {
          throw SnapshotError.posix(error, what: "the snapshot")
        }
        if n == 0 { break }
        hash.update(bufferPointer: UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
        size += Int64(n)
        // In small slices, so that what one slice expands to stays bounded however well the
        // data compressed: zstd's RLE blocks reach 32,768:1 (256 B -> 8 MiB at most), Deflate
        // 1,032:1 (16 KiB -> 16 MiB at most). Written out once a MiB has gathered.
        var offset = 0
        while offset < n {
          let end = min(n, offset + slice)
          try stage.update(UnsafeRawBufferPointer(rebasing: buffer[offset..<end]), into: &out)
          offset = end
          if out.count >= 1 << 20 { try flush() }
        }
      }
      try stage.finish(into: &out)
      try flush()
      return (size, hex(hash.finalize()))
    } catch {
      guard error.code == .corrupt else { throw error }
      var described = error
      described.message = "\(address) (\(compression.rawValue)): \(error.message); nothing was read from it"
      throw described
    }
  }
}
