import ArgumentParser
import EtcdSnapshot
import Foundation
import SnapshotCore
import SnapshotSettings

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

  @OptionGroup var node: NodeNameOption

  @Option(name: .customLong("name"), help: help("Accepted as in k3s; delete goes by the names given, not by a prefix.", .name, valueName: "prefix"))
  var name: String?

  @OptionGroup var global: GlobalOptions

  func run() async throws {
    try await runReporting(global) { invocation in
      var settings = invocation.settings()
      let storage = directory.configuration(&settings)
      let s3Config = s3.configuration(&settings)
      let waitLock = lock.duration(&settings)
      try invocation.check(settings)
      let catalog = Catalog(storage: storage, s3: s3Config, logger: invocation.logger())
      for name in try await catalog.delete(names: names, waitLock: waitLock) { print("deleted \(name)") }
    }
  }
}
