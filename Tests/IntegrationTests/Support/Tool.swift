import Crypto
import EtcdTestSupport
import Foundation
import Testing

/// Runs the built `etcd-snapshot` executable, as a user would.
enum Tool {
  /// The binary next to the test bundle (SwiftPM builds it for this test target), or
  /// `ETCD_SNAPSHOT_BIN`.
  static var path: String {
    if let p = ProcessInfo.processInfo.environment["ETCD_SNAPSHOT_BIN"] { return p }
    let me = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
    var dir = me.deletingLastPathComponent()
    // Inside an .xctest bundle the binary is deeper; walk up to the products folder.
    while dir.path != "/" {
      let candidate = dir.appendingPathComponent("etcd-snapshot").path
      if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
      dir.deleteLastPathComponent()
    }
    return "etcd-snapshot"
  }

  /// Runs the tool with `arguments`; ETCDCTL_* variables come only from `environment`.
  static func run(_ arguments: [String], environment extra: [String: String] = [:], timeout: Duration = .seconds(120))
    throws -> ProcessResult
  {
    var env = EtcdServer.cleanEnvironment
    env.removeValue(forKey: "ETCDCTL_API")
    for (k, v) in extra { env[k] = v }
    return try TestProcess.run(path, arguments, environment: env, timeout: timeout)
  }

  /// `save` against `server` into `dir`, with the server's TLS flags.
  static func save(_ server: EtcdServer, dir: String, extra: [String] = []) throws -> ProcessResult {
    try run(["save"] + server.connectionArguments + ["--dir", dir, "--node-name", "node1"] + extra)
  }

  /// `ls -o json` of `dir`, decoded.
  static func list(_ dir: String) throws -> [Listed] {
    try list(dir, as: Listed.self)
  }

  /// `ls -o json` of `dir` with `extra` arguments (e.g. `--s3 …`), decoded as `Row`s.
  static func list<Row: Decodable>(_ dir: String, extra: [String] = [], environment: [String: String] = [:], as: Row.Type) throws -> [Row] {
    let r = try run(["ls", "--dir", dir, "-o", "json"] + extra, environment: environment)
    guard r.status == 0 else { throw HarnessError("ls failed: \(r)") }
    return try JSONDecoder().decode([Row].self, from: Data(r.stdout.utf8))
  }
}

/// One row of `ls -o json`.
struct Listed: Decodable, Equatable {
  var name: String
  var node: String?
  var prefix: String?
  var path: String
  var size: Int64
  var revision: Int64?
  var verified: Bool
  var hasMetadata: Bool
  var sha256: String?
  var location: String
  var problem: String?
}

/// A directory holding one real snapshot (made by etcdctl, no metadata record) copied under
/// each of `names`: k3s-style names, or any other.
func populateSnapshots(_ dir: String, names: [String]) async throws {
  let server = try await EtcdServer(.etcd35)
  try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
  let source = dir + "/.source"
  try server.ctl(["snapshot", "save", source])
  for name in names { try FileManager.default.copyItem(atPath: source, toPath: dir + "/" + name) }
  try FileManager.default.removeItem(atPath: source)
}

/// SHA-256 of a file, hex.
func sha256Hex(ofFile path: String) throws -> String {
  let data = try Data(contentsOf: URL(fileURLWithPath: path))
  return SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
}

/// The files of a snapshot directory (names, including hidden and `.part`) and their hashes.
///
/// `.lock` is left out: it is the directory's lock file, which every save, prune and delete
/// opens (and writes its pid into) before anything else; it holds no data.
func directoryState(_ dir: String) throws -> [String: String] {
  var state: [String: String] = [:]
  guard let e = FileManager.default.enumerator(atPath: dir) else { return state }
  while let rel = e.nextObject() as? String {
    if rel == ".lock" { continue }
    var isDir: ObjCBool = false
    let p = dir + "/" + rel
    FileManager.default.fileExists(atPath: p, isDirectory: &isDir)
    state[rel] = isDir.boolValue ? "dir" : try sha256Hex(ofFile: p)
  }
  return state
}

/// File mode bits of a path.
func mode(_ path: String) throws -> Int {
  let attrs = try FileManager.default.attributesOfItem(atPath: path)
  return (attrs[.posixPermissions] as? Int) ?? -1
}

/// `restore SNAPSHOT` into `dataDir` as member m1, then a real etcd of `release` started on it.
func restoreAndServe(
  _ snapshot: String, into dataDir: String, release: EtcdRelease = .etcd35, extra: [String] = [], environment: [String: String] = [:]
) async throws -> (ProcessResult, EtcdServer) {
  let peerPort = try freeLoopbackPort()
  let peer = "http://127.0.0.1:\(peerPort)"
  let r = try Tool.run(
    ["restore", snapshot, "--data-dir", dataDir, "--name", "m1", "--initial-cluster", "m1=\(peer)", "--initial-advertise-peer-urls", peer]
      + extra, environment: environment)
  try #require(r.status == 0, "restore \(snapshot): \(r)")
  var options = EtcdServer.Options()
  options.dataDir = dataDir
  options.peerPort = peerPort
  return (r, try await EtcdServer(release, options))
}
