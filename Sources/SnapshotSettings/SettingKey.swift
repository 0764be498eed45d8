/// One setting: a flag name, its other spellings, and the variables that can set it.
///
/// A setting is read from a flag (`--s3-bucket` or `--etcd-s3-bucket`), else from the
/// environment (`ETCD_SNAPSHOT_S3_BUCKET`, `ETCD_SNAPSHOT_ETCD_S3_BUCKET`, then the variables
/// other tools use, such as `ETCDCTL_ENDPOINTS` or `K3S_NODE_NAME`), else from the config
/// files (a key in either spelling), else it has its default.
public struct SettingKey: Sendable, Hashable, CustomStringConvertible {
  /// The flag name without dashes, as `--help` shows it: `s3-bucket`.
  public let name: String
  /// Other spellings, k3s's first: `etcd-s3-bucket`.
  public let aliases: [String]
  /// Variables of other tools that set it too, after the `ETCD_SNAPSHOT_*` ones.
  public let foreignVariables: [String]
  /// Several values: repeated flags, a YAML sequence, `key+:` appends.
  public let isList: Bool

  public init(_ name: String, aliases: [String] = [], foreignVariables: [String] = [], isList: Bool = false) {
    self.name = name
    self.aliases = aliases
    self.foreignVariables = foreignVariables
    self.isList = isList
  }

  /// Every spelling, this one first.
  public var spellings: [String] { [name] + aliases }

  /// `ETCD_SNAPSHOT_S3_BUCKET`: the variable shown in `--help`.
  public var variable: String { Self.variable(for: name) }

  /// The variables that set it, in the order they are tried.
  public var variables: [String] { spellings.map(Self.variable(for:)) + foreignVariables }

  public var description: String { "--\(name)" }

  /// `ETCD_SNAPSHOT_` and the flag name in upper case, dashes as underscores.
  public static func variable(for flag: String) -> String {
    "ETCD_SNAPSHOT_" + flag.uppercased().replacingOccurrences(of: "-", with: "_")
  }
}

extension SettingKey {
  // Every command.
  public static let debug = SettingKey("debug")
  public static let log = SettingKey("log")
  public static let alsoLogToStderr = SettingKey("alsologtostderr")

  // etcd connection (etcdctl's flags and variables).
  public static let endpoints = SettingKey("endpoints", foreignVariables: ["ETCDCTL_ENDPOINTS"], isList: true)
  public static let cacert = SettingKey("cacert", foreignVariables: ["ETCDCTL_CACERT"])
  public static let cert = SettingKey("cert", foreignVariables: ["ETCDCTL_CERT"])
  public static let key = SettingKey("key", foreignVariables: ["ETCDCTL_KEY"])
  public static let insecureSkipTLSVerify = SettingKey("insecure-skip-tls-verify", foreignVariables: ["ETCDCTL_INSECURE_SKIP_TLS_VERIFY"])
  public static let user = SettingKey("user", foreignVariables: ["ETCDCTL_USER"])
  public static let password = SettingKey("password", foreignVariables: ["ETCDCTL_PASSWORD"])
  public static let passwordFile = SettingKey("password-file")
  public static let dialTimeout = SettingKey("dial-timeout", foreignVariables: ["ETCDCTL_DIAL_TIMEOUT"])
  public static let commandTimeout = SettingKey("command-timeout", foreignVariables: ["ETCDCTL_COMMAND_TIMEOUT"])

  // Snapshot directory, names, locking (k3s's etcd-snapshot flags).
  public static let dataDir = SettingKey("data-dir")
  public static let dir = SettingKey("dir", aliases: ["etcd-snapshot-dir"])
  public static let name = SettingKey("name")
  public static let nodeName = SettingKey("node-name", foreignVariables: ["K3S_NODE_NAME"])
  public static let snapshotCompress = SettingKey("snapshot-compress", aliases: ["etcd-snapshot-compress"])
  public static let compress = SettingKey("compress")
  public static let compressLevel = SettingKey("compress-level")
  public static let waitLock = SettingKey("wait-lock")

  // age encryption (save, agent) and decryption (status, verify, restore, cluster-reset).
  public static let encryptRecipient = SettingKey("encrypt-recipient", isList: true)
  public static let encryptRecipientsFile = SettingKey("encrypt-recipients-file", isList: true)
  public static let encryptPassphraseFile = SettingKey("encrypt-passphrase-file")
  public static let decryptIdentityFile = SettingKey("decrypt-identity-file", isList: true)
  public static let decryptPassphraseFile = SettingKey("decrypt-passphrase-file")

  // Restore bundles (save, agent; restore and cluster-reset unpack them).
  public static let bundle = SettingKey("bundle", isList: true)
  public static let bundlePreset = SettingKey("bundle-preset")
  public static let bundleRoot = SettingKey("bundle-root")
  public static let bundleRecipient = SettingKey("bundle-recipient", isList: true)
  public static let bundleRecipientsFile = SettingKey("bundle-recipients-file", isList: true)
  public static let bundlePassphraseFile = SettingKey("bundle-passphrase-file")
  public static let bundleDir = SettingKey("bundle-dir")
  public static let bundleS3Folder = SettingKey("bundle-s3-folder")
  public static let bundleTo = SettingKey("bundle-to")

  // prune
  public static let snapshotRetention = SettingKey("snapshot-retention", aliases: ["etcd-snapshot-retention"])
  public static let node = SettingKey("node")
  public static let dryRun = SettingKey("dry-run")

