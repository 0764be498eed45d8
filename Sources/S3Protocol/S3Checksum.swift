import Foundation
import SnapshotCore

/// S3's CRC-32C checksums (`x-amz-checksum-algorithm: CRC32C`) as text.
///
/// CRC-32C because this CPU computes it with one instruction (the SSE4.2 shim that etcd's
/// WAL checksums use): the store verifies every part without the upload costing a pass of
/// MD5 on our side.
package enum S3Checksum {
  /// The algorithm name S3 takes in `x-amz-checksum-algorithm`.
  package static let algorithm = "CRC32C"
  /// The header that carries a part's checksum, and that the store answers with.
  package static let header = "x-amz-checksum-crc32c"
  /// The element of CompleteMultipartUpload (request and answer).
  package static let element = "ChecksumCRC32C"

  /// The four big-endian bytes of a CRC, as S3 encodes them before base64.
  package static func bigEndianBytes(_ crc: UInt32) -> [UInt8] {
    [UInt8(crc >> 24), UInt8((crc >> 16) & 0xff), UInt8((crc >> 8) & 0xff), UInt8(crc & 0xff)]
  }

  /// A CRC as S3 writes it: base64 of the four big-endian bytes.
  package static func base64(_ crc: UInt32) -> String { Data(bigEndianBytes(crc)).base64EncodedString() }

  /// The composite checksum of a multipart upload, without S3's `-N` suffix: the CRC-32C of
  /// the parts' CRC-32Cs (big-endian bytes, in part order), base64.
  package static func composite(_ parts: [UInt32]) -> String {
    base64(CRC32C.checksum(parts.flatMap(bigEndianBytes)))
  }

  /// True when a composite checksum the store reported (`base64` or `base64-N`) is `expected`.
  package static func matches(reported: String, expected: String) -> Bool {
    reported.split(separator: "-", maxSplits: 1).first.map(String.init) == expected
  }
}
