import PropertyBased
import S3Protocol
import SnapshotCore
import Testing

/// Parses a string literal.
private func parse(_ xml: String) throws(SnapshotError) -> S3XMLElement {
  try S3XML.parse(Array(xml.utf8))
}

/// The error `S3XML.parse` throws for `bytes`, or nil when it parses.
private func parseError(_ bytes: [UInt8]) -> SnapshotError? {
  do {
    _ = try S3XML.parse(bytes)
    return nil
  } catch {
    return error
  }
}

/// Whether `error` is the documented "not valid XML" error.
private func isNotValidXML(_ error: SnapshotError?) -> Bool {
  guard let error else { return false }
  return error.code == .io && error.message.hasPrefix("the S3 server sent a response that is not valid XML (")
    && error.message.contains(" at byte ")
    && error.message.hasSuffix("); check that --s3-endpoint points to an S3-compatible service")
}

/// A ListObjectsV2 answer of moto 5.2.1, as captured (keys `a/two&three.db`, `b/x<y>.db`).
private let motoListing = """
  <?xml version="1.0" encoding="utf-8"?>
  <ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><IsTruncated>false</IsTruncated><Contents><Key>a/two&amp;three.db</Key>\
  <LastModified>2026-11-21T23:34:38.000Z</LastModified><ETag>"d41d8cd98f00b204e9800998ecf8427e"</ETag><Size>0</Size>\
  <StorageClass>STANDARD</StorageClass></Contents><Contents><Key>b/x&lt;y&gt;.db</Key><LastModified>2026-11-21T23:34:38.000Z</LastModified>\
  <ETag>"d41d8cd98f00b204e9800998ecf8427e"</ETag><Size>0</Size><StorageClass>STANDARD</StorageClass></Contents><Name>bkt</Name><Prefix/>\
  <MaxKeys>1000</MaxKeys><KeyCount>2</KeyCount></ListBucketResult>
  """

@Suite("S3XML: the small XML reader for S3 answers")
struct S3XMLTests {
  @Test("a moto listing: names without namespace, entities decoded, self-closing elements empty")
  func motoListingTree() throws {
    let root = try parse(motoListing)
    #expect(root.name == "ListBucketResult")
    #expect(root.text == "")
    #expect(root.children.map(\.name) == ["IsTruncated", "Contents", "Contents", "Name", "Prefix", "MaxKeys", "KeyCount"])
    #expect(root.children("Contents").compactMap { $0.value("Key") } == ["a/two&three.db", "b/x<y>.db"])
    #expect(root.value("Prefix") == "")
    #expect(root.child("Prefix") == S3XMLElement(name: "Prefix"))
    #expect(root.value("Missing") == nil)
    #expect(root.child("Missing") == nil)
    #expect(root.children("Missing").isEmpty)
    let first = try #require(root.child("Contents"))
    #expect(first.value("ETag") == "\"d41d8cd98f00b204e9800998ecf8427e\"")
    #expect(first.value("Size") == "0")
  }

  @Test("whitespace, comments, processing instructions, a BOM and the declaration are skipped")
  func prologAndMisc() throws {
    let xml =
      "\u{FEFF}<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!-- before -->\n<?pi x?>\n<Error>\n  <!-- inside -->\n"
      + "  <Code>NoSuchKey</Code><?pi inside?>\n</Error>\n<!-- after -->\n  "
    let root = try parse(xml)
    #expect(root.name == "Error")
    #expect(root.value("Code") == "NoSuchKey")
    #expect(root.children.count == 1)
    #expect(root.text == "\n  \n  \n")
  }

  @Test("namespace prefixes are stripped from start and end tags; end tags must match the qualified name")
  func namespacePrefixes() throws {
    let root = try parse("<s3:Result xmlns:s3=\"http://s3.amazonaws.com/doc/2006-03-01/\"><s3:Key>k</s3:Key></s3:Result>")
    #expect(root == S3XMLElement(name: "Result", children: [S3XMLElement(name: "Key", text: "k")]))
    #expect(isNotValidXML(parseError(Array("<s3:Key>k</Key>".utf8))))
  }

  @Test("attributes are skipped, also with '>' or '/>' inside quotes, either quote and spaces around '='")
  func attributes() throws {
    let root = try parse("<a x=\"1>2\" y='/>' z = \"it's\"\n\tw=''><b q=\">\"/>t</a >")
    #expect(root == S3XMLElement(name: "a", text: "t", children: [S3XMLElement(name: "b")]))
    #expect(try parse("<a/>") == S3XMLElement(name: "a"))
    #expect(try parse("<a />") == S3XMLElement(name: "a"))
  }

  static let entities: [(xml: String, text: String)] = [
    ("&amp;&lt;&gt;&quot;&apos;", "&<>\"'"),
    ("&#65;&#x41;&#x61;&#0065;&#x0041;", "AAaAA"),
    ("&#xE9;&#233;", "éé"),
    ("&#x20AC;&#8364;", "€€"),
    ("&#x1F600;", "😀"),
    ("&#13;&#10;&#9;", "\r\n\t"),
    ("&#1;", "\u{1}"),
    ("a&amp;amp;b", "a&amp;b"),
    ("é literal ✓ 😀", "é literal ✓ 😀"),
  ]

