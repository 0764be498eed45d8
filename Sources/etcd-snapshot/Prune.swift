import ArgumentParser
import EtcdSnapshot
import Foundation
import SnapshotCore
import SnapshotSettings

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

  @Option(name: .customLong("name"), help: help("Only snapshots with this name prefix (default on-demand).", .name, valueName: "prefix"))
  var name: String?

  @Option(
    name: [.customLong("snapshot-retention"), .customLong("etcd-snapshot-retention")],
    help: help("Snapshots to keep per node (default 5; 0 never prunes, as k3s).", .snapshotRetention, valueName: "n"))
  var retention: Int?

  @Option(
    name: .customLong("node"),
    help: help("Only this node's snapshots (a node that left or was renamed: see the node list of `ls`).", .node, valueName: "node"))
  var node: String?

  @OptionGroup var nodeName: NodeNameOption

  @Flag(name: .customLong("dry-run"), help: help("Print what would be deleted; delete nothing.", .dryRun))
  var dryRun = false

  @OptionGroup var s3: S3Options

  @OptionGroup var lock: LockOptions

  @OptionGroup var global: GlobalOptions

  func run() async throws {
    try await runReporting(global) { invocation in
      var settings = invocation.settings()
      var config = PruneConfiguration(storage: directory.configuration(&settings))
      if let n = settings.int(.snapshotRetention, flag: retention, minimum: 0) { config.retention = n }
      if let prefix = settings.sourced(.name, flag: name)?.value { config.namePrefix = prefix }
      config.dryRun = settings.bool(.dryRun, flag: dryRun ? true : nil)
      config.s3 = s3.configuration(&settings)
      config.waitLock = lock.duration(&settings)
      // k3s prunes the snapshots of its own node: --node-name (or K3S_NODE_NAME) as --node.
      config.node = settings.string(.node, flag: node) ?? nodeName.value(settings)
      try invocation.check(settings, config.problems())
      let result = try await Catalog(storage: config.storage, s3: config.s3, logger: invocation.logger()).prune(config)
      let report = PruneReport(prefix: config.namePrefix, node: config.node, dryRun: config.dryRun)
      report.print(result.plan, in: nil, retention: config.retention)
      if let plan = result.s3Plan, let s3Config = config.s3 {
        report.print(plan, in: s3Config.folderAddress, retention: s3Config.retention)
      }
    }
  }
}

/// What `prune` prints.
struct PruneReport {
  var prefix: String
  var node: String?
  var dryRun: Bool

  /// Local lines read as before `--s3` existed (`would delete NAME`); S3 lines name the bucket.
  func print(_ plan: RetentionPlan, in location: String?, retention: Int) {
    let suffix = location.map { " (\($0))" } ?? ""
    for item in plan.future {
      note(
        "etcd-snapshot: warning: \(escapedForTerminal(item.name))\(suffix) is dated \(rfc3339(timestamp: item.timestamp)), in the future: not counted toward the retention and not pruned; check that node's clock, or delete it by hand"
      )
    }
    if retention == 0 {
      Swift.print("nothing pruned\(suffix): retention 0 keeps every snapshot, as in k3s (\(plan.keep.count) with prefix \(quoted(prefix)))")
      return
    }
    if plan.delete.isEmpty {
      Swift.print("nothing to prune\(suffix): \(plan.keep.count) snapshot(s) with prefix \(quoted(prefix)) kept (retention \(retention) per node)")
      return
    }
    for item in plan.delete {
      Swift.print(dryRun ? "would delete \(item.name)\(suffix)" : "deleted \(item.name)\(suffix)")
    }
    let of = node.map { " of node \(quoted($0))" } ?? ""
    Swift.print("kept \(plan.keep.count) snapshot(s) with prefix \(quoted(prefix))\(of)\(suffix) (retention \(retention) per node)")
  }
}
