import EtcdSnapshot
import EtcdTestSupport
import Foundation
import SnapshotCore
import SnapshotStorage
import Testing

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// A store over a real directory whose inspector reports revision 42 for any file without a record.
private func store(_ dir: String) -> LocalSnapshotStore {
  LocalSnapshotStore(directory: dir, inspect: { _ in (revision: 42, problem: nil) })
}

private func delete(_ names: [String], from locations: [any SnapshotLocation]) async throws(SnapshotError) -> [String] {
  try await Catalog.delete(names: names, from: locations).map(\.name)
}

@Suite("Catalog.delete: all or nothing, over any locations")
struct CatalogDeleteTests {
  // MARK: one real directory

  @Test("delete removes the file and its record, once per name, and nothing else")
  func deleteRemoves() async throws {
    let tmp = try TemporaryDirectory(prefix: "catalog")
    let dir = tmp.path
    let s = store(dir)
    try s.prepare()
    for name in ["on-demand-n-1", "on-demand-n-2", "on-demand-n-3"] {
      try writeFile(dir + "/" + name, [1])
      try s.writeMetadata(record(prefix: "on-demand", node: "n", timestamp: Int64(name.suffix(1))!))
    }
    let deleted = try await delete(["on-demand-n-1", "on-demand-n-3", "on-demand-n-1"], from: [s])
    #expect(deleted == ["on-demand-n-1", "on-demand-n-3"])
    #expect(listing(dir) == [".metadata", "on-demand-n-2"])
    #expect(listing(dir + "/.metadata") == ["on-demand-n-2"])
    withExtendedLifetime(tmp) {}
  }

  @Test("no names is an error that says what to give")
  func noNames() async throws {
    let m = InMemorySnapshotLocation(snapshots: [.init(name: "on-demand-n-1")])
    let error = try await #require(throws: SnapshotError.self) { try await delete([], from: [m]) }
    #expect(error.code == .invalidConfiguration)
    #expect(error.message.contains("give the names"))
    #expect(m.stored == ["on-demand-n-1"])
  }

  @Test("delete works for a file without a record")
  func deleteWithoutRecord() async throws {
    let tmp = try TemporaryDirectory(prefix: "catalog")
    let s = store(tmp.path)
    try s.prepare()
    try writeFile(tmp.path + "/backup.db", [1])
    #expect(try await delete(["backup.db"], from: [s]) == ["backup.db"])
    #expect(listing(tmp.path) == [".metadata"])
    withExtendedLifetime(tmp) {}
  }

  /// Names that must be refused, and whether the refusal is "not found" (else invalid).
  static let refused: [(name: String, notFound: Bool)] = [
    ("", false), (".", false), ("..", false), ("../outside", false), ("a/b", false), ("/etc/passwd", false),
    ("sub/..", false), (".hidden", false), (".metadata", false), ("x.part", false),
    ("on-demand-n-9", true), ("sub", true), ("link", true),
  ]

  @Test("a bad or unknown name deletes NOTHING, even the valid names", arguments: refused)
  func deleteAllOrNothing(bad: String, notFound: Bool) async throws {
    let tmp = try TemporaryDirectory(prefix: "catalog")
    let root = tmp.path
    let dir = root + "/snapshots"
    let s = store(dir)
    try s.prepare()
    try writeFile(root + "/outside", [1])
    try writeFile(dir + "/on-demand-n-1", [1])
    try writeFile(dir + "/on-demand-n-2", [2])
    try s.writeMetadata(record(prefix: "on-demand", node: "n", timestamp: 1))
    try writeFile(dir + "/.hidden", [3])
    try writeFile(dir + "/x.part", [4])
    #expect(mkdir(dir + "/sub", 0o700) == 0)
    #expect(symlink(dir + "/on-demand-n-2", dir + "/link") == 0)
    let before = listing(dir)

    for names in [[bad], ["on-demand-n-1", bad], [bad, "on-demand-n-1", "on-demand-n-2"]] {
      let error = try await #require(throws: SnapshotError.self, "\(names)") { try await delete(names, from: [s]) }
      #expect(error.code == (notFound ? .notFound : .invalidConfiguration), "\(names): \(error.message)")
      #expect(error.message.contains("nothing was deleted"))
      if notFound { #expect(error.message.contains("see `etcd-snapshot ls --dir \(dir)`"), "\(error.message)") }
      #expect(listing(dir) == before)
      #expect(listing(dir + "/.metadata") == ["on-demand-n-1"])
      #expect(contents(root + "/outside") == [1])
    }
    withExtendedLifetime(tmp) {}
  }

  @Test("several problems are all reported, and an invalid name outranks an unknown one", arguments: LocationKind.allCases)
  func deleteReportsAll(kind: LocationKind) async throws {
    let location = try TestLocation(kind, [.init(name: "on-demand-n-1")])
    let error = try await #require(throws: SnapshotError.self) {
      try await delete(["gone-1", "../x", "on-demand-n-1", "gone-2"], from: [location.location])
    }
    #expect(error.code == .invalidConfiguration)
    #expect(error.message.contains("3 problems"), "\(error.message)")
    #expect(error.message.contains("gone-1") && error.message.contains("gone-2") && error.message.contains("../x"))
    #expect(try await location.names() == ["on-demand-n-1"])
  }