  // ls, status
  public static let output = SettingKey("output")
  public static let details = SettingKey("details")

  // S3: every k3s `--s3-X` is also `--etcd-s3-X`.
  public static let s3 = SettingKey("s3", aliases: ["etcd-s3"])
  public static let s3Endpoint = s3Key("endpoint")
  public static let s3EndpointCA = s3Key("endpoint-ca")
  public static let s3SkipSSLVerify = s3Key("skip-ssl-verify")
  public static let s3Insecure = s3Key("insecure")
  public static let s3AccessKey = s3Key("access-key", foreignVariables: ["AWS_ACCESS_KEY_ID"])
  public static let s3SecretKey = s3Key("secret-key", foreignVariables: ["AWS_SECRET_ACCESS_KEY"])
  public static let s3SessionToken = s3Key("session-token", foreignVariables: ["AWS_SESSION_TOKEN"])
  /// Not `AWS_SHARED_CREDENTIALS_FILE`: that one is the credential chain's shared file, which
  /// may lack keys (the chain goes on), where this file must hold them.
  public static let s3CredentialsFile = s3Key("credentials-file")
  public static let s3Bucket = s3Key("bucket")
  public static let s3Region = s3Key("region")
  public static let s3Folder = s3Key("folder")
  public static let s3BucketLookupType = s3Key("bucket-lookup-type")
  public static let s3Timeout = s3Key("timeout")
  public static let s3ReadTimeout = s3Key("read-timeout")
  public static let s3Proxy = s3Key("proxy")
  public static let s3Retention = s3Key("retention")
  public static let s3ConfigSecret = s3Key("config-secret")

  // restore and cluster-reset (etcdutl's flags). Their `--name` and `--data-dir` are the
  // member's, not the snapshot prefix and the tool's directory: those two are flags only.
  public static let walDir = SettingKey("wal-dir")
  public static let initialCluster = SettingKey("initial-cluster")
  public static let initialClusterToken = SettingKey("initial-cluster-token")
  public static let initialAdvertisePeerURLs = SettingKey("initial-advertise-peer-urls")
  public static let skipHashCheck = SettingKey("skip-hash-check")
  public static let bumpRevision = SettingKey("bump-revision")
  public static let markCompacted = SettingKey("mark-compacted")
  public static let restorePath = SettingKey("restore-path", aliases: ["cluster-reset-restore-path"])

  // agent: k3s server's snapshot flags, and the agent's own.
  public static let scheduleCron = SettingKey("etcd-snapshot-schedule-cron")
  public static let disableSnapshots = SettingKey("etcd-disable-snapshots")
  public static let snapshotName = SettingKey("etcd-snapshot-name")
  public static let httpListen = SettingKey("http-listen")
  public static let httpTLSCert = SettingKey("http-tls-cert")
  public static let httpTLSKey = SettingKey("http-tls-key")
  public static let apiTokenFile = SettingKey("api-token-file")
  public static let onFailureExec = SettingKey("on-failure-exec")
  public static let onFailureWebhook = SettingKey("on-failure-webhook")
  public static let onFailureWebhookTokenFile = SettingKey("on-failure-webhook-token-file")
  public static let coordinate = SettingKey("coordinate")
  public static let coordinatePrefix = SettingKey("coordinate-prefix")
  public static let coordinateLeaseTTL = SettingKey("coordinate-lease-ttl")

  private static func s3Key(_ suffix: String, foreignVariables: [String] = []) -> SettingKey {
    SettingKey("s3-\(suffix)", aliases: ["etcd-s3-\(suffix)"], foreignVariables: foreignVariables)
  }

  /// Every setting a config file may hold. A key not among their spellings gets a warning.
  public static let known: [SettingKey] = [
    .debug, .log, .alsoLogToStderr,
    .endpoints, .cacert, .cert, .key, .insecureSkipTLSVerify, .user, .password, .passwordFile, .dialTimeout, .commandTimeout,
    .dataDir, .dir, .name, .nodeName, .snapshotCompress, .compress, .compressLevel, .waitLock,
    .encryptRecipient, .encryptRecipientsFile, .encryptPassphraseFile, .decryptIdentityFile, .decryptPassphraseFile,
    .bundle, .bundlePreset, .bundleRoot, .bundleRecipient, .bundleRecipientsFile, .bundlePassphraseFile, .bundleDir, .bundleS3Folder,
    .bundleTo,
    .snapshotRetention, .node, .dryRun,
    .output, .details,
    .s3, .s3Endpoint, .s3EndpointCA, .s3SkipSSLVerify, .s3Insecure, .s3AccessKey, .s3SecretKey, .s3SessionToken, .s3CredentialsFile,
    .s3Bucket, .s3Region, .s3Folder, .s3BucketLookupType, .s3Timeout, .s3ReadTimeout, .s3Proxy, .s3Retention, .s3ConfigSecret,
    .walDir, .initialCluster, .initialClusterToken, .initialAdvertisePeerURLs, .skipHashCheck, .bumpRevision, .markCompacted,
    .restorePath,
    .scheduleCron, .disableSnapshots, .snapshotName, .httpListen, .httpTLSCert, .httpTLSKey, .apiTokenFile, .onFailureExec,
    .onFailureWebhook, .onFailureWebhookTokenFile, .coordinate, .coordinatePrefix, .coordinateLeaseTTL,
  ]
}
