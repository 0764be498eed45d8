import Foundation
import SnapshotCore

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
