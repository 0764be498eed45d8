import SnapshotCore

/// What went wrong with one S3 request: the HTTP answer, its `<Error>` body, or no answer at all.
package struct S3Failure: Sendable {
  /// The HTTP status, when an answer came (200 for an `<Error>` inside a CompleteMultipartUpload answer).
  package var httpStatus: Int?
  /// The `<Error>` body, when there was one (HEAD answers have none).
  package var response: S3ErrorResponse?
  /// Why no answer came (connection refused or reset, attempt timed out, TLS failure), as text.
  package var transportError: String?
  /// The `x-amz-bucket-region` header, which S3 sends with 301 answers even to HEAD.
  package var bucketRegion: String?

  /// Makes a failure.
  package init(httpStatus: Int? = nil, response: S3ErrorResponse? = nil, transportError: String? = nil, bucketRegion: String? = nil) {
    self.httpStatus = httpStatus
    self.response = response
    self.transportError = transportError
    self.bucketRegion = bucketRegion
  }
}

/// Decides which S3 failures are worth another attempt and turns the final one into a `SnapshotError`.
///
/// Messages name the operation, the bucket (and key) and the fix; they never contain a credential:
/// the endpoint loses any `user:password@`, and server text is cut to one line of 300 characters.
package enum S3ErrorClassifier {
  /// Codes that a later attempt can cure: server trouble, throttling, and data damaged on the way.
  package static let retryableCodes: Set<String> = [
    "InternalError", "SlowDown", "ServiceUnavailable", "RequestTimeout", "Throttling", "ThrottlingException",
    "BadDigest", "InvalidDigest", "XAmzContentSHA256Mismatch", "IncompleteBody",
  ]
  /// HTTP statuses that a later attempt can cure (429: MinIO and Ceph throttle with it).
  package static let retryableStatuses: Set<Int> = [429, 500, 502, 503, 504]
  /// Codes meaning the request body arrived damaged.
  static let digestCodes: Set<String> = ["BadDigest", "InvalidDigest", "XAmzContentSHA256Mismatch"]

  /// Whether to send the request again: every transport error, the codes in `retryableCodes`,
  /// the statuses in `retryableStatuses`; never other 4xx answers (also not `RequestTimeTooSkewed` or `ExpiredToken`).
  package static func isRetryable(_ f: S3Failure) -> Bool {
    if f.transportError != nil { return true }
    if let code = f.response?.code, retryableCodes.contains(code) { return true }
    if let status = f.httpStatus, retryableStatuses.contains(status) { return true }
    return false
  }

  /// The error to report for `f`, the last failure of `operation` (an S3 action name such as `PutObject`).
  ///
  /// `key` is nil for bucket-level operations; `endpoint` is the `--s3-endpoint` in use. An empty
  /// `bucket` or `endpoint` (a caller that does not know them) reads "the bucket", "the S3 endpoint".
  package static func error(for f: S3Failure, operation: String, bucket: String, key: String?, endpoint: String) -> SnapshotError {
    let endpoint = endpoint.isEmpty ? "the S3 endpoint" : withoutUserInfo(endpoint)
    let place: String
    switch (bucket.isEmpty, key) {
    case (false, let key?): place = "\(bucket)/\(key)"
    case (true, let key?): place = key
    case (false, nil): place = "bucket \(bucket)"
    case (true, nil): place = "the bucket"
    }
    let named = bucket.isEmpty ? "the bucket" : "bucket \(bucket)"
    if let transport = f.transportError {
      return SnapshotError(
        .unavailable,
        "cannot reach the S3 endpoint \(endpoint) (\(S3ResponseCheck.sanitized(transport))) for \(operation) on \(place): "
          + "check --s3-endpoint, --s3-insecure, the proxy settings (HTTPS_PROXY, NO_PROXY) and that the server is up"
      )
    }
    let code = f.response?.code ?? ""
    let status = f.httpStatus
    let what = describe(status: status, code: code)
    switch code {
    case "NoSuchBucket":
      return notFoundBucket(named, endpoint: endpoint)
    case "NoSuchKey":
      return notFoundKey(key, named: named)
    case "NoSuchUpload":
      return SnapshotError(
        .io,
        "the multipart upload to \(place) no longer exists (NoSuchUpload during \(operation)): it was aborted, completed "
          + "or removed by a lifecycle rule while it ran; run the backup again"
      )
    case "AccessDenied", "AllAccessDisabled", "AccountProblem":
      return accessDenied(operation: operation, place: place, what: what)
    case "SignatureDoesNotMatch":
      return SnapshotError(
        .permissionDenied,
        "the S3 secret key does not match the access key (SignatureDoesNotMatch): "
          + "check --s3-secret-key, AWS_SECRET_ACCESS_KEY or the credentials file"
      )
    case "InvalidAccessKeyId":
      return SnapshotError(
        .permissionDenied,
        "the S3 access key is not known to the server (InvalidAccessKeyId): check --s3-access-key / AWS_ACCESS_KEY_ID"
      )
    case "ExpiredToken", "InvalidToken", "TokenRefreshRequired":
      return SnapshotError(
        .permissionDenied,
        "the S3 session token has expired or is not valid (\(code)): get fresh temporary credentials and set them with "
          + "--s3-session-token / AWS_SESSION_TOKEN (with the access key and secret key issued with it)"
      )
    case "RequestTimeTooSkewed":
      return SnapshotError(
        .invalidConfiguration,
        "this machine's clock differs from the S3 server's by more than 15 minutes: fix the clock (NTP) and retry"
      )
    case "AuthorizationHeaderMalformed":
      if let region = f.response?.region ?? f.bucketRegion {
        return SnapshotError(.invalidConfiguration, "\(named) is in region \(region), not the one given: set --s3-region \(region)")
      }
      return SnapshotError(
        .invalidConfiguration,
        "the S3 server refused the request's authorization for \(operation) on \(place) (\(what)): check --s3-region"
      )
    case "PermanentRedirect", "TemporaryRedirect", "Redirect":
      return redirect(f, operation: operation, bucket: bucket, named: named, endpoint: endpoint, what: what)
    case "InvalidBucketName":
      return SnapshotError(
        .invalidConfiguration,
        "the S3 server does not accept \(bucket.isEmpty ? "the" : bucket) as a bucket name (InvalidBucketName): use 3 to 63 lowercase letters, "
          + "digits, dots and hyphens, starting and ending with a letter or digit, in --s3-bucket"
      )
    case "XMinioStorageFull", "QuotaExceeded", "XMinioAdminBucketQuotaExceeded":
      return SnapshotError(
        .cannotWrite,
        "the S3 server has no room for \(operation) on \(place) (\(what)): free space or raise the quota on the server"
      )
    default:
      break
    }
    if digestCodes.contains(code) {
      return SnapshotError(
        .io,
        "the S3 server kept receiving the data of \(operation) on \(place) damaged (\(what)) until --s3-timeout ran out: "
          + "check for a proxy or network device that alters requests"
      )
    }
    if isRetryable(f) {
      return SnapshotError(
        .unavailable,
        "the S3 server kept failing (\(what)) for \(operation) on \(place) until --s3-timeout ran out: "
          + "try again later or raise --s3-timeout"
      )
    }
    switch status {
    case 404 where code.isEmpty:
      return key == nil ? notFoundBucket(named, endpoint: endpoint) : notFoundKey(key, named: named)
    case 403 where code.isEmpty:
      return accessDenied(operation: operation, place: place, what: what)
    case 301 where code.isEmpty, 307 where code.isEmpty:
      return redirect(f, operation: operation, bucket: bucket, named: named, endpoint: endpoint, what: what)
    default:
      break
    }
    var detail = what
    if let message = f.response?.message, !message.isEmpty { detail += ": " + S3ResponseCheck.sanitized(message) }
    if let requestID = f.response?.requestID { detail += "; request ID \(S3ResponseCheck.sanitized(requestID))" }
    return SnapshotError(
      .io,
      "S3 \(operation) on \(place) failed (\(detail)): check the server's logs, and that --s3-endpoint \(endpoint) "
        + "is an S3-compatible service"
    )
  }

  /// "503 SlowDown", "HTTP 500", "InternalError" or "no answer", for messages.
  private static func describe(status: Int?, code: String) -> String {
    switch (status, code.isEmpty) {
    case (let status?, false): "\(status) \(code)"
    case (let status?, true): "HTTP \(status)"
    case (nil, false): code
    case (nil, true): "no answer"
    }
  }

  private static func notFoundBucket(_ named: String, endpoint: String) -> SnapshotError {
    SnapshotError(.notFound, "\(named) does not exist at \(endpoint): create it, or fix --s3-bucket / --s3-endpoint")
  }

  private static func notFoundKey(_ key: String?, named: String) -> SnapshotError {
    SnapshotError(
      .notFound,
      "no object \(key ?? "of that name") in \(named): check the name with `etcd-snapshot ls --s3`"
    )
  }

  private static func accessDenied(operation: String, place: String, what: String) -> SnapshotError {
    SnapshotError(
      .permissionDenied,
      "access denied to \(place) for \(operation) (\(what)): the key needs s3:GetObject, s3:PutObject, s3:ListBucket, "
        + "s3:DeleteObject, s3:AbortMultipartUpload on the bucket"
    )
  }

  /// The message for a bucket that another endpoint serves (S3 sends the host, sometimes with the bucket in front).
  private static func redirect(
    _ f: S3Failure, operation: String, bucket: String, named: String, endpoint: String, what: String
  ) -> SnapshotError {
    var region = f.bucketRegion
    if let host = f.response?.endpoint {
      var bare = host
      if !bucket.isEmpty, bare.hasPrefix(bucket + "."), bare.count > bucket.count + 1 { bare = String(bare.dropFirst(bucket.count + 1)) }
      if region == nil { region = regionOfAWSHost(bare) }
      let scheme = endpoint.lowercased().hasPrefix("http://") ? "http://" : "https://"
      let suggested = bare.contains("://") ? withoutUserInfo(bare) : scheme + bare
      let regionHint = region.map { " and --s3-region \($0)" } ?? ""
      return SnapshotError(
        .invalidConfiguration,
        "\(named) must be addressed through \(suggested): set --s3-endpoint \(suggested)\(regionHint)"
      )
    }
    if let region {
      return SnapshotError(
        .invalidConfiguration,
        "\(named) is in region \(region) and not served by \(endpoint) (\(what)): set --s3-region \(region) "
          + "and --s3-endpoint to that region's endpoint (for AWS: https://s3.\(region).amazonaws.com)"
      )
    }
    return SnapshotError(
      .invalidConfiguration,
      "\(named) is not served by \(endpoint) (\(what) for \(operation)): set --s3-endpoint to the endpoint of the bucket's region"
    )
  }

  /// `eu-west-1` of `s3.eu-west-1.amazonaws.com`, `s3.dualstack.eu-west-1.amazonaws.com` or `s3-eu-west-1.amazonaws.com`; nil otherwise.
  private static func regionOfAWSHost(_ host: String) -> String? {
    let labels = host.lowercased().split(separator: ".")
    guard labels.count >= 3, labels.suffix(2) == ["amazonaws", "com"] else { return nil }
    if labels[0] == "s3", labels.count >= 5, labels[1] == "dualstack" { return String(labels[2]) }
    if labels[0] == "s3", labels.count >= 4, labels[1] != "dualstack" { return String(labels[1]) }
    if labels[0].hasPrefix("s3-") { return String(labels[0].dropFirst(3)) }
    return nil
  }

  /// `endpoint` without any `user:password@` after the scheme.
  static func withoutUserInfo(_ endpoint: String) -> String {
    let schemeEnd = endpoint.range(of: "://")?.upperBound ?? endpoint.startIndex
    let rest = endpoint[schemeEnd...]
    let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? rest.endIndex
    guard let at = rest[..<authorityEnd].lastIndex(of: "@") else { return endpoint }
    return String(endpoint[..<schemeEnd]) + String(endpoint[endpoint.index(after: at)...])
  }
}
