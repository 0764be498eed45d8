import Foundation
import PropertyBased
import SnapshotCore
import Testing

private func sample(
  name: SnapshotName = SnapshotName(prefix: "on-demand", node: "node-1", timestamp: 1_700_000_000),
  endpoint: String = "https://10.0.0.1:2379"
) -> SnapshotMetadata {
  SnapshotMetadata(
    name: name, size: 20_480 + 32, sha256: String(repeating: "ab", count: 32), revision: 1234,
    etcdVersion: "3.5.1", clusterID: 0xCDF8_18F9_4F5C_1B3E, memberID: 0x8E9E_05C5_2164_694D,
    endpoint: endpoint, toolVersion: "0.1.0", verified: true)
}

@Suite("SnapshotMetadata: the JSON record beside every snapshot")
struct SnapshotMetadataTests {
  @Test("fields come from the name; IDs are lower-case hex as etcd prints them")
  func fields() {
    let m = sample()
    #expect(m.formatVersion == 1)
    #expect(m.name == "on-demand-node-1-1700000000")
    #expect(m.prefix == "on-demand")
    #expect(m.node == "node-1")
    #expect(m.timestamp == 1_700_000_000)
    #expect(m.clusterID == "cdf818f94f5c1b3e")
    #expect(m.memberID == "8e9e05c52164694d")
    #expect(m.snapshotName == SnapshotName(prefix: "on-demand", node: "node-1", timestamp: 1_700_000_000))
  }

  @Test(
    "createdAt is RFC 3339 in UTC",
    arguments: [
      (Int64(0), "1970-01-01T00:00:00Z"),
      (1_700_000_000, "2023-11-14T22:13:20Z"),
      (951_782_400, "2000-02-29T00:00:00Z"),
      (4_102_444_799, "2099-12-31T23:59:59Z"),
    ])
  func createdAt(timestamp: Int64, expected: String) {
    #expect(rfc3339(timestamp: timestamp) == expected)
    #expect(sample(name: SnapshotName(prefix: "p", node: "n", timestamp: timestamp)).createdAt == expected)
  }

  @Test("encoded is sorted, pretty JSON with a final newline and unescaped slashes")
  func encodedShape() throws {
    let data = try sample().encoded()
    let text = try #require(String(data: data, encoding: .utf8))
    #expect(text.hasSuffix("}\n"))
    #expect(text.contains("\"endpoint\" : \"https://10.0.0.1:2379\""))
    let keys = text.split(separator: "\n").compactMap { line -> String? in
      let trimmed = line.drop { $0 == " " }
      guard trimmed.hasPrefix("\""), let end = trimmed.dropFirst().firstIndex(of: "\"") else { return nil }
      return String(trimmed[trimmed.index(after: trimmed.startIndex)..<end])
    }
    #expect(keys == keys.sorted())
    #expect(
      Set(keys) == [
        "clusterID", "createdAt", "endpoint", "etcdVersion", "formatVersion", "memberID", "name", "node", "prefix",
        "revision", "sha256", "size", "timestamp", "toolVersion", "verified",
      ])
  }

  @Test("a record written by hand in the version 1 layout decodes, unknown fields ignored")
  func decodesVersion1() throws {
    let json = """
      {
        "clusterID" : "1", "createdAt" : "2023-11-14T22:13:20Z", "endpoint" : "http://127.0.0.1:2379",
        "etcdVersion" : "3.4.23", "formatVersion" : 1, "memberID" : "2", "name" : "on-demand-n-1700000000",
        "node" : "n", "prefix" : "on-demand", "revision" : 9, "sha256" : "00", "size" : 544,
        "timestamp" : 1700000000, "toolVersion" : "0.0.1", "verified" : false, "addedLater" : [1, 2]
      }
      """
    let m = try SnapshotMetadata.decode(Data(json.utf8))
    #expect(m.snapshotName == SnapshotName(prefix: "on-demand", node: "n", timestamp: 1_700_000_000))
    #expect(m.revision == 9)
    #expect(m.size == 544)
    #expect(m.verified == false)
  }

  @Test("garbage does not decode")
  func garbage() {
    #expect(throws: (any Error).self) { try SnapshotMetadata.decode(Data("{\"name\": 1}".utf8)) }
    #expect(throws: (any Error).self) { try SnapshotMetadata.decode(Data()) }
  }

  @Test("decode(encoded()) gives back the record")
  func roundTrip() async {
    let text = Gen<Character?>.element(of: Array("abc-._/:é\"\\ \n\u{1}")).map { $0! }.string(of: 1...20)
    await propertyCheck(
      count: 300, input: text, text, Gen.int64(in: 0...4_102_444_800), Gen.int64(), Gen.uint64(), Gen.uint64(), Gen.bool
    ) { prefix, node, timestamp, revision, cluster, member, verified in
      let m = SnapshotMetadata(
        name: SnapshotName(prefix: prefix, node: node, timestamp: timestamp), size: revision & 0xFFFF_FFFF,
        sha256: node, revision: revision, etcdVersion: prefix, clusterID: cluster, memberID: member,
        endpoint: "http://\(node):2379", toolVersion: "1", verified: verified)
      let decoded = try SnapshotMetadata.decode(m.encoded())
      #expect(decoded == m)
      #expect(UInt64(m.clusterID, radix: 16) == cluster)
      #expect(UInt64(m.memberID, radix: 16) == member)
    }
  }
}
