/// How a stored snapshot is compressed (`save --compress`). The stages that do it are in
/// SnapshotPipeline.
package enum SnapshotCompression: String, Sendable, CaseIterable, Codable {
  /// The plain bbolt file, as etcd sends it (`--compress none`).
  case plain = "none"
  /// A zstd frame (libzstd), with its content checksum.
  case zstd
  /// A gzip member (zlib), as `gzip` writes it.
  case gzip
  /// What k3s writes with `--etcd-snapshot-compress`: `NAME.zip` holding one Deflate entry `NAME`.
  case zip

  /// The file-name suffix a snapshot stored this way gets (k3s: `.zip`).
  package var fileSuffix: String {
    switch self {
    case .plain: ""
    case .zstd: ".zst"
    case .gzip: ".gz"
    case .zip: ".zip"
    }
  }

  /// The levels `--compress-level` accepts, and the one used without it.
  package var levels: (range: ClosedRange<Int>, default: Int)? {
    switch self {
    case .plain: nil
    case .zstd: (1...19, 1)  // faster than zstd's 3 and as small on etcd data (bench/compress_bench.py)
    case .gzip, .zip: (1...9, 6)  // gzip's and Go's compress/flate's default
    }
  }
}
