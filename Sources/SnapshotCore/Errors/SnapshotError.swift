/// The one error type that crosses module boundaries.
///
/// `message` says what happened and what to do about it, in words a user of etcdctl or k3s
/// understands; `code` is the kind of failure; the executable maps it to an exit status (and the agent
/// will map it to an HTTP status).
package struct SnapshotError: Error, Sendable, CustomStringConvertible {
  /// What kind of failure this is.
  package enum Code: String, Sendable, CaseIterable, Codable {
    /// A flag, variable or configuration value is wrong.
    case invalidConfiguration
    /// No endpoint could be reached, or none is a healthy voting member.
    case unavailable
    /// A TLS handshake failed: wrong CA, bad or unreadable certificate or key.
    case tls
    /// Wrong user name or password, or the user lacks the role the call needs.
    case permissionDenied
    /// A snapshot stream or file is not what etcd promised (checksum, size, format).
    case corrupt
    /// The snapshot stream ended early (etcd died, the connection broke).
    case interrupted
    /// The named snapshot does not exist.
    case notFound
    /// The destination cannot be written: full disk, read-only or missing permissions.
    case cannotWrite
    /// Any other input/output failure.
    case io
    /// A bug or an unexpected state; the message says what was going on.
    case `internal`
    /// Stopped on request (SIGINT, SIGTERM); whatever was half-done has been removed.
    case cancelled
    /// Another run holds the snapshot directory (a save, prune or delete); try again later.
    case busy
  }

  /// The kind of failure.
  package var code: Code
  /// What happened and how to fix it.
  package var message: String
  /// The lower-level error, when there is one; shown only in verbose output.
  package var cause: (any Error & Sendable)?

  /// Makes an error; `message` should name the problem and the fix.
  package init(_ code: Code, _ message: String, cause: (any Error & Sendable)? = nil) {
    self.code = code
    self.message = message
    self.cause = cause
  }

  /// The message alone: causes can carry paths or server text, never secrets.
  package var description: String { message }
}

extension SnapshotError {
  /// `error` itself when it is a `SnapshotError`, else an internal error naming it.
  package static func wrapping(_ error: any Error) -> SnapshotError {
    if let e = error as? SnapshotError { return e }
    if error is CancellationError { return SnapshotError(.cancelled, "stopped on request") }
    return SnapshotError(.internal, "\(error)")
  }
}
