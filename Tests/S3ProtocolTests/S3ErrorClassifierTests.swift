import S3Protocol
import SnapshotCore
import Testing

/// A failure with an `<Error>` body of `code`.
private func failure(_ status: Int?, _ code: String, message: String = "", region: String? = nil, endpoint: String? = nil) -> S3Failure {
  S3Failure(httpStatus: status, response: S3ErrorResponse(code: code, message: message, region: region, endpoint: endpoint))
}

/// The error for `f` during a GetObject of `backups/etcd/snap.db` at `https://s3.example.com`.
private func objectError(_ f: S3Failure) -> SnapshotError {
  S3ErrorClassifier.error(for: f, operation: "GetObject", bucket: "backups", key: "etcd/snap.db", endpoint: "https://s3.example.com")
}

/// The error for `f` during a ListObjectsV2 of bucket `backups` at `https://s3.example.com`.
private func bucketError(_ f: S3Failure) -> SnapshotError {
  S3ErrorClassifier.error(for: f, operation: "ListObjectsV2", bucket: "backups", key: nil, endpoint: "https://s3.example.com")
}

@Suite("S3ErrorClassifier: what to retry, and what to tell the user")
struct S3ErrorClassifierTests {
  static let retryable: [S3Failure] = [
    S3Failure(httpStatus: 500), S3Failure(httpStatus: 502), S3Failure(httpStatus: 503), S3Failure(httpStatus: 504),
    S3Failure(httpStatus: 429),
    failure(500, "InternalError"), failure(503, "SlowDown"), failure(503, "ServiceUnavailable"), failure(400, "RequestTimeout"),
    failure(400, "BadDigest"), failure(400, "InvalidDigest"), failure(400, "XAmzContentSHA256Mismatch"), failure(400, "IncompleteBody"),
    failure(200, "InternalError"), failure(nil, "SlowDown"),
    S3Failure(transportError: "connection refused"), S3Failure(transportError: "connection reset by peer"),
    S3Failure(transportError: "the attempt timed out after 30 s"),
    // moto's HTML page for a 500 has no S3 error body.
    S3Failure(httpStatus: 500, response: nil),
  ]

  @Test("retryable: 5xx gateway and server errors, throttling, damaged parts, every transport error", arguments: retryable.indices)
  func retryableFailures(index: Int) {
    #expect(S3ErrorClassifier.isRetryable(Self.retryable[index]))
  }

  static let final: [S3Failure] = [
    S3Failure(httpStatus: 400), S3Failure(httpStatus: 403), S3Failure(httpStatus: 404), S3Failure(httpStatus: 301), S3Failure(httpStatus: 501),
    failure(403, "RequestTimeTooSkewed"), failure(400, "ExpiredToken"), failure(403, "AccessDenied"), failure(404, "NoSuchKey"),
    failure(404, "NoSuchBucket"), failure(403, "SignatureDoesNotMatch"), failure(403, "InvalidAccessKeyId"),
    failure(400, "AuthorizationHeaderMalformed", region: "eu-central-1"), failure(301, "PermanentRedirect"), failure(400, "EntityTooSmall"),
    failure(400, "InvalidPart"), failure(404, "NoSuchUpload"), failure(409, "BucketNotEmpty"), failure(501, "NotImplemented"),
    S3Failure(),
  ]

  @Test("not retryable: other 4xx answers, also RequestTimeTooSkewed and ExpiredToken", arguments: final.indices)
  func finalFailures(index: Int) {
    #expect(!S3ErrorClassifier.isRetryable(Self.final[index]))
  }

