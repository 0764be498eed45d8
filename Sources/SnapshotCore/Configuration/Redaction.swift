/// Credentials written into URLs, kept out of messages, logs and encoded configurations.
package enum Redaction {
  /// What stands in for a secret.
  package static let placeholder = "<redacted>"

  /// `text` with the user information of a URL (`scheme://user:password@host`, or
  /// `user:password@host` without a scheme) replaced, so that it can be shown.
  package static func url(_ text: String) -> String {
    let afterScheme = text.range(of: "://")?.upperBound ?? text.startIndex
    let rest = text[afterScheme...]
    let authorityEnd = rest.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) ?? rest.endIndex
    guard let at = rest[..<authorityEnd].lastIndex(of: "@") else { return text }
    return String(text[..<afterScheme]) + placeholder + String(text[at...])
  }

  /// True when `text` carries user information (`…@host`) in its authority.
  package static func hasUserInfo(_ text: String) -> Bool { url(text) != text }
}
