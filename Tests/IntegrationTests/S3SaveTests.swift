import EtcdTestSupport
import Foundation
import S3Protocol
import SnapshotCore
import Testing

/// S3's composite CRC-32C of a file uploaded in parts of `partSize`.
func compositeCRC32C(ofFile path: String, partSize: Int) throws -> String {
  let data = try Data(contentsOf: URL(fileURLWithPath: path))
  var crcs: [UInt32] = []
  var offset = 0
  while offset < data.count {
    let end = min(offset + partSize, data.count)
    crcs.append(CRC32C.checksum(data[offset..<end]))
    offset = end
  }
  return S3Checksum.composite(crcs)
}

/// `save --s3` against real etcd and moto (signatures checked), with the built executable.
@Suite("save --s3 against etcd and a signature-checking S3 server", .serialized)
struct S3SaveTests {
  @Test("save --s3 uploads while streaming: same bytes in the bucket, sidecar, metadata, local copy kept", arguments: EtcdRelease.allCases)
  func saveUploads(release: EtcdRelease) async throws {
    let server = try await EtcdServer(release)
    try S3Fixture.fill(server, megabytes: 20)  // several 8 MiB parts
    let s3 = try await S3Fixture(folder: "etcd/prod cluster/x:y+z/")
    let r = try s3.save(server)
    try #require(r.status == 0, "\(r)")
    let name = try S3Fixture.name(from: r)
    #expect(r.stdout.contains("uploaded s3://\(s3.bucket)/etcd/prod cluster/x:y+z/\(name)"), "\(r.stdout)")

    let local = s3.dir + "/" + name
    let localSHA = try sha256Hex(ofFile: local)
    let objects = try s3.objects()
    let key = "etcd/prod cluster/x:y+z/\(name)"
    let object = try #require(objects.first { $0.key == key }, "\(objects.map(\.key))")
    #expect(object.size == (try FileManager.default.attributesOfItem(atPath: local)[.size] as? Int))
    #expect(object.size > 16 * 1024 * 1024, "the snapshot spans several parts")
    // The store's composite CRC-32C is that of our 8 MiB parts of the local file.
    let stored = try #require(object.checksumCRC32C, "uploaded with CRC-32C part checksums")
    #expect(S3Checksum.matches(reported: stored, expected: try compositeCRC32C(ofFile: local, partSize: 8 * 1024 * 1024)))
    #expect(object.metadata["etcd-snapshot-node-name"] == "node1")
    #expect(object.tags["etcd-snapshot-sha256"] == localSHA, "SHA-256 and revision, known only at the end, are object tags")
    #expect(object.tags["etcd-snapshot-revision"] == String(try server.revision()))
    #expect(object.metadata["etcd-snapshot-cluster-id"] == String(try server.endpointStatus().clusterID, radix: 16))
    #expect(objects.contains { $0.key == "etcd/prod cluster/x:y+z/.metadata/\(name)" }, "the sidecar is written")
    #expect(try s3.openUploads().isEmpty)

    // The bytes in the bucket are the bytes on disk (downloaded by boto3, not by us).
    let copy = s3.work.appending("copy")
    _ = try s3.moto.oracle(bucket: s3.bucket, ["get", key, copy])
    #expect(try sha256Hex(ofFile: copy) == localSHA)

    // The local record says where the copy went; the sidecar is the same record.
    let record = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: s3.dir + "/.metadata/" + name))) as? [String: Any]
    #expect(record?["uploadedTo"] as? String == "s3://\(s3.bucket)/\(key)")
    #expect(record?["sha256"] as? String == localSHA)

    // ls --s3: both copies, one list, with their locations.
    let listed = try s3.list()
    #expect(listed.count == 2)
    #expect(Set(listed.map(\.location)) == ["local", "s3"])
    let remote = try #require(listed.first { $0.location == "s3" })
    #expect(remote.name == name && remote.sha256 == localSHA && remote.hasMetadata && remote.node == "node1")
    #expect(remote.url == "s3://\(s3.bucket)/\(key)")
    #expect(remote.problem == nil)
  }

  @Test("a wrong secret is SignatureDoesNotMatch: local snapshot kept and marked, nothing in the bucket")
  func wrongSecret() async throws {
    let server = try await EtcdServer(.etcd35)
    try server.putKeys(prefix: "/k/", count: 100)
    let s3 = try await S3Fixture()
    let r = try s3.save(server, environment: ["AWS_SECRET_ACCESS_KEY": "not-the-secret"])
    #expect(r.status == 77, "\(r)")
    #expect(r.stderr.contains("SignatureDoesNotMatch"), "\(r.stderr)")
    #expect(r.stderr.contains("saved and verified at"), "the message says the local copy is fine: \(r.stderr)")
    #expect(!r.stderr.contains("not-the-secret") && !r.stdout.contains("not-the-secret"))
    #expect(try s3.objects().isEmpty)
    #expect(try s3.openUploads().isEmpty)
    let local = try Tool.list(s3.dir)
    #expect(local.count == 1 && local[0].verified)
    let name = local[0].name
    let record = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: s3.dir + "/.metadata/" + name))) as? [String: Any]
    #expect((record?["uploadError"] as? String)?.contains("SignatureDoesNotMatch") == true)
    #expect(record?["uploadedTo"] == nil)
  }

  @Test("an unknown access key is InvalidAccessKeyId; a missing bucket is NoSuchBucket")
  func unknownKeyAndBucket() async throws {
    let server = try await EtcdServer(.etcd35)
    let s3 = try await S3Fixture()
    let r = try s3.save(server, environment: ["AWS_ACCESS_KEY_ID": "AKIAUNKNOWNKEY000000"])
    #expect(r.status == 77, "\(r)")
    #expect(r.stderr.contains("InvalidAccessKeyId") && r.stderr.contains("--s3-access-key"), "\(r.stderr)")

    var args = s3.arguments()
    args[args.firstIndex(of: s3.bucket)!] = "no-such-bucket"
    let missing = try s3.save(server, s3: args, extra: ["--name", "second"])  // another name: same second as the first
    #expect(missing.status == 66, "\(missing)")
    #expect(missing.stderr.contains("no-such-bucket") && missing.stderr.contains("does not exist"), "\(missing.stderr)")
    #expect(try s3.openUploads().isEmpty)
  }

  @Test("keys from a credentials file, never echoed, even with --debug")
  func credentialsFile() async throws {
    let server = try await EtcdServer(.etcd34)
    try server.putKeys(prefix: "/k/", count: 10)
    let s3 = try await S3Fixture(folder: "")
    let file = s3.work.appending("credentials")
    try "[default]\naws_access_key_id = \(s3.moto.accessKey)\naws_secret_access_key = \(s3.moto.secretKey)\n".write(
      toFile: file, atomically: true, encoding: .utf8)
    let r = try Tool.run(
      ["save"] + server.connectionArguments + ["--dir", s3.dir, "--node-name", "n1", "--debug", "--s3-credentials-file", file]
        + s3.arguments(folder: ""))
    #expect(r.status == 0, "\(r)")
    #expect(!r.stdout.contains(s3.moto.secretKey) && !r.stderr.contains(s3.moto.secretKey), "the secret is never printed")
    #expect(try s3.objects().count == 2, "object and sidecar at the bucket root")
  }

  @Test("a snapshot that fails while streaming aborts its upload: no object, no parts")
  func failedStreamAbortsUpload() async throws {
    let server = try await EtcdServer(.etcd35)
    try S3Fixture.fill(server, megabytes: 12)
    let s3 = try await S3Fixture()
    let proxy = try await FaultProxy(upstream: "127.0.0.1:\(server.clientPort)", faults: ["--corrupt-data-after", "9000000"])
    let r = try Tool.run(
      ["save", "--endpoints", proxy.endpoint, "--dir", s3.dir, "--node-name", "n1"] + s3.arguments(), environment: s3.environment)
    #expect(r.status == 65, "\(r)")
    #expect(try s3.objects().isEmpty)
    #expect(try s3.openUploads().isEmpty, "the multipart upload was aborted")
    #expect(try Tool.list(s3.dir).isEmpty)
  }

  @Test("flag problems with --s3 are reported together, before etcd is contacted")
  func flagProblems() async throws {
    let r = try Tool.run([
      "save", "--endpoints", "http://127.0.0.1:1", "--dir", "/tmp/x", "--s3", "--s3-endpoint", "http://minio:9000",
      "--s3-timeout", "soon", "--s3-bucket-lookup-type", "vhost", "--s3-access-key", "AKIAEXAMPLE",
    ])
    #expect(r.status == 64, "\(r)")
    // Half a key pair is a problem at once (no keys at all would ask the AWS credential chain).
    for text in ["--s3-bucket is required", "without a scheme", "--s3-timeout", "auto, dns or path", "no S3 secret key"] {
      #expect(r.stderr.contains(text), "\(text) in \(r.stderr)")
    }
    let stray = try Tool.run(["ls", "--dir", "/tmp/x", "--s3-bucket", "b"])
    #expect(stray.status == 64 && stray.stderr.contains("without --s3"), "\(stray)")
  }
}
