import SnapshotCore

/// One member of a tar archive (POSIX pax: ustar headers, with a pax extended header for a
/// name, link target or size that does not fit), as restore bundles hold them.
package struct TarEntry: Sendable, Equatable {
  /// What the member is.
  package enum Kind: Sendable, Equatable {
    case file
    case directory
    case symlink
    case hardlink
    /// A character or block device, a FIFO, or a kind we do not know: never extracted.
    case special(UInt8)
  }

  /// The path inside the archive, relative (`etc/rancher/k3s/config.yaml`), `/`-separated.
  package var path: String
  package var kind: Kind
  /// Permission bits (and set-id / sticky bits), as stored.
  package var mode: UInt32
  /// Size of the data that follows (files only).
  package var size: Int64
  /// Modification time, Unix seconds.
  package var mtime: Int64
  /// Target of a link.
  package var linkTarget: String = ""
  package var uid: UInt32 = 0
  package var gid: UInt32 = 0

  package init(path: String, kind: Kind, mode: UInt32, size: Int64 = 0, mtime: Int64, linkTarget: String = "") {
    self.path = path
    self.kind = kind
    self.mode = mode
    self.size = size
    self.mtime = mtime
    self.linkTarget = linkTarget
  }

  /// The number of zero bytes after `size` bytes of data that fill the last block.
  package static func padding(after size: Int64) -> Int {
    Int((512 - size % 512) % 512)
  }
}

