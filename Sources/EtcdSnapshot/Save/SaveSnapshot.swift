import EtcdClient
import EtcdFormats
import Foundation
import Logging
import SnapshotCore
import SnapshotStorage

/// How far a running save has got.
package struct SaveProgress: Sendable {
  /// Bytes received so far.
  package var bytes: Int64
  /// Bytes expected in all (from the stream's first message), when known.
  package var total: Int64?
  /// Time since the stream started.
  package var elapsed: Duration
}

/// What a finished save produced.
package struct SaveResult: Sendable {
  /// Full path of the snapshot file.
  package var path: String
  /// Its metadata record (also written beside it).
  package var metadata: SnapshotMetadata
  /// The member it came from.
  package var member: MemberStatus
  /// EtcdEndpoint URL used.
  package var endpoint: String
  /// Time spent streaming and writing.
  package var duration: Duration
}

/// `save`: stream a live member's snapshot into a verified, atomically published file.
///
/// Order of effects, so that a failure at any step leaves nothing half-done:
/// 1. the directory is created/checked before etcd is contacted;
/// 2. the stream goes to `<name>.part` (0600), hashed on the way;
/// 3. etcd's SHA-256 trailer is checked, the file fsynced;
/// 4. the metadata record is written (atomically), then the `.part` renamed and the directory
///    fsynced. A snapshot is never listed without its record, and a failure before the rename
///    removes both.
package struct SaveSnapshot: Sendable {
  /// What to save and where.
  package var configuration: SaveConfiguration
  /// Log of decisions (endpoint used, endpoints skipped).
  package var logger: Logger
  /// The current time in Unix seconds; injected for tests.
  package var now: @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970) }

  /// A save with the given configuration.
  package init(configuration: SaveConfiguration, logger: Logger) {
    self.configuration = configuration
    self.logger = logger
  }

  /// Runs the save. `onProgress` is called from the streaming task at most every ~100 ms.
  package func run(
    onSkip: @escaping @Sendable (String) -> Void = { _ in },
    onMemberChosen: @escaping @Sendable (String, MemberStatus) -> Void = { _, _ in },
    onProgress: (@Sendable (SaveProgress) -> Void)? = nil
  ) async throws(SnapshotError) -> SaveResult {
    let problems = configuration.problems()
    guard problems.isEmpty else { throw SnapshotError.invalid(problems) }
    let store = LocalSnapshotStore(directory: configuration.storage.snapshotDirectory)
    try store.prepare()
    if let warning = store.looseModeWarning() { logger.warning("\(warning)") }

    let connector = EtcdConnector(configuration: configuration.connection, logger: logger)
    let prefix = configuration.namePrefix
    let node = configuration.nodeName
    let now = self.now
    let skipped: @Sendable (EtcdEndpoint, String) -> Void = { endpoint, why in onSkip("skipped \(endpoint): \(why)") }
    return try await connector.withHealthyMember(onSkip: skipped) { member in
      onMemberChosen(member.url, member.status)
      let name = SnapshotName(prefix: prefix, node: node, timestamp: now())
      let start = ContinuousClock.now
      let streamed = try await member.snapshot { chunks in
        try await Self.stream(chunks, into: store, name: name, start: start, onProgress: onProgress) {
          check, partPath in
          // The revision inside the file, which may be newer than the pre-flight Status said.
          let revision = FileInspection.inspect(partPath).revision ?? member.status.revision
          return SnapshotMetadata(
            name: name, size: check.byteCount, sha256: hex(check.fileSHA256), revision: revision,
            etcdVersion: member.status.version, clusterID: member.status.clusterID,
            memberID: member.status.memberID, endpoint: member.url, toolVersion: toolVersion,
            verified: true)
        }
      }
      return SaveResult(
        path: store.path(of: name.fileName), metadata: streamed, member: member.status, endpoint: member.url,
        duration: ContinuousClock.now - start)
    }
  }

  /// The pipeline: chunks -> trailer verifier -> `.part` file; then record, then publish.
  private static func stream(
    _ chunks: SnapshotChunks, into store: LocalSnapshotStore, name: SnapshotName, start: ContinuousClock.Instant,
    onProgress: (@Sendable (SaveProgress) -> Void)?,
    describe: (SnapshotTrailerCheck, String) -> SnapshotMetadata
  ) async throws -> SnapshotMetadata {
    var file = try store.create(name: name.fileName)
    var verifier = SnapshotTrailerVerifier()
    var expectedTotal: Int64?
    var lastReport = start
    do {
      for try await chunk in chunks {
        if expectedTotal == nil {
          expectedTotal = Int64(chunk.remainingBytes) + Int64(chunk.blob.count)
        }
        try chunk.blob.withUnsafeBytes { (raw: UnsafeRawBufferPointer) throws in
          verifier.update(raw)
          try file.write(raw)
        }
        if let onProgress {
          let t = ContinuousClock.now
          if t - lastReport >= .milliseconds(100) {
            lastReport = t
            onProgress(SaveProgress(bytes: verifier.byteCount, total: expectedTotal.map { $0 + 32 }, elapsed: t - start))
          }
        }
      }
      try Task.checkCancellation()
      let check = verifier.finish()
      if let problem = check.problem {
        if let expectedTotal, check.byteCount < expectedTotal + 32 {
          throw SnapshotError(
            .interrupted,
            "the snapshot stream ended after \(check.byteCount) of \(expectedTotal + 32) bytes: etcd stopped sending; nothing was saved. Try again.")
        }
        throw SnapshotError(.corrupt, problem + "; nothing was saved")
      }
      try file.sync()
      let metadata = describe(check, file.partPath)
      try store.writeMetadata(metadata)
      do {
        try file.publish()
      } catch {
        store.removeMetadata(name: name.fileName)
        throw error
      }
      return metadata
    } catch {
      file.abort()
      throw error
    }
  }
}
