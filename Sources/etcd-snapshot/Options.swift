import ArgumentParser
import EtcdSnapshot
import Foundation
import SnapshotCore
import SnapshotSettings

#if canImport(Glibc)
  import Glibc
#endif

/// Help text with the variables that set the flag: `TEXT (env ETCD_SNAPSHOT_X, OTHER_X)`.
func help(_ text: String, _ key: SettingKey, valueName: String? = nil) -> ArgumentHelp {
  ArgumentHelp("\(text) (env \(([key.variable] + key.foreignVariables).joined(separator: ", ")))", valueName: valueName)
}

/// Where snapshots live: k3s's `--data-dir` (`-d`) and `--dir` (`--etcd-snapshot-dir`).
struct DirectoryOptions: ParsableArguments {
  @Option(
    name: [.customShort("d"), .customLong("data-dir")],
    help: help(
      "Tool data directory; snapshots go to DIR/snapshots, or DIR/server/db/snapshots for a k3s data dir (default /var/lib/etcd-snapshot for root, else $XDG_DATA_HOME/etcd-snapshot).",
      .dataDir, valueName: "dir"))
  var dataDir: String?

  @Option(
    name: [.customLong("dir"), .customLong("etcd-snapshot-dir")],
    help: help("Snapshot directory; overrides DATA-DIR/snapshots.", .dir, valueName: "dir"))
  var dir: String?

  func configuration(_ settings: inout SettingsReader) -> SnapshotDirectoryConfiguration {
    let dataDir = settings.string(.dataDir, flag: dataDir)
    var dir = settings.string(.dir, flag: dir)
    // A k3s data dir (`data-dir: /var/lib/rancher/k3s` in a k3s config.yaml, or `-d` as given
    // to k3s) keeps its snapshots where k3s does: DIR/server/db/snapshots.
    if dir == nil, let dataDir, Self.isK3sDataDir(dataDir) { dir = dataDir + "/server/db/snapshots" }
    return Self.configuration(dataDir: dataDir, dir: dir, settings: settings)
  }

  /// A directory laid out as k3s's data dir (`server/db/` inside) and not as ours.
  static func isK3sDataDir(_ path: String) -> Bool {
    var isDirectory: ObjCBool = false
    let k3s = FileManager.default.fileExists(atPath: path + "/server/db", isDirectory: &isDirectory) && isDirectory.boolValue
    return k3s && !FileManager.default.fileExists(atPath: path + "/snapshots")
  }

  /// The snapshot directory for the given flags, with the default data dir for this user.
  ///
  /// `restore` and `cluster-reset` call it with no data dir: their `--data-dir` is etcd's.
  static func configuration(dataDir: String?, dir: String?, settings: SettingsReader) -> SnapshotDirectoryConfiguration {
    SnapshotDirectoryConfiguration(
      dataDir: dataDir
        ?? SnapshotDirectoryConfiguration.defaultDataDir(
          isRoot: geteuid() == 0, environment: settings.layer.environmentVariables, accountHome: accountHome()),
      directory: dir)
  }
}

/// k3s's `--node-name` (env K3S_NODE_NAME too).
struct NodeNameOption: ParsableArguments {
  @Option(
    name: .customLong("node-name"),
    help: help("Node name, as k3s's --node-name; in save it goes into the snapshot name (default: the host name).", .nodeName, valueName: "node"))
  var nodeName: String?

  func value(_ settings: SettingsReader) -> String? { settings.sourced(.nodeName, flag: nodeName)?.value }
}

/// `--wait-lock`, for the commands that change a snapshot directory.
struct LockOptions: ParsableArguments {
  @Option(
    name: .customLong("wait-lock"),
    help: help(
      "Wait up to this long for another save, prune or delete on the directory (default: fail at once, exit 75).", .waitLock,
      valueName: "duration"))
  var waitLock: String?

  /// The duration given, or nil; a bad value goes to the reader's problems.
  func duration(_ settings: inout SettingsReader) -> Duration? {
    settings.duration(.waitLock, flag: waitLock, positive: false, example: "30s or 5m")
  }
}

/// How `save` and the agent compress: `--compress`, `--compress-level`, and k3s's
/// `--snapshot-compress` / `--etcd-snapshot-compress`, which mean zip.
struct CompressionOptions: ParsableArguments {
  @Option(
    name: .customLong("compress"),
    help: help(
      "Store the snapshot compressed: zstd (NAME.zst), gzip (NAME.gz), zip (NAME.zip, as k3s) or none (default).", .compress,
      valueName: "format"))
  var compress: String?

