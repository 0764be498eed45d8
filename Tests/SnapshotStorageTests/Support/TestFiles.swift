import EtcdTestSupport
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

/// Runs `body` with a fresh empty directory, removed afterwards.
func withTemporaryDirectory<T>(_ body: (String) throws -> T) throws -> T {
  let dir = try TemporaryDirectory(prefix: "storage")
  return try withExtendedLifetime(dir) { try body(dir.path) }
}

/// Runs `body` with a tmpfs mounted with `options`, unmounted afterwards; throws (failing the
/// test) when the mount cannot be made.
func withTmpfs<T>(options: String, _ body: (String) throws -> T) throws -> T {
  let mount = try TmpfsMount(options: options)
  return try body(mount.path)
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
  var rng = SplitMix64(state: seed)
  return (0..<count).map { _ in UInt8.random(in: 0...255, using: &rng) }
}
