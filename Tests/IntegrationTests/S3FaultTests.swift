import EtcdTestSupport
import Foundation
import Testing

/// `save --s3` through a fault-injecting proxy in front of moto: transient faults are retried
/// from the file; lasting ones fail cleanly with the upload aborted.
@Suite("S3 faults during save --s3", .serialized)
struct S3FaultTests {
  /// etcd with ~20 MB (three parts), moto, and the proxy in front of moto.
  struct Setup {
    let server: EtcdServer
    let s3: S3Fixture
    let proxy: S3TestProxy

    init() async throws {
      server = try await EtcdServer(.etcd35)
      try S3Fixture.fill(server, megabytes: 20)
      s3 = try await S3Fixture()
      proxy = try await S3TestProxy(upstream: s3.moto.endpoint)
    }

    func save(timeout: String = "60s") throws -> ProcessResult {
      try s3.save(server, s3: s3.arguments(endpoint: proxy.endpoint, extra: ["--s3-timeout", timeout]))
    }

    /// The object is complete and equal to the local file.
    func expectUploaded(_ r: ProcessResult) throws {
      try #require(r.status == 0, "\(r)")
      let name = try S3Fixture.name(from: r)
      let key = s3.folder + name
      let copy = s3.work.appending("copy-\(name)")
      _ = try s3.moto.oracle(bucket: s3.bucket, ["get", key, copy])
      #expect(try sha256Hex(ofFile: copy) == (try sha256Hex(ofFile: s3.dir + "/" + name)))
      #expect(try s3.openUploads().isEmpty)
    }

    /// Nothing visible in the bucket, no open upload, the local snapshot kept and marked.
    func expectRolledBack(_ r: ProcessResult) throws {
      #expect(r.status != 0, "\(r)")
      #expect(r.stderr.contains("saved and verified at"), "\(r.stderr)")
      #expect(try s3.objects().isEmpty, "no object is visible")
      #expect(try s3.openUploads().isEmpty, "the multipart upload was aborted")
      let local = try Tool.list(s3.dir)
      #expect(local.count == 1 && local[0].verified, "the local snapshot stays")
    }
  }

  @Test("503 SlowDown on a part, twice: retried from the file, the upload completes")
  func slowDownRetried() async throws {
    let t = try await Setup()
    try t.proxy.setFaults(#"[{"method":"PUT","query_contains":"partNumber=2","action":"status","status":503,"code":"SlowDown","times":2}]"#)
    let r = try t.save()
    try t.expectUploaded(r)
    let faults = try t.proxy.stats().requests.filter { $0.fault != nil }
    #expect(faults.count == 2, "both faults were hit: \(faults)")
  }

  @Test("500 on CompleteMultipartUpload and a connection reset mid-part: retried, complete")
  func serverErrorAndResetRetried() async throws {
    let t = try await Setup()
    try t.proxy.setFaults(
      #"[{"method":"POST","query_contains":"uploadId","action":"status","status":500,"code":"InternalError","times":1},"#
        + #"{"method":"PUT","query_contains":"partNumber=1","action":"reset","after_bytes":100000,"times":1}]"#)
    let r = try t.save()
    try t.expectUploaded(r)
    let faults = try t.proxy.stats().requests.compactMap(\.fault)
    #expect(faults.contains("status") && faults.contains("reset"), "\(faults)")
  }

  @Test("a part that keeps failing: the save fails after --s3-timeout, upload aborted, local kept")
  func lastingFailureAborts() async throws {
    let t = try await Setup()
    try t.proxy.setFaults(#"[{"method":"PUT","query_contains":"partNumber=2","action":"status","status":500,"code":"InternalError"}]"#)
    let r = try t.save(timeout: "3s")
    try t.expectRolledBack(r)
    #expect(r.status == 69, "\(r)")
    #expect(r.stderr.contains("InternalError") && r.stderr.contains("--s3-timeout"), "\(r.stderr)")
    #expect(
      try t.proxy.stats().requests.contains { $0.method == "DELETE" && ($0.query ?? "").contains("uploadId=") }, "AbortMultipartUpload was sent")
  }

  @Test("a stalled part past --s3-timeout: the save fails cleanly, upload aborted")
  func stalledPartAborts() async throws {
    let t = try await Setup()
    try t.proxy.setFaults(#"[{"method":"PUT","query_contains":"partNumber=1","action":"stall","seconds":60}]"#)
    let r = try t.save(timeout: "3s")
    try t.expectRolledBack(r)
    #expect(r.stderr.contains("timed out"), "\(r.stderr)")
  }

  @Test("SIGTERM while a part is in flight: exit 130, upload aborted, no object; the finished local snapshot stays")
  func stoppedDuringUpload() async throws {
    let t = try await Setup()
    try t.proxy.setFaults(#"[{"method":"PUT","query_contains":"partNumber=2","action":"stall","seconds":120}]"#)
    var env = EtcdServer.cleanEnvironment
    for (k, v) in t.s3.environment { env[k] = v }
    let save = try TestProcess.start(
      Tool.path,
      ["save"] + t.server.connectionArguments + ["--dir", t.s3.dir, "--node-name", "node1"] + t.s3.arguments(endpoint: t.proxy.endpoint),
      environment: env)
    let deadline = ContinuousClock.now + .seconds(60)
    while try !t.proxy.stats().requests.contains(where: { $0.fault == "stall" }) {
      try #require(ContinuousClock.now < deadline, "the stalled part never arrived")
      try await Task.sleep(for: .milliseconds(50))
    }
    save.signal(SIGTERM)
    let r = try save.wait(timeout: .seconds(60))
    #expect(r.status == 130, "\(r)")
    #expect(try t.s3.objects().isEmpty, "no object is visible")
    #expect(try t.s3.openUploads().isEmpty, "the multipart upload was aborted")
    #expect(try directoryState(t.s3.dir).keys.allSatisfy { !$0.hasSuffix(".part") })
  }
}
