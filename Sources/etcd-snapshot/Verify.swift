import ArgumentParser
import EtcdSnapshot
import Foundation
import SnapshotCore

struct Verify: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Check snapshots: etcd's SHA-256 trailer, the metadata record, the bbolt structure.",
    discussion: """
      For each snapshot (a path, or a name that `ls` prints): the SHA-256 trailer etcd wrote \
      must match the database; the size and SHA-256 in our metadata record, if there is one, \
      must match the file; and the bbolt database must be sound (meta checksums, every page \
      reached once, keys sorted, branch keys equal to their child's first key, no page past \
      the high-water mark). The first problem is reported with its page and byte offset. \
      Exit status 65 if any snapshot fails.

      Examples:
        etcd-snapshot verify --dir /var/backups/etcd on-demand-node1-1700000000
        etcd-snapshot verify --dir /var/backups/etcd --all
        etcd-snapshot verify ./copied-member-snap-db
      """
  )

  @OptionGroup var directory: DirectoryOptions

  @Flag(name: .customLong("all"), help: "Verify every snapshot that `ls` lists.")
  var all = false

  @Argument(help: ArgumentHelp("Snapshot paths or names.", valueName: "snapshot"))
  var snapshots: [String] = []

  @OptionGroup var global: GlobalOptions

  func validate() throws {
    if all && !snapshots.isEmpty { throw ValidationError("give snapshot names or --all, not both") }
    if !all && snapshots.isEmpty { throw ValidationError("give at least one snapshot (a path or a name from `ls`), or --all") }
  }

  func run() async throws {
    try await runReporting(debug: global.debug) {
      let storage = directory.configuration(environment: ProcessInfo.processInfo.environment)
      var targets: [(label: String, path: String, metadata: SnapshotMetadata?)] = []
      if all {
        for entry in try Catalog(storage: storage).list() {
          targets.append((entry.fileName, entry.location.address, entry.metadata))
        }
        if targets.isEmpty { print("no snapshots in \(storage.snapshotDirectory)") }
      } else {
        for argument in snapshots {
          let (path, metadata) = try SnapshotReference.resolve(argument, in: storage)
          targets.append((argument, path, metadata))
        }
      }
      var failed = 0
      for target in targets {
        let report = try VerifySnapshot.run(path: target.path, metadata: target.metadata)
        if let problem = report.problem {
          failed += 1
          print("\(target.label): FAILED: \(problem)")
        } else {
          print("\(target.label): OK (\(report.passed.joined(separator: "; ")))")
        }
        for remark in report.notes { print("  note: \(remark)") }
      }
      if failed > 0 {
        throw SnapshotError(.corrupt, "\(failed) of \(targets.count) snapshot(s) failed verification; do not restore from them")
      }
    }
  }
}
