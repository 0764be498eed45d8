import SnapshotCore
import Testing

private struct SecretCause: Error, Sendable {
  var text = "super-secret-token"
}

@Suite("SnapshotError: codes, exit statuses, messages")
struct SnapshotErrorTests {
  @Test("no exit status is 0, 1 or 2 (success, generic failure, usage error of the shell)", arguments: SnapshotError.Code.allCases)
  func notReserved(code: SnapshotError.Code) {
    #expect(![0, 1, 2].contains(code.exitStatus))
    if code == .cancelled {
      #expect(code.exitStatus == 128 + 2, "stopped by a signal: the shell's 128 + SIGINT")
    } else {
      #expect((3...125).contains(code.exitStatus), "outside the range a shell reports unchanged")
    }
  }

  @Test("each code has its own exit status, except unavailable and interrupted (both 69)")
  func distinct() {
    let byStatus = Dictionary(grouping: SnapshotError.Code.allCases, by: \.exitStatus)
    let shared = byStatus.values.filter { $0.count > 1 }.map { Set($0) }
    #expect(shared == [[.unavailable, .interrupted]])
    #expect(SnapshotError.Code.unavailable.exitStatus == 69)
    #expect(byStatus.count == SnapshotError.Code.allCases.count - 1)
  }

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
