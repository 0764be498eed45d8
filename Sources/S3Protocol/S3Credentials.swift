import SnapshotCore

/// Access key, secret key and optional session token that sign S3 requests.
///
/// The secret and the token are never shown: `description`, `debugDescription` (`String(reflecting:)`, arrays,
/// string interpolation) and the mirror (`dump()`, `Mirror(reflecting:)`) print `<redacted>` in their place.
/// The access key ID is shown in full: it is an identifier, sent in clear in every Authorization header.
package struct S3Credentials: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
  /// The access key ID, e.g. `AKIAIOSFODNN7EXAMPLE`; it appears in the Authorization header.
  package var accessKeyID: String
  /// The secret access key; only ever used as HMAC key material, never printed.
  package var secretAccessKey: String
  /// The session token of temporary credentials (STS), sent as `x-amz-security-token`; never printed.
  package var sessionToken: String?

  /// Makes credentials; `sessionToken` is nil for long-term keys.
  package init(accessKeyID: String, secretAccessKey: String, sessionToken: String? = nil) {
    self.accessKeyID = accessKeyID
    self.secretAccessKey = secretAccessKey
    self.sessionToken = sessionToken
  }

  /// `S3Credentials(accessKeyID: AKIA…, secret: <redacted>, sessionToken: <redacted>)` (`none` when there is no token).
  package var description: String {
    "S3Credentials(accessKeyID: \(accessKeyID), secret: <redacted>, sessionToken: \(redactedToken))"
  }

  /// The same text as `description`, so that `String(reflecting:)` and collections do not reveal the secret.
  package var debugDescription: String { description }

  /// A mirror with the secret and the token replaced, so that `dump()` does not reveal them.
  package var customMirror: Mirror {
    Mirror(
      self,
      children: ["accessKeyID": accessKeyID, "secretAccessKey": "<redacted>", "sessionToken": redactedToken],
      displayStyle: .struct
    )
  }

  /// `<redacted>` when there is a token, `none` otherwise.
  private var redactedToken: String { sessionToken == nil ? "none" : "<redacted>" }
}
