import EtcdTestSupport
import PropertyBased
import S3Protocol
import SnapshotCore
import Testing

/// The request body as a String.
private func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

@Suite("S3RequestBody: CompleteMultipartUpload and DeleteObjects bodies, Content-MD5")
struct S3RequestsTests {
  @Test("CompleteMultipartUpload lists the parts sorted by number, ETags escaped")
  func completeBody() throws {
    let body = S3RequestBody.completeMultipartUpload(parts: [
      (number: 2, eTag: "\"6b1367787994e5a3b4811472ee6b889d\""),
      (number: 1, eTag: "\"de5d9573c86baf05242f9e03eccea09e\""),
      (number: 10, eTag: "odd<&>"),
    ])
    #expect(
      text(body)
        == "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
        + "<Part><PartNumber>1</PartNumber><ETag>&quot;de5d9573c86baf05242f9e03eccea09e&quot;</ETag></Part>"
        + "<Part><PartNumber>2</PartNumber><ETag>&quot;6b1367787994e5a3b4811472ee6b889d&quot;</ETag></Part>"
        + "<Part><PartNumber>10</PartNumber><ETag>odd&lt;&amp;&gt;</ETag></Part>"
        + "</CompleteMultipartUpload>"
    )
    // Our own reader sees what S3 will see.
    let root = try S3XML.parse(body)
    #expect(root.children("Part").map { $0.value("PartNumber") } == ["1", "2", "10"])
    #expect(
      root.children("Part").map { $0.value("ETag") } == ["\"de5d9573c86baf05242f9e03eccea09e\"", "\"6b1367787994e5a3b4811472ee6b889d\"", "odd<&>"])
  }

  @Test("the exact body moto 5.2.1 accepted for a two-part upload")
  func completeBodyMotoAccepted() {
    // Sent with curl to moto_server, which answered 200 with ETag "528de5c719382b7b1b2829bc75b26cbd-2".
    let accepted = """
      <CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Part><PartNumber>1</PartNumber>\
      <ETag>&quot;de5d9573c86baf05242f9e03eccea09e&quot;</ETag></Part><Part><PartNumber>2</PartNumber>\
      <ETag>&quot;6b1367787994e5a3b4811472ee6b889d&quot;</ETag></Part></CompleteMultipartUpload>
      """
    let body = S3RequestBody.completeMultipartUpload(parts: [
      (number: 1, eTag: "\"de5d9573c86baf05242f9e03eccea09e\""), (number: 2, eTag: "\"6b1367787994e5a3b4811472ee6b889d\""),
    ])
    #expect(text(body) == accepted)
  }

  @Test("CompleteMultipartUpload with shuffled parts always reads back sorted")
  func completeSorted() async {
    await propertyCheck(count: 300, input: Gen.int(in: 1...10_000).set(ofAtMost: 0...50), Gen.uint64()) { numbers, seed in
      var rng = SplitMix64(state: seed)
      let parts = numbers.shuffled(using: &rng).map { (number: $0, eTag: "\"etag-\($0)\"") }
      let root = try? S3XML.parse(S3RequestBody.completeMultipartUpload(parts: parts))
      #expect(root?.children("Part").compactMap { $0.value("PartNumber").flatMap { Int($0) } } == numbers.sorted())
      #expect(root?.children("Part").compactMap { $0.value("ETag") } == numbers.sorted().map { "\"etag-\($0)\"" })
    }
  }

  @Test("DeleteObjects: the declaration, Quiet only when asked, keys escaped in order")
  func deleteBody() throws {
    let keys = ["a/one.db", "a/two&three.db", "b/x<y>.db", "line\nbreak", "it's \"q\""]
    let loud = text(S3RequestBody.deleteObjects(keys: keys, quiet: false))
    #expect(
      loud
        == "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Delete xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
        + "<Object><Key>a/one.db</Key></Object><Object><Key>a/two&amp;three.db</Key></Object>"
        + "<Object><Key>b/x&lt;y&gt;.db</Key></Object><Object><Key>line&#10;break</Key></Object>"
        + "<Object><Key>it&apos;s &quot;q&quot;</Key></Object></Delete>"
    )
    let quiet = S3RequestBody.deleteObjects(keys: keys, quiet: true)
    #expect(text(quiet).contains("<Delete xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Quiet>true</Quiet><Object>"))
    let root = try S3XML.parse(quiet)
    #expect(root.name == "Delete")
    #expect(root.value("Quiet") == "true")
    #expect(root.children("Object").compactMap { $0.value("Key") } == keys)
  }

  @Test("deleteBatches cuts lists into at most 1000 keys, keeping order")
  func batches() {
    #expect(S3RequestBody.maximumDeleteKeys == 1000)
    #expect(S3RequestBody.deleteBatches([]).isEmpty)
    let keys = (0..<2501).map { "k\($0)" }
    let batches = S3RequestBody.deleteBatches(keys)
    #expect(batches.map(\.count) == [1000, 1000, 501])
    #expect(batches.flatMap { $0 } == keys)
    #expect(S3RequestBody.deleteBatches(Array(keys.prefix(1000))).map(\.count) == [1000])
  }

  static let md5Vectors: [(input: String, base64: String)] = [
    ("", "1B2M2Y8AsgTpgAmY7PhCfg=="),
    ("hello", "XUFAKrxLKna5cZ2REBfFkg=="),
    ("The quick brown fox jumps over the lazy dog", "nhB9nTcrtoJr2B01QqQZ1g=="),
  ]

  @Test("Content-MD5 is the base64 of the MD5 digest", arguments: md5Vectors.indices)
  func contentMD5(index: Int) {
    let (input, base64) = Self.md5Vectors[index]
    #expect(S3RequestBody.contentMD5(Array(input.utf8)) == base64)
  }

  @Test("Content-MD5 of a DeleteObjects body (checked with openssl md5 -binary | base64)")
  func contentMD5OfDeleteBody() {
    let body = S3RequestBody.deleteObjects(keys: ["b/x<y>.db"], quiet: true)
    #expect(S3RequestBody.contentMD5(body) == Self.deleteBodyMD5)
  }

  static let deleteBodyMD5 = "tdoMC7uFdjJSRIk0Ng190Q=="
}

@Suite("S3RequestBody.tagging: the PutObjectTagging body")
struct S3TaggingBodyTests {
  @Test("PutObjectTagging body: tags sorted by key, escaped")
  func taggingBody() {
    let body = String(decoding: S3RequestBody.tagging(["b": "2", "a": "x<&>"]), as: UTF8.self)
    #expect(
      body == "<Tagging xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><TagSet><Tag><Key>a</Key><Value>x&lt;&amp;&gt;</Value></Tag>"
        + "<Tag><Key>b</Key><Value>2</Value></Tag></TagSet></Tagging>")
  }
}
