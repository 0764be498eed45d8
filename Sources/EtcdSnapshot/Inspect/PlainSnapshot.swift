import AgeFormat
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
  /// How a stored file was made from the plain snapshot.
  package struct Layout: Sendable, Equatable {
    /// The compression inside (`.plain`: none).
    package var compression: SnapshotCompression = .plain
    /// Whether it is age-encrypted.
    package var encrypted = false

    /// Whether the stored file is the plain snapshot itself.
    package var isPlain: Bool { compression == .plain && !encrypted }

    /// `zstd`, `age`, `zstd + age`.
    package var description: String {
      [compression == .plain ? nil : compression.rawValue, encrypted ? "age" : nil].compactMap { $0 }.joined(separator: " + ")
    }
  }

  /// Runs `body` with the plain file of the snapshot stored at `path` (`address` names it in
  /// messages: its path, or its `s3://` address) and how it was stored. With `record`, a
  /// compressed or encrypted file's size and SHA-256 are checked against the stored ones it
  /// names while it is expanded (the plain file's are for the reader to check). An encrypted
  /// file is decrypted with `decryption`'s identities, in the same pass.
  package static func with<T: Sendable>(
    _ path: String, address: String, record: SnapshotMetadata? = nil, decryption: DecryptionConfiguration = DecryptionConfiguration(),
    _ body: (_ plainPath: String, _ layout: Layout) async throws -> T
  ) async throws(SnapshotError) -> T {
    let head: [UInt8]
    do { head = try SystemFile.readHead(path, count: StoredFormat.sniffLength) } catch {
      throw SnapshotError.posix(error, what: "the snapshot")
    }
    let format = StoredFormat(sniffing: head)
    var identities: [AgeIdentity]?
    if format == .age {
      let loaded = try decryption.loadIdentities()
      guard !loaded.isEmpty else {
        throw SnapshotError(
          .invalidConfiguration,
          "\(address) is encrypted (age)\(recipientsText(record)): give the identity file of one of its recipients with --decrypt-identity-file FILE (env ETCD_SNAPSHOT_DECRYPT_IDENTITY_FILE), or --decrypt-passphrase-file FILE for a passphrase"
        )
      }
      identities = loaded
    }
    let compression = format.compression
    guard identities != nil || (compression != nil && compression != .plain) else {
      // A bbolt file, or something the readers will name the problem of.
      do { return try await body(path, Layout()) } catch { throw SnapshotError.wrapping(error) }
    }
    let folder = try privateFolder(near: path)
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let plain = folder + "/" + plainName(of: path)
    let expected = record.flatMap { $0.storedSHA256 == nil ? nil : $0.stored }
    let decryptWith = identities
    let layout = try await BlockingWork.run { isStopped throws(SnapshotError) in
      let expanded = try expand(
        path, to: plain, identities: decryptWith, compression: compression, address: address, record: record, isStopped: isStopped)
      if let expected, expected.size != expanded.size || expected.sha256 != expanded.sha256 {
        throw SnapshotError(
          .corrupt,
          "\(address) is \(expanded.size) bytes with SHA-256 \(expanded.sha256), but its metadata record says \(expected.size) bytes with SHA-256 \(expected.sha256): it changed after it was saved; nothing was read from it"
        )
      }
      return expanded.layout
    }
    do { return try await body(plain, layout) } catch {
      // Messages name the snapshot the user gave, not the expanded copy.
      var e = SnapshotError.wrapping(error)
      e.message = e.message.replacingOccurrences(of: plain, with: "\(address) (expanded)")
      throw e
    }
  }

  /// " to age1…, age1…" from a record, or nothing.
  private static func recipientsText(_ record: SnapshotMetadata?) -> String {
    guard let recipients = record?.recipients, !recipients.isEmpty else { return "" }
    return " to " + recipients.joined(separator: ", ")
  }

  /// The file name without the suffixes of how it is stored (`x.zst.age` -> `x`).
  static func plainName(of path: String) -> String {
    String(SnapshotName.strippingStoredSuffixes(Substring(SystemFile.baseName(path))))
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

  /// Expands the stored file at `path` into a new file `plain`: decrypts it with
  /// `identities` when given, then expands what is inside by its first bytes, or by
  /// `compression` when it is not encrypted; returns the size and SHA-256 of what was read
  /// and how it was stored. `plain` is complete only when this returns: an age file cut at a
  /// chunk boundary is found only at the end.
  @discardableResult
  static func expand(
    _ path: String, to plain: String, identities: [AgeIdentity]? = nil, compression: SnapshotCompression?, address: String,
    record: SnapshotMetadata? = nil, isStopped: @Sendable () -> Bool
  ) throws(SnapshotError) -> (size: Int64, sha256: String, layout: Layout) {
    var layout = Layout(compression: identities == nil ? compression ?? .plain : .plain, encrypted: identities != nil)
    let decryptor = identities.map { AgeDecryptStage(identities: $0) }
    var stage: (any ByteStage)? = decryptor == nil ? try layout.compression.decompressor() : nil
    // What the decryptor released before the inner format was known.
    var pending: [UInt8]? = decryptor == nil ? nil : []
    var hash = SHA256()
    var size: Int64 = 0
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
    var decrypted: [UInt8] = []
    func flush() throws(SnapshotError) {
      guard !out.isEmpty else { return }
      do { try SystemFile.writeAll(output, out, path: plain) } catch { throw SnapshotError.posix(error, what: "the expanded snapshot") }
      out.removeAll(keepingCapacity: true)
    }
    // In small slices, so that what one slice expands to stays bounded however well the
    // data compressed: zstd's RLE blocks reach 32,768:1 (256 B -> 8 MiB at most), Deflate
    // 1,032:1 (16 KiB -> 16 MiB at most). Written out once a MiB has gathered.
    func expandPlain(_ bytes: UnsafeRawBufferPointer) throws(SnapshotError) {
      guard let stage else {
        out.append(contentsOf: bytes)
        if out.count >= 1 << 20 { try flush() }
        return
      }
      let slice = layout.compression == .zstd ? 256 : 16 << 10
      var offset = 0
      while offset < bytes.count {
        let end = min(bytes.count, offset + slice)
        try stage.update(UnsafeRawBufferPointer(rebasing: bytes[offset..<end]), into: &out)
        offset = end
        if out.count >= 1 << 20 { try flush() }
      }
    }
    // Decrypted bytes: held until the inner format can be told, then expanded.
    func decryptedBytes(_ bytes: [UInt8], last: Bool) throws(SnapshotError) {
      if var held = pending {
        held += bytes
        guard held.count >= StoredFormat.sniffLength || last else {
          pending = held
          return
        }
        pending = nil
        let inner = StoredFormat(sniffing: held)
        if let c = inner.compression, c != .plain {
          layout.compression = c
          stage = try c.decompressor()
        }
        try expandPlain(array: held)
      } else {
        try expandPlain(array: bytes)
      }
    }
    func expandPlain(array: [UInt8]) throws(SnapshotError) {
      var failure: SnapshotError?
      array.withUnsafeBytes { raw in
        do throws(SnapshotError) { try expandPlain(raw) } catch { failure = error }
      }
      if let failure { throw failure }
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
        let read = UnsafeRawBufferPointer(rebasing: buffer[0..<n])
        hash.update(bufferPointer: read)
        size += Int64(n)
        if let decryptor {
          decrypted.removeAll(keepingCapacity: true)
          try decryptor.update(read, into: &decrypted)
          try decryptedBytes(decrypted, last: false)
        } else {
          try expandPlain(read)
        }
      }
      if let decryptor {
        decrypted.removeAll(keepingCapacity: true)
        try decryptor.finish(into: &decrypted)
        try decryptedBytes(decrypted, last: true)
      }
      try stage?.finish(into: &out)
      try flush()
      return (size, hex(hash.finalize()), layout)
    } catch {
      var described = error
      switch error.code {
      case .corrupt:
        described.message = "\(address) (\(layout.description)): \(error.message); nothing was read from it"
      case .invalidConfiguration where decryptor != nil:
        described.message =
          "\(address) cannot be decrypted with the identities given\(recipientsText(record)): \(error.message); give the identity file of one of its recipients (--decrypt-identity-file), or the right passphrase"
      default: break
      }
      throw described
    }
  }
}
