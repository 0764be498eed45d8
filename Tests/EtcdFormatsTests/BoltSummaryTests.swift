import EtcdFormats
import EtcdTestSupport
import Testing

/// The summary compared with what real etcd 3.4.23 and 3.5.1 say about their own files.
@Suite("BoltSummary: real etcd files")
struct BoltSummaryTests {
  static let etcdBuckets = [
    "alarm", "auth", "authRoles", "authUsers", "cluster", "key", "lease", "members", "members_removed", "meta",
  ].map { Array($0.utf8) }

  @Test("an empty etcd: revision 0 as `snapshot status` says (endpoint status says 1)", arguments: EtcdRelease.allCases)
  func emptySnapshot(release: EtcdRelease) async throws {
    let f = try await EtcdFixtures.shared.fixtures(release)
    let s = try withTemporaryFile(f.emptySnapshot) { path in try BoltSummary.read(path: path) }
    #expect(f.emptyStatus.revision == 0)
    #expect(f.emptyEndpointRevision == 1)
    #expect(s.revision == f.emptyStatus.revision)
    #expect(s.databaseSize == f.emptyStatus.totalSize)
    #expect(s.fileSize == f.emptyStatus.totalSize + 32)
    #expect(s.hasTrailer)
    #expect(s.pageSize == 4096)
    #expect(s.databaseSize == Int64(s.highWaterMark) * 4096)
  }

  @Test("a written etcd: revision, totalSize, trailer, key bucket depth", arguments: EtcdRelease.allCases)
  func fullSnapshot(release: EtcdRelease) async throws {
    let f = try await EtcdFixtures.shared.fixtures(release)
    try withTemporaryFile(f.fullSnapshot) { path in
      let reader = try BoltFileReader(path: path)
      reader.recordsPageIDs = true
      let s = try BoltSummary.read(reader)
      #expect(s.revision == f.fullStatus.revision)
      #expect(s.revision == f.lastWriteRevision)
      #expect(s.databaseSize == f.fullStatus.totalSize)
      #expect(s.fileSize == s.databaseSize + 32)
      #expect(s.hasTrailer)
      #expect(s.pageSize == 4096)

      // Bounded: the meta pages, the root bucket's page, then one page per level of `key`.
      let pages = s.highWaterMark
      #expect(pages > 300)
      let depth = reader.pageIDsRead.count - 1
      #expect(depth >= 2, "the key bucket should have branch pages")
      #expect(depth <= 4)
      #expect(reader.pagesRead == 2 + 1 + depth)
      #expect(reader.bytesRead <= Int64(8 * s.pageSize), "read \(reader.bytesRead) bytes of \(s.fileSize)")

      print(
        "etcd \(release.rawValue): \(pages) pages, txid \(s.txid), revision \(s.revision ?? -1), key bucket depth \(depth);",
        "summary read \(reader.pagesRead) pages, \(reader.bytesRead) bytes of \(s.fileSize)")
      let key = try #require(try reader.bucket(named: Array("key".utf8)))
      #expect(try reader.rootPage(of: key).isBranch)
    }
  }

  @Test("a member/snap/db copied after stopping etcd: no trailer, same figures", arguments: EtcdRelease.allCases)
  func copiedDB(release: EtcdRelease) async throws {
    let f = try await EtcdFixtures.shared.fixtures(release)
    let s = try withTemporaryFile(f.copiedDB) { path in try BoltSummary.read(path: path) }
    #expect(!s.hasTrailer)
    #expect(s.fileSize == s.databaseSize)
    #expect(s.databaseSize == f.copiedStatus.totalSize)
    #expect(s.revision == f.copiedStatus.revision)
    #expect(s.revision == f.lastWriteRevision)
  }

  @Test("buckets and key counts agree with etcd (a full walk of every bucket)", arguments: EtcdRelease.allCases)
  func fullWalk(release: EtcdRelease) async throws {
    let f = try await EtcdFixtures.shared.fixtures(release)
    for (bytes, status) in [
      (f.emptySnapshot, f.emptyStatus), (f.fullSnapshot, f.fullStatus), (f.copiedDB, f.copiedStatus),
    ] {
      try withTemporaryFile(bytes) { path in
        let reader = try BoltFileReader(path: path)
        #expect(try reader.bucketNames() == Self.etcdBuckets)
        // etcd 3.4/3.5 totalKey: key/value pairs summed over all buckets.
        var total = 0
        for name in try reader.bucketNames() {
          let bucket = try #require(try reader.bucket(named: name))
          try reader.forEach(in: bucket) { (_, element) throws(FormatError) in
            if !element.isBucket { total += 1 }
          }
        }
        #expect(total == status.totalKey)
      }
    }
  }
}
