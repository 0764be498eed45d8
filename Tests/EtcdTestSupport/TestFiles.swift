import Foundation

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// True when something (a file, directory or even a dangling symlink) is at `path`.
package func exists(_ path: String) -> Bool {
  var st = stat()
  return lstat(path, &st) == 0
}

/// Permission bits of `path`, or nil when it does not exist.
package func permissions(_ path: String) -> mode_t? {
  var st = stat()
  guard lstat(path, &st) == 0 else { return nil }
  return st.st_mode & 0o7777
}

/// The bytes of a file, or nil when it cannot be read.
package func contents(_ path: String) -> [UInt8]? {
  FileManager.default.contents(atPath: path).map { Array($0) }
}

/// Writes a file with mode 0600, replacing any, or fails the set-up.
package func writeFile(_ path: String, _ bytes: [UInt8]) throws {
  let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
  guard fd >= 0 else { throw HarnessError("open \(path): \(String(cString: strerror(errno)))") }
  defer { close(fd) }
  let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
  guard written == bytes.count else { throw HarnessError("short write to \(path)") }
}

/// Sets a file's modification time (Unix seconds).
package func setModificationTime(_ path: String, _ seconds: Int) throws {
  var times = [timeval(tv_sec: seconds, tv_usec: 0), timeval(tv_sec: seconds, tv_usec: 0)]
  guard utimes(path, &times) == 0 else { throw HarnessError("utimes \(path): \(String(cString: strerror(errno)))") }
}

/// Names in a directory, sorted (hidden ones included).
package func listing(_ dir: String) -> [String] {
  ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).sorted()
}
