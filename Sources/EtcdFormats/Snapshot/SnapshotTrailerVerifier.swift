// The snapshot file etcd streams (Maintenance.Snapshot, `etcdctl snapshot save`):
//
//   +----------------------------------------+-------------------------------+
//   | bbolt database image, S bytes          | SHA-256 of those S bytes (32) |
//   +----------------------------------------+-------------------------------+
//
// S is a multiple of the bbolt page size (>= 512), so a file with a trailer has
// size % 512 == 32, and etcd's restore uses exactly that rule to decide whether a trailer is
// present. Checked against etcd 3.4.23 and 3.5.1 (docs/etcd-data-dir.md §1).
import Crypto
import Foundation
import SnapshotCore

/// Checks etcd's SHA-256 trailer while the bytes stream past, in one pass and constant memory.
///
/// Every byte but the last 32 seen so far is hashed; the last 32 are held back because they may
/// be the trailer. At the end the held bytes are compared with the digest of the rest. The same
/// pass also yields the SHA-256 of the whole file (trailer included) by continuing a copy of
/// the hash state, so no byte is hashed twice.
package struct SnapshotTrailerVerifier: Sendable {
  /// Size of the trailer.
  package static let trailerSize = 32

  /// etcd's rule for "a SHA-256 trailer follows the database": the file size is 32 more than
  /// a multiple of 512 (the database is whole bbolt pages of at least 512 bytes). The one place
  /// the rule is written; restore, verify and the file summary all ask here.
  package static func hasTrailer(fileSize: Int64) -> Bool {
    fileSize % 512 == Int64(trailerSize)
  }
  /// Largest database bbolt can hold on a 64-bit machine (its maxMapSize, 0xFFFFFFFFFFFF bytes).
  package static let maximumDatabaseSize: Int64 = 0xFFFF_FFFF_FFFF

  /// The file size (database plus trailer) that the first chunk of etcd's stream announces:
  /// its `remainingBytes` plus its own length is the database size.
  ///
  /// `nil` when the announcement is impossible (a database larger than bbolt can hold, e.g.
  /// `remainingBytes` of 2^63 from a broken or malicious server): it is only a hint, for
  /// progress and an upload's part size, and an unknown size is the safe answer.
  package static func announcedFileSize(remainingBytes: UInt64, firstChunkBytes: Int) -> Int64? {
    guard let remaining = Int64(exactly: remainingBytes), let chunk = Int64(exactly: firstChunkBytes), chunk >= 0,
      remaining <= maximumDatabaseSize, chunk <= maximumDatabaseSize - remaining
    else { return nil }
    return remaining + chunk + Int64(trailerSize)
  }

  private var hasher = SHA256()
  private var held: [UInt8] = []
  /// Bytes seen so far.
  package private(set) var byteCount: Int64 = 0

  /// A verifier that has seen nothing.
  package init() {
    held.reserveCapacity(2 * Self.trailerSize)
  }

  /// Feeds the next bytes of the stream.
  package mutating func update(_ bytes: UnsafeRawBufferPointer) {
    let n = bytes.count
    guard n > 0 else { return }
    byteCount += Int64(n)
    let keep = Self.trailerSize
    if n >= keep {
      if !held.isEmpty {
        held.withUnsafeBytes { hasher.update(bufferPointer: $0) }
        held.removeAll(keepingCapacity: true)
      }
      hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: bytes[0..<(n - keep)]))
      held.append(contentsOf: bytes[(n - keep)..<n])
    } else {
      held.append(contentsOf: bytes)
      if held.count > keep {
        let extra = held.count - keep
        held.withUnsafeBytes { hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: $0[0..<extra])) }
        held.removeFirst(extra)
      }
    }
  }

  /// Feeds bytes from any contiguous collection.
  package mutating func update<Bytes: ContiguousBytes>(_ bytes: Bytes) {
    bytes.withUnsafeBytes { update($0) }
  }

  /// The outcome once the stream has ended.
  package func finish() -> SnapshotTrailerCheck {
    var fileHasher = hasher
    held.withUnsafeBytes { fileHasher.update(bufferPointer: $0) }
    let fileDigest = Array(fileHasher.finalize())
    guard held.count == Self.trailerSize else {
      return SnapshotTrailerCheck(
        byteCount: byteCount, expected: nil, computed: nil, fileSHA256: fileDigest)
    }
    return SnapshotTrailerCheck(
      byteCount: byteCount, expected: held, computed: Array(hasher.finalize()), fileSHA256: fileDigest)
  }
}

/// What the trailer check found.
package struct SnapshotTrailerCheck: Sendable, Equatable {
  /// Total bytes of the file, trailer included.
  package var byteCount: Int64
  /// The last 32 bytes (the trailer etcd sent), nil if the stream was shorter.
  package var expected: [UInt8]?
  /// SHA-256 of everything before the last 32 bytes.
  package var computed: [UInt8]?
  /// SHA-256 of the whole file, trailer included (what `sha256sum` prints).
  package var fileSHA256: [UInt8]

  /// True when the size follows etcd's rule (`size % 512 == 32`) and the digests agree.
  package var isValid: Bool {
    SnapshotTrailerVerifier.hasTrailer(fileSize: byteCount) && expected != nil && expected == computed
  }

  /// Why the check failed, in words, or nil when it passed.
  package var problem: String? {
    guard let expected, let computed else {
      return "the stream ended after \(byteCount) bytes, too short to hold etcd's 32-byte SHA-256 trailer"
    }
    if !SnapshotTrailerVerifier.hasTrailer(fileSize: byteCount) {
      return
        "the stream is \(byteCount) bytes, which is not a bbolt database plus a 32-byte SHA-256 trailer (size % 512 must be 32): it was cut short or is not an etcd snapshot"
    }
    if expected != computed {
      return
        "SHA-256 mismatch: etcd's trailer says \(hex(expected)) but the data received hashes to \(hex(computed)): the snapshot was corrupted in transit"
    }
    return nil
  }
}
