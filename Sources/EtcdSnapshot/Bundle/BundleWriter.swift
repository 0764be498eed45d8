import Crypto
import Foundation
import SnapshotCore
import SnapshotPipeline
import SnapshotStorage
import SystemFiles

#if canImport(Glibc)
  import Glibc
#endif

/// What a bundle will hold: each path on disk with its path in the archive, checked before
/// etcd is asked for a snapshot (a missing required file costs no snapshot).
package struct BundlePlan: Sendable, Equatable {
  package struct Item: Sendable, Equatable {
    /// Where it is on this machine.
    package var source: String
    /// Its path in the archive: the absolute path below the root, without the leading `/`.
    package var archivePath: String
  }

  package var items: [Item]
  /// Optional preset paths that were not there, for a note.
  package var missing: [String]

  /// The plan for `configuration`: its preset's paths under the root, then `--bundle` paths.
  /// A missing `--bundle` path or required preset path throws.
  package static func make(_ configuration: BundleConfiguration) throws(SnapshotError) -> BundlePlan {
    var items: [Item] = []
    var missing: [String] = []
    let root = configuration.root.hasSuffix("/") ? String(configuration.root.dropLast()) : configuration.root
    if let preset = configuration.preset {
      for item in preset.items {
        let base = root + "/" + item.path
        if let component = item.latestRevisionOf {
          let names = (try? FileManager.default.contentsOfDirectory(atPath: base)) ?? []
          let latest = names.compactMap { n in BundlePreset.revision(of: n, component: component).map { ($0, n) } }.max { $0.0 < $1.0 }
          guard let latest else {
            throw SnapshotError(
              .notFound,
              "--bundle-preset \(preset.rawValue): no \(component)-pod-N folder in \(base): is this an OpenShift control-plane node? (give --bundle-root if its disk is mounted elsewhere)"
            )
          }
          items.append(Item(source: base + "/" + latest.1, archivePath: item.path + "/" + latest.1))
          continue
        }
        var st = stat()
        if lstat(base, &st) != 0 {
          if item.required {
            throw SnapshotError(
              .notFound,
              "--bundle-preset \(preset.rawValue) needs \(base), which does not exist: is this a \(preset.rawValue) server node? (give --bundle-root if its disk is mounted elsewhere)"
            )
          }
          missing.append(base)
          continue
        }
        items.append(Item(source: base, archivePath: item.path))
      }
    }
    for path in configuration.paths {
      var trimmed = path
      while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed.removeLast() }
      var st = stat()
      guard lstat(trimmed, &st) == 0 else {
        let code = errno
        throw SnapshotError(.notFound, "--bundle \(path): \(SystemFile.errnoText(code)); give files or folders that exist")
      }
      let relative = trimmed.split(separator: "/").joined(separator: "/")
      guard !relative.isEmpty, !relative.split(separator: "/").contains("..") else {
        throw SnapshotError(.invalidConfiguration, "--bundle \(path): give a file or folder below /, without ..")
      }
      items.append(Item(source: trimmed, archivePath: relative))
    }
    return BundlePlan(items: items, missing: missing)
  }
}

