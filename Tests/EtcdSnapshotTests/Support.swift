import EtcdTestSupport
import Foundation
import SnapshotCore
import SnapshotStorage

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// A failure of the test's own set-up, reported as a test failure (never a skip).
struct SetupFailure: Error, CustomStringConvertible {
  var description: String
}

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

/// Writes a file with mode 0600, replacing any, or fails the set-up.
func writeFile(_ path: String, _ bytes: [UInt8]) throws {
  let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
  guard fd >= 0 else { throw SetupFailure(description: "open \(path): \(String(cString: strerror(errno)))") }
  defer { close(fd) }
  let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
  guard written == bytes.count else { throw SetupFailure(description: "short write to \(path)") }
}

/// Sets a file's modification time (Unix seconds).
func setModificationTime(_ path: String, _ seconds: Int) throws {
  var times = [timeval(tv_sec: seconds, tv_usec: 0), timeval(tv_sec: seconds, tv_usec: 0)]
  guard utimes(path, &times) == 0 else {
    throw SetupFailure(description: "utimes \(path): \(String(cString: strerror(errno)))")
  }
}

/// Names in a directory, sorted (hidden ones included).
func listing(_ dir: String) -> [String] {
  ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).sorted()
}

/// The bytes of a file, or nil when it cannot be read.
func contents(_ path: String) -> [UInt8]? {
  FileManager.default.contents(atPath: path).map { Array($0) }
}

/// True when something (a file, directory or even a dangling symlink) is at `path`.
func exists(_ path: String) -> Bool {
  var st = stat()
  return lstat(path, &st) == 0
}
