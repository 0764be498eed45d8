/// The meta structure of a bbolt meta page (pages 0 and 1), decoded but not yet trusted.
///
/// Layout (little-endian, at byte 16 of the page, after the page header):
/// magic u32 · version u32 · pageSize u32 · flags u32 · root pgid u64 · root sequence u64 ·
/// freelist pgid u64 · high-water pgid u64 · txid u64 · checksum u64 (FNV-1a 64 over the
/// 56 bytes before it). Use `validate()` before believing any field, and
/// `BoltMeta.active(_:_:)` to pick the one bbolt would use.
package struct BoltMeta: Sendable, Equatable {
  /// bbolt's magic number, stored as the bytes `ED DA 0C ED`.
  package static let magic: UInt32 = 0xED0C_DAED
  /// The only file format version bbolt (and so etcd) writes and reads.
  package static let version: UInt32 = 2
  /// `freelist` value meaning "no freelist page" (etcd always opens bbolt this way on Linux).
  package static let noFreelist: UInt64 = .max
  /// Where the meta structure starts in its page (right after the 16-byte page header).
  package static let offsetInPage = 16
  /// Bytes of a meta page that must exist to decode it: page header + 64-byte meta.
  package static let pageBytesNeeded = 80
  /// How many bytes of the meta structure the checksum covers.
  package static let checksummedByteCount = 56
  /// Smallest page size accepted; etcd's size rule (`size % 512`) assumes pages of at least 512 bytes.
  package static let minimumPageSize = 512
  /// Largest page size accepted; bbolt itself only probes for pages up to 16 MiB.
  package static let maximumPageSize = 1 << 24

  /// The page this meta was read from (0 or 1).
  package var pageID: UInt64
  /// The page header in front of the meta structure.
  package var header: BoltPageHeader
  /// Must be `BoltMeta.magic`.
  package var magic: UInt32
  /// Must be `BoltMeta.version` (2).
  package var version: UInt32
  /// Size of every page in the file, in bytes (the OS page size of the machine that made it).
  package var pageSize: UInt32
  /// Unused by bbolt; 0.
  package var flags: UInt32
  /// Page id of the root bucket's root page (a leaf or branch whose elements are the top-level buckets).
  package var rootPageID: UInt64
  /// The root bucket's sequence counter; 0 in etcd files.
  package var rootSequence: UInt64
  /// Page id of the freelist page, or `BoltMeta.noFreelist`.
  package var freelistPageID: UInt64
  /// The high-water mark: the first page id past the used part of the file.
  package var highWaterMark: UInt64
  /// The id of the transaction that wrote this meta.
  package var txid: UInt64
  /// The stored FNV-1a 64 checksum of the first 56 meta bytes.
  package var checksum: UInt64
  /// The FNV-1a 64 checksum computed over the stored bytes (equal to `checksum` when intact).
  package var computedChecksum: UInt64

  /// Decodes the meta page `pageID` from `page`, its first bytes (at least 80 are needed).
  ///
  /// Never fails on content: every field is taken as stored, and `validate()` judges it. Fails
  /// only with `.tooShort` (fewer than 80 bytes) or `.badMagic` (at least the magic was there).
  package static func decode(page: [UInt8], pageID: UInt64) -> Result<BoltMeta, BoltMetaProblem> {
    let base = offsetInPage
    if page.count >= base + 4 {
      let magic = BoltLE.u32(page, base)
      if magic != BoltMeta.magic { return .failure(.badMagic(found: magic)) }
    }
    guard page.count >= pageBytesNeeded, let header = BoltPageHeader(page, at: 0) else {
      return .failure(.tooShort(available: page.count))
    }
    let meta = BoltMeta(
      pageID: pageID,
      header: header,
      magic: BoltLE.u32(page, base),
      version: BoltLE.u32(page, base + 4),
      pageSize: BoltLE.u32(page, base + 8),
      flags: BoltLE.u32(page, base + 12),
      rootPageID: BoltLE.u64(page, base + 16),
      rootSequence: BoltLE.u64(page, base + 24),
      freelistPageID: BoltLE.u64(page, base + 32),
      highWaterMark: BoltLE.u64(page, base + 40),
      txid: BoltLE.u64(page, base + 48),
      checksum: BoltLE.u64(page, base + 56),
      computedChecksum: fnv1a64(page[base..<(base + checksummedByteCount)])
    )
    return .success(meta)
  }

  /// Decodes and validates in one step: a meta bbolt would accept, or why not.
  package static func decodeValid(page: [UInt8], pageID: UInt64) -> Result<BoltMeta, BoltMetaProblem> {
    decode(page: page, pageID: pageID).flatMap { meta in
      if let problem = meta.validate() { return .failure(problem) }
      return .success(meta)
    }
  }

  /// What is wrong with this meta, or `nil` if bbolt would accept it.
  ///
  /// Checks in bbolt's order: magic, version, checksum (a zero checksum is an error, as in
  /// bbolt 1.3.7+; 1.3.6 let it pass). Then, stricter than bbolt but true of every file bbolt
  /// writes: the page header says meta page `pageID`, and the page size is a power of two
  /// between 512 bytes and 16 MiB.
  package func validate() -> BoltMetaProblem? {
    if magic != BoltMeta.magic { return .badMagic(found: magic) }
    if version != BoltMeta.version { return .badVersion(found: version) }
    if checksum != computedChecksum { return .badChecksum(stored: checksum, computed: computedChecksum) }
    if header.id != pageID || header.flags != BoltPageHeader.metaFlag {
      return .badPageHeader(id: header.id, flags: header.flags)
    }
    let size = Int(pageSize)
    if size < BoltMeta.minimumPageSize || size > BoltMeta.maximumPageSize || size & (size - 1) != 0 {
      return .badPageSize(found: pageSize)
    }
    return nil
  }

  /// The meta bbolt would use: the valid one with the higher txid, else the other if valid.
  ///
  /// With equal txids meta page 0 wins (bbolt prefers meta 1 only when its txid is larger).
  /// `nil` when neither is valid. Pass results of `decodeValid`.
  package static func active(
    _ meta0: Result<BoltMeta, BoltMetaProblem>, _ meta1: Result<BoltMeta, BoltMetaProblem>
  ) -> BoltMeta? {
    switch (meta0, meta1) {
    case (.success(let a), .success(let b)): return b.txid > a.txid ? b : a
    case (.success(let a), .failure): return a
    case (.failure, .success(let b)): return b
    case (.failure, .failure): return nil
    }
  }

  /// FNV-1a 64-bit hash (offset basis 0xcbf29ce484222325, prime 0x100000001b3), as bbolt's meta checksum.
  package static func fnv1a64(_ bytes: some Sequence<UInt8>) -> UInt64 {
    var hash: UInt64 = 0xCBF2_9CE4_8422_2325
    for byte in bytes {
      hash ^= UInt64(byte)
      hash = hash &* 0x0000_0100_0000_01B3
    }
    return hash
  }
}

