import PropertyBased
import SnapshotCore
import Testing

/// Characters of host names as they occur in practice (RFC 1123 labels, dots, and `_`).
private let hostCharacters = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._")

/// Node names with `-` and `.` likely in them.
private let nodeGen = Gen<Character?>.element(of: hostCharacters + Array("--..")).map { $0! }.string(of: 1...40)

/// Prefixes without `-`.
private let dashlessGen = Gen<Character?>.element(of: Array("abcdefghijklmnopqrstuvwxyz0123456789._")).map { $0! }
  .string(of: 1...15)

/// Timestamps that fit the 18-digit limit of names.
private let timestampGen = Gen.int64(in: 0...999_999_999_999_999_999)

@Suite("SnapshotName: k3s file names, groups and name validation")
struct SnapshotNameTests {
  @Test("fileName and group are <prefix>-<node>-<ts> and <prefix>-<node>")
  func fileNameAndGroup() {
    let name = SnapshotName(prefix: "on-demand", node: "ip-10-0-0-1.ec2.internal", timestamp: 1_700_000_000)
    #expect(name.fileName == "on-demand-ip-10-0-0-1.ec2.internal-1700000000")
    #expect(name.group == "on-demand-ip-10-0-0-1.ec2.internal")
  }

  @Test(
    "parses k3s names, known prefixes first",
    arguments: [
      ("on-demand-node1-1700000000", "on-demand", "node1", Int64(1_700_000_000)),
      ("etcd-snapshot-server-0-1712345678", "etcd-snapshot", "server-0", 1_712_345_678),
      ("on-demand-ip-10-0-0-1.ec2.internal-5", "on-demand", "ip-10-0-0-1.ec2.internal", 5),
      ("on-demand-etcd-snapshot-x-9", "on-demand", "etcd-snapshot-x", 9),
      ("etcd-snapshot-on-demand-x-9", "etcd-snapshot", "on-demand-x", 9),
      ("daily-node-a-0", "daily", "node-a", 0),
      ("on-demand-n-5-12", "on-demand", "n-5", 12),
    ])
  func parseExamples(fileName: String, prefix: String, node: String, timestamp: Int64) throws {
    let name = try #require(SnapshotName.parse(fileName))
    #expect(name == SnapshotName(prefix: prefix, node: node, timestamp: timestamp))
    #expect(name.fileName == fileName)
  }

