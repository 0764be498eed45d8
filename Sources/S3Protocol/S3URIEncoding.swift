import SnapshotCore

/// Percent-encoding of paths and query strings as AWS Signature Version 4 wants them (`UriEncode` in the AWS docs).
///
/// What these functions return is both what is signed and what is sent: the HTTP client must put the path and the
/// query on the wire byte for byte as returned here, without re-encoding or normalizing them (no `.`/`..` removal,
/// no merging of `//`), or S3 computes another canonical request and answers `SignatureDoesNotMatch`.
package enum S3URIEncoding {
  /// AWS UriEncode: unreserved A-Z a-z 0-9 - _ . ~ kept; every other byte of the UTF-8 as %XX uppercase hex;
  /// '/' kept only when encodeSlash is false.
  ///
  /// A space becomes `%20` (never `+`), and `%` itself becomes `%25`: the input is raw text, not something already encoded.
  package static func encode(_ value: String, encodeSlash: Bool) -> String {
    var out: [UInt8] = []
    out.reserveCapacity(value.utf8.count)
    for byte in value.utf8 {
      if isUnreserved(byte) || (byte == UInt8(ascii: "/") && !encodeSlash) {
        out.append(byte)
      } else {
        out.append(UInt8(ascii: "%"))
        out.append(hexDigits[Int(byte >> 4)])
        out.append(hexDigits[Int(byte & 0x0F)])
      }
    }
    return String(decoding: out, as: UTF8.self)
  }

  /// Path of an object for the wire (and the canonical request): "/" + encode(key, encodeSlash: false) for
  /// virtual-host style, "/" + bucket + "/" + encode(key, ...) for path style; bucket only ("/bucket" path style
  /// or "/" virtual-host) when key is empty.
  ///
  /// The key is used as is: a leading `/` in the key gives `//` (virtual-host) or `/bucket//` (path style), and `.` or
  /// `..` segments stay, as S3 does not normalize object paths. The bucket goes through `encode(_:encodeSlash: true)`,
  /// which leaves every valid bucket name unchanged.
  package static func objectPath(bucket: String, key: String, pathStyle: Bool) -> String {
    let encodedKey = encode(key, encodeSlash: false)
    guard pathStyle else { return "/" + encodedKey }
    let encodedBucket = encode(bucket, encodeSlash: true)
    return key.isEmpty ? "/" + encodedBucket : "/" + encodedBucket + "/" + encodedKey
  }

  /// Canonical query string: each name and value encoded with encodeSlash: true, pairs sorted by encoded name then
  /// encoded value, joined "name=value" with "&" (a name with empty value gives "name=").
  ///
  /// Sorting compares the encoded bytes (so `A` < `_` < `a`); an empty list gives the empty string.
  package static func canonicalQuery(_ items: [(name: String, value: String)]) -> String {
    let encoded = items.map { (name: encode($0.name, encodeSlash: true), value: encode($0.value, encodeSlash: true)) }
    let sorted = encoded.sorted { lhs, rhs in
      if lhs.name != rhs.name { return lhs.name.utf8.lexicographicallyPrecedes(rhs.name.utf8) }
      return lhs.value.utf8.lexicographicallyPrecedes(rhs.value.utf8)
    }
    return sorted.map { $0.name + "=" + $0.value }.joined(separator: "&")
  }

  /// RFC 3986 unreserved characters: A-Z a-z 0-9 - . _ ~
  private static func isUnreserved(_ byte: UInt8) -> Bool {
    switch byte {
    case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
      true
    case UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
      true
    default:
      false
    }
  }

  /// Uppercase hexadecimal digits, as AWS requires in `%XX`.
  private static let hexDigits: [UInt8] = Array("0123456789ABCDEF".utf8)
}
