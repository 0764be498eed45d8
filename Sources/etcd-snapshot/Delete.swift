import ArgumentParser
import EtcdSnapshot
import Foundation
import SnapshotCore

struct Delete: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Delete snapshots by name, with their metadata records.",
    discussion: """
      Every name is checked first; if any is unknown or is not a plain name (contains `/` or \
      `..`), nothing is deleted.

      Example:
        etcd-snapshot delete --dir /var/backups/etcd on-demand-node1-1700000000
      """
  )

  @OptionGroup var directory: DirectoryOptions

  @Argument(help: ArgumentHelp("Snapshot names as `ls` prints them.", valueName: "name"))
  var names: [String] = []

  @OptionGroup var global: GlobalOptions

  func run() async throws {
    try await runReporting(debug: global.debug) {
      let catalog = Catalog(storage: directory.configuration(environment: ProcessInfo.processInfo.environment))
      for name in try catalog.delete(names: names) { print("deleted \(name)") }
    }
  }
}

struct Prune: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Delete old snapshots, keeping the newest N per node and name prefix.",
    discussion: """
      As `k3s etcd-snapshot prune`: only snapshots named PREFIX-NODE-UNIXTIME with the given \
      --name prefix are counted, separately for each node; the newest --snapshot-retention of \
      each node are kept. Files with other names are never pruned.

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

  @Flag(name: .customLong("dry-run"), help: "Print what would be deleted; delete nothing.")
  var dryRun = false

  @OptionGroup var global: GlobalOptions

  func run() async throws {
    try await runReporting(debug: global.debug) {
      var config = PruneConfiguration(storage: directory.configuration(environment: ProcessInfo.processInfo.environment))
      config.retention = retention
      config.namePrefix = name
      config.dryRun = dryRun
      let result = try Catalog(storage: config.storage).prune(config)
      if result.plan.delete.isEmpty {
        print("nothing to prune: \(result.plan.keep.count) snapshot(s) with prefix \(quoted(name)) kept (retention \(retention) per node)")
        return
      }
      for item in result.plan.delete {
        print(dryRun ? "would delete \(item.name)" : "deleted \(item.name)")
      }
      print("kept \(result.plan.keep.count) snapshot(s) with prefix \(quoted(name)) (retention \(retention) per node)")
    }
  }
}