  /// Error bodies captured from moto 5.2.1 (with `INITIAL_NO_AUTH_ACTION_COUNT` for the credential ones), status, and what they become.
  static let motoErrors: [(status: Int, body: String, code: SnapshotError.Code, retryable: Bool)] = [
    (
      404,
      "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<Error><Code>NoSuchBucket</Code><Message>The specified bucket does not exist</Message>"
        + "<BucketName>nobkt</BucketName><RequestId>tAhuTn6Y4XukpCW8aYJl3uFUfm9ckxkteQPMaUKSPExf9jiHKDNx</RequestId>"
        + "<HostId>9Gjjt1m+cjU4OPvX9O9/8RuvnG41MRb/18Oux2o5H5MY7ISNTlXN+Dz9IG62/ILVxhAGI0qyPfg=</HostId></Error>",
      .notFound, false
    ),
    (
      403,
      "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<Error><Code>InvalidAccessKeyId</Code><Message>The AWS Access Key Id you provided "
        + "does not exist in our records.</Message><BucketName>bkt</BucketName><RequestId>FB2M0ZalMjkLmCEJunMMZSZmnZxfEn1vpramhjLaToCf8SxGG3iV"
        + "</RequestId><HostId>9Gjjt1m+cjU4OPvX9O9/8RuvnG41MRb/18Oux2o5H5MY7ISNTlXN+Dz9IG62/ILVxhAGI0qyPfg=</HostId></Error>",
      .permissionDenied, false
    ),
    (
      403,
      "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated "
        + "does not match the signature you provided. Check your key and signing method.</Message><BucketName>bkt</BucketName>"
        + "<RequestId>jjafjvQGYmIeggSnzN4vQzuJbYENd1WeYDze99w7ezv2ZBl3dDvM</RequestId>"
        + "<HostId>9Gjjt1m+cjU4OPvX9O9/8RuvnG41MRb/18Oux2o5H5MY7ISNTlXN+Dz9IG62/ILVxhAGI0qyPfg=</HostId></Error>",
      .permissionDenied, false
    ),
    (
      403,
      "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<Error><Code>AccessDenied</Code><Message>Access Denied</Message>"
        + "<RequestId>LGgz8CeMgYOhXTLP3gFfBlOVTf9Dgmha4pixYqu8xqlffSaxACbf</RequestId>"
        + "<HostId>9Gjjt1m+cjU4OPvX9O9/8RuvnG41MRb/18Oux2o5H5MY7ISNTlXN+Dz9IG62/ILVxhAGI0qyPfg=</HostId></Error>",
      .permissionDenied, false
    ),
    (
      400,
      "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<Error><Code>InvalidBucketName</Code><Message>The specified bucket is not valid."
        + "</Message><RequestId>jyjWFTFfJSETfY4eU0dIgdnrwv6GwPbtzbMds8CbuIFB3nUTbXSh</RequestId>"
        + "<HostId>9Gjjt1m+cjU4OPvX9O9/8RuvnG41MRb/18Oux2o5H5MY7ISNTlXN+Dz9IG62/ILVxhAGI0qyPfg=</HostId></Error>",
      .invalidConfiguration, false
    ),
    (
      400,
      "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<Error><Code>EntityTooSmall</Code><Message>Your proposed upload is smaller than the "
        + "minimum allowed object size.</Message><RequestId>xBanBRfAfyHeLRvrD2IHKOGUxdsGQgKaTF2S15MPBxQDELPla22d</RequestId>"
        + "<HostId>9Gjjt1m+cjU4OPvX9O9/8RuvnG41MRb/18Oux2o5H5MY7ISNTlXN+Dz9IG62/ILVxhAGI0qyPfg=</HostId></Error>",
      .io, false
    ),
    (
      404,
      "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<Error><Code>NoSuchUpload</Code><Message>The specified upload does not exist. "
        + "The upload ID may be invalid, or the upload may have been aborted or completed.</Message>"
        + "<UploadId>bau0lJY0OZUUQBoqR7HTe17a5cZKrg5LN1q6NS9MFxIxpFCwfQWDeBcEJg</UploadId>"
        + "<RequestId>iJAzVwkqV6u1JA4hUKMJFTxOdvHf2aeTdJXxmOUkdMwIYU7m3PKa</RequestId>"
        + "<HostId>9Gjjt1m+cjU4OPvX9O9/8RuvnG41MRb/18Oux2o5H5MY7ISNTlXN+Dz9IG62/ILVxhAGI0qyPfg=</HostId></Error>",
      .io, false
    ),
    (
      409,
      "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<Error><Code>BucketNotEmpty</Code><Message>The bucket you tried to delete is not empty"
        + "</Message><BucketName>bkt</BucketName><RequestId>lyZcp9HozRdrUe0vpWgpRpv8u8G4hjUd1045oKLKLBFmjyRT7UPX</RequestId>"
        + "<HostId>9Gjjt1m+cjU4OPvX9O9/8RuvnG41MRb/18Oux2o5H5MY7ISNTlXN+Dz9IG62/ILVxhAGI0qyPfg=</HostId></Error>",
      .io, false
    ),
    // moto's answer to CompleteMultipartUpload with an unknown upload ID: an HTML page, no S3 error.
    (
      500,
      "<!doctype html>\n<html lang=en>\n<title>500 Internal Server Error</title>\n<h1>Internal Server Error</h1>\n",
      .unavailable, true
    ),
    // A HEAD of a missing key: no body at all.
    (404, "", .notFound, false),
  ]

