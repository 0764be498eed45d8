import Foundation
import SnapshotCore

/// One object of a bucket listing.
package struct S3ObjectSummary: Sendable, Equatable {
  /// The object key, decoded (entities, and percent-encoding when the server used `EncodingType` url).
  package var key: String
  /// Size in bytes.
  package var size: Int64
  /// When the object was last written; nil when the server sent no time or one we cannot read.
  package var lastModified: Date?
  /// The ETag as sent, quotes included (`"9b2cf535f27731c974343645a3985328"`); nil when absent.
  package var eTag: String?

  /// Makes a summary.
  package init(key: String, size: Int64, lastModified: Date? = nil, eTag: String? = nil) {
    self.key = key
    self.size = size
    self.lastModified = lastModified
    self.eTag = eTag
  }
}

/// A multipart upload in progress, as ListMultipartUploads names it.
package struct S3UploadSummary: Sendable, Equatable {
  package var key: String
  package var uploadID: String

  package init(key: String, uploadID: String) {
    self.key = key
    self.uploadID = uploadID
  }
}

/// One page of a ListMultipartUploads answer.
package struct S3UploadsPage: Sendable, Equatable {
  package var uploads: [S3UploadSummary]
  package var isTruncated: Bool
  package var nextKeyMarker: String?
  package var nextUploadIDMarker: String?
}

/// One page of a ListObjectsV2 answer.
package struct S3ListPage: Sendable, Equatable {
  /// The objects of this page, in the order the server sent them (S3: ascending UTF-8 key order).
  package var objects: [S3ObjectSummary]
  /// The `CommonPrefixes/Prefix` values (only when the request had a delimiter).
  package var commonPrefixes: [String]
  /// Whether more pages follow.
  package var isTruncated: Bool
  /// The token for the next page; never nil when `isTruncated` (the parser refuses such a page).
  package var nextContinuationToken: String?

  /// Makes a page.
  package init(objects: [S3ObjectSummary], commonPrefixes: [String] = [], isTruncated: Bool = false, nextContinuationToken: String? = nil) {
    self.objects = objects
    self.commonPrefixes = commonPrefixes
    self.isTruncated = isTruncated
    self.nextContinuationToken = nextContinuationToken
  }
}

