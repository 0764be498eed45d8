import EtcdTestSupport
import Foundation
import Testing

/// What a restore or cluster-reset killed with SIGKILL leaves (`DIR.tmp-PID-X`,
/// `DIR/member.tmp-PID-X`, `DIR.reset-tmp-PID-X`) is removed by the next run on the same
/// data dir, and nothing of a run that is still alive is touched.
@Suite("leftovers of killed restores", .serialized)
struct RestoreLeftoverTests {
  /// A snapshot of etcd 3.5 holding 48 values of 1 MiB: big enough that a restore of it is
  /// still writing when the test sees its temporary directory appear.
  private static func bigSnapshot(in work: TemporaryDirectory) async throws -> String {
    let server = try await EtcdServer(.etcd35)
    var generator = SplitMix64(state: 8)
    // 1 MiB of random letters, given on stdin (an argument that long is refused by exec); bbolt does not compress.
    let base = String(decoding: (0..<(1 << 20)).map { _ in UInt8(97 + generator.next() % 26) }, as: UTF8.self)
    for i in 0..<48 {
      let r = try TestProcess.run(
        server.etcdctl, server.connectionArguments + ["put", "/registry/big/\(i)"], environment: EtcdServer.cleanEnvironment,
        stdin: "\(i)-" + base)
      try #require(r.status == 0, "\(r)")
    }
    let dir = work.appending("snaps")
    let saved = try Tool.save(server, dir: dir)
    try #require(saved.status == 0, "\(saved)")
    let name = try #require(try Tool.list(dir).first?.name)
    return dir + "/" + name
  }

  private static func restoreArguments(_ snapshot: String, into dataDir: String) -> [String] {
    [
      "restore", snapshot, "--data-dir", dataDir, "--name", "m1", "--initial-cluster", "m1=http://127.0.0.1:2380",
      "--initial-advertise-peer-urls", "http://127.0.0.1:2380",
    ]
  }

