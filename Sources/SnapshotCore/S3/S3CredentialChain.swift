import Foundation

/// Where S3 credentials come from when no keys are given: the AWS SDKs' default chain, read
/// from the environment once, in their order.
///
/// 1. (static keys: flags, `ETCD_SNAPSHOT_S3_*`, `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`,
///    the config file, `--s3-credentials-file`: these make the chain unnecessary)
/// 2. web identity: `AWS_WEB_IDENTITY_TOKEN_FILE` + `AWS_ROLE_ARN` (`AWS_ROLE_SESSION_NAME`),
///    exchanged with STS `AssumeRoleWithWebIdentity` (EKS pods, IRSA)
/// 3. the shared files: `AWS_SHARED_CREDENTIALS_FILE` (`~/.aws/credentials`), then
///    `AWS_CONFIG_FILE` (`~/.aws/config`), section `AWS_PROFILE` (`default`)
/// 4. container credentials: `AWS_CONTAINER_CREDENTIALS_FULL_URI` or `_RELATIVE_URI` (ECS,
///    EKS Pod Identity), with `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE` or `_TOKEN`
/// 5. EC2 instance metadata, IMDSv2 (a session token first), unless
///    `AWS_EC2_METADATA_DISABLED=true`; `AWS_EC2_METADATA_SERVICE_ENDPOINT` moves it.
package struct S3CredentialChain: Sendable, Equatable {
  package var webIdentityTokenFile: String?
  package var roleARN: String?
  package var roleSessionName: String?
  /// `AWS_ENDPOINT_URL_STS`, else `AWS_ENDPOINT_URL`, else STS of the region.
  package var stsEndpoint: String
  package var profile: String
  package var sharedCredentialsFile: String?
  package var configFile: String?
  package var containerURI: String?
  package var containerAuthorizationToken: String?
  package var containerAuthorizationTokenFile: String?
  package var imdsEndpoint: String
  package var imdsDisabled: Bool

  /// The link-local address of the ECS agent, which `_RELATIVE_URI` is relative to.
  package static let containerHost = "http://169.254.170.2"
  package static let defaultIMDSEndpoint = "http://169.254.169.254"

  /// The chain as the environment sets it up; `home` is where `~/.aws` is.
  package init(environment env: [String: String], region: String, home: String?) {
    func value(_ name: String) -> String? {
      guard let v = env[name], !v.isEmpty else { return nil }
      return v
    }
    webIdentityTokenFile = value("AWS_WEB_IDENTITY_TOKEN_FILE")
    roleARN = value("AWS_ROLE_ARN")
    roleSessionName = value("AWS_ROLE_SESSION_NAME")
    let stsRegion = value("AWS_REGION") ?? value("AWS_DEFAULT_REGION") ?? region
    stsEndpoint = value("AWS_ENDPOINT_URL_STS") ?? value("AWS_ENDPOINT_URL") ?? "https://sts.\(stsRegion).amazonaws.com"
    profile = value("AWS_PROFILE") ?? value("AWS_DEFAULT_PROFILE") ?? "default"
    let aws = home.map { $0 + "/.aws" }
    sharedCredentialsFile = value("AWS_SHARED_CREDENTIALS_FILE") ?? aws.map { $0 + "/credentials" }
    configFile = value("AWS_CONFIG_FILE") ?? aws.map { $0 + "/config" }
    if let full = value("AWS_CONTAINER_CREDENTIALS_FULL_URI") {
      containerURI = full
    } else if let relative = value("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") {
      containerURI = Self.containerHost + (relative.hasPrefix("/") ? relative : "/" + relative)
    }
    containerAuthorizationToken = value("AWS_CONTAINER_AUTHORIZATION_TOKEN")
    containerAuthorizationTokenFile = value("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")
    imdsEndpoint = value("AWS_EC2_METADATA_SERVICE_ENDPOINT") ?? Self.defaultIMDSEndpoint
    while imdsEndpoint.hasSuffix("/") { imdsEndpoint.removeLast() }
    imdsDisabled = value("AWS_EC2_METADATA_DISABLED")?.lowercased() == "true"
  }

  /// Whether a container credentials URI may be used: https anywhere, plain http only to a
  /// loopback address or the ECS and EKS agents (as the SDKs allow).
  package static func containerURIProblem(_ uri: String) -> String? {
    guard let url = URL(string: uri), let scheme = url.scheme?.lowercased(), let host = url.host?.lowercased() else {
      return "AWS_CONTAINER_CREDENTIALS_FULL_URI \(quoted(uri)) is not a URL"
    }
    if scheme == "https" { return nil }
    guard scheme == "http" else { return "AWS_CONTAINER_CREDENTIALS_FULL_URI \(quoted(uri)): only http and https are allowed" }
    let allowed = ["localhost", "127.0.0.1", "::1", "[::1]", "169.254.170.2", "169.254.170.23", "fd00:ec2::23", "[fd00:ec2::23]"]
    if allowed.contains(host) || host.hasPrefix("127.") { return nil }
    return
      "AWS_CONTAINER_CREDENTIALS_FULL_URI \(quoted(uri)): plain http is allowed only to loopback or the ECS/EKS agent (169.254.170.2, 169.254.170.23); use https"
  }
}