  @Test(
    "every name that save's validation accepts is listed by ls and can be deleted",
    arguments: [("on-demand", "node-1"), ("etcd-snapshot", "ip-10-0-0-1.ec2.internal"), ("nightly", "a.b.c")])
  func acceptedNamesAreManageable(prefix: String, node: String) async throws {
    #expect(SnapshotName.problem(with: prefix, flag: "--name") == nil)
    #expect(SnapshotName.problem(with: node, flag: "--node-name") == nil)
    let tmp = try TemporaryDirectory(prefix: "catalog")
    let s = store(tmp.path)
    try s.prepare()
    let name = SnapshotName(prefix: prefix, node: node, timestamp: 1_700_000_000).fileName
    try writeFile(tmp.path + "/" + name, [1])
    #expect(
      try s.list(preferredPrefixes: [prefix]).map(\.name) == [SnapshotName(prefix: prefix, node: node, timestamp: 1_700_000_000)])
    #expect(LocalSnapshotStore.nameProblem(name) == nil)
    #expect(try await delete([name], from: [s]) == [name])
    #expect(!exists(tmp.path + "/" + name))
    withExtendedLifetime(tmp) {}
  }

  // MARK: several locations (the directory and a bucket, as with --s3)

  @Test("each name goes from every location that has it, in the locations' order", arguments: LocationKind.allCases)
  func deleteEverywhere(kind: LocationKind) async throws {
    let first = try TestLocation(kind, [.init(name: "a-n-1"), .init(name: "both-n-1"), .init(name: "kept-n-1")])
    let second = InMemorySnapshotLocation(
      address: "s3://bucket/folder/", snapshots: [.init(name: "b-n-1"), .init(name: "both-n-1"), .init(name: "kept-n-2")])
    let deleted = try await Catalog.delete(names: ["both-n-1", "b-n-1", "a-n-1"], from: [first.location, second])
    #expect(
      deleted == [
        DeletedSnapshot(name: "both-n-1", location: first.location.address),
        DeletedSnapshot(name: "a-n-1", location: first.location.address),
        DeletedSnapshot(name: "both-n-1", location: "s3://bucket/folder/"),
        DeletedSnapshot(name: "b-n-1", location: "s3://bucket/folder/"),
      ])
    #expect(try await first.names() == ["kept-n-1"])
    #expect(second.stored == ["kept-n-2"])
  }

  @Test("a name no location has deletes nothing anywhere, and the message names every location")
  func unknownEverywhere() async throws {
    let first = InMemorySnapshotLocation(address: "/var/snapshots", snapshots: [.init(name: "a-n-1")])
    let second = InMemorySnapshotLocation(address: "s3://bucket/", snapshots: [.init(name: "b-n-1")])
    let error = try await #require(throws: SnapshotError.self) {
      try await delete(["a-n-1", "b-n-1", "c-n-1"], from: [first, second])
    }
    #expect(error.code == .notFound)
    #expect(error.message.contains("no snapshot named `c-n-1` in /var/snapshots or s3://bucket/"), "\(error.message)")
    #expect(first.stored == ["a-n-1"] && second.stored == ["b-n-1"])
    #expect(first.removals.isEmpty && second.removals.isEmpty)
  }

  @Test("a location that refuses removals deletes nothing anywhere; one not involved is not asked")
  func refusedRemovals() async throws {
    let first = InMemorySnapshotLocation(address: "/var/snapshots", snapshots: [.init(name: "a-n-1")])
    let second = InMemorySnapshotLocation(address: "s3://bucket/", snapshots: [.init(name: "b-n-1")])
    second.refuseRemovals("cannot write /var/snapshots: Permission denied")
    let error = try await #require(throws: SnapshotError.self) { try await delete(["a-n-1", "b-n-1"], from: [first, second]) }
    #expect(error.message.contains("Permission denied") && error.message.contains("nothing was deleted"))
    #expect(first.stored == ["a-n-1"] && second.stored == ["b-n-1"])
    // Deleting only from the first location does not depend on the second's permission.
    #expect(try await delete(["a-n-1"], from: [first, second]) == ["a-n-1"])
  }

  @Test("a removal that fails anyway says what was deleted before it and how to finish")
  func failureMidway() async throws {
    let first = InMemorySnapshotLocation(address: "/var/snapshots", snapshots: [.init(name: "a-n-1"), .init(name: "a-n-2")])
    let second = InMemorySnapshotLocation(address: "s3://bucket/", snapshots: [.init(name: "b-n-1"), .init(name: "b-n-2")])
    second.failRemoval(of: ["b-n-2"])
    let error = try await #require(throws: SnapshotError.self) {
      try await delete(["a-n-1", "a-n-2", "b-n-1", "b-n-2"], from: [first, second])
    }
    #expect(error.code == .io)
    #expect(
      error.message.contains("deleted before the failure: a-n-1 (/var/snapshots), a-n-2 (/var/snapshots), b-n-1 (s3://bucket/)"),
      "\(error.message)")
    #expect(error.message.contains("run the same delete again for the rest"))
    #expect(first.stored.isEmpty && second.stored == ["b-n-2"])
    second.failRemoval(of: [])
    #expect(try await delete(["b-n-2"], from: [first, second]) == ["b-n-2"])
  }

  @Test("a location that cannot be listed deletes nothing anywhere")
  func unavailable() async throws {
    let first = InMemorySnapshotLocation(snapshots: [.init(name: "a-n-1")])
    let second = InMemorySnapshotLocation(address: "s3://bucket/", snapshots: [.init(name: "a-n-1")])
    second.makeUnavailable("s3://bucket/: connection refused")
    let error = try await #require(throws: SnapshotError.self) { try await delete(["a-n-1"], from: [first, second]) }
    #expect(error.message.contains("connection refused"))
    #expect(first.stored == ["a-n-1"])
  }
}
