import EtcdFormats
import EtcdTestSupport
import Testing

@Suite("BoltMeta: decoding, validation, choice")
struct BoltMetaTests {
  let builder = BoltImageBuilder()

  @Test("FNV-1a 64 test vectors")
  func fnv() {
    #expect(BoltMeta.fnv1a64([]) == 0xCBF2_9CE4_8422_2325)
    #expect(BoltMeta.fnv1a64(Array("a".utf8)) == 0xAF63_DC4C_8601_EC8C)
    #expect(BoltMeta.fnv1a64(Array("foobar".utf8)) == 0x8594_4171_F739_67E8)
  }

  @Test("a well-formed meta page decodes field by field")
  func decode() throws {
    let page = builder.metaPage(id: 1, root: 3, txid: 77)
    let meta = try BoltMeta.decodeValid(page: page, pageID: 1).get()
    #expect(meta.magic == BoltMeta.magic)
    #expect(meta.version == 2)
    #expect(meta.pageSize == 4096)
    #expect(meta.rootPageID == 3)
    #expect(meta.freelistPageID == BoltMeta.noFreelist)
    #expect(meta.highWaterMark == 2)
    #expect(meta.txid == 77)
    #expect(meta.checksum == meta.computedChecksum)
    #expect(meta.header == BoltPageHeader(BoltImageBuilder.header(id: 1, flags: 4, count: 0, overflow: 0), at: 0))
  }

  @Test("bad magic, version, checksum, zero checksum, page header, page size are rejected")
  func rejections() {
    var page = builder.metaPage(id: 0, root: 3, txid: 1)
    page[16] ^= 0xFF
    #expect(BoltMeta.decodeValid(page: page, pageID: 0) == .failure(.badMagic(found: 0xED0C_DA12)))

    page = builder.metaPage(id: 0, root: 3, txid: 1)
    page[20] = 3
    guard case .failure(.badVersion(3)) = BoltMeta.decodeValid(page: page, pageID: 0) else {
      Issue.record("version 3 accepted")
      return
    }

    page = builder.metaPage(id: 0, root: 3, txid: 1)
    page[64] ^= 1  // txid, covered by the checksum
    guard case .failure(.badChecksum) = BoltMeta.decodeValid(page: page, pageID: 0) else {
      Issue.record("checksum mismatch accepted")
      return
    }

    // bbolt 1.3.6 let a zero checksum pass; 1.3.7+ and this reader do not.
    page = builder.metaPage(id: 0, root: 3, txid: 1, checksum: 0)
    guard case .failure(.badChecksum(stored: 0, _)) = BoltMeta.decodeValid(page: page, pageID: 0) else {
      Issue.record("zero checksum accepted")
      return
    }

    // The page says it is meta page 1 but sits at page 0.
    page = builder.metaPage(id: 1, root: 3, txid: 1)
    #expect(BoltMeta.decodeValid(page: page, pageID: 0) == .failure(.badPageHeader(id: 1, flags: 4)))

    var odd = BoltImageBuilder(pageSize: 3000)
    odd.add(BoltImageBuilder.leafImage([]))
    #expect(
      BoltMeta.decodeValid(page: odd.metaPage(id: 0, root: 2, txid: 1), pageID: 0)
        == .failure(.badPageSize(found: 3000)))

    #expect(BoltMeta.decodeValid(page: Array(page[0..<40]), pageID: 0) == .failure(.tooShort(available: 40)))
  }

  @Test("the valid meta with the higher txid is active; a damaged one falls back to the other")
  func choice() throws {
    let m0 = BoltMeta.decodeValid(page: builder.metaPage(id: 0, root: 3, txid: 10), pageID: 0)
    let m1 = BoltMeta.decodeValid(page: builder.metaPage(id: 1, root: 3, txid: 9), pageID: 1)
    let bad: Result<BoltMeta, BoltMetaProblem> = .failure(.badChecksum(stored: 1, computed: 2))
    #expect(BoltMeta.active(m0, m1)?.txid == 10)
    #expect(BoltMeta.active(m1, m0)?.txid == 10)
    #expect(BoltMeta.active(bad, m1)?.txid == 9)
    #expect(BoltMeta.active(m0, bad)?.txid == 10)
    #expect(BoltMeta.active(bad, bad) == nil)
    // Equal txids: page 0 wins, as in bbolt.
    let n1 = BoltMeta.decodeValid(page: builder.metaPage(id: 1, root: 3, txid: 10), pageID: 1)
    #expect(BoltMeta.active(m0, n1)?.pageID == 0)
  }

  @Test(
    "real etcd snapshots: meta 0 has txid T, meta 1 has T-1, no freelist, 4 KiB pages", arguments: EtcdRelease.allCases)
  func realMetas(release: EtcdRelease) async throws {
    let fixtures = try await EtcdFixtures.shared.fixtures(release)
    for bytes in [fixtures.emptySnapshot, fixtures.fullSnapshot] {
      let m0 = try BoltMeta.decodeValid(page: Array(bytes[0..<4096]), pageID: 0).get()
      let m1 = try BoltMeta.decodeValid(page: Array(bytes[4096..<8192]), pageID: 1).get()
      #expect(m0.pageSize == 4096)
      #expect(m0.txid == m1.txid + 1)
      #expect(m0.rootPageID == m1.rootPageID)
      #expect(m0.highWaterMark == m1.highWaterMark)
      #expect(m0.freelistPageID == BoltMeta.noFreelist)
      #expect(m0.rootSequence == 0)
    }
  }
}