  @Test("k3s's .zip names (and .zst, .gz) parse as the name without the suffix; other suffixes do not")
  func compressedSuffixes() {
    for suffix in [".zip", ".zst", ".gz"] {
      #expect(
        SnapshotName.parse("etcd-snapshot-server-0-1733400000" + suffix)
          == SnapshotName(prefix: "etcd-snapshot", node: "server-0", timestamp: 1_733_400_000))
    }
    #expect(SnapshotName.parse("etcd-snapshot-server-0-1733400000.tar") == nil)
    #expect(SnapshotName.parse("etcd-snapshot-server-0-1733400000.zip.zip") == nil, "one suffix only")
    #expect(SnapshotName.parse(".zip") == nil)
  }

  @Test("preferred prefixes are tried before the known ones and before the first dash")
  func preferredPrefixes() throws {
    let guessed = try #require(SnapshotName.parse("my-backup-node-a-100"))
    #expect(guessed.prefix == "my")
    #expect(guessed.node == "backup-node-a")
    let told = try #require(SnapshotName.parse("my-backup-node-a-100", preferredPrefixes: ["my-backup"]))
    #expect(told == SnapshotName(prefix: "my-backup", node: "node-a", timestamp: 100))
    let overriding = try #require(SnapshotName.parse("on-demand-x-y-1", preferredPrefixes: ["on-demand-x"]))
    #expect(overriding == SnapshotName(prefix: "on-demand-x", node: "y", timestamp: 1))
  }

  @Test(
    "refuses names that are not <group>-<digits>",
    arguments: [
      "", "-", "on-demand-node", "on-demand-node-", "on-demand-node-12a", "on-demand-node-1.5", "1700000000",
      "-1700000000", "nodash-1700000000", "on-demand-node-+12", "on-demand-node--12x",
      "on-demand-node-1234567890123456789",  // 19 digits
      "on-demand-node-\u{0661}\u{0662}",  // Arabic-Indic digits are not ASCII
      "on-demand-node-１２",  // full-width digits
      "snapshot.db", "etcd-snapshot-node-1700000000.part",
    ])
  func parseRejects(fileName: String) {
    #expect(SnapshotName.parse(fileName) == nil)
  }

  @Test("parse(fileName) round-trips prefix, node and timestamp for known prefixes and random nodes")
  func roundTripKnownPrefixes() async {
    let input = zip(Gen<String?>.element(of: SnapshotName.knownPrefixes).map { $0! }, nodeGen, timestampGen)
    await propertyCheck(count: 1000, input: input) { prefix, node, timestamp in
      let name = SnapshotName(prefix: prefix, node: node, timestamp: timestamp)
      #expect(SnapshotName.parse(name.fileName) == name)
      #expect(SnapshotName.parse(name.fileName)?.group == "\(prefix)-\(node)")
    }
  }

  @Test("parse round-trips any prefix given as preferred, even one holding dashes")
  func roundTripPreferredPrefixes() async {
    let prefixGen = Gen<Character?>.element(of: hostCharacters).map { $0! }.string(of: 1...20)
    await propertyCheck(count: 500, input: prefixGen, nodeGen, timestampGen) { prefix, node, timestamp in
      let name = SnapshotName(prefix: prefix, node: node, timestamp: timestamp)
      #expect(SnapshotName.parse(name.fileName, preferredPrefixes: [prefix]) == name)
    }
  }

  @Test("without metadata, a prefix with no dash round-trips unless it starts a known prefix")
  func roundTripDashlessPrefixes() async {
    // "on" + "demand-x" is indistinguishable from "on-demand" + "x": the known prefix wins.
    let prefixes = dashlessGen.filter { p in !SnapshotName.knownPrefixes.contains { $0.hasPrefix(p + "-") } }
    await propertyCheck(count: 500, input: prefixes, nodeGen, timestampGen) { prefix, node, timestamp in
      let name = SnapshotName(prefix: prefix, node: node, timestamp: timestamp)
      #expect(SnapshotName.parse(name.fileName) == name)
    }
  }

  @Test("snapshots of one prefix and node share a group; another node or prefix does not")
  func groupEquality() async {
    let input = zip(nodeGen, nodeGen, timestampGen, timestampGen)
    await propertyCheck(count: 300, input: input) { nodeA, nodeB, t1, t2 in
      let a1 = SnapshotName.parse(SnapshotName(prefix: "on-demand", node: nodeA, timestamp: t1).fileName)
      let a2 = SnapshotName.parse(SnapshotName(prefix: "on-demand", node: nodeA, timestamp: t2).fileName)
      let b = SnapshotName.parse(SnapshotName(prefix: "on-demand", node: nodeB, timestamp: t1).fileName)
      let other = SnapshotName.parse(SnapshotName(prefix: "etcd-snapshot", node: nodeA, timestamp: t1).fileName)
      #expect(a1 != nil && a1?.group == a2?.group)
      #expect((a1?.group == b?.group) == (nodeA == nodeB))
      #expect(a1?.group != other?.group)
    }
  }

  @Test("a name whose last character is not an ASCII digit is refused")
  func noTrailingDigitsRejected() async {
    let body = Gen<Character?>.element(of: hostCharacters + Array("0123456789")).map { $0! }.string(of: 0...30)
    let last = Gen<Character?>.element(of: Array("-._aZ/ éx")).map { $0! }
    await propertyCheck(count: 500, input: body, last) { body, last in
      #expect(SnapshotName.parse(body + String(last)) == nil)
    }
  }

  @Test("a name without any dash is refused")
  func noDashRejected() async {
    let text = Gen<Character?>.element(of: Array("abc.0123456789_")).map { $0! }.string(of: 0...30)
    await propertyCheck(count: 300, input: text) { text in
      #expect(SnapshotName.parse(text) == nil)
    }
  }

  // MARK: problem(with:flag:)

  @Test(
    "accepts normal prefixes and host names",
    arguments: [
      "on-demand", "etcd-snapshot", "node1", "ip-10-0-0-1.ec2.internal", "k3s-server-0", "my_node", "a",
      "UPPER.case", "xn--bcher-kva.example", String(repeating: "a", count: 200),
      String(repeating: "é", count: 100),  // 200 UTF-8 bytes
    ])
  func problemAccepts(value: String) {
    #expect(SnapshotName.problem(with: value, flag: "--node-name") == nil)
  }

  @Test(
    "refuses what cannot be part of a file name or S3 key",
    arguments: [
      "", ".", "..", ".hidden", "a..b", "/", "a/b", "/etc", "../x", "a\\b", "a b", " a", "a ", "a\tb", "a\nb", "a\rb", "a\u{0}b",
      "a\u{1B}b", "a\u{7F}", "a\u{A0}b", "a\u{2003}b", "\u{1F}", String(repeating: "a", count: 201),
      String(repeating: "é", count: 101),  // 202 UTF-8 bytes
    ])
  func problemRejects(value: String) throws {
    let problem = try #require(SnapshotName.problem(with: value, flag: "--name"))
    #expect(problem.contains("--name"))
    // The message is printed: control characters in it are escaped, never raw.
    #expect(!problem.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F })
  }

  @Test("random host names are accepted")
  func problemAcceptsRandomHostNames() async {
    let names = Gen<Character?>.element(of: hostCharacters).map { $0! }.string(of: 1...63).filter {
      !$0.hasPrefix(".") && !$0.contains("..")
    }
    await propertyCheck(count: 500, input: names) { name in
      #expect(SnapshotName.problem(with: name, flag: "--node-name") == nil)
    }
  }

  @Test("a host name with one forbidden character anywhere is refused")
  func problemRejectsInsertedCharacter() async {
    let forbidden: [Character] = ["/", "\\", " ", "\t", "\n", "\r", "\u{0}", "\u{1}", "\u{1F}", "\u{7F}", "\u{A0}"]
    let input = zip(
      Gen<Character?>.element(of: hostCharacters).map { $0! }.string(of: 0...30),
      Gen<Character?>.element(of: forbidden).map { $0! },
      Gen.int(in: 0...30))
    await propertyCheck(count: 500, input: input) { name, bad, position in
      var chars = Array(name)
      chars.insert(bad, at: min(position, chars.count))
      let value = String(chars)
      #expect(SnapshotName.problem(with: value, flag: "--name") != nil, "\(value.debugDescription)")
    }
  }

  @Test("quoted escapes control characters and keeps everything else")
  func quotedEscapes() {
    #expect(quoted("node-1") == "`node-1`")
    #expect(quoted("a\nb") == "`a\\u{a}b`")
    #expect(quoted("\u{7F}é") == "`\\u{7f}é`")
    #expect(escapedForTerminal("a\u{1B}[31mred\u{9B}2J") == "a\\u{1b}[31mred\\u{9b}2J")
    #expect(escapedForTerminal("evil\u{202E}txt.db\u{200B}") == "evil\\u{202e}txt.db\\u{200b}")
    #expect(escapedForTerminal("back\\slash") == "back\\u{5c}slash")
    #expect(escapedForTerminal("ünïcode-名前 ok") == "ünïcode-名前 ok")
  }
}