/// Parsers of the S3 answers the client reads: listings and the multipart upload steps.
package enum S3Responses {
  /// Reads a ListObjectsV2 response body (root `ListBucketResult`).
  ///
  /// Keys and prefixes are percent-decoded when the body says `<EncodingType>url</EncodingType>`
  /// (S3 then writes a space as `+`, moto as `%20`; both decode). A truncated page without
  /// `NextContinuationToken` is refused, since paging on would list the first page forever.
  package static func parseListObjectsV2(_ bytes: [UInt8]) throws(SnapshotError) -> S3ListPage {
    let root = try S3XML.parse(bytes)
    try S3ResponseCheck.expectRoot(root, "ListBucketResult", operation: "ListObjectsV2")
    let urlEncoded = root.value("EncodingType")?.trimmingCharacters(in: .whitespaces).lowercased() == "url"
    func decoded(_ raw: String) throws(SnapshotError) -> String {
      guard urlEncoded else { return raw }
      guard let plain = S3ResponseCheck.percentDecoded(raw) else {
        throw SnapshotError(
          .io,
          "the S3 server sent a key in a listing that is not valid URL encoding (\(raw.prefix(200))); "
            + "check that --s3-endpoint points to an S3-compatible service"
        )
      }
      return plain
    }
    var objects: [S3ObjectSummary] = []
    for contents in root.children("Contents") {
      guard let rawKey = contents.value("Key") else { throw S3ResponseCheck.missing("Contents/Key", operation: "ListObjectsV2") }
      let key = try decoded(rawKey)
      guard let sizeText = contents.value("Size") else { throw S3ResponseCheck.missing("Size of \(key)", operation: "ListObjectsV2") }
      guard let size = Int64(sizeText.trimmingCharacters(in: .whitespacesAndNewlines)), size >= 0 else {
        throw S3ResponseCheck.invalid("Size \(sizeText.prefix(40)) of \(key)", operation: "ListObjectsV2")
      }
      let lastModified = contents.value("LastModified").flatMap(S3Timestamp.parse)
      objects.append(S3ObjectSummary(key: key, size: size, lastModified: lastModified, eTag: contents.value("ETag")))
    }
    var prefixes: [String] = []
    for common in root.children("CommonPrefixes") {
      for prefix in common.children("Prefix") { prefixes.append(try decoded(prefix.text)) }
    }
    let truncatedText = root.value("IsTruncated")?.trimmingCharacters(in: .whitespacesAndNewlines).lowercased() ?? "false"
    guard truncatedText == "true" || truncatedText == "false" else {
      throw S3ResponseCheck.invalid("IsTruncated \(truncatedText.prefix(40))", operation: "ListObjectsV2")
    }
    let token = root.value("NextContinuationToken").flatMap { $0.isEmpty ? nil : $0 }
    if truncatedText == "true" && token == nil {
      throw SnapshotError(
        .io,
        "the S3 server said the listing goes on (IsTruncated) but sent no NextContinuationToken; "
          + "check that --s3-endpoint points to an S3-compatible service that supports ListObjectsV2"
      )
    }
    return S3ListPage(objects: objects, commonPrefixes: prefixes, isTruncated: truncatedText == "true", nextContinuationToken: token)
  }

  /// Reads a ListMultipartUploads (`GET ?uploads`) body (root `ListMultipartUploadsResult`).
  /// A truncated page without both markers is refused, since paging on would repeat it.
  package static func parseListMultipartUploads(_ bytes: [UInt8]) throws(SnapshotError) -> S3UploadsPage {
    let root = try S3XML.parse(bytes)
    try S3ResponseCheck.expectRoot(root, "ListMultipartUploadsResult", operation: "ListMultipartUploads")
    var uploads: [S3UploadSummary] = []
    for upload in root.children("Upload") {
      guard let key = upload.value("Key"), let id = upload.value("UploadId"), !id.isEmpty else {
        throw S3ResponseCheck.missing("Upload/Key or Upload/UploadId", operation: "ListMultipartUploads")
      }
      uploads.append(S3UploadSummary(key: key, uploadID: id))
    }
    let truncated = root.value("IsTruncated")?.trimmingCharacters(in: .whitespacesAndNewlines).lowercased() == "true"
    let keyMarker = root.value("NextKeyMarker").flatMap { $0.isEmpty ? nil : $0 }
    let idMarker = root.value("NextUploadIdMarker").flatMap { $0.isEmpty ? nil : $0 }
    if truncated && keyMarker == nil {
      throw SnapshotError(.io, "the S3 server said the list of multipart uploads goes on (IsTruncated) but sent no NextKeyMarker")
    }
    return S3UploadsPage(uploads: uploads, isTruncated: truncated, nextKeyMarker: keyMarker, nextUploadIDMarker: idMarker)
  }

  /// The UploadId of a CreateMultipartUpload (`POST ?uploads`) answer.
  ///
  /// An `<Error>` body (some servers send one with a 2xx status) throws `.io` naming its code and message.
  package static func parseInitiateMultipartUpload(_ bytes: [UInt8]) throws(SnapshotError) -> String {
    let root = try S3XML.parse(bytes)
    try S3ResponseCheck.expectRoot(root, "InitiateMultipartUploadResult", operation: "CreateMultipartUpload")
    guard let uploadID = root.value("UploadId"), !uploadID.isEmpty else {
      throw S3ResponseCheck.missing("UploadId", operation: "CreateMultipartUpload")
    }
    return uploadID
  }

  /// The ETag (and CRC-32C, when the upload has that checksum) of an UploadPartCopy answer.
  /// An `<Error>` body (S3 may send one with a 200) throws `.io` naming its code.
  package static func parseCopyPartResult(_ bytes: [UInt8]) throws(SnapshotError) -> (eTag: String, crc32c: String?) {
    let root = try S3XML.parse(bytes)
    let result = root.name == "CopyPartResult" ? root : root.child("CopyPartResult")
    guard let result else {
      try S3ResponseCheck.expectRoot(root, "CopyPartResult", operation: "UploadPartCopy")
      throw S3ResponseCheck.missing("CopyPartResult", operation: "UploadPartCopy")
    }
    guard let eTag = result.value("ETag"), !eTag.isEmpty else { throw S3ResponseCheck.missing("ETag", operation: "UploadPartCopy") }
    return (eTag, result.value("ChecksumCRC32C"))
  }

  /// What a CompleteMultipartUpload answer says: done, with the object's ETag, or an `<Error>`.
  ///
  /// S3 answers this request with HTTP 200 before it has finished and reports a late failure as an
  /// `<Error>` body in that 200; `InternalError` there means: send the same request again.
  /// The root is `CompleteMultipartUploadResult` (S3, MinIO, Ceph) or `CompleteMultipartUploadResponse` (moto).
  package static func parseCompleteMultipartUploadOutcome(_ bytes: [UInt8]) throws(SnapshotError) -> S3CompleteOutcome {
    let root = try S3XML.parse(bytes)
    if root.name == "Error", let failure = S3ErrorResponse.parse(bytes) { return .failed(failure) }
    if root.name != "CompleteMultipartUploadResponse" {
      try S3ResponseCheck.expectRoot(root, "CompleteMultipartUploadResult", operation: "CompleteMultipartUpload")
    }
    guard let eTag = root.value("ETag"), !eTag.isEmpty else {
      throw S3ResponseCheck.missing("ETag", operation: "CompleteMultipartUpload")
    }
    return .completed(eTag: eTag, checksum: root.value(S3Checksum.element).flatMap { $0.isEmpty ? nil : $0 })
  }

  /// The ETag of the completed object, quotes included; an `<Error>` body throws the classified error.
  ///
  /// The error is what `S3ErrorClassifier.error(for:…)` makes of an HTTP 200 with that body, so an
  /// `InternalError` reads "the S3 server kept failing": call this once retries are over, and use
  /// `parseCompleteMultipartUploadOutcome` with `S3ErrorClassifier.isRetryable` to decide on retrying.
  /// `bucket`, `key` and `endpoint` go into that message; left out, it says "the bucket" and "the S3 endpoint".
  package static func parseCompleteMultipartUpload(
    _ bytes: [UInt8], bucket: String = "", key: String? = nil, endpoint: String = ""
  ) throws(SnapshotError) -> String {
    switch try parseCompleteMultipartUploadOutcome(bytes) {
    case .completed(let eTag, _):
      return eTag
    case .failed(let response):
      throw S3ErrorClassifier.error(
        for: S3Failure(httpStatus: 200, response: response), operation: "CompleteMultipartUpload", bucket: bucket, key: key, endpoint: endpoint
      )
    }
  }
}

