import ArgumentParser
import Foundation
import SnapshotCore
import SnapshotSettings

/// k3s's `--s3-*` flags, each also spelled `--etcd-s3-*` as in k3s, shared by every command
/// that can reach a bucket.
struct S3Options: ParsableArguments {
  @Flag(
    name: [.customLong("s3"), .customLong("etcd-s3")], inversion: .prefixedNo,
    help: help("Use S3-compatible object storage too; --no-s3 turns off what a config file turned on.", .s3))
  var enabled: Bool?

  @Option(name: names(.s3Endpoint), help: help("S3 endpoint, host[:port] (default s3.amazonaws.com).", .s3Endpoint, valueName: "host"))
  var endpoint: String?

  @Option(name: names(.s3EndpointCA), help: help("PEM CA bundle that verifies the endpoint's certificate.", .s3EndpointCA, valueName: "file"))
  var endpointCA: String?

  @Flag(name: names(.s3SkipSSLVerify), help: help("Do not verify the endpoint's TLS certificate.", .s3SkipSSLVerify))
  var skipSSLVerify = false

  @Flag(name: names(.s3Insecure), help: help("Plain http instead of https.", .s3Insecure))
  var insecure = false

  @Option(name: names(.s3AccessKey), help: help("Access key ID.", .s3AccessKey, valueName: "id"))
  var accessKey: String?

  @Option(
    name: names(.s3SecretKey),
    help: help("Secret key; prefer a variable or --s3-credentials-file (not in the process list).", .s3SecretKey, valueName: "key"))
  var secretKey: String?

  @Option(name: names(.s3SessionToken), help: help("Session token.", .s3SessionToken, valueName: "token"))
  var sessionToken: String?

  @Option(
    name: names(.s3CredentialsFile),
    help: help(
      "File with the keys: AWS credentials format ([AWS_PROFILE] section) or AWS_ACCESS_KEY_ID=… lines.", .s3CredentialsFile, valueName: "file"))
  var credentialsFile: String?

  @Option(name: names(.s3Bucket), help: help("Bucket name.", .s3Bucket, valueName: "name"))
  var bucket: String?

  @Option(name: names(.s3Region), help: help("Region (default us-east-1).", .s3Region, valueName: "region"))
  var region: String?

  @Option(name: names(.s3Folder), help: help("Key prefix (folder) inside the bucket.", .s3Folder, valueName: "folder"))
  var folder: String?

  @Option(
    name: names(.s3BucketLookupType),
    help: help("auto, dns (bucket.endpoint) or path (endpoint/bucket); auto uses dns only for AWS.", .s3BucketLookupType, valueName: "type"))
  var bucketLookup: String?

  @Option(name: names(.s3Timeout), help: help("Time for one S3 operation, retries included (default 5m).", .s3Timeout, valueName: "duration"))
  var timeout: String?

  @Option(
    name: names(.s3ReadTimeout),
    help: help(
      "Longest wait for the next byte of an S3 response; a stalled one is retried within --s3-timeout (default 60s).", .s3ReadTimeout,
      valueName: "duration"))
  var readTimeout: String?

  @Option(
    name: names(.s3Proxy),
    help: help("HTTP proxy URL, or `none`; default: HTTPS_PROXY/HTTP_PROXY/NO_PROXY as Go reads them.", .s3Proxy, valueName: "url"))
  var proxy: String?

  @Option(
    name: names(.s3Retention), help: help("S3 snapshots to keep per node (prune; default 5; 0 never prunes, as k3s).", .s3Retention, valueName: "n"))
  var retention: Int?

  @Option(
    name: names(.s3ConfigSecret),
    help: help(
      "k3s reads S3 settings from this Kubernetes Secret; not supported here (no Kubernetes API access): put them in the config file.",
      .s3ConfigSecret, valueName: "name"))
  var configSecret: String?

  private static func names(_ key: SettingKey) -> NameSpecification { NameSpecification(key.spellings.map { .customLong($0) }) }

  /// The S3 configuration when S3 is on (nil otherwise); what cannot be read goes to the
  /// reader's problems. (The configuration's own `problems()` are checked where it is used.)
  ///
  /// Keys come from the flags, then variables (`ETCD_SNAPSHOT_*`, `AWS_*`), then config
  /// files, then the credentials file.
  func configuration(_ settings: inout SettingsReader) -> S3Configuration? {
    guard settings.bool(.s3, flag: enabled) else {
      let given = [endpoint, endpointCA, accessKey, secretKey, sessionToken, bucket, region, folder, bucketLookup, timeout, readTimeout, proxy]
      if given.contains(where: { $0 != nil }) || skipSSLVerify || insecure || retention != nil {
        settings.report("--s3-* options were given without --s3: add --s3 to use the bucket")
      }
      return nil
    }
    var c = S3Configuration()
    if let s = settings.string(.s3ConfigSecret, flag: configSecret) {
      settings.report(
        "--s3-config-secret \(quoted(s)): reading S3 settings from a Kubernetes Secret is not supported; give them as etcd-s3-* keys in the config file, ETCD_SNAPSHOT_S3_* variables or flags"
      )
    }
    if let endpoint = settings.string(.s3Endpoint, flag: endpoint) { c.endpoint = endpoint }
    c.endpointCA = settings.string(.s3EndpointCA, flag: endpointCA)
    c.skipSSLVerify = settings.bool(.s3SkipSSLVerify, flag: skipSSLVerify ? true : nil)
    c.insecure = settings.bool(.s3Insecure, flag: insecure ? true : nil)
    c.bucket = settings.string(.s3Bucket, flag: bucket) ?? ""
    if let region = settings.string(.s3Region, flag: region) { c.region = region }
    if let folder = settings.string(.s3Folder, flag: folder) { c.folder = folder }
    if let lookup = settings.sourced(.s3BucketLookupType, flag: bucketLookup), !lookup.value.isEmpty {
      if let value = S3BucketLookup(rawValue: lookup.value) {
        c.bucketLookup = value
      } else {
        settings.report(lookup, "must be auto, dns or path")
      }
    }
    if let d = settings.duration(.s3Timeout, flag: timeout, positive: true, example: "5m, 30s or 1h") { c.timeout = d }
    if let d = settings.duration(.s3ReadTimeout, flag: readTimeout, positive: true, example: "60s or 2m") { c.readTimeout = d }
    c.proxy = settings.string(.s3Proxy, flag: proxy)
    if let n = settings.int(.s3Retention, flag: retention, minimum: 0) { c.retention = n }
    let env = settings.layer.environmentVariables
    c.proxyEnvironment = env.filter { S3Configuration.proxyVariables.contains($0.key) }

    c.accessKey = settings.string(.s3AccessKey, flag: accessKey)
    c.secretKey = settings.string(.s3SecretKey, flag: secretKey)
    c.sessionToken = settings.string(.s3SessionToken, flag: sessionToken)
    // Read by the storage layer, for what the keys above leave out.
    c.credentialsFile = settings.string(.s3CredentialsFile, flag: credentialsFile)
    c.credentialsProfile = settings.layer.variable("AWS_PROFILE") ?? "default"
    if c.accessKey == nil && c.secretKey == nil && c.credentialsFile == nil {
      // No keys given: the AWS default chain (web identity, shared files, container, IMDS).
      c.credentialChain = S3CredentialChain(environment: env, region: c.region, home: settings.layer.variable("HOME") ?? accountHome())
    }
    return c
  }
}
