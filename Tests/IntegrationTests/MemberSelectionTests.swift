import EtcdTestSupport
import Foundation
import Testing

/// Which member `save` snapshots when given several endpoints.
@Suite("choosing the member to snapshot", .serialized)
struct MemberSelectionTests {
  @Test("a learner is refused; with more endpoints a voting member is used and named", arguments: EtcdRelease.allCases)
  func learnerIsSkipped(release: EtcdRelease) async throws {
    let voter = try await EtcdServer(release)
    try voter.putKeys(prefix: "k", count: 50)
    let learnerPeer = try freeLoopbackPort()
    try voter.ctl(["member", "add", "m2", "--learner", "--peer-urls", "http://127.0.0.1:\(learnerPeer)"])
    var options = EtcdServer.Options()
    options.name = "m2"
    options.peerPort = learnerPeer
    options.initialCluster = "m1=\(voter.peerURL),m2=http://127.0.0.1:\(learnerPeer)"
    options.clusterState = "existing"
    let learner = try await EtcdServer(release, options)
    try #require(try learner.endpointStatus().isLearner)

    let work = try TemporaryDirectory(prefix: "learner")
    let dir = work.appending("snaps")
    let refused = try Tool.run(["save", "--endpoints", learner.clientURL, "--dir", dir])
    #expect(refused.status == 69, "\(refused)")
    #expect(refused.stderr.contains("learner"), "\(refused)")
    #expect(refused.stderr.contains("snapshot a voting member instead"), "\(refused)")
    #expect(try Tool.list(dir).isEmpty)

    let unreachable = "http://127.0.0.1:\(try freeLoopbackPort())"
    let chosen = try Tool.run([
      "save", "--endpoints", "\(unreachable),\(learner.clientURL),\(voter.clientURL)", "--dir", dir, "--dial-timeout", "2s",
    ])
    #expect(chosen.status == 0, "\(chosen)")
    #expect(chosen.stderr.contains("skipped \(unreachable)"), "\(chosen.stderr)")
    #expect(chosen.stderr.contains("skipped \(learner.clientURL)"), "\(chosen.stderr)")
    #expect(chosen.stderr.contains("using \(voter.clientURL)"), "\(chosen.stderr)")
    let listed = try Tool.list(dir)
    #expect(listed.count == 1)
    let record = try JSONDecoder().decode(
      Record.self, from: Data(contentsOf: URL(fileURLWithPath: dir + "/.metadata/" + (listed.first?.name ?? ""))))
    #expect(record.memberID == String(try voter.endpointStatus().memberID, radix: 16))
  }

  @Test("on a terminal, save draws a progress line; the summary still goes to stdout")
  func progressOnATerminal() async throws {
    let server = try await EtcdServer(.etcd35)
    try server.putKeys(prefix: "/registry/events/", count: 2000)
    let work = try TemporaryDirectory(prefix: "tty")
    // `script` runs the tool on a pseudo-terminal, as an interactive user would.
    let command = "\(Tool.path) save --endpoints \(server.clientURL) --dir \(work.appending("snaps"))"
    let r = try TestProcess.run("/usr/bin/script", ["-qec", command, "/dev/null"], environment: EtcdServer.cleanEnvironment)
    #expect(r.status == 0, "\(r)")
    #expect(r.stdout.contains("\r"), "a progress line is redrawn with carriage returns")
    #expect(r.stdout.contains("sha256 verified"))
  }
}
