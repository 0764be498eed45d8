import EtcdTestSupport
import Foundation
import Testing

/// A server that sends the response head (and maybe some bytes) and then nothing: every S3
/// request ends within its bounds, and a stalled download resumes where it was.
@Suite("S3 responses that stall after their head", .serialized)
struct S3StallTests {
  /// etcd 3.5 with ~3 MB, one snapshot saved to moto, and the proxy in front of moto.
  struct Setup {
    let server: EtcdServer
    let s3: S3Fixture
    let proxy: S3TestProxy
    let name: String

    init() async throws {
      server = try await EtcdServer(.etcd35)
      try S3Fixture.fill(server, megabytes: 3)
      s3 = try await S3Fixture()
      proxy = try await S3TestProxy(upstream: s3.moto.endpoint)
      let saved = try s3.save(server)
      try #require(saved.status == 0, "\(saved)")
      name = try S3Fixture.name(from: saved)
    }

    /// The tool with `--s3` through the proxy and the given timeouts.
    func run(_ arguments: [String], timeout: String, readTimeout: String? = nil) throws -> ProcessResult {
      var extra = ["--s3-timeout", timeout]
      if let readTimeout { extra += ["--s3-read-timeout", readTimeout] }
      return try Tool.run(
        arguments + ["--dir", s3.dir] + s3.arguments(endpoint: proxy.endpoint, extra: extra), environment: s3.environment,
        timeout: .seconds(120))
    }

    /// No download folder or partial file is left in the snapshot directory.
    func expectNoDebris() throws {
      let left = try directoryState(s3.dir).keys.filter { $0.contains(".download") || $0.hasSuffix(".part") }
      #expect(left.isEmpty, "left behind: \(left)")
    }
  }

