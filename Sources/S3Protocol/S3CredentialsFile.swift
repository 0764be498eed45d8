import SnapshotCore

/// Reads S3 keys from a file so that they need not appear in a process list.
///
/// Two layouts are accepted: the AWS shared credentials file (`[profile]` sections with
/// `aws_access_key_id`, `aws_secret_access_key`, `aws_session_token`), and environment-style
/// lines (`AWS_ACCESS_KEY_ID=…`, optionally with `export ` and quotes), as in a k3s `.env` file.
package enum S3CredentialsFile {
  /// The keys found; any may be missing.
  package struct Keys: Sendable, Equatable {
    /// Access key ID.
    package var accessKey: String?
    /// Secret access key.
    package var secretKey: String?
    /// Session token.
    package var sessionToken: String?

    /// Keys as given.
    package init(accessKey: String? = nil, secretKey: String? = nil, sessionToken: String? = nil) {
      self.accessKey = accessKey
      self.secretKey = secretKey
      self.sessionToken = sessionToken
    }
  }

  /// Parses `text`, using section `profile` (default `default`) of an AWS-style file.
  package static func parse(_ text: String, profile: String = "default") -> Keys {
    var keys = Keys()
    var section: String?
    var sawSection = false
    for rawLine in text.split(omittingEmptySubsequences: true, whereSeparator: \.isNewline) {
      var line = Substring(rawLine).drop(while: { $0 == " " || $0 == "\t" })
      while line.last == " " || line.last == "\t" { line = line.dropLast() }
      if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
      if line.hasPrefix("[") && line.hasSuffix("]") {
        sawSection = true
        var name = line.dropFirst().dropLast().trimmingSpaces()
        if name.hasPrefix("profile ") { name = String(name.dropFirst("profile ".count)).trimmingSpaces() }
        section = name
        continue
      }
      if line.hasPrefix("export ") { line = line.dropFirst("export ".count) }
      guard let eq = line.firstIndex(of: "=") else { continue }
      let name = line[..<eq].trimmingSpaces().lowercased()
      var value = line[line.index(after: eq)...].trimmingSpaces()
      if value.count >= 2, let q = value.first, q == "\"" || q == "'", value.last == q { value = String(value.dropFirst().dropLast()) }
      let inScope = !sawSection || section == profile
      switch name {
      case "aws_access_key_id" where inScope: keys.accessKey = value
      case "aws_secret_access_key" where inScope: keys.secretKey = value
      case "aws_session_token" where inScope: keys.sessionToken = value
      default: break
      }
    }
    return keys
  }
}

extension StringProtocol {
  fileprivate func trimmingSpaces() -> String {
    var s = Substring(self)
    while s.first == " " || s.first == "\t" { s = s.dropFirst() }
    while s.last == " " || s.last == "\t" { s = s.dropLast() }
    return String(s)
  }
}
