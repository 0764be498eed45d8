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

/// A metadata record for `fileName` (a k3s-style name split as given) of `size` bytes.
private func record(prefix: String, node: String, timestamp: Int64, size: Int64, revision: Int64 = 7) -> SnapshotMetadata {
  SnapshotMetadata(
    name: SnapshotName(prefix: prefix, node: node, timestamp: timestamp), size: size,
    sha256: String(repeating: "0", count: 64), revision: revision, etcdVersion: "3.5.1", clusterID: 1, memberID: 2,
    endpoint: "http://127.0.0.1:2379", toolVersion: "test", verified: true)
}

/// A store whose inspector reports revision 42 for any file without a record.
private func store(_ dir: String) -> LocalSnapshotStore {
  LocalSnapshotStore(directory: dir, inspect: { _ in (revision: 42, problem: nil) })
}

@Suite("LocalSnapshotStore: the snapshot directory")
struct LocalSnapshotStoreTests {
  // MARK: prepare

  @Test("prepare creates the directory, missing parents and .metadata, with mode 0700")
  func prepareCreates() throws {
    try withTemporaryDirectory { dir in
      let target = dir + "/a/b/snapshots"
      let s = store(target)
      try s.prepare()
      #expect(permissions(target) == 0o700)
      #expect(permissions(target + "/.metadata") == 0o700)
      #expect(s.metadataDirectory == target + "/.metadata")
      #expect(s.looseModeWarning() == nil)
      try s.prepare()  // a second time is fine
      #expect(listing(target) == [".metadata"])
    }
  }

  @Test("prepare keeps the mode of an existing directory; a readable one gets a warning")
  func prepareExistingLoose() throws {
    try withTemporaryDirectory { dir in
      let target = dir + "/snapshots"
      #expect(mkdir(target, 0o755) == 0)
      #expect(chmod(target, 0o755) == 0)
      let s = store(target)
      try s.prepare()
      #expect(permissions(target) == 0o755)
      #expect(permissions(target + "/.metadata") == 0o700)
      let warning = try #require(s.looseModeWarning())
      #expect(warning.contains("755"))
      #expect(warning.contains("chmod 700"))
    }
  }

  @Test("prepare refuses a path that is a file, or under a file")
  func prepareOnFile() throws {
    try withTemporaryDirectory { dir in
      try writeFile(dir + "/file", [1])
      for target in [dir + "/file", dir + "/file/snapshots"] {
        let error = try #require(throws: SnapshotError.self) { try store(target).prepare() }
        #expect(error.code == .cannotWrite)
        #expect(error.message.contains("not a directory"))
      }
      #expect(contents(dir + "/file") == [1])
    }
  }

  @Test("a read-only file system: prepare and create fail with cannotWrite saying read-only")
  func readOnly() throws {
    try withTmpfs(options: "ro,size=64k") { mount in
      let fresh = try #require(throws: SnapshotError.self) { try store(mount + "/snapshots").prepare() }
      #expect(fresh.code == .cannotWrite)
      #expect(fresh.message.contains("read-only"), "\(fresh.message)")

      let existing = try #require(throws: SnapshotError.self) { try store(mount).prepare() }
      #expect(existing.code == .cannotWrite)
      #expect(existing.message.contains("read-only"), "\(existing.message)")

      let create = try #require(throws: SnapshotError.self) { _ = try store(mount).create(name: "on-demand-n-1") }
      #expect(create.code == .cannotWrite)
      #expect(create.message.contains("read-only"), "\(create.message)")
      #expect(listing(mount) == [])
    }
  }

  // MARK: create, metadata

  @Test("create writes under .part in the directory and commits to the name")
  func createCommit() throws {
    try withTemporaryDirectory { dir in
      let s = store(dir)
      try s.prepare()
      var file = try s.create(name: "on-demand-n-5")
      #expect(file.path == dir + "/on-demand-n-5")
      try file.write([1, 2, 3, 4])
      #expect(try s.list().isEmpty)
      try file.commit()
      let entries = try s.list()
      #expect(entries.map(\.fileName) == ["on-demand-n-5"])
      #expect(entries.first?.size == 4)
      #expect(entries.first?.location == .local(path: dir + "/on-demand-n-5"))
      #expect(permissions(dir + "/on-demand-n-5") == 0o600)
    }
  }

  @Test("writeMetadata and readMetadata round-trip; a second record for a name is refused")
  func metadataRoundTrip() throws {
    try withTemporaryDirectory { dir in
      let s = store(dir)
      try s.prepare()
      guard case .none = s.readMetadata(name: "my-backup-node-a-100") else {
        Issue.record("a record was found before one was written")
        return
      }
      let m = record(prefix: "my-backup", node: "node-a", timestamp: 100, size: 10)
      try s.writeMetadata(m)
      guard case .found(let read) = s.readMetadata(name: m.name) else {
        Issue.record("the record was not found")
        return
      }
      #expect(read == m)
      #expect(permissions(dir + "/.metadata/" + m.name) == 0o600)
      let again = try #require(throws: SnapshotError.self) { try s.writeMetadata(m) }
      #expect(again.code == .cannotWrite)
      #expect(listing(dir + "/.metadata") == [m.name])
      s.removeMetadata(name: m.name)
      #expect(listing(dir + "/.metadata") == [])
    }
  }

  // MARK: list

  @Test("a missing directory lists as empty; a file in its place is an error")
  func listMissing() throws {
    try withTemporaryDirectory { dir in
      #expect(try store(dir + "/nope").list().isEmpty)
      try writeFile(dir + "/file", [])
      let error = try #require(throws: SnapshotError.self) { try store(dir + "/file").list() }
      #expect(error.code == .io)
    }
  }

