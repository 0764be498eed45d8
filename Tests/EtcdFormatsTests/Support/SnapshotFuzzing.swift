import Crypto
import EtcdFormats
import EtcdTestSupport
import Foundation
import SnapshotCore

// Test-only: a small etcd-like snapshot, seeded mutations of it, and the checks every mutant
// must pass (status, verify and restore give a result or a clear error; a failed restore
// leaves nothing). No `Testing` here, so a throwaway driver can run the same code in a loop.

/// A small, valid etcd-like snapshot made with `BoltWriter`, with etcd's SHA-256 trailer.
enum SnapshotSeed {
  /// etcd's ten buckets; `key` holds revisions 2...(keys + 1) over several leaves under a branch,
  /// one value spanning overflow pages, and a tombstone as its last key, of revision
  /// `lastRevision` (bits as stored; default keys + 2). Small buckets come out inline.
  static func snapshot(keys: Int = 120, lastRevision: UInt64? = nil) throws -> [UInt8] {
    let dir = try TemporaryDirectory(prefix: "snapshot-seed")
    defer { withExtendedLifetime(dir) {} }
    let path = dir.appending("db")
    let writer = try BoltWriter(path: path)
    func bucket(_ name: String, _ items: [([UInt8], [UInt8])]) throws {
      try writer.beginBucket(Array(name.utf8))
      for (key, value) in items { try writer.put(key: key, value: value) }
      try writer.endBucket()
    }
    let u64 = { (v: UInt64) in DataDirWriter.bigEndian(v) }
    try bucket("alarm", [])
    try bucket("auth", [(Array("authEnabled".utf8), [1]), (Array("authRevision".utf8), u64(7))])
    try bucket("authRoles", [(Array("reader".utf8), Array("\u{0A}\u{06}reader".utf8))])
    try bucket("authUsers", [(Array("alice".utf8), Array("\u{0A}\u{05}alice\u{12}\u{03}pwd".utf8))])
    try bucket("cluster", [(Array("clusterVersion".utf8), Array("3.5.0".utf8))])
    var revisions: [([UInt8], [UInt8])] = []
    for main in 2...Int64(keys + 1) {
      let value = main == 60 ? [UInt8](repeating: 0x5A, count: 9000) : Array("/registry/k\(main) = value-\(main)".utf8)
      revisions.append((revisionKey(main, 0), value))
    }
    let last = lastRevision ?? UInt64(keys + 2)
    revisions.append((revisionKey(Int64(bitPattern: last), 0, tombstone: true), Array("/registry/k2".utf8)))
    try bucket("key", revisions)
    try bucket("lease", [(u64(0x694d_7e1c_0000_0001), [0x08, 0x01, 0x10, 0x3C])])
    try bucket(
      "members",
      [(Array("8e9e05c52164694d".utf8), Array(#"{"id":10276657743932975437,"peerURLs":["http://localhost:2380"],"name":"default"}"#.utf8))])
    try bucket("members_removed", [])
    try bucket(
      "meta",
      [
        (Array("confState".utf8), Array(#"{"voters":[10276657743932975437],"auto_leave":false}"#.utf8)),
        (Array("consistent_index".utf8), u64(130)), (Array("term".utf8), u64(2)),
      ])
    _ = try writer.finish()
    let db = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
    return db + Array(SHA256.hash(data: db))
  }
}

/// Seeded damage to a snapshot: bit flips, bytes set to 0x00/0xFF/0x7F/0x80, 8-, 4- and 2-byte
/// fields set to extreme values, meta fields changed behind a valid checksum, truncation,
/// appended bytes, pages copied over others, and the last revision set past Int64.
struct SnapshotMutator {
  let seed: [UInt8]
  let pageSize: Int
  let highWaterMark: UInt64
  /// Offsets of fields worth damaging: page and element headers, keys, bucket values.
  private(set) var fieldOffsets: [Int] = []
  /// Offsets of the keys that look like revisions (17 or 18 bytes, '_' at byte 8), in file order.
  private(set) var revisionKeyOffsets: [Int] = []

  init(seed: [UInt8]) {
    self.seed = seed
    pageSize = Int(Self.u32(seed, 24))
    highWaterMark = Self.u64(seed, 56)
    var id = 2
    while id < Int(highWaterMark), (id + 1) * pageSize <= seed.count {
      let overflow = parseNode(at: id * pageSize, expectedID: UInt64(id))
      id += overflow + 1
    }
  }

  /// Records the fields of the node at `base`; returns its overflow count (0 if it is no node).
  private mutating func parseNode(at base: Int, expectedID: UInt64?) -> Int {
    guard base + 16 <= seed.count else { return 0 }
    let flags = Self.u16(seed, base + 8)
    let count = Int(Self.u16(seed, base + 10))
    let overflow = Int(Self.u32(seed, base + 12))
    if let expectedID, Self.u64(seed, base) != expectedID { return 0 }
    guard flags == 0x01 || flags == 0x02 else { return overflow }
    fieldOffsets += [base, base + 8, base + 10, base + 12]
    for index in 0..<count {
      let element = base + 16 + 16 * index
      guard element + 16 <= seed.count else { break }
      fieldOffsets += [element, element + 4, element + 8, element + 12]
      if flags == 0x01 {
        let key = element + Int(Self.u32(seed, element))
        fieldOffsets.append(key)
        continue
      }
      let elementFlags = Self.u32(seed, element)
      let key = element + Int(Self.u32(seed, element + 4))
      let keySize = Int(Self.u32(seed, element + 8))
      let value = key + keySize
      fieldOffsets += [key, value]
      if keySize == 17 || keySize == 18, key + 9 <= seed.count, seed[key + 8] == 0x5F { revisionKeyOffsets.append(key) }
      if elementFlags == 1, value + 32 <= seed.count, Self.u64(seed, value) == 0 {
        fieldOffsets += [value + 8]
        _ = parseNode(at: value + 16, expectedID: nil)
      }
    }
    return overflow
  }

  /// 1 to 3 mutations of the seed, and what they were (for the failure message).
  func mutant(using rng: inout SplitMix64) -> (bytes: [UInt8], steps: [String]) {
    var bytes = seed
    var steps: [String] = []
    for _ in 0...Int.random(in: 0...2, using: &rng) {
      steps.append(mutate(&bytes, using: &rng))
    }
    if bytes.count >= 32, bytes.count % 512 == 32, Bool.random(using: &rng) {
      // Give the damage a matching trailer half of the time, so that the hash rule lets it through.
      let body = bytes.count - 32
      bytes.replaceSubrange(body..<bytes.count, with: Array(SHA256.hash(data: bytes[0..<body])))
      steps.append("trailer recomputed")
    }
    return (bytes, steps)
  }

  static let extremeU64: [UInt64] = [
    0, 1, 2, 3, 1 << 31, 1 << 32, 0xFFFF_FFFF, 1 << 62, 1 << 63, (1 << 63) - 1, (1 << 63) + 1, .max, .max - 1,
  ]
  static let extremeU32: [UInt32] = [0, 1, 15, 16, 17, 0xFFFF, 0x7FFF_FFFF, 0x8000_0000, .max, .max - 1]
  static let extremeU16: [UInt16] = [0, 1, 0x7FFF, 0x8000, 0xFFFE, .max]

  private func mutate(_ bytes: inout [UInt8], using rng: inout SplitMix64) -> String {
    guard !bytes.isEmpty else { return "nothing left to damage" }
    let field = fieldOffsets.randomElement(using: &rng) ?? 0
    let near = min(bytes.count - 1, field + Int.random(in: 0..<8, using: &rng))
    let hw = highWaterMark
    switch Int.random(in: 0..<100, using: &rng) {
    case 0..<10:
      let offset = Int.random(in: 0..<bytes.count, using: &rng)
      let bit = Int.random(in: 0..<8, using: &rng)
      bytes[offset] ^= 1 << UInt8(bit)
      return "flip bit \(bit) of byte \(offset)"
    case 10..<25:
      let bit = Int.random(in: 0..<8, using: &rng)
      bytes[near] ^= 1 << UInt8(bit)
      return "flip bit \(bit) of byte \(near)"
    case 25..<35:
      let choices: [UInt8] = [0x00, 0xFF, 0x7F, 0x80]
      let value = choices.randomElement(using: &rng) ?? 0
      bytes[near] = value
      return "set byte \(near) to 0x\(String(value, radix: 16))"
    case 35..<50:
      let value =
        Bool.random(using: &rng)
        ? (Self.extremeU64 + [hw - 1, hw, hw + 1]).randomElement(using: &rng) ?? 0 : rng.next()
      Self.put(&bytes, at: field, value, width: 8)
      return "set u64 at \(field) to \(value)"
    case 50..<60:
      let sizes = [UInt32(pageSize - 1), UInt32(pageSize), UInt32(pageSize + 1)]
      let value =
        Bool.random(using: &rng)
        ? (Self.extremeU32 + sizes).randomElement(using: &rng) ?? 0 : UInt32(truncatingIfNeeded: rng.next())
      Self.put(&bytes, at: field, UInt64(value), width: 4)
      return "set u32 at \(field) to \(value)"
    case 60..<66:
      let value = Self.extremeU16.randomElement(using: &rng) ?? 0
      Self.put(&bytes, at: field, UInt64(value), width: 2)
      return "set u16 at \(field) to \(value)"
    case 66..<78:
      return mutateMeta(&bytes, using: &rng)
    case 78..<83:
      let length = Int.random(in: 0..<bytes.count, using: &rng)
      bytes.removeSubrange(length...)
      return "truncate to \(length) bytes"
    case 83..<86:
      let extra = [1, 32, 511, pageSize, 2 * pageSize].randomElement(using: &rng) ?? 1
      bytes += (0..<extra).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
      return "append \(extra) random bytes"
    case 86..<93:
      let pages = bytes.count / pageSize
      guard pages > 3 else { return "no page to copy" }
      let from = Int.random(in: 2..<pages, using: &rng)
      let to = Int.random(in: 2..<pages, using: &rng)
      let page = Array(bytes[(from * pageSize)..<((from + 1) * pageSize)])
      bytes.replaceSubrange((to * pageSize)..<((to + 1) * pageSize), with: page)
      if Bool.random(using: &rng) {
        Self.put(&bytes, at: to * pageSize, UInt64(to), width: 8)
        return "copy page \(from) over page \(to), id fixed"
      }
      return "copy page \(from) over page \(to)"
    default:
      guard let last = revisionKeyOffsets.last, last + 8 <= bytes.count else { return "no revision key" }
      let any = revisionKeyOffsets.randomElement(using: &rng) ?? last
      let offset = Bool.random(using: &rng) || any + 8 > bytes.count ? last : any
      let mains: [UInt64] = [1 << 63, .max, (1 << 63) - 1, (1 << 63) + 1, 0, 1 << 60]
      let main = mains.randomElement(using: &rng) ?? 0
      for i in 0..<8 { bytes[offset + i] = UInt8(truncatingIfNeeded: main >> UInt64(56 - 8 * i)) }
      return "set the revision of the key at \(offset) to \(main)"
    }
  }

  /// A field of meta page 0, 1 or both set to an extreme value, with the checksum made valid again.
  private func mutateMeta(_ bytes: inout [UInt8], using rng: inout SplitMix64) -> String {
    typealias Field = (name: String, offset: Int, width: Int, values: [UInt64])
    let hw = highWaterMark
    let large: [UInt64] = [1 << 40, 1 << 52, 1 << 63, .max, .max - 1]
    let pageIDs: [UInt64] = [0, 1, 2, 3, hw - 1, hw, hw + 1]
    let pageSizes: [UInt64] = [0, 256, 512, 1024, 2048, 8192, 1 << 24, 1 << 25, 4097, 0xFFFF_FFFF]
    let fields: [Field] = [
      Field("version", 20, 4, [0, 1, 3, 0xFFFF_FFFF]),
      Field("pageSize", 24, 4, pageSizes),
      Field("flags", 28, 4, [1, 0xFFFF_FFFF]),
      Field("root", 32, 8, pageIDs + large),
      Field("sequence", 40, 8, [1, .max]),
      Field("freelist", 48, 8, pageIDs + large),
      Field("highWaterMark", 56, 8, pageIDs + large),
      Field("txid", 64, 8, [0, 1 << 63, .max]),
    ]
    guard let field = fields.randomElement(using: &rng) else { return "no meta field" }
    let value = field.values.randomElement(using: &rng) ?? 0
    let pages = [[0], [1], [0, 1]].randomElement(using: &rng) ?? [0]
    for page in pages {
      let base = page * pageSize
      guard base + 80 <= bytes.count else { continue }
      Self.put(&bytes, at: base + field.offset, value, width: field.width)
      Self.put(&bytes, at: base + 72, BoltMeta.fnv1a64(bytes[(base + 16)..<(base + 72)]), width: 8)
    }
    return "set meta \(pages) \(field.name) to \(value) (checksum fixed)"
  }

  static func put(_ bytes: inout [UInt8], at offset: Int, _ value: UInt64, width: Int) {
    for i in 0..<width where offset + i < bytes.count {
      bytes[offset + i] = UInt8(truncatingIfNeeded: value >> UInt64(8 * i))
    }
  }

  static func u16(_ b: [UInt8], _ at: Int) -> UInt16 {
    at + 2 <= b.count ? UInt16(b[at]) | UInt16(b[at + 1]) << 8 : 0
  }

  static func u32(_ b: [UInt8], _ at: Int) -> UInt32 {
    guard at + 4 <= b.count else { return 0 }
    return (0..<4).reduce(0) { $0 | UInt32(b[at + $1]) << (8 * UInt32($1)) }
  }

  static func u64(_ b: [UInt8], _ at: Int) -> UInt64 {
    guard at + 8 <= b.count else { return 0 }
    return (0..<8).reduce(0) { $0 | UInt64(b[at + $1]) << (8 * UInt64($1)) }
  }
}

/// Runs what `status`, `verify` and `restore` run on one file and reports broken promises.
enum SnapshotFuzzHarness {
  /// Returns what went wrong (empty when every command gave a result or a clear error and a
  /// failed restore left nothing). Restores into `workDir/restored`, removed afterwards; with
  /// `bump` > 0 restores with `--bump-revision bump --mark-compacted`.
  static func exercise(path: String, workDir: String, bump: UInt64 = 0) -> [String] {
    var problems: [String] = []
    func attempt(_ what: String, _ body: () throws -> Void) -> Bool {
      do {
        try body()
        return true
      } catch let error as FormatError {
        if error.message.isEmpty { problems.append("\(what): a FormatError without a message") }
        if error.path != path { problems.append("\(what): the error names \(error.path), not the snapshot: \(error)") }
      } catch let error as SnapshotError {
        if error.message.isEmpty { problems.append("\(what): a SnapshotError without a message") }
      } catch {
        problems.append("\(what): threw \(type(of: error)) instead of a FormatError or SnapshotError: \(error)")
      }
      return false
    }

    // status
    _ = attempt("SnapshotFigures.compute") { _ = try SnapshotFigures.compute(path: path) }
    _ = attempt("BoltSummary.read") { _ = try BoltSummary.read(path: path) }
    // verify
    _ = attempt("SnapshotTrailerVerifier") {
      var verifier = SnapshotTrailerVerifier()
      verifier.update(try Data(contentsOf: URL(fileURLWithPath: path)))
      let check = verifier.finish()
      if !check.isValid && check.problem == nil { problems.append("SnapshotTrailerVerifier: invalid without a problem") }
    }
    _ = attempt("BoltChecker.check") { _ = try BoltChecker.check(path: path) }
    _ = attempt("RestoreEngine.checkHash") { _ = try RestoreEngine.checkHash(path: path, skip: false) }
    _ = attempt("DataDirInspector.members") { _ = try DataDirInspector.members(db: path) }

    // restore, hash check skipped so that the structure code is reached
    var options = RestoreOptions()
    options.dataDir = workDir + "/restored"
    options.skipHashCheck = true
    options.bumpRevision = bump
    options.markCompacted = bump > 0
    var result: RestoreResult?
    let restored = attempt("RestoreEngine.restore") {
      result = try RestoreEngine.restore(snapshot: path, options: options)
    }
    if restored, let result {
      // What a restore writes must itself be sound, with the revision it reports.
      let db = result.dataDir + "/member/snap/db"
      do {
        _ = try BoltChecker.check(path: db)
        let revision = try BoltSummary.read(path: db).revision
        if revision != result.revision { problems.append("restored db has revision \(revision ?? -1), reported \(result.revision)") }
        let (expected, overflow) = result.snapshotRevision.addingReportingOverflow(Int64(truncatingIfNeeded: bump))
        if overflow || result.revision != expected {
          problems.append("restored revision \(result.revision) is not \(result.snapshotRevision) + \(bump)")
        }
      } catch {
        problems.append("the restored db is not sound: \(error)")
      }
    } else if FileManager.default.fileExists(atPath: options.resolvedDataDir) {
      problems.append("a failed restore left \(options.resolvedDataDir) behind")
    }
    try? FileManager.default.removeItem(atPath: options.resolvedDataDir)
    let leftovers = (try? FileManager.default.contentsOfDirectory(atPath: workDir))?.filter { $0.contains(".tmp-") } ?? []
    if !leftovers.isEmpty { problems.append("temporary directories left behind: \(leftovers)") }
    return problems
  }
}
