import EtcdTestSupport
import Foundation
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// `agent --coordinate`: three agents, one per member of a three-member etcd, share the ticks.
@Suite("agent --coordinate: one snapshot per tick on a three-member etcd", .serialized)
struct AgentCoordinationTests {
  /// A three-member cluster started together (a member waits for a quorum before it serves).
  private func cluster(_ work: TemporaryDirectory) async throws -> [EtcdServer] {
    var ports: [Int] = []
    while ports.count < 3 {
      let p = try freeLoopbackPort()
      if !ports.contains(p) { ports.append(p) }
    }
    let names = ["m1", "m2", "m3"]
    let initial = zip(names, ports).map { "\($0)=http://127.0.0.1:\($1)" }.joined(separator: ",")
    return try await withThrowingTaskGroup(of: (Int, EtcdServer).self) { group in
      for i in 0..<3 {
        var o = EtcdServer.Options()
        o.name = names[i]
        o.peerPort = ports[i]
        o.initialCluster = initial
        group.addTask { (i, try await EtcdServer(.etcd35, o)) }
      }
      var started: [(Int, EtcdServer)] = []
      for try await s in group { started.append(s) }
      return started.sorted { $0.0 < $1.0 }.map(\.1)
    }
  }

  /// The agent of member `i`: its own endpoint, node name and directory.
  private func agent(
    _ servers: [EtcdServer], _ i: Int, work: TemporaryDirectory, schedule: String, extra: [String] = [], environment: [String: String] = [:]
  ) async throws -> AgentProcess {
    try await AgentProcess(
      [
        "--endpoints", servers[i].clientURL, "--dir", work.appending("node\(i + 1)"), "--node-name", "node\(i + 1)",
        "--etcd-snapshot-schedule-cron", schedule, "--coordinate", "--coordinate-lease-ttl", "2s",
      ] + extra,
      environment: environment)
  }

  /// Snapshot Unix times per node, from the file names in each node's directory.
  private func snapshots(_ work: TemporaryDirectory) throws -> [(node: String, time: Int64)] {
    var out: [(String, Int64)] = []
    for i in 1...3 {
      let dir = work.appending("node\(i)")
      let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
      for name in names where name.hasPrefix("etcd-snapshot-node\(i)-") && !name.hasSuffix(".part") {
        if let t = Int64(name.split(separator: "-").last ?? "") { out.append(("node\(i)", t)) }
      }
    }
    return out
  }

  /// The leader's index among `servers`.
  private func leader(_ servers: [EtcdServer]) throws -> Int {
    let statuses = try servers.map { try $0.endpointStatus() }
    let id = try #require(statuses.first?.leader)
    return try #require(statuses.firstIndex { $0.memberID == id })
  }