  @Option(
    name: .customLong("compress-level"),
    help: help("Compression level: zstd 1-19 (default 1), gzip and zip 1-9 (default 6).", .compressLevel, valueName: "n"))
  var level: Int?

  @Flag(
    name: [.customLong("snapshot-compress"), .customLong("etcd-snapshot-compress")],
    help: help("k3s's compression: the same as --compress zip.", .snapshotCompress))
  var k3sCompress = false

  /// Sets the compression of `configuration`; bad values go to the reader's problems.
  func apply(to configuration: inout SaveConfiguration, _ settings: inout SettingsReader) {
    let k3s = settings.bool(.snapshotCompress, flag: k3sCompress ? true : nil)
    if let asked = settings.sourced(.compress, flag: compress) {
      guard let compression = SnapshotCompression(rawValue: asked.value.lowercased()) else {
        settings.report(asked, "is not a compression: use zstd, gzip, zip or none")
        return
      }
      if k3s && compression != .zip {
        settings.report("--snapshot-compress (zip) and --compress \(compression.rawValue) disagree: give one of them")
      }
      configuration.compression = compression
    } else if k3s {
      configuration.compression = .zip
    }
    configuration.compressionLevel = settings.int(.compressLevel, flag: level)
  }
}

/// Whom `save` and the agent encrypt to (age): `--encrypt-recipient`, repeatable,
/// `--encrypt-recipients-file`, repeatable, or `--encrypt-passphrase-file`.
struct EncryptionOptions: ParsableArguments {
  @Option(
    name: .customLong("encrypt-recipient"),
    help: help(
      "Encrypt the snapshot (age, NAME.age) to this public key (age1..., as age-keygen prints); repeatable. Only the identity's holder can read it.",
      .encryptRecipient, valueName: "age1..."))
  var recipients: [String] = []

  @Option(
    name: .customLong("encrypt-recipients-file"),
    help: help("Encrypt to the age1... public keys in this file, one per line (# comments); repeatable.", .encryptRecipientsFile, valueName: "file"))
  var recipientFiles: [String] = []

  @Option(
    name: .customLong("encrypt-passphrase-file"),
    help: help(
      "Encrypt with the passphrase on this file's first line (age's scrypt), instead of recipients.", .encryptPassphraseFile, valueName: "file"))
  var passphraseFile: String?

  func configuration(_ settings: SettingsReader) -> EncryptionConfiguration {
    EncryptionConfiguration(
      recipients: settings.list(.encryptRecipient, flag: recipients),
      recipientFiles: settings.list(.encryptRecipientsFile, flag: recipientFiles),
      passphraseFile: settings.string(.encryptPassphraseFile, flag: passphraseFile))
  }

  func apply(to configuration: inout SaveConfiguration, _ settings: inout SettingsReader) {
    configuration.encryption = self.configuration(settings)
  }
}

/// The restore bundle `save` and the agent make with each snapshot: `--bundle PATH`
/// (repeatable), `--bundle-preset`, its own recipients and places.
struct BundleOptions: ParsableArguments {
  @Option(
    name: .customLong("bundle"),
    help: help(
      "Keep this file or folder (absolute path) in the snapshot's restore bundle, NAME.bundle.tar, stored apart; repeatable.", .bundle,
      valueName: "path"))
  var paths: [String] = []

  @Option(
    name: .customLong("bundle-preset"),
    help: help("Bundle what a restore of this distribution needs: openshift, k3s, rke2 or kubeadm (paths in the README).", .bundlePreset))
  var preset: String?

  @Option(
    name: .customLong("bundle-root"),
    help: help("Look the preset's paths up under this folder instead of / (a node's disk mounted elsewhere).", .bundleRoot, valueName: "dir"))
  var root: String?

  @Option(
    name: .customLong("bundle-recipient"),
    help: help("Encrypt the bundle to this age1... key instead of the snapshot's recipients; repeatable.", .bundleRecipient, valueName: "age1..."))
  var recipients: [String] = []

  @Option(
    name: .customLong("bundle-recipients-file"),
    help: help("Encrypt the bundle to the age1... keys in this file; repeatable.", .bundleRecipientsFile, valueName: "file"))
  var recipientFiles: [String] = []

  @Option(
    name: .customLong("bundle-passphrase-file"),
    help: help("Encrypt the bundle with the passphrase on this file's first line.", .bundlePassphraseFile, valueName: "file"))
  var passphraseFile: String?

