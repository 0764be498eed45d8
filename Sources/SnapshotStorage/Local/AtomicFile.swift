import SnapshotCore

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// A file written under `<path>.part` and renamed into place only once complete and on disk.
///
/// Until `commit()` nobody listing the directory sees the file. `abort()` (or dropping the value
/// without committing) removes the `.part`. Files are created 0600 and never replace an existing
/// `.part` (`O_EXCL`), so two writers cannot interleave.
package struct AtomicFile: ~Copyable {
  /// Final path.
  package let path: String
  /// Temporary path (`path + ".part"`).
  package let partPath: String
  /// What is written, for messages ("the snapshot file").
  package let what: String
  private var fd: Int32
  private var committed = false
  private let replacing: Bool

  /// Creates `<path>.part`; fails if it or (unless `replacing`) `path` already exists.
  ///
  /// With `replacing`, publishing atomically swaps the new content in for the old file.
  package init(path: String, what: String, replacing: Bool = false) throws(SnapshotError) {
    self.path = path
    self.partPath = path + ".part"
    self.what = what
    self.replacing = replacing
    var st = stat()
    if !replacing && lstat(path, &st) == 0 {
      throw SnapshotError(.cannotWrite, "\(path) already exists: refusing to overwrite \(what); delete it or wait a second so the name changes")
    }
    let fd = open(partPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
    if fd < 0 {
      let code = errno
      if code == EEXIST {
        throw SnapshotError(
          .cannotWrite,
          "\(partPath) already exists: another save may be running; if not, remove the stale file")
      }
      throw SnapshotError.posix(code, call: "open", path: partPath, what: what)
    }
    self.fd = fd
  }

  /// Appends bytes; retries short writes and EINTR.
  package mutating func write(_ bytes: UnsafeRawBufferPointer) throws(SnapshotError) {
    let code = Self.writeAll(fd, bytes)
    if code != 0 { throw SnapshotError.posix(code, call: "write", path: partPath, what: what) }
  }

  /// Appends bytes from an array.
  package mutating func write(_ bytes: [UInt8]) throws(SnapshotError) {
    let fd = self.fd
    let code = bytes.withUnsafeBytes { Self.writeAll(fd, $0) }
    if code != 0 { throw SnapshotError.posix(code, call: "write", path: partPath, what: what) }
  }

  /// Drops everything written so far (a download that has to start over).
  package mutating func truncate() throws(SnapshotError) {
    if ftruncate(fd, 0) != 0 || lseek(fd, 0, SEEK_SET) != 0 {
      let code = errno
      throw SnapshotError.posix(code, call: "ftruncate", path: partPath, what: what)
    }
  }

  /// Writes everything or returns the errno that stopped it (0 on success).
  private static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> Int32 {
    guard var base = bytes.baseAddress else { return 0 }
    var left = bytes.count
    while left > 0 {
      let n = Glibc.write(fd, base, left)
      if n < 0 {
        if errno == EINTR { continue }
        return errno
      }
      if n == 0 { return EIO }
      left -= n
      base += n
    }
    return 0
  }

  /// fsyncs the data, renames the `.part` into place and fsyncs the directory.
  package mutating func commit() throws(SnapshotError) {
    try sync()
    try publish()
  }

  /// fsyncs and closes the `.part`; the file is complete on disk but not yet visible.
  package mutating func sync() throws(SnapshotError) {
    guard fd >= 0 else { return }
    if fsync(fd) != 0 {
      let code = errno
      throw SnapshotError.posix(code, call: "fsync", path: partPath, what: what)
    }
    let closeResult = close(fd)
    fd = -1
    if closeResult != 0 {
      let code = errno
      throw SnapshotError.posix(code, call: "close", path: partPath, what: what)
    }
  }

  /// Renames the synced `.part` into place and fsyncs the directory.
  package mutating func publish() throws(SnapshotError) {
    try sync()
    var st = stat()
    if !replacing && lstat(path, &st) == 0 {
      throw SnapshotError(.cannotWrite, "\(path) appeared while \(what) was written; not overwriting it")
    }
    if rename(partPath, path) != 0 {
      let code = errno
      throw SnapshotError.posix(code, call: "rename", path: path, what: what)
    }
    committed = true
    try syncDirectory(of: path)
  }

  /// Closes and removes the `.part`; safe to call more than once.
  package mutating func abort() {
    if fd >= 0 {
      close(fd)
      fd = -1
    }
    if !committed { unlink(partPath) }
  }

  deinit {
    if fd >= 0 { close(fd) }
    if !committed { unlink(partPath) }
  }
}

/// fsyncs the directory holding `path`, so that a rename or create in it is durable.
package func syncDirectory(of path: String) throws(SnapshotError) {
  try syncDirectory(parentDirectory(of: path))
}

/// fsyncs a directory, so that renames, creations and deletions in it are durable.
package func syncDirectory(_ dir: String) throws(SnapshotError) {
  let dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
  if dfd < 0 {
    let code = errno
    throw SnapshotError.posix(code, call: "open", path: dir, what: "the directory")
  }
  defer { close(dfd) }
  if fsync(dfd) != 0 {
    let code = errno
    // Some file systems do not support fsync on directories; that is not a failure to write.
    if code != EINVAL && code != ENOTSUP {
      throw SnapshotError.posix(code, call: "fsync", path: dir, what: "the directory")
    }
  }
}

/// The directory part of a path ("." for a bare name).
package func parentDirectory(of path: String) -> String {
  guard let slash = path.lastIndex(of: "/") else { return "." }
  if slash == path.startIndex { return "/" }
  return String(path[..<slash])
}