/// The answer to CompleteMultipartUpload.
package enum S3CompleteOutcome: Sendable, Equatable {
  /// The object exists now; its ETag as sent (quotes included, `"…-N"` for N parts), and its
  /// composite CRC-32C (`base64-N`) when the upload was made with that checksum algorithm.
  case completed(eTag: String, checksum: String?)
  /// The server reported an error inside a 2xx answer.
  case failed(S3ErrorResponse)
}

/// The `<Error>` body S3 sends with a failed request.
package struct S3ErrorResponse: Sendable, Equatable {
  /// The S3 error code (`NoSuchKey`, `SlowDown`, …); may be empty when a server sent `<Error>` without one.
  package var code: String
  /// The server's human-readable message; empty when absent.
  package var message: String
  /// `RequestId`, for the server's logs.
  package var requestID: String?
  /// The bucket's region, sent with `AuthorizationHeaderMalformed`.
  package var region: String?
  /// The host to use instead, sent with `PermanentRedirect` and `TemporaryRedirect`.
  package var endpoint: String?

  /// Makes an error response.
  package init(code: String, message: String, requestID: String? = nil, region: String? = nil, endpoint: String? = nil) {
    self.code = code
    self.message = message
    self.requestID = requestID
    self.region = region
    self.endpoint = endpoint
  }

  /// Reads an `<Error>` body; nil when `bytes` is empty, not XML, or XML with another root.
  package static func parse(_ bytes: [UInt8]) -> S3ErrorResponse? {
    guard !bytes.isEmpty, let root = try? S3XML.parse(bytes), root.name == "Error" else { return nil }
    func trimmed(_ name: String) -> String? {
      guard let value = root.value(name)?.trimmingCharacters(in: .whitespacesAndNewlines), !value.isEmpty else { return nil }
      return value
    }
    return S3ErrorResponse(
      code: trimmed("Code") ?? "",
      message: trimmed("Message") ?? "",
      requestID: trimmed("RequestId"),
      region: trimmed("Region"),
      endpoint: trimmed("Endpoint")
    )
  }
}