/// Why a meta page cannot be used.
package enum BoltMetaProblem: Error, Sendable, Equatable, CustomStringConvertible {
  /// Fewer bytes than a meta page needs were available.
  case tooShort(available: Int)
  /// The magic number is not 0xED0CDAED: not a bbolt file (or not this page).
  case badMagic(found: UInt32)
  /// A bbolt file of a format version other than 2.
  case badVersion(found: UInt32)
  /// The FNV-1a checksum does not match: the meta page is damaged (or was half-written).
  case badChecksum(stored: UInt64, computed: UInt64)
  /// The page header does not describe this meta page.
  case badPageHeader(id: UInt64, flags: UInt16)
  /// The recorded page size is not a power of two between 512 bytes and 16 MiB.
  case badPageSize(found: UInt32)
  /// The meta page was not found in the file (it ends before it, or no page size fits).
  case missing

  /// Where in its page the offending field is (for error offsets).
  package var offsetInPage: Int {
    switch self {
    case .tooShort, .missing, .badPageHeader: 0
    case .badMagic: 16
    case .badVersion: 20
    case .badChecksum: 72
    case .badPageSize: 24
    }
  }

  /// A short human explanation, e.g. "bad magic 0x00000000 (expected 0xed0cdaed)".
  package var description: String {
    switch self {
    case .tooShort(let n): "only \(n) bytes, too short for a meta page"
    case .badMagic(let m): "bad magic 0x\(boltHex(UInt64(m), width: 8)) (expected 0xed0cdaed)"
    case .badVersion(let v): "unsupported bbolt version \(v) (expected 2)"
    case .badChecksum(let s, let c):
      "checksum mismatch (stored 0x\(boltHex(s, width: 16)), computed 0x\(boltHex(c, width: 16)))"
    case .badPageHeader(let id, let flags):
      "page header says page \(id) with flags 0x\(boltHex(UInt64(flags), width: 2)) (expected a meta page, flags 0x04)"
    case .badPageSize(let p): "implausible page size \(p)"
    case .missing: "not found"
    }
  }
}

/// Little-endian loads from byte arrays; callers check the bounds first.
enum BoltLE {
  static func u16(_ b: [UInt8], _ at: Int) -> UInt16 {
    UInt16(b[at]) | UInt16(b[at + 1]) << 8
  }
  static func u32(_ b: [UInt8], _ at: Int) -> UInt32 {
    var v: UInt32 = 0
    for i in 0..<4 { v |= UInt32(b[at + i]) << (8 * i) }
    return v
  }
  static func u64(_ b: [UInt8], _ at: Int) -> UInt64 {
    var v: UInt64 = 0
    for i in 0..<8 { v |= UInt64(b[at + i]) << (8 * i) }
    return v
  }
}

/// Lower-case hex, zero-padded to `width` digits.
func boltHex(_ value: UInt64, width: Int) -> String {
  let digits = String(value, radix: 16)
  return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
}
