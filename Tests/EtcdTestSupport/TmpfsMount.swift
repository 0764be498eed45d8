import Foundation

/// A tmpfs mounted for one test (the tests run as root), unmounted when released.
///
/// Used to make a full disk (`size=512k`) or a read-only file system (`ro`) for real.
/// A mount that cannot be made throws: the test fails, it is never skipped.
package final class TmpfsMount: Sendable {
  private let directory: TemporaryDirectory

  /// The mount point.
  package var path: String { directory.appending("mnt") }

  /// Mounts `tmpfs -o OPTIONS` (e.g. `size=512k,mode=0755` or `ro,size=64k`).
  package init(options: String) throws {
    directory = try TemporaryDirectory(prefix: "tmpfs")
    try FileManager.default.createDirectory(atPath: directory.appending("mnt"), withIntermediateDirectories: true)
    let r = try TestProcess.run("/bin/mount", ["-t", "tmpfs", "-o", options, "tmpfs", directory.appending("mnt")])
    guard r.status == 0 else {
      throw HarnessError("`mount -t tmpfs -o \(options)` failed (these tests need root): \(r)")
    }
  }

  /// Remounts read-only or read-write.
  package func remount(readOnly: Bool) throws {
    try TestProcess.check("/bin/mount", ["-o", "remount,\(readOnly ? "ro" : "rw")", path])
  }

  deinit { _ = try? TestProcess.run("/bin/umount", ["-l", directory.appending("mnt")]) }
}
