import S3Protocol
import SnapshotCore
import Testing

@Suite("S3Credentials: the secret and the token never show in text")
struct S3CredentialsTests {
  static let secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
  static let token = "IQoJb3JpZ2luX2VjEXAMPLETOKEN//////wEaCXVz=="

  /// Every way Swift turns a value into text.
  static func texts(_ credentials: S3Credentials) -> [String] {
    var dumped = ""
    dump(credentials, to: &dumped)
    var dumpedOptional = ""
    dump(Optional(credentials), to: &dumpedOptional)
    var printed = ""
    print(credentials, to: &printed)
    debugPrint(credentials, to: &printed)
    let mirror = Mirror(reflecting: credentials).children.map { "\($0.label ?? ""): \($0.value)" }.joined(separator: ", ")
    return [
      credentials.description, credentials.debugDescription, String(describing: credentials), String(reflecting: credentials),
      "\(credentials)", "\([credentials])", "\(["k": credentials])", String(describing: Optional(credentials)),
      dumped, dumpedOptional, printed, mirror,
    ]
  }

  @Test("with a session token")
  func withToken() {
    let credentials = S3Credentials(accessKeyID: "ASIAIOSFODNN7EXAMPLE", secretAccessKey: Self.secret, sessionToken: Self.token)
    for text in Self.texts(credentials) {
      #expect(!text.contains(Self.secret), "\(text)")
      #expect(!text.contains(Self.token), "\(text)")
      #expect(!text.contains("wJalrXUtnFEMI"), "\(text)")
    }
    #expect(credentials.description == "S3Credentials(accessKeyID: ASIAIOSFODNN7EXAMPLE, secret: <redacted>, sessionToken: <redacted>)")
    #expect(String(reflecting: credentials) == credentials.description)
  }

  @Test("without a session token")
  func withoutToken() {
    let credentials = S3Credentials(accessKeyID: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: Self.secret)
    #expect(credentials.sessionToken == nil)
    for text in Self.texts(credentials) { #expect(!text.contains(Self.secret), "\(text)") }
    #expect(credentials.description == "S3Credentials(accessKeyID: AKIAIOSFODNN7EXAMPLE, secret: <redacted>, sessionToken: none)")
    var dumped = ""
    dump(credentials, to: &dumped)
    #expect(dumped.contains("AKIAIOSFODNN7EXAMPLE"))
    #expect(dumped.contains("<redacted>"))
  }

  @Test("equality compares all three fields")
  func equality() {
    let base = S3Credentials(accessKeyID: "a", secretAccessKey: "s", sessionToken: "t")
    #expect(base == S3Credentials(accessKeyID: "a", secretAccessKey: "s", sessionToken: "t"))
    #expect(base != S3Credentials(accessKeyID: "a", secretAccessKey: "s2", sessionToken: "t"))
    #expect(base != S3Credentials(accessKeyID: "a", secretAccessKey: "s"))
    #expect(base != S3Credentials(accessKeyID: "b", secretAccessKey: "s", sessionToken: "t"))
  }
}
