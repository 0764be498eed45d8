import AgeFormat
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

/// What `rekey` does: gives encrypted snapshots a new age header for new recipients.
package struct RekeyConfiguration: Sendable {
  /// Where names are looked up (a path is taken where it is).
  package var storage: SnapshotDirectoryConfiguration
  /// The snapshots: names that `ls` prints, or paths.
  package var names: [String]
  /// An identity that opens the current header (`--decrypt-identity-file`).
  package var decryption: DecryptionConfiguration
  /// The new recipients (`--encrypt-recipient`, …).
  package var encryption: EncryptionConfiguration
  /// `--wait-lock`.
  package var waitLock: Duration?
  /// With `--s3`: the objects of this bucket folder are rekeyed, in the store.
  package var s3: S3Configuration?

  package init(
    storage: SnapshotDirectoryConfiguration, names: [String], decryption: DecryptionConfiguration, encryption: EncryptionConfiguration,
    waitLock: Duration? = nil
  ) {
    self.storage = storage
    self.names = names
    self.decryption = decryption
    self.encryption = encryption
    self.waitLock = waitLock
  }

  /// Every problem, in words.
  package func problems() -> [String] {
    var problems = (s3 == nil ? storage.problems() : []) + encryption.problems() + (s3?.problems() ?? [])
    if names.isEmpty { problems.append("rekey needs the names (or paths) of the snapshots to rekey: see `etcd-snapshot ls`") }
    if !encryption.isEnabled {
      problems.append("rekey needs the new recipients: --encrypt-recipient age1…, --encrypt-recipients-file FILE or --encrypt-passphrase-file FILE")
    }
    if decryption.isEmpty {
      problems.append("rekey needs an identity that opens the snapshots now: --decrypt-identity-file FILE (or --decrypt-passphrase-file FILE)")
    }
    return problems
  }
}

/// One snapshot rekeyed.
package struct RekeyedSnapshot: Sendable {
  /// The file.
  package var path: String
  /// Whom it is encrypted to now (public keys, or `passphrase`).
  package var recipients: [String]
}

