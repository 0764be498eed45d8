import AgeFormat
import Crypto
import EtcdClient
import EtcdFormats
import Foundation
import Logging
import SnapshotCore
import SnapshotPipeline
import SnapshotStorage

/// How far a running save has got.
package struct SaveProgress: Sendable {
  /// Bytes received so far.
  package var bytes: Int64
  /// Bytes expected in all (from the stream's first message), when known.
  package var total: Int64?
  /// Time since the stream started.
  package var elapsed: Duration
}

/// What a finished save produced.
package struct SaveResult: Sendable {
  /// Full path of the snapshot file.
  package var path: String
  /// Its metadata record (also written beside it).
  package var metadata: SnapshotMetadata
  /// The member it came from.
  package var member: MemberStatus
  /// EtcdEndpoint URL used.
  package var endpoint: String
  /// Time spent streaming and writing.
  package var duration: Duration
  /// The S3 copy, with `--s3`.
  package var upload: S3UploadResult?
}

/// A finished local save and, with S3, why the upload failed (nil: uploaded, or no S3).
package struct SaveOutcome: Sendable {
  package var result: SaveResult
  package var uploadError: SnapshotError?

  package init(result: SaveResult, uploadError: SnapshotError? = nil) {
    self.result = result
    self.uploadError = uploadError
  }
}

