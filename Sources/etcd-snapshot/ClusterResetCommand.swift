import ArgumentParser
import EtcdSnapshot
import Foundation
import SnapshotCore
import SnapshotSettings

struct ClusterResetCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "cluster-reset",
    abstract: "Turn a stopped member's data dir into a single-member cluster (k3s --cluster-reset).",
    discussion: """
      For a plain etcd member, what `k3s server --cluster-reset` does: refuses while etcd runs \
      on DATA-DIR (bbolt's lock on member/snap/db); moves DATA-DIR to DATA-DIR-old-UNIXTIME \
      (never deletes it); writes a single-member data dir restored from --restore-path, or, \
      without it, from the member's own database (all peers forgotten, data kept); with --s3, \
      --restore-path names an object in the bucket, downloaded and checked first. The member \
      name and peer URLs default to what the old data dir records. A marker file stops an \
      accidental second run. Prints how to start etcd now and, for a former cluster, what to \
      do on the other members.

      Examples:
        etcd-snapshot cluster-reset --data-dir /var/lib/etcd
        etcd-snapshot cluster-reset --data-dir /var/lib/etcd \\
          --restore-path on-demand-node1-1700000000 --dir /var/backups/etcd
      """
  )

  @Option(
    name: .customLong("data-dir"),
    help: ArgumentHelp("The stopped member's etcd data directory; flag only (data-dir in a config file is the tool's).", valueName: "dir"))
  var dataDir: String

  @Option(
    name: [.customLong("restore-path"), .customLong("cluster-reset-restore-path")],
    help: help(
      "Restore from this snapshot (a path or a name that `ls` prints) instead of the member's own data.", .restorePath, valueName: "snapshot"))
  var restorePath: String?

  @Option(name: .customLong("name"), help: ArgumentHelp("Member name (default: what the data dir records); flag only.", valueName: "name"))
  var name: String?

  @Option(
    name: .customLong("initial-advertise-peer-urls"),
    help: help("Peer URLs (default: what the data dir records).", .initialAdvertisePeerURLs, valueName: "urls"))
  var initialAdvertisePeerURLs: String?

  @Option(name: .customLong("initial-cluster-token"), help: help("Cluster token (default etcd-cluster).", .initialClusterToken, valueName: "token"))
  var initialClusterToken: String?

  @Option(
    name: [.customLong("dir"), .customLong("etcd-snapshot-dir")], help: help("Where to look up --restore-path by name.", .dir, valueName: "dir"))
  var snapshotDir: String?

  @OptionGroup var s3: S3Options

  @OptionGroup var decryption: DecryptionOptions

  @OptionGroup var bundleTo: BundleToOption

  @OptionGroup var global: GlobalOptions

  func run() async throws {
    try await runReporting(global) { invocation in
      var settings = invocation.settings()
      let s3Config = s3.configuration(&settings)
      let restorePath = settings.string(.restorePath, flag: self.restorePath)
      let snapshotDir = settings.string(.dir, flag: self.snapshotDir)
      let peerURLs = settings.string(.initialAdvertisePeerURLs, flag: initialAdvertisePeerURLs)
      let token = settings.string(.initialClusterToken, flag: initialClusterToken)
      try invocation.check(settings)
      var options = ClusterResetOptions(
        dataDir: dataDir, restorePath: restorePath, name: name, initialAdvertisePeerURLs: peerURLs, initialClusterToken: token,
        now: Int64(Date().timeIntervalSince1970))
      options.snapshots = DirectoryOptions.configuration(dataDir: nil, dir: snapshotDir, settings: settings)
      options.s3 = s3Config
      options.decryption = decryption.configuration(settings)
      options.bundleTo = bundleTo.value(settings)
      let result = try await ClusterReset(options, logger: invocation.logger()).run()
      for leftover in result.removedLeftovers { note("etcd-snapshot: removed \(leftover), left by a cluster-reset that was killed") }
      let hash = result.restore.hashVerified ? ", SHA-256 verified" : ""
      print(
        "cluster reset of \(dataDir) from \(result.source): member \(result.name) (\(result.peerURLs.joined(separator: ","))), revision \(result.restore.revision)\(hash); the old data dir is kept at \(result.oldDataDir)"
      )
      if let b = result.bundle { print("unpacked the bundle \(b.address) into \(b.directory): \(b.entries) entries") }
      print(result.instructions, terminator: "")
    }
  }
}
