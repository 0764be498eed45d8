import Foundation
import SnapshotCore
import SystemFiles

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// The advisory lock of a snapshot directory: `DIR/.lock`, held with `flock` by whoever saves,
/// prunes or deletes there, so that two of them never run on one directory at once.
///
/// The kernel drops a `flock` when its process ends, however it ends: a lock file left by a
/// killed run is not held, and the next holder knows every `.part` it finds is debris. The
/// file holds the holder's pid and purpose, for the message that another one gets.
package final class DirectoryLock: Sendable {
  /// The lock file.
  package let path: String
  private let fd: Int32

  private init(path: String, fd: Int32) {
    self.path = path
    self.fd = fd
  }

  deinit { close(fd) }

  /// The lock file of `directory`.
  package static func path(in directory: String) -> String { directory + "/.lock" }

  /// Takes the lock of `directory` for `purpose` (such as `snapshot save`), waiting for it up
  /// to `wait` (nil or zero: fail at once). With `optional`, a missing directory gives nil
  /// (there is nothing to protect) instead of an error.
  package static func acquire(
    directory: String, purpose: String, wait: Duration? = nil, optional: Bool = false
  ) async throws(SnapshotError) -> DirectoryLock? {
    let path = path(in: directory)
    let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
    if fd < 0 {
      let code = errno
      if optional && code == ENOENT { return nil }
      throw SnapshotError.posix(code, call: "open", path: path, what: "the lock of the snapshot directory")
    }
    let deadline = ContinuousClock.now + (wait ?? .zero)
    while flock(fd, LOCK_EX | LOCK_NB) != 0 {
      let code = errno
      if code == EINTR { continue }
      guard code == EWOULDBLOCK else {
        close(fd)
        throw SnapshotError.posix(code, call: "flock", path: path, what: "the lock of the snapshot directory")
      }
      guard ContinuousClock.now < deadline else {
        let holder = Self.holder(fd)
        close(fd)
        let waited = wait.map { $0 > .zero ? " (waited \(GoDuration.format($0)))" : "" } ?? ""
        throw SnapshotError(
          .busy,
          "\(purpose) is not possible now: \(holder.map { "\($0) " } ?? "another etcd-snapshot ")holds \(directory)\(waited): snapshot save already in progress; wait for it to end, or give --wait-lock DURATION"
        )
      }
      do { try await Task.sleep(for: .milliseconds(100)) } catch {
        close(fd)
        throw SnapshotError(.cancelled, "stopped while waiting for the lock of \(directory)")
      }
    }
    let owner = Array("pid \(getpid()) (\(purpose))\n".utf8)
    _ = ftruncate(fd, 0)
    _ = owner.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
    return DirectoryLock(path: path, fd: fd)
  }

  /// What the lock file says of its holder (`pid 123 (snapshot save)`), if anything.
  private static func holder(_ fd: Int32) -> String? {
    var buffer = [UInt8](repeating: 0, count: 200)
    let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
    guard n > 0 else { return nil }
    let text = String(decoding: buffer.prefix(n), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    return text.isEmpty ? nil : escapedForTerminal(text)
  }
}
