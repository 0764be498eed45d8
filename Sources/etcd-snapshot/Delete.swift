import ArgumentParser
import EtcdSnapshot
import Foundation
import SnapshotCore

struct Delete: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Delete snapshots by name, with their metadata records.",
    discussion: """
      Every name is checked first; if any is unknown or is not a plain name (contains `/` or \
      `..`), nothing is deleted. With --s3 a name is deleted from the bucket folder (object \
      and .metadata sidecar) and from the local directory, wherever it is.

      Example:
        etcd-snapshot delete --dir /var/backups/etcd on-demand-node1-1700000000
      """
  )

  @OptionGroup var directory: DirectoryOptions

  @OptionGroup var s3: S3Options

  @Argument(help: ArgumentHelp("Snapshot names as `ls` prints them.", valueName: "name"))
  var names: [String] = []

  @OptionGroup var lock: LockOptions

  @OptionGroup var global: GlobalOptions

  func run() async throws {
    try await runReporting(debug: global.debug) {
      let env = ProcessInfo.processInfo.environment
      let s3Config = try s3.validated(environment: env)
      let catalog = Catalog(storage: directory.configuration(environment: env), s3: s3Config, logger: makeLogger(debug: global.debug))
      for name in try await catalog.delete(names: names, waitLock: lock.duration()) { print("deleted \(name)") }
    }
  }
}

struct Prune: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Delete old snapshots, keeping the newest N per node and name prefix.",
    discussion: """
      As `k3s etcd-snapshot prune`: only snapshots named PREFIX-NODE-UNIXTIME with the given \
      --name prefix are counted, separately for each node; the newest --snapshot-retention of \
      each node are kept. Files with other names are never pruned. With --s3 the bucket \
      folder is pruned too, keeping --s3-retention per node there. --node NODE prunes only \
      that node's snapshots (one that left the cluster: `ls` lists each node's newest \
      snapshot and its age). Names dated more than 10 minutes ahead are never counted nor pruned.

      Example:
        etcd-snapshot prune --dir /var/backups/etcd --name nightly \\
          --snapshot-retention 7 --dry-run
      """
  )

  @OptionGroup var directory: DirectoryOptions

  @Option(name: .customLong("name"), help: ArgumentHelp("Only snapshots with this name prefix.", valueName: "prefix"))
  var name = "on-demand"

  @Option(
    name: [.customLong("snapshot-retention"), .customLong("etcd-snapshot-retention")],
    help: ArgumentHelp("Snapshots to keep per node.", valueName: "n"))
  var retention = 5

  @Option(
    name: .customLong("node"),
    help: ArgumentHelp("Only this node's snapshots (a node that left or was renamed: see the node list of `ls`).", valueName: "node"))
  var node: String?

  @Flag(name: .customLong("dry-run"), help: "Print what would be deleted; delete nothing.")
  var dryRun = false

  @OptionGroup var s3: S3Options

  @OptionGroup var lock: LockOptions

  @OptionGroup var global: GlobalOptions

  func run() async throws {
    try await runReporting(debug: global.debug) {
      let env = ProcessInfo.processInfo.environment
      let s3Config = try s3.validated(environment: env)
      var config = PruneConfiguration(storage: directory.configuration(environment: env))
      config.retention = retention
      config.namePrefix = name
      config.dryRun = dryRun
      config.s3 = s3Config
      config.waitLock = try lock.duration()
      config.node = node
      let result = try await Catalog(storage: config.storage, s3: s3Config, logger: makeLogger(debug: global.debug)).prune(config)
      report(result.plan, in: nil, retention: retention)
      if let plan = result.s3Plan, let s3Config {
        report(plan, in: "s3://\(s3Config.bucket)/\(s3Config.keyPrefix)", retention: s3Config.retention)
      }
    }
  }

  /// Local lines read as before `--s3` existed (`would delete NAME`); S3 lines name the bucket.
  private func report(_ plan: RetentionPlan, in location: String?, retention: Int) {
    let suffix = location.map { " (\($0))" } ?? ""
    for item in plan.future {
      note(
        "etcd-snapshot: warning: \(escapedForTerminal(item.name))\(suffix) is dated \(rfc3339(timestamp: item.timestamp)), in the future: not counted toward the retention and not pruned; check that node's clock, or delete it by hand"
      )
    }
    if plan.delete.isEmpty {
      print("nothing to prune\(suffix): \(plan.keep.count) snapshot(s) with prefix \(quoted(name)) kept (retention \(retention) per node)")
      return
    }
    for item in plan.delete {
      print(dryRun ? "would delete \(item.name)\(suffix)" : "deleted \(item.name)\(suffix)")
    }
    let of = node.map { " of node \(quoted($0))" } ?? ""
    print("kept \(plan.keep.count) snapshot(s) with prefix \(quoted(name))\(of)\(suffix) (retention \(retention) per node)")
  }
}
