/// A problem in a file's bytes, with where it is.
///
/// `message` says what is wrong and, where it helps, what to do about it. `pageID` and
/// `offset` locate the problem when it has a place in the file; both are `nil` for problems
/// of the file as a whole (for example one that cannot be opened).
package struct FormatError: Error, Sendable, Equatable, CustomStringConvertible {
  /// The file the problem is in, as it was given.
  package var path: String
  /// What is wrong, and what to do (e.g. "not a bbolt database: bad magic …; is this an etcd snapshot?").
  package var message: String
  /// The bbolt page the problem is in, if any.
  package var pageID: UInt64?
  /// The byte offset of the problem in the file, if any.
  package var offset: Int64?
  /// True when the file being written failed (disk full, read-only, permissions), not the
  /// bytes being read: the fix is on the target's side, not another input.
  package var isWriteFailure = false
  /// True when the work was stopped on request (SIGINT, SIGTERM), not by a problem.
  package var isCancellation = false

  /// Makes an error for `path`; `pageID` and `offset` locate it when known.
  package init(path: String, message: String, pageID: UInt64? = nil, offset: Int64? = nil) {
    self.path = path
    self.message = message
    self.pageID = pageID
    self.offset = offset
  }

  /// `"<path>: <message> (page P, byte O)"`; the parenthesis lists only what is known.
  package var description: String {
    var location: [String] = []
    if let pageID { location.append("page \(pageID)") }
    if let offset { location.append("byte \(offset)") }
    let suffix = location.isEmpty ? "" : " (" + location.joined(separator: ", ") + ")"
    return "\(path): \(message)\(suffix)"
  }
}