/// The answer to DeleteObjects (`POST ?delete`): the keys deleted and the ones that were not.
package struct S3DeleteResult: Sendable, Equatable {
  /// One key S3 could not delete.
  package struct Failure: Sendable, Equatable {
    /// The key.
    package var key: String
    /// The S3 error code (`AccessDenied`, `InternalError`, …).
    package var code: String
    /// The server's message.
    package var message: String

    /// Makes a failure.
    package init(key: String, code: String, message: String) {
      self.key = key
      self.code = code
      self.message = message
    }
  }

  /// Keys reported deleted (none with `Quiet`; S3 lists keys that did not exist as deleted too).
  package var deleted: [String]
  /// Keys that could not be deleted.
  package var failures: [Failure]

  /// Makes a result.
  package init(deleted: [String], failures: [Failure]) {
    self.deleted = deleted
    self.failures = failures
  }

  /// Reads a `DeleteResult` body; a whole-request `<Error>` throws `.io` with its code and message.
  package static func parse(_ bytes: [UInt8]) throws(SnapshotError) -> S3DeleteResult {
    let root = try S3XML.parse(bytes)
    try S3ResponseCheck.expectRoot(root, "DeleteResult", operation: "DeleteObjects")
    let deleted = root.children("Deleted").compactMap { $0.value("Key") }
    let failures = root.children("Error").map {
      Failure(key: $0.value("Key") ?? "", code: $0.value("Code") ?? "", message: $0.value("Message") ?? "")
    }
    return S3DeleteResult(deleted: deleted, failures: failures)
  }
}

/// Reading of the ISO 8601 times in S3 bodies, without locales or formatters.
package enum S3Timestamp {
  /// `2009-10-12T17:50:30.000Z` as a Date; the fraction is optional, and `+hh:mm` / `-hh:mm` offsets are read too.
  ///
  /// Returns nil for anything else (also out-of-range fields); a leap second `:60` reads as the next second.
  package static func parse(_ text: String) -> Date? {
    let b = Array(text.utf8)
    var i = 0
    func digits(_ count: Int) -> Int? {
      guard i + count <= b.count else { return nil }
      var value = 0
      for k in i..<(i + count) {
        guard b[k] >= UInt8(ascii: "0") && b[k] <= UInt8(ascii: "9") else { return nil }
        value = value * 10 + Int(b[k] - UInt8(ascii: "0"))
      }
      i += count
      return value
    }
    func literal(_ c: UInt8) -> Bool {
      guard i < b.count, b[i] == c else { return false }
      i += 1
      return true
    }
    guard let year = digits(4), literal(UInt8(ascii: "-")), let month = digits(2), literal(UInt8(ascii: "-")), let day = digits(2),
      literal(UInt8(ascii: "T")) || literal(UInt8(ascii: "t")) || literal(UInt8(ascii: " ")),
      let hour = digits(2), literal(UInt8(ascii: ":")), let minute = digits(2), literal(UInt8(ascii: ":")), let second = digits(2)
    else { return nil }
    guard (1...12).contains(month), day >= 1, day <= daysInMonth(year: year, month: month), hour <= 23, minute <= 59, second <= 60 else {
      return nil
    }
    var fraction = 0.0
    if literal(UInt8(ascii: ".")) {
      var scale = 0.1
      let start = i
      while i < b.count, b[i] >= UInt8(ascii: "0"), b[i] <= UInt8(ascii: "9") {
        fraction += Double(b[i] - UInt8(ascii: "0")) * scale
        scale /= 10
        i += 1
      }
      guard i > start else { return nil }
    }
    var offsetSeconds = 0
    if literal(UInt8(ascii: "Z")) || literal(UInt8(ascii: "z")) {
      // UTC
    } else if i < b.count, b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") {
      let sign = b[i] == UInt8(ascii: "-") ? -1 : 1
      i += 1
      guard let offsetHours = digits(2), literal(UInt8(ascii: ":")), let offsetMinutes = digits(2), offsetHours <= 23, offsetMinutes <= 59
      else { return nil }
      offsetSeconds = sign * (offsetHours * 3600 + offsetMinutes * 60)
    } else {
      return nil
    }
    guard i == b.count else { return nil }
    let days = daysFromCivil(year: year, month: month, day: day)
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offsetSeconds
    return Date(timeIntervalSince1970: Double(seconds) + fraction)
  }

  private static func isLeapYear(_ year: Int) -> Bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
  }

  private static func daysInMonth(year: Int, month: Int) -> Int {
    switch month {
    case 2: isLeapYear(year) ? 29 : 28
    case 4, 6, 9, 11: 30
    default: 31
    }
  }

  /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
  private static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
    let y = month <= 2 ? year - 1 : year
    let era = (y >= 0 ? y : y - 399) / 400
    let yearOfEra = y - era * 400
    let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
    let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
    return era * 146_097 + dayOfEra - 719_468
  }
}

