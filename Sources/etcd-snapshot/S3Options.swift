import ArgumentParser
import Foundation
import SnapshotCore

/// k3s's `--s3-*` flags, shared by every command that can reach a bucket.
struct S3Options: ParsableArguments {
  @Flag(name: .customLong("s3"), help: "Use S3-compatible object storage too.")
  var enabled = false

  @Option(name: .customLong("s3-endpoint"), help: ArgumentHelp("S3 endpoint, host[:port] (default s3.amazonaws.com).", valueName: "host"))
  var endpoint: String?

  @Option(name: .customLong("s3-endpoint-ca"), help: ArgumentHelp("PEM CA bundle that verifies the endpoint's certificate.", valueName: "file"))
  var endpointCA: String?

  @Flag(name: .customLong("s3-skip-ssl-verify"), help: "Do not verify the endpoint's TLS certificate.")
  var skipSSLVerify = false

  @Flag(name: .customLong("s3-insecure"), help: "Plain http instead of https.")
  var insecure = false

  @Option(name: .customLong("s3-access-key"), help: ArgumentHelp("Access key ID (env AWS_ACCESS_KEY_ID).", valueName: "id"))
  var accessKey: String?

  @Option(
    name: .customLong("s3-secret-key"),
    help: ArgumentHelp("Secret key; prefer AWS_SECRET_ACCESS_KEY or --s3-credentials-file (not in the process list).", valueName: "key"))
  var secretKey: String?

  @Option(name: .customLong("s3-session-token"), help: ArgumentHelp("Session token (env AWS_SESSION_TOKEN).", valueName: "token"))
  var sessionToken: String?

  @Option(
    name: .customLong("s3-credentials-file"),
    help: ArgumentHelp(
      "File with the keys: AWS credentials format ([AWS_PROFILE] section) or AWS_ACCESS_KEY_ID=… lines (env AWS_SHARED_CREDENTIALS_FILE).",
      valueName: "file"))
  var credentialsFile: String?

  @Option(name: .customLong("s3-bucket"), help: ArgumentHelp("Bucket name.", valueName: "name"))
  var bucket: String?

  @Option(name: .customLong("s3-region"), help: ArgumentHelp("Region (default us-east-1).", valueName: "region"))
  var region: String?

  @Option(name: .customLong("s3-folder"), help: ArgumentHelp("Key prefix (folder) inside the bucket.", valueName: "folder"))
  var folder: String?

  @Option(
    name: .customLong("s3-bucket-lookup-type"),
    help: ArgumentHelp("auto, dns (bucket.endpoint) or path (endpoint/bucket); auto uses dns only for AWS.", valueName: "type"))
  var bucketLookup: String?

  @Option(name: .customLong("s3-timeout"), help: ArgumentHelp("Time for one S3 operation, retries included (default 5m).", valueName: "duration"))
  var timeout: String?

  @Option(
    name: .customLong("s3-read-timeout"),
    help: ArgumentHelp(
      "Longest wait for the next byte of an S3 response; a stalled one is retried within --s3-timeout (default 60s).",
      valueName: "duration"))
  var readTimeout: String?

  @Option(
    name: .customLong("s3-proxy"),
    help: ArgumentHelp("HTTP proxy URL, or `none`; default: HTTPS_PROXY/HTTP_PROXY/NO_PROXY as Go reads them.", valueName: "url"))
  var proxy: String?

  @Option(name: .customLong("s3-retention"), help: ArgumentHelp("S3 snapshots to keep per node (prune; default 5).", valueName: "n"))
  var retention: Int?

  /// The S3 configuration when `--s3` is given (nil otherwise); throws what could not be read,
  /// all at once. (The configuration's own `problems()` are checked where it is used.)
  func validated(environment env: [String: String]) throws(SnapshotError) -> S3Configuration? {
    let (c, problems) = configuration(environment: env)
    guard problems.isEmpty else { throw SnapshotError.invalid(problems) }
    return c
  }

  /// The S3 configuration when `--s3` is given (nil otherwise), and what could not be read.
  ///
  /// Keys come from the flags, then `AWS_*` variables, then the credentials file.
  func configuration(environment env: [String: String]) -> (S3Configuration?, problems: [String]) {
    let given = [endpoint, endpointCA, accessKey, secretKey, sessionToken, bucket, region, folder, bucketLookup, timeout, readTimeout, proxy]
    guard enabled else {
      if given.contains(where: { $0 != nil }) || skipSSLVerify || insecure || retention != nil {
        return (nil, ["--s3-* options were given without --s3: add --s3 to use the bucket"])
      }
      return (nil, [])
    }
    var c = S3Configuration()
    var problems: [String] = []
    if let endpoint { c.endpoint = endpoint }
    c.endpointCA = nonEmpty(endpointCA)
    c.skipSSLVerify = skipSSLVerify
    c.insecure = insecure
    c.bucket = bucket ?? ""
    if let region { c.region = region }
    if let folder { c.folder = folder }
    if let bucketLookup {
      if let lookup = S3BucketLookup(rawValue: bucketLookup) {
        c.bucketLookup = lookup
      } else {
        problems.append("--s3-bucket-lookup-type \(quoted(bucketLookup)) must be auto, dns or path")
      }
    }
    if let timeout {
      if let d = GoDuration.parse(timeout), d > .zero {
        c.timeout = d
      } else {
        problems.append("--s3-timeout \(quoted(timeout)) is not a positive duration: write it like 5m, 30s or 1h")
      }
    }
    if let readTimeout {
      if let d = GoDuration.parse(readTimeout), d > .zero {
        c.readTimeout = d
      } else {
        problems.append("--s3-read-timeout \(quoted(readTimeout)) is not a positive duration: write it like 60s or 2m")
      }
    }
    c.proxy = nonEmpty(proxy)
    if let retention { c.retention = retention }
    c.proxyEnvironment = env.filter { S3Configuration.proxyVariables.contains($0.key) }

    var fileKeys = S3CredentialsFile.Keys()
    if let file = credentialsFile ?? nonEmpty(env["AWS_SHARED_CREDENTIALS_FILE"]) {
      do {
        let text = try String(contentsOfFile: file, encoding: .utf8)
        fileKeys = S3CredentialsFile.parse(text, profile: nonEmpty(env["AWS_PROFILE"]) ?? "default")
        if fileKeys.accessKey == nil && fileKeys.secretKey == nil {
          problems.append("--s3-credentials-file \(file) holds no aws_access_key_id/aws_secret_access_key (or AWS_ACCESS_KEY_ID=…) lines")
        }
      } catch {
        problems.append("--s3-credentials-file \(file): cannot read it (\(error.localizedDescription))")
      }
    }
    c.accessKey = nonEmpty(accessKey) ?? nonEmpty(env["AWS_ACCESS_KEY_ID"]) ?? fileKeys.accessKey
    c.secretKey = nonEmpty(secretKey) ?? nonEmpty(env["AWS_SECRET_ACCESS_KEY"]) ?? fileKeys.secretKey
    c.sessionToken = nonEmpty(sessionToken) ?? nonEmpty(env["AWS_SESSION_TOKEN"]) ?? fileKeys.sessionToken
    return (c, problems)
  }
}
