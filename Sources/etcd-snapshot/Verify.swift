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
      let logger = invocation.logger()
      // (label, name or path, metadata, in S3)
      var targets: [(label: String, argument: String, metadata: SnapshotMetadata?, remote: Bool)] = []
      if all {
        for entry in try await Catalog(storage: storage, s3: s3Config, logger: logger).list() {
          switch entry.location {
          case .local(let path): targets.append((entry.fileName, path, entry.metadata, false))
          case .s3: targets.append((entry.location.url, entry.fileName, entry.metadata, true))
          }
        }
        if targets.isEmpty {
          print("no snapshots in \(storage.snapshotDirectory)" + (s3Config.map { " or \($0.folderAddress)" } ?? ""))
        }
      } else {
        for argument in snapshots {
          if s3Config != nil {
            targets.append((argument, argument, nil, true))
          } else {
            let (path, metadata) = try SnapshotReference.resolve(argument, in: storage)
            targets.append((argument, path, metadata, false))
          }
        }
      }
      var failed = 0
      for target in targets {
        let report: VerifyReport
        if target.remote {
          do {
            report = try await SnapshotReference.withLocalFile(target.argument, in: storage, s3: s3Config, logger: logger) {
              path, metadata in try VerifySnapshot.run(path: path, metadata: metadata)
            }
          } catch let error as SnapshotError where error.code == .corrupt {
            failed += 1
            print("\(target.label): FAILED: \(error.message)")
            continue
          }
        } else {
          report = try VerifySnapshot.run(path: target.argument, metadata: target.metadata)
        }
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
