import SnapshotCore
import SystemFiles

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
    do {
      self.fd = try SystemFile.create(partPath, mode: 0o600, exclusive: true)
    } catch {
      if error.errno == EEXIST {
        throw SnapshotError(
          .cannotWrite,
          "\(partPath) already exists: another save may be running; if not, remove the stale file")
      }
      throw SnapshotError.posix(error, what: what)
    }
  }

  /// Appends bytes; retries short writes and EINTR.
  package mutating func write(_ bytes: UnsafeRawBufferPointer) throws(SnapshotError) {
    do { try SystemFile.writeAll(fd, bytes, path: partPath) } catch { throw SnapshotError.posix(error, what: what) }
  }

  /// Appends bytes from an array.
  package mutating func write(_ bytes: [UInt8]) throws(SnapshotError) {
    do { try SystemFile.writeAll(fd, bytes, path: partPath) } catch { throw SnapshotError.posix(error, what: what) }
  }

  /// Drops everything written so far (a download that has to start over).
  package mutating func truncate() throws(SnapshotError) {
    if ftruncate(fd, 0) != 0 || lseek(fd, 0, SEEK_SET) != 0 {
      let code = errno
      throw SnapshotError.posix(code, call: "ftruncate", path: partPath, what: what)
    }
  }

  /// fsyncs the data, renames the `.part` into place and fsyncs the directory.
  package mutating func commit() throws(SnapshotError) {
    try sync()
    try publish()
  }

  /// fsyncs and closes the `.part`; the file is complete on disk but not yet visible.
  package mutating func sync() throws(SnapshotError) {
    guard fd >= 0 else { return }
    do { try SystemFile.sync(fd, path: partPath) } catch { throw SnapshotError.posix(error, what: what) }
    let open = fd
    fd = -1
    do { try SystemFile.close(open, path: partPath) } catch { throw SnapshotError.posix(error, what: what) }
  }

  /// Renames the synced `.part` into place and fsyncs the directory.
  package mutating func publish() throws(SnapshotError) {
    try sync()
    var st = stat()
    if !replacing && lstat(path, &st) == 0 {
      throw SnapshotError(.cannotWrite, "\(path) appeared while \(what) was written; not overwriting it")
    }
    do { try SystemFile.rename(partPath, to: path) } catch { throw SnapshotError.posix(error, what: what) }
    committed = true
    try syncDirectory(holding: path)
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
package func syncDirectory(holding path: String) throws(SnapshotError) {
  try syncDirectory(SystemFile.parentDirectory(of: path))
}

/// fsyncs a directory, so that renames, creations and deletions in it are durable.
package func syncDirectory(_ dir: String) throws(SnapshotError) {
  do { try SystemFile.syncDirectory(dir) } catch { throw SnapshotError.posix(error, what: "the directory") }
}
