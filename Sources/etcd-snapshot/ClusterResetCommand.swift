import ArgumentParser
import EtcdSnapshot
import Foundation
import SnapshotCore

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

  @Option(name: .customLong("data-dir"), help: ArgumentHelp("The stopped member's etcd data directory.", valueName: "dir"))
  var dataDir: String

  @Option(
    name: [.customLong("restore-path"), .customLong("cluster-reset-restore-path")],
    help: ArgumentHelp("Restore from this snapshot (a path or a name that `ls` prints) instead of the member's own data.", valueName: "snapshot"))
  var restorePath: String?

  @Option(name: .customLong("name"), help: ArgumentHelp("Member name (default: what the data dir records).", valueName: "name"))
  var name: String?

  @Option(
    name: .customLong("initial-advertise-peer-urls"),
    help: ArgumentHelp("Peer URLs (default: what the data dir records).", valueName: "urls"))
  var initialAdvertisePeerURLs: String?

  @Option(name: .customLong("initial-cluster-token"), help: ArgumentHelp("Cluster token (default etcd-cluster).", valueName: "token"))
  var initialClusterToken: String?

  @Option(
    name: [.customLong("dir"), .customLong("etcd-snapshot-dir")], help: ArgumentHelp("Where to look up --restore-path by name.", valueName: "dir"))
  var snapshotDir: String?

  @OptionGroup var s3: S3Options

  @OptionGroup var global: GlobalOptions

  func run() async throws {
    try await runReporting(debug: global.debug) {
      let env = ProcessInfo.processInfo.environment
      let s3Config = try s3.validated(environment: env)
      if s3Config != nil && restorePath == nil {
        throw SnapshotError(
          .invalidConfiguration, "--s3 needs --restore-path NAME: the name of the snapshot in the bucket (see `etcd-snapshot ls --s3`)")
      }
      let dataDir = self.dataDir
      let name = self.name
      let peerURLs = initialAdvertisePeerURLs
      let token = initialClusterToken
      let reset: @Sendable (String?) throws -> ClusterResetResult = { snapshotPath in
        try ClusterReset.run(
          ClusterResetOptions(
            dataDir: dataDir, restorePath: snapshotPath, name: name, initialAdvertisePeerURLs: peerURLs,
            initialClusterToken: token, now: Int64(Date().timeIntervalSince1970)))
      }
      let result: ClusterResetResult
      if let restorePath {
        let storage = DirectoryOptions.configuration(dataDir: nil, dir: snapshotDir, environment: env)
        result = try await SnapshotReference.withLocalFile(restorePath, in: storage, s3: s3Config, logger: makeLogger(debug: global.debug)) {
          path, _ in try reset(path)
        }
      } else {
        result = try reset(nil)
      }
      for leftover in result.removedLeftovers { note("etcd-snapshot: removed \(leftover), left by a cluster-reset that was killed") }
      let hash = result.restore.hashVerified ? ", SHA-256 verified" : ""
      print(
        "cluster reset of \(dataDir) from \(result.source): member \(result.name) (\(result.peerURLs.joined(separator: ","))), revision \(result.restore.revision)\(hash); the old data dir is kept at \(result.oldDataDir)"
      )
      print(result.instructions, terminator: "")
    }
  }
}
