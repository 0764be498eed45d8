import Crypto
import Foundation
import SnapshotCore

/// One part of a multipart upload: its number and the bytes of the source file it holds.
package struct S3PartRange: Sendable, Equatable {
  /// Part number, 1-based, as S3 wants it in `partNumber=`.
  package var number: Int
  /// First byte of the part in the source file.
  package var offset: Int64
  /// Number of bytes; every part but the last has the upload's part size.
  package var length: Int64

  /// Makes a part range.
  package init(number: Int, offset: Int64, length: Int64) {
    self.number = number
    self.offset = offset
    self.length = length
  }
}

/// S3's multipart limits and the choice of a part size.
package struct S3MultipartPlan: Sendable {
  /// Smallest part S3 accepts, except for the last one: 5 MiB.
  package static let minimumPartSize: Int64 = 5 << 20
  /// Most parts one upload may have.
  package static let maximumParts = 10_000
  /// Largest part S3 accepts: 5 GiB.
  package static let maximumPartSize: Int64 = 5 << 30
  /// One MiB; part sizes are whole multiples of it.
  private static let mebibyte: Int64 = 1 << 20

  /// The part size for an upload of about `expectedSize` bytes (nil: unknown) when `preferred` is wanted.
  ///
  /// At least `preferred` and `minimumPartSize`, and large enough that twice `expectedSize` fits in
  /// `maximumParts` parts (the snapshot of a database can come out larger than its reported size),
  /// rounded up to a whole MiB, and at most `maximumPartSize`.
  package static func partSize(expectedSize: Int64?, preferred: Int64) -> Int64 {
    var size = max(preferred, minimumPartSize)
    if let expected = expectedSize, expected > 0 {
      // ceil(2 * expected / 10_000) without overflowing.
      let perPart = Int64(maximumParts / 2)
      let needed = expected / perPart + (expected % perPart == 0 ? 0 : 1)
      size = max(size, needed)
    }
    size = min(size, maximumPartSize)
    let remainder = size % mebibyte
    return remainder == 0 ? size : size - remainder + mebibyte
  }
}