  @Test("moto's error answers, parsed and classified end to end", arguments: motoErrors.indices)
  func motoErrorAnswers(index: Int) {
    let (status, body, code, retryable) = Self.motoErrors[index]
    let response = S3ErrorResponse.parse(Array(body.utf8))
    #expect((response == nil) == (body.isEmpty || body.hasPrefix("<!doctype")))
    let f = S3Failure(httpStatus: status, response: response)
    #expect(S3ErrorClassifier.isRetryable(f) == retryable)
    let error = objectError(f)
    #expect(error.code == code, "\(error.message)")
    if let response, error.code == .io { #expect(error.message.contains(response.code)) }
  }

  @Test("NoSuchBucket, and a 404 without body for a bucket operation: .notFound naming bucket and endpoint")
  func noSuchBucket() {
    let expected = "bucket backups does not exist at https://s3.example.com: create it, or fix --s3-bucket / --s3-endpoint"
    for error in [objectError(failure(404, "NoSuchBucket")), bucketError(S3Failure(httpStatus: 404))] {
      #expect(error.code == .notFound)
      #expect(error.message == expected)
    }
  }

  @Test("NoSuchKey, and a 404 without body (HEAD) for an object: .notFound pointing at ls")
  func noSuchKey() {
    let expected = "no object etcd/snap.db in bucket backups: check the name with `etcd-snapshot ls --s3`"
    for error in [objectError(failure(404, "NoSuchKey")), objectError(S3Failure(httpStatus: 404))] {
      #expect(error.code == .notFound)
      #expect(error.message == expected)
    }
  }

  @Test("AccessDenied, and a 403 without code: .permissionDenied listing the permissions needed")
  func accessDenied() {
    for error in [objectError(failure(403, "AccessDenied", message: "Access Denied")), objectError(S3Failure(httpStatus: 403))] {
      #expect(error.code == .permissionDenied)
      #expect(error.message.hasPrefix("access denied to backups/etcd/snap.db for GetObject ("))
      #expect(
        error.message.hasSuffix(
          ": the key needs s3:GetObject, s3:PutObject, s3:ListBucket, s3:DeleteObject, s3:AbortMultipartUpload on the bucket"
        )
      )
    }
    #expect(bucketError(failure(403, "AccessDenied")).message.hasPrefix("access denied to bucket backups for ListObjectsV2 (403 AccessDenied)"))
  }

