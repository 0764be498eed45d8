import EtcdFormats
import SnapshotCore
import SnapshotStorage

/// What `verify` found for one snapshot.
package struct VerifyReport: Sendable {
  /// The file checked.
  package var path: String
  /// Checks that passed, in words, in the order they ran.
  package var passed: [String] = []
  /// Remarks that are not failures (e.g. a plain db copy has no trailer).
  package var notes: [String] = []
  /// The first problem found, with where it is; nil when the snapshot is sound.
  package var problem: String?
}

/// `verify`: etcd's SHA-256 trailer, the SHA-256 and size in our metadata record, and a full
/// bbolt structure check. Reads the file twice at most, in fixed-size chunks.
package enum VerifySnapshot {
  /// Checks one snapshot file; file system errors are thrown, findings are reported.
  package static func check(path: String, metadata: SnapshotMetadata?) throws(SnapshotError) -> VerifyReport {
    var report = VerifyReport(path: path)
    var verifier = SnapshotTrailerVerifier()
    try ChunkedFileReader.forEachChunk(of: path) { verifier.update($0) }
    let check = verifier.finish()

    if SnapshotTrailerVerifier.hasTrailer(fileSize: check.byteCount) {
      if let problem = check.problem {
        report.problem = problem.replacingOccurrences(of: "the data received", with: "the database in the file")
        return report
      }
      report.passed.append("etcd's SHA-256 trailer matches the database")
    } else {
      report.notes.append(
        "no SHA-256 trailer (size % 512 is \(check.byteCount % 512), not 32): a copy of member/snap/db rather than a saved snapshot; restore will need --skip-hash-check"
      )
    }

    if let metadata {
      guard metadata.size == check.byteCount else {
        report.problem =
          "the file is \(check.byteCount) bytes but its metadata record says \(metadata.size): it was truncated or replaced after it was saved"
        return report
      }
      let actual = hex(check.fileSHA256)
      guard metadata.sha256 == actual else {
        report.problem =
          "the file's SHA-256 is \(actual) but its metadata record says \(metadata.sha256): it changed after it was saved"
        return report
      }
      report.passed.append("size and SHA-256 match the metadata record")
    } else {
      report.notes.append("no metadata record: the file was not saved by etcd-snapshot (or its record was removed)")
    }

    do {
      try StructureCheck.run(path: path)
      report.passed.append("bbolt structure is sound")
    } catch {
      report.problem = error.description
    }
    return report
  }
}
