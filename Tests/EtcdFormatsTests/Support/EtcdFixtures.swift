import EtcdTestSupport
import Foundation
import Testing

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// Files made by one real etcd, kept in memory (about 3 MB) so tests can write their own copies.
struct EtcdFixtureSet: Sendable {
  var release: EtcdRelease
  var versionLine: String
  /// `snapshot save` of a fresh server, before any write.
  var emptySnapshot: [UInt8]
  var emptyStatus: SnapshotStatus
  /// `endpoint status` header revision of the fresh server.
  var emptyEndpointRevision: Int64
  /// `snapshot save` after 3000 puts, deletes and a 1 MiB value.
  var fullSnapshot: [UInt8]
  var fullStatus: SnapshotStatus
  /// The revision of the last write, as the server answered it.
  var lastWriteRevision: Int64
  /// `member/snap/db` copied after the server stopped (no trailer).
  var copiedDB: [UInt8]
  var copiedStatus: SnapshotStatus
}

/// Makes each release's fixtures once per test process and shares them.
actor EtcdFixtures {
  static let shared = EtcdFixtures()
  private var made: [EtcdRelease: Task<EtcdFixtureSet, any Error>] = [:]

  func fixtures(_ release: EtcdRelease) async throws -> EtcdFixtureSet {
    if let task = made[release] { return try await task.value }
    let task = Task { try await EtcdFixtureMaker.make(release) }
    made[release] = task
    return try await task.value
  }
}

struct FixtureError: Error, CustomStringConvertible {
  var description: String
}

/// Starts a real etcd on free loopback ports in a temporary directory, writes to it, saves
/// snapshots, stops it and removes everything it made.
enum EtcdFixtureMaker {
  static let smallKeys = 3000

  static func make(_ release: EtcdRelease) async throws -> EtcdFixtureSet {
    let dir = try TemporaryDirectory(prefix: "bolt-fixtures-\(release.rawValue)")
    let helper = dir.appending("etcd_helper.py")
    try pythonHelper.write(toFile: helper, atomically: true, encoding: .utf8)
    let server = try await EtcdServer(release)
    let bins = server.binaries
    let versionLine = try TestProcess.check(bins.etcd, ["--version"]).split(separator: "\n").first.map(String.init) ?? ""
    guard versionLine.contains("etcd Version: \(release.rawValue).") else {
      throw FixtureError(description: "\(bins.etcd) is \(versionLine), expected etcd \(release.rawValue)")
    }
    print("fixtures from \(bins.etcd): \(versionLine)")

    let emptyEndpointRevision = try server.revision()
    try server.ctl(["snapshot", "save", dir.appending("empty.db")])
    let emptyStatus = try SnapshotStatus.read(dir.appending("empty.db"), with: bins)

    let written = try TestProcess.check("/usr/bin/env", ["python3", helper, "fill", server.clientURL, String(smallKeys)])
    guard let lastWriteRevision = Int64(written.trimmingCharacters(in: .whitespacesAndNewlines)) else {
      throw FixtureError(description: "fill printed \(written)")
    }
    try server.ctl(["snapshot", "save", dir.appending("full.db")])
    let fullStatus = try SnapshotStatus.read(dir.appending("full.db"), with: bins)

    server.stop()
    try FileManager.default.copyItem(atPath: server.dataDir + "/member/snap/db", toPath: dir.appending("copy.db"))
    let copiedStatus = try SnapshotStatus.read(dir.appending("copy.db"), with: bins)

    return EtcdFixtureSet(
      release: release, versionLine: versionLine,
      emptySnapshot: try readBytes(dir.appending("empty.db")), emptyStatus: emptyStatus,
      emptyEndpointRevision: emptyEndpointRevision,
      fullSnapshot: try readBytes(dir.appending("full.db")), fullStatus: fullStatus,
      lastWriteRevision: lastWriteRevision,
      copiedDB: try readBytes(dir.appending("copy.db")), copiedStatus: copiedStatus)
  }

  /// Fills a server through etcd's JSON gateway (3.4 and 3.5 both serve /v3/).
  static let pythonHelper = #"""
    import base64, http.client, json, sys, time, urllib.parse, urllib.request
    mode, url = sys.argv[1], sys.argv[2]
    u = urllib.parse.urlparse(url)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    def call(path, obj):
        c.request("POST", path, json.dumps(obj), {"Content-Type": "application/json"})
        r = c.getresponse(); d = r.read()
        if r.status != 200:
            raise SystemExit(f"{path}: HTTP {r.status}: {d[:200]!r}")
        return json.loads(d)
    b64 = lambda b: base64.b64encode(b).decode()
    n = int(sys.argv[3])
    for i in range(n):
        call("/v3/kv/put", {"key": b64(b"/registry/k%05d" % i), "value": b64(b"value-%d" % i * 5)})
    for i in range(0, n, 7):
        call("/v3/kv/deleterange", {"key": b64(b"/registry/k%05d" % i)})
    big = bytes((i * 2654435761 >> 13) & 0xFF for i in range(1 << 20))
    r = call("/v3/kv/put", {"key": b64(b"/registry/big"), "value": b64(big)})
    print(r["header"]["revision"])
    """#
}

// MARK: - Small process and file helpers

func createFile(_ path: String) -> URL {
  _ = FileManager.default.createFile(atPath: path, contents: nil)
  return URL(fileURLWithPath: path)
}

func readBytes(_ path: String) throws -> [UInt8] {
  [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
}

/// Writes `bytes` to a fresh temporary file, runs `body` with its path, and removes it.
func withTemporaryFile<R>(_ bytes: [UInt8], name: String = "test.db", _ body: (String) throws -> R) throws -> R {
  let dir = try TemporaryDirectory(prefix: "bolt-test")
  let path = dir.appending(name)
  try Data(bytes).write(to: URL(fileURLWithPath: path))
  return try withExtendedLifetime(dir) { try body(path) }
}
