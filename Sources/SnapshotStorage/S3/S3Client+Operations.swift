import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import S3Protocol
import SnapshotCore

/// What a HEAD of an object says.
package struct S3ObjectHead: Sendable, Equatable {
  /// Content length.
  package var size: Int64
  /// ETag, quotes included.
  package var eTag: String?
  /// `x-amz-meta-*` values by lower-case name without the prefix.
  package var metadata: [String: String]
  /// The store's CRC-32C of the object (composite for a multipart upload), when it keeps one.
  package var checksumCRC32C: String?
}

extension S3Client {
  /// Every object under `prefix` (not below the next `/`), all pages.
  package func listObjects(prefix: String) async throws -> [S3ObjectSummary] {
    var objects: [S3ObjectSummary] = []
    var token: String?
    repeat {
      var query: [(name: String, value: String)] = [("list-type", "2"), ("prefix", prefix), ("delimiter", "/"), ("max-keys", "1000")]
      if let token { query.append(("continuation-token", token)) }
      let response = try await send(.GET, key: nil, query: query, operation: "ListObjectsV2")
      let page: S3ListPage
      do { page = try S3Responses.parseListObjectsV2(response.body) } catch {
        throw SnapshotError(.io, "listing \(configuration.address(ofKey: prefix)): \(error)")
      }
      objects += page.objects
      token = page.isTruncated ? page.nextContinuationToken : nil
      if page.isTruncated && token == nil {
        throw SnapshotError(.io, "the S3 server said the listing of \(configuration.address(ofKey: prefix)) goes on but sent no continuation token")
      }
    } while token != nil
    return objects
  }

  /// The bytes of a small object, or nil when there is no such key.
  package func getSmallObject(key: String, operation: String = "GetObject") async throws -> [UInt8]? {
    let response = try await send(.GET, key: key, operation: operation, accept: [200, 404])
    if response.status == 404 {
      if let e = S3ErrorResponse.parse(response.body), e.code == "NoSuchBucket" {
        throw S3ErrorClassifier.error(
          for: S3Failure(httpStatus: 404, response: e, transportError: nil), operation: operation, bucket: configuration.bucket, key: key,
          endpoint: configuration.endpoint)
      }
      return nil
    }
    return response.body
  }

  /// HEAD of an object, or nil when there is no such key.
  package func headObject(key: String) async throws -> S3ObjectHead? {
    let response = try await send(.HEAD, key: key, headers: [("x-amz-checksum-mode", "ENABLED")], operation: "HeadObject", accept: [200, 404])
    if response.status == 404 { return nil }
    return Self.head(from: response.headers)
  }

  static func head(from headers: HTTPHeaders) -> S3ObjectHead {
    var metadata: [String: String] = [:]
    for (name, value) in headers {
      let lower = name.lowercased()
      if lower.hasPrefix("x-amz-meta-") { metadata[String(lower.dropFirst("x-amz-meta-".count))] = value }
    }
    return S3ObjectHead(
      size: Int64(headers.first(name: "content-length") ?? "") ?? 0, eTag: headers.first(name: "etag"), metadata: metadata,
      checksumCRC32C: headers.first(name: S3Checksum.header))
  }

  /// Uploads a small object in one PUT.
  package func putObject(key: String, bytes: [UInt8], contentType: String, metadata: [String: String] = [:]) async throws {
    _ = try await send(
      .PUT, key: key, headers: Self.metadataHeaders(metadata), body: .bytes(bytes, contentType: contentType), operation: "PutObject")
  }

  /// Replaces an object's tags (the metadata that can still change after an upload).
  package func putObjectTagging(key: String, tags: [String: String]) async throws {
    _ = try await send(
      .PUT, key: key, query: [("tagging", "")], body: .bytes(S3RequestBody.tagging(tags), contentType: "application/xml"),
      operation: "PutObjectTagging", accept: [200, 204])
  }

  /// Deletes an object; deleting a missing key is not an error (S3 answers 204 either way).
  package func deleteObject(key: String) async throws {
    _ = try await send(.DELETE, key: key, operation: "DeleteObject", accept: [200, 204, 404])
  }

  /// Starts a multipart upload with CRC-32C part checksums (the store verifies each part and
  /// returns a composite checksum on completion); returns its upload ID.
  package func createMultipartUpload(key: String, metadata: [String: String]) async throws -> String {
    let response = try await send(
      .POST, key: key, query: [("uploads", "")],
      headers: [("content-type", "application/octet-stream"), ("x-amz-checksum-algorithm", S3Checksum.algorithm)] + Self.metadataHeaders(metadata),
      operation: "CreateMultipartUpload")
    do { return try S3Responses.parseInitiateMultipartUpload(response.body) } catch {
      throw SnapshotError(.io, "CreateMultipartUpload of \(configuration.address(ofKey: key)): \(error)")
    }
  }

