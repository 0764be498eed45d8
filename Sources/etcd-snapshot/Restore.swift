import ArgumentParser
import EtcdFormats
import EtcdSnapshot
import Foundation
import SnapshotCore
import SnapshotSettings

struct Restore: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Write a new etcd data directory from a snapshot, natively (no etcdutl needed).",
    discussion: """
      Flags and defaults as `etcdutl snapshot restore`. SNAPSHOT is a path (with a `/`: ./x, /x) or a name that \
      `ls` prints (always looked up in --dir, never in the current directory). The data directory must not exist or be empty. \
      etcd's SHA-256 trailer is checked (--skip-hash-check for a copied member/snap/db), the \
      bbolt structure is checked, and everything is written into a temporary directory that \
      is renamed into place only when complete: a failure leaves no data directory. Stock \
      etcd 3.4 and 3.5 start on the result.

      Example (one member of a three-member cluster; run the same on each with its own \
      --name and --initial-advertise-peer-urls):
        etcd-snapshot restore on-demand-node1-1700000000 --dir /var/backups/etcd \\
          --data-dir /var/lib/etcd-new --name m1 \\
          --initial-cluster m1=https://10.0.0.1:2380,m2=https://10.0.0.2:2380,m3=https://10.0.0.3:2380 \\
          --initial-advertise-peer-urls https://10.0.0.1:2380
      """
  )

  @Argument(help: ArgumentHelp("A snapshot path (./x, /x), or a name that `ls` prints (looked up in --dir).", valueName: "snapshot"))
  var snapshot: String

  @Option(
    name: .customLong("data-dir"),
    help: ArgumentHelp(
      "The etcd data directory to create (default: NAME.etcd); flag only (data-dir in a config file is the tool's).", valueName: "dir"))
  var dataDir: String?

  @Option(name: .customLong("wal-dir"), help: help("A separate WAL directory (default: DATA-DIR/member/wal).", .walDir, valueName: "dir"))
  var walDir: String?

  @Option(
    name: .customLong("name"), help: ArgumentHelp("This member's name; flag only (name in a config file is the snapshot prefix).", valueName: "name"))
  var name = "default"

  @Option(
    name: .customLong("initial-cluster"),
    help: help("All members: name=peer-url,... (default default=http://localhost:2380)", .initialCluster, valueName: "members"))
  var initialCluster: String?

  @Option(
    name: .customLong("initial-cluster-token"),
    help: help("Cluster token, part of the member IDs (default etcd-cluster).", .initialClusterToken, valueName: "token"))
  var initialClusterToken: String?

  @Option(
    name: .customLong("initial-advertise-peer-urls"),
    help: help("This member's peer URLs, comma separated (default http://localhost:2380).", .initialAdvertisePeerURLs, valueName: "urls"))
  var initialAdvertisePeerURLs: String?

  @Flag(
    name: .customLong("skip-hash-check"),
    help: help("Accept a snapshot without etcd's SHA-256 trailer (a copied member/snap/db); do not verify it.", .skipHashCheck))
  var skipHashCheck = false

  @Option(
    name: .customLong("bump-revision"),
    help: help(
      "Add N to the revision (with --mark-compacted) so Kubernetes clients re-list; `auto` picks N from the snapshot's revision and age.",
      .bumpRevision, valueName: "n|auto"))
  var bumpRevision: String?

  @Flag(name: .customLong("mark-compacted"), help: help("Mark all revisions up to the bumped one compacted (with --bump-revision).", .markCompacted))
  var markCompacted = false

  @Option(name: [.customLong("dir"), .customLong("etcd-snapshot-dir")], help: help("Where to look up SNAPSHOT by name.", .dir, valueName: "dir"))
  var snapshotDir: String?

  @OptionGroup var s3: S3Options

  @OptionGroup var decryption: DecryptionOptions

  @OptionGroup var bundleTo: BundleToOption

  @OptionGroup var global: GlobalOptions

  func run() async throws {
    try await runReporting(global) { invocation in
      var settings = invocation.settings()
      let storage = DirectoryOptions.configuration(dataDir: nil, dir: settings.string(.dir, flag: snapshotDir), settings: settings)
      let s3Config = s3.configuration(&settings)
      var options = RestoreOptions()
      options.name = name
      options.initialCluster = settings.string(.initialCluster, flag: initialCluster) ?? options.initialCluster
      options.initialClusterToken = settings.string(.initialClusterToken, flag: initialClusterToken) ?? options.initialClusterToken
      options.initialAdvertisePeerURLs =
        settings.string(.initialAdvertisePeerURLs, flag: initialAdvertisePeerURLs) ?? options.initialAdvertisePeerURLs
      options.dataDir = dataDir
      options.walDir = settings.string(.walDir, flag: walDir)
      options.skipHashCheck = settings.bool(.skipHashCheck, flag: skipHashCheck ? true : nil)
      options.markCompacted = settings.bool(.markCompacted, flag: markCompacted ? true : nil)
      var bump = RevisionBumpRequest.none
      if let given = settings.sourced(.bumpRevision, flag: bumpRevision) {
        if let request = RevisionBumpRequest(given.value, now: Int64(Date().timeIntervalSince1970)) {
          bump = request
        } else {
          settings.report(given, "is not a number or `auto` (e.g. 1000000000)")
        }
      }
      try invocation.check(settings)
      let source = SnapshotSource(snapshot, storage: storage, s3: s3Config, decryption: decryption.configuration(settings))
      let outcome = try await RestoreSnapshot(
        RestoreConfiguration(source: source, options: options, bump: bump, bundleTo: bundleTo.value(settings)), logger: invocation.logger()
      ).run()
      report(outcome, options: options)
    }
  }

  private func report(_ outcome: RestoreOutcome, options: RestoreOptions) {
    if let choice = outcome.autoBump { note("etcd-snapshot: --bump-revision auto chose \(choice.bump): \(choice.reason)") }
    let result = outcome.result
    for leftover in result.removedLeftovers { note("etcd-snapshot: removed \(leftover), left by a restore that was killed") }
    print(result.dataDir)
    let hash = result.hashVerified ? "SHA-256 verified" : "SHA-256 not checked"
    print(
      "restored \(outcome.source): revision \(result.revision), member \(result.member.idHex) (\(result.member.name)) of cluster \(String(result.clusterID, radix: 16)) with \(result.members.count) member(s), \(hash)"
    )
    var start = "etcd --name \(result.member.name) --data-dir \(result.dataDir)"
    if options.walDir != nil { start += " --wal-dir \(result.walDir)" }
    start += " --initial-advertise-peer-urls \(result.member.peerURLs.joined(separator: ","))"
    start += " --initial-cluster \(options.initialCluster) --listen-peer-urls ... --listen-client-urls ... --advertise-client-urls ..."
    if let b = outcome.bundle { print("unpacked the bundle \(b.address) into \(b.directory): \(b.entries) entries") }
    note("etcd-snapshot: start etcd on it with the same membership, e.g.:\n  \(start)")
  }
}
