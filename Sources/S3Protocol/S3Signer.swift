import Crypto
import Foundation
import SnapshotCore

/// One HTTP request as the signer sees it.
///
/// Everything here must be exactly what goes on the wire: the signer does not re-encode the path, and the HTTP
/// client must send the query as `S3URIEncoding.canonicalQuery(query)`.
package struct S3SigningRequest: Sendable {
  /// The HTTP method, uppercase: `GET`, `PUT`, `HEAD`, `POST`, `DELETE`.
  package var method: String
  /// The path, already encoded, exactly as sent (from `S3URIEncoding.objectPath`).
  package var path: String
  /// The query items, raw (unencoded); the signer encodes and sorts them.
  package var query: [(name: String, value: String)]
  /// Every header to sign, including `host` (host[:port] exactly as sent; port omitted when default).
  ///
  /// Names may be in any case. `x-amz-date`, `x-amz-content-sha256`, `x-amz-security-token` and `authorization`
  /// are set by the signer; any of these passed here is ignored.
  package var headers: [(name: String, value: String)]
  /// Lowercase hex SHA-256 of the body (`S3Signer.payloadHash(_:)`), or `S3Signer.unsignedPayload`.
  package var payloadHash: String

  /// Makes a request description; `query` defaults to none.
  package init(
    method: String,
    path: String,
    query: [(name: String, value: String)] = [],
    headers: [(name: String, value: String)],
    payloadHash: String
  ) {
    self.method = method
    self.path = path
    self.query = query
    self.headers = headers
    self.payloadHash = payloadHash
  }
}

