import EtcdFormats
import Foundation
import Logging
import SnapshotCore

/// `restore`: a new etcd data directory from a snapshot, written natively (no etcdutl), that
/// stock etcd 3.4 and 3.5 start on.
///
/// Order, so that a failure leaves nothing and names the most telling problem: the options
/// are validated (every problem at once); then the engine checks the directories, applies
/// etcd's hash rule while it checks and copies the bbolt structure in one read (a damaged
/// saved snapshot is reported as a SHA-256 mismatch), and renames the temporary directory it
/// wrote into place last.
/// `--bump-revision`: none, a number, or `auto` (chosen from the snapshot's revision and age).
package enum RevisionBumpRequest: Sendable, Equatable {
  case none
  case fixed(UInt64)
  case auto(now: Int64)

  /// `N` or `auto`; nil for anything else.
  package init?(_ text: String, now: Int64) {
    if text == "auto" {
      self = .auto(now: now)
    } else if let n = UInt64(text) {
      self = n == 0 ? .none : .fixed(n)
    } else {
      return nil
    }
  }
}

/// What `restore` did, and the bump `auto` chose with its reason.
package struct RestoreOutcome: Sendable {
  /// The new data directory and what is in it.
  package var result: RestoreResult
  /// What `--bump-revision auto` chose, and why.
  package var autoBump: (bump: UInt64, reason: String)?
  /// What the snapshot was read from: its path, or its `s3://` address.
  package var source: String = ""
  /// With `--bundle-to`: the bundle unpacked, and how many members it had.
  package var bundle: (address: String, entries: Int, directory: String)?
}

/// What `restore` is asked to do.
package struct RestoreConfiguration: Sendable {
  /// The snapshot.
  package var source: SnapshotSource
  /// The new member and its directories.
  package var options: RestoreOptions
  /// `--bump-revision` (it replaces `options.bumpRevision`).
  package var bump: RevisionBumpRequest
  /// `--bundle-to DIR`: also unpack the bundle the snapshot's record names.
  package var bundleTo: String?

  /// A restore of `source` with `options`.
  package init(source: SnapshotSource, options: RestoreOptions, bump: RevisionBumpRequest = .none, bundleTo: String? = nil) {
    self.source = source
    self.options = options
    self.bump = bump
    self.bundleTo = bundleTo
  }
}

