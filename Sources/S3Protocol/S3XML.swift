import SnapshotCore

/// One element of an S3 XML response: its local name, its own text and its child elements.
///
/// Attributes (S3 sends only `xmlns`) are dropped; so are comments and processing instructions.
/// `text` is the character data directly inside this element (entities and CDATA decoded, the
/// pieces around child elements concatenated), without any text of the children.
package struct S3XMLElement: Sendable, Equatable {
  /// Local name: `ListBucketResult` for both `<ListBucketResult>` and `<s3:ListBucketResult>`.
  package var name: String
  /// Decoded character data directly inside the element (whitespace kept as sent).
  package var text: String
  /// Child elements in document order.
  package var children: [S3XMLElement]

  /// Makes an element (tests build expected trees with it).
  package init(name: String, text: String = "", children: [S3XMLElement] = []) {
    self.name = name
    self.text = text
    self.children = children
  }

  /// The first child element named `name`, if any.
  package func child(_ name: String) -> S3XMLElement? {
    children.first { $0.name == name }
  }

  /// All child elements named `name`, in document order.
  package func children(_ name: String) -> [S3XMLElement] {
    children.filter { $0.name == name }
  }

  /// The text of the first child named `name`; nil when there is no such child.
  package func value(_ name: String) -> String? {
    child(name)?.text
  }
}

/// A small, strict-enough XML reader for S3 responses: no DTDs, no external entities, no namespaces beyond prefix stripping.
///
/// It reads in one pass over the bytes (linear time, no recursion) and never traps on any input:
/// malformed input, invalid UTF-8, unknown entities or more than `maximumDepth` nested elements
/// throw `SnapshotError(.io, …)` naming the byte offset. `<!DOCTYPE …>` is refused (S3 never sends one).
/// Numeric character references may name any Unicode scalar but NUL (XML 1.1's range, so that a key
/// with a control character that a server escaped still reads).
package enum S3XML {
  /// Deepest nesting accepted; S3 responses nest four levels at most.
  package static let maximumDepth = 64

  /// Parses `bytes` and returns the root element.
  package static func parse(_ bytes: some Collection<UInt8>) throws(SnapshotError) -> S3XMLElement {
    let array = Array(bytes)
    var reader = S3XMLReader(bytes: array)
    do {
      return try reader.document()
    } catch {
      throw SnapshotError(
        .io,
        "the S3 server sent a response that is not valid XML (\(error.reason) at byte \(error.offset)); "
          + "check that --s3-endpoint points to an S3-compatible service"
      )
    }
  }
}

/// Escaping of text for the request bodies we send (`CompleteMultipartUpload`, `Delete`).
package enum S3XMLWriter {
  /// `s` with `& < > " '` replaced by entities and control characters by numeric references.
  ///
  /// Carriage return, line feed and tab become `&#13;`, `&#10;`, `&#9;` so that an XML parser keeps
  /// them as they are (a literal CR would be normalized to LF); S3 documents this for object keys.
  /// Other control characters become `&#xN;` references, which S3 may refuse; NUL cannot be expressed.
  package static func escape(_ s: String) -> String {
    var out = ""
    out.reserveCapacity(s.utf8.count)
    for scalar in s.unicodeScalars {
      switch scalar {
      case "&": out += "&amp;"
      case "<": out += "&lt;"
      case ">": out += "&gt;"
      case "\"": out += "&quot;"
      case "'": out += "&apos;"
      case "\r": out += "&#13;"
      case "\n": out += "&#10;"
      case "\t": out += "&#9;"
      default:
        if scalar.value < 0x20 || scalar.value == 0x7F {
          out += "&#x" + String(scalar.value, radix: 16, uppercase: true) + ";"
        } else {
          out.unicodeScalars.append(scalar)
        }
      }
    }
    return out
  }
}

/// Why the reader stopped, and where.
private struct S3XMLSyntaxError: Error {
  var reason: String
  var offset: Int
}

