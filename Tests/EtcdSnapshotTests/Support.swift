import EtcdTestSupport
import Foundation
import SnapshotCore
import SnapshotStorage

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// A metadata record for a k3s-style name split as given, of `size` bytes.
func record(prefix: String, node: String, timestamp: Int64, size: Int64 = 1, revision: Int64 = 7) -> SnapshotMetadata {
  SnapshotMetadata(
    name: SnapshotName(prefix: prefix, node: node, timestamp: timestamp), size: size,
    sha256: String(repeating: "0", count: 64), revision: revision, etcdVersion: "3.5.1", clusterID: 1, memberID: 2,
    endpoint: "http://127.0.0.1:2379", toolVersion: "test", verified: true)
}

/// The two kinds of location the catalog's laws are checked on: memory, and a real
/// directory (`LocalSnapshotStore` on files). Both must give the same answers.
enum LocationKind: String, CaseIterable, CustomStringConvertible, Sendable {
  case memory
  case directory

  var description: String { rawValue }
}

/// A location of `kind` holding `snapshots` (files of `size` bytes; records where given),
/// alive while the value is.
final class TestLocation: @unchecked Sendable {
  let location: any SnapshotLocation
  let memory: InMemorySnapshotLocation?
  private let directory: TemporaryDirectory?

  init(_ kind: LocationKind, _ snapshots: [InMemorySnapshotLocation.Stored] = []) throws {
    switch kind {
    case .memory:
      let m = InMemorySnapshotLocation(snapshots: snapshots)
      memory = m
      location = m
      directory = nil
    case .directory:
      let dir = try TemporaryDirectory(prefix: "catalog")
      let store = LocalSnapshotStore(directory: dir.path + "/snapshots", inspect: { _ in (revision: 42, problem: nil) })
      try store.prepare()
      for s in snapshots {
        try writeFile(store.path(of: s.name), [UInt8](repeating: 1, count: Int(s.size)))
        try setModificationTime(store.path(of: s.name), Int(s.modified))
        if let r = s.record { try store.writeMetadata(r) }
      }
      memory = nil
      location = store
      directory = dir
    }
  }

  /// The snapshot names there now, sorted.
  func names() async throws -> [String] { try await location.names().sorted() }
}
