import AgeFormat
import Foundation
import Logging
import SnapshotCore
import SnapshotPipeline
import SnapshotStorage

/// `rekey --s3`: a new age header for an object in the bucket, without downloading it.
///
/// The object is replaced by a multipart upload to the same key: part 1 is the new header and
/// the first 8 MiB of the payload (read with one ranged GET, which also holds the old header),
/// the other parts are copied by the store from the object itself (UploadPartCopy, guarded by
/// its ETag), so a 10 GB snapshot moves 8 MiB through us. The object only changes when the
/// upload completes; any failure aborts it and leaves the object as it was. An object of 8 MiB
/// or less is read whole and replaced in one PUT. The object's metadata is kept; the sidecar
/// record gets the new recipients and size. The new file's SHA-256 is not known without reading
/// the payload, so the record drops it (`storedSHA256` absent with `storedSize` set): readers
/// then check the size, every age chunk (authenticated) and the plain snapshot's SHA-256.
enum RekeyS3 {
  /// Payload bytes in part 1 (S3 wants every part but the last to be 5 MiB or more).
  static let firstPartPayload: Int64 = 8 << 20
  /// Bytes per copied part.
  static let copyPartSize: Int64 = 1 << 30

  static func rekey(
    name: String, client: S3Client, identities: [AgeIdentity], recipients: [AgeRecipient], described: [String], logger: Logger
  ) async throws(SnapshotError) -> RekeyedSnapshot {
    let configuration = client.configuration
    let key = configuration.objectKey(name)
    let address = configuration.address(ofKey: key)
    do {
      if let p = LocalSnapshotStore.nameProblem(name) { throw SnapshotError(.invalidConfiguration, p) }
      guard let head = try await client.headObject(key: key) else {
        throw SnapshotError(.notFound, "no snapshot named \(quoted(name)) in \(configuration.folderAddress): see `etcd-snapshot ls --s3`")
      }
      var record: SnapshotMetadata?
      if let bytes = try await client.getSmallObject(key: configuration.metadataKey(name), operation: "GetObject (metadata)") {
        record = try? SnapshotMetadata.decode(Data(bytes))
      }
      if let record, record.stored.size != head.size {
        throw SnapshotError(
          .corrupt,
          "\(address) is \(head.size) bytes, but its metadata record says \(record.stored.size): it changed after it was saved; it was not rekeyed")
      }
      guard head.size > 0 else { throw SnapshotError(.corrupt, "\(address) is empty: it is not an encrypted snapshot") }
      let readLength = min(head.size, Int64(AgeDecryptor.defaultMaxHeaderSize) + firstPartPayload)
      let (prefix, _) = try await client.getRange(key: key, range: 0...(readLength - 1))
      guard Int64(prefix.count) == readLength else {
        throw SnapshotError(.io, "the S3 server sent \(prefix.count) of the \(readLength) bytes asked for of \(address): try again")
      }
      let (newHeader, oldLength) = try RekeySnapshots.newHeader(
        for: prefix, address: address, record: record, identities: identities, recipients: recipients)
      let payloadStart = Int64(oldLength)
      let newSize = Int64(newHeader.count) + head.size - payloadStart
      if readLength == head.size && head.size - payloadStart <= firstPartPayload {
        try await client.putObject(
          key: key, bytes: newHeader + prefix[oldLength...], contentType: "application/octet-stream", metadata: head.metadata)
      } else {
        let firstEnd = payloadStart + firstPartPayload  // exclusive; within `prefix`
        let uploadID = try await client.createMultipartUpload(key: key, metadata: head.metadata)
        do {
          var parts: [(number: Int, eTag: String)] = []
          var checksums: [Int: String] = [:]
          let first = try await client.uploadPart(key: key, uploadID: uploadID, number: 1, bytes: newHeader + prefix[oldLength..<Int(firstEnd)])
          parts.append((1, first.eTag))
          checksums[1] = first.crc32c
          var offset = firstEnd
          var number = 2
          var copiedAll = true
          while offset < head.size {
            try Task.checkCancellation()
            let end = min(head.size, offset + copyPartSize)
            let copied = try await client.uploadPartCopy(
              key: key, uploadID: uploadID, number: number, sourceKey: key, range: offset...(end - 1), ifMatch: head.eTag)
            parts.append((number, copied.eTag))
            if let crc = copied.crc32c { checksums[number] = crc } else { copiedAll = false }
            offset = end
            number += 1
          }
          // A store that did not say the copied parts' checksums gets none (it has them).
          _ = try await client.completeMultipartUpload(key: key, uploadID: uploadID, parts: parts, checksums: copiedAll ? checksums : [:])
        } catch {
          try? await client.abortMultipartUpload(key: key, uploadID: uploadID)
          throw error
        }
      }
      if var updated = record {
        updated.encryption = "age"
        updated.recipients = described
        updated.storedSize = newSize
        updated.storedSHA256 = nil
        try await client.putObject(
          key: configuration.metadataKey(name), bytes: Array(try updated.encoded()), contentType: "application/json")
      }
      return RekeyedSnapshot(path: address, recipients: described)
    } catch let error as SnapshotError {
      throw error
    } catch is CancellationError {
      throw SnapshotError(.cancelled, "stopped while rekeying \(address); it is unchanged")
    } catch {
      throw SnapshotError.wrapping(error)
    }
  }
}
