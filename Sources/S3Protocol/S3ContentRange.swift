import SnapshotCore

/// A `Content-Range: bytes FIRST-LAST/TOTAL` header of a 206 answer (RFC 9110 §14.4).
///
/// A download that resumes with `Range: bytes=N-` appends only when the answer is exactly the
/// rest of the same object: `first == N`, `last == total - 1`, and `total` the size seen before.
package struct S3ContentRange: Equatable, Sendable {
  /// First byte sent.
  package var first: Int64
  /// Last byte sent (inclusive).
  package var last: Int64
  /// Size of the whole object.
  package var total: Int64

  /// Makes a range.
  package init(first: Int64, last: Int64, total: Int64) {
    self.first = first
    self.last = last
    self.total = total
  }

  /// Parses the header value; nil for anything but a complete, consistent byte range
  /// (an unknown total `*`, an unsatisfied range `*/N`, or `last < first` are nil too).
  package static func parse(_ value: String?) -> S3ContentRange? {
    guard let value else { return nil }
    var text = Substring(value)
    while text.first == " " { text.removeFirst() }
    while text.last == " " { text.removeLast() }
    guard text.lowercased().hasPrefix("bytes ") else { return nil }
    text = text.dropFirst(6)
    while text.first == " " { text.removeFirst() }
    guard let dash = text.firstIndex(of: "-"), let slash = text.firstIndex(of: "/"), dash < slash else { return nil }
    guard let first = digits(text[..<dash]), let last = digits(text[text.index(after: dash)..<slash]),
      let total = digits(text[text.index(after: slash)...])
    else { return nil }
    guard first <= last, last < total else { return nil }
    return S3ContentRange(first: first, last: last, total: total)
  }

  /// True when this answers `Range: bytes=offset-` for an object of `size` bytes.
  package func isRest(from offset: Int64, of size: Int64) -> Bool {
    first == offset && total == size && last == size - 1
  }

  private static func digits(_ s: Substring) -> Int64? {
    guard !s.isEmpty, s.count <= 18, s.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
    return Int64(s)
  }
}
