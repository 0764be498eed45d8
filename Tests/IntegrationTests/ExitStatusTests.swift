import SnapshotCore
import Testing

@testable import etcd_snapshot

@Suite("Exit statuses of the executable")
struct ExitStatusTests {
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
}
