import Crypto
import Foundation
import Logging
import NIOCore
import S3Protocol
import SnapshotCore
import Synchronization
import SystemFiles

#if canImport(Glibc)
  import Glibc
#endif

/// What an upload produced.
package struct S3UploadResult: Sendable {
  /// `s3://bucket/key` of the object.
  package var address: String
  /// Object key.
  package var key: String
  /// Parts uploaded.
  package var parts: Int
  /// Bytes uploaded.
  package var size: Int64
  /// The object's ETag as the store reports it.
  package var eTag: String?
}

/// Uploads a snapshot to S3 while it is still being written: a multipart upload whose parts
/// are streamed back from the local `.part` file as soon as each is on disk, a bounded number
/// in flight, each retried from the file, each with its CRC-32C (and Content-MD5 until the
/// store shows that it verifies checksums).
///
/// The object becomes visible only when the local snapshot has been verified (etcd's trailer)
/// and published, and every part is in; then its size and the store's composite CRC-32C (or,
/// from stores without checksums whose ETags are MD5s, the composite ETag) are checked and the
/// `.metadata/NAME` sidecar written. Any failure aborts the multipart upload (no orphan parts)
/// or deletes the completed object: nothing half-visible.
package struct S3SnapshotUploader: Sendable {
  /// The client to use.
  package var client: S3Client
  /// Log of retries and decisions.
  package var logger: Logger

  /// An uploader over `client`.
  package init(client: S3Client, logger: Logger) {
    self.client = client
    self.logger = logger
  }

  /// Uploads the snapshot `file` is being written to, following the writer; never throws:
  /// the result says.
  package func upload(from file: GrowingFile) async -> Result<S3UploadResult, SnapshotError> {
    var key = ""
    var uploadID: String?
    var completed = false
    do {
      // Wait until the writer has created the file.
      var iterator = file.changes.makeAsyncIterator()
      while file.current.path == nil {
        if case .failed(let why) = file.current.outcome { throw SnapshotError(.interrupted, "the snapshot failed (\(why)); nothing was uploaded") }
        guard await iterator.next() != nil else { break }
      }
      let start = file.current
      guard let path = start.path, let name = start.name else {
        throw SnapshotError(.interrupted, "the snapshot failed before it started; nothing was uploaded")
      }
      let fd: Int32
      do throws(SystemCallError) {
        fd = try SystemFile.openForReading(path)
      } catch {
        // A small snapshot can be complete and renamed into place before this task opens its
        // `.part` (seen on a loaded machine): wait for the writer's outcome, then open the
        // published file.
        guard error.errno == ENOENT, path.hasSuffix(".part") else { throw SnapshotError.posix(error, what: "the snapshot being uploaded") }
        while case .writing = file.current.outcome {
          guard await iterator.next() != nil else { break }
        }
        guard case .succeeded = file.current.outcome else {
          throw SnapshotError(.interrupted, "the snapshot failed before its upload could start; nothing was uploaded")
        }
        do throws(SystemCallError) { fd = try SystemFile.openForReading(String(path.dropLast(".part".count))) } catch {
          throw SnapshotError.posix(error, what: "the snapshot being uploaded")
        }
      }
      defer { close(fd) }
      key = client.configuration.objectKey(name)
      let partSize = S3MultipartPlan.partSize(expectedSize: start.expectedSize, preferred: client.configuration.partSize)
      let id = try await client.createMultipartUpload(key: key, metadata: start.objectMetadata)
      uploadID = id
      logger.debug("multipart upload \(id) of \(key) started, parts of \(partSize) bytes")
      var plan = S3MultipartUpload(partSize: partSize)
      var crcs: [Int: UInt32] = [:]
      let metadata = try await uploadParts(
        fd: fd, key: key, uploadID: id, plan: &plan, crcs: &crcs, file: file, iterator: &iterator)
      let parts = plan.completedParts
      let checksums = crcs.mapValues { S3Checksum.base64($0) }
      let (eTag, compositeCRC) = try await complete(key: key, uploadID: id, parts: parts, checksums: checksums, size: metadata.stored.size)
      completed = true
      try await check(key: key, size: metadata.stored.size, plan: plan, completeETag: eTag)
      if let compositeCRC {
        let expected = S3Checksum.composite(parts.map { crcs[$0.number] ?? 0 })
        guard S3Checksum.matches(reported: compositeCRC, expected: expected) else {
          throw SnapshotError(
            .corrupt,
            "\(client.configuration.address(ofKey: key)) has the CRC-32C checksum \(compositeCRC), but the parts sent give \(expected): the object was damaged; it was removed"
          )
        }
      }
      await tag(key: key, metadata: metadata)
      let sidecar = try metadata.encoded()
      try await client.putObject(key: client.configuration.metadataKey(name), bytes: Array(sidecar), contentType: "application/json")
      return .success(
        S3UploadResult(address: client.configuration.address(of: name), key: key, parts: parts.count, size: metadata.stored.size, eTag: eTag))
    } catch {
      let failure = error as? SnapshotError ?? SnapshotError(.io, "uploading \(key) to S3 failed: \(error)")
      await cleanUp(key: key, uploadID: uploadID, completed: completed)
      return .failure(failure)
    }
  }

  /// Hands out parts as the file grows, keeping at most `concurrentParts` in flight.
  private func uploadParts(
    fd: Int32, key: String, uploadID: String, plan: inout S3MultipartUpload, crcs: inout [Int: UInt32], file: GrowingFile,
    iterator: inout AsyncStream<Void>.Iterator
  ) async throws -> SnapshotMetadata {
    let limit = max(1, client.configuration.concurrentParts)
    let client = self.client
    let bucket = client.configuration.bucket
    // Content-MD5 (and the ETag check it allows) only until the store shows that it verifies
    // CRC-32C checksums: MD5 is the costliest digest of the upload on our side.
    let storeVerifiesCRC = SharedFlag()
    return try await withThrowingTaskGroup(of: (Int, String, [UInt8]?, UInt32).self) { group in
      var inFlight = 0
      var pending: [S3PartRange] = []
      var final: SnapshotMetadata?
      while true {
        let state = file.current
        switch state.outcome {
        case .failed(let why):
          throw SnapshotError(.interrupted, "the snapshot failed (\(why)); the upload was aborted")
        case .succeeded(let m):
          final = m
        case .writing: break
        }
        pending += try plan.partsReady(bytesOnDisk: state.bytes, finished: final != nil)
        while !pending.isEmpty {
          if inFlight >= limit, let done = try await group.next() {
            plan.completed(part: done.0, eTag: done.1, md5: done.2)
            crcs[done.0] = done.3
            inFlight -= 1
          }
          let part = pending.removeFirst()
          group.addTask {
            let (md5, crc) = try Self.digests(fd: fd, part: part, md5: !storeVerifiesCRC.isSet)
            let sent = try await client.uploadPart(
              key: key, uploadID: uploadID, number: part.number, fd: fd, offset: part.offset, length: part.length, md5: md5, crc32c: crc)
            if let stored = sent.crc32c {
              guard stored == S3Checksum.base64(crc) else {
                throw SnapshotError(
                  .corrupt,
                  "part \(part.number) of \(S3Configuration.address(bucket: bucket, key: key)) was stored with CRC-32C \(stored), not \(S3Checksum.base64(crc)): damaged in transit"
                )
              }
              storeVerifiesCRC.set()
            }
            return (part.number, sent.eTag, md5, crc)
          }
          inFlight += 1
        }
        if let final {
          while let done = try await group.next() {
            plan.completed(part: done.0, eTag: done.1, md5: done.2)
            crcs[done.0] = done.3
          }
          guard plan.allHandedOutPartsCompleted else { throw SnapshotError(.internal, "upload of \(key): parts missing at the end") }
          return final
        }
        if await iterator.next() == nil, case .writing = file.current.outcome {
          throw SnapshotError(.internal, "the snapshot writer stopped without saying how it ended")
        }
      }
    }
  }

  /// Tags the object with what was only known at the end: its SHA-256 and revision (S3 fixes
  /// `x-amz-meta-*` when a multipart upload starts). Tags are a convenience, the sidecar holds
  /// the same facts: a store without tagging, or a key without s3:PutObjectTagging, only
  /// costs a warning.
  private func tag(key: String, metadata: SnapshotMetadata) async {
    let tags = ["etcd-snapshot-sha256": metadata.sha256, "etcd-snapshot-revision": String(metadata.revision)]
    do {
      try await client.putObjectTagging(key: key, tags: tags)
    } catch {
      logger.warning(
        "could not tag \(client.configuration.address(ofKey: key)) with its SHA-256 and revision (\(error)); the .metadata sidecar has them")
    }
  }

  /// After CompleteMultipartUpload: the store must hold exactly what was written.
  private func check(key: String, size: Int64, plan: S3MultipartUpload, completeETag: String) async throws {
    guard let head = try await client.headObject(key: key) else {
      throw SnapshotError(.io, "\(client.configuration.address(ofKey: key)) is missing right after its upload completed")
    }
    guard head.size == size else {
      throw SnapshotError(
        .corrupt, "\(client.configuration.address(ofKey: key)) holds \(head.size) bytes after the upload, not \(size); it was removed")
    }
    if plan.partETagsAreMD5, let expected = plan.expectedCompositeETag {
      for seen in [completeETag, head.eTag ?? expected] where !S3MultipartUpload.sameETag(seen, expected) {
        throw SnapshotError(
          .corrupt,
          "\(client.configuration.address(ofKey: key)) has ETag \(seen) but the parts sent give \(expected): the object was damaged; it was removed")
      }
    }
  }

  /// CompleteMultipartUpload; when it fails without a clear answer (its response lost or
  /// stalled, or `NoSuchUpload` because an earlier attempt did complete), the object is looked
  /// at: one of the expected size means the upload completed, and the usual checks follow.
  private func complete(
    key: String, uploadID: String, parts: [(number: Int, eTag: String)], checksums: [Int: String], size: Int64
  ) async throws -> (eTag: String, checksum: String?) {
    do {
      return try await client.completeMultipartUpload(key: key, uploadID: uploadID, parts: parts, checksums: checksums)
    } catch let error as SnapshotError where error.code != .cancelled {
      guard let head = try? await client.headObject(key: key), head.size == size, let eTag = head.eTag else { throw error }
      logger.notice(
        "CompleteMultipartUpload of \(client.configuration.address(ofKey: key)) reported \(error.message), but the object is there with all \(size) bytes: checking it"
      )
      return (eTag, head.checksumCRC32C)
    }
  }

  /// Aborts the upload or removes the object, shielded from cancellation (a stopped save
  /// must not leave parts or a half-checked object behind).
  private func cleanUp(key: String, uploadID: String?, completed: Bool) async {
    guard let uploadID else { return }
    let client = self.client
    let logger = self.logger
    await Task.detached {
      do {
        if completed {
          try await client.deleteObject(key: key)
        } else {
          try await client.abortMultipartUpload(key: key, uploadID: uploadID)
          // A Complete whose answer was lost may have finished after all: a failed save
          // leaves no object without its sidecar.
          if try await client.headObject(key: key) != nil { try await client.deleteObject(key: key) }
        }
      } catch {
        logger.error(
          "could not \(completed ? "remove" : "abort the multipart upload of") \(client.configuration.address(ofKey: key)): \(error); remove it by hand (upload ID \(uploadID))"
        )
      }
    }.value
  }

  /// CRC-32C (and, if `wanted`, MD5) of one part, read from the file in 1 MiB chunks (for its
  /// `x-amz-checksum-crc32c`, Content-MD5 and the checks after completion).
  static func digests(fd: Int32, part: S3PartRange, md5 wanted: Bool) throws -> (md5: [UInt8]?, crc32c: UInt32) {
    var md5 = Insecure.MD5()
    var crc: UInt32 = 0
    try FileRangeChunks.forEach(fd: fd, offset: part.offset, length: part.length) {
      if wanted { md5.update(bufferPointer: $0) }
      crc = CRC32C.update(crc, $0)
    }
    return (wanted ? Array(md5.finalize()) : nil, crc)
  }
}

/// A flag that concurrent tasks may set and read.
final class SharedFlag: Sendable {
  private let value = Mutex(false)

  var isSet: Bool { value.withLock { $0 } }

  func set() { value.withLock { $0 = true } }
}
