import EtcdFormats
import EtcdTestSupport
import Testing

/// Damaged copies of real etcd snapshots: every one gives a summary or a FormatError, never a crash.
@Suite("BoltSummary: damaged files")
struct BoltCorruptionTests {
  /// Reads a summary, turning the typed error into a value.
  static func outcome(_ path: String) -> Result<BoltFileSummary, FormatError> {
    do {
      return .success(try BoltSummary.read(path: path))
    } catch {
      return .failure(error)
    }
  }

  static func expectError(
    _ result: Result<BoltFileSummary, FormatError>, _ fragment: String,
    sourceLocation: SourceLocation = #_sourceLocation
  ) {
    switch result {
    case .success(let s):
      Issue.record("expected an error containing \"\(fragment)\", got \(s)", sourceLocation: sourceLocation)
    case .failure(let e):
      #expect(e.message.contains(fragment), "\(e)", sourceLocation: sourceLocation)
    }
  }

  @Test("truncated, random, empty, foreign files", arguments: EtcdRelease.allCases)
  func wholeFileDamage(release: EtcdRelease) async throws {
    let f = try await EtcdFixtures.shared.fixtures(release)
    let bytes = f.fullSnapshot
    let original = try withTemporaryFile(bytes) { try BoltSummary.read(path: $0) }

    // Lost the trailer and a page: truncated (the meta pages still say how long it must be).
    for cut in [32 + 4096, bytes.count / 2, 3 * 4096] {
      let r = try withTemporaryFile(Array(bytes.dropLast(cut))) { Self.outcome($0) }
      Self.expectError(r, "truncated: the database needs \(original.databaseSize) bytes")
      if case .failure(let e) = r { #expect(e.offset == Int64(bytes.count - cut)) }
    }
    // Lost part of the trailer: 16 stray bytes after the database.
    Self.expectError(
      try withTemporaryFile(Array(bytes.dropLast(16))) { Self.outcome($0) }, "16 unexpected bytes after the database")
    // Lost exactly the trailer: a plain db, as etcd would see it.
    let noTrailer = try withTemporaryFile(Array(bytes.dropLast(32))) { try BoltSummary.read(path: $0) }
    #expect(!noTrailer.hasTrailer)
    #expect(noTrailer.revision == original.revision)

    var rng = SplitMix64(state: 0xB01D)
    let random = (0..<65536).map { _ in UInt8.random(in: 0...255, using: &rng) }
    let r = try withTemporaryFile(random) { Self.outcome($0) }
    Self.expectError(r, "not a bbolt database: bad magic")
    Self.expectError(r, "is this an etcd snapshot or member/snap/db file?")

    let text = Array(String(repeating: "{\"level\":\"info\",\"msg\":\"not a database\"}\n", count: 300).utf8)
    Self.expectError(
      try withTemporaryFile(text) { Self.outcome($0) },
      "not a bbolt database: bad magic 0x67736d22 (expected 0xed0cdaed) at meta page 0")

    Self.expectError(try withTemporaryFile([]) { Self.outcome($0) }, "empty file")
    Self.expectError(try withTemporaryFile(Array(bytes[0..<100])) { Self.outcome($0) }, "file is 100 bytes, too short")
    Self.expectError(
      try withTemporaryFile(Array(bytes[0..<5000])) { Self.outcome($0) }, "file is 5000 bytes, too short")
  }

  @Test(
    "a damaged meta page: the other one is used, as bbolt does; both damaged: an error", arguments: EtcdRelease.allCases
  )
  func metaDamage(release: EtcdRelease) async throws {
    let f = try await EtcdFixtures.shared.fixtures(release)
    let file = try ScratchFile(f.fullSnapshot)
    let original = try BoltSummary.read(path: file.path)
    let t = original.txid

    // Every single-bit flip in the decoded part of each meta page (header + 64-byte meta).
    for page in 0..<2 {
      for offset in 0..<80 {
        for bit in 0..<8 {
          let r = file.withFlippedBit(at: page * 4096 + offset, bit: bit) { Self.outcome(file.path) }
          guard case .success(let s) = r else {
            Issue.record("flip at page \(page) byte \(offset) bit \(bit): \(r)")
            continue
          }
          // count and overflow of a meta page header are not read by bbolt; all else invalidates the meta.
          let ignored = (10..<16).contains(offset)
          let expectedTxid = page == 0 && !ignored ? t - 1 : t
          #expect(s.txid == expectedTxid, "flip at page \(page) byte \(offset) bit \(bit)")
          #expect(s.revision == original.revision)
          #expect(s.databaseSize == original.databaseSize)
        }
      }
    }

    // Both metas damaged (checksum of 0, version of 1).
    file.overwrite([file.original[72] ^ 0xFF], at: 72)
    file.overwrite([0x03], at: 4096 + 20)
    let r = Self.outcome(file.path)
    Self.expectError(r, "both bbolt meta pages are invalid (meta page 0: checksum mismatch")
    Self.expectError(r, "meta page 1 (at byte 4096): unsupported bbolt version 3 (expected 2)")
    if case .failure(let e) = r { #expect(e.pageID == 0) }
  }

  @Test("random truncations: a summary or a FormatError, never a crash", arguments: EtcdRelease.allCases)
  func randomTruncations(release: EtcdRelease) async throws {
    let f = try await EtcdFixtures.shared.fixtures(release)
    for bytes in [f.fullSnapshot, f.emptySnapshot] {
      let file = try ScratchFile(bytes)
      var rng = SplitMix64(state: 0x7E57 &+ UInt64(bytes.count))
      var lengths = (0..<150).map { _ in Int.random(in: 0..<bytes.count, using: &rng) }
      lengths += [0, 1, 15, 16, 19, 20, 79, 80, 4095, 4096, 8191, 8192, 8193, bytes.count - 33, bytes.count - 1]
      for length in lengths {
        let r = file.withLength(length) { Self.outcome(file.path) }
        switch r {
        case .success(let s):
          // Only a cut of exactly the trailer leaves a valid (plain) database.
          #expect(length == bytes.count - 32, "cut to \(length) of \(bytes.count) bytes gave \(s)")
        case .failure(let e):
          #expect(!e.message.isEmpty)
        }
      }
    }
  }

  @Test(
    "random bit flips anywhere and on the pages read: never a crash; unread bytes never matter",
    arguments: EtcdRelease.allCases)
  func randomFlips(release: EtcdRelease) async throws {
    let f = try await EtcdFixtures.shared.fixtures(release)
    let bytes = f.fullSnapshot
    let file = try ScratchFile(bytes)
    let reader = try BoltFileReader(path: file.path)
    reader.recordsPageIDs = true
    let original = try BoltSummary.read(reader)

    // The byte ranges the summary may look at: meta structs, and the pages on its path.
    var readRanges: [Range<Int>] = [0..<80, 4096..<(4096 + 80)]
    for id in reader.pageIDsRead {
      let start = Int(id) * 4096
      let overflow = Int(bytes[start + 12]) | Int(bytes[start + 13]) << 8 | Int(bytes[start + 14]) << 16
      readRanges.append(start..<(start + (overflow + 1) * 4096))
    }
    func isRead(_ offset: Int) -> Bool { readRanges.contains { $0.contains(offset) } }

    var rng = SplitMix64(state: 0xF11B)
    var errors = 0
    // 1500 flips on the bytes the summary reads, 1500 anywhere in the file.
    for round in 0..<3000 {
      let offset: Int
      if round % 2 == 0 {
        let range = readRanges[Int.random(in: 0..<readRanges.count, using: &rng)]
        offset = Int.random(in: range, using: &rng)
      } else {
        offset = Int.random(in: 0..<bytes.count, using: &rng)
      }
      let bit = Int.random(in: 0..<8, using: &rng)
      let r = file.withFlippedBit(at: offset, bit: bit) { Self.outcome(file.path) }
      switch r {
      case .success(let s):
        if !isRead(offset) {
          #expect(s == original, "flip at byte \(offset) bit \(bit) changed the summary without being read")
        }
      case .failure(let e):
        errors += 1
        #expect(isRead(offset), "flip at byte \(offset) bit \(bit) outside the read path failed: \(e)")
        #expect(!e.message.isEmpty)
      }
    }
    #expect(errors > 0, "no flip was ever detected")
  }
}
