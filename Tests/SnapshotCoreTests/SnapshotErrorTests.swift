import SnapshotCore
import Testing

private struct SecretCause: Error, Sendable {
  var text = "super-secret-token"
}

@Suite("SnapshotError: codes and messages")
struct SnapshotErrorTests {
  @Test("codes are stable strings (they appear in JSON output)")
  func rawValues() {
    #expect(SnapshotError.Code(rawValue: "cannotWrite") == .cannotWrite)
    #expect(Set(SnapshotError.Code.allCases.map(\.rawValue)).count == SnapshotError.Code.allCases.count)
  }

  @Test("description is the message alone, never the cause")
  func descriptionIsMessage() {
    let error = SnapshotError(.io, "cannot read /x: do Y", cause: SecretCause())
    #expect(error.description == "cannot read /x: do Y")
    #expect("\(error)" == "cannot read /x: do Y")
    #expect(!String(describing: error).contains("super-secret-token"))
    #expect(error.cause is SecretCause)
  }

  @Test("invalid(_:) lists every problem, one per line, or gives the only one as is")
  func invalid() {
    let one = SnapshotError.invalid(["--name is empty"])
    #expect(one.code == .invalidConfiguration)
    #expect(one.message == "--name is empty")

    let many = SnapshotError.invalid(["first", "second", "third"])
    #expect(many.code == .invalidConfiguration)
    let lines = many.message.split(separator: "\n")
    #expect(lines.count == 4)
    #expect(lines.first?.contains("3 problems") == true)
    #expect(lines.dropFirst().map { String($0.trimmingPrefix(while: { $0 == " " || $0 == "-" })) } == ["first", "second", "third"])
  }
}