/// Credentials with their lifetime and where they came from.
package struct S3TemporaryCredentials: Sendable, Equatable {
  package var credentials: S3Credentials
  /// When they stop working; nil for long-term keys.
  package var expiration: Date?
  /// When they were obtained.
  package var obtained: Date
  /// The source, for `--debug`: `web identity (role arn:…)`, `instance metadata (role r)`.
  package var source: String

  package init(credentials: S3Credentials, expiration: Date?, obtained: Date, source: String) {
    self.credentials = credentials
    self.expiration = expiration
    self.obtained = obtained
    self.source = source
  }

  /// How long before expiry they are replaced: 5 minutes, or half their lifetime when that
  /// is shorter (so that short-lived credentials are not fetched again on every request).
  package var refreshMargin: TimeInterval {
    guard let expiration else { return 0 }
    return min(300, max(0, expiration.timeIntervalSince(obtained)) / 2)
  }

  /// Whether to fetch new ones before signing at `now`.
  package func needsRefresh(at now: Date) -> Bool {
    guard let expiration else { return false }
    return now >= expiration.addingTimeInterval(-refreshMargin)
  }
}

/// The answers of STS, the container agent and IMDS, as pure code.
package enum S3CredentialResponses {
  /// `AssumeRoleWithWebIdentityResponse/AssumeRoleWithWebIdentityResult/Credentials`.
  package static func stsCredentials(_ body: [UInt8], obtained: Date, source: String) throws(SnapshotError) -> S3TemporaryCredentials {
    let root = try S3XML.parse(body)
    let result = root.child("AssumeRoleWithWebIdentityResult") ?? root
    guard let c = result.child("Credentials"), let id = c.value("AccessKeyId"), let secret = c.value("SecretAccessKey"), !id.isEmpty,
      !secret.isEmpty
    else {
      throw SnapshotError(.io, "STS answered AssumeRoleWithWebIdentity without credentials; check AWS_ENDPOINT_URL_STS")
    }
    return S3TemporaryCredentials(
      credentials: S3Credentials(accessKeyID: id, secretAccessKey: secret, sessionToken: c.value("SessionToken")),
      expiration: c.value("Expiration").flatMap(parseDate), obtained: obtained, source: source)
  }

  /// STS's error answer: `Error/Code` and `Error/Message`, for the message.
  package static func stsError(_ body: [UInt8]) -> (code: String, message: String)? {
    guard let root = try? S3XML.parse(body) else { return nil }
    let error = root.child("Error") ?? root
    guard let code = error.value("Code") else { return nil }
    return (code, error.value("Message") ?? "")
  }

  /// `{"AccessKeyId", "SecretAccessKey", "Token", "Expiration"}` of the container agent and IMDS.
  package static func jsonCredentials(_ body: [UInt8], obtained: Date, source: String) throws(SnapshotError) -> S3TemporaryCredentials {
    struct Answer: Decodable {
      var accessKeyID: String?
      var secretAccessKey: String?
      var token: String?
      var expiration: String?
      var code: String?

      enum CodingKeys: String, CodingKey {
        case accessKeyID = "AccessKeyId"
        case secretAccessKey = "SecretAccessKey"
        case token = "Token"
        case expiration = "Expiration"
        case code = "Code"
      }
    }
    guard let answer = try? JSONDecoder().decode(Answer.self, from: Data(body)) else {
      throw SnapshotError(.io, "\(source) answered something that is not a credentials document (JSON with AccessKeyId)")
    }
    if let code = answer.code, code != "Success" {
      throw SnapshotError(.permissionDenied, "\(source) answered Code \(quoted(code)) instead of credentials")
    }
    guard let id = answer.accessKeyID, let secret = answer.secretAccessKey, !id.isEmpty, !secret.isEmpty else {
      throw SnapshotError(.io, "\(source) answered without AccessKeyId and SecretAccessKey")
    }
    return S3TemporaryCredentials(
      credentials: S3Credentials(accessKeyID: id, secretAccessKey: secret, sessionToken: answer.token),
      expiration: answer.expiration.flatMap(parseDate), obtained: obtained, source: source)
  }

  /// ISO 8601 with or without fractional seconds (`2026-12-06T10:00:00Z`, `…00.123Z`).
  package static func parseDate(_ text: String) -> Date? {
    let plain = ISO8601DateFormatter()
    if let d = plain.date(from: text) { return d }
    let fractional = ISO8601DateFormatter()
    fractional.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    return fractional.date(from: text)
  }

  /// The form body of `AssumeRoleWithWebIdentity` (an unsigned POST: the token is the proof).
  package static func assumeRoleWithWebIdentityBody(roleARN: String, sessionName: String, token: String) -> String {
    let fields = [
      ("Action", "AssumeRoleWithWebIdentity"), ("Version", "2011-06-15"), ("RoleArn", roleARN), ("RoleSessionName", sessionName),
      ("WebIdentityToken", token),
    ]
    return fields.map { "\($0.0)=\(S3URIEncoding.encode($0.1, encodeSlash: true))" }.joined(separator: "&")
  }
}