/// Encodes and decodes tar headers (POSIX.1-2001 pax, which GNU tar and Python's `tarfile`
/// read). The layout of the 512-byte ustar header: name 0..<100, mode 100..<108, uid
/// 108..<116, gid 116..<124, size 124..<136, mtime 136..<148, checksum 148..<156, type 156,
/// link name 157..<257, magic `ustar\0` 257..<263, version `00` 263..<265, user and group
/// names, device numbers, prefix 345..<500.
package enum TarFormat {
  /// The block size.
  package static let block = 512

  /// The end of an archive: two zero blocks.
  package static let end = [UInt8](repeating: 0, count: 1024)

  /// The header blocks of `entry`: a pax extended header first when something does not fit.
  package static func headers(_ entry: TarEntry) -> [UInt8] {
    let typeFlag: UInt8
    switch entry.kind {
    case .file: typeFlag = UInt8(ascii: "0")
    case .directory: typeFlag = UInt8(ascii: "5")
    case .symlink: typeFlag = UInt8(ascii: "2")
    case .hardlink: typeFlag = UInt8(ascii: "1")
    case .special(let t): typeFlag = t
    }
    let name = entry.kind == .directory && !entry.path.hasSuffix("/") ? entry.path + "/" : entry.path
    var pax: [(String, String)] = []
    let nameBytes = Array(name.utf8)
    let linkBytes = Array(entry.linkTarget.utf8)
    if nameBytes.count > 100 || !isASCII(nameBytes) { pax.append(("path", name)) }
    if linkBytes.count > 100 || !isASCII(linkBytes) { pax.append(("linkpath", entry.linkTarget)) }
    let sizeFits = entry.size < 0o77777777777
    if !sizeFits { pax.append(("size", String(entry.size))) }
    var out: [UInt8] = []
    if !pax.isEmpty {
      var records: [UInt8] = []
      for (key, value) in pax { records += paxRecord(key, value) }
      let shortName = "PaxHeaders/" + String(String(decoding: nameBytes.suffix(80), as: UTF8.self).filter(\.isASCII))
      out += ustar(
        name: Array(shortName.utf8.prefix(100)), mode: 0o644, size: Int64(records.count), mtime: entry.mtime, typeFlag: UInt8(ascii: "x"),
        link: [], uid: 0, gid: 0)
      out += records
      out += [UInt8](repeating: 0, count: TarEntry.padding(after: Int64(records.count)))
    }
    out += ustar(
      name: Array(nameBytes.prefix(100)), mode: entry.mode, size: sizeFits ? entry.size : 0, mtime: entry.mtime, typeFlag: typeFlag,
      link: Array(linkBytes.prefix(100)), uid: entry.uid, gid: entry.gid)
    return out
  }

  /// One pax record, `LEN key=value\n`, whose length counts its own digits.
  static func paxRecord(_ key: String, _ value: String) -> [UInt8] {
    let body = Array(" \(key)=\(value)\n".utf8)
    var length = body.count + 1
    while String(length).utf8.count + body.count != length { length += 1 }
    return Array(String(length).utf8) + body
  }

  private static func isASCII(_ bytes: [UInt8]) -> Bool { bytes.allSatisfy { $0 < 0x80 && $0 != 0 } }

  private static func ustar(
    name: [UInt8], mode: UInt32, size: Int64, mtime: Int64, typeFlag: UInt8, link: [UInt8], uid: UInt32, gid: UInt32
  ) -> [UInt8] {
    var h = [UInt8](repeating: 0, count: block)
    func put(_ bytes: [UInt8], at offset: Int) {
      for (i, b) in bytes.enumerated() { h[offset + i] = b }
    }
    func octal(_ value: Int64, width: Int) -> [UInt8] {
      let digits = String(value, radix: 8)
      return Array((String(repeating: "0", count: max(0, width - 1 - digits.count)) + digits).utf8) + [0]
    }
    put(name, at: 0)
    put(octal(Int64(mode & 0o7777), width: 8), at: 100)
    put(octal(Int64(uid & 0o7777777), width: 8), at: 108)
    put(octal(Int64(gid & 0o7777777), width: 8), at: 116)
    put(octal(size, width: 12), at: 124)
    put(octal(max(0, min(mtime, 0o77777777777)), width: 12), at: 136)
    h[156] = typeFlag
    put(link, at: 157)
    put(Array("ustar".utf8) + [0], at: 257)
    put(Array("00".utf8), at: 263)
    for i in 148..<156 { h[i] = 0x20 }
    let sum = h.reduce(0) { $0 + Int64($1) }
    put(octal(sum, width: 7) + [0x20], at: 148)
    return h
  }

  /// What one header block says, before a pax header's values are applied.
  package struct RawHeader: Sendable {
    package var name: String
    package var mode: UInt32
    package var size: Int64
    package var mtime: Int64
    package var typeFlag: UInt8
    package var linkName: String
    package var uid: UInt32
    package var gid: UInt32
  }

  /// Parses a header block; nil for a zero block (the end). Throws on a bad checksum or field.
  package static func parse(_ h: [UInt8]) throws(SnapshotError) -> RawHeader? {
    precondition(h.count == block)
    if h.allSatisfy({ $0 == 0 }) { return nil }
    let stored = try number(h[148..<156], field: "checksum")
    var sum: Int64 = 0
    for (i, b) in h.enumerated() { sum += (148..<156).contains(i) ? 0x20 : Int64(b) }
    guard stored == sum else {
      throw SnapshotError(.corrupt, "a tar header's checksum is wrong (\(stored), computed \(sum)): the archive is damaged or not a tar file")
    }
    var name = text(h[0..<100])
    if h[257..<262].elementsEqual("ustar".utf8) {
      let prefix = text(h[345..<500])
      if !prefix.isEmpty { name = prefix + "/" + name }
    }
    return RawHeader(
      name: name, mode: UInt32(truncatingIfNeeded: try number(h[100..<108], field: "mode")), size: try number(h[124..<136], field: "size"),
      mtime: try number(h[136..<148], field: "mtime"), typeFlag: h[156], linkName: text(h[157..<257]),
      uid: UInt32(truncatingIfNeeded: try number(h[108..<116], field: "uid")),
      gid: UInt32(truncatingIfNeeded: try number(h[116..<124], field: "gid")))
  }

  /// The key/value records of a pax extended header's data.
  package static func paxRecords(_ data: [UInt8]) throws(SnapshotError) -> [String: String] {
    var out: [String: String] = [:]
    var i = 0
    while i < data.count {
      guard let space = data[i...].firstIndex(of: 0x20), let length = Int(String(decoding: data[i..<space], as: UTF8.self)), length > 0,
        i + length <= data.count, data[i + length - 1] == 0x0A
      else { throw SnapshotError(.corrupt, "a pax extended header of the tar archive is malformed") }
      let record = data[(space + 1)..<(i + length - 1)]
      guard let eq = record.firstIndex(of: UInt8(ascii: "=")) else {
        throw SnapshotError(.corrupt, "a pax extended header record has no '='")
      }
      out[String(decoding: record[record.startIndex..<eq], as: UTF8.self)] = String(decoding: record[(eq + 1)...], as: UTF8.self)
      i += length
    }
    return out
  }

  private static func text(_ bytes: ArraySlice<UInt8>) -> String {
    let end = bytes.firstIndex(of: 0) ?? bytes.endIndex
    return String(decoding: bytes[bytes.startIndex..<end], as: UTF8.self)
  }

  /// An octal field (NUL- or space-terminated), or GNU's base-256 form.
  private static func number(_ bytes: ArraySlice<UInt8>, field: String) throws(SnapshotError) -> Int64 {
    if let first = bytes.first, first & 0x80 != 0 {
      var value: Int64 = Int64(first & 0x7F)
      for b in bytes.dropFirst() {
        guard value < Int64.max >> 8 else { throw SnapshotError(.corrupt, "a tar header's \(field) is too large") }
        value = value << 8 | Int64(b)
      }
      return value
    }
    var value: Int64 = 0
    var seen = false
    for b in bytes {
      if b == 0 || (b == 0x20 && seen) { break }
      if b == 0x20 { continue }
      guard (UInt8(ascii: "0")...UInt8(ascii: "7")).contains(b) else {
        throw SnapshotError(.corrupt, "a tar header's \(field) is not an octal number: the archive is damaged or not a tar file")
      }
      guard value < Int64.max >> 3 else { throw SnapshotError(.corrupt, "a tar header's \(field) is too large") }
      value = value * 8 + Int64(b - UInt8(ascii: "0"))
      seen = true
    }
    return value
  }
}
