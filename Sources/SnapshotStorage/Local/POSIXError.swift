import SnapshotCore

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// The text of an errno value, e.g. "No space left on device".
package func errnoText(_ code: Int32) -> String {
  guard let text = strerror(code) else { return "errno \(code)" }
  return String(cString: text)
}

/// An errno that carries its value, so a caller can tell a full disk from a missing file.
package struct POSIXFailure: Error, Sendable, CustomStringConvertible {
  /// The errno value.
  package var errno: Int32
  /// The call that failed, e.g. `open`.
  package var call: String
  /// The path involved.
  package var path: String

  /// "open /x: No space left on device"
  package var description: String { "\(call) \(path): \(errnoText(errno))" }
}

extension SnapshotError {
  /// Turns a failed system call on `path` into an error that says what to do.
  ///
  /// `what` names the thing being written ("the snapshot file") for the message.
  package static func posix(_ code: Int32, call: String, path: String, what: String) -> SnapshotError {
    let cause = POSIXFailure(errno: code, call: call, path: path)
    switch code {
    case ENOSPC, EDQUOT:
      return SnapshotError(
        .cannotWrite,
        "no space left for \(what) at \(path) (\(errnoText(code))): free space on that file system or choose another --dir",
        cause: cause)
    case EROFS:
      return SnapshotError(
        .cannotWrite,
        "cannot write \(what): \(path) is on a read-only file system; choose a writable --dir",
        cause: cause)
    case EACCES, EPERM:
      return SnapshotError(
        .cannotWrite,
        "permission denied writing \(what) at \(path): run as a user who may write there or choose another --dir",
        cause: cause)
    case ENOTDIR:
      return SnapshotError(
        .cannotWrite,
        "cannot write \(what): a part of \(path) is a file, not a directory; choose another --dir",
        cause: cause)
    case ENOENT:
      return SnapshotError(.notFound, "\(path) does not exist (\(call))", cause: cause)
    default:
      return SnapshotError(.io, "\(call) \(path) failed: \(errnoText(code))", cause: cause)
    }
  }
}
