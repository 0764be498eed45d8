import Crypto
import Foundation
import Logging
import NIOCore
import SnapshotCore

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
/// are read back from the local `.part` file as soon as each is on disk, a bounded number in
/// flight, each retried from the file.
///
/// The object becomes visible only when the local snapshot has been verified (etcd's trailer)
/// and every part is in; then its size (and, when the store's ETags are MD5s, its composite
/// ETag) is checked and the `.metadata/NAME` sidecar written. Any failure aborts the
/// multipart upload (no orphan parts) or deletes the completed object: nothing half-visible.
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
      let fd = open(path, O_RDONLY | O_CLOEXEC)
      if fd < 0 {
        let code = errno
        throw SnapshotError.posix(code, call: "open", path: path, what: "the snapshot being uploaded")
      }
      defer { close(fd) }
      key = client.configuration.objectKey(name)
      let partSize = S3MultipartPlan.partSize(expectedSize: start.expectedSize, preferred: client.configuration.partSize)
      let id = try await client.createMultipartUpload(key: key, metadata: start.objectMetadata)
      uploadID = id
      logger.debug("multipart upload \(id) of \(key) started, parts of \(partSize) bytes")
      var plan = S3MultipartUpload(partSize: partSize)
      let metadata = try await uploadParts(
        fd: fd, key: key, uploadID: id, plan: &plan, file: file, iterator: &iterator)
      let parts = plan.completedParts
      let eTag = try await client.completeMultipartUpload(key: key, uploadID: id, parts: parts)
      completed = true
      try await check(key: key, size: metadata.size, plan: plan, completeETag: eTag)
      let sidecar = try metadata.encoded()
      try await client.putObject(key: client.configuration.metadataKey(name), bytes: Array(sidecar), contentType: "application/json")
      return .success(
        S3UploadResult(address: client.configuration.address(of: name), key: key, parts: parts.count, size: metadata.size, eTag: eTag))
    } catch {
      let failure = error as? SnapshotError ?? SnapshotError(.io, "uploading \(key) to S3 failed: \(error)")
      await cleanUp(key: key, uploadID: uploadID, completed: completed)
      return .failure(failure)
    }
  }

  /// Hands out parts as the file grows, keeping at most `concurrentParts` in flight.
  private func uploadParts(
    fd: Int32, key: String, uploadID: String, plan: inout S3MultipartUpload, file: GrowingFile,
    iterator: inout AsyncStream<Void>.Iterator
  ) async throws -> SnapshotMetadata {
    let limit = max(1, client.configuration.concurrentParts)
    let client = self.client
    return try await withThrowingTaskGroup(of: (Int, String, [UInt8]).self) { group in
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
            inFlight -= 1
          }
          let part = pending.removeFirst()
          group.addTask {
            let first = try Self.read(fd: fd, part: part)
            let md5 = first.withUnsafeReadableBytes { Array(Insecure.MD5.hash(data: $0)) }
            let eTag = try await client.uploadPart(
              key: key, uploadID: uploadID, number: part.number, length: part.length, md5: md5,
              make: { try Self.read(fd: fd, part: part) })
            return (part.number, eTag, md5)
          }
          inFlight += 1
        }
        if let final {
          while let done = try await group.next() { plan.completed(part: done.0, eTag: done.1, md5: done.2) }
          guard plan.allHandedOutPartsCompleted else { throw SnapshotError(.internal, "upload of \(key): parts missing at the end") }
          return final
        }
        if await iterator.next() == nil, case .writing = file.current.outcome {
          throw SnapshotError(.internal, "the snapshot writer stopped without saying how it ended")
        }
      }
    }
  }

  /// After CompleteMultipartUpload: the store must hold exactly what was written.
  private func check(key: String, size: Int64, plan: S3MultipartUpload, completeETag: String) async throws {
    guard let head = try await client.headObject(key: key) else {
      throw SnapshotError(.io, "s3://\(client.configuration.bucket)/\(key) is missing right after its upload completed")
    }
    guard head.size == size else {
      throw SnapshotError(
        .corrupt, "s3://\(client.configuration.bucket)/\(key) holds \(head.size) bytes after the upload, not \(size); it was removed")
    }
    if plan.partETagsAreMD5, let expected = plan.expectedCompositeETag {
      for seen in [completeETag, head.eTag ?? expected] where Self.unquoted(seen) != Self.unquoted(expected) {
        throw SnapshotError(
          .corrupt,
          "s3://\(client.configuration.bucket)/\(key) has ETag \(seen) but the parts sent give \(expected): the object was damaged; it was removed")
      }
    }
  }

  static func unquoted(_ s: String) -> String { s.replacingOccurrences(of: "\"", with: "").lowercased() }

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
        }
      } catch {
        logger.error(
          "could not \(completed ? "remove" : "abort the multipart upload of") s3://\(client.configuration.bucket)/\(key): \(error); remove it by hand (upload ID \(uploadID))"
        )
      }
    }.value
  }

  /// Reads one part from the file into a buffer.
  static func read(fd: Int32, part: S3PartRange) throws -> ByteBuffer {
    var buffer = ByteBufferAllocator().buffer(capacity: Int(part.length))
    var done = 0
    let total = Int(part.length)
    while done < total {
      let n = buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: total - done) { ptr -> Int in
        let r = pread(fd, ptr.baseAddress, total - done, off_t(part.offset) + off_t(done))
        return r > 0 ? r : 0
      }
      if n == 0 {
        let code = errno
        throw SnapshotError(
          .io, "cannot read part \(part.number) back from the snapshot file (\(code == 0 ? "unexpected end" : String(cString: strerror(code))))")
      }
      done += n
    }
    return buffer
  }
}
