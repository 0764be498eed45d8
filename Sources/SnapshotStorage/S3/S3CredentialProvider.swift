import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import S3Protocol
import SnapshotCore

/// The credentials that sign each S3 request: fixed keys, or the AWS default chain
/// (`S3CredentialChain`), fetched once and fetched again before they expire, also in the
/// middle of a long upload (every request asks for the current ones).
///
/// Secrets are never logged; `--debug` names the source and the expiry.
package actor S3CredentialProvider {
  private var fixed: S3Credentials?
  private let given: S3CredentialsFile.Keys
  private let credentialsFile: String?
  private let profile: String
  private let chain: S3CredentialChain?
  private let logger: Logger
  private let http: HTTPClient
  private var current: S3TemporaryCredentials?
  private var refreshing: Task<S3TemporaryCredentials, any Error>?

  /// Fixed keys when `configuration` has them, else the chain.
  package init(_ configuration: S3Configuration, logger: Logger) {
    if let id = configuration.accessKey, !id.isEmpty, let secret = configuration.secretKey, !secret.isEmpty {
      fixed = S3Credentials(accessKeyID: id, secretAccessKey: secret, sessionToken: configuration.sessionToken)
    } else {
      fixed = nil
    }
    given = S3CredentialsFile.Keys(
      accessKey: configuration.accessKey.flatMap { $0.isEmpty ? nil : $0 }, secretKey: configuration.secretKey.flatMap { $0.isEmpty ? nil : $0 },
      sessionToken: configuration.sessionToken)
    credentialsFile = configuration.credentialsFile
    profile = configuration.credentialsProfile
    chain = configuration.credentialChain
    self.logger = logger
    // Credential endpoints are link-local or loopback (IMDS, the container agent) or STS;
    // none goes through the bucket's proxy. Every wait is bounded.
    var config = HTTPClient.Configuration(
      redirectConfiguration: .disallow, timeout: .init(connect: .seconds(2), read: .seconds(10)), proxy: nil, decompression: .disabled)
    config.httpVersion = .http1Only
    http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: config)
  }

  /// Stops the provider's HTTP client.
  package func shutdown() async {
    try? await http.shutdown()
  }

  /// The credentials to sign with now.
  package func credentials() async throws(SnapshotError) -> S3Credentials {
    if let fixed { return fixed }
    if let credentialsFile {
      let keys = try Self.read(credentialsFile, profile: profile, given: given)
      fixed = keys
      logger.debug(
        "S3 credentials from \(given.accessKey == nil ? "" : "--s3-access-key and ")--s3-credentials-file \(credentialsFile): access key \(keys.accessKeyID)"
      )
      return keys
    }
    if let current, !current.needsRefresh(at: Date()) { return current.credentials }
    let task: Task<S3TemporaryCredentials, any Error>
    if let refreshing {
      task = refreshing
    } else {
      guard let chain else {
        throw SnapshotError(.invalidConfiguration, "no S3 credentials: set --s3-access-key and AWS_SECRET_ACCESS_KEY or --s3-credentials-file")
      }
      let http = self.http
      task = Task { try await Self.resolve(chain, http: http) }
      refreshing = task
    }
    do {
      let fresh = try await task.value
      refreshing = nil
      let renewed = current != nil
      current = fresh
      let expiry = fresh.expiration.map { ", valid until \(Self.format($0))" } ?? ""
      logger.debug("S3 credentials \(renewed ? "renewed" : "obtained") from \(fresh.source): access key \(fresh.credentials.accessKeyID)\(expiry)")
      return fresh.credentials
    } catch {
      refreshing = nil
      // Credentials still valid (refreshed early) keep working while the source is down.
      if let current, let expiration = current.expiration, Date() < expiration.addingTimeInterval(-10) {
        logger.warning("could not renew S3 credentials from \(current.source) (\(SnapshotError.wrapping(error).message)); using the current ones")
        return current.credentials
      }
      throw SnapshotError.wrapping(error)
    }
  }

  private static func format(_ date: Date) -> String { ISO8601DateFormatter().string(from: date) }

  /// `--s3-credentials-file`: what the given keys leave out, which it must hold.
  private static func read(_ path: String, profile: String, given: S3CredentialsFile.Keys) throws(SnapshotError) -> S3Credentials {
    let text: String
    do {
      text = try String(contentsOfFile: path, encoding: .utf8)
    } catch {
      throw SnapshotError(.invalidConfiguration, "--s3-credentials-file \(path): cannot read it (\(error.localizedDescription))")
    }
    let file = S3CredentialsFile.parse(text, profile: profile)
    guard let id = given.accessKey ?? file.accessKey, let secret = given.secretKey ?? file.secretKey, !id.isEmpty, !secret.isEmpty else {
      throw SnapshotError(
        .invalidConfiguration,
        "--s3-credentials-file \(path) holds no aws_access_key_id/aws_secret_access_key (or AWS_ACCESS_KEY_ID=…) lines in profile \(quoted(profile))")
    }
    return S3Credentials(accessKeyID: id, secretAccessKey: secret, sessionToken: given.sessionToken ?? file.sessionToken)
  }

  // MARK: The chain

  private static func resolve(_ chain: S3CredentialChain, http: HTTPClient) async throws -> S3TemporaryCredentials {
    var tried: [String] = []
    if let tokenFile = chain.webIdentityTokenFile, let role = chain.roleARN {
      return try await webIdentity(chain, tokenFile: tokenFile, role: role, http: http)
    }
    tried.append("web identity (AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN not both set)")
    for (path, kind) in [(chain.sharedCredentialsFile, "shared credentials file"), (chain.configFile, "shared config file")] {
      guard let path else { continue }
      guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
        tried.append("\(kind) \(path) (not readable)")
        continue
      }
      let keys = S3CredentialsFile.parse(text, profile: chain.profile)
      if let id = keys.accessKey, let secret = keys.secretKey, !id.isEmpty, !secret.isEmpty {
        return S3TemporaryCredentials(
          credentials: S3Credentials(accessKeyID: id, secretAccessKey: secret, sessionToken: keys.sessionToken), expiration: nil,
          obtained: Date(), source: "\(kind) \(path) [\(chain.profile)]")
      }
      tried.append("\(kind) \(path) (no keys in profile \(quoted(chain.profile)))")
    }
    if let uri = chain.containerURI {
      return try await container(chain, uri: uri, http: http)
    }
    tried.append("container credentials (AWS_CONTAINER_CREDENTIALS_FULL_URI/_RELATIVE_URI unset)")
    if chain.imdsDisabled {
      tried.append("instance metadata (AWS_EC2_METADATA_DISABLED=true)")
    } else {
      switch try await instanceMetadata(chain, http: http) {
      case .found(let credentials): return credentials
      case .absent(let why): tried.append("instance metadata at \(chain.imdsEndpoint) (\(why))")
      }
    }
    throw SnapshotError(
      .invalidConfiguration,
      "no S3 credentials: give --s3-access-key with AWS_SECRET_ACCESS_KEY (or --s3-credentials-file), or run where the AWS credential chain finds some; tried: environment (AWS_ACCESS_KEY_ID unset), "
        + tried.joined(separator: ", "))
  }

  private static func webIdentity(_ chain: S3CredentialChain, tokenFile: String, role: String, http: HTTPClient) async throws
    -> S3TemporaryCredentials
  {
    let token: String
    do {
      token = try String(contentsOfFile: tokenFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
    } catch {
      throw SnapshotError(
        .invalidConfiguration,
        "AWS_WEB_IDENTITY_TOKEN_FILE \(tokenFile): cannot read it (\(error.localizedDescription)); check the projected token volume")
    }
    let session = chain.roleSessionName ?? "etcd-snapshot-\(Int(Date().timeIntervalSince1970))"
    let body = S3CredentialResponses.assumeRoleWithWebIdentityBody(roleARN: role, sessionName: session, token: token)
    var request = HTTPClientRequest(url: chain.stsEndpoint.hasSuffix("/") ? chain.stsEndpoint : chain.stsEndpoint + "/")
    request.method = .POST
    request.headers.add(name: "content-type", value: "application/x-www-form-urlencoded; charset=utf-8")
    request.headers.add(name: "accept", value: "application/xml")
    request.body = .bytes(ByteBuffer(string: body))
    let what = "STS AssumeRoleWithWebIdentity at \(chain.stsEndpoint) for \(role)"
    let (status, bytes) = try await fetch(request, http: http, what: what)
    guard status == 200 else {
      let detail = S3CredentialResponses.stsError(bytes).map { "\($0.code): \($0.message)" } ?? "HTTP \(status)"
      throw SnapshotError(
        status == 400 || status == 403 ? .permissionDenied : .unavailable,
        "\(what) was refused (\(detail)); check the role's trust policy and the token in AWS_WEB_IDENTITY_TOKEN_FILE")
    }
    return try S3CredentialResponses.stsCredentials(bytes, obtained: Date(), source: "web identity (role \(role))")
  }

  private static func container(_ chain: S3CredentialChain, uri: String, http: HTTPClient) async throws -> S3TemporaryCredentials {
    if let problem = S3CredentialChain.containerURIProblem(uri) { throw SnapshotError(.invalidConfiguration, problem) }
    var request = HTTPClientRequest(url: uri)
    request.method = .GET
    if let file = chain.containerAuthorizationTokenFile {
      do {
        let token = try String(contentsOfFile: file, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        request.headers.add(name: "authorization", value: token)
      } catch {
        throw SnapshotError(.invalidConfiguration, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE \(file): cannot read it (\(error.localizedDescription))")
      }
    } else if let token = chain.containerAuthorizationToken {
      request.headers.add(name: "authorization", value: token)
    }
    let what = "the container credentials endpoint \(uri)"
    let (status, bytes) = try await fetch(request, http: http, what: what)
    guard status == 200 else {
      throw SnapshotError(
        status == 401 || status == 403 ? .permissionDenied : .unavailable,
        "\(what) answered HTTP \(status); check AWS_CONTAINER_AUTHORIZATION_TOKEN(_FILE)")
    }
    return try S3CredentialResponses.jsonCredentials(bytes, obtained: Date(), source: "container credentials (\(uri))")
  }

  private enum Lookup {
    case found(S3TemporaryCredentials)
    case absent(String)
  }

  /// IMDSv2: a session token (PUT), the role name, the role's credentials. No answer to the
  /// first request means "not on EC2" (the chain's last link), after one second.
  private static func instanceMetadata(_ chain: S3CredentialChain, http: HTTPClient) async throws -> Lookup {
    let base = chain.imdsEndpoint
    var tokenRequest = HTTPClientRequest(url: base + "/latest/api/token")
    tokenRequest.method = .PUT
    tokenRequest.headers.add(name: "x-aws-ec2-metadata-token-ttl-seconds", value: "21600")
    let token: String
    do {
      let response = try await http.execute(tokenRequest, deadline: .now() + .seconds(1))
      let body = try await response.body.collect(upTo: 4096)
      guard response.status == .ok else { return .absent("token request answered HTTP \(response.status.code)") }
      token = String(buffer: body).trimmingCharacters(in: .whitespacesAndNewlines)
    } catch {
      return .absent("no answer within 1s: not an EC2 instance")
    }
    func get(_ path: String) async throws -> (Int, [UInt8]) {
      var request = HTTPClientRequest(url: base + path)
      request.headers.add(name: "x-aws-ec2-metadata-token", value: token)
      return try await fetch(request, http: http, what: "instance metadata \(base)\(path)")
    }
    let (status, names) = try await get("/latest/meta-data/iam/security-credentials/")
    guard status == 200, let role = String(decoding: names, as: UTF8.self).split(whereSeparator: \.isNewline).first.map(String.init), !role.isEmpty
    else {
      return .absent(status == 404 ? "no IAM role attached to the instance" : "role list answered HTTP \(status)")
    }
    let (roleStatus, document) = try await get("/latest/meta-data/iam/security-credentials/\(role)")
    guard roleStatus == 200 else {
      throw SnapshotError(.unavailable, "instance metadata answered HTTP \(roleStatus) for the credentials of role \(quoted(role))")
    }
    return .found(try S3CredentialResponses.jsonCredentials(document, obtained: Date(), source: "instance metadata (role \(role))"))
  }

  /// One request with a 10-second bound, its status and (small) body.
  private static func fetch(_ request: HTTPClientRequest, http: HTTPClient, what: String) async throws -> (Int, [UInt8]) {
    do {
      let response = try await http.execute(request, deadline: .now() + .seconds(10))
      let body = try await response.body.collect(upTo: 1 << 20)
      return (Int(response.status.code), Array(buffer: body))
    } catch let error as SnapshotError {
      throw error
    } catch {
      throw SnapshotError(.unavailable, "\(what) did not answer (\(error)); check the endpoint and the network", cause: error)
    }
  }
}