  @Test("ls --s3: a listing page whose body never comes fails with --s3-timeout, not a hang")
  func stalledListing() async throws {
    let t = try await Setup()
    try t.proxy.setFaults(#"[{"method":"GET","query_contains":"list-type=2","action":"stall_body","seconds":600}]"#)
    let r = try t.run(["ls"], timeout: "4s")
    #expect(r.status == 69, "\(r)")
    #expect(r.stderr.contains("ListObjectsV2") && r.stderr.contains("timed out"), "\(r.stderr)")
    #expect(try t.proxy.stats().requests.contains { $0.fault == "stall_body" }, "the stall was hit")
  }

  @Test("ls --s3: a sidecar whose body stops after some bytes fails within the bounds")
  func stalledSidecar() async throws {
    let t = try await Setup()
    try t.proxy.setFaults(#"[{"method":"GET","path_regex":"/\\.metadata/","action":"stall_body","after_bytes":10,"seconds":600}]"#)
    let r = try t.run(["ls", "-o", "json"], timeout: "30s", readTimeout: "2s")
    #expect(r.status == 69, "\(r)")
    #expect(r.stderr.contains("--s3-read-timeout") || r.stderr.contains("--s3-timeout"), "\(r.stderr)")
  }

  @Test("verify NAME --s3: a download that stalls once resumes with Range and If-Match and verifies")
  func stalledDownloadResumes() async throws {
    let t = try await Setup()
    try t.proxy.setFaults(
      #"[{"method":"GET","path_regex":"/prod/on-demand-node1-[0-9]+$","action":"stall_body","after_bytes":1000000,"seconds":600,"times":1}]"#)
    let r = try t.run(["verify", t.name], timeout: "60s", readTimeout: "2s")
    #expect(r.status == 0 && r.stdout.contains("OK"), "\(r)")
    let gets = try t.proxy.stats().requests.filter { $0.method == "GET" && ($0.path ?? "").hasSuffix("/prod/" + t.name) }
    #expect(gets.count == 2, "one stalled GET, one resume: \(gets)")
    let resume = try #require(gets.last)
    #expect(resume.range == "bytes=1000000-", "\(resume)")
    #expect(resume.ifMatch?.hasPrefix("\"") == true, "the resume names the ETag: \(resume)")
    try t.expectNoDebris()
  }

  @Test("status NAME --s3: a download that keeps stalling fails within --s3-timeout and leaves no copy")
  func stalledDownloadFails() async throws {
    let t = try await Setup()
    try t.proxy.setFaults(
      #"[{"method":"GET","path_regex":"/prod/on-demand-node1-[0-9]+$","action":"stall_body","after_bytes":100000,"seconds":600}]"#)
    let r = try t.run(["status", t.name], timeout: "6s", readTimeout: "2s")
    #expect(r.status == 69, "\(r)")
    #expect(r.stderr.contains("GetObject") && r.stderr.contains("--s3-timeout"), "\(r.stderr)")
    try t.expectNoDebris()
  }

  /// After a save whose Complete went wrong on the way back: the object is there, whole,
  /// with its sidecar, and the save said so.
  func expectCompletedDespite(_ t: Setup, _ r: ProcessResult) throws {
    #expect(r.status == 0, "\(r)")
    #expect(r.stderr.contains("but the object is there"), "\(r.stderr)")
    let name = try S3Fixture.name(from: r)
    let keys = Set(try t.s3.objects().map(\.key))
    #expect(keys.contains(t.s3.folder + name) && keys.contains(t.s3.folder + ".metadata/" + name), "\(keys)")
    let copy = t.s3.work.appending("copy-\(name)")
    _ = try t.s3.moto.oracle(bucket: t.s3.bucket, ["get", t.s3.folder + name, copy])
    #expect(try sha256Hex(ofFile: copy) == (try sha256Hex(ofFile: t.s3.dir + "/" + name)))
    #expect(try t.s3.openUploads().isEmpty)
  }

  @Test("save --s3: CompleteMultipartUpload answered with 200 and then nothing: bounded, and the completed object is found and checked")
  func stalledComplete() async throws {
    let t = try await Setup()
    try t.proxy.setFaults(#"[{"method":"POST","query_contains":"uploadId","action":"stall_body","seconds":600}]"#)
    let r = try t.s3.save(t.server, node: "node2", s3: t.s3.arguments(endpoint: t.proxy.endpoint, extra: ["--s3-timeout", "5s"]))
    try expectCompletedDespite(t, r)
  }

  @Test("save --s3: a lost Complete answer, then NoSuchUpload on the retry (as MinIO answers): not a false rollback")
  func lostCompleteAnswer() async throws {
    let t = try await Setup()
    // moto answers a repeated Complete with 200, as AWS does; MinIO says NoSuchUpload.
    try t.proxy.setFaults(
      #"[{"method":"POST","query_contains":"uploadId","action":"lose_answer","status":500,"code":"InternalError","times":1},"#
        + #"{"method":"POST","query_contains":"uploadId","action":"status","status":404,"code":"NoSuchUpload","times":1}]"#)
    let r = try t.s3.save(t.server, node: "node2", s3: t.s3.arguments(endpoint: t.proxy.endpoint, extra: ["--s3-timeout", "30s"]))
    let completes = try t.proxy.stats().requests.filter { $0.method == "POST" && ($0.query ?? "").contains("uploadId=") }
    #expect(completes.map(\.httpStatus) == [500, 404], "the retry got NoSuchUpload: \(completes)")
    try expectCompletedDespite(t, r)
  }
}

/// SIGINT and SIGTERM stop every command that downloads, and nothing is left.
@Suite("signals while a command waits on S3", .serialized)
struct S3SignalTests {
  @Test(
    "SIGTERM or SIGINT during the download of status, verify or restore: exit 130, no download folder, no data dir",
    arguments: [("status", SIGTERM), ("verify", SIGINT), ("restore", SIGTERM)])
  func stoppedDuringDownload(command: String, signal: Int32) async throws {
    let t = try await S3StallTests.Setup()
    try t.proxy.setFaults(
      #"[{"method":"GET","path_regex":"/prod/on-demand-node1-[0-9]+$","action":"stall_body","after_bytes":100000,"seconds":600}]"#)
    let dataDir = t.s3.work.appending("restored")
    var args = [command, t.name, "--dir", t.s3.dir] + t.s3.arguments(endpoint: t.proxy.endpoint)
    if command == "restore" { args += ["--data-dir", dataDir] }
    var env = EtcdServer.cleanEnvironment
    for (k, v) in t.s3.environment { env[k] = v }
    let process = try TestProcess.start(Tool.path, args, environment: env)
    let deadline = ContinuousClock.now + .seconds(60)
    while try !t.proxy.stats().requests.contains(where: { $0.fault == "stall_body" && $0.httpStatus == nil }) {
      try #require(ContinuousClock.now < deadline, "the download never started")
      try await Task.sleep(for: .milliseconds(50))
    }
    // The stalled body has started arriving: a download folder exists now.
    try await Task.sleep(for: .milliseconds(300))
    process.signal(signal)
    let r = try process.wait(timeout: .seconds(60))
    #expect(r.status == 130, "\(r)")
    try t.expectNoDebris()
    #expect(!FileManager.default.fileExists(atPath: dataDir), "no data dir")
  }
}
