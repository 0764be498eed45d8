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
