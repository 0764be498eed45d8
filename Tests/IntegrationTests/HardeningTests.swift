import EtcdTestSupport
import Foundation
import Testing

/// Inputs chosen by someone else (file names, names in the future, a password in a URL, a
/// file planted in the current directory) cannot steer or trick the tool.
@Suite("hardening: what others put in front of the tool")
struct HardeningTests {
  @Test("a password in --endpoints is refused without being printed")
  func passwordInEndpoint() throws {
    let work = try TemporaryDirectory(prefix: "cred")
    let r = try Tool.run(["save", "--endpoints", "http://root:s3cr3t-pw@127.0.0.1:2", "--dir", work.appending("s"), "--node-name", "n"])
    #expect(r.status == 64, "\(r)")
    #expect(!r.stderr.contains("s3cr3t-pw") && !r.stdout.contains("s3cr3t-pw"), "\(r)")
    #expect(r.stderr.contains("--password-file"), "\(r.stderr)")
  }

  @Test("ls escapes control characters in file names: nothing reaches the terminal raw")
  func escapesNames() async throws {
    let work = try TemporaryDirectory(prefix: "esc")
    let dir = work.appending("snaps")
    try await populateSnapshots(dir, names: ["evil\u{1B}[2J\u{1B}]0;owned\u{07}-n-1700000000", "fine-n-1700000060"])
    let r = try Tool.run(["ls", "--dir", dir])
    #expect(r.status == 0, "\(r)")
    #expect(!r.stdout.unicodeScalars.contains { $0.value < 0x20 && $0 != "\n" }, "\(r.stdout.debugDescription)")
    #expect(r.stdout.contains("evil\\u{1b}[2J\\u{1b}]0;owned\\u{7}-n-1700000000"), "\(r.stdout)")
    #expect(r.stdout.contains("fine-n-1700000060"))
  }

  @Test("a bare name is looked up in --dir only, never in the current directory")
  func bareNameNotFromCurrentDirectory() async throws {
    let work = try TemporaryDirectory(prefix: "bare")
    let planted = work.appending("cwd")
    let dir = work.appending("snaps")
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    try await populateSnapshots(planted, names: ["on-demand-n-1700000000"])
    let script = "cd '\(planted)' && exec '\(Tool.path)' status on-demand-n-1700000000 --dir '\(dir)'"
    let r = try TestProcess.run("/bin/sh", ["-c", script], environment: EtcdServer.cleanEnvironment)
    #expect(r.status == 66, "the planted ./on-demand-n-1700000000 is not used: \(r)")
    #expect(r.stderr.contains("no snapshot named") && r.stderr.contains("./on-demand-n-1700000000"), "\(r.stderr)")
    let explicit = "cd '\(planted)' && exec '\(Tool.path)' status ./on-demand-n-1700000000 --dir '\(dir)'"
    let ok = try TestProcess.run("/bin/sh", ["-c", explicit], environment: EtcdServer.cleanEnvironment)
    #expect(ok.status == 0, "a path with ./ is a file: \(ok)")
  }

  @Test("prune: names dated far in the future do not push the newest real snapshots out")
  func futureNamesDoNotSteerRetention() async throws {
    let work = try TemporaryDirectory(prefix: "future")
    let dir = work.appending("snaps")
    let now = Int(Date().timeIntervalSince1970)
    let real = (1...4).map { "on-demand-n1-\(now - $0 * 3600)" }
    let planted = (1...3).map { "on-demand-n1-\(now + 10 * 365 * 86400 + $0)" }
    try await populateSnapshots(dir, names: real + planted)
    let r = try Tool.run(["prune", "--dir", dir, "--snapshot-retention", "2"])
    #expect(r.status == 0, "\(r)")
    let left = Set(try Tool.list(dir).map(\.name))
    #expect(left == Set(real.prefix(2) + planted), "the two newest real ones stay; the planted ones are left for a human: \(left)")
    #expect(planted.allSatisfy { r.stderr.contains($0) && r.stderr.contains("in the future") }, "\(r.stderr)")
  }
}

@Suite("hardening: the snapshot directory must be the user's own")
struct DirectoryOwnershipTests {
  @Test("a snapshot directory writable by others, or owned by another user, is refused with the fix")
  func refusesForeignDirectories() async throws {
    let server = try await EtcdServer(.etcd35)
    let work = try TemporaryDirectory(prefix: "owner")
    let dir = work.appending("snaps")
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    chmod(dir, 0o777)
    let open = try Tool.save(server, dir: dir)
    #expect(open.status == 77, "\(open)")
    #expect(open.stderr.contains("chmod 700 \(dir)"), "\(open.stderr)")
    #expect(try directoryState(dir).isEmpty, "nothing was written")
    let status = try Tool.run(["status", "on-demand-node1-1700000000", "--dir", dir])
    #expect(status.status == 77, "a bare name is not looked up there either: \(status)")

    chmod(dir, 0o700)
    #expect(chown(dir, 65534, 65534) == 0)
    let foreign = try Tool.save(server, dir: dir)
    #expect(foreign.status == 77, "\(foreign)")
    #expect(foreign.stderr.contains("belongs to uid 65534") && foreign.stderr.contains("chown"), "\(foreign.stderr)")
    let prune = try Tool.run(["prune", "--dir", dir])
    #expect(prune.status == 77, "\(prune)")
    #expect(chown(dir, 0, 0) == 0)
    let mine = try Tool.save(server, dir: dir)
    #expect(mine.status == 0, "\(mine)")
  }
}