/// An element whose end tag has not been read yet.
private struct OpenElement {
  /// Offset and length of the qualified name in the input, to match the end tag byte for byte.
  var nameStart: Int
  var nameLength: Int
  var name: String
  var text: [UInt8] = []
  var children: [S3XMLElement] = []
}

/// The one-pass reader behind `S3XML.parse`.
private struct S3XMLReader {
  let bytes: [UInt8]
  var index = 0

  init(bytes: [UInt8]) {
    self.bytes = bytes
  }

  private func fail(_ reason: String, at offset: Int? = nil) -> S3XMLSyntaxError {
    S3XMLSyntaxError(reason: reason, offset: min(offset ?? index, bytes.count))
  }

  private var atEnd: Bool { index >= bytes.count }

  private func peek(_ offset: Int = 0) -> UInt8? {
    let at = index + offset
    return at < bytes.count ? bytes[at] : nil
  }

  private func hasPrefix(_ literal: StaticString) -> Bool {
    let count = literal.utf8CodeUnitCount
    guard index + count <= bytes.count else { return false }
    let base = literal.utf8Start
    for k in 0..<count where bytes[index + k] != base[k] { return false }
    return true
  }

  private static func isSpace(_ byte: UInt8) -> Bool {
    byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D
  }

  /// Bytes that end a name (whitespace, `/`, `>`, `=`) or can never be part of one.
  private static func endsName(_ byte: UInt8) -> Bool {
    isSpace(byte) || byte == UInt8(ascii: "/") || byte == UInt8(ascii: ">") || byte == UInt8(ascii: "=")
      || byte == UInt8(ascii: "<") || byte == UInt8(ascii: "&") || byte == UInt8(ascii: "\"")
      || byte == UInt8(ascii: "'") || byte == UInt8(ascii: "?") || byte == UInt8(ascii: "!")
  }

  private mutating func skipSpace() {
    while let byte = peek(), Self.isSpace(byte) { index += 1 }
  }

  /// Moves past the next occurrence of `terminator`; fails with `what` when the input ends first.
  private mutating func skip(past terminator: StaticString, what: String) throws(S3XMLSyntaxError) {
    let start = index
    let count = terminator.utf8CodeUnitCount
    let first = terminator.utf8Start[0]
    while index + count <= bytes.count {
      if bytes[index] == first && hasPrefix(terminator) {
        index += count
        return
      }
      index += 1
    }
    throw fail("unterminated \(what)", at: start)
  }

  /// Reads the whole document: prolog, one root element, trailing comments and whitespace.
  mutating func document() throws(S3XMLSyntaxError) -> S3XMLElement {
    if bytes.count >= 3 && bytes[0] == 0xEF && bytes[1] == 0xBB && bytes[2] == 0xBF { index = 3 }
    try misc()
    guard !atEnd else { throw fail(bytes.isEmpty ? "empty response" : "no root element") }
    guard peek() == UInt8(ascii: "<") else { throw fail("text before the root element") }
    let root = try element()
    try misc()
    guard atEnd else { throw fail("content after the root element") }
    return root
  }

  /// Whitespace, comments and processing instructions (the XML declaration is one) outside the root.
  private mutating func misc() throws(S3XMLSyntaxError) {
    while true {
      skipSpace()
      if hasPrefix("<?") {
        try skip(past: "?>", what: "processing instruction")
      } else if hasPrefix("<!--") {
        index += 4
        try skip(past: "-->", what: "comment")
      } else if hasPrefix("<!") {
        throw fail("a DOCTYPE or other declaration, which S3 never sends")
      } else {
        return
      }
    }
  }

  /// Reads a name at `index`; returns where it starts and how long it is.
  private mutating func name() throws(S3XMLSyntaxError) -> (start: Int, length: Int) {
    let start = index
    while let byte = peek(), !Self.endsName(byte) { index += 1 }
    guard index > start else { throw fail("expected a name") }
    return (start, index - start)
  }