/// `rekey`: replaces the age header of encrypted snapshots, so that they open with the new
/// recipients' identities and no longer with the old ones. The file key, and so the payload,
/// is unchanged: only the header is made anew (the payload is copied, not decrypted).
///
/// Each file is rewritten as `NAME.part` (0600), fsynced, then its metadata record (new
/// recipients, stored size and SHA-256) is written and the `.part` renamed over the file: a
/// failure before the rename leaves the old file and record as they were. The old file's
/// SHA-256 is checked against its record while it is copied.
package struct RekeySnapshots: Sendable {
  package var configuration: RekeyConfiguration
  package var logger: Logger

  package init(_ configuration: RekeyConfiguration, logger: Logger) {
    self.configuration = configuration
    self.logger = logger
  }

  /// Rekeys every snapshot named, in order; `each` is told of each one done. The first
  /// failure stops the command (the ones before it stay rekeyed).
  package func run(each: (RekeyedSnapshot) -> Void) async throws(SnapshotError) {
    let problems = configuration.problems()
    guard problems.isEmpty else { throw SnapshotError(.invalidConfiguration, problems.joined(separator: "\n")) }
    let identities = try configuration.decryption.loadIdentities()
    let recipients = try configuration.encryption.loadRecipients()
    let described = configuration.encryption.describedRecipients(recipients)
    if let s3 = configuration.s3 {
      let logger = self.logger
      let names = configuration.names
      var done: [RekeyedSnapshot] = []
      do {
        try await S3Client.with(s3, logger: logger) { client in
          for name in names {
            let rekeyed = try await RekeyS3.rekey(
              name: name, client: client, identities: identities, recipients: recipients, described: described, logger: logger)
            done.append(rekeyed)
          }
        }
      } catch {
        for d in done { each(d) }
        throw SnapshotError.wrapping(error)
      }
      for d in done { each(d) }
      return
    }
    // Every name resolves before anything changes.
    let targets = try configuration.names.map { (name) throws(SnapshotError) in try SnapshotReference.resolve(name, in: configuration.storage) }
    for (path, metadata) in targets {
      let directory = SystemFile.parentDirectory(of: path)
      let lock = try await DirectoryLock.acquire(directory: directory, purpose: "snapshot rekey", wait: configuration.waitLock, optional: true)
      defer { withExtendedLifetime(lock) {} }
      try await BlockingWork.run { isStopped throws(SnapshotError) in
        try Self.rekey(path, record: metadata, identities: identities, recipients: recipients, described: described, isStopped: isStopped)
      }
      each(RekeyedSnapshot(path: path, recipients: described))
    }
  }

  /// The new header for the file that starts with `prefix` (named `address`), and the length
  /// of its old one; throws, naming the recipients, when it is not age or the identities do
  /// not open it.
  static func newHeader(
    for prefix: [UInt8], address: String, record: SnapshotMetadata?, identities: [AgeIdentity], recipients: [AgeRecipient]
  ) throws(SnapshotError) -> (header: [UInt8], oldLength: Int) {
    guard StoredFormat(sniffing: prefix) == .age else {
      throw SnapshotError(
        .invalidConfiguration,
        "\(address) is not age-encrypted: rekey changes the recipients of an encrypted snapshot (save one with --encrypt-recipient)")
    }
    do throws(AgeError) {
      let (header, oldLength) = try Age.rekey(filePrefix: prefix, identities: identities, recipients: recipients)
      return (header, oldLength)
    } catch {
      let mapped = SnapshotError.age(error, "reading its header")
      let made = record?.recipients.map { " (it is encrypted to \($0.joined(separator: ", ")))" } ?? ""
      if mapped.code == .invalidConfiguration {
        throw SnapshotError(
          .invalidConfiguration,
          "\(address) cannot be opened with the identities given\(made): \(mapped.message); give the identity file of one of its current recipients (--decrypt-identity-file)"
        )
      }
      throw SnapshotError(mapped.code, "\(address): \(mapped.message); it was not rekeyed")
    }
  }

  static func rekey(
    _ path: String, record: SnapshotMetadata?, identities: [AgeIdentity], recipients: [AgeRecipient], described: [String],
    isStopped: @Sendable () -> Bool
  ) throws(SnapshotError) {
    let head: [UInt8]
    do { head = try SystemFile.readHead(path, count: AgeDecryptor.defaultMaxHeaderSize + 64) } catch {
      throw SnapshotError.posix(error, what: "the snapshot")
    }
    let (newHeader, oldLength) = try newHeader(for: head, address: path, record: record, identities: identities, recipients: recipients)
    let store = LocalSnapshotStore(directory: SystemFile.parentDirectory(of: path))
    var part = try AtomicFile(path: path, what: "the rekeyed snapshot", replacing: true)
    let input: Int32
    do { input = try SystemFile.openForReading(path) } catch { throw SnapshotError.posix(error, what: "the snapshot") }
    defer { _ = close(input) }
    var oldHash = SHA256()
    var newHash = SHA256()
    var oldSize: Int64 = 0
    var newSize = Int64(newHeader.count)
    newHash.update(data: newHeader)
    try part.write(newHeader)
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
    defer { buffer.deallocate() }
    while true {
      if isStopped() {
        part.abort()
        throw SnapshotError(.cancelled, "stopped while rekeying \(path); it is unchanged")
      }
      let n: Int
      do { n = try SystemFile.read(input, into: buffer, path: path) } catch { throw SnapshotError.posix(error, what: "the snapshot") }
      if n == 0 { break }
      let read = UnsafeRawBufferPointer(rebasing: buffer[0..<n])
      oldHash.update(bufferPointer: read)
      // The bytes after the old header: the payload nonce and chunks, kept as they are.
      let skip = Int(max(0, min(Int64(n), Int64(oldLength) - oldSize)))
      oldSize += Int64(n)
      if skip < n {
        let payload = UnsafeRawBufferPointer(rebasing: read[skip...])
        newHash.update(bufferPointer: payload)
        newSize += Int64(payload.count)
        try part.write(payload)
      }
    }
    let oldDigest = hex(oldHash.finalize())
    if let record, let expected = record.storedSHA256 {
      guard expected == oldDigest && record.stored.size == oldSize else {
        throw SnapshotError(
          .corrupt,
          "\(path) is \(oldSize) bytes with SHA-256 \(oldDigest), but its metadata record says \(record.stored.size) bytes with SHA-256 \(expected): it changed after it was saved; it was not rekeyed (verify it)"
        )
      }
    }
    try part.sync()
    guard let record else { return try part.publish() }
    var updated = record
    updated.encryption = "age"
    updated.recipients = described
    updated.storedSize = newSize
    updated.storedSHA256 = hex(newHash.finalize())
    try store.writeMetadata(updated, replacing: true)
    do { try part.publish() } catch {
      // The old file stays: so does its old record.
      try? store.writeMetadata(record, replacing: true)
      throw error
    }
  }
}
