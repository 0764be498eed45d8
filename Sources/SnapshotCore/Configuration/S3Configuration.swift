/// How bucket names go into request URLs (`--s3-bucket-lookup-type`).
package enum S3BucketLookup: String, Sendable, Codable, CaseIterable {
  /// Virtual-host style for AWS endpoints (when the bucket name allows it), path style elsewhere.
  case auto
  /// Always `https://BUCKET.ENDPOINT/KEY`.
  case dns
  /// Always `https://ENDPOINT/BUCKET/KEY`.
  case path
}

/// S3-compatible object storage, with k3s's `--s3-*` flag names.
///
/// `description` never shows the secret key or the session token, and neither is encoded:
/// they come from flags, the environment or a credentials file, never from a stored copy.
package struct S3Configuration: Sendable, Codable, CustomStringConvertible {
  /// `--s3-endpoint`: host[:port], no scheme (a scheme given by mistake is reported).
  package var endpoint = "s3.amazonaws.com"
  /// `--s3-endpoint-ca`: PEM bundle trusted for the endpoint instead of the system roots.
  package var endpointCA: String?
  /// `--s3-skip-ssl-verify`: do not verify the endpoint's certificate.
  package var skipSSLVerify = false
  /// `--s3-insecure`: plain http.
  package var insecure = false
  /// `--s3-access-key` (or `AWS_ACCESS_KEY_ID`, or the credentials file).
  package var accessKey: String?
  /// `--s3-secret-key` (or `AWS_SECRET_ACCESS_KEY`, or the credentials file).
  package var secretKey: String?
  /// `--s3-session-token` (or `AWS_SESSION_TOKEN`).
  package var sessionToken: String?
  /// `--s3-bucket`.
  package var bucket = ""
  /// `--s3-region`.
  package var region = "us-east-1"
  /// `--s3-folder`: key prefix, without leading or trailing slashes once normalised.
  package var folder = ""
  /// `--s3-bucket-lookup-type`.
  package var bucketLookup = S3BucketLookup.auto
  /// `--s3-timeout`: time budget of one S3 operation, retries included.
  package var timeout: Duration = .seconds(300)
  /// `--s3-read-timeout`: longest wait for the next byte of a response (head or body), as the
  /// AWS CLI's `--cli-read-timeout`; a stalled response fails (and is retried within
  /// `timeout`) after this long. Never more than `timeout`.
  package var readTimeout: Duration = .seconds(60)
  /// `--s3-proxy`: nil = from `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY`; `none` = no proxy; else a URL.
  package var proxy: String?
  /// `--s3-retention`: S3 snapshots kept per node and prefix by `prune`.
  package var retention = 5
  /// Parts uploaded at the same time by `save --s3`.
  package var concurrentParts = 8
  /// Preferred multipart part size in bytes (grown for very large snapshots).
  package var partSize: Int64 = 8 * 1024 * 1024
  /// The proxy variables of the environment (`HTTPS_PROXY`, `HTTP_PROXY`, `NO_PROXY`, lower-case too).
  package var proxyEnvironment: [String: String] = [:]
  /// Where credentials come from when no keys are given (the AWS default chain); nil: the
  /// keys above are required.
  package var credentialChain: S3CredentialChain?
  /// `--s3-credentials-file`: must hold what the keys above leave out (read when the client starts).
  package var credentialsFile: String?
  /// Its section (`AWS_PROFILE`, default `default`).
  package var credentialsProfile = "default"

  /// The environment variables that choose a proxy, as Go reads them.
  package static let proxyVariables = ["HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy"]

  /// Makes a configuration with k3s's defaults.
  package init() {}

  private enum CodingKeys: String, CodingKey {
    case endpoint, endpointCA, skipSSLVerify, insecure, accessKey, bucket, region, folder, bucketLookup, timeout, readTimeout, proxy
    case retention
    case concurrentParts, partSize, proxyEnvironment
  }

  /// Encodes everything but the secret key and the session token; a proxy URL's user
  /// information (`http://user:password@proxy`) is redacted, in `proxy` and in the proxy variables.
  package func encode(to encoder: any Encoder) throws {
    var c = encoder.container(keyedBy: CodingKeys.self)
    try c.encode(endpoint, forKey: .endpoint)
    try c.encodeIfPresent(endpointCA, forKey: .endpointCA)
    try c.encode(skipSSLVerify, forKey: .skipSSLVerify)
    try c.encode(insecure, forKey: .insecure)
    try c.encodeIfPresent(accessKey, forKey: .accessKey)
    try c.encode(bucket, forKey: .bucket)
    try c.encode(region, forKey: .region)
    try c.encode(folder, forKey: .folder)
    try c.encode(bucketLookup, forKey: .bucketLookup)
    try c.encode(timeout, forKey: .timeout)
    try c.encode(readTimeout, forKey: .readTimeout)
    try c.encodeIfPresent(proxy.map(Redaction.url), forKey: .proxy)
    try c.encode(retention, forKey: .retention)
    try c.encode(concurrentParts, forKey: .concurrentParts)
    try c.encode(partSize, forKey: .partSize)
    try c.encode(proxyEnvironment.mapValues(Redaction.url), forKey: .proxyEnvironment)
  }

  /// The idle bound of one response: `readTimeout`, but never more than the whole budget.
  package var effectiveReadTimeout: Duration { min(readTimeout, timeout) }

  /// The folder with surrounding slashes removed (`a/b/` and `/a/b` are both `a/b`).
  package var normalizedFolder: String {
    var f = Substring(folder)
    while f.hasPrefix("/") { f = f.dropFirst() }
    while f.hasSuffix("/") { f = f.dropLast() }
    return String(f)
  }

  /// The key prefix of every snapshot object: `folder/` or empty.
  package var keyPrefix: String {
    let f = normalizedFolder
    return f.isEmpty ? "" : f + "/"
  }

  /// Key of a snapshot object.
  package func objectKey(_ name: String) -> String { keyPrefix + name }

  /// Key of a snapshot's metadata sidecar, `folder/.metadata/NAME` as k3s writes it.
  package func metadataKey(_ name: String) -> String { keyPrefix + ".metadata/" + name }

  /// Host part of the endpoint (without the port).
  package var endpointHost: String {
    if endpoint.hasPrefix("["), let close = endpoint.firstIndex(of: "]") {
      return String(endpoint[endpoint.startIndex...close])
    }
    if let colon = endpoint.lastIndex(of: ":") { return String(endpoint[..<colon]) }
    return endpoint
  }

  /// Port of the endpoint, if one is given.
  package var endpointPort: Int? {
    guard let colon = endpoint.lastIndex(of: ":"), !endpoint.hasSuffix("]") else { return nil }
    return Int(endpoint[endpoint.index(after: colon)...])
  }

  /// True when requests put the bucket in the path (`ENDPOINT/BUCKET/KEY`).
  ///
  /// `auto` follows minio-go (which k3s uses): virtual-host style only for AWS endpoints, and
  /// only when the bucket name is a valid DNS label without dots (TLS wildcard certificates).
  package var usesPathStyle: Bool {
    switch bucketLookup {
    case .path: return true
    case .dns: return false
    case .auto:
      let host = endpointHost.lowercased()
      let aws = host == "s3.amazonaws.com" || (host.hasPrefix("s3") && host.hasSuffix(".amazonaws.com"))
      return !(aws && !bucket.contains(".") && Self.isDNSCompatible(bucket))
    }
  }

  /// The `s3://bucket/key` address of a snapshot, for listings and messages.
  package func address(of name: String) -> String { address(ofKey: objectKey(name)) }

  /// The `s3://bucket/key` address of any key of the bucket.
  package func address(ofKey key: String) -> String { Self.address(bucket: bucket, key: key) }

  /// `s3://bucket/folder/`: where the snapshots are.
  package var folderAddress: String { address(ofKey: keyPrefix) }

  /// `s3://bucket/key`: the one place such addresses are made.
  package static func address(bucket: String, key: String) -> String { "s3://\(bucket)/\(key)" }

  /// Every problem, in words.
  package func problems() -> [String] {
    var problems: [String] = []
    if bucket.isEmpty {
      problems.append("--s3-bucket is required with --s3 (or ETCD_SNAPSHOT_S3_BUCKET, or etcd-s3-bucket in the config file)")
    } else if bucket.count < 3 || bucket.count > 63 || bucket.contains("/") {
      problems.append("--s3-bucket \(quoted(bucket)) is not a bucket name: 3 to 63 characters, no slashes")
    }
    if endpoint.isEmpty {
      problems.append("--s3-endpoint is empty")
    } else if endpoint.contains("://") {
      problems.append(
        "--s3-endpoint \(quoted(endpoint)) must be host[:port] without a scheme: use --s3-insecure for plain http")
    } else if endpoint.contains("/") {
      problems.append("--s3-endpoint \(quoted(endpoint)) must be host[:port]; put key prefixes in --s3-folder")
    }
    if region.isEmpty { problems.append("--s3-region is empty") }
    let hasAccess = !(accessKey ?? "").isEmpty
    let hasSecret = !(secretKey ?? "").isEmpty
    // With the chain, no keys at all is fine (it is asked at run time); half a pair never is.
    // A credentials file is read when the client starts, and must give what is missing.
    if !hasAccess && credentialsFile == nil && (credentialChain == nil || hasSecret) {
      problems.append(
        "no S3 access key: set --s3-access-key, AWS_ACCESS_KEY_ID or --s3-credentials-file")
    }
    if !hasSecret && credentialsFile == nil && (credentialChain == nil || hasAccess) {
      problems.append(
        "no S3 secret key: set AWS_SECRET_ACCESS_KEY or --s3-credentials-file (or --s3-secret-key, which shows in the process list)")
    }
    if timeout <= .zero { problems.append("--s3-timeout must be positive") }
    if retention < 0 {
      problems.append("--s3-retention must be 0 (never prune) or more (got \(retention))")
    }
    if insecure && (endpointCA != nil || skipSSLVerify) {
      problems.append("--s3-insecure (plain http) cannot be combined with --s3-endpoint-ca or --s3-skip-ssl-verify")
    }
    let segments = normalizedFolder.split(separator: "/", omittingEmptySubsequences: false)
    if !normalizedFolder.isEmpty && segments.contains(where: { $0.isEmpty || $0 == ".." }) {
      problems.append("--s3-folder \(quoted(folder)) has an empty or `..` path segment")
    }
    if let proxy, proxy != "none", !(proxy.hasPrefix("http://") || proxy.hasPrefix("https://")) {
      problems.append("--s3-proxy \(quoted(Redaction.url(proxy))) must be an http:// URL or `none`")
    }
    return problems
  }

  /// A DNS label-compatible bucket name (lower-case letters, digits, dots and hyphens).
  package static func isDNSCompatible(_ bucket: String) -> Bool {
    guard (3...63).contains(bucket.count) else { return false }
    return bucket.utf8.allSatisfy { ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 45 || $0 == 46 }
      && bucket.first != "-" && bucket.last != "-"
  }

  /// The configuration with secrets replaced.
  package var description: String {
    let access = accessKey.map { $0.isEmpty ? "<empty>" : String($0.prefix(4)) + "…" } ?? "<none>"
    return
      "S3Configuration(endpoint: \(endpoint), bucket: \(bucket), region: \(region), folder: \(normalizedFolder), "
      + "insecure: \(insecure), lookup: \(bucketLookup.rawValue), accessKey: \(access), secretKey: "
      + (secretKey == nil ? "<none>" : "<redacted>") + ", sessionToken: " + (sessionToken == nil ? "<none>" : "<redacted>") + ")"
  }
}
