import SnapshotCore

/// How a download resumes after a broken or stalled connection, as pure decisions.
///
/// The first GET learns the object's size and ETag. A resume asks for `Range: bytes=N-` with
/// `If-Match: ETAG`; its answer is appended only when it is exactly the rest of that object.
/// A whole object (200) replaces what was received; any other range, or 412 (the object
/// changed), starts the download over. The S3 client is the thin shell around this.
package enum S3DownloadResume {
  /// What to do with an answer.
  package enum Verdict: Equatable, Sendable {
    /// A whole object from byte 0: drop what was received, then take this body.
    case whole
    /// The rest of the same object: append this body.
    case rest
    /// Not what was asked: drop what was received and ask again from byte 0.
    case startOver(reason: String)
    /// An error answer, for the S3 error classification.
    case failure
  }

  /// The headers of a resume request for `received` bytes of an object with `eTag`, or none
  /// when nothing was received yet.
  package static func headers(received: Int64, eTag: String?) -> [(name: String, value: String)] {
    guard received > 0 else { return [] }
    var out = [(name: "range", value: "bytes=\(received)-")]
    if let eTag { out.append((name: "if-match", value: eTag)) }
    return out
  }

  /// Judges an answer. `asked` is the offset of the range asked for (nil for a plain GET);
  /// `size` and `eTag` are what the first answer said of the object.
  package static func judge(
    status: Int, contentRange: String?, answerETag: String?, asked: Int64?, size: Int64?, eTag: String?
  ) -> Verdict {
    if status == 200 { return .whole }
    guard let asked, let size else { return .failure }
    switch status {
    case 206:
      guard let range = S3ContentRange.parse(contentRange), range.isRest(from: asked, of: size) else {
        let answered = contentRange.map { "Content-Range \($0)" } ?? "no Content-Range"
        return .startOver(reason: "the resumed download got \(answered) instead of bytes \(asked)-\(size - 1)/\(size)")
      }
      if let answerETag, let eTag, answerETag != eTag {
        return .startOver(reason: "the resumed download came from another version of the object (ETag \(answerETag), not \(eTag))")
      }
      return .rest
    case 412:
      return .startOver(reason: "the object changed while it was downloaded (its ETag is no longer \(eTag ?? "the same"))")
    default:
      return .failure
    }
  }
}