  @Option(
    name: .customLong("bundle-dir"), help: help("Write bundles here (default DIR/bundles).", .bundleDir, valueName: "dir"))
  var directory: String?

  @Option(
    name: .customLong("bundle-s3-folder"),
    help: help("With --s3, upload bundles to this folder of the bucket (default S3-FOLDER/bundles).", .bundleS3Folder, valueName: "folder"))
  var s3Folder: String?

  func apply(to configuration: inout SaveConfiguration, _ settings: inout SettingsReader) {
    var bundle = BundleConfiguration()
    bundle.paths = settings.list(.bundle, flag: paths)
    if let asked = settings.sourced(.bundlePreset, flag: preset) {
      if let p = BundlePreset(rawValue: asked.value.lowercased()) {
        bundle.preset = p
      } else {
        settings.report(asked, "is not a bundle preset: use openshift, k3s, rke2 or kubeadm")
      }
    }
    if let r = settings.string(.bundleRoot, flag: root) { bundle.root = r }
    bundle.encryption = EncryptionConfiguration(
      recipients: settings.list(.bundleRecipient, flag: recipients),
      recipientFiles: settings.list(.bundleRecipientsFile, flag: recipientFiles),
      passphraseFile: settings.string(.bundlePassphraseFile, flag: passphraseFile))
    bundle.directory = settings.string(.bundleDir, flag: directory)
    bundle.s3Folder = settings.string(.bundleS3Folder, flag: s3Folder)
    configuration.bundle = bundle
  }
}

/// `restore --bundle-to DIR`, `cluster-reset --bundle-to DIR`.
struct BundleToOption: ParsableArguments {
  @Option(
    name: .customLong("bundle-to"),
    help: help(
      "Also unpack the snapshot's restore bundle into this folder (/ puts the files back where they were), after checking it whole.",
      .bundleTo, valueName: "dir"))
  var bundleTo: String?

  func value(_ settings: SettingsReader) -> String? { settings.string(.bundleTo, flag: bundleTo) }
}

/// How the readers decrypt an age-encrypted snapshot: `--decrypt-identity-file`, repeatable,
/// or `--decrypt-passphrase-file`.
struct DecryptionOptions: ParsableArguments {
  @Option(
    name: .customLong("decrypt-identity-file"),
    help: help(
      "Decrypt an encrypted snapshot with the age identities in this file (age-keygen's AGE-SECRET-KEY-1... lines); repeatable.",
      .decryptIdentityFile, valueName: "file"))
  var identityFiles: [String] = []

  @Option(
    name: .customLong("decrypt-passphrase-file"),
    help: help("Decrypt a passphrase-encrypted snapshot with the passphrase on this file's first line.", .decryptPassphraseFile, valueName: "file"))
  var passphraseFile: String?

  func configuration(_ settings: SettingsReader) -> DecryptionConfiguration {
    DecryptionConfiguration(
      identityFiles: settings.list(.decryptIdentityFile, flag: identityFiles),
      passphraseFile: settings.string(.decryptPassphraseFile, flag: passphraseFile))
  }
}

/// Options every command has: k3s's `--debug`, `--config`, `--log`, `--alsologtostderr`.
struct GlobalOptions: ParsableArguments {
  @Flag(name: .customLong("debug"), help: help("Print the underlying error causes and debug messages.", .debug))
  var debug = false

  @Option(
    name: [.customShort("c"), .customLong("config")],
    help: ArgumentHelp(
      "Config file: flag names as keys, either spelling; a k3s config.yaml works (env ETCD_SNAPSHOT_CONFIG_FILE; default /etc/etcd-snapshot/config.yaml, then FILE.d/*.yaml).",
      valueName: "file"))
  var config: String?

  @Option(
    name: [.customShort("l"), .customLong("log")],
    help: help("Write messages to this file (appended, 0600) instead of stderr.", .log, valueName: "file"))
  var log: String?

  @Flag(name: .customLong("alsologtostderr"), help: help("With --log: write messages to stderr too.", .alsoLogToStderr))
  var alsoLogToStderr = false
}

/// The home directory of this account in the password database, if it has one.
func accountHome() -> String? {
  guard let entry = getpwuid(geteuid()), let dir = entry.pointee.pw_dir else { return nil }
  let home = String(cString: dir)
  return home.isEmpty ? nil : home
}

func nonEmpty(_ s: String?) -> String? {
  guard let s, !s.isEmpty else { return nil }
  return s
}