  @Test("credential problems: .permissionDenied naming the flag and variable, never a key")
  func credentials() {
    let signature = objectError(failure(403, "SignatureDoesNotMatch", message: "The request signature we calculated does not match"))
    #expect(signature.code == .permissionDenied)
    #expect(
      signature.message
        == "the S3 secret key does not match the access key (SignatureDoesNotMatch): "
        + "check --s3-secret-key, AWS_SECRET_ACCESS_KEY or the credentials file"
    )
    let accessKey = objectError(failure(403, "InvalidAccessKeyId"))
    #expect(accessKey.code == .permissionDenied)
    #expect(accessKey.message == "the S3 access key is not known to the server (InvalidAccessKeyId): check --s3-access-key / AWS_ACCESS_KEY_ID")
    for code in ["ExpiredToken", "InvalidToken", "TokenRefreshRequired"] {
      let error = objectError(failure(400, code))
      #expect(error.code == .permissionDenied)
      #expect(error.message.contains("(\(code))"))
      #expect(error.message.contains("--s3-session-token / AWS_SESSION_TOKEN"))
    }
  }

  @Test("RequestTimeTooSkewed: .invalidConfiguration, fix the clock")
  func clockSkew() {
    let error = objectError(failure(403, "RequestTimeTooSkewed"))
    #expect(error.code == .invalidConfiguration)
    #expect(error.message == "this machine's clock differs from the S3 server's by more than 15 minutes: fix the clock (NTP) and retry")
  }

  @Test("AuthorizationHeaderMalformed with a Region (or the x-amz-bucket-region header): set --s3-region")
  func wrongRegion() {
    let error = bucketError(failure(400, "AuthorizationHeaderMalformed", region: "eu-central-1"))
    #expect(error.code == .invalidConfiguration)
    #expect(error.message == "bucket backups is in region eu-central-1, not the one given: set --s3-region eu-central-1")
    var fromHeader = failure(400, "AuthorizationHeaderMalformed")
    fromHeader.bucketRegion = "ap-south-1"
    #expect(bucketError(fromHeader).message.hasSuffix("set --s3-region ap-south-1"))
    let unknown = bucketError(failure(400, "AuthorizationHeaderMalformed", message: "malformed"))
    #expect(unknown.code == .invalidConfiguration)
    #expect(unknown.message.contains("check --s3-region"))
  }

  @Test("PermanentRedirect: the endpoint to use, without the bucket's name in front, with the region when AWS")
  func permanentRedirect() {
    let error = objectError(failure(301, "PermanentRedirect", endpoint: "backups.s3.eu-west-1.amazonaws.com"))
    #expect(error.code == .invalidConfiguration)
    #expect(
      error.message
        == "bucket backups must be addressed through https://s3.eu-west-1.amazonaws.com: "
        + "set --s3-endpoint https://s3.eu-west-1.amazonaws.com and --s3-region eu-west-1"
    )
    let other = S3ErrorClassifier.error(
      for: failure(301, "PermanentRedirect", endpoint: "minio-2.internal:9000"), operation: "PutObject", bucket: "backups", key: "k",
      endpoint: "http://minio-1.internal:9000"
    )
    #expect(other.message == "bucket backups must be addressed through http://minio-2.internal:9000: set --s3-endpoint http://minio-2.internal:9000")
    let dualstack = objectError(failure(301, "PermanentRedirect", endpoint: "backups.s3.dualstack.ap-south-1.amazonaws.com"))
    #expect(dualstack.message.hasSuffix("set --s3-endpoint https://s3.dualstack.ap-south-1.amazonaws.com and --s3-region ap-south-1"))
    let global = objectError(failure(301, "PermanentRedirect", endpoint: "backups.s3.amazonaws.com"))
    #expect(global.message.hasSuffix("set --s3-endpoint https://s3.amazonaws.com"))
  }

  @Test("a 301 without body (HEAD): the region from x-amz-bucket-region, or a general hint")
  func redirectWithoutBody() {
    let withRegion = bucketError(S3Failure(httpStatus: 301, bucketRegion: "us-west-2"))
    #expect(withRegion.code == .invalidConfiguration)
    #expect(withRegion.message.contains("bucket backups is in region us-west-2"))
    #expect(withRegion.message.contains("set --s3-region us-west-2"))
    let bare = bucketError(S3Failure(httpStatus: 301))
    #expect(bare.code == .invalidConfiguration)
    #expect(bare.message.contains("set --s3-endpoint"))
  }

  @Test("InvalidBucketName: .invalidConfiguration about --s3-bucket")
  func invalidBucketName() {
    let error = bucketError(failure(400, "InvalidBucketName", message: "The specified bucket is not valid."))
    #expect(error.code == .invalidConfiguration)
    #expect(error.message.contains("--s3-bucket"))
  }

  @Test("server trouble after the retries: .unavailable naming status, code, operation and place")
  func serverTrouble() {
    let slow = objectError(failure(503, "SlowDown", message: "Please reduce your request rate."))
    #expect(slow.code == .unavailable)
    #expect(
      slow.message
        == "the S3 server kept failing (503 SlowDown) for GetObject on backups/etcd/snap.db until --s3-timeout ran out: "
        + "try again later or raise --s3-timeout"
    )
    #expect(objectError(failure(500, "InternalError")).message.contains("(500 InternalError)"))
    let html = objectError(S3Failure(httpStatus: 502))
    #expect(html.code == .unavailable)
    #expect(html.message.contains("(HTTP 502) for GetObject"))
    #expect(objectError(failure(400, "RequestTimeout")).code == .unavailable)
  }

  @Test("damaged request bodies after the retries: .io pointing at whatever alters requests")
  func damagedBodies() {
    let error = objectError(failure(400, "BadDigest"))
    #expect(error.code == .io)
    #expect(error.message.contains("(400 BadDigest)"))
    #expect(error.message.contains("proxy"))
  }

  @Test("transport errors: .unavailable naming the endpoint and the flags to check")
  func transport() {
    let error = objectError(S3Failure(transportError: "connection refused"))
    #expect(error.code == .unavailable)
    #expect(
      error.message.hasPrefix("cannot reach the S3 endpoint https://s3.example.com (connection refused) for GetObject on backups/etcd/snap.db: "))
    #expect(error.message.contains("check --s3-endpoint, --s3-insecure, the proxy settings"))
  }

  @Test("user:password in the endpoint never reaches a message")
  func noCredentialsInMessages() {
    for f in [S3Failure(transportError: "timed out"), failure(404, "NoSuchBucket"), failure(418, "Teapot")] {
      let error = S3ErrorClassifier.error(
        for: f, operation: "PutObject", bucket: "b", key: "k", endpoint: "https://AKIAEXAMPLE:s3cr3t@minio.local:9000/")
      #expect(!error.message.contains("s3cr3t"), "\(error.message)")
      #expect(!error.message.contains("AKIAEXAMPLE"), "\(error.message)")
      #expect(error.message.contains("minio.local:9000"), "\(error.message)")
    }
  }

  @Test("without bucket or endpoint (a parser that does not know them) the messages still read")
  func withoutContext() {
    let missing = S3ErrorClassifier.error(for: failure(404, "NoSuchBucket"), operation: "ListObjectsV2", bucket: "", key: nil, endpoint: "")
    #expect(missing.message == "the bucket does not exist at the S3 endpoint: create it, or fix --s3-bucket / --s3-endpoint")
    let key = S3ErrorClassifier.error(for: failure(404, "NoSuchKey"), operation: "GetObject", bucket: "", key: "k", endpoint: "")
    #expect(key.message == "no object k in the bucket: check the name with `etcd-snapshot ls --s3`")
    let slow = S3ErrorClassifier.error(for: failure(503, "SlowDown"), operation: "PutObject", bucket: "", key: "k", endpoint: "")
    #expect(slow.message.contains("(503 SlowDown) for PutObject on k until"))
  }

  @Test("full storage: .cannotWrite")
  func storageFull() {
    #expect(objectError(failure(507, "XMinioStorageFull")).code == .cannotWrite)
  }

  @Test("NoSuchUpload: .io, run the backup again")
  func noSuchUpload() {
    let error = objectError(failure(404, "NoSuchUpload"))
    #expect(error.code == .io)
    #expect(error.message.contains("run the backup again"))
  }

  @Test("anything else: .io with status, code, the server's message on one line, and the request ID")
  func other() {
    let f = S3Failure(
      httpStatus: 400,
      response: S3ErrorResponse(
        code: "InvalidPart", message: "One or more of the specified parts could not be found.\nThe part might not have been uploaded.",
        requestID: "F6bLY5IZ8aQipC94"
      )
    )
    let error = S3ErrorClassifier.error(
      for: f, operation: "CompleteMultipartUpload", bucket: "backups", key: "snap.db", endpoint: "http://127.0.0.1:9000")
    #expect(error.code == .io)
    #expect(
      error.message
        == "S3 CompleteMultipartUpload on backups/snap.db failed (400 InvalidPart: One or more of the specified parts could not be found. "
        + "The part might not have been uploaded.; request ID F6bLY5IZ8aQipC94): check the server's logs, and that --s3-endpoint "
        + "http://127.0.0.1:9000 is an S3-compatible service"
    )
    let long = S3ErrorClassifier.error(
      for: failure(400, "Weird", message: String(repeating: "x", count: 1000)), operation: "PutObject", bucket: "b", key: "k", endpoint: "e"
    )
    #expect(long.message.count < 500)
    #expect(bucketError(S3Failure()).code == .io)
    #expect(bucketError(S3Failure()).message.contains("(no answer)"))
  }
}
