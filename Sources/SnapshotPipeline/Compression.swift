import EtcdFormats
import SnapshotCore

extension SnapshotCompression {
  /// A compressor at `level` (nil: the default), or nil for `.plain`.
  package func compressor(level: Int? = nil, entryName: String = "") throws(SnapshotError) -> (any ByteStage)? {
    let defaultLevel = levels?.default ?? 0
    switch self {
    case .plain: return nil
    case .zstd: return try ZstdCompressor(level: level ?? defaultLevel)
    case .gzip: return try GzipCompressor(level: level ?? defaultLevel)
    case .zip: return try ZipCompressor(entryName: entryName, level: level ?? defaultLevel)
    }
  }

  /// A decompressor, or nil for `.plain`.
  package func decompressor() throws(SnapshotError) -> (any ByteStage)? {
    switch self {
    case .plain: return nil
    case .zstd: return try ZstdDecompressor()
    case .gzip: return try GzipDecompressor()
    case .zip: return try ZipDecompressor()
    }
  }
}

/// What a stored file is, told by its first bytes, not by its name.
package enum StoredFormat: Equatable, Sendable {
  /// A bbolt file (etcd's snapshot or member/snap/db): the meta page's magic at offset 16.
  case bolt
  /// A zstd frame.
  case zstd
  /// A gzip member.
  case gzip
  /// A zip archive (a local file header first).
  case zip
  /// An age-encrypted file (`age-encryption.org/v1`).
  case age
  /// None of these.
  case unknown

  /// How many leading bytes `init(sniffing:)` needs to tell every format.
  package static let sniffLength = 24

  /// The format of a file that starts with `prefix`.
  package init(sniffing prefix: some Collection<UInt8>) {
    let b = Array(prefix.prefix(Self.sniffLength))
    func starts(_ magic: [UInt8]) -> Bool { b.count >= magic.count && Array(b.prefix(magic.count)) == magic }
    if starts([0x28, 0xB5, 0x2F, 0xFD]) {
      self = .zstd
    } else if starts([0x1F, 0x8B]) {
      self = .gzip
    } else if starts([0x50, 0x4B, 0x03, 0x04]) {
      self = .zip
    } else if starts(Array("age-encryption.org/v1\n".utf8.prefix(Self.sniffLength))) {
      self = .age
    } else if b.count >= 20 && b[16..<20].reversed().reduce(0, { $0 << 8 | UInt32($1) }) == BoltMeta.magic {
      self = .bolt  // bbolt's magic, little-endian, after the 16-byte page header of meta page 0
    } else {
      self = .unknown
    }
  }

  /// The compression this format is, if it is one.
  package var compression: SnapshotCompression? {
    switch self {
    case .bolt: .plain
    case .zstd: .zstd
    case .gzip: .gzip
    case .zip: .zip
    case .age, .unknown: nil
    }
  }
}
