import Foundation
import Logging
import SnapshotCore
import SnapshotStorage
import SystemFiles

#if canImport(Glibc)
  import Glibc
#endif

/// `ls`, `delete` and `prune` over the snapshot locations: the local directory, and an S3
/// bucket folder with `--s3`.
package struct Catalog: Sendable {
  /// Where the local snapshots are.
  package var storage: SnapshotDirectoryConfiguration
  /// The S3 location, with `--s3`.
  package var s3: S3Configuration?
  /// Log of S3 retries.
  package var logger: Logger

  /// A catalog over the configured directory (and bucket).
  package init(storage: SnapshotDirectoryConfiguration, s3: S3Configuration? = nil, logger: Logger = Logger(label: "etcd-snapshot")) {
    self.storage = storage
    self.s3 = s3
    self.logger = logger
  }

  var local: LocalSnapshotStore {
    LocalSnapshotStore(directory: storage.snapshotDirectory, inspect: FileInspection.inspect)
  }

  /// Runs `body` with the S3 store, or with nil when there is no `--s3`.
  func withS3<T: Sendable>(_ body: (S3SnapshotStore?) async throws -> T) async throws(SnapshotError) -> T {
    do {
      guard let s3 else { return try await body(nil) }
      return try await S3Client.with(s3, logger: logger) { client in try await body(S3SnapshotStore(client: client)) }
    } catch let error as SnapshotError {
      throw error
    } catch {
      throw SnapshotError(.internal, "\(error)")
    }
  }

  /// Every snapshot, local and (with `--s3`) in S3, newest first.
  ///
  /// `readingSidecars: false` lists the bucket from its list pages alone (name, node, time,
  /// size, location): one request per 1,000 objects instead of one more per snapshot. Local
  /// records are read either way (they cost no request).
  package func list(preferredPrefixes: [String] = [], readingSidecars: Bool = true) async throws(SnapshotError) -> [SnapshotEntry] {
    let local = try self.local.list(preferredPrefixes: preferredPrefixes)
    let remote = try await withS3 { store in
      try await store?.list(preferredPrefixes: preferredPrefixes, readingSidecars: readingSidecars) ?? []
    }
    return (local + remote).sorted(by: SnapshotEntry.newestFirst)
  }

  /// Deletes the named snapshots wherever they are (local, and S3 with `--s3`); nothing is
  /// deleted if any name is unknown everywhere or is not a name.
  package func delete(names: [String], waitLock: Duration? = nil) async throws(SnapshotError) -> [String] {
    guard !names.isEmpty else {
      throw SnapshotError(.invalidConfiguration, "give the names of the snapshots to delete (see `etcd-snapshot ls`)")
    }
    let lock = try await lockDirectory(for: "snapshot delete", wait: waitLock)
    defer { withExtendedLifetime(lock) {} }
    guard s3 != nil else { return try local.delete(names: names) }
    let local = self.local
    let localNames = Set(names.filter { LocalSnapshotStore.nameProblem($0) == nil && fileExists(local.path(of: $0)) })
    let s3Location = s3.map(\.folderAddress) ?? ""
    return try await withS3 { store in
      guard let store else { return [] }
      let remoteNames = try await store.names()
      var problems: [String] = []
      for name in names {
        if let p = LocalSnapshotStore.nameProblem(name) {
          problems.append(p)
        } else if !localNames.contains(name) && !remoteNames.contains(name) {
          problems.append(
            "no snapshot named \(quoted(name)) in \(storage.snapshotDirectory) or \(s3Location): see `etcd-snapshot ls --s3`")
        }
      }
      let here = names.filter { localNames.contains($0) }
      if !here.isEmpty, access(storage.snapshotDirectory, W_OK | X_OK) != 0 {
        let code = errno
        problems.append(SnapshotError.posix(code, call: "access", path: storage.snapshotDirectory, what: "snapshots").message)
      }
      guard problems.isEmpty else { throw SnapshotError.nothingDeleted(problems) }
      // Everything that can be checked was; the local copies go first (their failures are
      // the likelier ones), then the bucket. A step that fails anyway says what was done.
      var deleted: [String] = []
      let remote = names.filter { remoteNames.contains($0) }
      do {
        if !here.isEmpty {
          for name in try local.delete(names: here) { deleted.append("\(name) (\(storage.snapshotDirectory))") }
        }
        for name in try await store.remove(names: remote) { deleted.append("\(name) (\(s3Location))") }
      } catch {
        var e = SnapshotError.wrapping(error)
        let done = deleted.isEmpty ? "nothing" : deleted.joined(separator: ", ")
        e.message += "\ndeleted before the failure: \(done); run the same delete again for the rest"
        throw e
      }
      return deleted
    }
  }

  /// Keeps the newest `retention` snapshots per node among those named `<prefix>-…`, as k3s's
  /// `etcd-snapshot prune` does, locally; and with `--s3` the newest `s3.retention` per node in
  /// the bucket. Files not named like k3s snapshots are never pruned.
  ///
  /// Names dated more than `RetentionPlan.futureSkew` after `now` are set apart: they do not
  /// count toward the retention and are not deleted (a wrong clock or a planted name must not
  /// push the real newest snapshots out).
  package func prune(_ configuration: PruneConfiguration, now: Int64 = Int64(Date().timeIntervalSince1970)) async throws(SnapshotError)
    -> PruneResult
  {
    let problems = configuration.problems()
    guard problems.isEmpty else { throw SnapshotError.invalid(problems) }
    let lock = try await lockDirectory(for: "snapshot prune", wait: configuration.waitLock)
    defer { withExtendedLifetime(lock) {} }
    let entries = try local.list(preferredPrefixes: [configuration.namePrefix])
    let node = configuration.node
    let plan = Self.plan(entries, prefix: configuration.namePrefix, node: node, keep: configuration.retention, now: now)
    var result = PruneResult(plan: plan, deleted: [], dryRun: configuration.dryRun)
    if !configuration.dryRun && !plan.delete.isEmpty {
      result.deleted = try local.delete(names: plan.delete.map(\.name))
    }
    guard let s3 = configuration.s3 else { return result }
    let prefix = configuration.namePrefix
    let dryRun = configuration.dryRun
    let remote = try await withS3 { store -> (RetentionPlan, [String]) in
      guard let store else { return (RetentionPlan(keep: [], delete: []), []) }
      var entries = try await store.list(preferredPrefixes: [prefix], readingSidecars: false)
      // A name such as on-demand-nightly-n1-TS splits two ways (prefix on-demand, node
      // nightly-n1; or prefix on-demand-nightly, node n1): its sidecar says which. Only such
      // ambiguous names cost a sidecar read; without a sidecar the split is k3s's.
      let ambiguous = entries.filter { $0.name?.prefix == prefix && ($0.name?.node.contains("-") ?? false) }.map(\.fileName)
      if !ambiguous.isEmpty {
        let records = try await store.records(of: ambiguous)
        for i in entries.indices {
          if let record = records[entries[i].fileName] { entries[i].name = record.snapshotName }
        }
      }
      let plan = Self.plan(entries, prefix: prefix, node: node, keep: s3.retention, now: now)
      if dryRun || plan.delete.isEmpty { return (plan, []) }
      return (plan, try await store.remove(names: plan.delete.map(\.name)))
    }
    result.s3Plan = remote.0
    result.s3Deleted = remote.1
    return result
  }

  /// The local directory's lock (nil when the directory does not exist: nothing to protect),
  /// with the debris of killed runs removed once it is held.
  private func lockDirectory(for purpose: String, wait: Duration?) async throws(SnapshotError) -> DirectoryLock? {
    try local.checkOwnership()
    let lock = try await DirectoryLock.acquire(directory: storage.snapshotDirectory, purpose: purpose, wait: wait, optional: true)
    if lock != nil {
      for path in local.removeDebris(parts: true) { logger.notice("removed \(path), left by a run that was killed") }
    }
    return lock
  }

  static func plan(_ entries: [SnapshotEntry], prefix: String, node: String?, keep: Int, now: Int64) -> RetentionPlan {
    let items = entries.compactMap { entry -> RetentionItem? in
      guard let name = entry.name, name.prefix == prefix, node == nil || name.node == node else { return nil }
      return entry.retentionItem
    }
    return RetentionPlan.make(items, keep: keep, now: now)
  }
}

/// What `prune` decided and did.
package struct PruneResult: Sendable {
  /// The local retention plan.
  package var plan: RetentionPlan
  /// Local names actually deleted (empty on a dry run).
  package var deleted: [String]
  /// True when nothing was deleted on purpose.
  package var dryRun: Bool
  /// The S3 retention plan, with `--s3`.
  package var s3Plan: RetentionPlan?
  /// S3 names actually deleted.
  package var s3Deleted: [String] = []
}