/// The `restore` use case: finds (or downloads and checks) the snapshot, then restores it on
/// a thread of its own (`BlockingWork`); a cancelled task stops it with nothing left behind.
package struct RestoreSnapshot: Sendable {
  /// What to restore, and where.
  package var configuration: RestoreConfiguration
  /// Log of S3 retries.
  package var logger: Logger

  /// The use case for `configuration`.
  package init(_ configuration: RestoreConfiguration, logger: Logger) {
    self.configuration = configuration
    self.logger = logger
  }

  /// Restores the snapshot.
  package func run() async throws(SnapshotError) -> RestoreOutcome {
    let configuration = self.configuration
    // Flag problems first: a bad flag must not wait for a download (auto's bump is some N > 0).
    var flags = configuration.options
    switch configuration.bump {
    case .none: flags.bumpRevision = 0
    case .fixed(let n): flags.bumpRevision = n
    case .auto: flags.bumpRevision = 1
    }
    let problems = flags.validate()
    guard problems.isEmpty else { throw SnapshotError.invalid(problems) }
    if let bundleTo = configuration.bundleTo, bundleTo.isEmpty { throw SnapshotError(.invalidConfiguration, "--bundle-to is empty") }
    let source = configuration.source
    let logger = self.logger
    return try await source.withLocalFile(logger: logger) { path, metadata in
      func restoring() async throws(SnapshotError) -> RestoreOutcome {
        var outcome = try await BlockingWork.run { isStopped throws(SnapshotError) in
          try Self.restore(path: path, metadata: metadata, options: configuration.options, bump: configuration.bump, isStopped: isStopped)
        }
        outcome.source = source.address(reading: path)
        return outcome
      }
      guard let bundleTo = configuration.bundleTo else { return try await restoring() }
      // The bundle is read, decrypted and checked whole before the data directory is written.
      return try await SnapshotBundleReader.with(
        metadata, snapshot: source.s3.map { $0.address(of: source.argument) } ?? source.argument, storage: source.storage, s3: source.s3,
        decryption: source.decryption, logger: logger
      ) { plain, entries, address in
        var outcome = try await restoring()
        try await BlockingWork.run { isStopped throws(SnapshotError) in
          try BundleExtractor.extract(plain, address: address, to: bundleTo, isStopped: isStopped)
        }
        outcome.bundle = (address, entries.count, bundleTo)
        return outcome
      }
    }
  }

  /// Restores the snapshot at `path` with the bump asked for (`options.bumpRevision` is
  /// replaced by it); `metadata` dates the snapshot for `auto`.
  package static func restore(
    path: String, metadata: SnapshotMetadata?, options: RestoreOptions, bump: RevisionBumpRequest,
    isStopped: @escaping @Sendable () -> Bool = { Task.isCancelled }
  ) throws(SnapshotError) -> RestoreOutcome {
    var options = options
    var chosen: (bump: UInt64, reason: String)?
    switch bump {
    case .none: options.bumpRevision = 0
    case .fixed(let n): options.bumpRevision = n
    case .auto(let now):
      let choice = try autoBump(path: path, metadata: metadata, now: now)
      options.bumpRevision = choice.bump
      chosen = choice
    }
    return RestoreOutcome(result: try restore(path: path, options: options, isStopped: isStopped), autoBump: chosen)
  }

  /// Restores the snapshot at `path`; `isStopped` is asked between chunks.
  package static func restore(
    path: String, options: RestoreOptions, isStopped: @escaping @Sendable () -> Bool = { Task.isCancelled }
  ) throws(SnapshotError) -> RestoreResult {
    let problems = options.validate()
    guard problems.isEmpty else { throw SnapshotError.invalid(problems) }
    do {
      return try RestoreEngine.restore(snapshot: path, options: options, isStopped: isStopped)
    } catch let error as SnapshotError {
      throw error
    } catch let error as FormatError where error.isCancellation {
      throw SnapshotError(.cancelled, "stopped on request; nothing was restored", cause: error)
    } catch let error as FormatError where error.isWriteFailure {
      throw SnapshotError(.cannotWrite, "\(error.description); nothing was restored", cause: error)
    } catch let error as FormatError {
      throw SnapshotError(.corrupt, "\(error.description); nothing was restored: use another snapshot", cause: error)
    } catch {
      throw SnapshotError(.internal, "restore failed: \(error)")
    }
  }

  /// `--bump-revision auto`: a bump from the snapshot's revision and age (see `RevisionBump`).
  ///
  /// The snapshot's time is its metadata record's, else the time in its k3s-style name, else
  /// the file's modification time. Throws `.corrupt` when the revision cannot be read (e.g. one
  /// of 2^63 or more), `.invalidConfiguration` when no safe bump exists (see `RevisionBump.auto`).
  package static func autoBump(
    path: String, metadata: SnapshotMetadata?, now: Int64
  ) throws(SnapshotError) -> (bump: UInt64, reason: String) {
    let revision: Int64
    do { revision = try BoltSummary.read(path: path).revision ?? 0 } catch {
      throw SnapshotError(.corrupt, "\(error.description); nothing was restored", cause: error)
    }
    let name = String(path.split(separator: "/").last ?? Substring(path))
    var time = metadata?.timestamp ?? SnapshotName.parse(name)?.timestamp
    if time == nil, let attributes = try? FileManager.default.attributesOfItem(atPath: path),
      let modified = attributes[.modificationDate] as? Date
    {
      time = Int64(exactly: modified.timeIntervalSince1970.rounded(.down))
    }
    return try RevisionBump.auto(snapshotRevision: revision, snapshotTime: time ?? now, now: now)
  }
}
