import EtcdTestSupport
import Foundation
import PropertyBased
import SystemFiles
import Testing

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

@Suite("SystemFile: the one file-system layer")
struct SystemFileTests {
  @Test(
    "parentDirectory and baseName split a path; a trailing slash is not a component",
    arguments: [
      ("/a/b/c", "/a/b", "c"), ("/a", "/", "a"), ("a", ".", "a"), ("a/b", "a", "b"), ("/a/b/", "/a", "b"),
      ("/var/lib/etcd//", "/var/lib", "etcd"), ("/", "/", "/"),
    ])
  func split(path: String, parent: String, base: String) {
    #expect(SystemFile.parentDirectory(of: path) == parent)
    #expect(SystemFile.baseName(path) == base)
  }

  @Test("parent + \"/\" + base names the same entry, for any path of plain components")
  func splitLaw() async {
    let component = Gen.int(in: 0...2).map { ["a", "etcd", "member"][$0] }
    await propertyCheck(count: 300, input: component.array(of: 1...5), Gen.bool, Gen.bool) { parts, absolute, trailing in
      let path = (absolute ? "/" : "") + parts.joined(separator: "/") + (trailing ? "/" : "")
      let parent = SystemFile.parentDirectory(of: path)
      let joined = parent == "/" ? "/" + SystemFile.baseName(path) : parent + "/" + SystemFile.baseName(path)
      let expected = (absolute ? "/" : (parts.count == 1 ? "./" : "")) + parts.joined(separator: "/")
      #expect(joined == expected, "\(path)")
    }
  }

  @Test("what writeAll and writeAll(at:) write, read and read(at:) give back, in chunks of any size")
  func roundTrip() async throws {
    let dir = try TemporaryDirectory(prefix: "systemfile")
    let bytes = Gen.int(in: 0...255).map { UInt8($0) }.array(of: 0...5000)
    var round = 0
    await propertyCheck(count: 60, input: bytes, Gen.int(in: 1...700)) { data, chunk in
      round += 1
      let path = dir.appending("f\(round)")
      do {
        try SystemFile.writeNewFile(path, data)
        #expect(try SystemFile.readHead(path, count: data.count + 10) == data)
        let fd = try SystemFile.openForReading(path)
        defer { close(fd) }
        #expect(try SystemFile.size(fd, path: path) == Int64(data.count))
        var back: [UInt8] = []
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunk, alignment: 8)
        defer { buffer.deallocate() }
        while true {
          let n = try SystemFile.read(fd, into: buffer, path: path)
          if n == 0 { break }
          back += UnsafeRawBufferPointer(rebasing: buffer[0..<n])
        }
        #expect(back == data)
        let copy = dir.appending("g\(round)")
        let out = try SystemFile.create(copy, mode: 0o640, exclusive: true)
        var offset = 0
        while offset < data.count {
          let end = min(offset + chunk, data.count)
          try SystemFile.writeAll(out, Array(data[offset..<end]), at: Int64(offset), path: copy)
          offset = end
        }
        try SystemFile.sync(out, path: copy)
        try SystemFile.close(out, path: copy)
        #expect(try SystemFile.readHead(copy, count: data.count) == data)
      } catch {
        Issue.record("\(error)")
      }
    }
  }

  @Test("create sets the mode whatever the umask; exclusive refuses an existing file, truncating empties it")
  func createModes() throws {
    let dir = try TemporaryDirectory(prefix: "systemfile")
    let path = dir.appending("snap")
    let old = umask(0o077)
    defer { umask(old) }
    try SystemFile.writeNewFile(path, [1, 2, 3], mode: 0o644)
    var st = stat()
    #expect(stat(path, &st) == 0 && st.st_mode & 0o777 == 0o644)
    let error = #expect(throws: SystemCallError.self) { try SystemFile.create(path, exclusive: true) }
    #expect(error?.errno == EEXIST)
    #expect(error?.description == "open \(path): File exists")
    let fd = try SystemFile.create(path, mode: 0o600, exclusive: false)
    try SystemFile.close(fd, path: path)
    #expect(try SystemFile.readHead(path, count: 10) == [])
  }

  @Test("errors carry the call, the path, the errno and its text")
  func errors() throws {
    let dir = try TemporaryDirectory(prefix: "systemfile")
    let missing = #expect(throws: SystemCallError.self) { try SystemFile.openForReading(dir.appending("none")) }
    #expect(missing?.errno == ENOENT)
    #expect(missing?.call == "open")
    #expect(missing?.reason == "No such file or directory")
    let rename = #expect(throws: SystemCallError.self) { try SystemFile.rename(dir.appending("none"), to: dir.appending("x")) }
    #expect(rename?.description == "rename \(dir.appending("none")) to \(dir.appending("x")): No such file or directory")
    let notDir = #expect(throws: SystemCallError.self) { try SystemFile.syncDirectory(dir.appending("none")) }
    #expect(notDir?.errno == ENOENT)
    try SystemFile.syncDirectory(dir.path)
    try SystemFile.writeNewFile(dir.appending("a"), [7])
    try SystemFile.rename(dir.appending("a"), to: dir.appending("b"))
    try SystemFile.syncDirectory(holding: dir.appending("b"))
    #expect(try SystemFile.readHead(dir.appending("b"), count: 1) == [7])
  }

  @Test("a full file system is ENOSPC from writeAll, at the offset where it stopped")
  func fullDisk() throws {
    let mount = try TmpfsMount(options: "size=64k")
    let path = mount.path + "/big"
    let fd = try SystemFile.create(path)
    defer { close(fd) }
    let error = #expect(throws: SystemCallError.self) {
      try SystemFile.writeAll(fd, [UInt8](repeating: 1, count: 1 << 20), at: 0, path: path)
    }
    #expect(error?.errno == ENOSPC)
    #expect((error?.offset ?? 0) > 0 && (error?.offset ?? Int64.max) <= 64 * 1024)
  }
}