  /// Entries of `dir` whose names start with `prefix`.
  private static func entries(_ dir: String, prefix: String) -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.hasPrefix(prefix) }.sorted()
  }

  /// Starts a restore and SIGKILLs it as soon as its temporary directory appears (in `watch`,
  /// named `prefix…`); returns that directory's name. A restore that finishes first is removed
  /// and tried again.
  private static func killedRestore(_ snapshot: String, into dataDir: String, watch: String, prefix: String) throws -> String {
    for _ in 0..<5 {
      let restore = try TestProcess.start(Tool.path, restoreArguments(snapshot, into: dataDir), environment: EtcdServer.cleanEnvironment)
      var seen: [String] = []
      while restore.isRunning && seen.isEmpty {
        seen = entries(watch, prefix: prefix)
        if seen.isEmpty { usleep(500) }
      }
      restore.signal(SIGKILL)
      let r = try restore.wait(timeout: .seconds(60))
      if r.status == 128 + SIGKILL, let name = entries(watch, prefix: prefix).first { return name }
      // It ended before the kill: empty the target again and retry.
      try? FileManager.default.removeItem(atPath: watch == dataDir ? dataDir + "/member" : dataDir)
    }
    Issue.record("the restore always finished before it could be killed")
    throw HarnessError("no killed restore")
  }

  @Test("a restore killed with SIGKILL leaves DIR.tmp-PID-X; the next restore removes it, says so, and restores", arguments: [false, true])
  func killedThenRestored(existingEmptyTarget: Bool) async throws {
    let work = try TemporaryDirectory(prefix: "leftover-kill")
    let snapshot = try await Self.bigSnapshot(in: work)
    let dataDir = work.appending("data")
    if existingEmptyTarget { try FileManager.default.createDirectory(atPath: dataDir, withIntermediateDirectories: false) }
    let (watch, prefix) = existingEmptyTarget ? (dataDir, "member.tmp-") : (work.path, "data.tmp-")
    let leftover = try Self.killedRestore(snapshot, into: dataDir, watch: watch, prefix: prefix)
    #expect(!FileManager.default.fileExists(atPath: dataDir + "/member"), "nothing was published")

    let r = try Tool.run(Self.restoreArguments(snapshot, into: dataDir))
    #expect(r.status == 0, "\(r)")
    #expect(r.stderr.contains("removed \(watch)/\(leftover), left by a restore that was killed"), "\(r.stderr)")
    #expect(Self.entries(watch, prefix: prefix).isEmpty, "the leftover is gone")
    #expect(Self.entries(work.path, prefix: "data.").isEmpty)
    #expect(try FileManager.default.contentsOfDirectory(atPath: dataDir) == ["member"])
    let status = try SnapshotStatus.read(dataDir + "/member/snap/db", with: EtcdRelease.etcd35.binaries())
    #expect(status.totalKey > 48)
  }

  @Test(
    "a restore stopped with SIGTERM or SIGINT while it writes (off the cooperative pool) exits 130, publishes nothing, leaves no temporary",
    arguments: [SIGTERM, SIGINT])
  func stoppedWhileWriting(signal: Int32) async throws {
    let work = try TemporaryDirectory(prefix: "restore-stop")
    let snapshot = try await Self.bigSnapshot(in: work)
    let dataDir = work.appending("data")
    var stopped: ProcessResult?
    for _ in 0..<5 where stopped == nil {
      let restore = try TestProcess.start(Tool.path, Self.restoreArguments(snapshot, into: dataDir), environment: EtcdServer.cleanEnvironment)
      while restore.isRunning && Self.entries(work.path, prefix: "data.tmp-").isEmpty { usleep(500) }
      restore.signal(signal)
      let r = try restore.wait(timeout: .seconds(60))
      if r.status == 0 {
        // It finished before the signal: empty the target and try again.
        try FileManager.default.removeItem(atPath: dataDir)
        continue
      }
      stopped = r
    }
    let r = try #require(stopped, "the restore always finished before it could be stopped")
    #expect(r.status == 130, "\(r)")
    #expect(r.stderr.contains("nothing was restored"), "\(r.stderr)")
    #expect(!FileManager.default.fileExists(atPath: dataDir), "nothing was published")
    #expect(Self.entries(work.path, prefix: "data.").isEmpty, "no temporary is left: \(Self.entries(work.path, prefix: "data."))")
  }

  @Test("only temporaries of processes that are gone are removed; a live run's and foreign names stay; cluster-reset's too")
  func onlyDeadOwners() async throws {
    let work = try TemporaryDirectory(prefix: "leftover-owner")
    let server = try await EtcdServer(.etcd35)
    try server.putKeys(prefix: "/registry/k/", count: 20)
    let saved = try Tool.save(server, dir: work.appending("snaps"))
    try #require(saved.status == 0, "\(saved)")
    let snapshot = work.appending("snaps/") + (try #require(try Tool.list(work.appending("snaps")).first?.name))
    let gone = try TestProcess.start("/bin/true", [])
    _ = try gone.wait()
    let dead = gone.pid
    let live = getpid()
    let dataDir = work.appending("data")
    let planted = [
      "data.tmp-\(dead)-1a2b", "data.tmp-\(live)-3c4d", "data.tmp-notapid", "data.tmp-1a2b3c4d", "data.reset-tmp-\(dead)-5e",
      "data.reset-tmp-\(dead)-6f.tmp-\(dead)-70", "data.reset-tmp-\(live)-71",
    ]
    for name in planted {
      try FileManager.default.createDirectory(atPath: work.appending(name + "/member/snap"), withIntermediateDirectories: true)
    }

    let r = try Tool.run(Self.restoreArguments(snapshot, into: dataDir))
    #expect(r.status == 0, "\(r)")
    #expect(r.stderr.contains("removed \(work.appending("data.tmp-\(dead)-1a2b"))"), "\(r.stderr)")
    #expect(
      Self.entries(work.path, prefix: "data.").sorted()
        == planted.filter { $0 != "data.tmp-\(dead)-1a2b" }.sorted(),
      "only the dead process's restore temporary is removed")

    // cluster-reset of the restored (stopped) member removes dead resets' temporaries beside and inside it.
    try FileManager.default.createDirectory(atPath: dataDir + "/.reset-tmp-\(dead)-72", withIntermediateDirectories: false)
    let reset = try Tool.run(["cluster-reset", "--data-dir", dataDir])
    #expect(reset.status == 0, "\(reset)")
    #expect(reset.stderr.contains("left by a cluster-reset that was killed"), "\(reset.stderr)")
    #expect(
      Self.entries(work.path, prefix: "data.").sorted()
        == ["data.reset-tmp-\(live)-71", "data.tmp-1a2b3c4d", "data.tmp-\(live)-3c4d", "data.tmp-notapid"].sorted(),
      "the dead resets' temporaries are removed, the live one's stays")
    #expect(Self.entries(dataDir, prefix: ".reset-tmp-").isEmpty)
  }
}
