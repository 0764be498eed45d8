/// Where snapshots are kept and how new ones are named: k3s's `--data-dir`, `--dir`, `--name`,
/// `--node-name`.
package struct SnapshotDirectoryConfiguration: Sendable, Codable {
  /// The tool's data directory; snapshots go to `<dataDir>/snapshots` unless `directory` is set.
  package var dataDir: String
  /// Snapshot directory (`--dir`, `--etcd-snapshot-dir`); overrides `<dataDir>/snapshots`.
  package var directory: String?

  /// Makes a configuration.
  package init(dataDir: String, directory: String? = nil) {
    self.dataDir = dataDir
    self.directory = directory
  }

  /// The directory holding snapshots.
  package var snapshotDirectory: String {
    if let directory { return directory }
    return dataDir.hasSuffix("/") ? dataDir + "snapshots" : dataDir + "/snapshots"
  }

  /// The default data directory: `/var/lib/etcd-snapshot` for root, else
  /// `$XDG_DATA_HOME/etcd-snapshot` (`~/.local/share/etcd-snapshot`, with the account's home
  /// from the password database when `HOME` is unset, as in a systemd unit). Empty when there
  /// is no home at all: never a folder under `/tmp`, where anyone can create it first.
  package static func defaultDataDir(isRoot: Bool, environment: [String: String], accountHome: String? = nil) -> String {
    if isRoot { return "/var/lib/etcd-snapshot" }
    if let xdg = environment["XDG_DATA_HOME"], xdg.hasPrefix("/") { return xdg + "/etcd-snapshot" }
    let home = [environment["HOME"], accountHome].compactMap { $0 }.first { $0.hasPrefix("/") && $0 != "/" }
    guard let home else { return "" }
    return home + "/.local/share/etcd-snapshot"
  }

  /// Every problem, in words.
  package func problems() -> [String] {
    var problems: [String] = []
    if dataDir.isEmpty && directory == nil {
      problems.append("there is no default snapshot directory (HOME is not set and the account has no home): give --dir or --data-dir")
    }
    if let directory, directory.isEmpty { problems.append("--dir is empty") }
    return problems
  }
}

/// What `save` does.
package struct SaveConfiguration: Sendable, Codable {
  /// How to reach etcd.
  package var connection: ConnectionConfiguration
  /// Where to write.
  package var storage: SnapshotDirectoryConfiguration
  /// Name prefix (`--name`), k3s default `on-demand`.
  package var namePrefix: String = "on-demand"
  /// Node name (`--node-name`), default the host name.
  package var nodeName: String
  /// Also upload to S3 while saving (`--s3`), when set.
  package var s3: S3Configuration?
  /// How long to wait for another save, prune or delete on the directory (`--wait-lock`);
  /// nil: fail at once, as k3s does.
  package var waitLock: Duration?
  /// How the stored file is compressed (`--compress`; k3s's `--snapshot-compress` is zip).
  package var compression: SnapshotCompression = .plain
  /// The compression level (`--compress-level`); nil: the compression's default.
  package var compressionLevel: Int?
  /// Whom the stored file is encrypted to (`--encrypt-recipient`, …); off by default.
  package var encryption = EncryptionConfiguration()
  /// The restore bundle made with each snapshot (`--bundle`, `--bundle-preset`); off by default.
  package var bundle = BundleConfiguration()

  /// How the bundle is compressed: as the snapshot, except that a k3s zip makes a `.tar.gz`.
  package var bundleCompression: SnapshotCompression { compression == .zip ? .gzip : compression }

  /// Whom the bundle is encrypted to: its own recipients, else the snapshot's.
  package var bundleEncryption: EncryptionConfiguration { bundle.encryption.isEnabled ? bundle.encryption : encryption }

  /// The file name a snapshot named `name` is stored under: with the suffix of its
  /// compression, then `.age` when it is encrypted (`NAME.zst.age`).
  package func fileName(of name: SnapshotName) -> String {
    name.fileName + compression.fileSuffix + (encryption.isEnabled ? EncryptionConfiguration.fileSuffix : "")
  }

  /// Makes a configuration with k3s's defaults.
  package init(connection: ConnectionConfiguration, storage: SnapshotDirectoryConfiguration, nodeName: String) {
    self.connection = connection
    self.storage = storage
    self.nodeName = nodeName
  }

  /// Every problem, in words.
  package func problems() -> [String] {
    var problems = connection.problems() + storage.problems()
    if let p = SnapshotName.problem(with: namePrefix, flag: "--name") { problems.append(p) }
    if let p = SnapshotName.problem(with: nodeName, flag: "--node-name") { problems.append(p) }
    if let compressionLevel {
      if let levels = compression.levels {
        if !levels.range.contains(compressionLevel) {
          problems.append(
            "--compress-level \(compressionLevel) is out of range for \(compression.rawValue): use \(levels.range.lowerBound) to \(levels.range.upperBound) (default \(levels.default))"
          )
        }
      } else {
        problems.append("--compress-level needs --compress zstd, gzip or zip: the snapshot is not compressed")
      }
    }
    problems += encryption.problems()
    problems += bundle.problems()
    if let s3 { problems += s3.problems() }
    return problems
  }
}

/// What `prune` does.
package struct PruneConfiguration: Sendable, Codable {
  /// Where the snapshots are.
  package var storage: SnapshotDirectoryConfiguration
  /// Snapshots kept per node and prefix (`--snapshot-retention`, default 5); 0 keeps all, as
  /// in k3s.
  package var retention: Int = 5
  /// Only snapshots with this name prefix (`--name`, default `on-demand` as in k3s).
  package var namePrefix: String = "on-demand"
  /// Print what would be deleted, delete nothing.
  package var dryRun = false
  /// Also prune S3 (`--s3`), keeping `s3.retention` per node there.
  package var s3: S3Configuration?
  /// How long to wait for another save, prune or delete on the directory (`--wait-lock`).
  package var waitLock: Duration?
  /// Only this node's snapshots (`--node`): a node that left or was renamed is pruned on its
  /// own, down to the retention; nil prunes every node, each to the retention.
  package var node: String?

  /// Makes a configuration with k3s's defaults.
  package init(storage: SnapshotDirectoryConfiguration) {
    self.storage = storage
  }

  /// Every problem, in words.
  package func problems() -> [String] {
    var problems = storage.problems()
    if retention < 0 {
      problems.append("--snapshot-retention must be 0 (never prune) or more (got \(retention))")
    }
    if let p = SnapshotName.problem(with: namePrefix, flag: "--name") { problems.append(p) }
    if let node, let p = SnapshotName.problem(with: node, flag: "--node") { problems.append(p) }
    if let s3 { problems += s3.problems() }
    return problems
  }
}
