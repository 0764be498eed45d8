import EtcdTestSupport
import S3Protocol
import SnapshotCore
import Testing

/// Decodes `%XX` sequences back to bytes; nil when a `%` is not followed by two uppercase hex digits.
private func percentDecode(_ text: String) -> String? {
  var bytes: [UInt8] = []
  var iterator = Array(text.utf8).makeIterator()
  while let byte = iterator.next() {
    guard byte == UInt8(ascii: "%") else {
      bytes.append(byte)
      continue
    }
    guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else { return nil }
    bytes.append(high << 4 | low)
  }
  return String(validating: bytes, as: UTF8.self)
}

/// The value of an uppercase hex digit (lowercase is not what AWS wants, so it is rejected).
private func hexValue(_ byte: UInt8) -> UInt8? {
  switch byte {
  case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
  case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
  default: nil
  }
}

/// Whether `text` holds only unreserved characters, `%XX` escapes and (when `slash`) '/'.
private func onlyUnreservedAndEscapes(_ text: String, slash: Bool) -> Bool {
  let allowed = S3URIEncodingTests.keptBytes(slash: slash).union([UInt8(ascii: "%")])
  return text.utf8.allSatisfy { allowed.contains($0) }
}

@Suite("S3URIEncoding: AWS UriEncode, object paths, canonical query strings")
struct S3URIEncodingTests {
  @Test(
    "encode: unreserved characters kept, everything else %XX of the UTF-8 in uppercase hex",
    arguments: [
      ("", ""), ("AZaz09-_.~", "AZaz09-_.~"), ("a b", "a%20b"), ("a+b", "a%2Bb"), ("100%", "100%25"), ("%20", "%2520"),
      ("k=v&x", "k%3Dv%26x"), ("a:b", "a%3Ab"), ("test$file.text", "test%24file.text"), ("?#[]@!'()*,;", "%3F%23%5B%5D%40%21%27%28%29%2A%2C%3B"),
      ("\u{E9}", "%C3%A9"), ("\u{65E5}", "%E6%97%A5"), ("\u{1F600}", "%F0%9F%98%80"), ("e\u{301}", "e%CC%81"),
      ("\u{0}\t\n\u{7F}", "%00%09%0A%7F"), ("\"<>\\^`{|}", "%22%3C%3E%5C%5E%60%7B%7C%7D"),
    ]
  )
  func encodeTable(raw: String, encoded: String) {
    #expect(S3URIEncoding.encode(raw, encodeSlash: true) == encoded)
    #expect(S3URIEncoding.encode(raw, encodeSlash: false) == encoded)
  }

  @Test("encode: '/' kept only when encodeSlash is false")
  func slash() {
    #expect(S3URIEncoding.encode("a/b//c/", encodeSlash: false) == "a/b//c/")
    #expect(S3URIEncoding.encode("a/b//c/", encodeSlash: true) == "a%2Fb%2F%2Fc%2F")
  }

  @Test(
    "objectPath: virtual-host and path style, empty keys, keys used as is (no normalization)",
    arguments: [
      ("bucket", "a/b/c/snap-node-1700000000", false, "/a/b/c/snap-node-1700000000"),
      ("bucket", "a/b/c/snap-node-1700000000", true, "/bucket/a/b/c/snap-node-1700000000"),
      ("bucket", "", false, "/"), ("bucket", "", true, "/bucket"),
      ("bucket", "/lead", false, "//lead"), ("bucket", "/lead", true, "/bucket//lead"),
      ("bucket", "a/./b/../c//", true, "/bucket/a/./b/../c//"),
      ("my.bucket-1", "with space+plus", true, "/my.bucket-1/with%20space%2Bplus"),
      ("bucket", "test$file.text", false, "/test%24file.text"),
    ]
  )
  func objectPath(bucket: String, key: String, pathStyle: Bool, expected: String) {
    #expect(S3URIEncoding.objectPath(bucket: bucket, key: key, pathStyle: pathStyle) == expected)
  }

