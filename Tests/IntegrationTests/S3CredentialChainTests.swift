import EtcdTestSupport
import Foundation
import Testing

/// The AWS credential chain with no keys given: web identity through moto's STS, the shared
/// files, container credentials and IMDSv2 (`Tests/Servers/aws-credentials-server.py`, handing out
/// real moto credentials), renewal in the middle of an upload, and what happens when nothing
/// is found. moto checks every signature and refuses expired temporary credentials.
@Suite("S3 credentials from the AWS chain")
struct S3CredentialChainTests {
  private static let token = "eyJhbGciOiJSUzI1NiJ9.test-web-identity-token"

  /// The variables of a machine with none of the chain's sources, plus `extra`.
  private static func environment(home: String, _ extra: [String: String]) -> [String: String] {
    var env = ["HOME": home, "AWS_EC2_METADATA_DISABLED": "true"]
    for (k, v) in extra { env[k] = v }
    return env
  }

  /// `ls --s3 --debug` with no keys in flags or AWS_ACCESS_KEY_ID.
  private static func list(_ s3: S3Fixture, _ env: [String: String]) throws -> ProcessResult {
    try Tool.run(["ls", "--debug", "--dir", s3.dir] + s3.arguments(), environment: env)
  }

  @Test("web identity: the token file and role go to STS AssumeRoleWithWebIdentity; a wrong token is refused with the reason")
  func webIdentity() async throws {
    let s3 = try await S3Fixture(webIdentityToken: Self.token)
    let tokenFile = s3.work.appending("token")
    try Self.token.write(toFile: tokenFile, atomically: true, encoding: .utf8)
    let env = Self.environment(
      home: s3.work.path,
      [
        "AWS_WEB_IDENTITY_TOKEN_FILE": tokenFile, "AWS_ROLE_ARN": s3.moto.roleARN, "AWS_ENDPOINT_URL_STS": "http://\(s3.moto.endpoint)",
      ])
    let r = try Self.list(s3, env)
    #expect(r.status == 0, "\(r)")
    #expect(r.stderr.contains("S3 credentials obtained from web identity (role \(s3.moto.roleARN))"), "\(r.stderr)")
    #expect(s3.moto.webIdentityGrants == 1)
    #expect(!r.stderr.contains(Self.token), "the token is never printed")

    try "not-the-token".write(toFile: tokenFile, atomically: true, encoding: .utf8)
    let refused = try Self.list(s3, env)
    #expect(refused.status == 77, "\(refused)")
    #expect(refused.stderr.contains("InvalidIdentityToken"), "\(refused.stderr)")
    #expect(refused.stderr.contains("AWS_WEB_IDENTITY_TOKEN_FILE"), "\(refused.stderr)")
  }

  @Test("the shared files: AWS_SHARED_CREDENTIALS_FILE with AWS_PROFILE, then AWS_CONFIG_FILE's [profile NAME]")
  func sharedFiles() async throws {
    let s3 = try await S3Fixture()
    let credentials = s3.work.appending("credentials")
    try
      "[default]\naws_access_key_id = AKIAWRONG\naws_secret_access_key = wrong\n[prod]\naws_access_key_id = \(s3.moto.accessKey)\naws_secret_access_key = \(s3.moto.secretKey)\n"
      .write(toFile: credentials, atomically: true, encoding: .utf8)
    let r = try Self.list(s3, Self.environment(home: s3.work.path, ["AWS_SHARED_CREDENTIALS_FILE": credentials, "AWS_PROFILE": "prod"]))
    #expect(r.status == 0, "\(r)")
    #expect(r.stderr.contains("S3 credentials obtained from shared credentials file \(credentials) [prod]"), "\(r.stderr)")
    #expect(!r.stderr.contains(s3.moto.secretKey))

    // ~/.aws/config only (the credentials file in HOME does not exist).
    let home = s3.work.appending("home")
    try FileManager.default.createDirectory(atPath: home + "/.aws", withIntermediateDirectories: true)
    try "[profile prod]\nregion = us-east-1\naws_access_key_id = \(s3.moto.accessKey)\naws_secret_access_key = \(s3.moto.secretKey)\n"
      .write(toFile: home + "/.aws/config", atomically: true, encoding: .utf8)
    let fromConfig = try Self.list(s3, Self.environment(home: home, ["AWS_PROFILE": "prod"]))
    #expect(fromConfig.status == 0, "\(fromConfig)")
    #expect(fromConfig.stderr.contains("shared config file \(home)/.aws/config [prod]"), "\(fromConfig.stderr)")
  }

