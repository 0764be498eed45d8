import Foundation
import Synchronization

#if canImport(Glibc)
  import Glibc
#endif

/// The figures of `etcdctl endpoint status`.
package struct EndpointStatus: Sendable, Equatable {
  /// Cluster ID.
  package var clusterID: UInt64
  /// Member ID.
  package var memberID: UInt64
  /// Store revision.
  package var revision: Int64
  /// Server version.
  package var version: String
  /// Learner flag.
  package var isLearner: Bool
  /// The leader's member ID (0: no leader).
  package var leader: UInt64
}

/// `etcdctl get -w json`: the header revision and every key-value with its metadata.
package struct KeyValueDump: Decodable, Equatable, Sendable {
  /// One key.
  package struct KeyValue: Decodable, Equatable, Sendable {
    /// Base64 key.
    package var key: String
    /// Base64 value (absent when empty).
    package var value: String?
    /// Revision that created it.
    package var createRevision: Int64
    /// Revision that last changed it.
    package var modRevision: Int64
    /// Number of changes since creation.
    package var version: Int64
    /// Lease ID, if attached.
    package var lease: Int64?

    enum CodingKeys: String, CodingKey {
      case key, value, version, lease
      case createRevision = "create_revision"
      case modRevision = "mod_revision"
    }
  }
  /// The response header.
  package struct Header: Decodable, Equatable, Sendable {
    /// Store revision.
    package var revision: Int64
  }
  /// Header.
  package var header: Header
  /// The keys (absent when there are none).
  package var kvs: [KeyValue]?
}

/// `snapshot status -w json` of etcd's own tool.
package struct SnapshotStatus: Decodable, Sendable, Equatable {
  /// CRC-32C of the contents.
  package var hash: UInt64
  /// Store revision.
  package var revision: Int64
  /// Keys in all buckets.
  package var totalKey: Int
  /// Database size.
  package var totalSize: Int64

  /// Runs etcdctl (3.4) or etcdutl (3.5) on `file`.
  package static func read(_ file: String, with binaries: EtcdRelease.Binaries) throws -> SnapshotStatus {
    let out = try TestProcess.check(binaries.snapshotTool, ["snapshot", "status", "-w", "json", file])
    guard let line = out.split(separator: "\n").last(where: { $0.hasPrefix("{") }) else {
      throw HarnessError("no JSON in snapshot status output: \(out)")
    }
    return try JSONDecoder().decode(SnapshotStatus.self, from: Data(line.utf8))
  }
}

