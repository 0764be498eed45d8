import Crypto
import EtcdClient
import EtcdTestSupport
import Foundation
import Logging
import SnapshotCore
import Synchronization
import Testing

private func connector(_ endpoints: [String], _ adjust: (inout ConnectionConfiguration) -> Void = { _ in }) -> TestConnector {
  var configuration = ConnectionConfiguration()
  configuration.endpoints = endpoints
  // etcdctl's 2 s is for a production etcd; a fresh one on a loaded 2-core test machine may take longer.
  configuration.dialTimeout = .seconds(30)
  configuration.commandTimeout = .seconds(60)
  adjust(&configuration)
  return TestConnector(connector: EtcdConnector(configuration: configuration, logger: Logger(label: "etcd-client-tests")))
}

/// The connector run on a thread of its own: the other suites of this process keep the
/// cooperative pool busy with CPU-bound work for minutes, and a client waiting there for its
/// turn would time the pool, not etcd (a starved pool made a 2 s dial time out).
private struct TestConnector: Sendable {
  static let executor = DedicatedTaskExecutor(label: "etcd-client-tests")
  let connector: EtcdConnector

  func withHealthyMember<T: Sendable>(
    onSkip: @escaping @Sendable (EtcdEndpoint, String) -> Void = { _, _ in },
    _ body: @Sendable @escaping (EtcdMember) async throws -> T
  ) async throws -> T {
    let connector = self.connector
    return try await withTaskExecutorPreference(Self.executor) {
      try await connector.withHealthyMember(onSkip: onSkip, body)
    }
  }
}

/// The bytes of a snapshot stream and the `remainingBytes` etcd sent with each chunk.
private struct Stream: Sendable {
  var bytes: [UInt8] = []
  var remaining: [UInt64] = []
}

/// The client module against real etcd processes: member choice, status, the snapshot
/// stream, TLS and authentication. (The executable's behaviour on top is IntegrationTests'.)
@Suite("EtcdConnector against real etcd", .serialized)
struct EtcdConnectorTests {
  @Test("the chosen member's status is what etcdctl reports", arguments: EtcdRelease.allCases)
  func status(release: EtcdRelease) async throws {
    let server = try await EtcdServer(release)
    defer { server.stop() }
    try server.putKeys(prefix: "/registry/a/", count: 20)
    let expected = try server.endpointStatus()
    let status = try await connector([server.clientURL]).withHealthyMember { member in member.status }
    #expect(status.memberID == expected.memberID)
    #expect(status.clusterID == expected.clusterID)
    #expect(status.revision == expected.revision)
    #expect(status.leader == expected.leader && status.leader != 0)
    #expect(status.version == expected.version)
    #expect(!status.isLearner)
    #expect(status.unsuitability == nil)
  }

  @Test("a member stopped (SIGSTOP) mid-stream: the stream fails after the idle bound; a slow reader does not count as idle")
  func stalledStream() async throws {
    let server = try await EtcdServer(.etcd35)
    defer { server.stop() }
    // Far more than the 1 MiB HTTP/2 window: etcd is still sending when it is stopped.
    try TestProcess.check(
      "/usr/bin/env",
      ["python3", repositoryRoot() + "/Tests/Fixtures/fill-etcd.py", "--endpoint", server.clientURL, "--small", "0", "--big", "24", "--quiet"],
      timeout: .seconds(300))
    // The reader sleeps 3 s on its first chunk, three times the idle bound: not idle.
    let slow = try await connector([server.clientURL]).withHealthyMember { member in
      try await member.snapshot(idleTimeout: .seconds(1)) { chunks in
        var count = 0
        var first = true
        for try await chunk in chunks {
          if first {
            first = false
            try await Task.sleep(for: .seconds(3))
          }
          count += chunk.blob.count
        }
        return count
      }
    }
    #expect(slow > 24_000_000, "the whole stream arrived: \(slow)")
    let pid = try #require(server.pid)
    let started = ContinuousClock.now
    do {
      _ = try await connector([server.clientURL]).withHealthyMember { member in
        try await member.snapshot(idleTimeout: .seconds(2)) { chunks in
          var first = true
          for try await _ in chunks where first {
            first = false
            kill(pid, SIGSTOP)
          }
          return 0
        }
      }
      kill(pid, SIGCONT)
      Issue.record("the stream of a stopped member ended without an error")
    } catch {
      kill(pid, SIGCONT)
      let e = try #require(error as? SnapshotError, "\(error)")
      #expect(e.code == .interrupted && e.message.contains("sent nothing on the snapshot stream for 2s"), "\(e)")
    }
    // Not a timing assertion: only that it ended, where before it waited for ever.
    #expect(ContinuousClock.now - started < .seconds(120), "it ended")
  }

