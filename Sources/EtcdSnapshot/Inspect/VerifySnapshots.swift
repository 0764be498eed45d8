import Logging
import SnapshotCore

/// Which snapshots `verify` checks.
package enum VerifySelection: Sendable, Equatable {
  /// Every snapshot `ls` lists (the directory, and the bucket folder with `--s3`).
  case all
  /// These paths or names (with `--s3`, names in the bucket).
  case named([String])
}

/// What `verify` is asked to do.
package struct VerifyConfiguration: Sendable {
  /// The snapshot directory.
  package var storage: SnapshotDirectoryConfiguration
  /// The bucket folder, with `--s3`.
  package var s3: S3Configuration?
  /// The snapshots.
  package var selection: VerifySelection
  /// The identities encrypted snapshots are decrypted with (`--decrypt-identity-file`).
  package var decryption = DecryptionConfiguration()

  /// A verify of `selection`.
  package init(
    storage: SnapshotDirectoryConfiguration, s3: S3Configuration? = nil, selection: VerifySelection,
    decryption: DecryptionConfiguration = DecryptionConfiguration()
  ) {
    self.storage = storage
    self.s3 = s3
    self.selection = selection
    self.decryption = decryption
  }
}

/// One snapshot checked by `verify`.
package struct VerifiedSnapshot: Sendable {
  /// How it is named in the output: the name or path given, or the listed name or address.
  package var label: String
  /// What the checks found; nil when the snapshot could not be checked (`failure`).
  package var report: VerifyReport?
  /// Why an S3 snapshot could not be checked: its download failed its SHA-256.
  package var failure: String?

  /// The first problem, if any.
  package var problem: String? { failure ?? report?.problem }
}

/// What a whole `verify` run found.
package struct VerifySummary: Sendable {
  /// Snapshots checked.
  package var checked = 0
  /// Those with a problem.
  package var failed = 0
  /// Where `--all` looked: the directory, and the bucket folder.
  package var searched: [String] = []
}

/// The `verify` use case: chooses the snapshots, downloads those in S3 (checked as they
/// stream), and checks each on a thread of its own, reporting each as it is done.
package struct VerifySnapshots: Sendable {
  /// What to verify.
  package var configuration: VerifyConfiguration
  /// Log of S3 retries.
  package var logger: Logger

  /// The use case for `configuration`.
  package init(_ configuration: VerifyConfiguration, logger: Logger) {
    self.configuration = configuration
    self.logger = logger
  }

  private struct Target: Sendable {
    var label: String
    var argument: String
    var metadata: SnapshotMetadata?
    var remote: Bool
  }

  /// Checks every selected snapshot; `each` gets them in order, as they are done. File system
  /// and S3 errors other than a damaged download are thrown; findings are reported.
  package func run(each: (VerifiedSnapshot) -> Void) async throws(SnapshotError) -> VerifySummary {
    let configuration = self.configuration
    var summary = VerifySummary()
    var targets: [Target] = []
    switch configuration.selection {
    case .all:
      summary.searched = [configuration.storage.snapshotDirectory] + (configuration.s3.map { [$0.folderAddress] } ?? [])
      for entry in try await Catalog(storage: configuration.storage, s3: configuration.s3, logger: logger).list() {
        switch entry.location {
        case .local(let path): targets.append(Target(label: entry.fileName, argument: path, metadata: entry.metadata, remote: false))
        case .s3: targets.append(Target(label: entry.location.url, argument: entry.fileName, metadata: entry.metadata, remote: true))
        }
      }
    case .named(let arguments):
      for argument in arguments {
        if configuration.s3 != nil {
          targets.append(Target(label: argument, argument: argument, metadata: nil, remote: true))
        } else {
          let (path, metadata) = try SnapshotReference.resolve(argument, in: configuration.storage)
          targets.append(Target(label: argument, argument: path, metadata: metadata, remote: false))
        }
      }
    }
    for target in targets {
      let verified: VerifiedSnapshot
      if target.remote {
        let source = SnapshotSource(target.argument, storage: configuration.storage, s3: configuration.s3, decryption: configuration.decryption)
        do {
          let report = try await source.withLocalFile(logger: logger) { path, metadata in try await Self.check(path: path, metadata: metadata) }
          verified = VerifiedSnapshot(label: target.label, report: report)
        } catch  where error.code == .corrupt {
          verified = VerifiedSnapshot(label: target.label, failure: error.message)
        }
      } else {
        // A compressed file (k3s's .zip, zstd, gzip) is expanded first, an encrypted one
        // decrypted; damage found on the way is this snapshot's failure, as a damaged bbolt
        // file is. A missing or wrong identity is not: it stops the command.
        do {
          let report = try await PlainSnapshot.with(
            target.argument, address: target.argument, record: target.metadata, decryption: configuration.decryption
          ) { path, layout in
            var report = try await Self.check(path: path, metadata: target.metadata)
            if layout.encrypted {
              report.passed.insert("decrypted: the age header and every payload chunk authenticated", at: 0)
            }
            if let metadata = target.metadata, !layout.isPlain, metadata.storedSHA256 != nil {
              report.passed.insert("the \(layout.description) file's size and SHA-256 match the metadata record", at: 0)
            }
            return report
          }
          verified = VerifiedSnapshot(label: target.label, report: report)
        } catch  where error.code == .corrupt {
          verified = VerifiedSnapshot(label: target.label, failure: error.message)
        }
      }
      summary.checked += 1
      if verified.problem != nil { summary.failed += 1 }
      each(verified)
    }
    return summary
  }

  /// `VerifySnapshot.check` on a thread of its own.
  private static func check(path: String, metadata: SnapshotMetadata?) async throws(SnapshotError) -> VerifyReport {
    try await BlockingWork.run { _ throws(SnapshotError) in try VerifySnapshot.check(path: path, metadata: metadata) }
  }
}
