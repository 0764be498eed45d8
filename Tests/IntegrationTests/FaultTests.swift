import EtcdTestSupport
import Foundation
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// Every failure of `save`: a message naming cause and fix, a non-zero exit, no `.part`,
/// nothing new listed, older snapshots untouched.
@Suite("save failures leave nothing behind", .serialized)
struct FaultTests {
  /// A snapshot directory that already holds one good snapshot.
  struct Prepared {
    let work: TemporaryDirectory
    let dir: String
    let before: [String: String]
    let listed: [Listed]
  }

  func prepare(_ server: EtcdServer, dir: String? = nil) throws -> Prepared {
    let work = try TemporaryDirectory(prefix: "fault")
    let dir = dir ?? work.appending("snaps")
    let r = try Tool.save(server, dir: dir, extra: ["--name", "older"])
    try #require(r.status == 0, "the older snapshot: \(r)")
    return Prepared(work: work, dir: dir, before: try directoryState(dir), listed: try Tool.list(dir))
  }

  /// The promises every failure keeps.
  func expectCleanFailure(
    _ r: ProcessResult, _ p: Prepared, status: Int32, mentions: [String], sourceLocation: SourceLocation = #_sourceLocation
  ) throws {
    #expect(r.status == status, "exit status: \(r)", sourceLocation: sourceLocation)
    for text in mentions {
      #expect(r.stderr.contains(text), "stderr should mention \(text): \(r.stderr)", sourceLocation: sourceLocation)
    }
    #expect(r.stdout.isEmpty, "nothing on stdout for a failure: \(r.stdout)", sourceLocation: sourceLocation)
    #expect(try directoryState(p.dir) == p.before, "the directory changed (a .part or a new file was left)", sourceLocation: sourceLocation)
    #expect(try Tool.list(p.dir) == p.listed, "the listing changed", sourceLocation: sourceLocation)
  }

  @Test("unreachable endpoint: connection refused")
  func connectionRefused() async throws {
    let server = try await EtcdServer(.etcd35)
    let p = try prepare(server)
    let port = try freeLoopbackPort()
    let r = try Tool.run(
      ["save", "--endpoints", "http://127.0.0.1:\(port)", "--dial-timeout", "1s", "--dir", p.dir], timeout: .seconds(30))
    try expectCleanFailure(r, p, status: 69, mentions: ["127.0.0.1:\(port)", "connection refused", "Is etcd running"])
  }

  @Test("an endpoint that accepts but never answers fails within the dial timeout")
  func silentEndpoint() async throws {
    let server = try await EtcdServer(.etcd35)
    let p = try prepare(server)
    let listener = try SilentListener()
    let r = try Tool.run(
      ["save", "--endpoints", "127.0.0.1:\(listener.port)", "--dial-timeout", "1s", "--dir", p.dir], timeout: .seconds(30))
    try expectCleanFailure(r, p, status: 69, mentions: ["did not answer within 1s", "--dial-timeout"])
  }

  /// A save that is mid-stream: the proxy has passed 300 kB of the snapshot and holds the rest.
  struct StalledSave {
    let server: EtcdServer
    let prepared: Prepared
    let proxy: FaultProxy
    let save: RunningProcess
  }

  func startStalledSave() async throws -> StalledSave {
    let server = try await EtcdServer(.etcd35)
    try server.putKeys(prefix: "/registry/configmaps/", count: 4000)
    let p = try prepare(server)
    let proxy = try await FaultProxy(upstream: "127.0.0.1:\(server.clientPort)", faults: ["--stall-after", "300000"])
    let save = try TestProcess.start(
      Tool.path, ["save", "--endpoints", proxy.endpoint, "--dir", p.dir, "--node-name", "node1"],
      environment: EtcdServer.cleanEnvironment)
    try await proxy.waitUntilStalled()
    let parts = try FileManager.default.contentsOfDirectory(atPath: p.dir).filter { $0.hasSuffix(".part") }
    #expect(parts.count == 1, "mid-stream, the snapshot is being written to a .part file: \(parts)")
    return StalledSave(server: server, prepared: p, proxy: proxy, save: save)
  }

  @Test("etcd killed in the middle of the stream")
  func etcdKilledMidStream() async throws {
    let stalled = try await startStalledSave()
    stalled.server.kill()
    let r = try stalled.save.wait(timeout: .seconds(60))
    try expectCleanFailure(r, stalled.prepared, status: 69, mentions: ["broke off", "nothing was saved"])
  }

  @Test("SIGTERM or SIGINT in the middle of the stream removes the .part", arguments: [SIGTERM, SIGINT])
  func stoppedMidStream(signal: Int32) async throws {
    let stalled = try await startStalledSave()
    stalled.save.signal(signal)
    let r = try stalled.save.wait(timeout: .seconds(30))
    try expectCleanFailure(r, stalled.prepared, status: 130, mentions: ["stopped", "nothing was saved"])
  }