/// One real etcd process on free loopback ports in its own temporary directory.
///
/// Stopped (and its directory removed) when released, so a failing test leaves nothing running.
package final class EtcdServer: Sendable {
  /// How to start a member.
  package struct Options: Sendable {
    /// Member name.
    package var name = "m1"
    /// Serve clients over TLS with these certificates (client certificates required).
    package var tls: TestCertificates?
    /// `--initial-cluster`; nil for a one-member cluster of this member.
    package var initialCluster: String?
    /// `--initial-cluster-state`.
    package var clusterState = "new"
    /// Fixed peer port (needed when another member was told the URL first).
    package var peerPort: Int?
    /// Extra flags.
    package var extraArguments: [String] = []
    /// Restore this snapshot file into the data directory (with etcd's own tool) before starting.
    package var restoreFrom: String?
    /// Start on this existing data directory (e.g. one our `restore` wrote) instead of a new one.
    package var dataDir: String?
    /// Whose etcdctl `ctl` runs (default: this release's), to compare outputs across versions.
    package var client: EtcdRelease?
    /// `--user` for every `ctl` call that names none (for servers with auth enabled).
    package var user: String?

    /// Defaults: one member, plain HTTP.
    package init() {}
  }

  /// Which release this is.
  package let release: EtcdRelease
  /// Its binaries.
  package let binaries: EtcdRelease.Binaries
  /// Member name.
  package let name: String
  /// Client URL (http or https).
  package let clientURL: String
  /// Peer URL.
  package let peerURL: String
  /// Client port.
  package let clientPort: Int
  /// The data directory.
  package let dataDir: String
  /// The certificates, if TLS.
  package let tls: TestCertificates?
  /// The etcdctl that `ctl` and `run` use.
  package let etcdctl: String
  private let user: String?
  private let directory: TemporaryDirectory
  private let process: Mutex<Process?>

  /// Starts a member and waits until it answers.
  package init(_ release: EtcdRelease, _ options: Options = Options()) async throws {
    self.release = release
    binaries = try release.binaries()
    etcdctl = try options.client.map { try $0.binaries().etcdctl } ?? binaries.etcdctl
    user = options.user
    name = options.name
    tls = options.tls
    directory = try TemporaryDirectory(prefix: "etcd-\(release.rawValue)-\(options.name)")
    clientPort = try freeLoopbackPort()
    let peerPort = try options.peerPort ?? freeLoopbackPort()
    let scheme = options.tls == nil ? "http" : "https"
    clientURL = "\(scheme)://127.0.0.1:\(clientPort)"
    peerURL = "http://127.0.0.1:\(peerPort)"
    dataDir = options.dataDir ?? directory.appending("data")
    var args = [
      "--name", options.name, "--data-dir", dataDir,
      "--listen-client-urls", clientURL, "--advertise-client-urls", clientURL,
      "--listen-peer-urls", peerURL, "--initial-advertise-peer-urls", peerURL,
      "--initial-cluster", options.initialCluster ?? "\(options.name)=\(peerURL)",
      "--initial-cluster-state", options.clusterState,
      "--logger", "zap", "--log-outputs", "stderr",
    ]
    if let t = options.tls {
      args += [
        "--cert-file", t.serverCert, "--key-file", t.serverKey, "--trusted-ca-file", t.ca, "--client-cert-auth",
      ]
    }
    args += options.extraArguments
    if let snapshot = options.restoreFrom {
      let restore = [
        "snapshot", "restore", snapshot, "--data-dir", dataDir, "--name", options.name,
        "--initial-cluster", "\(options.name)=\(peerURL)", "--initial-advertise-peer-urls", peerURL,
      ]
      try TestProcess.check(binaries.snapshotTool, restore, environment: Self.cleanEnvironment)
    }
    let p = Process()
    p.executableURL = URL(fileURLWithPath: binaries.etcd)
    p.arguments = args
    let logPath = directory.appending("etcd.log")
    FileManager.default.createFile(atPath: logPath, contents: nil)
    let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
    p.standardOutput = log
    p.standardError = log
    p.standardInput = FileHandle.nullDevice
    try spawning { try p.run() }
    process = Mutex(p)
    try await waitUntilServing()
  }

  /// The server's log so far (for failure messages).
  package var log: String {
    (try? String(contentsOfFile: directory.appending("etcd.log"), encoding: .utf8)).map { String($0.suffix(4000)) } ?? ""
  }

  /// Process id, while running.
  package var pid: Int32? { process.withLock { $0?.processIdentifier } }

  /// etcdctl's connection flags for this server (client certificate CN=root when TLS).
  package var connectionArguments: [String] {
    var args = ["--endpoints", clientURL]
    if let t = tls { args += ["--cacert", t.ca, "--cert", t.clientCert, "--key", t.clientKey] }
    return args
  }

  /// Runs etcdctl against this server and returns its output; throws on failure.
  @discardableResult
  package func ctl(_ arguments: [String], user: String? = nil, timeout: Duration = .seconds(60)) throws -> String {
    let r = try run(arguments, user: user, timeout: timeout)
    guard r.status == 0 else { throw HarnessError("etcdctl \(arguments.joined(separator: " ")) failed: \(r)") }
    return r.stdout
  }

  /// Runs etcdctl against this server, whatever its exit status.
  package func run(_ arguments: [String], user: String? = nil, timeout: Duration = .seconds(60)) throws -> ProcessResult {
    var args = connectionArguments
    if let user = user ?? self.user { args += ["--user", user] }
    return try TestProcess.run(etcdctl, args + arguments, environment: Self.cleanEnvironment, timeout: timeout)
  }

  /// Writes `count` keys `prefix<i>` with values `value-<i>` in one etcdctl txn per 100 keys (etcd allows 128 operations per txn).
  package func putKeys(prefix: String, count: Int, user: String? = nil) throws {
    var i = 0
    while i < count {
      let end = min(count, i + 100)
      var script = ""
      for k in i..<end { script += "put \(prefix)\(k) value-\(k)\n" }
      // `etcdctl txn` reads compares, then success ops, then failure ops, separated by blank lines.
      let r = try TestProcess.run(
        etcdctl, connectionArguments + ((user ?? self.user).map { ["--user", $0] } ?? []) + ["txn"],
        environment: Self.cleanEnvironment, stdin: "\n" + script + "\n\n")
      guard r.status == 0 else { throw HarnessError("etcdctl txn failed: \(r)") }
      i = end
    }
  }

  /// The number of keys the server holds (`get --prefix "" --keys-only`: each key, then a blank line).
  package func keyCount(user: String? = nil) throws -> Int {
    let out = try ctl(["get", "--prefix", "", "--keys-only"], user: user)
    return out.split(separator: "\n", omittingEmptySubsequences: true).count
  }

  /// Every key with its value, revisions, version and lease, and the store revision, as
  /// `etcdctl get --prefix "" -w json` reports them: the oracle for comparing two servers.
  package func dump(user: String? = nil) throws -> KeyValueDump {
    let out = try ctl(["get", "--prefix", "", "-w", "json"], user: user)
    return try JSONDecoder().decode(KeyValueDump.self, from: Data(out.utf8))
  }

  /// The current store revision.
  package func revision() throws -> Int64 { try endpointStatus().revision }

  /// What `etcdctl endpoint status` says.
  package func endpointStatus() throws -> EndpointStatus {
    let out = try ctl(["endpoint", "status", "-w", "json"])
    struct Entry: Decodable {
      struct Status: Decodable {
        struct Header: Decodable {
          var clusterID: UInt64
          var memberID: UInt64
          var revision: Int64
          enum CodingKeys: String, CodingKey {
            case clusterID = "cluster_id"
            case memberID = "member_id"
            case revision
          }
        }
        var header: Header
        var version: String
        var isLearner: Bool?
        var leader: UInt64?
      }
      var status: Status
      enum CodingKeys: String, CodingKey { case status = "Status" }
    }
    let entries = try JSONDecoder().decode([Entry].self, from: Data(out.utf8))
    guard let s = entries.first?.status else { throw HarnessError("no endpoint status in \(out)") }
    return EndpointStatus(
      clusterID: s.header.clusterID, memberID: s.header.memberID, revision: s.header.revision, version: s.version,
      isLearner: s.isLearner ?? false, leader: s.leader ?? 0)
  }

  /// Restores `snapshot` with etcd's own tool into a new member of the same release and starts it.
  package func restoreAndStart(snapshot: String) async throws -> EtcdServer {
    var options = Options()
    options.restoreFrom = snapshot
    return try await EtcdServer(release, options)
  }

  /// Stops the server with SIGTERM and waits for it.
  package func stop() {
    signal(SIGTERM)
  }

  /// Kills the server with SIGKILL (as a crash would) and waits for it.
  package func kill() {
    signal(SIGKILL)
  }

  private func signal(_ sig: Int32) {
    process.withLock { p in
      guard let running = p else { return }
      if running.isRunning { Glibc.kill(running.processIdentifier, sig) }
      running.waitUntilExit()
      p = nil
    }
  }

  deinit { kill() }

  /// The environment for etcd tools: no ETCDCTL_* from the outer shell.
  package static var cleanEnvironment: [String: String] {
    // The tool's own and k3s's variables too: a test sets what it means to.
    var env = ProcessInfo.processInfo.environment.filter {
      !$0.key.hasPrefix("ETCDCTL_") && !$0.key.hasPrefix("ETCD_SNAPSHOT_") && !$0.key.hasPrefix("K3S_")
    }
    env["ETCDCTL_API"] = "3"
    return env
  }

  /// Waits until `endpoint status` answers. The bound is generous (a loaded 2-core machine
  /// with a build beside the tests and a cluster electing its leader is slow, and this is a
  /// wait, not a measurement); the failure says what etcdctl said last.
  private func waitUntilServing() async throws {
    let bound: Duration = .seconds(120)
    let deadline = ContinuousClock.now + bound
    var last = ""
    // One more look after the deadline: a late wake-up is the test's, not etcd's.
    while true {
      if process.withLock({ $0?.isRunning }) != true {
        throw HarnessError("\(release) exited at start-up:\n\(log)")
      }
      let r = try run(["endpoint", "status", "--command-timeout", "5s"], timeout: .seconds(20))
      if r.status == 0 { return }
      last = "\(r)"
      if ContinuousClock.now >= deadline { break }
      try await Task.sleep(for: .milliseconds(100))
    }
    throw HarnessError("\(release) did not answer within \(bound) on \(clientURL); etcdctl said last: \(last)\n\(log)")
  }
}