/// The bookkeeping of one multipart upload whose source file may still be growing.
///
/// `partsReady` hands out each part exactly once, in order: whole parts as soon as the file holds
/// them, the short last part only once the file is finished. Uploads may complete in any order;
/// `completedParts` is what CompleteMultipartUpload needs, and `expectedCompositeETag` is the ETag
/// S3 gives the finished object (MD5 of the parts' MD5s, dash, part count) to check it against.
package struct S3MultipartUpload: Sendable {
  /// Bytes per part (all but the last).
  package let partSize: Int64
  /// Bytes handed out so far: the parts cover `[0, bytesHandedOut)`.
  package private(set) var bytesHandedOut: Int64 = 0
  /// Parts handed out so far; they are numbered 1...partCount.
  package private(set) var partCount = 0
  /// Whether the file was reported finished; no part follows then.
  package private(set) var isFinished = false
  /// The largest file size reported; a smaller one later means the file shrank.
  private var largestSizeSeen: Int64 = 0
  /// Bytes of an MD5 digest.
  private static let md5Length = 16
  /// Completed parts by number.
  private var completions: [Int: (eTag: String, md5: [UInt8]?)] = [:]

  /// Starts an upload with parts of `partSize` bytes (values below 1 count as 1; S3 needs `S3MultipartPlan.minimumPartSize`).
  package init(partSize: Int64) {
    self.partSize = max(1, partSize)
  }

  /// The parts that can be uploaded now and were not handed out before, numbered in order.
  ///
  /// `bytesOnDisk` is the current size of the source file and must never go down; `finished` says
  /// it will not grow any more, and hands out the last, short part. A finished empty file has no
  /// parts (upload it with a single PUT). Throws `.io` when the file shrank, grew after it was
  /// finished, or needs more than `S3MultipartPlan.maximumParts` parts; nothing changes then.
  package mutating func partsReady(bytesOnDisk: Int64, finished: Bool) throws(SnapshotError) -> [S3PartRange] {
    guard bytesOnDisk >= largestSizeSeen else {
      throw SnapshotError(
        .io,
        "the snapshot file shrank from \(largestSizeSeen) to \(bytesOnDisk) bytes while it was being uploaded: "
          + "something else writes to it; run the backup again"
      )
    }
    if isFinished {
      guard bytesOnDisk == largestSizeSeen else {
        throw SnapshotError(
          .internal,
          "the snapshot file grew from \(largestSizeSeen) to \(bytesOnDisk) bytes after it was reported complete to the S3 upload"
        )
      }
      return []
    }
    let pending = bytesOnDisk - bytesHandedOut
    let wholeParts = pending / partSize
    let shortPart = finished && pending % partSize != 0 ? 1 : 0
    let total = Int64(partCount) + wholeParts + Int64(shortPart)
    guard total <= Int64(S3MultipartPlan.maximumParts) else {
      throw SnapshotError(
        .io,
        "the snapshot (\(bytesOnDisk) bytes so far) needs more than \(S3MultipartPlan.maximumParts) parts of \(partSize) bytes, "
          + "the most S3 allows in one upload: it grew far past the database size the part size was chosen for; run the backup again"
      )
    }
    var ranges: [S3PartRange] = []
    ranges.reserveCapacity(Int(wholeParts) + shortPart)
    for _ in 0..<wholeParts {
      partCount += 1
      ranges.append(S3PartRange(number: partCount, offset: bytesHandedOut, length: partSize))
      bytesHandedOut += partSize
    }
    if shortPart == 1 {
      partCount += 1
      ranges.append(S3PartRange(number: partCount, offset: bytesHandedOut, length: bytesOnDisk - bytesHandedOut))
      bytesHandedOut = bytesOnDisk
    }
    largestSizeSeen = bytesOnDisk
    isFinished = finished
    return ranges
  }

  /// Records that part `part` was uploaded; `eTag` is the UploadPart answer's, `md5` the 16-byte MD5 of the part's bytes.
  ///
  /// Completing a part again (a retried upload) replaces the earlier record. A part that was never
  /// handed out, or an MD5 that is not 16 bytes, is a bug of the caller: it is not recorded and the
  /// result is false (so `allHandedOutPartsCompleted` stays false and the upload cannot complete).
  @discardableResult
  ///
  /// `md5` is nil when it was not computed (the store verifies CRC-32 checksums instead); the
  /// composite ETag is then unknown.
  package mutating func completed(part: Int, eTag: String, md5: [UInt8]?) -> Bool {
    guard part >= 1 && part <= partCount, md5 == nil || md5?.count == Self.md5Length else { return false }
    completions[part] = (eTag, md5)
    return true
  }

  /// The completed parts, by number: the list CompleteMultipartUpload sends.
  package var completedParts: [(number: Int, eTag: String)] {
    completions.keys.sorted().map { ($0, completions[$0]?.eTag ?? "") }
  }

  /// Whether every part handed out so far has been completed (true before the first part too).
  package var allHandedOutPartsCompleted: Bool {
    completions.count == partCount
  }

  /// Whether every completed part's ETag is the MD5 of its bytes (false before the first completion).
  ///
  /// True on S3 without SSE-KMS or SSE-C, MinIO without encryption, Ceph and moto; only then can
  /// `expectedCompositeETag` be compared with the ETag of the finished object.
  package var partETagsAreMD5: Bool {
    !completions.isEmpty && completions.values.allSatisfy { c in c.md5.map { Self.etagIsMD5(c.eTag, md5: $0) } ?? false }
  }

  /// The ETag S3 will give the finished object, quotes included: `"<hex MD5 of the concatenated part MD5s>-<part count>"`.
  ///
  /// Nil until the file is finished and every part completed, and for an upload without parts.
  /// Only servers whose part ETags are MD5s (no SSE-KMS or SSE-C) produce it; compare with `sameETag`.
  package var expectedCompositeETag: String? {
    guard isFinished, partCount > 0, allHandedOutPartsCompleted else { return nil }
    var digests: [UInt8] = []
    digests.reserveCapacity(partCount * Self.md5Length)
    for number in 1...partCount {
      guard let md5 = completions[number]?.md5 else { return nil }
      digests += md5
    }
    return "\"" + hex(Insecure.MD5.hash(data: digests)) + "-\(partCount)\""
  }

  /// Whether `eTag` (quoted or not) is the MD5 `md5` in hex, in any letter case.
  package static func etagIsMD5(_ eTag: String, md5: [UInt8]) -> Bool {
    md5.count == Self.md5Length && unquoted(eTag).lowercased() == hex(md5)
  }

  /// Whether two ETags are the same, ignoring surrounding quotes, a weak `W/` prefix and letter case.
  package static func sameETag(_ a: String, _ b: String) -> Bool {
    unquoted(a).lowercased() == unquoted(b).lowercased()
  }

  /// The MD5 digest of `bytes` (16 bytes), as `completed(part:eTag:md5:)` wants it.
  package static func md5(_ bytes: [UInt8]) -> [UInt8] {
    Array(Insecure.MD5.hash(data: bytes))
  }

  private static func unquoted(_ eTag: String) -> Substring {
    var s = Substring(eTag.trimmingCharacters(in: .whitespaces))
    if s.hasPrefix("W/") { s = s.dropFirst(2) }
    if s.count >= 2, s.hasPrefix("\""), s.hasSuffix("\"") { s = s.dropFirst().dropLast() }
    return s
  }
}