  /// Uploads one part, streamed from `fd` (read again on a retry), with its CRC-32C (and
  /// Content-MD5 when given). Returns the ETag and the CRC-32C the store computed, if it sent one.
  package func uploadPart(
    key: String, uploadID: String, number: Int, fd: Int32, offset: Int64, length: Int64, md5: [UInt8]?, crc32c: UInt32
  ) async throws -> (eTag: String, crc32c: String?) {
    let response = try await send(
      .PUT, key: key, query: [("partNumber", String(number)), ("uploadId", uploadID)],
      body: .fileRange(fd: fd, offset: offset, length: length, md5: md5, crc32c: crc32c), operation: "UploadPart \(number)")
    guard let eTag = response.headers.first(name: "etag") else {
      throw SnapshotError(.io, "the S3 server accepted part \(number) of \(configuration.address(ofKey: key)) but sent no ETag")
    }
    return (eTag, response.headers.first(name: S3Checksum.header))
  }

  /// Uploads one part held in memory, with its CRC-32C. Returns the ETag and the CRC-32C sent.
  package func uploadPart(key: String, uploadID: String, number: Int, bytes: [UInt8]) async throws -> (eTag: String, crc32c: String) {
    let crc = S3Checksum.base64(CRC32C.checksum(bytes))
    let response = try await send(
      .PUT, key: key, query: [("partNumber", String(number)), ("uploadId", uploadID)], headers: [(S3Checksum.header, crc)],
      body: .bytes(bytes, contentType: "application/octet-stream"), operation: "UploadPart \(number)")
    guard let eTag = response.headers.first(name: "etag") else {
      throw SnapshotError(.io, "the S3 server accepted part \(number) of \(configuration.address(ofKey: key)) but sent no ETag")
    }
    return (eTag, crc)
  }

  /// Copies bytes `range` of `sourceKey` in this bucket into part `number` of an upload, in
  /// the store (nothing passes through us), only while the source still has ETag `ifMatch`.
  /// Returns the part's ETag and the CRC-32C the store computed, if it sent one.
  package func uploadPartCopy(
    key: String, uploadID: String, number: Int, sourceKey: String, range: ClosedRange<Int64>, ifMatch: String?
  ) async throws -> (eTag: String, crc32c: String?) {
    var headers: [(name: String, value: String)] = [
      ("x-amz-copy-source", "/" + configuration.bucket + "/" + S3URIEncoding.encode(sourceKey, encodeSlash: false)),
      ("x-amz-copy-source-range", "bytes=\(range.lowerBound)-\(range.upperBound)"),
    ]
    if let ifMatch { headers.append(("x-amz-copy-source-if-match", ifMatch)) }
    let response = try await send(
      .PUT, key: key, query: [("partNumber", String(number)), ("uploadId", uploadID)], headers: headers, operation: "UploadPartCopy \(number)")
    return try S3Responses.parseCopyPartResult(response.body)
  }

  /// Bytes `range` of an object (`Range: bytes=a-b`), with the object's HEAD-like facts.
  package func getRange(key: String, range: ClosedRange<Int64>) async throws -> (bytes: [UInt8], head: S3ObjectHead) {
    let response = try await send(
      .GET, key: key, headers: [("range", "bytes=\(range.lowerBound)-\(range.upperBound)")], operation: "GetObject (range)",
      accept: [200, 206], maxBody: Int(range.upperBound - range.lowerBound + 1) + 1024)
    var bytes = response.body
    // A 200 is the whole object: keep the range asked for.
    if response.status == 200 {
      let start = Int(min(Int64(bytes.count), range.lowerBound))
      let end = Int(min(Int64(bytes.count), range.upperBound + 1))
      bytes = Array(bytes[start..<end])
    }
    return (bytes, Self.head(from: response.headers))
  }

  /// Completes a multipart upload; returns the object's ETag.
  ///
  /// S3 may answer 200 with an `<Error>` body (the work failed after the response started);
  /// a retryable one is sent again, like any other transient failure.
  package func completeMultipartUpload(
    key: String, uploadID: String, parts: [(number: Int, eTag: String)], checksums: [Int: String]
  ) async throws -> (eTag: String, checksum: String?) {
    let body = S3RequestBody.completeMultipartUpload(parts: parts, checksums: checksums)
    let deadline = ContinuousClock.now + configuration.timeout
    var attempt = 0
    while true {
      attempt += 1
      let response = try await send(
        .POST, key: key, query: [("uploadId", uploadID)], body: .bytes(body, contentType: "application/xml"),
        operation: "CompleteMultipartUpload", deadline: deadline)
      switch try S3Responses.parseCompleteMultipartUploadOutcome(response.body) {
      case .completed(let eTag, let checksum): return (eTag, checksum)
      case .failed(let e):
        try await retryOrThrow(
          S3Failure(httpStatus: 200, response: e, transportError: nil), attempt: attempt, deadline: deadline,
          operation: "CompleteMultipartUpload", key: key)
      }
    }
  }

