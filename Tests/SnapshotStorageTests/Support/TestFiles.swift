import Foundation

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// A failure of the test's own set-up, reported as a test failure (never a skip).
struct SetupFailure: Error, CustomStringConvertible {
  var description: String
}

/// Runs `body` with a fresh empty directory under the system temporary directory, removed
/// afterwards.
func withTemporaryDirectory<T>(_ body: (String) throws -> T) throws -> T {
  var template = Array((NSTemporaryDirectory() + "/etcd-snapshot-tests.XXXXXX").utf8CString)
  guard let made = mkdtemp(&template) else {
    throw SetupFailure(description: "mkdtemp failed: \(String(cString: strerror(errno)))")
  }
  let dir = String(cString: made)
  defer { try? FileManager.default.removeItem(atPath: dir) }
  return try body(dir)
}

/// Runs `body` with a tmpfs mounted at a fresh directory (`mount -t tmpfs -o OPTIONS`), and
/// unmounts it afterwards. Fails (throws) when the mount cannot be made: these tests need root.
func withTmpfs<T>(options: String, _ body: (String) throws -> T) throws -> T {
  var template = Array((NSTemporaryDirectory() + "/etcd-snapshot-tmpfs.XXXXXX").utf8CString)
  guard let made = mkdtemp(&template) else {
    throw SetupFailure(description: "mkdtemp failed: \(String(cString: strerror(errno)))")
  }
  let mountPoint = String(cString: made)
  let (status, output) = run("mount", ["-t", "tmpfs", "-o", options, "tmpfs", mountPoint])
  guard status == 0 else {
    rmdir(mountPoint)
    throw SetupFailure(
      description: "`mount -t tmpfs -o \(options) tmpfs \(mountPoint)` failed (status \(status)): \(output); this test needs root")
  }
  defer {
    // Only remove the mount point once it is unmounted, never the files of a live mount.
    if run("umount", [mountPoint]).status == 0 { rmdir(mountPoint) }
  }
  return try body(mountPoint)
}

/// Runs a program found on PATH; returns its exit status and its output (stdout and stderr).
@discardableResult
func run(_ program: String, _ arguments: [String]) -> (status: Int32, output: String) {
  let process = Process()
  process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
  process.arguments = [program] + arguments
  let pipe = Pipe()
  process.standardOutput = pipe
  process.standardError = pipe
  do { try process.run() } catch { return (-1, "\(error)") }
  let data = pipe.fileHandleForReading.readDataToEndOfFile()
  process.waitUntilExit()
  return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}

/// True when something (a file, directory or even a dangling symlink) is at `path`.
func exists(_ path: String) -> Bool {
  var st = stat()
  return lstat(path, &st) == 0
}

/// Permission bits of `path`, or nil when it does not exist.
func permissions(_ path: String) -> mode_t? {
  var st = stat()
  guard lstat(path, &st) == 0 else { return nil }
  return st.st_mode & 0o7777
}

/// The bytes of a file, or nil when it cannot be read.
func contents(_ path: String) -> [UInt8]? {
  FileManager.default.contents(atPath: path).map { Array($0) }
}

/// Writes a file with mode 0600, replacing any, or fails the set-up.
func writeFile(_ path: String, _ bytes: [UInt8]) throws {
  let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
  guard fd >= 0 else { throw SetupFailure(description: "open \(path): \(String(cString: strerror(errno)))") }
  defer { close(fd) }
  let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
  guard written == bytes.count else { throw SetupFailure(description: "short write to \(path)") }
}

/// Sets a file's modification time (Unix seconds).
func setModificationTime(_ path: String, _ seconds: Int) throws {
  var times = [timeval(tv_sec: seconds, tv_usec: 0), timeval(tv_sec: seconds, tv_usec: 0)]
  guard utimes(path, &times) == 0 else {
    throw SetupFailure(description: "utimes \(path): \(String(cString: strerror(errno)))")
  }
}

/// Names in a directory, sorted (hidden ones included).
func listing(_ dir: String) -> [String] {
  ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).sorted()
}

/// Deterministic pseudo-random bytes.
func pseudoRandomBytes(_ count: Int, seed: UInt64) -> [UInt8] {
  var state = seed
  var out: [UInt8] = []
  out.reserveCapacity(count)
  while out.count < count {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    z ^= z >> 31
    for shift in stride(from: 0, to: 64, by: 8) where out.count < count {
      out.append(UInt8(truncatingIfNeeded: z >> UInt64(shift)))
    }
  }
  return out
}
