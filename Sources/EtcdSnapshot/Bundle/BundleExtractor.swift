import Foundation
import SnapshotCore
import SnapshotPipeline
import SystemFiles

#if canImport(Glibc)
  import Glibc
#endif

/// Reads a plain bundle (a tar file) and unpacks it into a folder, refusing what could write
/// outside it: absolute paths, `..`, paths through a link, links whose target leaves the
/// folder, hard links to anything but an earlier file of the archive, and device files or
/// FIFOs. Every member is checked before the first is written.
package enum BundleExtractor {
  /// The members of the tar file at `path`, each checked; throws on the first bad one.
  package static func check(_ path: String, address: String) throws(SnapshotError) -> [TarEntry] {
    var entries: [TarEntry] = []
    try read(path, address: address) { entry, _ throws(SnapshotError) in
      entries.append(entry)
    }
    // Links followed as the kernel will once all are there: `r -> .` then `a -> r/..` leaves.
    var targets: [String: String] = [:]
    for e in entries where e.kind == .symlink { targets[e.path] = e.linkTarget }
    for e in entries where e.kind == .symlink {
      guard resolve(e.linkTarget, from: e.path.split(separator: "/").dropLast().map(String.init), links: targets, depth: 0) != nil else {
        throw SnapshotError(
          .corrupt,
          "the bundle \(address) has a link \(quoted(e.path)) to \(quoted(e.linkTarget)), which leads outside the folder through its other links; nothing was unpacked"
        )
      }
    }
    return entries
  }

  /// The folder (as parts below the root) that `target` leads to from `folder`, following
  /// the archive's `links`; nil when it leaves the root or loops.
  static func resolve(_ target: String, from folder: [String], links: [String: String], depth: Int) -> [String]? {
    guard depth < 40, !target.hasPrefix("/") else { return nil }
    var stack = folder
    for part in target.split(separator: "/") {
      if part == "." { continue }
      if part == ".." {
        guard !stack.isEmpty else { return nil }
        stack.removeLast()
        continue
      }
      let candidate = stack + [String(part)]
      if let next = links[candidate.joined(separator: "/")] {
        guard let resolved = resolve(next, from: stack, links: links, depth: depth + 1) else { return nil }
        stack = resolved
      } else {
        stack = candidate
      }
    }
    return stack
  }

  /// Unpacks the tar file at `path` into `directory` (created 0700 when missing): files are
  /// written under a temporary name and renamed over what was there; modes are kept, and
  /// owners too when run as root. Returns the members.
  @discardableResult
  package static func extract(
    _ path: String, address: String, to directory: String, isStopped: @Sendable () -> Bool = { false }
  ) throws(SnapshotError) -> [TarEntry] {
    let entries = try check(path, address: address)
    var dir = directory
    while dir.count > 1 && dir.hasSuffix("/") { dir.removeLast() }
    if mkdir(dir, 0o700) != 0 && errno != EEXIST {
      let code = errno
      throw SnapshotError.posix(code, call: "mkdir", path: dir, what: "the folder for the bundle (--bundle-to)")
    }
    guard let real = realpath(dir, nil) else {
      let code = errno
      throw SnapshotError.posix(code, call: "realpath", path: dir, what: "the folder for the bundle (--bundle-to)")
    }
    let root = String(cString: real)
    free(real)
    let base = dir == "/" ? "" : dir
    let asRoot = geteuid() == 0
    var directories: [(String, TarEntry)] = []
    var written = 0
    try read(path, address: address) { entry, data throws(SnapshotError) in
      if isStopped() { throw SnapshotError(.cancelled, "stopped while unpacking the bundle into \(dir)") }
      let target = base + "/" + entry.path
      try checkParents(of: entry.path, base: base, root: root)
      switch entry.kind {
      case .directory:
        var st = stat()
        if lstat(target, &st) == 0 {
          guard st.st_mode & S_IFMT == S_IFDIR else {
            throw SnapshotError(.cannotWrite, "\(target) exists and is not a folder, but the bundle has a folder there: move it away")
          }
        } else if mkdir(target, 0o700) != 0 {
          let code = errno
          throw SnapshotError.posix(code, call: "mkdir", path: target, what: "a folder of the bundle")
        }
        directories.append((target, entry))
      case .file:
        let temporary = target + ".bundle-part-\(getpid())"
        let fd: Int32
        do throws(SystemCallError) { fd = try SystemFile.create(temporary, mode: 0o600) } catch {
          throw SnapshotError.posix(error, what: "a file of the bundle")
        }
        do throws(SnapshotError) {
          defer { _ = close(fd) }
          try data { chunk throws(SnapshotError) in
            do throws(SystemCallError) { try SystemFile.writeAll(fd, chunk, path: temporary) } catch {
              throw SnapshotError.posix(error, what: "a file of the bundle")
            }
          }
          if asRoot { _ = fchown(fd, entry.uid, entry.gid) }
          _ = fchmod(fd, mode_t(entry.mode & 0o7777))
          var times = [timespec(tv_sec: Int(entry.mtime), tv_nsec: 0), timespec(tv_sec: Int(entry.mtime), tv_nsec: 0)]
          _ = futimens(fd, &times)
          do throws(SystemCallError) { try SystemFile.sync(fd, path: temporary) } catch {
            throw SnapshotError.posix(error, what: "a file of the bundle")
          }
          try replace(temporary, target)
        } catch {
          _ = unlink(temporary)
          throw error
        }
      case .symlink:
        let temporary = target + ".bundle-part-\(getpid())"
        guard symlink(entry.linkTarget, temporary) == 0 else {
          let code = errno
          throw SnapshotError.posix(code, call: "symlink", path: temporary, what: "a link of the bundle")
        }
        if asRoot { _ = lchown(temporary, entry.uid, entry.gid) }
        do throws(SnapshotError) { try replace(temporary, target) } catch {
          _ = unlink(temporary)
          throw error
        }
      case .hardlink:
        let temporary = target + ".bundle-part-\(getpid())"
        guard link(base + "/" + entry.linkTarget, temporary) == 0 else {
          let code = errno
          throw SnapshotError.posix(code, call: "link", path: temporary, what: "a hard link of the bundle")
        }
        do throws(SnapshotError) { try replace(temporary, target) } catch {
          _ = unlink(temporary)
          throw error
        }
      case .special:
        throw SnapshotError(.internal, "a special file passed the bundle's check")
      }
      written += 1
    }
    // Folder modes last, deepest first: a read-only folder must not stop its own files.
    for (target, entry) in directories.reversed() {
      if asRoot { _ = lchown(target, entry.uid, entry.gid) }
      _ = chmod(target, mode_t(entry.mode & 0o7777))
    }
    _ = written
    return entries
  }

  /// Renames `temporary` over `target`, which must not be a folder.
  private static func replace(_ temporary: String, _ target: String) throws(SnapshotError) {
    var st = stat()
    if lstat(target, &st) == 0 && st.st_mode & S_IFMT == S_IFDIR {
      throw SnapshotError(.cannotWrite, "\(target) is a folder, but the bundle has a file there: move it away")
    }
    do { try SystemFile.rename(temporary, to: target) } catch { throw SnapshotError.posix(error, what: "a file of the bundle") }
  }

  /// Refuses a member whose parent folders, as they are on disk now, lead outside `root`
  /// (a link planted in the target folder, or one the archive made); makes missing ones.
  private static func checkParents(of path: String, base: String, root: String) throws(SnapshotError) {
    let parts = path.split(separator: "/").dropLast()
    var current = base
    for part in parts {
      current += "/" + part
      var st = stat()
      guard lstat(current, &st) == 0 else {
        // A folder the archive has no member for (`--bundle /etc/x` holds etc/x only): made
        // as tar makes it.
        guard mkdir(current, 0o755) == 0 || errno == EEXIST else {
          let code = errno
          throw SnapshotError.posix(code, call: "mkdir", path: current, what: "a folder of the bundle")
        }
        continue
      }
      if st.st_mode & S_IFMT == S_IFLNK {
        guard let real = realpath(current, nil) else {
          throw SnapshotError(.cannotWrite, "\(current) is a broken link in the way of the bundle's \(path): remove it")
        }
        let resolved = String(cString: real)
        free(real)
        guard root == "/" || resolved == root || resolved.hasPrefix(root + "/") else {
          throw SnapshotError(
            .cannotWrite,
            "\(current) is a link to \(resolved), outside \(root): the bundle's \(path) would be written there; nothing more was unpacked")
        }
      }
    }
  }

  /// A path inside the archive: relative, without `.`, `..` or empty parts; nil if bad.
  static func clean(_ path: String) -> String? {
    var p = Substring(path)
    while p.hasPrefix("./") { p = p.dropFirst(2) }
    while p.hasSuffix("/") { p = p.dropLast() }
    guard !p.isEmpty, !p.hasPrefix("/") else { return nil }
    let parts = p.split(separator: "/", omittingEmptySubsequences: false)
    guard parts.allSatisfy({ !$0.isEmpty && $0 != "." && $0 != ".." }) else { return nil }
    return parts.joined(separator: "/")
  }

  /// Where a link at `path` with `target` points, relative to the folder; nil when it leaves it.
  static func resolvedLink(at path: String, target: String) -> String? {
    guard !target.isEmpty, !target.hasPrefix("/") else { return nil }
    var stack = path.split(separator: "/").dropLast().map(String.init)
    for part in target.split(separator: "/") {
      if part == "." || part.isEmpty { continue }
      if part == ".." {
        guard !stack.isEmpty else { return nil }
        stack.removeLast()
      } else {
        stack.append(String(part))
      }
    }
    return stack.joined(separator: "/")
  }

  /// Reads every member of the tar file, checking each; `body` gets the member and, for a
  /// file, a function that streams its data.
  private static func read(
    _ path: String, address: String,
    _ body: (TarEntry, ((UnsafeRawBufferPointer) throws(SnapshotError) -> Void) throws(SnapshotError) -> Void) throws(SnapshotError) -> Void
  ) throws(SnapshotError) {
    let fd: Int32
    do { fd = try SystemFile.openForReading(path) } catch { throw SnapshotError.posix(error, what: "the bundle") }
    defer { _ = close(fd) }
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
    defer { buffer.deallocate() }
    func exactly(_ count: Int) throws(SnapshotError) -> [UInt8] {
      var out: [UInt8] = []
      out.reserveCapacity(count)
      while out.count < count {
        let n: Int
        do {
          n = try SystemFile.read(fd, into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<min(buffer.count, count - out.count)]), path: path)
        } catch { throw SnapshotError.posix(error, what: "the bundle") }
        guard n > 0 else { throw SnapshotError(.corrupt, "the bundle \(address) ends in the middle of a member: it is truncated") }
        out += UnsafeRawBufferPointer(rebasing: buffer[0..<n])
      }
      return out
    }
    func refuse(_ why: String) -> SnapshotError {
      SnapshotError(.corrupt, "the bundle \(address) \(why); nothing was unpacked")
    }
    var pax: [String: String] = [:]
    var longName: String?
    var longLink: String?
    var files: Set<String> = []
    var links: Set<String> = []
    var sawEnd = false
    while true {
      guard let raw = try TarFormat.parse(exactly(TarFormat.block)) else {
        sawEnd = true
        break
      }
      let size = Int64(pax["size"] ?? "") ?? raw.size
      guard size >= 0 else { throw refuse("has a member with a negative size") }
      switch raw.typeFlag {
      case UInt8(ascii: "x"), UInt8(ascii: "g"), UInt8(ascii: "L"), UInt8(ascii: "K"):
        guard size <= 1 << 20 else { throw refuse("has an extended header of \(size) bytes") }
        let data = try exactly(Int(size))
        _ = try exactly(TarEntry.padding(after: size))
        if raw.typeFlag == UInt8(ascii: "x") {
          pax = try TarFormat.paxRecords(data)
        } else if raw.typeFlag == UInt8(ascii: "L") {
          longName = String(decoding: data.prefix { $0 != 0 }, as: UTF8.self)
        } else if raw.typeFlag == UInt8(ascii: "K") {
          longLink = String(decoding: data.prefix { $0 != 0 }, as: UTF8.self)
        }
        continue
      default: break
      }
      let name = pax["path"] ?? longName ?? raw.name
      let linkTarget = pax["linkpath"] ?? longLink ?? raw.linkName
      pax = [:]
      longName = nil
      longLink = nil
      guard let clean = clean(name) else {
        throw refuse("has a member \(quoted(name)) whose path is absolute or has .. in it: it would be written outside the folder")
      }
      if let through = links.first(where: { clean.hasPrefix($0 + "/") }) {
        throw refuse("has a member \(quoted(clean)) under its own link \(quoted(through)): it could be written outside the folder")
      }
      let kind: TarEntry.Kind
      switch raw.typeFlag {
      case UInt8(ascii: "0"), 0, UInt8(ascii: "7"): kind = .file
      case UInt8(ascii: "5"): kind = .directory
      case UInt8(ascii: "2"): kind = .symlink
      case UInt8(ascii: "1"): kind = .hardlink
      default: kind = .special(raw.typeFlag)
      }
      var entry = TarEntry(path: clean, kind: kind, mode: raw.mode, size: kind == .file ? size : 0, mtime: raw.mtime, linkTarget: linkTarget)
      entry.uid = raw.uid
      entry.gid = raw.gid
      switch kind {
      case .special(let t):
        throw refuse(
          "has a device file or FIFO \(quoted(clean)) (type \(Character(UnicodeScalar(t)))): bundles hold files, folders and links only")
      case .symlink:
        guard resolvedLink(at: clean, target: linkTarget) != nil else {
          throw refuse("has a link \(quoted(clean)) to \(quoted(linkTarget)), which points outside the folder")
        }
        links.insert(clean)
      case .hardlink:
        guard let target = Self.clean(linkTarget), files.contains(target) else {
          throw refuse("has a hard link \(quoted(clean)) to \(quoted(linkTarget)), which is not a file earlier in the bundle")
        }
        entry.linkTarget = target
      case .file:
        files.insert(clean)
      case .directory: break
      }
      var consumed: Int64 = 0
      let dataSize = kind == .file ? size : 0
      try body(entry) { sink throws(SnapshotError) in
        while consumed < dataSize {
          let chunk = Int(min(Int64(buffer.count), dataSize - consumed))
          let n: Int
          do throws(SystemCallError) {
            n = try SystemFile.read(fd, into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<chunk]), path: path)
          } catch { throw SnapshotError.posix(error, what: "the bundle") }
          guard n > 0 else { throw SnapshotError(.corrupt, "the bundle \(address) ends in the middle of \(clean): it is truncated") }
          try sink(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
          consumed += Int64(n)
        }
      }
      // Data the body did not read (a check), then the padding.
      var skip = dataSize - consumed + Int64(TarEntry.padding(after: dataSize))
      while skip > 0 {
        let chunk = Int(min(Int64(buffer.count), skip))
        _ = try exactly(chunk)
        skip -= Int64(chunk)
      }
    }
    guard sawEnd else { throw refuse("has no end") }
  }
}
