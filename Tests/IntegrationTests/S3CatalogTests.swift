import EtcdTestSupport
import Foundation
import Testing

/// `ls`, `delete`, `prune` with `--s3` against moto (signatures checked).
@Suite("ls, delete and prune with --s3", .serialized)
struct S3CatalogTests {
  /// Puts a small valid snapshot into the bucket as `name` (through boto3), with no sidecar.
  static func putSnapshot(_ s3: S3Fixture, source: String, name: String) throws {
    _ = try s3.moto.oracle(bucket: s3.bucket, ["put", s3.folder + name, source])
  }

  /// A small real snapshot file to copy into the bucket.
  static func smallSnapshot(_ s3: S3Fixture) async throws -> String {
    let server = try await EtcdServer(.etcd35)
    try server.putKeys(prefix: "/k/", count: 5)
    let r = try Tool.save(server, dir: s3.work.appending("source"))
    try #require(r.status == 0, "\(r)")
    return try #require(r.stdout.split(separator: "\n").first.map(String.init))
  }

  @Test("prune --s3 keeps --s3-retention per node in the bucket; --dry-run deletes nothing")
  func prunePerNode() async throws {
    let s3 = try await S3Fixture()
    let source = try await Self.smallSnapshot(s3)
    var names: [String] = []
    for node in ["node1", "node2"] {
      for ts in [1_700_000_000, 1_700_000_100, 1_700_000_200, 1_700_000_300] {
        let name = "on-demand-\(node)-\(ts)"
        names.append(name)
        try Self.putSnapshot(s3, source: source, name: name)
      }
    }
    try Self.putSnapshot(s3, source: source, name: "hand-made.db")
    try Self.putSnapshot(s3, source: source, name: "nightly-node1-1700000400")

    let dry = try Tool.run(["prune", "--dir", s3.dir, "--s3-retention", "2", "--dry-run"] + s3.arguments(), environment: s3.environment)
    #expect(dry.status == 0, "\(dry)")
    #expect(dry.stdout.components(separatedBy: "would delete").count - 1 == 4, "\(dry.stdout)")
    #expect(try s3.objects().count == 10, "a dry run deletes nothing")

    let r = try Tool.run(["prune", "--dir", s3.dir, "--s3-retention", "2"] + s3.arguments(), environment: s3.environment)
    #expect(r.status == 0, "\(r)")
    let left = Set(try s3.objects().map { String($0.key.dropFirst(s3.folder.count)) })
    #expect(
      left == [
        "on-demand-node1-1700000200", "on-demand-node1-1700000300", "on-demand-node2-1700000200", "on-demand-node2-1700000300",
        "hand-made.db", "nightly-node1-1700000400",
      ], "two per node are kept, not two in all; other names untouched: \(left)")
  }

  @Test("delete --s3 removes object and sidecar (and the local copy); unknown names delete nothing")
  func deleteBoth() async throws {
    let server = try await EtcdServer(.etcd35)
    try server.putKeys(prefix: "/k/", count: 20)
    let s3 = try await S3Fixture()
    let first = try s3.save(server)
    try #require(first.status == 0, "\(first)")
    let name = try S3Fixture.name(from: first)

    let refused = try Tool.run(["delete", "--dir", s3.dir, name, "nope-node1-1"] + s3.arguments(), environment: s3.environment)
    #expect(refused.status == 66, "\(refused)")
    #expect(refused.stderr.contains("nothing was deleted"))
    #expect(try s3.objects().count == 2)

    let r = try Tool.run(["delete", "--dir", s3.dir, name] + s3.arguments(), environment: s3.environment)
    #expect(r.status == 0, "\(r)")
    #expect(try s3.objects().isEmpty, "object and sidecar are gone")
    #expect(try Tool.list(s3.dir).isEmpty, "the local copy is gone too")
  }

  @Test("delete --s3 with a local copy that cannot be deleted (read-only mount): nothing is deleted, the bucket copy stays")
  func deleteChecksLocalFirst() async throws {
    let server = try await EtcdServer(.etcd35)
    try server.putKeys(prefix: "/k/", count: 20)
    let s3 = try await S3Fixture()
    let mount = try TmpfsMount(options: "size=8m,mode=0700")
    let saved = try Tool.run(
      ["save"] + server.connectionArguments + ["--dir", mount.path, "--node-name", "node1"] + s3.arguments(), environment: s3.environment)
    try #require(saved.status == 0, "\(saved)")
    let name = try S3Fixture.name(from: saved)
    try mount.remount(readOnly: true)
    let r = try Tool.run(["delete", "--dir", mount.path, name] + s3.arguments(), environment: s3.environment)
    #expect(r.status == 73, "\(r)")
    #expect(r.stderr.contains("read-only"), "\(r.stderr)")
    #expect(try s3.objects().count == 2, "object and sidecar are still in the bucket")
    try mount.remount(readOnly: false)
    #expect(FileManager.default.fileExists(atPath: mount.path + "/" + name), "the local copy is still there")
  }

  @Test("prune --s3 --name on-demand leaves the on-demand-nightly series alone (its sidecars say its prefix)")
  func pruneIsNotGreedy() async throws {
    let server = try await EtcdServer(.etcd35)
    try server.putKeys(prefix: "/k/", count: 20)
    let s3 = try await S3Fixture()
    var nightly: [String] = []
    var onDemand: [String] = []
    for round in 0..<2 {
      if round > 0 { try await Task.sleep(for: .milliseconds(1100)) }  // names differ by the second
      let a = try s3.save(server, node: "n1")
      try #require(a.status == 0, "\(a)")
      onDemand.append(try S3Fixture.name(from: a))
      let b = try s3.save(server, node: "n1", extra: ["--name", "on-demand-nightly"])
      try #require(b.status == 0, "\(b)")
      nightly.append(try S3Fixture.name(from: b))
    }
    let r = try Tool.run(
      ["prune", "--dir", s3.dir, "--name", "on-demand", "--snapshot-retention", "5"] + s3.arguments(extra: ["--s3-retention", "1"]),
      environment: s3.environment)
    #expect(r.status == 0, "\(r)")
    let keys = Set(try s3.objects().map(\.key)).filter { !$0.contains("/.metadata/") }
    #expect(keys == Set((nightly + [onDemand[1]]).map { s3.folder + $0 }), "\(keys)")
  }

  @Test("ls --s3 over 1,500 objects: every one listed, from list pages and sidecars, never a HEAD")
  func listManyObjects() async throws {
    let s3 = try await S3Fixture()
    let source = try await Self.smallSnapshot(s3)
    _ = try s3.moto.oracle(bucket: s3.bucket, ["fill", s3.folder + "etcd-snapshot-node9-", "1500", source])
    let proxy = try await S3TestProxy(upstream: s3.moto.endpoint)
    let listed = try s3.list(s3: s3.arguments(endpoint: proxy.endpoint))
    #expect(listed.count == 1500)
    #expect(listed.allSatisfy { $0.location == "s3" && $0.node == "node9" })
    let requests = try proxy.stats().requests
    #expect(!requests.contains { $0.method == "HEAD" }, "no HEAD per object")
    #expect(requests.filter { ($0.query ?? "").contains("list-type=2") }.count >= 2, "more than one list page was read")
  }

  @Test("ls --s3, the default table: list pages only, no sidecar read; --details reads them")
  func tableFromListPages() async throws {
    let server = try await EtcdServer(.etcd35)
    try server.putKeys(prefix: "/k/", count: 20)
    let s3 = try await S3Fixture()
    for node in ["node1", "node2", "node3"] {
      let saved = try s3.save(server, node: node)
      try #require(saved.status == 0, "\(saved)")
    }
    let proxy = try await S3TestProxy(upstream: s3.moto.endpoint)
    let empty = s3.work.appending("empty")
    let table = try Tool.run(["ls", "--dir", empty] + s3.arguments(endpoint: proxy.endpoint), environment: s3.environment)
    #expect(table.status == 0, "\(table)")
    let lines = table.stdout.split(separator: "\n")
    let header = lines.first?.split(separator: " ", omittingEmptySubsequences: true)
    #expect(header == ["NAME", "NODE", "CREATED", "SIZE", "LOCATION"], "\(table.stdout)")
    #expect(lines.count == 4 && ["node1", "node2", "node3"].allSatisfy { n in lines.contains { $0.contains(n) } }, "\(table.stdout)")
    let requests = try proxy.stats().requests
    #expect(requests.allSatisfy { ($0.query ?? "").contains("list-type=2") }, "only list pages: \(requests.map { $0.path ?? "" })")
    #expect(requests.count == 1, "one page for three snapshots: \(requests.count)")

    try proxy.reset()
    let details = try Tool.run(["ls", "--dir", empty, "--details"] + s3.arguments(endpoint: proxy.endpoint), environment: s3.environment)
    #expect(details.status == 0, "\(details)")
    #expect(details.stdout.contains("REVISION") && details.stdout.contains("VERIFIED"), "\(details.stdout)")
    let sidecarReads = try proxy.stats().requests.filter { ($0.path ?? "").contains("/.metadata/") && $0.method == "GET" }
    #expect(sidecarReads.count == 3, "one sidecar read per snapshot: \(sidecarReads.count)")
  }

  @Test("virtual-host style (bucket.host) through an HTTP proxy, path style directly")
  func virtualHostStyle() async throws {
    let server = try await EtcdServer(.etcd34)
    try server.putKeys(prefix: "/k/", count: 20)
    let s3 = try await S3Fixture()
    let forward = try await S3TestProxy(forward: ())
    let args = s3.arguments(endpoint: "s3.localhost:\(s3.moto.port)", extra: ["--s3-bucket-lookup-type", "dns"])
    let r = try s3.save(server, s3: args, environment: ["HTTP_PROXY": "http://127.0.0.1:\(forward.port)"])
    #expect(r.status == 0, "\(r)")
    // async-http-client tunnels plain http through the proxy with CONNECT too.
    let stats = try forward.stats()
    let targets = stats.connects + stats.requests.compactMap(\.target)
    #expect(targets.contains("\(s3.bucket).s3.localhost:\(s3.moto.port)"), "requests named the bucket in the host: \(targets)")
    let listed = try s3.list(s3: args, environment: ["HTTP_PROXY": "http://127.0.0.1:\(forward.port)"])
    #expect(listed.filter { $0.location == "s3" }.count == 1)
    #expect(try s3.objects().count == 2, "boto3 (path style) sees the object and sidecar")
  }
}