  @Test("container credentials: FULL_URI with the authorization token file; a wrong token is refused")
  func container() async throws {
    let s3 = try await S3Fixture(webIdentityToken: Self.token)
    let server = try await AWSCredentialsServer(moto: s3.moto)
    let tokenFile = s3.work.appending("container-token")
    try server.containerToken.write(toFile: tokenFile, atomically: true, encoding: .utf8)
    let env = Self.environment(
      home: s3.work.path, ["AWS_CONTAINER_CREDENTIALS_FULL_URI": server.containerURI, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": tokenFile])
    let r = try Self.list(s3, env)
    #expect(r.status == 0, "\(r)")
    #expect(r.stderr.contains("S3 credentials obtained from container credentials (\(server.containerURI))"), "\(r.stderr)")
    #expect(!r.stderr.contains(server.containerToken))

    var wrong = env
    wrong.removeValue(forKey: "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")
    wrong["AWS_CONTAINER_AUTHORIZATION_TOKEN"] = "not-it"
    let refused = try Self.list(s3, wrong)
    #expect(refused.status == 77, "\(refused)")
    #expect(refused.stderr.contains("answered HTTP 401"), "\(refused.stderr)")
  }

  @Test("IMDSv2: a session token first, then the role and its credentials; AWS_EC2_METADATA_DISABLED turns it off")
  func instanceMetadata() async throws {
    let s3 = try await S3Fixture(webIdentityToken: Self.token)
    let server = try await AWSCredentialsServer(moto: s3.moto)
    var env = Self.environment(home: s3.work.path, ["AWS_EC2_METADATA_SERVICE_ENDPOINT": server.imdsEndpoint])
    env.removeValue(forKey: "AWS_EC2_METADATA_DISABLED")
    let r = try Self.list(s3, env)
    #expect(r.status == 0, "\(r)")
    #expect(r.stderr.contains("S3 credentials obtained from instance metadata (role etcd-snapshot-test-role)"), "\(r.stderr)")
    let requests = server.requests.map { "\($0.method) \($0.path) \($0.status)" }
    #expect(
      requests == [
        "PUT /latest/api/token 200", "GET /latest/meta-data/iam/security-credentials/ 200",
        "GET /latest/meta-data/iam/security-credentials/etcd-snapshot-test-role 200",
      ], "\(requests)")

    env["AWS_EC2_METADATA_DISABLED"] = "true"
    let off = try Self.list(s3, env)
    #expect(off.status == 64, "\(off)")
    #expect(off.stderr.contains("instance metadata (AWS_EC2_METADATA_DISABLED=true)"), "\(off.stderr)")
    #expect(server.requests.count == 3, "no request after it was disabled")
  }

  @Test("nothing found: one error naming every source tried, before etcd is contacted; nothing is written")
  func nothingFound() async throws {
    let s3 = try await S3Fixture()
    let r = try Tool.run(
      ["save", "--endpoints", "http://127.0.0.1:1", "--dir", s3.dir, "--node-name", "n1"] + s3.arguments(),
      environment: Self.environment(home: s3.work.appending("empty-home"), [:]))
    #expect(r.status == 64, "\(r)")
    for text in [
      "no S3 credentials", "AWS_ACCESS_KEY_ID unset", "web identity", "shared credentials file", "container credentials", "instance metadata",
    ] {
      #expect(r.stderr.contains(text), "\(text) in \(r.stderr)")
    }
    #expect(!r.stderr.contains("127.0.0.1:1"), "etcd was not contacted: \(r.stderr)")
    #expect(try Tool.list(s3.dir).isEmpty)
  }

  @Test("temporary credentials are renewed before they expire, in the middle of an upload")
  func renewalDuringUpload() async throws {
    // STS credentials live 8 s (renewed 4 s before expiry); part 1 is held back 9 s by the
    // proxy, so that CompleteMultipartUpload is signed after the first credentials expired:
    // moto refuses expired ones (ExpiredToken), so the save succeeds only if they were renewed.
    let server = try await EtcdServer(.etcd35)
    try S3Fixture.fill(server, megabytes: 20)
    let s3 = try await S3Fixture(webIdentityToken: Self.token, stsDuration: 8)
    let proxy = try await S3TestProxy(upstream: s3.moto.endpoint)
    try proxy.setFaults(#"[{"method":"PUT","query_contains":"partNumber=1","action":"delay","seconds":9}]"#)
    let tokenFile = s3.work.appending("token")
    try Self.token.write(toFile: tokenFile, atomically: true, encoding: .utf8)
    let env = Self.environment(
      home: s3.work.path,
      [
        "AWS_WEB_IDENTITY_TOKEN_FILE": tokenFile, "AWS_ROLE_ARN": s3.moto.roleARN, "AWS_ENDPOINT_URL_STS": "http://\(s3.moto.endpoint)",
      ])
    let r = try Tool.run(
      ["save", "--debug"] + server.connectionArguments + ["--dir", s3.dir, "--node-name", "n1"]
        + s3.arguments(endpoint: proxy.endpoint, extra: ["--s3-timeout", "120s"]), environment: env, timeout: .seconds(300))
    #expect(r.status == 0, "\(r)")
    #expect(r.stderr.contains("S3 credentials renewed from web identity"), "\(r.stderr)")
    #expect(s3.moto.webIdentityGrants >= 2)
    let name = try S3Fixture.name(from: r)
    #expect(try s3.objects().map(\.key).contains(s3.folder + name))
    #expect(try s3.openUploads().isEmpty)
  }
}