  @Test("list skips hidden files, .part files and directories, and is newest first")
  func listFiltersAndOrders() throws {
    try withTemporaryDirectory { dir in
      let s = store(dir)
      try s.prepare()
      for name in ["on-demand-n-100", "on-demand-n-300", "etcd-snapshot-n-300", "on-demand-n-200", "backup.db"] {
        try writeFile(dir + "/" + name, [0])
      }
      try setModificationTime(dir + "/backup.db", 250)
      try writeFile(dir + "/.hidden-1000", [0])
      try writeFile(dir + "/on-demand-n-400.part", [0])
      #expect(mkdir(dir + "/on-demand-n-500", 0o700) == 0)
      #expect(mkdir(dir + "/.on-demand-n-600", 0o700) == 0)

      let entries = try s.list()
      #expect(
        entries.map(\.fileName) == [
          "on-demand-n-300", "etcd-snapshot-n-300", "backup.db", "on-demand-n-200", "on-demand-n-100",
        ])
      #expect(entries.map(\.timestamp) == [300, 300, 250, 200, 100])
      let foreign = try #require(entries.first { $0.fileName == "backup.db" })
      #expect(foreign.name == nil)
      #expect(foreign.retentionItem == nil)
      #expect(entries.allSatisfy { $0.revision == 42 && $0.metadata == nil })
    }
  }

  @Test("list splits names by the metadata record when there is one")
  func listUsesMetadata() throws {
    try withTemporaryDirectory { dir in
      let s = store(dir)
      try s.prepare()
      let bytes = pseudoRandomBytes(1000, seed: 9)
      try writeFile(dir + "/my-backup-node-a-100", bytes)
      try writeFile(dir + "/my-backup-node-b-50", bytes)
      try s.writeMetadata(record(prefix: "my-backup", node: "node-a", timestamp: 100, size: 1000, revision: 7))

      let entries = try s.list()
      #expect(entries.map(\.fileName) == ["my-backup-node-a-100", "my-backup-node-b-50"])
      let withRecord = entries[0]
      #expect(withRecord.name == SnapshotName(prefix: "my-backup", node: "node-a", timestamp: 100))
      #expect(withRecord.revision == 7)
      #expect(withRecord.verified)
      #expect(withRecord.problem == nil)
      #expect(withRecord.retentionItem == RetentionItem(name: "my-backup-node-a-100", group: "my-backup-node-a", timestamp: 100))
      // Without a record the split is a guess: the first dash.
      let without = entries[1]
      #expect(without.name == SnapshotName(prefix: "my", node: "backup-node-b", timestamp: 50))
      #expect(without.revision == 42)
      #expect(!without.verified)
      // Unless the caller says which prefix is meant.
      let told = try s.list(preferredPrefixes: ["my-backup"])
      #expect(told[1].name == SnapshotName(prefix: "my-backup", node: "node-b", timestamp: 50))
    }
  }

  @Test("list reports a size that differs from the record, and an unreadable record")
  func listProblems() throws {
    try withTemporaryDirectory { dir in
      let s = store(dir)
      try s.prepare()
      try writeFile(dir + "/on-demand-n-2", [1, 2, 3])
      try s.writeMetadata(record(prefix: "on-demand", node: "n", timestamp: 2, size: 1000))
      try writeFile(dir + "/on-demand-n-1", [1])
      try writeFile(dir + "/.metadata/on-demand-n-1", Array("{not json".utf8))

      let entries = try s.list()
      #expect(entries.map(\.fileName) == ["on-demand-n-2", "on-demand-n-1"])
      #expect(entries[0].problem?.contains("truncated") == true, "\(entries[0].problem ?? "nil")")
      #expect(entries[1].metadata == nil)
      #expect(entries[1].problem?.contains("not valid JSON") == true, "\(entries[1].problem ?? "nil")")
      #expect(entries[1].name == SnapshotName(prefix: "on-demand", node: "n", timestamp: 1))
      #expect(entries[1].revision == 42)
    }
  }

  // MARK: names (deleting them is Catalog's: EtcdSnapshotTests/CatalogDeleteTests)

  @Test("fileNames lists regular files only: not hidden ones, `.part` files, folders or links")
  func fileNamesAreSnapshots() throws {
    try withTemporaryDirectory { dir in
      let s = store(dir)
      try s.prepare()
      for name in ["on-demand-n-1", "backup.db", ".hidden", "x.part"] { try writeFile(dir + "/" + name, [1]) }
      #expect(mkdir(dir + "/sub", 0o700) == 0)
      #expect(symlink(dir + "/backup.db", dir + "/link") == 0)
      #expect(try s.fileNames().sorted() == ["backup.db", "on-demand-n-1"])
      #expect(try store(dir + "/missing").fileNames() == [])
    }
  }

  @Test(
    "names with a leading `.` or a `..` (hidden, or refused by delete) are refused by save's validation",
    arguments: [("on-demand", ".n"), ("on-demand", "a..b"), ("nightly..", "n"), (".nightly", "n")])
  func unmanageableNamesAreRefused(prefix: String, node: String) {
    let problems = [
      SnapshotName.problem(with: prefix, flag: "--name"), SnapshotName.problem(with: node, flag: "--node-name"),
    ].compactMap { $0 }
    #expect(problems.count == 1, "save must refuse \(prefix) / \(node)")
  }

  @Test(
    "nameProblem accepts the names ls prints", arguments: ["on-demand-n-1", "backup.db", "etcd-snapshot-ip-10-0-0-1.ec2.internal-1712345678", "a.b"])
  func nameProblemAccepts(name: String) {
    #expect(LocalSnapshotStore.nameProblem(name) == nil)
  }
}
