import Crypto
import Foundation
import SnapshotCore

/// Bodies of the S3 requests that carry XML, and the Content-MD5 some of them require.
package enum S3RequestBody {
  /// The S3 namespace every request body declares.
  package static let namespace = "http://s3.amazonaws.com/doc/2006-03-01/"
  /// Most keys one DeleteObjects request may name.
  package static let maximumDeleteKeys = 1000

  /// The body of CompleteMultipartUpload (`POST ?uploadId=…`): every part with its number and ETag.
  ///
  /// Parts are sorted by number (S3 refuses any other order with `InvalidPartOrder`); ETags are
  /// written as given (S3 returns them quoted in the UploadPart answer), XML-escaped.
  ///
  /// `checksums` (part number to base64 CRC-32C) is given when the upload was created with
  /// `x-amz-checksum-algorithm: CRC32C`: S3 then requires each part's checksum here.
  package static func completeMultipartUpload(parts: [(number: Int, eTag: String)], checksums: [Int: String] = [:]) -> [UInt8] {
    var xml = "<CompleteMultipartUpload xmlns=\"\(namespace)\">"
    for part in parts.sorted(by: { $0.number < $1.number }) {
      xml += "<Part><PartNumber>\(part.number)</PartNumber><ETag>\(S3XMLWriter.escape(part.eTag))</ETag>"
      if let crc = checksums[part.number] { xml += "<ChecksumCRC32C>\(S3XMLWriter.escape(crc))</ChecksumCRC32C>" }
      xml += "</Part>"
    }
    xml += "</CompleteMultipartUpload>"
    return Array(xml.utf8)
  }

  /// The body of PutObjectTagging (`PUT ?tagging`): tags sorted by key. S3 allows 10 tags per
  /// object, keys up to 128 and values up to 256 characters; the request needs Content-MD5.
  package static func tagging(_ tags: [String: String]) -> [UInt8] {
    var xml = "<Tagging xmlns=\"\(namespace)\"><TagSet>"
    for (key, value) in tags.sorted(by: { $0.key < $1.key }) {
      xml += "<Tag><Key>\(S3XMLWriter.escape(key))</Key><Value>\(S3XMLWriter.escape(value))</Value></Tag>"
    }
    xml += "</TagSet></Tagging>"
    return Array(xml.utf8)
  }

  /// The body of DeleteObjects (`POST ?delete`); with `quiet` S3 lists only the keys it failed to delete.
  ///
  /// S3 takes at most `maximumDeleteKeys` keys per request and at least one: split longer lists with
  /// `deleteBatches`. The request must carry `Content-MD5: contentMD5(body)`.
  package static func deleteObjects(keys: [String], quiet: Bool) -> [UInt8] {
    var xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Delete xmlns=\"\(namespace)\">"
    if quiet { xml += "<Quiet>true</Quiet>" }
    for key in keys {
      xml += "<Object><Key>\(S3XMLWriter.escape(key))</Key></Object>"
    }
    xml += "</Delete>"
    return Array(xml.utf8)
  }

  /// `keys` cut into lists of at most `maximumDeleteKeys`, in order; no list is empty.
  package static func deleteBatches(_ keys: [String]) -> [[String]] {
    stride(from: 0, to: keys.count, by: maximumDeleteKeys).map { Array(keys[$0..<min($0 + maximumDeleteKeys, keys.count)]) }
  }

  /// The value of a `Content-MD5` header for `bytes`: the base64 of their MD5 digest (24 characters).
  package static func contentMD5(_ bytes: [UInt8]) -> String {
    Data(Insecure.MD5.hash(data: bytes)).base64EncodedString()
  }
}