  @Test("for two minutes at @every 12s: exactly one snapshot per tick cluster-wide, and followers take them rather than the leader")
  func onePerTick() async throws {
    // The followers' agents claim at the tick; the leader's waits the jitter bound (a fifth of
    // the period) and a quarter of the period (at most 3 s) before it claims: at 12 s that
    // leaves 5.4 s for a follower's claim (a connection, a lease, a transaction) on a loaded
    // machine.
    let period: Int64 = 12
    let work = try TemporaryDirectory(prefix: "coord")
    let servers = try await cluster(work)
    let leaderIndex = try leader(servers)
    var agents: [AgentProcess] = []
    for i in 0..<3 {
      agents.append(try await agent(servers, i, work: work, schedule: "@every \(period)s", extra: ["--etcd-snapshot-retention", "0"]))
    }
    // An observation window, not a timing assertion: what happens in it is checked below.
    try await Task.sleep(for: .seconds(10 * period))
    for a in agents { #expect(try a.stop().status == 0) }
    #expect(try leader(servers) == leaderIndex, "the leader stayed the same during the test")
    let taken = try snapshots(work)
    var perTick: [Int64: [String]] = [:]
    for s in taken { perTick[s.time / period * period, default: []].append(s.node) }
    let doubled = perTick.filter { $0.value.count > 1 }
    #expect(doubled.isEmpty, "one snapshot per tick: \(doubled)")
    let ticks = perTick.keys.sorted()
    #expect(ticks.count >= 7, "two minutes give about 10 ticks: \(ticks)")
    // Every tick between the first and the last was taken by someone.
    if let first = ticks.first, let last = ticks.last {
      let missing = stride(from: first, through: last, by: Int64.Stride(period)).filter { perTick[$0] == nil }
      #expect(missing.isEmpty, "no tick missed: \(missing)")
    }
    let byLeader = taken.filter { $0.node == "node\(leaderIndex + 1)" }.count
    #expect(byLeader * 5 <= taken.count, "the leader's agent leaves the ticks to the followers' (\(byLeader) of \(taken.count))")
  }

  @Test("SIGKILL of the agent holding a tick mid-snapshot: another takes the tick over; restarted, the killed one leaves no .part and no open upload")
  func takeover() async throws {
    let work = try TemporaryDirectory(prefix: "coord")
    let servers = try await cluster(work)
    try S3Fixture.fill(servers[0], megabytes: 24)  // several 8 MiB parts
    let s3 = try await S3Fixture(folder: "coord/")
    // The first part of the first upload is held by the proxy, so that the agent that holds
    // the first tick is mid-snapshot (its multipart upload open) for as long as the test
    // needs, however loaded the machine. The part after it goes through.
    let proxy = try await S3TestProxy(upstream: s3.moto.endpoint)
    try proxy.setFaults(#"[{"method":"PUT","query_contains":"partNumber=1","action":"stall","seconds":600,"times":1}]"#)
    var agents: [AgentProcess?] = []
    // A long period: the holder must be killed before the next tick, when the others give
    // the held tick up (the next one is theirs).
    // 60 s was not enough: a loaded run took more than a minute from the stall to the kill.
    let period: Int64 = 180
    let schedule = "@every \(period)s"
    // The read bound (60 s by default; 280 s here, under the 300 s request bound) must
    // outlast the test's look at the stall: a loaded run saw the part time out and be retried
    // past the one-time stall before the kill.
    let s3Arguments = s3.arguments(endpoint: proxy.endpoint, extra: ["--s3-read-timeout", "280s"])
    for i in 0..<3 {
      agents.append(try await agent(servers, i, work: work, schedule: schedule, extra: s3Arguments, environment: s3.environment))
    }
    struct Claim: Decodable {
      var node: String
      var state: String
      var tick: String
    }
    struct Listing: Decodable {
      var kvs: [KV]?
      struct KV: Decodable {
        var key: String
        var value: String
      }
    }
    func claims() throws -> [(key: String, claim: Claim)] {
      let out = try servers[0].ctl(["get", "--prefix", "/etcd-snapshot/coordination/", "-w", "json"])
      let listing = try JSONDecoder().decode(Listing.self, from: Data(out.utf8))
      return (listing.kvs ?? []).compactMap { kv in
        guard let k = Data(base64Encoded: kv.key), let v = Data(base64Encoded: kv.value),
          let claim = try? JSONDecoder().decode(Claim.self, from: v)
        else { return nil }
        return (String(decoding: k, as: UTF8.self), claim)
      }
    }
    // Wait for the held part: the tick's holder is then mid-upload.
    let deadline = ContinuousClock.now + .seconds(360)
    var stalledPath: String?
    while stalledPath == nil {
      stalledPath = try proxy.stats().requests.first(where: { $0.fault == "stall" }).map { $0.path ?? "" }
      if stalledPath == nil {
        guard ContinuousClock.now < deadline else { throw HarnessError("no upload part reached the proxy within 360 s") }
        try await Task.sleep(for: .milliseconds(100))
      }
    }
    // The stalled part's object is etcd-snapshot-NODE-TIME: that node holds the tick.
    let stalledName = String(try #require(stalledPath).split(separator: "/").last ?? "")
    let stalledNode = try #require(stalledName.hasPrefix("etcd-snapshot-") ? stalledName.dropFirst(14).split(separator: "-").first : nil)
    let current = try claims()
    let running = current.filter { $0.claim.state == "running" && $0.claim.node == stalledNode }
    try #require(running.count == 1, "the stalled part's node (\(stalledNode)) holds one tick: \(current)")
    let held = running[0]
    let victim = try #require(Int(held.claim.node.dropFirst(4))) - 1
    let killedAgent = try #require(agents[victim])
    let victimKeys = "coord/etcd-snapshot-node\(victim + 1)-"
    #expect(try s3.openUploads().contains { $0.hasPrefix(victimKeys) }, "the holder's upload is open")
    killedAgent.process.signal(SIGKILL)
    _ = try killedAgent.process.wait(timeout: .seconds(30))
    agents[victim] = nil
    // Another agent takes the same tick over once the lease (2 s) has expired, and finishes it.
    let survivor = try #require(agents.compactMap { $0 }.first)
    // Finished: the claim marked done by another agent, or, once that mark has expired (two
    // periods), the object another agent uploaded for the tick.
    let tick = try #require(Int64(held.key.split(separator: "/").last ?? ""))
    func takenOver() throws -> Bool {
      if try claims().contains(where: { $0.key == held.key && $0.claim.state == "done" && $0.claim.node != held.claim.node }) {
        return true
      }
      return try s3.objects().contains { object in
        let name = String(object.key.dropFirst("coord/".count))
        guard !object.key.contains(".metadata/"), !name.hasPrefix("etcd-snapshot-\(held.claim.node)-"),
          let time = Int64(name.split(separator: "-").last ?? "")
        else { return false }
        return time >= tick && time < tick + period
      }
    }
    do {
      try await survivor.waitUntil("the tick taken over and finished", timeout: .seconds(300)) { try takenOver() }
    } catch {
      let all = agents.compactMap { $0?.log }.joined(separator: "\n---\n")
      Issue.record("\(error)\nheld: \(held)\nclaims now: \((try? claims()) ?? [])\nobjects: \((try? s3.objects().map(\.key)) ?? [])\nlogs:\n\(all)")
      throw error
    }
    // A survivor claimed the same tick: after watching the holder go away, or (the leader's
    // agent, which waits before it claims) after the dead holder's lease had already expired.
    let logs = agents.compactMap { $0?.log }.joined(separator: "\n")
    #expect(logs.contains("claimed the tick of \(held.claim.tick)"), "\(logs)")

    // Killed, it could not abort its upload; started again, it aborts it and removes any .part.
    let dir = work.appending("node\(victim + 1)")
    #expect(try s3.openUploads().contains { $0.hasPrefix(victimKeys) }, "killed: its upload is left open")
    let restarted = try await agent(servers, victim, work: work, schedule: schedule, extra: s3Arguments, environment: s3.environment)
    try await restarted.waitUntil("the killed agent's upload aborted") { try !s3.openUploads().contains { $0.hasPrefix(victimKeys) } }
    try await restarted.waitUntil("the killed agent says so") { restarted.log.contains("aborted the multipart upload of") }
    #expect(!((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).contains { $0.hasSuffix(".part") }, "no .part left")
    for a in agents.compactMap({ $0 }) + [restarted] { #expect(try a.stop().status == 0) }
    let objects = try s3.objects().map(\.key).filter { !$0.contains(".metadata/") }
    #expect(objects.contains { $0.hasPrefix("coord/etcd-snapshot-") }, "the taken-over tick was uploaded: \(objects)")
    #expect(try s3.openUploads().isEmpty, "no upload left open when all have stopped")
  }
}
