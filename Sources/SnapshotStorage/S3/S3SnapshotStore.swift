import Crypto
import EtcdFormats
import Foundation
import Logging
import NIOCore
import S3Protocol
import SnapshotCore
import SnapshotPipeline

/// Snapshots in an S3 bucket under `--s3-folder`, with k3s's `.metadata/NAME` sidecars.
///
/// Listing reads ListObjectsV2 pages of the folder and of its `.metadata/` folder, then the
/// sidecars that exist (a bounded number at a time): never a HEAD per object.
package struct S3SnapshotStore: SnapshotLocation {
  /// The client.
  package var client: S3Client

  /// A store over `client`'s bucket and folder.
  package init(client: S3Client) {
    self.client = client
  }

  var configuration: S3Configuration { client.configuration }

  /// The snapshot objects of the folder (one listing; hidden and `.part` names left out).
  private func snapshotObjects() async throws -> [(name: String, object: S3ObjectSummary)] {
    let prefix = configuration.keyPrefix
    return try await client.listObjects(prefix: prefix).compactMap { o in
      let name = String(o.key.dropFirst(prefix.count))
      // A key deeper in the folder (bundles/…) is not a snapshot of this folder.
      guard !name.isEmpty, !name.hasPrefix("."), !name.hasSuffix(".part"), !name.contains("/") else { return nil }
      return (name, o)
    }
  }

  /// The names of the snapshots in the folder: list pages only, no sidecars.
  package func names() async throws(SnapshotError) -> Set<String> {
    try await Self.typed { Set(try await snapshotObjects().map(\.name)) }
  }

  /// The folder.
  package var address: String { configuration.folderAddress }

  package var listCommand: String { "etcd-snapshot ls --s3" }

  /// Deleting needs no more than the credentials, which the first request checks.
  package func removalProblem() -> String? { nil }

  /// S3 deletes are durable when they return.
  package func finishRemoving() throws(SnapshotError) {}

  /// `body`'s errors as `SnapshotError` (the client's already are; others are internal).
  private static func typed<T>(_ body: () async throws -> T) async throws(SnapshotError) -> T {
    do { return try await body() } catch { throw SnapshotError.wrapping(error) }
  }

  /// Every snapshot object in the folder, newest first.
  ///
  /// `readingSidecars: false` leaves the `.metadata/` records unread (entries are what their
  /// names say): enough for retention, and one request per snapshot cheaper.
  package func list(preferredPrefixes: [String] = [], readingSidecars: Bool = true) async throws(SnapshotError) -> [SnapshotEntry] {
    try await Self.typed { try await listing(preferredPrefixes: preferredPrefixes, readingSidecars: readingSidecars) }
  }

  private func listing(preferredPrefixes: [String], readingSidecars: Bool) async throws -> [SnapshotEntry] {
    let prefix = configuration.keyPrefix
    let candidates = try await snapshotObjects()
    var records: [String: LocalSnapshotStore.MetadataLookup] = [:]
    if readingSidecars {
      let sidecars = Set(try await client.listObjects(prefix: prefix + ".metadata/").map { String($0.key.dropFirst(prefix.count + 10)) })
      records = try await readSidecars(candidates.map(\.name).filter { sidecars.contains($0) })
    }
    var entries: [SnapshotEntry] = []
    for (name, object) in candidates {
      var metadata: SnapshotMetadata?
      var problem: String?
      switch records[name] {
      case .some(.found(let m)): metadata = m
      case .some(.unreadable(let why)): problem = why
      default: break
      }
      if let m = metadata, m.stored.size != object.size {
        problem = "object is \(object.size) bytes but its metadata record says \(m.stored.size): it was changed or truncated"
      }
      let parsed = metadata?.snapshotName ?? SnapshotName.parse(name, preferredPrefixes: preferredPrefixes)
      let modified = object.lastModified.map { Int64($0.timeIntervalSince1970) } ?? 0
      entries.append(
        SnapshotEntry(
          fileName: name, name: parsed, metadata: metadata, location: .s3(bucket: configuration.bucket, key: object.key),
          size: object.size, timestamp: parsed?.timestamp ?? modified, revision: metadata?.revision, problem: problem))
    }
    return entries.sorted(by: SnapshotEntry.newestFirst)
  }

  /// The sidecar records of `names` that have one (missing or foreign sidecars are left out).
  package func records(of names: [String]) async throws(SnapshotError) -> [String: SnapshotMetadata] {
    var out: [String: SnapshotMetadata] = [:]
    for (name, lookup) in try await Self.typed({ try await readSidecars(names) }) {
      if case .found(let m) = lookup { out[name] = m }
    }
    return out
  }

  /// Sidecars read at the same time by `list`: each is a small GET whose time is the store's
  /// latency, so many in flight keep a listing of thousands of snapshots short.
  static let sidecarConcurrency = 48

  /// Reads sidecars, `sidecarConcurrency` at a time.
  private func readSidecars(_ names: [String]) async throws -> [String: LocalSnapshotStore.MetadataLookup] {
    let client = self.client
    return try await withThrowingTaskGroup(of: (String, LocalSnapshotStore.MetadataLookup).self) { group in
      var out: [String: LocalSnapshotStore.MetadataLookup] = [:]
      var iterator = names.makeIterator()
      func addNext() -> Bool {
        guard let name = iterator.next() else { return false }
        group.addTask {
          guard let bytes = try await client.getSmallObject(key: client.configuration.metadataKey(name), operation: "GetObject (metadata)")
          else { return (name, .none) }
          do { return (name, .found(try SnapshotMetadata.decode(Data(bytes)))) } catch {
            // k3s writes sidecars in its own format: not ours to judge, the object is listed without one.
            return (name, .none)
          }
        }
        return true
      }
      for _ in 0..<Self.sidecarConcurrency where addNext() {}
      while let (name, lookup) = try await group.next() {
        out[name] = lookup
        _ = addNext()
      }
      return out
    }
  }

  /// Deletes snapshot `name` and its sidecar.
  /// Deletes snapshot `name`, its sidecar and the bundle in this bucket that the sidecar names.
  package func remove(name: String) async throws(SnapshotError) {
    try await Self.typed {
      var bundleKey: String?
      if let bytes = try? await client.getSmallObject(key: configuration.metadataKey(name), operation: "GetObject (metadata)"),
        let record = try? SnapshotMetadata.decode(Data(bytes)), let bundle = record.bundle, let address = bundle.uploadedTo,
        bundle.belongs(to: name)
      {
        let prefix = "s3://\(configuration.bucket)/"
        if address.hasPrefix(prefix), address.hasSuffix("/" + bundle.name) || address == prefix + bundle.name {
          bundleKey = String(address.dropFirst(prefix.count))
        }
      }
      try await client.deleteObject(key: configuration.objectKey(name))
      try await client.deleteObject(key: configuration.metadataKey(name))
      if let bundleKey { try await client.deleteObject(key: bundleKey) }
    }
  }

  /// Downloads snapshot `name` to `path` (a new file, 0600), checking the SHA-256 on the way
  /// against the sidecar record and etcd's trailer; removes the file on any failure.
  ///
  /// Returns the record from the sidecar, if there is one.
  package func download(name: String, to path: String) async throws -> SnapshotMetadata? {
    if let p = LocalSnapshotStore.nameProblem(name) { throw SnapshotError(.invalidConfiguration, p) }
    let key = configuration.objectKey(name)
    var record: SnapshotMetadata?
    if let bytes = try await client.getSmallObject(key: configuration.metadataKey(name), operation: "GetObject (metadata)") {
      record = try? SnapshotMetadata.decode(Data(bytes))
    }
    var file = try AtomicFile(path: path, what: "the downloaded snapshot")
    do {
      // Hashed and checked as it is written; the download is one task, so plain local state.
      var sha = SHA256()
      var trailer = SnapshotTrailerVerifier()
      // The first bytes, to tell a bbolt file (which etcd's trailer covers) from a compressed
      // one (k3s's zip: its own CRC-32 covers it, and the reader checks the trailer inside).
      var first: [UInt8] = []
      let head: S3ObjectHead
      do {
        head = try await client.download(
          key: key,
          restart: { () throws(SnapshotError) in
            try file.truncate()
            sha = SHA256()
            trailer = SnapshotTrailerVerifier()
            first = []
          },
          sink: { buffer in
            try buffer.withUnsafeReadableBytes { raw in
              if first.count < StoredFormat.sniffLength { first += raw.prefix(StoredFormat.sniffLength - first.count) }
              sha.update(bufferPointer: raw)
              trailer.update(raw)
              try file.write(raw)
            }
          })
      } catch let error as SnapshotError where error.code == .notFound {
        throw SnapshotError(
          .notFound,
          "no snapshot named \(quoted(name)) in \(configuration.folderAddress): see `etcd-snapshot ls --s3`")
      }
      let digest = (sha256: hex(sha.finalize()), trailerProblem: trailer.finish().problem)
      if let record {
        let stored = record.stored
        guard stored.size == head.size, (record.storedDigest ?? digest.sha256) == digest.sha256 else {
          throw SnapshotError(
            .corrupt,
            "\(configuration.address(ofKey: key)) does not match its metadata record (size \(head.size) vs \(stored.size), sha256 \(digest.sha256) vs \(stored.sha256)): the object was changed or damaged; nothing was restored from it"
          )
        }
      } else if let problem = digest.trailerProblem, StoredFormat(sniffing: first) == .bolt {
        throw SnapshotError(
          .corrupt, "\(configuration.address(ofKey: key)) has no metadata record and fails etcd's checksum: \(problem)")
      }
      try file.publish()
      return record
    } catch {
      file.abort()
      throw error
    }
  }
}
