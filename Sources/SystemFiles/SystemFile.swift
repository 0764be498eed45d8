#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// The one file-system layer: every write-all loop, positioned read, fsync, directory fsync,
/// rename and errno text of the tool lives here. Callers keep their own descriptors (a bbolt
/// reader, a data dir writer, a snapshot file) and turn a `SystemCallError` into their own error.
package enum SystemFile {
  /// The text of an errno value, e.g. "No space left on device".
  package static func errnoText(_ code: Int32) -> String {
    guard let text = strerror(code) else { return "errno \(code)" }
    return String(cString: text)
  }

  /// `open(2)` with `O_CLOEXEC`; retries EINTR.
  package static func open(_ path: String, _ flags: Int32, mode: mode_t = 0o600) throws(SystemCallError) -> Int32 {
    while true {
      let fd = Glibc.open(path, flags | O_CLOEXEC, mode)
      if fd >= 0 { return fd }
      let code = errno
      if code != EINTR { throw SystemCallError(errno: code, call: "open", path: path) }
    }
  }

  /// Opens `path` for reading.
  package static func openForReading(_ path: String) throws(SystemCallError) -> Int32 {
    try open(path, O_RDONLY)
  }

  /// Creates `path` for writing with `mode`: a new file (`exclusive`, fails with EEXIST when
  /// it exists) or one truncated to zero. The mode is set again with `fchmod`, so the umask
  /// cannot widen or narrow it.
  package static func create(_ path: String, mode: mode_t = 0o600, exclusive: Bool = true) throws(SystemCallError) -> Int32 {
    let fd = try open(path, O_WRONLY | O_CREAT | (exclusive ? O_EXCL : O_TRUNC), mode: mode)
    _ = fchmod(fd, mode)
    return fd
  }

  /// Writes all of `bytes` at the descriptor's position; retries short writes and EINTR.
  package static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String) throws(SystemCallError) {
    guard var base = bytes.baseAddress else { return }
    var left = bytes.count
    while left > 0 {
      let n = Glibc.write(fd, base, left)
      if n < 0 {
        let code = errno
        if code == EINTR { continue }
        throw SystemCallError(errno: code, call: "write", path: path)
      }
      if n == 0 { throw SystemCallError(errno: EIO, call: "write", path: path) }
      left -= n
      base += n
    }
  }

  /// Writes all of `bytes` at the descriptor's position.
  package static func writeAll(_ fd: Int32, _ bytes: [UInt8], path: String) throws(SystemCallError) {
    let failure = bytes.withUnsafeBytes { raw in Result { () throws(SystemCallError) in try writeAll(fd, raw, path: path) } }
    try failure.get()
  }

  /// Writes all of `bytes` at `offset` (`pwrite(2)`); retries short writes and EINTR.
  package static func writeAll(_ fd: Int32, _ bytes: [UInt8], at offset: Int64, path: String) throws(SystemCallError) {
    let outcome = bytes.withUnsafeBytes { raw in Result { () throws(SystemCallError) in try pwriteAll(fd, raw, at: offset, path: path) } }
    try outcome.get()
  }

  private static func pwriteAll(_ fd: Int32, _ raw: UnsafeRawBufferPointer, at offset: Int64, path: String) throws(SystemCallError) {
    var done = 0
    while done < raw.count {
      let n = pwrite(fd, raw.baseAddress! + done, raw.count - done, off_t(offset + Int64(done)))
      if n < 0 {
        let code = errno
        if code == EINTR { continue }
        throw SystemCallError(errno: code, call: "write", path: path, offset: offset + Int64(done))
      }
      if n == 0 { throw SystemCallError(errno: EIO, call: "write", path: path, offset: offset + Int64(done)) }
      done += n
    }
  }

  /// Reads at the descriptor's position into `buffer`: the count read, 0 at the end of the file.
  package static func read(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, path: String) throws(SystemCallError) -> Int {
    while true {
      let n = Glibc.read(fd, buffer.baseAddress, buffer.count)
      if n >= 0 { return n }
      let code = errno
      if code != EINTR { throw SystemCallError(errno: code, call: "read", path: path) }
    }
  }

  /// Fills `buffer` from `offset` (`pread(2)`); fewer bytes only at the end of the file.
  package static func read(
    _ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, at offset: Int64, path: String
  ) throws(SystemCallError) -> Int {
    var filled = 0
    while filled < buffer.count {
      let n = pread(fd, buffer.baseAddress! + filled, buffer.count - filled, off_t(offset + Int64(filled)))
      if n < 0 {
        let code = errno
        if code == EINTR { continue }
        throw SystemCallError(errno: code, call: "read", path: path, offset: offset + Int64(filled))
      }
      if n == 0 { break }
      filled += n
    }
    return filled
  }

  /// Up to `count` bytes from `offset`; fewer only at the end of the file.
  package static func read(_ fd: Int32, count: Int, at offset: Int64, path: String) throws(SystemCallError) -> [UInt8] {
    var bytes = [UInt8](repeating: 0, count: count)
    let n = try bytes.withUnsafeMutableBytes { raw in
      Result { () throws(SystemCallError) in try read(fd, into: raw, at: offset, path: path) }
    }.get()
    if n < count { bytes.removeLast(count - n) }
    return bytes
  }

  /// The first `count` bytes of the file at `path` (fewer when it is shorter).
  package static func readHead(_ path: String, count: Int) throws(SystemCallError) -> [UInt8] {
    let fd = try openForReading(path)
    defer { Glibc.close(fd) }
    return try read(fd, count: count, at: 0, path: path)
  }

  /// The size of the open file.
  package static func size(_ fd: Int32, path: String) throws(SystemCallError) -> Int64 {
    var st = stat()
    guard fstat(fd, &st) == 0 else { throw SystemCallError(errno: errno, call: "fstat", path: path) }
    return Int64(st.st_size)
  }

  /// `fsync(2)`: the file's data and metadata are on disk.
  package static func sync(_ fd: Int32, path: String) throws(SystemCallError) {
    while fsync(fd) != 0 {
      let code = errno
      if code != EINTR { throw SystemCallError(errno: code, call: "fsync", path: path) }
    }
  }

  /// Closes the descriptor; an error here can mean lost data (NFS, a full disk).
  package static func close(_ fd: Int32, path: String) throws(SystemCallError) {
    if Glibc.close(fd) != 0 { throw SystemCallError(errno: errno, call: "close", path: path) }
  }

  /// Creates `path` (a new file, `mode`), writes `bytes` and fsyncs it.
  package static func writeNewFile(_ path: String, _ bytes: [UInt8], mode: mode_t = 0o600) throws(SystemCallError) {
    let fd = try create(path, mode: mode, exclusive: true)
    do {
      try writeAll(fd, bytes, path: path)
      try sync(fd, path: path)
    } catch {
      Glibc.close(fd)
      throw error
    }
    try close(fd, path: path)
  }

  /// fsyncs a directory, so that renames, creations and deletions in it are durable. File
  /// systems that cannot fsync a directory (EINVAL, ENOTSUP) are not a failure.
  package static func syncDirectory(_ dir: String) throws(SystemCallError) {
    let fd = try open(dir, O_RDONLY | O_DIRECTORY)
    defer { Glibc.close(fd) }
    if fsync(fd) != 0 {
      let code = errno
      if code != EINVAL && code != ENOTSUP { throw SystemCallError(errno: code, call: "fsync", path: dir) }
    }
  }

  /// fsyncs the directory that holds `path`.
  package static func syncDirectory(holding path: String) throws(SystemCallError) {
    try syncDirectory(parentDirectory(of: path))
  }

  /// `rename(2)`: atomic on one file system; EXDEV across two.
  package static func rename(_ from: String, to: String) throws(SystemCallError) {
    if Glibc.rename(from, to) != 0 { throw SystemCallError(errno: errno, call: "rename", path: from, target: to) }
  }

  /// The directory part of a path: "." for a bare name, "/" for a top-level entry; a trailing
  /// slash is not a component ("/a/b/" is in "/a").
  package static func parentDirectory(of path: String) -> String {
    var trimmed = Substring(path)
    while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }
    guard let slash = trimmed.lastIndex(of: "/") else { return "." }
    return slash == trimmed.startIndex ? "/" : String(trimmed[..<slash])
  }

  /// The last component of a path, a trailing slash ignored ("/a/b/" is "b").
  package static func baseName(_ path: String) -> String {
    var trimmed = Substring(path)
    while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }
    guard trimmed != "/", let slash = trimmed.lastIndex(of: "/") else { return String(trimmed) }
    return String(trimmed[trimmed.index(after: slash)...])
  }
}

/// A failed system call on a path, with its errno, so a caller can tell a full disk from a
/// missing file and say what to do.
package struct SystemCallError: Error, Sendable, Equatable, CustomStringConvertible {
  /// The errno value.
  package var errno: Int32
  /// The call that failed, e.g. `open`.
  package var call: String
  /// The path involved.
  package var path: String
  /// The second path of a rename.
  package var target: String?
  /// Where in the file a read or write failed.
  package var offset: Int64?

  package init(errno: Int32, call: String, path: String, target: String? = nil, offset: Int64? = nil) {
    self.errno = errno
    self.call = call
    self.path = path
    self.target = target
    self.offset = offset
  }

  /// "No space left on device"
  package var reason: String { SystemFile.errnoText(errno) }

  /// "open /x: No space left on device"
  package var description: String {
    if let target { return "\(call) \(path) to \(target): \(reason)" }
    return "\(call) \(path): \(reason)"
  }
}