  @Test("canonicalQuery: empty list gives the empty string, an empty value gives 'name='")
  func emptyQuery() {
    #expect(S3URIEncoding.canonicalQuery([]) == "")
    #expect(S3URIEncoding.canonicalQuery([(name: "uploads", value: "")]) == "uploads=")
    #expect(S3URIEncoding.canonicalQuery([(name: "delete", value: ""), (name: "a", value: "")]) == "a=&delete=")
  }

  @Test("canonicalQuery: names and values encoded with '/' escaped, pairs sorted by encoded name then encoded value")
  func sorting() {
    #expect(
      S3URIEncoding.canonicalQuery([
        (name: "prefix", value: "a/b/"), (name: "max-keys", value: "1000"), (name: "list-type", value: "2"),
        (name: "continuation-token", value: "1ue/Gc+x=="),
      ]) == "continuation-token=1ue%2FGc%2Bx%3D%3D&list-type=2&max-keys=1000&prefix=a%2Fb%2F"
    )
    #expect(S3URIEncoding.canonicalQuery([(name: "uploadId", value: "x"), (name: "partNumber", value: "3")]) == "partNumber=3&uploadId=x")
    // Byte order of the encoded text: uppercase before '_' before lowercase; an encoded 'é' (%C3%A9) before 'a'.
    #expect(S3URIEncoding.canonicalQuery([(name: "a", value: ""), (name: "_", value: ""), (name: "B", value: "")]) == "B=&_=&a=")
    #expect(S3URIEncoding.canonicalQuery([(name: "z", value: "1"), (name: "\u{E9}", value: "2")]) == "%C3%A9=2&z=1")
    // Repeated names: sorted by value; a space is %20 (not '+'), and the order is that of the encoded values
    // ('~' is before 'é' in raw text, after its %C3%A9 encoding).
    #expect(S3URIEncoding.canonicalQuery([(name: "k", value: "b"), (name: "k", value: "a"), (name: "k", value: "")]) == "k=&k=a&k=b")
    #expect(S3URIEncoding.canonicalQuery([(name: "k", value: "+"), (name: "k", value: " ")]) == "k=%20&k=%2B")
    #expect(S3URIEncoding.canonicalQuery([(name: "k", value: "~"), (name: "k", value: "\u{E9}")]) == "k=%C3%A9&k=~")
  }

  @Test("encode round-trips and yields only unreserved characters and %XX, on 3000 seeded random strings")
  func randomRoundTrip() {
    let pool: [Character] =
      (0x00...0x7F).compactMap { UnicodeScalar($0).map(Character.init) }
      + ["\u{E9}", "\u{FC}", "\u{65E5}", "\u{672C}", "\u{1F600}", "\u{301}", "\u{FEFF}", "\u{2028}", "\u{10FFFF}"]
    var random = SplitMix64(state: 0xE7CD_5A3F)
    var failures: [String] = []
    for _ in 0..<3000 {
      let length = Int.random(in: 0...24, using: &random)
      let text = String((0..<length).map { _ in pool[Int.random(in: 0..<pool.count, using: &random)] })
      for encodeSlash in [true, false] {
        let encoded = S3URIEncoding.encode(text, encodeSlash: encodeSlash)
        let kept = Self.keptBytes(slash: !encodeSlash)
        let escapedCount = text.utf8.filter { !kept.contains($0) }.count
        if !onlyUnreservedAndEscapes(encoded, slash: !encodeSlash) || percentDecode(encoded) != text
          || encoded.utf8.count != text.utf8.count + 2 * escapedCount
        {
          failures.append("\(text.debugDescription) (encodeSlash: \(encodeSlash)) -> \(encoded)")
        }
      }
    }
    #expect(failures.isEmpty, "\(failures.prefix(5))")
  }

  /// The bytes encode leaves as they are.
  static func keptBytes(slash: Bool) -> Set<UInt8> {
    Set(Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~".utf8) + (slash ? [UInt8(ascii: "/")] : []))
  }
}
