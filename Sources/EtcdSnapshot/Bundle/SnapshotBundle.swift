import Crypto
import Foundation
import Logging
import SnapshotCore
import SnapshotPipeline
import SnapshotStorage
import SystemFiles

#if canImport(Glibc)
  import Glibc
#endif

/// The restore bundle a snapshot's record names, read for `restore --bundle-to` and
/// `cluster-reset --bundle-to`: from the path it was written to, else from its copy in the
/// bucket; its stored and content SHA-256 checked, decrypted and expanded into a private
/// folder, every member checked, before the caller changes anything.
package enum SnapshotBundleReader {
  /// Runs `body` with the checked plain tar file of the bundle `record` names (and what it
  /// holds), removed afterwards however `body` ends.
  package static func with<T: Sendable>(
    _ record: SnapshotMetadata?, snapshot: String, storage: SnapshotDirectoryConfiguration, s3: S3Configuration?,
    decryption: DecryptionConfiguration, logger: Logger,
    _ body: (_ plainTar: String, _ entries: [TarEntry], _ address: String) async throws -> T
  ) async throws(SnapshotError) -> T {
    guard let record else {
      throw SnapshotError(
        .notFound,
        "\(snapshot) has no metadata record, so no bundle is known for it: --bundle-to needs a snapshot saved with --bundle (drop --bundle-to to restore etcd alone)"
      )
    }
    guard let bundle = record.bundle else {
      throw SnapshotError(
        .notFound,
        "\(snapshot) was saved without a bundle (its record names none): drop --bundle-to, or restore a snapshot saved with --bundle")
    }
    if fileExists(bundle.path) {
      return try await opened(bundle.path, address: bundle.path, bundle: bundle, decryption: decryption, body)
    }
    guard let address = bundle.uploadedTo else {
      throw SnapshotError(
        .notFound,
        "the bundle of \(snapshot), \(bundle.path), is not there and was not uploaded: copy it back to that path (or give the snapshot by its path beside it)"
      )
    }
    guard let s3 else {
      throw SnapshotError(
        .notFound, "the bundle of \(snapshot) is not at \(bundle.path); it was uploaded to \(address): add --s3 and the bucket's flags")
    }
    let prefix = "s3://\(s3.bucket)/"
    guard address.hasPrefix(prefix) else {
      throw SnapshotError(
        .invalidConfiguration, "the bundle of \(snapshot) is in \(address), not in the bucket \(s3.bucket): give --s3-bucket of that bucket")
    }
    let key = String(address.dropFirst(prefix.count))
    let store = LocalSnapshotStore(directory: storage.snapshotDirectory)
    try store.prepare()
    let folder = storage.snapshotDirectory + "/" + LocalSnapshotStore.downloadFolderName()
    guard mkdir(folder, 0o700) == 0 else {
      let code = errno
      throw SnapshotError.posix(code, call: "mkdir", path: folder, what: "the download folder")
    }
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let path = folder + "/" + bundle.name
    do {
      try await S3Client.with(s3, logger: logger) { client in
        var file = try AtomicFile(path: path, what: "the downloaded bundle")
        do {
          _ = try await client.download(
            key: key, restart: { () throws(SnapshotError) in try file.truncate() },
            sink: { buffer in try buffer.withUnsafeReadableBytes { raw in try file.write(raw) } })
          try file.publish()
        } catch {
          file.abort()
          throw error
        }
      }
    } catch {
      throw SnapshotError.wrapping(error)
    }
    return try await opened(path, address: address, bundle: bundle, decryption: decryption, body)
  }

  private static func opened<T: Sendable>(
    _ path: String, address: String, bundle: BundleRecord, decryption: DecryptionConfiguration,
    _ body: (_ plainTar: String, _ entries: [TarEntry], _ address: String) async throws -> T
  ) async throws(SnapshotError) -> T {
    let stored = try digest(path)
    guard stored.size == bundle.size, stored.sha256 == bundle.sha256 else {
      throw SnapshotError(
        .corrupt,
        "the bundle \(address) is \(stored.size) bytes with SHA-256 \(stored.sha256), but the snapshot's record says \(bundle.size) bytes with SHA-256 \(bundle.sha256): it was changed or damaged; nothing was restored"
      )
    }
    do throws(SnapshotError) {
      return try await expanded(path, address: address, bundle: bundle, decryption: decryption, body)
    } catch {
      // Name whom the bundle was made for: it may have recipients of its own.
      guard error.code == .invalidConfiguration, let recipients = bundle.recipients, !recipients.isEmpty else { throw error }
      var e = error
      e.message += " (the bundle is encrypted to \(recipients.joined(separator: ", ")); give that identity with another --decrypt-identity-file)"
      throw e
    }
  }

  private static func expanded<T: Sendable>(
    _ path: String, address: String, bundle: BundleRecord, decryption: DecryptionConfiguration,
    _ body: (_ plainTar: String, _ entries: [TarEntry], _ address: String) async throws -> T
  ) async throws(SnapshotError) -> T {
    try await PlainSnapshot.with(path, address: address, decryption: decryption) { plain, _ in
      let content = try digest(plain)
      guard content.size == bundle.contentSize, content.sha256 == bundle.contentSHA256 else {
        throw SnapshotError(
          .corrupt,
          "the bundle \(address) holds \(content.size) bytes with SHA-256 \(content.sha256), but its record says \(bundle.contentSize) bytes with SHA-256 \(bundle.contentSHA256); nothing was restored"
        )
      }
      let entries = try BundleExtractor.check(plain, address: address)
      return try await body(plain, entries, address)
    }
  }

  /// Size and SHA-256 of a file.
  static func digest(_ path: String) throws(SnapshotError) -> (size: Int64, sha256: String) {
    let fd: Int32
    do { fd = try SystemFile.openForReading(path) } catch { throw SnapshotError.posix(error, what: "the bundle") }
    defer { _ = close(fd) }
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
    defer { buffer.deallocate() }
    var hash = SHA256()
    var size: Int64 = 0
    while true {
      let n: Int
      do { n = try SystemFile.read(fd, into: buffer, path: path) } catch { throw SnapshotError.posix(error, what: "the bundle") }
      if n == 0 { break }
      hash.update(bufferPointer: UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
      size += Int64(n)
    }
    return (size, hex(hash.finalize()))
  }

  private static func fileExists(_ path: String) -> Bool {
    var st = stat()
    return lstat(path, &st) == 0 && st.st_mode & S_IFMT == S_IFREG
  }
}