/// AWS Signature Version 4 for S3, with the signature in the Authorization header (payload in a single chunk).
///
/// Pure: no clock, no I/O. `description`, `debugDescription` and the mirror never show the secret or the token.
package struct S3Signer: Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
  /// The payload hash for a body that is not hashed (streamed uploads; Content-MD5 and TLS then protect the body).
  package static let unsignedPayload = "UNSIGNED-PAYLOAD"
  /// SHA-256 of the empty body, for GET, HEAD and DELETE.
  package static let emptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
  /// The algorithm name at the start of the string to sign and of the Authorization header.
  package static let algorithm = "AWS4-HMAC-SHA256"

  /// Who signs.
  package var credentials: S3Credentials
  /// The region in the credential scope, e.g. `us-east-1` (MinIO and most S3-compatible stores accept `us-east-1`).
  package var region: String
  /// The service in the credential scope: `s3`.
  package var service: String

  /// Makes a signer for `region`; `service` is `s3` except for tests of other services' documented keys.
  package init(credentials: S3Credentials, region: String, service: String = "s3") {
    self.credentials = credentials
    self.region = region
    self.service = service
  }

  /// Headers to add to the request: x-amz-date, x-amz-content-sha256, x-amz-security-token (when the credentials
  /// have a token), authorization — in that order, names lowercase.
  ///
  /// x-amz-date, x-amz-content-sha256 and x-amz-security-token are added to the signed headers automatically
  /// (the caller does not pass them). `date` is the signing time; S3 rejects requests more than 15 minutes off.
  package func sign(_ request: S3SigningRequest, date: Date) -> [(name: String, value: String)] {
    let amzDate = Self.amzDate(date)
    let headers = allHeaders(request, amzDate: amzDate)
    let canonical = canonicalRequest(request, amzDate: amzDate)
    let toSign = stringToSign(canonicalRequest: canonical, amzDate: amzDate)
    let key = SymmetricKey(data: signingKey(dateStamp: Self.dateStamp(amzDate)))
    let signature = hex(HMAC<SHA256>.authenticationCode(for: Array(toSign.utf8), using: key))
    let authorization =
      "\(Self.algorithm) Credential=\(credentials.accessKeyID)/\(credentialScope(amzDate: amzDate)), "
      + "SignedHeaders=\(Self.signedHeaders(headers)), Signature=\(signature)"
    var added: [(name: String, value: String)] = [
      (name: "x-amz-date", value: amzDate), (name: "x-amz-content-sha256", value: request.payloadHash),
    ]
    if let token = credentials.sessionToken { added.append((name: "x-amz-security-token", value: token)) }
    added.append((name: "authorization", value: authorization))
    return added
  }

  /// The canonical request: method, path, canonical query, canonical headers, signed headers and payload hash.
  ///
  /// The headers include the ones `sign` adds (x-amz-date, x-amz-content-sha256, x-amz-security-token), so
  /// this is exactly what `sign` hashes. It contains the session token when there is one: log
  /// `canonicalRequestForLog` instead.
  package func canonicalRequest(_ request: S3SigningRequest, amzDate: String) -> String {
    let headers = allHeaders(request, amzDate: amzDate)
    let canonicalHeaders = headers.map { "\($0.name):\($0.value)\n" }.joined()
    return [
      request.method,
      request.path,
      S3URIEncoding.canonicalQuery(request.query),
      canonicalHeaders,
      Self.signedHeaders(headers),
      request.payloadHash,
    ].joined(separator: "\n")
  }

  /// The canonical request with the session token's value replaced by `<redacted>`, for --debug output.
  ///
  /// Its hash is not the one signed; compare it line by line with the canonical request S3 reports in a
  /// `SignatureDoesNotMatch` error.
  package func canonicalRequestForLog(_ request: S3SigningRequest, amzDate: String) -> String {
    guard credentials.sessionToken != nil else { return canonicalRequest(request, amzDate: amzDate) }
    var redacted = self
    redacted.credentials.sessionToken = "<redacted>"
    return redacted.canonicalRequest(request, amzDate: amzDate)
  }

  /// The string to sign: algorithm, amzDate, credential scope and the hex SHA-256 of the canonical request.
  package func stringToSign(canonicalRequest: String, amzDate: String) -> String {
    let hash = hex(SHA256.hash(data: Array(canonicalRequest.utf8)))
    return [Self.algorithm, amzDate, credentialScope(amzDate: amzDate), hash].joined(separator: "\n")
  }

  /// `yyyymmdd/region/service/aws4_request` for the day of `amzDate`.
  package func credentialScope(amzDate: String) -> String {
    "\(Self.dateStamp(amzDate))/\(region)/\(service)/aws4_request"
  }

  /// HMAC chain: kDate = HMAC("AWS4"+secret, yyyymmdd), kRegion, kService, kSigning = HMAC(kService, "aws4_request").
  ///
  /// Returns the 32 bytes of kSigning. It depends only on the day, region and service, so it could be cached.
  package func signingKey(dateStamp: String) -> [UInt8] {
    var key = SymmetricKey(data: Array(("AWS4" + credentials.secretAccessKey).utf8))
    for part in [dateStamp, region, service, "aws4_request"] {
      key = SymmetricKey(data: HMAC<SHA256>.authenticationCode(for: Array(part.utf8), using: key))
    }
    return key.withUnsafeBytes { Array($0) }
  }

  /// "20130524T000000Z": the date in UTC, ISO 8601 basic format, whole seconds (rounded down).
  ///
  /// Computed with integer arithmetic on the proleptic Gregorian calendar: the machine's locale and time zone
  /// play no part. Dates beyond ±10^15 s (and NaN) are clamped rather than trapping.
  package static func amzDate(_ date: Date) -> String {
    let interval = date.timeIntervalSince1970
    let seconds = interval.isNaN ? 0 : Int64(min(max(interval.rounded(.down), -1e15), 1e15))
    let (days, secondOfDay) = floorDivision(seconds, 86_400)
    let (year, month, day) = civilDate(daysSince1970: days)
    return pad(year, 4) + pad(month, 2) + pad(day, 2) + "T" + pad(secondOfDay / 3600, 2) + pad(secondOfDay / 60 % 60, 2)
      + pad(secondOfDay % 60, 2) + "Z"
  }

  /// Lowercase hex SHA-256 of a body, for `S3SigningRequest.payloadHash`.
  package static func payloadHash(_ body: some DataProtocol) -> String {
    hex(SHA256.hash(data: body))
  }

  /// `S3Signer(accessKeyID: …, region: …, service: s3)`: no secret, no token.
  package var description: String {
    "S3Signer(accessKeyID: \(credentials.accessKeyID), region: \(region), service: \(service))"
  }

  /// The same text as `description`.
  package var debugDescription: String { description }

  /// A mirror whose credentials child is itself redacted, so that `dump()` shows no secret.
  package var customMirror: Mirror {
    Mirror(self, children: ["credentials": credentials, "region": region, "service": service], displayStyle: .struct)
  }

  /// The headers to sign, lowercase, sorted by name, values trimmed and joined with "," when a name repeats.
  private func allHeaders(_ request: S3SigningRequest, amzDate: String) -> [(name: String, value: String)] {
    var values: [String: [String]] = [:]
    for header in request.headers {
      let name = header.name.lowercased()
      if Self.signerHeaders.contains(name) { continue }
      values[name, default: []].append(Self.trimAll(header.value))
    }
    values["x-amz-date"] = [amzDate]
    values["x-amz-content-sha256"] = [request.payloadHash]
    if let token = credentials.sessionToken { values["x-amz-security-token"] = [Self.trimAll(token)] }
    return values.map { (name: $0.key, value: $0.value.joined(separator: ",")) }
      .sorted { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }
  }

  /// Header names the signer sets itself.
  private static let signerHeaders: Set<String> = ["x-amz-date", "x-amz-content-sha256", "x-amz-security-token", "authorization"]

  /// The sorted lowercase names joined with ";".
  private static func signedHeaders(_ headers: [(name: String, value: String)]) -> String {
    headers.map(\.name).joined(separator: ";")
  }

  /// AWS Trimall: leading and trailing blanks removed, each inner run of blanks (space, tab) made one space.
  private static func trimAll(_ value: String) -> String {
    var out: [UInt8] = []
    var pendingSpace = false
    for byte in value.utf8 {
      if byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") {
        pendingSpace = !out.isEmpty
      } else {
        if pendingSpace { out.append(UInt8(ascii: " ")) }
        pendingSpace = false
        out.append(byte)
      }
    }
    return String(decoding: out, as: UTF8.self)
  }

  /// The `yyyymmdd` prefix of an amzDate.
  private static func dateStamp(_ amzDate: String) -> String { String(amzDate.prefix(8)) }

  /// `value` in decimal, zero-padded on the left to `width` digits.
  private static func pad(_ value: some BinaryInteger, _ width: Int) -> String {
    let digits = String(value)
    return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
  }

  /// Quotient rounded towards minus infinity and the non-negative remainder.
  private static func floorDivision(_ value: Int64, _ divisor: Int64) -> (quotient: Int64, remainder: Int64) {
    let quotient = value >= 0 ? value / divisor : -((-value + divisor - 1) / divisor)
    return (quotient, value - quotient * divisor)
  }

  /// Year, month and day of the day `days` after 1970-01-01 (Howard Hinnant's `civil_from_days`).
  private static func civilDate(daysSince1970 days: Int64) -> (year: Int64, month: Int64, day: Int64) {
    let shifted = days + 719_468  // days since 0000-03-01
    let era = floorDivision(shifted, 146_097).quotient
    let dayOfEra = shifted - era * 146_097  // [0, 146096]
    let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365  // [0, 399]
    let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)  // [0, 365], from March 1
    let monthIndex = (5 * dayOfYear + 2) / 153  // [0, 11], March = 0
    let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
    let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
    let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
    return (year, month, day)
  }
}
