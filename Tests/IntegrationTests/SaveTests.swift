import EtcdTestSupport
import Foundation
import Testing

/// `save`, `ls`, `delete`, `prune` against real etcd 3.4 and 3.5, with the built executable.
@Suite("save and list against real etcd", .serialized)
struct SaveTests {
  @Test("save writes a verified, restorable snapshot with its metadata", arguments: EtcdRelease.allCases)
  func saveRestoreAndList(release: EtcdRelease) async throws {
    let server = try await EtcdServer(release)
    try server.putKeys(prefix: "/registry/pods/", count: 3000)
    try server.ctl(["put", "/registry/secret", String(repeating: "s3cr3t", count: 20_000)])  // overflow pages
    try server.ctl(["del", "/registry/pods/7"])
    let revision = try server.revision()
    let work = try TemporaryDirectory(prefix: "save")
    let dir = work.appending("snapshots/nested")

    let r = try Tool.save(server, dir: dir)
    try #require(r.status == 0, "\(r)")
    let path = try #require(r.stdout.split(separator: "\n").first.map(String.init))
    #expect(path.hasPrefix(dir + "/on-demand-node1-"))
    #expect(r.stdout.contains("sha256 verified"))
    #expect(r.stderr.contains("using \(server.clientURL)"), "the endpoint used is named: \(r.stderr)")
    #expect(!r.stderr.contains("\r"), "no progress line when stderr is not a terminal")

    // Files and permissions.
    #expect(try mode(path) == 0o600)
    #expect(try mode(dir) == 0o700)
    #expect(try mode(work.appending("snapshots")) == 0o700)
    #expect(try mode(dir + "/.metadata") == 0o700)
    let name = URL(fileURLWithPath: path).lastPathComponent
    #expect(try mode(dir + "/.metadata/" + name) == 0o600)
    #expect(try directoryState(dir).keys.allSatisfy { !$0.hasSuffix(".part") })

    // The metadata record describes the file.
    let record = try JSONDecoder().decode(
      Record.self, from: Data(contentsOf: URL(fileURLWithPath: dir + "/.metadata/" + name)))
    #expect(record.sha256 == (try sha256Hex(ofFile: path)))
    #expect(record.size == (try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int64))
    #expect(record.revision == revision)
    #expect(record.etcdVersion.hasPrefix(release.rawValue + "."))
    #expect(record.node == "node1" && record.prefix == "on-demand" && record.name == name)
    #expect(record.endpoint == server.clientURL)
    #expect(record.verified)
    let status = try server.endpointStatus()
    #expect(record.memberID == String(status.memberID, radix: 16))
    #expect(record.clusterID == String(status.clusterID, radix: 16))

    // etcd's own tools accept it: status figures, then a restore that serves the same data.
    let figures = try SnapshotStatus.read(path, with: server.binaries)
    #expect(figures.revision == revision)
    let restored = try await server.restoreAndStart(snapshot: path)
    #expect(try restored.keyCount() == (try server.keyCount()))
    #expect(try restored.ctl(["get", "/registry/pods/42", "--print-value-only"]) == "value-42\n")
    #expect(try restored.ctl(["get", "/registry/pods/7", "--print-value-only"]) == "", "a deleted key stays deleted")
    #expect(try restored.revision() == revision)

    // ls shows it, newest first, verified.
    let listed = try Tool.list(dir)
    #expect(listed.count == 1)
    #expect(listed.first?.name == name)
    #expect(listed.first?.verified == true)
    #expect(listed.first?.revision == revision)
    #expect(listed.first?.node == "node1")
    let table = try Tool.run(["ls", "--dir", dir])
    #expect(table.status == 0)
    #expect(table.stdout.contains(name) && table.stdout.contains("file://" + path))
    for alias in ["list", "l"] {
      let again = try Tool.run([alias, "--dir", dir])
      #expect(again.stdout == table.stdout, "`\(alias)` is an alias of ls")
    }
  }

  @Test("a snapshot made by etcdctl is listed with what the file says", arguments: EtcdRelease.allCases)
  func foreignSnapshotIsListed(release: EtcdRelease) async throws {
    let server = try await EtcdServer(release)
    try server.putKeys(prefix: "k", count: 100)
    let revision = try server.revision()
    let work = try TemporaryDirectory(prefix: "foreign")
    try FileManager.default.createDirectory(atPath: work.appending("snaps"), withIntermediateDirectories: true)
    try server.ctl(["snapshot", "save", work.appending("snaps/by-etcdctl.db")])
    let listed = try Tool.list(work.appending("snaps"))
    #expect(listed.count == 1)
    #expect(listed.first?.name == "by-etcdctl.db")
    #expect(listed.first?.revision == revision)
    #expect(listed.first?.verified == false)
    #expect(listed.first?.hasMetadata == false)
    #expect(listed.first?.problem == nil)
  }

  @Test("delete removes named snapshots and refuses bad or unknown names without deleting anything")
  func deleteSnapshots() async throws {
    let server = try await EtcdServer(.etcd35)
    let work = try TemporaryDirectory(prefix: "delete")
    let dir = work.appending("snaps")
    let first = try Tool.save(server, dir: dir, extra: ["--name", "a"])
    try #require(first.status == 0, "\(first)")
    let second = try Tool.save(server, dir: dir, extra: ["--name", "b"])
    try #require(second.status == 0, "\(second)")
    let names = try Tool.list(dir).map(\.name)
    try #require(names.count == 2)
    let before = try directoryState(dir)

    for bad in [["no-such-snapshot"], [names[0], "no-such-snapshot"], ["../snaps/" + names[0]], [names[0], "x/y"], [".metadata"]] {
      let r = try Tool.run(["delete", "--dir", dir] + bad)
      #expect(r.status != 0, "delete \(bad) must fail")
      #expect(r.stderr.contains("nothing was deleted"), "\(r)")
      #expect(try directoryState(dir) == before, "delete \(bad) changed the directory")
    }
    let unknown = try Tool.run(["delete", "--dir", dir, "no-such-snapshot"])
    #expect(unknown.status == 66)
    #expect(unknown.stderr.contains("no snapshot named `no-such-snapshot`"))
    let traversal = try Tool.run(["delete", "--dir", dir, "../x"])
    #expect(traversal.status == 64)
    #expect(traversal.stderr.contains("must not contain `/` or `..`"))

    let r = try Tool.run(["delete", "--dir", dir, names[1]])
    #expect(r.status == 0, "\(r)")
    #expect(r.stdout.contains("deleted \(names[1])"))
    #expect(try Tool.list(dir).map(\.name) == [names[0]])
    #expect(!FileManager.default.fileExists(atPath: dir + "/.metadata/" + names[1]))
    #expect(FileManager.default.fileExists(atPath: dir + "/.metadata/" + names[0]))
  }
}

/// The metadata record as written beside a snapshot.
struct Record: Decodable {
  var name: String
  var prefix: String
  var node: String
  var timestamp: Int64
  var size: Int64
  var sha256: String
  var revision: Int64
  var etcdVersion: String
  var clusterID: String
  var memberID: String
  var endpoint: String
  var verified: Bool
}