  /// The local name (after the last `:`) of the name at `start` as a String.
  private func localName(start: Int, length: Int) throws(S3XMLSyntaxError) -> String {
    var localStart = start
    for k in start..<(start + length) where bytes[k] == UInt8(ascii: ":") { localStart = k + 1 }
    guard localStart < start + length else { throw fail("a name ending in ':'", at: start) }
    guard let decoded = String(validating: bytes[localStart..<(start + length)], as: UTF8.self) else {
      throw fail("a name that is not valid UTF-8", at: start)
    }
    return decoded
  }

  /// Skips the attributes of a start tag and reads its end: returns true for `/>`, false for `>`.
  private mutating func attributesAndTagEnd() throws(S3XMLSyntaxError) -> Bool {
    while true {
      let before = index
      skipSpace()
      guard let byte = peek() else { throw fail("truncated start tag") }
      if byte == UInt8(ascii: ">") {
        index += 1
        return false
      }
      if byte == UInt8(ascii: "/") {
        guard peek(1) == UInt8(ascii: ">") else { throw fail("'/' not followed by '>' in a start tag") }
        index += 2
        return true
      }
      guard index > before else { throw fail("no space before an attribute") }
      _ = try name()
      skipSpace()
      guard peek() == UInt8(ascii: "=") else { throw fail("attribute without '='") }
      index += 1
      skipSpace()
      guard let quote = peek(), quote == UInt8(ascii: "\"") || quote == UInt8(ascii: "'") else {
        throw fail("attribute value without quotes")
      }
      index += 1
      while let valueByte = peek(), valueByte != quote {
        if valueByte == UInt8(ascii: "<") { throw fail("'<' in an attribute value") }
        index += 1
      }
      guard !atEnd else { throw fail("unterminated attribute value") }
      index += 1
    }
  }

  /// Reads one element and everything inside it, `index` being at its `<`.
  private mutating func element() throws(S3XMLSyntaxError) -> S3XMLElement {
    var stack: [OpenElement] = []
    while true {
      // `index` is at a '<' that starts a start tag.
      let tagStart = index
      index += 1
      let (nameStart, nameLength) = try name()
      let local = try localName(start: nameStart, length: nameLength)
      let selfClosing = try attributesAndTagEnd()
      if selfClosing {
        let done = S3XMLElement(name: local)
        if stack.isEmpty { return done }
        stack[stack.count - 1].children.append(done)
      } else {
        guard stack.count < S3XML.maximumDepth else {
          throw fail("elements nested more than \(S3XML.maximumDepth) deep", at: tagStart)
        }
        stack.append(OpenElement(nameStart: nameStart, nameLength: nameLength, name: local))
      }
      // Content until the next start tag; end tags close elements on the way.
      while true {
        guard !stack.isEmpty else { throw fail("internal reader state", at: tagStart) }
        try characterData(into: &stack[stack.count - 1].text)
        guard !atEnd else { throw fail("truncated document: <\(stack[stack.count - 1].name)> is not closed") }
        if hasPrefix("</") {
          let closed = try endTag(matching: stack[stack.count - 1])
          stack.removeLast()
          if stack.isEmpty { return closed }
          stack[stack.count - 1].children.append(closed)
        } else if hasPrefix("<!--") {
          index += 4
          try skip(past: "-->", what: "comment")
        } else if hasPrefix("<![CDATA[") {
          index += 9
          let start = index
          try skip(past: "]]>", what: "CDATA section")
          appendNormalized(bytes[start..<(index - 3)], to: &stack[stack.count - 1].text)
        } else if hasPrefix("<?") {
          try skip(past: "?>", what: "processing instruction")
        } else if hasPrefix("<!") {
          throw fail("a declaration inside an element")
        } else {
          break  // a start tag
        }
      }
    }
  }