/// `save`: stream a live member's snapshot into a verified, atomically published file.
///
/// Order of effects, so that a failure at any step leaves nothing half-done:
/// 1. the directory is created/checked before etcd is contacted;
/// 2. the stream is hashed (etcd's trailer, the snapshot's SHA-256), compressed when asked
///    (`--compress`), encrypted when asked (`--encrypt-recipient`), hashed again as stored,
///    and written to `<file>.part` (0600);
/// 3. etcd's SHA-256 trailer is checked, the file fsynced;
/// 4. the metadata record is written (atomically), then the `.part` renamed and the directory
///    fsynced. A snapshot is never listed without its record, and a failure before the rename
///    removes both.
///
/// With `configuration.s3`, an `S3SnapshotUploader` runs beside the stream (the `.part` file is
/// its buffer, so a slow store never slows etcd's stream) and completes the object only after
/// step 4. Its outcome is then recorded in the local record (`uploadedTo` or `uploadError`); a
/// failed upload fails the save, with the verified local snapshot kept.
package struct SaveSnapshot: Sendable {
  /// What to save and where.
  package var configuration: SaveConfiguration
  /// Log of decisions (endpoint used, endpoints skipped).
  package var logger: Logger
  /// The current time in Unix seconds; injected for tests.
  package var now: @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970) }

  /// A save with the given configuration.
  package init(configuration: SaveConfiguration, logger: Logger) {
    self.configuration = configuration
    self.logger = logger
  }

  /// Runs the save. `onProgress` is called from the streaming task at most every ~100 ms.
  /// A failed upload fails the save (the verified local snapshot is kept, and the error says so).
  package func run(
    onSkip: @escaping @Sendable (String) -> Void = { _ in },
    onMemberChosen: @escaping @Sendable (String, MemberStatus) -> Void = { _, _ in },
    onProgress: (@Sendable (SaveProgress) -> Void)? = nil
  ) async throws(SnapshotError) -> SaveResult {
    let outcome = try await runByLocation(onSkip: onSkip, onMemberChosen: onMemberChosen, onProgress: onProgress)
    if let error = outcome.uploadError { throw error }
    return outcome.result
  }

  /// Runs the save and tells the two locations apart: it throws when the local snapshot
  /// failed; a failed upload (rolled back, recorded in the local record) is `uploadError`.
  /// The agent counts each location on its own.
  package func runByLocation(
    onSkip: @escaping @Sendable (String) -> Void = { _ in },
    onMemberChosen: @escaping @Sendable (String, MemberStatus) -> Void = { _, _ in },
    onProgress: (@Sendable (SaveProgress) -> Void)? = nil
  ) async throws(SnapshotError) -> SaveOutcome {
    let problems = configuration.problems()
    guard problems.isEmpty else { throw SnapshotError.invalid(problems) }
    let store = LocalSnapshotStore(directory: configuration.storage.snapshotDirectory)
    try store.prepare()
    if let warning = store.looseModeWarning() { logger.warning("\(warning)") }
    let lock = try await DirectoryLock.acquire(directory: store.directory, purpose: "snapshot save", wait: configuration.waitLock)
    defer { withExtendedLifetime(lock) {} }
    for path in store.removeDebris(parts: true) { logger.notice("removed \(path), left by a save that was killed") }
    if configuration.bundle.isEnabled {
      let bundles = LocalSnapshotStore(directory: configuration.bundle.directory(besides: store.directory))
      for path in bundles.removeDebris(parts: true) { logger.notice("removed \(path), left by a save that was killed") }
    }
    guard let s3 = configuration.s3 else {
      let result = try await saveLocally(
        store: store, tail: nil, bundleUpload: nil, onSkip: onSkip, onMemberChosen: onMemberChosen, onProgress: onProgress)
      return SaveOutcome(result: result)
    }
    let logger = self.logger
    do {
      let leftBy = s3.keyPrefix + "\(configuration.namePrefix)-\(configuration.nodeName)-"
      return try await S3Client.with(s3, logger: logger) { client in
        await Self.abortUploads(startingWith: leftBy, client: client, logger: logger)
        let file = GrowingFile()
        let uploader = S3SnapshotUploader(client: client, logger: logger)
        let bundleUpload = BundleUpload(client: client, folder: configuration.bundle.s3Folder(besides: s3.folder))
        async let uploaded = uploader.upload(from: file)
        let local: Result<SaveResult, SnapshotError>
        do {
          local = .success(
            try await saveLocally(
              store: store, tail: file, bundleUpload: bundleUpload, onSkip: onSkip, onMemberChosen: onMemberChosen, onProgress: onProgress))
        } catch {
          let e = SnapshotError.wrapping(error)
          local = .failure(e)
          file.finished(.failed(e.message))
        }
        let upload = await uploaded
        return try Self.conclude(local: local.get(), upload: upload, store: store)
      }
    } catch let error as SnapshotError {
      throw error
    } catch {
      throw SnapshotError(.internal, "save --s3: \(error)")
    }
  }

  /// Loads the recipients of the snapshot and of its bundle, as each save will: the agent
  /// calls it when it starts, so that a bad key stops it at once instead of failing every
  /// scheduled snapshot. Bundle paths are checked at each save (a token may appear later).
  package func checkKeys() throws(SnapshotError) {
    if configuration.encryption.isEnabled { _ = try configuration.encryption.loadRecipients() }
    if configuration.bundle.isEnabled && configuration.bundleEncryption.isEnabled {
      _ = try configuration.bundleEncryption.loadRecipients()
    }
  }

  /// Removes what a killed save of this node left: `.part` files (under the directory's lock,
  /// which a running save holds) and, with S3, its open multipart uploads. The agent calls it
  /// when it starts, so that an agent killed mid-snapshot cleans up as soon as it is back.
  /// Problems are logged; nothing throws.
  package func cleanUp() async {
    let store = LocalSnapshotStore(directory: configuration.storage.snapshotDirectory)
    do {
      guard let lock = try await DirectoryLock.acquire(directory: store.directory, purpose: "cleanup", wait: .seconds(30), optional: true)
      else { return }
      defer { withExtendedLifetime(lock) {} }
      for path in store.removeDebris(parts: true) { logger.notice("removed \(path), left by a save that was killed") }
      guard let s3 = configuration.s3 else { return }
      let leftBy = s3.keyPrefix + "\(configuration.namePrefix)-\(configuration.nodeName)-"
      let logger = self.logger
      try await S3Client.with(s3, logger: logger) { client in await Self.abortUploads(startingWith: leftBy, client: client, logger: logger) }
    } catch {
      logger.warning("could not clean up after a killed save: \((error as? SnapshotError)?.message ?? "\(error)")")
    }
  }

  /// Aborts the multipart uploads of this node's snapshots with this prefix that are still
  /// open: a save of this node that was killed mid-upload left them (a running one would hold
  /// the directory lock, which this save holds). A failure to list or abort is logged, not
  /// fatal: the save goes on.
  private static func abortUploads(startingWith prefix: String, client: S3Client, logger: Logger) async {
    do {
      for upload in try await client.listMultipartUploads(prefix: prefix) {
        try await client.abortMultipartUpload(key: upload.key, uploadID: upload.uploadID)
        logger.notice("aborted the multipart upload of \(client.configuration.address(ofKey: upload.key)), left by a save that was killed")
      }
    } catch {
      logger.warning("could not look for multipart uploads left by a killed save: \(error)")
    }
  }

  /// Records how the upload went in the local metadata record.
  private static func conclude(
    local: SaveResult, upload: Result<S3UploadResult, SnapshotError>, store: LocalSnapshotStore
  ) throws(SnapshotError) -> SaveOutcome {
    var result = local
    switch upload {
    case .success(let u):
      result.upload = u
      result.metadata.uploadedTo = u.address
      try store.writeMetadata(result.metadata, replacing: true)
      return SaveOutcome(result: result)
    case .failure(let e):
      result.metadata.uploadError = e.message
      try? store.writeMetadata(result.metadata, replacing: true)
      var error = e
      error.message =
        "the snapshot was saved and verified at \(local.path), but the upload to S3 failed and was rolled back: \(e.message)"
      return SaveOutcome(result: result, uploadError: error)
    }
  }

  /// Puts a bundle into its bucket folder, and takes it back when the snapshot failed.
  struct BundleUpload: Sendable {
    var client: S3Client
    var folder: String

    func key(of name: String) -> String { folder.isEmpty ? name : folder + "/" + name }

    /// Uploads the file at `path` as `name`; returns its `s3://` address.
    func put(_ path: String, name: String) async throws(SnapshotError) -> String {
      guard let data = FileManager.default.contents(atPath: path) else {
        throw SnapshotError(.io, "cannot read the bundle \(path) back for its upload")
      }
      do {
        try await client.putObject(key: key(of: name), bytes: Array(data), contentType: "application/octet-stream")
      } catch {
        var e = SnapshotError.wrapping(error)
        e.message = "the upload of the bundle to \(client.configuration.address(ofKey: key(of: name))) failed: \(e.message); nothing was saved"
        throw e
      }
      return client.configuration.address(ofKey: key(of: name))
    }

    /// Deletes `name` (a snapshot that failed after its bundle was uploaded); problems are logged.
    func remove(_ name: String, logger: Logger) async {
      do { try await client.deleteObject(key: key(of: name)) } catch {
        logger.warning("could not delete the bundle \(client.configuration.address(ofKey: key(of: name))) of a failed save: \(error)")
      }
    }
  }

  /// Writes the bundle of the snapshot `name` (and uploads it); the caller removes it when
  /// the snapshot fails.
  private func writeBundle(
    _ plan: BundlePlan, name: SnapshotName, recipients: [AgeRecipient], described: [String], upload: BundleUpload?
  ) async throws(SnapshotError) -> BundleRecord {
    let bundles = LocalSnapshotStore(directory: configuration.bundle.directory(besides: configuration.storage.snapshotDirectory))
    let compression = configuration.bundleCompression
    let level = compression == configuration.compression ? configuration.compressionLevel : nil
    let fileName =
      name.fileName + BundleConfiguration.suffix + compression.fileSuffix + (recipients.isEmpty ? "" : EncryptionConfiguration.fileSuffix)
    var record = try await BlockingWork.run { isStopped throws(SnapshotError) in
      try bundles.prepare()
      let stages: [any ByteStage] = [
        try compression.compressor(level: level, entryName: name.fileName + BundleConfiguration.suffix),
        recipients.isEmpty ? nil : try AgeEncryptStage(recipients: recipients),
      ].compactMap { $0 }
      return try BundleWriter.write(plan, into: bundles, fileName: fileName, stages: StageChain(stages), isStopped: isStopped)
    }
    if compression != .plain { record.compression = compression }
    if !recipients.isEmpty {
      record.encryption = "age"
      record.recipients = described
    }
    if let upload {
      do { record.uploadedTo = try await upload.put(record.path, name: fileName) } catch {
        _ = unlink(record.path)
        throw error
      }
    }
    return record
  }

  private func saveLocally(
    store: LocalSnapshotStore, tail: GrowingFile?, bundleUpload: BundleUpload?,
    onSkip: @escaping @Sendable (String) -> Void,
    onMemberChosen: @escaping @Sendable (String, MemberStatus) -> Void,
    onProgress: (@Sendable (SaveProgress) -> Void)?
  ) async throws(SnapshotError) -> SaveResult {
    // Recipients are read before etcd is asked: a bad one costs no snapshot.
    let recipients = configuration.encryption.isEnabled ? try configuration.encryption.loadRecipients() : []
    let described = configuration.encryption.describedRecipients(recipients)
    // The bundle's files and recipients too: a missing token costs no snapshot.
    let bundlePlan = configuration.bundle.isEnabled ? try BundlePlan.make(configuration.bundle) : nil
    for path in bundlePlan?.missing ?? [] { logger.notice("the bundle leaves out \(path): it is not there") }
    let bundleEncryption = configuration.bundleEncryption
    let bundleRecipients = bundlePlan != nil && bundleEncryption.isEnabled ? try bundleEncryption.loadRecipients() : []
    let bundleDescribed = bundleEncryption.describedRecipients(bundleRecipients)
    if bundlePlan != nil && bundleRecipients.isEmpty {
      logger.warning("the bundle is not encrypted (no --bundle-recipient or --encrypt-recipient): it may hold the cluster's token and keys")
    }
    let connector = EtcdConnector(configuration: configuration.connection, logger: logger)
    let prefix = configuration.namePrefix
    let node = configuration.nodeName
    let now = self.now
    let skipped: @Sendable (EtcdEndpoint, String) -> Void = { endpoint, why in onSkip("skipped \(endpoint): \(why)") }
    return try await connector.withHealthyMember(onSkip: skipped) { member in
      onMemberChosen(member.url, member.status)
      let name = SnapshotName(prefix: prefix, node: node, timestamp: now())
      let fileName = configuration.fileName(of: name)
      let compression = configuration.compression
      let level = configuration.compressionLevel
      let start = ContinuousClock.now
      let objectMetadata = [
        "etcd-snapshot-node-name": node, "etcd-snapshot-cluster-id": String(member.status.clusterID, radix: 16),
        "etcd-snapshot-member-id": String(member.status.memberID, radix: 16), "etcd-snapshot-etcd-version": member.status.version,
      ]
      let bundle: BundleRecord?
      if let bundlePlan {
        bundle = try await writeBundle(bundlePlan, name: name, recipients: bundleRecipients, described: bundleDescribed, upload: bundleUpload)
      } else {
        bundle = nil
      }
      // A stream that sends nothing for this long, while we wait for it, fails.
      let idle = max(.seconds(30), configuration.connection.commandTimeout)
      let streamed: SnapshotMetadata
      do {
        streamed = try await member.snapshot(idleTimeout: idle) { chunks in
          // k3s's zip holds one entry named as the plain snapshot.
          let compressor = try compression.compressor(level: level, entryName: name.fileName)
          // Encryption comes last: compressed ciphertext would not shrink. A fresh file key each time.
          let encryptor = recipients.isEmpty ? nil : try AgeEncryptStage(recipients: recipients)
          let stages: [any ByteStage] = [compressor, encryptor].compactMap { $0 }
          return try await Self.stream(
            chunks, into: store, fileName: fileName, stages: StageChain(stages), start: start,
            onProgress: onProgress, tail: tail.map { ($0, objectMetadata) }
          ) {
            check, stored, partPath in
            // The revision inside the file, which may be newer than the pre-flight Status said.
            // A compressed or encrypted file is not read back: its record has the revision when
            // the save began.
            let revision = stages.isEmpty ? FileInspection.inspect(partPath).revision ?? member.status.revision : member.status.revision
            var metadata = SnapshotMetadata(
              name: name, fileName: fileName, size: check.byteCount, sha256: hex(check.fileSHA256), revision: revision,
              etcdVersion: member.status.version, clusterID: member.status.clusterID,
              memberID: member.status.memberID, endpoint: member.url, toolVersion: toolVersion,
              verified: true)
            if compression != .plain {
              metadata.compression = compression
            }
            if !stages.isEmpty {
              metadata.storedSize = stored.size
              metadata.storedSHA256 = stored.sha256
            }
            if encryptor != nil {
              metadata.encryption = "age"
              metadata.recipients = described
            }
            metadata.bundle = bundle
            return metadata
          }
        }
      } catch {
        if let bundle {
          _ = unlink(bundle.path)
          if bundle.uploadedTo != nil { await bundleUpload?.remove(bundle.name, logger: logger) }
        }
        throw error
      }
      return SaveResult(
        path: store.path(of: fileName), metadata: streamed, member: member.status, endpoint: member.url,
        duration: ContinuousClock.now - start)
    }
  }

  /// The pipeline: chunks -> trailer verifier (the snapshot's size and SHA-256) -> `stages`
  /// (compression) -> the stored bytes' SHA-256 -> `.part` file, which the S3 upload reads
  /// back; then record, then publish. Without stages the stored bytes are the snapshot's.
  private static func stream(
    _ chunks: SnapshotChunks, into store: LocalSnapshotStore, fileName: String, stages: StageChain, start: ContinuousClock.Instant,
    onProgress: (@Sendable (SaveProgress) -> Void)?, tail: (GrowingFile, [String: String])?,
    describe: (SnapshotTrailerCheck, (size: Int64, sha256: String), String) -> SnapshotMetadata
  ) async throws -> SnapshotMetadata {
    var file = try store.create(name: fileName)
    var verifier = SnapshotTrailerVerifier()
    var storedHash = SHA256()
    var storedBytes: Int64 = 0
    func keep(_ raw: UnsafeRawBufferPointer) throws {
      guard !raw.isEmpty else { return }
      if !stages.isEmpty { storedHash.update(bufferPointer: raw) }
      try file.write(raw)
      storedBytes += Int64(raw.count)
    }
    // The size etcd announces, trailer included; nil when unknown or impossible (it is only a hint).
    var expectedFileSize: Int64?
    var sawFirstChunk = false
    var lastReport = start
    do {
      for try await chunk in chunks {
        if !sawFirstChunk {
          sawFirstChunk = true
          expectedFileSize = SnapshotTrailerVerifier.announcedFileSize(
            remainingBytes: chunk.remainingBytes, firstChunkBytes: chunk.blob.count)
          if let (growing, objectMetadata) = tail {
            // The upload plans its parts by the plain size, with twice the room it needs: a
            // compressed or encrypted file is at most a few bytes per 64 KiB larger.
            growing.started(name: fileName, path: file.partPath, expectedSize: expectedFileSize, objectMetadata: objectMetadata)
          }
        }
        try chunk.blob.withUnsafeBytes { (raw: UnsafeRawBufferPointer) throws in
          verifier.update(raw)
          try stages.update(raw, keep)
        }
        tail?.0.advanced(to: storedBytes)
        if let onProgress {
          let t = ContinuousClock.now
          if t - lastReport >= .milliseconds(100) {
            lastReport = t
            onProgress(SaveProgress(bytes: verifier.byteCount, total: expectedFileSize, elapsed: t - start))
          }
        }
      }
      try Task.checkCancellation()
      let check = verifier.finish()
      if let problem = check.problem {
        if let expectedFileSize, check.byteCount < expectedFileSize {
          throw SnapshotError(
            .interrupted,
            "the snapshot stream ended after \(check.byteCount) of \(expectedFileSize) bytes: etcd stopped sending; nothing was saved. Try again.")
        }
        throw SnapshotError(.corrupt, problem + "; nothing was saved")
      }
      try stages.finish(keep)
      try file.sync()
      tail?.0.advanced(to: storedBytes)
      let stored = stages.isEmpty ? (check.byteCount, hex(check.fileSHA256)) : (storedBytes, hex(storedHash.finalize()))
      let metadata = describe(check, stored, file.partPath)
      try store.writeMetadata(metadata)
      do {
        try file.publish()
      } catch {
        store.removeMetadata(name: fileName)
        throw error
      }
      // Only a published, verified local snapshot lets the upload complete.
      tail?.0.finished(.succeeded(metadata))
      return metadata
    } catch {
      file.abort()
      tail?.0.finished(.failed("\(error)"))
      throw error
    }
  }
}
