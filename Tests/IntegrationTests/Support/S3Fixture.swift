import EtcdTestSupport
import Foundation
import Testing

/// A moto S3 server with signatures checked, a bucket, and the tool's `--s3-*` arguments.
struct S3Fixture {
  let moto: MotoS3Server
  let bucket: String
  let folder: String
  let work: TemporaryDirectory

  /// Starts moto with `bucket`; snapshots go under `folder`.
  init(bucket: String = "etcd-backups", folder: String = "clusters/prod/", webIdentityToken: String? = nil, stsDuration: Int? = nil)
    async throws
  {
    moto = try await MotoS3Server(buckets: [bucket], webIdentityToken: webIdentityToken, stsDuration: stsDuration)
    self.bucket = bucket
    self.folder = folder
    work = try TemporaryDirectory(prefix: "s3")
  }

  /// The local snapshot directory of this test.
  var dir: String { work.appending("snapshots") }

  /// `--s3 …` for plain http to `endpoint` (moto itself by default), path style.
  func arguments(endpoint: String? = nil, folder: String? = nil, extra: [String] = []) -> [String] {
    ["--s3", "--s3-endpoint", endpoint ?? moto.endpoint, "--s3-insecure", "--s3-bucket", bucket, "--s3-folder", folder ?? self.folder]
      + extra
  }

  /// The key pair in the environment (never on the command line).
  var environment: [String: String] { moto.credentialEnvironment }

  /// `save --s3` from `server`.
  func save(_ server: EtcdServer, node: String = "node1", s3: [String]? = nil, environment extra: [String: String] = [:], extra args: [String] = [])
    throws -> ProcessResult
  {
    try Tool.run(
      ["save"] + server.connectionArguments + ["--dir", dir, "--node-name", node] + (s3 ?? arguments()) + args,
      environment: environment.merging(extra) { $1 }, timeout: .seconds(300))
  }

  /// `ls --s3 -o json`, decoded.
  func list(s3: [String]? = nil, environment extra: [String: String] = [:]) throws -> [ListedS3] {
    try Tool.list(dir, extra: s3 ?? arguments(), environment: environment.merging(extra) { $1 }, as: ListedS3.self)
  }

  /// Objects in the bucket under the folder (through boto3).
  func objects() throws -> [S3Object] {
    try moto.objects(bucket: bucket, prefix: folder)
  }

  /// Multipart uploads still open in the bucket.
  func openUploads() throws -> [String] { try moto.uploadsInProgress(bucket: bucket) }

  /// The snapshot name a save printed (last path component of its first line).
  static func name(from r: ProcessResult) throws -> String {
    let path = try #require(r.stdout.split(separator: "\n").first.map(String.init), "\(r)")
    return URL(fileURLWithPath: path).lastPathComponent
  }

  /// Fills `server` with about `megabytes` MB (1 MiB values), so that a snapshot needs several parts.
  static func fill(_ server: EtcdServer, megabytes: Int) throws {
    try TestProcess.check(
      "/usr/bin/env",
      [
        "python3", repositoryRoot() + "/Tests/Fixtures/fill-etcd.py", "--endpoint", server.clientURL, "--small", "200", "--big", String(megabytes),
        "--quiet",
      ],
      timeout: .seconds(300))
  }
}

/// One row of `ls -o json` with the location fields.
struct ListedS3: Decodable, Equatable {
  var name: String
  var node: String?
  var size: Int64
  var revision: Int64?
  var verified: Bool
  var hasMetadata: Bool
  var sha256: String?
  var location: String
  var url: String
  var problem: String?
}