/// Checks and messages shared by the response parsers.
enum S3ResponseCheck {
  /// Throws unless `root` is named `expected`; an `<Error>` root throws its code and message.
  static func expectRoot(_ root: S3XMLElement, _ expected: String, operation: String) throws(SnapshotError) {
    if root.name == expected { return }
    if root.name == "Error" {
      let code = root.value("Code") ?? "no code"
      let message = sanitized(root.value("Message") ?? "")
      throw SnapshotError(
        .io,
        "S3 \(operation) failed with \(code)\(message.isEmpty ? "" : ": \(message)"); "
          + "check the server's logs, or that --s3-endpoint points to an S3-compatible service"
      )
    }
    throw SnapshotError(
      .io,
      "the S3 server answered \(operation) with <\(root.name.prefix(80))> instead of <\(expected)>; "
        + "check that --s3-endpoint points to an S3-compatible service"
    )
  }

  /// The error for a required element the body lacks.
  static func missing(_ what: String, operation: String) -> SnapshotError {
    SnapshotError(
      .io,
      "the S3 server's answer to \(operation) has no \(what); check that --s3-endpoint points to an S3-compatible service"
    )
  }

  /// The error for an element whose text cannot be read.
  static func invalid(_ what: String, operation: String) -> SnapshotError {
    SnapshotError(
      .io,
      "the S3 server's answer to \(operation) has an invalid \(what); check that --s3-endpoint points to an S3-compatible service"
    )
  }

  /// Server text made fit for one line of a message: control characters replaced, at most 300 characters.
  static func sanitized(_ text: String) -> String {
    let flat = String(text.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7F ? " " : Character($0) })
      .trimmingCharacters(in: .whitespaces)
    return flat.count > 300 ? String(flat.prefix(300)) + "…" : flat
  }

  /// `application/x-www-form-urlencoded` decoding as S3's `EncodingType` url needs: `+` is a space, `%XX` a byte.
  ///
  /// Nil when a `%` is not followed by two hex digits or the bytes are not UTF-8.
  static func percentDecoded(_ text: String) -> String? {
    var out: [UInt8] = []
    out.reserveCapacity(text.utf8.count)
    var iterator = text.utf8.makeIterator()
    while let byte = iterator.next() {
      switch byte {
      case UInt8(ascii: "+"):
        out.append(UInt8(ascii: " "))
      case UInt8(ascii: "%"):
        guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else { return nil }
        out.append(high << 4 | low)
      default:
        out.append(byte)
      }
    }
    return String(validating: out, as: UTF8.self)
  }

  private static func hexValue(_ byte: UInt8) -> UInt8? {
    switch byte {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
    default: nil
    }
  }
}
