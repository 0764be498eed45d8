import EtcdTestSupport
import SnapshotCore
import SnapshotStorage
import Testing

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

@Suite("AtomicFile: written under .part, renamed into place on commit")
struct AtomicFileTests {
  @Test("nothing at the final path until commit; the .part is 0600 and holds what was written")
  func whileWriting() throws {
    try withTemporaryDirectory { dir in
      let path = dir + "/on-demand-n-1"
      var file = try AtomicFile(path: path, what: "the test file")
      #expect(file.path == path)
      #expect(file.partPath == path + ".part")
      #expect(!exists(path))
      #expect(permissions(path + ".part") == 0o600)
      try file.write([1, 2, 3])
      try file.write([4])
      #expect(!exists(path))
      #expect(contents(path + ".part") == [1, 2, 3, 4])
      #expect(listing(dir) == ["on-demand-n-1.part"])
      file.abort()
    }
  }

  @Test("after commit the file has every byte, mode 0600, and no .part is left")
  func commit() throws {
    try withTemporaryDirectory { dir in
      let path = dir + "/snap"
      let bytes = pseudoRandomBytes(3 * 1024 * 1024 + 17, seed: 1)
      var file = try AtomicFile(path: path, what: "the test file")
      // In uneven pieces, through both write entry points.
      var offset = 0
      var piece = 1
      while offset < bytes.count {
        let end = min(bytes.count, offset + piece)
        if piece % 2 == 0 {
          try file.write(Array(bytes[offset..<end]))
        } else {
          // A raw buffer made outside a closure: a typed-throws closure here crashes Swift 6.3.1's IRGen.
          let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: end - offset, alignment: 1)
          defer { buffer.deallocate() }
          buffer.copyBytes(from: bytes[offset..<end])
          try file.write(UnsafeRawBufferPointer(buffer))
        }
        offset = end
        piece = piece * 3 + 1
      }
      try file.write([UInt8]())
      try file.commit()
      #expect(contents(path) == bytes)
      #expect(permissions(path) == 0o600)
      #expect(!exists(path + ".part"))
      #expect(listing(dir) == ["snap"])
    }
  }

  @Test("sync() then publish() is a commit done in two steps")
  func syncThenPublish() throws {
    try withTemporaryDirectory { dir in
      let path = dir + "/snap"
      var file = try AtomicFile(path: path, what: "the test file")
      try file.write([9, 8, 7])
      try file.sync()
      #expect(!exists(path))
      #expect(contents(path + ".part") == [9, 8, 7])
      try file.publish()
      #expect(contents(path) == [9, 8, 7])
      #expect(!exists(path + ".part"))
    }
  }

  @Test("an empty file commits as an empty file")
  func emptyCommit() throws {
    try withTemporaryDirectory { dir in
      var file = try AtomicFile(path: dir + "/empty", what: "the test file")
      try file.commit()
      #expect(contents(dir + "/empty") == [])
      #expect(listing(dir) == ["empty"])
    }
  }

  @Test("abort removes the .part and leaves nothing; a second abort is harmless")
  func abort() throws {
    try withTemporaryDirectory { dir in
      var file = try AtomicFile(path: dir + "/snap", what: "the test file")
      try file.write(pseudoRandomBytes(100_000, seed: 2))
      file.abort()
      #expect(listing(dir) == [])
      file.abort()
      #expect(listing(dir) == [])
    }
  }

  @Test("dropping the value without commit removes the .part")
  func deinitWithoutCommit() throws {
    try withTemporaryDirectory { dir in
      do {
        var file = try AtomicFile(path: dir + "/snap", what: "the test file")
        try file.write([1, 2, 3])
        #expect(exists(dir + "/snap.part"))
      }
      #expect(listing(dir) == [])
      do {
        var file = try AtomicFile(path: dir + "/synced", what: "the test file")
        try file.write([1])
        try file.sync()
      }
      #expect(listing(dir) == [])
    }
  }

  @Test("abort or drop after commit keeps the committed file")
  func abortAfterCommit() throws {
    try withTemporaryDirectory { dir in
      do {
        var file = try AtomicFile(path: dir + "/snap", what: "the test file")
        try file.write([5])
        try file.commit()
        file.abort()
      }
      #expect(contents(dir + "/snap") == [5])
      #expect(listing(dir) == ["snap"])
    }
  }

  @Test("refuses when the final path exists, and leaves it and the directory as they were")
  func refusesExistingFinal() throws {
    try withTemporaryDirectory { dir in
      let path = dir + "/snap"
      try writeFile(path, [1, 1, 1])
      let error = try #require(throws: SnapshotError.self) { _ = try AtomicFile(path: path, what: "the test file") }
      #expect(error.code == .cannotWrite)
      #expect(error.message.contains(path))
      #expect(error.message.contains("already exists"))
      #expect(contents(path) == [1, 1, 1])
      #expect(listing(dir) == ["snap"])
    }
  }

  @Test("refuses when the final path is a dangling symlink")
  func refusesDanglingSymlink() throws {
    try withTemporaryDirectory { dir in
      let path = dir + "/snap"
      #expect(symlink(dir + "/nowhere", path) == 0)
      let error = try #require(throws: SnapshotError.self) { _ = try AtomicFile(path: path, what: "the test file") }
      #expect(error.code == .cannotWrite)
      #expect(!exists(dir + "/nowhere"))
      #expect(listing(dir) == ["snap"])
    }
  }

  @Test("refuses when the .part exists (another writer) and does not remove that writer's file")
  func refusesExistingPart() throws {
    try withTemporaryDirectory { dir in
      let path = dir + "/snap"
      try writeFile(path + ".part", [7, 7])
      let error = try #require(throws: SnapshotError.self) { _ = try AtomicFile(path: path, what: "the test file") }
      #expect(error.code == .cannotWrite)
      #expect(error.message.contains(path + ".part"))
      #expect(contents(path + ".part") == [7, 7])
      #expect(!exists(path))
    }
  }

  @Test("two writers of one name: the second is refused, the first still commits")
  func twoWriters() throws {
    try withTemporaryDirectory { dir in
      let path = dir + "/snap"
      var first = try AtomicFile(path: path, what: "the test file")
      try first.write([1])
      #expect(throws: SnapshotError.self) { _ = try AtomicFile(path: path, what: "the test file") }
      try first.write([2])
      try first.commit()
      #expect(contents(path) == [1, 2])
    }
  }

  @Test("a file that appears at the final path while writing is not overwritten")
  func appearedWhileWriting() throws {
    try withTemporaryDirectory { dir in
      let path = dir + "/snap"
      do {
        var file = try AtomicFile(path: path, what: "the test file")
        try file.write([1, 2, 3])
        try writeFile(path, [9])
        let error = try #require(throws: SnapshotError.self) { try file.commit() }
        #expect(error.code == .cannotWrite)
        #expect(contents(path) == [9])
      }
      #expect(listing(dir) == ["snap"])
      #expect(contents(path) == [9])
    }
  }

  @Test("a missing directory is an error naming the path, and creates nothing")
  func missingDirectory() throws {
    try withTemporaryDirectory { dir in
      let error = try #require(throws: SnapshotError.self) {
        _ = try AtomicFile(path: dir + "/missing/snap", what: "the test file")
      }
      #expect(error.message.contains(dir + "/missing/snap"))
      #expect(listing(dir) == [])
    }
  }

  @Test("a full file system: cannotWrite saying 'no space', and no .part once aborted")
  func fullDisk() throws {
    try withTmpfs(options: "size=64k") { mount in
      let path = mount + "/snap"
      var file = try AtomicFile(path: path, what: "the snapshot file")
      let chunk = pseudoRandomBytes(16 * 1024, seed: 3)
      var failure: SnapshotError?
      for _ in 0..<64 {  // 1 MiB in all, far more than fits
        do throws(SnapshotError) {
          try file.write(chunk)
        } catch {
          failure = error
          break
        }
      }
      if failure == nil {
        do throws(SnapshotError) { try file.commit() } catch { failure = error }
      }
      let error = try #require(failure, "1 MiB was written to a 64 KiB tmpfs without an error")
      #expect(error.code == .cannotWrite)
      #expect(error.message.lowercased().contains("no space"), "\(error.message)")
      #expect(error.message.contains(path))
      file.abort()
      #expect(listing(mount) == [])
    }
  }
}
