import SnapshotCore

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

extension SnapshotError {
  /// Turns a failed system call into an error that says what to do; `what` names the thing
  /// being written or read ("the snapshot file"). The `SystemCallError` is kept as the cause.
  package static func posix(_ failure: SystemCallError, what: String) -> SnapshotError {
    let code = failure.errno
    let path = failure.path
    switch code {
    case ENOSPC, EDQUOT:
      return SnapshotError(
        .cannotWrite,
        "no space left for \(what) at \(path) (\(failure.reason)): free space on that file system or choose another --dir",
        cause: failure)
    case EROFS:
      return SnapshotError(
        .cannotWrite, "cannot write \(what): \(path) is on a read-only file system; choose a writable --dir", cause: failure)
    case EACCES, EPERM:
      return SnapshotError(
        .cannotWrite, "permission denied writing \(what) at \(path): run as a user who may write there or choose another --dir",
        cause: failure)
    case ENOTDIR:
      return SnapshotError(
        .cannotWrite, "cannot write \(what): a part of \(path) is a file, not a directory; choose another --dir", cause: failure)
    case ENOENT:
      return SnapshotError(.notFound, "\(path) does not exist (\(failure.call))", cause: failure)
    default:
      return SnapshotError(.io, "\(failure.call) \(path) failed: \(failure.reason)", cause: failure)
    }
  }

  /// `posix(_:what:)` for an errno read right after a call.
  package static func posix(_ code: Int32, call: String, path: String, what: String) -> SnapshotError {
    posix(SystemCallError(errno: code, call: call, path: path), what: what)
  }
}
