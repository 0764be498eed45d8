import SnapshotCore
import SystemFiles
import Testing

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

@Suite("SnapshotError.posix: errno to a code and a message that says what to do")
struct POSIXErrorTests {
  @Test(
    "each errno maps to its code and names the cause",
    arguments: [
      (ENOSPC, SnapshotError.Code.cannotWrite, "no space"),
      (EDQUOT, .cannotWrite, "no space"),
      (EROFS, .cannotWrite, "read-only"),
      (EACCES, .cannotWrite, "permission denied"),
      (EPERM, .cannotWrite, "permission denied"),
      (ENOTDIR, .cannotWrite, "not a directory"),
      (ENOENT, .notFound, "does not exist"),
      (EIO, .io, "Input/output error"),
      (EBADF, .io, "Bad file descriptor"),
    ])
  func mapping(errno code: Int32, expected: SnapshotError.Code, mentions: String) throws {
    let error = SnapshotError.posix(code, call: "write", path: "/backups/snap.part", what: "the snapshot file")
    #expect(error.code == expected)
    #expect(error.message.contains(mentions), "\(error.message)")
    #expect(error.message.contains("/backups/snap.part"))
    let cause = try #require(error.cause as? SystemCallError)
    #expect(cause.errno == code)
    #expect(cause.call == "write")
    #expect(cause.path == "/backups/snap.part")
  }

  @Test("full-disk and write-protection messages say what to do")
  func advice() {
    let full = SnapshotError.posix(ENOSPC, call: "write", path: "/x", what: "the snapshot file")
    #expect(full.message.contains("the snapshot file"))
    #expect(full.message.contains("--dir"))
    #expect(full.message.contains("No space left on device"))
    let readOnly = SnapshotError.posix(EROFS, call: "open", path: "/x", what: "the snapshot file")
    #expect(readOnly.message.contains("--dir"))
  }

  @Test("SystemFile.errnoText is strerror's text; SystemCallError describes call, path and text")
  func text() {
    #expect(SystemFile.errnoText(ENOSPC) == "No space left on device")
    #expect(SystemFile.errnoText(EROFS) == "Read-only file system")
    let cause = SnapshotError.posix(ENOENT, call: "open", path: "/x", what: "the snapshot file").cause as? SystemCallError
    #expect(cause?.description == "open /x: No such file or directory")
  }
}