  /// The multipart uploads in progress whose keys start with `prefix`, all pages.
  package func listMultipartUploads(prefix: String) async throws -> [S3UploadSummary] {
    var uploads: [S3UploadSummary] = []
    var markers: (key: String, id: String?)?
    repeat {
      var query: [(name: String, value: String)] = [("uploads", ""), ("prefix", prefix)]
      if let markers {
        query.append(("key-marker", markers.key))
        if let id = markers.id { query.append(("upload-id-marker", id)) }
      }
      let response = try await send(.GET, key: nil, query: query, operation: "ListMultipartUploads")
      let page = try S3Responses.parseListMultipartUploads(response.body)
      uploads += page.uploads
      markers = page.isTruncated ? page.nextKeyMarker.map { ($0, page.nextUploadIDMarker) } : nil
    } while markers != nil
    return uploads
  }

  /// Aborts a multipart upload so that no parts are left (and billed) in the bucket.
  package func abortMultipartUpload(key: String, uploadID: String) async throws {
    _ = try await send(.DELETE, key: key, query: [("uploadId", uploadID)], operation: "AbortMultipartUpload", accept: [200, 204, 404])
  }

  /// Streams an object to `sink`, resuming after a broken or stalled connection.
  ///
  /// A resume asks for `Range: bytes=N-` with `If-Match` on the first answer's ETag, and
  /// appends only a 206 whose `Content-Range` is exactly the rest of that object. Anything
  /// else (a 200, another range, 412 because the object changed) starts over: `restart` is
  /// called, and the sink must drop what it had. Every wait for the next byte is bounded by
  /// `--s3-read-timeout`, the whole download (resumes included) by `--s3-timeout`.
  /// Returns the HEAD-like facts of the object (size, ETag, metadata).
  package func download(
    key: String, restart: () throws -> Void, sink: (ByteBuffer) async throws -> Void
  ) async throws -> S3ObjectHead {
    let deadline = ContinuousClock.now + configuration.timeout
    let what = configuration.address(ofKey: key)
    var received: Int64 = 0
    var head: S3ObjectHead?
    var attempt = 0
    func startOver() throws {
      if received > 0 { try restart() }
      received = 0
      head = nil
    }
    while true {
      attempt += 1
      let failure: S3Failure
      do {
        let extra = S3DownloadResume.headers(received: received, eTag: head?.eTag)
        let asked: Int64? = extra.isEmpty ? nil : received
        let request = try await request(.GET, key: key, query: [], headers: extra, body: .empty)
        let response = try await http.execute(request, deadline: Self.nioDeadline(deadline), logger: nil)
        let status = Int(response.status.code)
        var accepted = false
        switch S3DownloadResume.judge(
          status: status, contentRange: response.headers.first(name: "content-range"), answerETag: response.headers.first(name: "etag"),
          asked: asked, size: head?.size, eTag: head?.eTag)
        {
        case .whole:
          try startOver()
          head = Self.head(from: response.headers)
          accepted = true
        case .rest:
          accepted = true
        case .startOver(let reason):
          try startOver()
          throw DownloadBroke(text: reason + "; starting again")
        case .failure:
          break
        }
        if accepted, let result = head {
          do {
            for try await chunk in response.body {
              try await sink(chunk)
              received += Int64(chunk.readableBytes)
              if received > result.size { throw SnapshotError(.corrupt, "\(what) sent more than the \(result.size) bytes it announced") }
              if ContinuousClock.now > deadline { throw BodyTooSlow() }
            }
          } catch let error as SnapshotError {
            throw error
          } catch {
            if Task.isCancelled { throw SnapshotError(.cancelled, "stopped while downloading \(what)") }
            throw DownloadBroke(text: describeTransport(error) + " after \(received) of \(result.size) bytes")
          }
          if received == result.size { return result }
          throw DownloadBroke(text: "the connection ended after \(received) of \(result.size) bytes")
        }
        var body: [UInt8] = []
        for try await chunk in response.body where body.count < 65536 { body += chunk.readableBytesView }
        failure = S3Failure(httpStatus: status, response: S3ErrorResponse.parse(body), transportError: nil)
      } catch let error as SnapshotError {
        throw error
      } catch let broke as DownloadBroke {
        failure = S3Failure(httpStatus: nil, response: nil, transportError: broke.text)
      } catch {
        if Task.isCancelled { throw SnapshotError(.cancelled, "stopped while downloading \(what)") }
        if let tls = tlsFailure(error) { throw tls }
        failure = S3Failure(httpStatus: nil, response: nil, transportError: describeTransport(error))
      }
      try await retryOrThrow(failure, attempt: attempt, deadline: deadline, operation: "GetObject", key: key)
    }
  }

  private struct DownloadBroke: Error { var text: String }

  static func metadataHeaders(_ metadata: [String: String]) -> [(name: String, value: String)] {
    metadata.sorted { $0.key < $1.key }.map { ("x-amz-meta-" + $0.key, $0.value) }
  }
}