  /// Reads the end tag at `index` and returns the finished element.
  private mutating func endTag(matching open: OpenElement) throws(S3XMLSyntaxError) -> S3XMLElement {
    let tagStart = index
    index += 2
    let (start, length) = try name()
    guard length == open.nameLength && bytes[start..<(start + length)].elementsEqual(bytes[open.nameStart..<(open.nameStart + length)])
    else {
      throw fail("end tag </\(String(decoding: bytes[start..<(start + length)], as: UTF8.self))> does not match <\(open.name)>", at: tagStart)
    }
    skipSpace()
    guard peek() == UInt8(ascii: ">") else { throw fail(atEnd ? "truncated end tag" : "unexpected byte in an end tag") }
    index += 1
    guard let text = String(validating: open.text, as: UTF8.self) else {
      throw fail("text of <\(open.name)> that is not valid UTF-8", at: tagStart)
    }
    return S3XMLElement(name: open.name, text: text, children: open.children)
  }

  /// Appends raw bytes, turning CR LF and lone CR into LF as XML requires.
  private func appendNormalized(_ slice: ArraySlice<UInt8>, to text: inout [UInt8]) {
    var previousCR = false
    for byte in slice {
      if byte == 0x0D {
        text.append(0x0A)
        previousCR = true
        continue
      }
      if !(byte == 0x0A && previousCR) { text.append(byte) }
      previousCR = false
    }
  }

  /// Reads character data up to the next `<` (or the end), decoding entities into `text`.
  private mutating func characterData(into text: inout [UInt8]) throws(S3XMLSyntaxError) {
    var runStart = index
    while let byte = peek(), byte != UInt8(ascii: "<") {
      if byte == UInt8(ascii: "&") {
        appendNormalized(bytes[runStart..<index], to: &text)
        try entity(into: &text)
        runStart = index
      } else {
        index += 1
      }
    }
    appendNormalized(bytes[runStart..<index], to: &text)
  }

  /// Decodes the entity or character reference at `index` (at its `&`) into UTF-8.
  private mutating func entity(into text: inout [UInt8]) throws(S3XMLSyntaxError) {
    let start = index
    index += 1
    let bodyStart = index
    // The longest valid body is "#x10FFFF" with leading zeros allowed; 16 bytes bounds the scan.
    while let byte = peek(), byte != UInt8(ascii: ";"), index - bodyStart < 16 { index += 1 }
    guard peek() == UInt8(ascii: ";") else { throw fail("an '&' that does not start an entity", at: start) }
    let body = bytes[bodyStart..<index]
    index += 1
    switch String(decoding: body, as: UTF8.self) {
    case "amp": text.append(UInt8(ascii: "&"))
    case "lt": text.append(UInt8(ascii: "<"))
    case "gt": text.append(UInt8(ascii: ">"))
    case "quot": text.append(UInt8(ascii: "\""))
    case "apos": text.append(UInt8(ascii: "'"))
    default:
      guard body.first == UInt8(ascii: "#"), let scalar = Self.characterReference(body.dropFirst()) else {
        throw fail("unknown entity &\(String(decoding: body, as: UTF8.self));", at: start)
      }
      text.append(contentsOf: String(Character(scalar)).utf8)
    }
  }

  /// The scalar of `NN` or `xHH` (the part after `&#`), nil when not a valid non-NUL Unicode scalar.
  private static func characterReference(_ digits: ArraySlice<UInt8>) -> Unicode.Scalar? {
    var rest = digits
    var radix: UInt32 = 10
    if rest.first == UInt8(ascii: "x") {
      radix = 16
      rest = rest.dropFirst()
    }
    guard !rest.isEmpty else { return nil }
    var value: UInt32 = 0
    for byte in rest {
      let digit: UInt32
      switch byte {
      case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(byte - UInt8(ascii: "0"))
      case UInt8(ascii: "a")...UInt8(ascii: "f") where radix == 16: digit = UInt32(byte - UInt8(ascii: "a") + 10)
      case UInt8(ascii: "A")...UInt8(ascii: "F") where radix == 16: digit = UInt32(byte - UInt8(ascii: "A") + 10)
      default: return nil
      }
      value = value * radix + digit
      if value > 0x10FFFF { return nil }
    }
    guard value != 0 else { return nil }
    return Unicode.Scalar(value)
  }
}