/// Writes a bundle: the plan's files as a pax tar, through the compression and encryption
/// stages, into `<dir>/<name>.part`, published when complete.
package enum BundleWriter {
  /// Writes the bundle `fileName` into `store` and publishes it; returns its record
  /// (without the encryption fields, which the caller knows). Nothing is left on failure.
  package static func write(
    _ plan: BundlePlan, into store: LocalSnapshotStore, fileName: String, stages: StageChain, isStopped: @Sendable () -> Bool
  ) throws(SnapshotError) -> BundleRecord {
    var file = try AtomicFile(path: store.path(of: fileName), what: "the bundle")
    var storedHash = SHA256()
    var storedSize: Int64 = 0
    var contentHash = SHA256()
    var contentSize: Int64 = 0
    var entries = 0
    func keep(_ raw: UnsafeRawBufferPointer) throws {
      guard !raw.isEmpty else { return }
      storedHash.update(bufferPointer: raw)
      storedSize += Int64(raw.count)
      try file.write(raw)
    }
    func emit(_ bytes: UnsafeRawBufferPointer) throws {
      contentHash.update(bufferPointer: bytes)
      contentSize += Int64(bytes.count)
      try stages.update(bytes, keep)
    }
    func emit(_ bytes: [UInt8]) throws { try bytes.withUnsafeBytes { try emit($0) } }
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
    defer { buffer.deallocate() }

    // A path given (k3s's node-token is a link to token) is followed; links inside folders are kept.
    func add(_ source: String, as archivePath: String, follow: Bool = false) throws {
      if isStopped() { throw SnapshotError(.cancelled, "stopped while writing the bundle; nothing was saved") }
      var st = stat()
      guard (follow ? stat(source, &st) : lstat(source, &st)) == 0 else {
        let code = errno
        throw SnapshotError.posix(code, call: "lstat", path: source, what: "a file of the bundle")
      }
      let mode = UInt32(st.st_mode & 0o7777)
      let mtime = Int64(st.st_mtim.tv_sec)
      func entry(_ kind: TarEntry.Kind, mode: UInt32, size: Int64 = 0, link: String = "") -> TarEntry {
        var e = TarEntry(path: archivePath, kind: kind, mode: mode, size: size, mtime: mtime, linkTarget: link)
        e.uid = st.st_uid
        e.gid = st.st_gid
        return e
      }
      switch st.st_mode & S_IFMT {
      case S_IFDIR:
        try emit(TarFormat.headers(entry(.directory, mode: mode)))
        entries += 1
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: source).sorted() } catch {
          throw SnapshotError(
            .permissionDenied, "cannot read the folder \(source) for the bundle: \(error.localizedDescription); run as a user who can (root)")
        }
        for name in names { try add(source + "/" + name, as: archivePath + "/" + name) }
      case S_IFLNK:
        var target = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlink(source, &target, Int(PATH_MAX))
        guard n >= 0 else {
          let code = errno
          throw SnapshotError.posix(code, call: "readlink", path: source, what: "a link of the bundle")
        }
        let text = String(decoding: target[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        try emit(TarFormat.headers(entry(.symlink, mode: 0o777, link: text)))
        entries += 1
      case S_IFREG:
        let fd = open(source, O_RDONLY | (follow ? 0 : O_NOFOLLOW) | O_CLOEXEC)
        guard fd >= 0 else {
          let code = errno
          throw SnapshotError(
            code == EACCES ? .permissionDenied : .io,
            "cannot read \(source) for the bundle: \(SystemFile.errnoText(code)); run as a user who can read it (root)")
        }
        defer { _ = close(fd) }
        let size = Int64(st.st_size)
        try emit(TarFormat.headers(entry(.file, mode: mode, size: size)))
        var left = size
        while left > 0 {
          let n: Int
          do { n = try SystemFile.read(fd, into: buffer, path: source) } catch {
            throw SnapshotError.posix(error, what: "a file of the bundle")
          }
          guard n > 0 else { break }
          let take = Int(min(Int64(n), left))
          try emit(UnsafeRawBufferPointer(rebasing: buffer[0..<take]))
          left -= Int64(take)
          if Int64(n) > Int64(take) { break }
        }
        var now = stat()
        guard left == 0, fstat(fd, &now) == 0, Int64(now.st_size) == size else {
          throw SnapshotError(.interrupted, "\(source) changed size while it was archived into the bundle; nothing was saved: try again")
        }
        try emit([UInt8](repeating: 0, count: TarEntry.padding(after: size)))
        entries += 1
      default:
        throw SnapshotError(
          .invalidConfiguration,
          "--bundle: \(source) is not a file, folder or symbolic link (a device, socket or FIFO): leave it out of the bundle")
      }
    }

    do {
      for item in plan.items { try add(item.source, as: item.archivePath, follow: true) }
      try emit(TarFormat.end)
      try stages.finish(keep)
      try file.sync()
      try file.publish()
    } catch {
      file.abort()
      throw SnapshotError.wrapping(error)
    }
    var record = BundleRecord(
      name: fileName, path: store.path(of: fileName), size: storedSize, sha256: hex(storedHash.finalize()), contentSize: contentSize,
      contentSHA256: hex(contentHash.finalize()), entries: entries)
    record.compression = nil
    return record
  }
}