  @Test("the snapshot stream is a bbolt file followed by the SHA-256 of it", arguments: EtcdRelease.allCases)
  func snapshotStream(release: EtcdRelease) async throws {
    let server = try await EtcdServer(release)
    defer { server.stop() }
    try server.putKeys(prefix: "/registry/b/", count: 500)
    let stream = try await connector([server.clientURL]).withHealthyMember { member in
      try await member.snapshot(idleTimeout: .seconds(30)) { chunks in
        var out = Stream()
        for try await chunk in chunks {
          out.bytes += chunk.blob
          out.remaining.append(chunk.remainingBytes)
        }
        return out
      }
    }
    let bytes = stream.bytes
    try #require(bytes.count > 4096 + 32)
    let database = bytes[..<(bytes.count - 32)]
    // A bbolt meta page: the magic 0xED0CDAED (little-endian) after the 16-byte page header.
    #expect(Array(bytes[16..<20]) == [0xED, 0xDA, 0x0C, 0xED])
    #expect(Array(bytes[(bytes.count - 32)...]) == Array(SHA256.hash(data: database)))
    #expect(zip(stream.remaining, stream.remaining.dropFirst()).allSatisfy { $0 >= $1 }, "remainingBytes never grows")
    #expect(stream.remaining.last == 0)
  }

  @Test("an endpoint that refuses is skipped and named; the next healthy one is used")
  func skipsUnreachable() async throws {
    let server = try await EtcdServer(.etcd35)
    defer { server.stop() }
    let closed = "http://127.0.0.1:\(try freeLoopbackPort())"
    let skipped = Mutex<[String]>([])
    let note: @Sendable (EtcdEndpoint, String) -> Void = { endpoint, reason in skipped.withLock { $0.append("\(endpoint): \(reason)") } }
    let used = try await connector([closed, server.clientURL]).withHealthyMember(onSkip: note) { member in member.url }
    #expect(used == server.clientURL)
    let reasons = skipped.withLock { $0 }
    #expect(reasons.count == 1)
    let port = closed.split(separator: ":").last.map(String.init) ?? ""
    #expect(reasons.first?.contains(":\(port)") == true, "\(reasons)")
  }

  @Test("no endpoint reachable: every endpoint and its reason, as unavailable")
  func noneReachable() async throws {
    let a = "http://127.0.0.1:\(try freeLoopbackPort())"
    let b = "http://127.0.0.1:\(try freeLoopbackPort())"
    let error = try await #require(throws: SnapshotError.self) {
      try await connector([a, b]).withHealthyMember { _ in 0 }
    }
    #expect(error.code == .unavailable)
    #expect(error.message.contains("no endpoint is a healthy voting member"))
    for port in [a, b].map({ $0.split(separator: ":").last.map(String.init) ?? "" }) {
      #expect(error.message.contains(":\(port)"), "\(error.message)")
    }
  }

  @Test("TLS with a client certificate and auth: the right password gets in, a wrong one is refused")
  func tlsAndAuth() async throws {
    let work = try TemporaryDirectory(prefix: "etcd-client")
    let tls = try TestCertificates(in: work.appending("pki"))
    var options = EtcdServer.Options()
    options.tls = tls
    let server = try await EtcdServer(.etcd35, options)
    defer { server.stop() }
    try server.ctl(["user", "add", "root:s3cret"])
    try server.ctl(["user", "grant-role", "root", "root"])
    try server.ctl(["auth", "enable"])
    func secured(_ password: String, ca: String = tls.ca) -> TestConnector {
      connector([server.clientURL]) {
        $0.caCertPath = ca
        $0.certPath = tls.clientCert
        $0.keyPath = tls.clientKey
        $0.user = "root"
        $0.password = password
      }
    }
    let url = try await secured("s3cret").withHealthyMember { member in member.url }
    #expect(url.hasPrefix("https://"))
    let wrongPassword = try await #require(throws: SnapshotError.self) { try await secured("Xyzzy-9q").withHealthyMember { _ in 0 } }
    #expect(wrongPassword.code == .permissionDenied, "\(wrongPassword.message)")
    #expect(!wrongPassword.message.contains("Xyzzy"), "the password is never printed: \(wrongPassword.message)")
    let wrongCA = try await #require(throws: SnapshotError.self) {
      try await secured("s3cret", ca: tls.otherCA).withHealthyMember { _ in 0 }
    }
    #expect(wrongCA.code == .tls, "\(wrongCA.code): \(wrongCA.message)")
    #expect(wrongCA.message.contains("not trusted"), "\(wrongCA.message)")
    withExtendedLifetime(work) {}
  }
}
