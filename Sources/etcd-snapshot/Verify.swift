import ArgumentParser
import EtcdSnapshot
import Foundation
import SnapshotCore
import SnapshotSettings

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

  @Flag(name: .customLong("all"), help: "Verify every snapshot that `ls` lists (flag only).")
  var all = false

  @Argument(help: ArgumentHelp("Snapshot paths or names.", valueName: "snapshot"))
  var snapshots: [String] = []

  @OptionGroup var s3: S3Options

  @OptionGroup var decryption: DecryptionOptions

  @OptionGroup var global: GlobalOptions

  func validate() throws {
    if all && !snapshots.isEmpty { throw ValidationError("give snapshot names or --all, not both") }
    if !all && snapshots.isEmpty { throw ValidationError("give at least one snapshot (a path or a name from `ls`), or --all") }
  }

  func run() async throws {
    try await runReporting(global) { invocation in
      var settings = invocation.settings()
      let storage = directory.configuration(&settings)
      let s3Config = s3.configuration(&settings)
      try invocation.check(settings)
      let selection = all ? VerifySelection.all : .named(snapshots)
      let configuration = VerifyConfiguration(storage: storage, s3: s3Config, selection: selection, decryption: decryption.configuration(settings))
      let summary = try await VerifySnapshots(configuration, logger: invocation.logger()).run { verified in
        if let problem = verified.problem {
          print("\(verified.label): FAILED: \(problem)")
        } else if let report = verified.report {
          print("\(verified.label): OK (\(report.passed.joined(separator: "; ")))")
        }
        for remark in verified.report?.notes ?? [] { print("  note: \(remark)") }
      }
      if all && summary.checked == 0 { print("no snapshots in " + summary.searched.joined(separator: " or ")) }
      let failed = summary.failed
      if failed > 0 {
        throw SnapshotError(.corrupt, "\(failed) of \(summary.checked) snapshot(s) failed verification; do not restore from them")
      }
    }
  }
}