  @Test("entities and character references decode, also to multi-byte UTF-8", arguments: entities.indices)
  func entity(index: Int) throws {
    let (xml, text) = Self.entities[index]
    #expect(try parse("<k>\(xml)</k>").text == text)
  }

  @Test("CDATA sections are taken literally and join the surrounding text")
  func cdata() throws {
    #expect(try parse("<k>a<![CDATA[<b>&amp;]]]]><![CDATA[>]]>z</k>").text == "a<b>&amp;]]>z")
    #expect(try parse("<k><![CDATA[]]></k>").text == "")
  }

  @Test("text is only the element's own, concatenated around children")
  func ownText() throws {
    let root = try parse("<a>x<b>y<c>deep</c></b>z&amp;</a>")
    #expect(root.text == "xz&")
    #expect(root.child("b")?.text == "y")
    #expect(root.child("b")?.value("c") == "deep")
  }

  @Test("CR LF and lone CR in text become LF; a CR from &#13; stays")
  func lineEnds() throws {
    #expect(try parse("<a>1\r\n2\r3\n4&#13;5\r</a>").text == "1\n2\n3\n4\r5\n")
    #expect(try parse("<a><![CDATA[1\r\n2]]></a>").text == "1\n2")
  }

  @Test("any Collection<UInt8> is accepted")
  func collections() throws {
    let bytes = Array("<a>x</a>".utf8)
    #expect(try S3XML.parse(bytes[...]).text == "x")
    #expect(try S3XML.parse("<a>x</a>".utf8).text == "x")
  }

  static let malformed: [(name: String, xml: String, offset: Int?)] = [
    ("empty", "", 0),
    ("only whitespace", "  \n", 3),
    ("only a declaration", "<?xml version=\"1.0\"?>", 21),
    ("text before the root", "hello<a/>", 0),
    ("mismatched end tag", "<a><b></a></b>", 6),
    ("end tag of another case", "<a></A>", 3),
    ("truncated in text", "<a><b>text", 10),
    ("truncated in a start tag", "<a><b x=\"1\"", 11),
    ("truncated in an attribute value", "<a x=\"1>", 8),
    ("truncated in an end tag", "<a></a", 6),
    ("truncated in a comment", "<a><!-- x", 7),
    ("truncated in CDATA", "<a><![CDATA[x", 12),
    ("unknown entity", "<a>&nbsp;</a>", 3),
    ("entity without ';'", "<a>&amp</a>", 3),
    ("bare '&'", "<a>a & b</a>", 5),
    ("NUL reference", "<a>&#0;</a>", 3),
    ("surrogate reference", "<a>&#xD800;</a>", 3),
    ("reference past U+10FFFF", "<a>&#x110000;</a>", 3),
    ("empty reference", "<a>&#;</a>", 3),
    ("empty hex reference", "<a>&#x;</a>", 3),
    ("bad digit", "<a>&#12a;</a>", 3),
    ("uppercase X in a hex reference", "<a>&#X41;</a>", 3),
    ("a second root", "<a/><b/>", 4),
    ("text after the root", "<a/>x", 4),
    ("DOCTYPE", "<!DOCTYPE a><a/>", 0),
    ("moto's HTML 500 page", "<!doctype html>\n<html lang=en>\n<title>500 Internal Server Error</title>", 0),
    ("unquoted attribute", "<html lang=en></html>", 11),
    ("attribute without a value", "<a x></a>", 4),
    ("'<' in an attribute value", "<a x=\"<\"></a>", 6),
    ("attributes without a space between them", "<a x=\"1\"y=\"2\"/>", 8),
    ("'/' not followed by '>'", "<a/ ></a>", 2),
    ("empty name", "< a/>", 1),
    ("name ending in ':'", "<a:>x</a:>", 1),
    ("end tag with garbage", "<a></a x>", 7),
    ("a declaration inside an element", "<a><!ELEMENT x></a>", 3),
    ("JSON", "{\"error\": \"nope\"}", 0),
  ]