  @Test("a stream whose data does not match etcd's SHA-256 trailer")
  func trailerMismatch() async throws {
    let server = try await EtcdServer(.etcd35)
    try server.putKeys(prefix: "/registry/configmaps/", count: 4000)
    let p = try prepare(server)
    let proxy = try await FaultProxy(upstream: "127.0.0.1:\(server.clientPort)", faults: ["--corrupt-data-after", "200000"])
    let r = try Tool.run(["save", "--endpoints", proxy.endpoint, "--dir", p.dir, "--node-name", "node1"])
    try expectCleanFailure(r, p, status: 65, mentions: ["SHA-256 mismatch", "corrupted in transit", "nothing was saved"])
  }

  @Test("a full disk")
  func fullDisk() async throws {
    let server = try await EtcdServer(.etcd35)
    let mount = try TmpfsMount(options: "size=512k,mode=0755")
    let p = try prepare(server, dir: mount.path + "/snaps")
    for i in 0..<10 { try server.ctl(["put", "/registry/big\(i)", String(repeating: "x", count: 100_000)]) }
    let r = try Tool.save(server, dir: p.dir)
    try expectCleanFailure(r, p, status: 73, mentions: ["no space left", "free space on that file system or choose another --dir"])
  }

  @Test("a read-only snapshot directory")
  func readOnlyDirectory() async throws {
    let server = try await EtcdServer(.etcd35)
    let mount = try TmpfsMount(options: "size=1024k,mode=0755")
    let p = try prepare(server, dir: mount.path + "/snaps")
    try mount.remount(readOnly: true)
    let r = try Tool.save(server, dir: p.dir)
    try expectCleanFailure(r, p, status: 73, mentions: ["read-only file system", "choose a writable --dir"])
  }

  @Test("a snapshot directory that is a file")
  func directoryIsAFile() async throws {
    let server = try await EtcdServer(.etcd35)
    let p = try prepare(server)
    let file = p.work.appending("plain-file")
    FileManager.default.createFile(atPath: file, contents: Data("x".utf8))
    let r = try Tool.save(server, dir: file + "/snaps")
    #expect(r.status == 73, "\(r)")
    #expect(r.stderr.contains("is a file, not a directory") || r.stderr.contains("is not a directory"), "\(r)")
    #expect(try String(contentsOfFile: file, encoding: .utf8) == "x")
    #expect(try directoryState(p.dir) == p.before)
  }

  @Test(
    "bad flag values are refused before anything is contacted or written",
    arguments: [
      (["--dial-timeout", "soon"], "--dial-timeout `soon` is not a duration"),
      (["--command-timeout", "5"], "--command-timeout `5` is not a duration"),
      (["--endpoints", "ftp://127.0.0.1:2379"], "scheme `ftp` is not supported"),
      (["--endpoints", "127.0.0.1:99999"], "port `99999` is not a number from 1 to 65535"),
      (["--name", "a/b"], "--name `a/b` must not contain `/`"),
      (["--node-name", "my node"], "--node-name `my node` must not contain spaces"),
      (["--cert", "/nonexistent/c.pem"], "--cert and --key go together"),
      (["--user", "root"], "needs a password"),
    ])
  func badFlagValues(flags: [String], message: String) async throws {
    let server = try await EtcdServer(.etcd35)
    let p = try prepare(server)
    let r = try Tool.run(["save", "--endpoints", server.clientURL, "--dir", p.dir] + flags)
    try expectCleanFailure(r, p, status: 64, mentions: [message])
  }

  @Test("several bad values are all reported at once")
  func everyProblemAtOnce() async throws {
    let work = try TemporaryDirectory(prefix: "flags")
    let r = try Tool.run([
      "save", "--endpoints", "ftp://x", "--dial-timeout", "0s", "--cert", "c.pem", "--name", "", "--dir", work.appending("s"),
    ])
    #expect(r.status == 64)
    for text in ["scheme `ftp`", "--dial-timeout must be more than 0", "--cert and --key go together", "--name is empty"] {
      #expect(r.stderr.contains(text), "\(text) missing from \(r.stderr)")
    }
    #expect(!FileManager.default.fileExists(atPath: work.appending("s")), "nothing was created")
  }
}

/// A TCP listener that accepts connections (the kernel does) but never says a word.
final class SilentListener: Sendable {
  let fd: Int32
  let port: Int

  init() throws {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw HarnessError("socket failed") }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let ok = withUnsafeMutablePointer(to: &address) { pointer in
      pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
        bind(fd, sa, length) == 0 && listen(fd, 16) == 0 && getsockname(fd, sa, &length) == 0
      }
    }
    guard ok else {
      close(fd)
      throw HarnessError("bind/listen failed")
    }
    self.fd = fd
    port = Int(UInt16(bigEndian: address.sin_port))
  }

  deinit { close(fd) }
}
