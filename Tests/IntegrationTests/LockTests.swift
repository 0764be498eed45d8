import EtcdTestSupport
import Foundation
import Testing

/// One save, prune or delete at a time per snapshot directory; what killed runs left is removed.
@Suite("the snapshot directory's lock", .serialized)
struct LockTests {
  /// Holds `DIR/.lock` with flock(2) from a separate process (python's fcntl.flock) until
  /// that process is killed.
  private func holdLock(_ dir: String) async throws -> RunningProcess {
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    let ready = dir + "/../held"
    // It holds the lock until it is killed: a test that failed to kill it waits, and fails.
    let script = "import fcntl,sys,time; f=open(sys.argv[1],'a'); fcntl.flock(f,fcntl.LOCK_EX); open(sys.argv[2],'w').close(); time.sleep(3600)"
    let holder = try TestProcess.start("/usr/bin/env", ["python3", "-c", script, dir + "/.lock", ready])
    let deadline = ContinuousClock.now + .seconds(30)
    while !FileManager.default.fileExists(atPath: ready) {
      try #require(ContinuousClock.now < deadline, "flock never took the lock")
      try await Task.sleep(for: .milliseconds(20))
    }
    return holder
  }

  /// etcd 3.5 and a snapshot directory holding one snapshot saved from it.
  private struct Saved {
    let server: EtcdServer
    let work: TemporaryDirectory
    var dir: String { work.appending("snaps") }
  }

  private func savedOnce(prefix: String) async throws -> Saved {
    let saved = Saved(server: try await EtcdServer(.etcd35), work: try TemporaryDirectory(prefix: prefix))
    let first = try Tool.save(saved.server, dir: saved.dir)
    try #require(first.status == 0, "\(first)")
    return saved
  }

  @Test("save, prune and delete refuse at once while another run holds the directory, and leave nothing")
  func refusesWhileHeld() async throws {
    let saved = try await savedOnce(prefix: "lock")
    let (server, dir) = (saved.server, saved.dir)
    let before = try directoryState(dir)
    let holder = try await holdLock(dir)
    defer { holder.signal(SIGKILL) }
    let save = try Tool.save(server, dir: dir)
    #expect(save.status == 75, "\(save)")
    #expect(save.stderr.contains("snapshot save already in progress") && save.stderr.contains("--wait-lock"), "\(save.stderr)")
    let prune = try Tool.run(["prune", "--dir", dir, "--snapshot-retention", "1"])
    #expect(prune.status == 75, "\(prune)")
    let name = try #require(try Tool.list(dir).first?.name)
    let delete = try Tool.run(["delete", "--dir", dir, name])
    #expect(delete.status == 75, "\(delete)")
    #expect(try directoryState(dir) == before, "nothing was written or deleted")
  }

  @Test("--wait-lock waits for the holder, then saves")
  func waitsForTheLock() async throws {
    let server = try await EtcdServer(.etcd35)
    let work = try TemporaryDirectory(prefix: "lock-wait")
    let dir = work.appending("snaps")
    let holder = try await holdLock(dir)
    // The bound is far beyond what the steps below take on a loaded machine (a run where
    // they took more than a minute failed with 60s): the save must outwait the holder.
    let save = try TestProcess.start(
      Tool.path, ["save"] + server.connectionArguments + ["--dir", dir, "--node-name", "n1", "--wait-lock", "10m"],
      environment: EtcdServer.cleanEnvironment)
    try await Task.sleep(for: .milliseconds(1500))
    #expect(try Tool.list(dir).isEmpty, "the save waits while the lock is held")
    #expect(save.isRunning, "the save is still waiting: \(save.stderrSoFar)")
    holder.signal(SIGKILL)
    #expect(try holder.wait(timeout: .seconds(30)).status == 128 + SIGKILL, "the holder was killed")
    let r = try save.wait(timeout: .seconds(660))
    #expect(r.status == 0, "\(r)")
    #expect(try Tool.list(dir).count == 1)
  }

  @Test("debris of killed runs is removed by the next run: .part files, and download folders whose process is gone")
  func removesDebris() async throws {
    let saved = try await savedOnce(prefix: "debris")
    let dir = saved.dir
    // A process that has ended, and one that is alive (this test).
    let gone = try TestProcess.start("/bin/true", [])
    _ = try gone.wait()
    let deadDownload = dir + "/.download-\(gone.pid)-1"
    let liveDownload = dir + "/.download-\(getpid())-2"
    for folder in [deadDownload, liveDownload] {
      try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
      FileManager.default.createFile(atPath: folder + "/secret-copy", contents: Data("plaintext".utf8))
    }
    FileManager.default.createFile(atPath: dir + "/on-demand-n1-1700000000.part", contents: Data("half".utf8))
    FileManager.default.createFile(atPath: dir + "/.metadata/on-demand-n1-1700000000.part", contents: Data("{".utf8))
    let r = try Tool.run(["prune", "--dir", dir, "--snapshot-retention", "5"])
    #expect(r.status == 0, "\(r)")
    let left = try directoryState(dir).keys
    #expect(!left.contains { $0.hasSuffix(".part") }, "\(left)")
    #expect(!FileManager.default.fileExists(atPath: deadDownload), "the dead run's download is removed")
    #expect(FileManager.default.fileExists(atPath: liveDownload), "a running process's download stays")
    #expect(try Tool.list(dir).count == 1, "the snapshot itself stays")
  }
}