  @Test("malformed input throws .io 'not valid XML … at byte N'", arguments: malformed.indices)
  func malformedInput(index: Int) {
    let (name, xml, offset) = Self.malformed[index]
    let error = parseError(Array(xml.utf8))
    #expect(isNotValidXML(error), "\(name): \(String(describing: error))")
    if let offset { #expect(error?.message.contains("at byte \(offset))") == true, "\(name): \(error?.message ?? "")") }
  }

  @Test("invalid UTF-8 in text or names throws")
  func invalidUTF8() {
    #expect(isNotValidXML(parseError(Array("<a>".utf8) + [0xC3, 0x28] + Array("</a>".utf8))))
    #expect(isNotValidXML(parseError(Array("<".utf8) + [0xFF] + Array("/>".utf8))))
    #expect(isNotValidXML(parseError(Array("<a><![CDATA[".utf8) + [0xED, 0xA0, 0x80] + Array("]]></a>".utf8))))
  }

  @Test("nesting up to maximumDepth is read; one more level, or a million, throws without crashing")
  func depth() throws {
    let depth = S3XML.maximumDepth
    let ok = String(repeating: "<a>", count: depth) + "x" + String(repeating: "</a>", count: depth)
    var element = try parse(ok)
    for _ in 1..<depth { element = try #require(element.child("a")) }
    #expect(element.text == "x")
    let tooDeep = String(repeating: "<a>", count: depth + 1) + String(repeating: "</a>", count: depth + 1)
    #expect(isNotValidXML(parseError(Array(tooDeep.utf8))))
    #expect(isNotValidXML(parseError(Array(String(repeating: "<a>", count: 1_000_000).utf8))))
    // Self-closing elements do not nest, so many of them are fine.
    #expect(try parse("<a>" + String(repeating: "<b/>", count: 100_000) + "</a>").children.count == 100_000)
  }

  @Test("every proper prefix of a real answer throws; the whole answer parses")
  func truncations() throws {
    let bytes = Array(motoListing.utf8)
    for end in 0..<bytes.count {
      #expect(isNotValidXML(parseError(Array(bytes[..<end]))), "prefix of \(end) bytes")
    }
    #expect(parseError(bytes) == nil)
  }

  @Test("large inputs read in linear time: 1 MB of entities, 20,000 elements")
  func largeInputs() throws {
    let text = try parse("<k>" + String(repeating: "&amp;&#x1F600;", count: 80_000) + "</k>").text
    #expect(text == String(repeating: "&😀", count: 80_000))
    let contents = String(repeating: "<Contents><Key>k&lt;</Key><Size>1</Size></Contents>", count: 20_000)
    let root = try parse("<ListBucketResult>\(contents)</ListBucketResult>")
    #expect(root.children("Contents").count == 20_000)
    #expect(root.children.last?.value("Key") == "k<")
  }

  @Test("random bytes never crash: they parse or throw the documented error")
  func randomBytes() async {
    await propertyCheck(count: 2000, input: Gen.uint8(in: 0...255).array(of: 0...200)) { bytes in
      if let error = parseError(bytes) { #expect(isNotValidXML(error)) }
    }
  }

  /// Pieces of XML syntax, so that random documents get past the first byte.
  static let tokens = [
    "<a>", "</a>", "<b x='>'>", "</b>", "<c/>", "<?xml version=\"1.0\"?>", "<!--", "-->", "<![CDATA[", "]]>", "&amp;", "&#x41;",
    "&", ";", "<", ">", "/", "=", "\"", "'", " ", "\r\n", "text", "é", "<s3:a>", "</s3:a>", "<!DOCTYPE", "?>",
  ]

  @Test("random sequences of XML tokens never crash")
  func randomTokens() async {
    let gen = Gen.int(in: 0...(Self.tokens.count - 1)).array(of: 0...40)
    await propertyCheck(count: 3000, input: gen) { indices in
      let xml = indices.map { Self.tokens[$0] }.joined()
      if let error = parseError(Array(xml.utf8)) { #expect(isNotValidXML(error), "\(xml)") }
    }
  }

  @Test("single-byte changes to a real answer never crash")
  func mutations() async {
    let bytes = Array(motoListing.utf8)
    let gen = zip(Gen.int(in: 0...(bytes.count - 1)), Gen.uint8(in: 0...255))
    await propertyCheck(count: 2000, input: gen) { position, byte in
      var mutated = bytes
      mutated[position] = byte
      if let error = parseError(mutated) { #expect(isNotValidXML(error)) }
    }
  }

  @Test("S3XMLWriter.escape: the five entities, CR/LF/tab and control characters as references")
  func escape() {
    #expect(S3XMLWriter.escape("a&b<c>d\"e'f") == "a&amp;b&lt;c&gt;d&quot;e&apos;f")
    #expect(S3XMLWriter.escape("x\r\n\ty") == "x&#13;&#10;&#9;y")
    #expect(S3XMLWriter.escape("\u{1}\u{1F}\u{7F}") == "&#x1;&#x1F;&#x7F;")
    #expect(S3XMLWriter.escape("é😀 plain/key.db") == "é😀 plain/key.db")
    #expect(S3XMLWriter.escape("") == "")
  }

  @Test("escape then parse gives the string back, for any string without NUL")
  func escapeRoundTrip() async {
    // Mostly ASCII (where the entities are), some of everything else but NUL and the surrogates.
    let scalar = zip(Gen.int(in: 0...3), Gen.uint32(in: 0x80...0x10_FFFF), Gen.uint32(in: 1...0x7F)).map { kind, high, low in
      Unicode.Scalar(kind == 0 ? high : low) ?? "?"
    }
    let scalars = scalar.array(of: 0...40)
    await propertyCheck(count: 1000, input: scalars) { scalars in
      var text = ""
      text.unicodeScalars.append(contentsOf: scalars)
      #expect((try? parse("<Key>\(S3XMLWriter.escape(text))</Key>"))?.text == text)
    }
  }
}
