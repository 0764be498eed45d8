import PropertyBased
import S3Protocol
import SnapshotCore
import Testing

@Suite("S3ContentRange")
struct S3ContentRangeTests {
  @Test("parses what S3 sends for a resumed download")
  func parsesS3() {
    #expect(S3ContentRange.parse("bytes 100-1023/1024") == S3ContentRange(first: 100, last: 1023, total: 1024))
    #expect(S3ContentRange.parse(" bytes  0-0/1 ") == S3ContentRange(first: 0, last: 0, total: 1))
    #expect(S3ContentRange.parse("Bytes 5-9/10") == S3ContentRange(first: 5, last: 9, total: 10))
  }

  @Test(
    "refuses what is not a complete, consistent byte range",
    arguments: [
      nil, "", "bytes", "bytes */1024", "bytes 0-10/*", "bytes 10-5/20", "bytes 0-20/20", "items 0-1/2", "bytes -1-5/10",
      "bytes 0-5", "bytes 0/5-9", "bytes 1-2/3/4", "bytes 99999999999999999999-1/2", "bytes ٣-٤/٥",
    ])
  func refuses(_ value: String?) {
    #expect(S3ContentRange.parse(value) == nil)
  }

  @Test("only the exact rest of the same object counts as a resume")
  func isRest() {
    let r = S3ContentRange(first: 100, last: 1023, total: 1024)
    #expect(r.isRest(from: 100, of: 1024))
    #expect(!r.isRest(from: 99, of: 1024))
    #expect(!r.isRest(from: 100, of: 2048))
    #expect(!S3ContentRange(first: 100, last: 500, total: 1024).isRest(from: 100, of: 1024))
  }

  @Test("what it formats, it parses back")
  func roundTrip() async {
    await propertyCheck(input: Gen.int64(in: 1...(1 << 50)), Gen.int64(in: 0...(1 << 50)), Gen.int64(in: 0...(1 << 50))) {
      total, a, b in
      let first = min(a, b) % total
      let last = max(first, max(a, b) % total)
      let text = "bytes \(first)-\(last)/\(total)"
      #expect(S3ContentRange.parse(text) == S3ContentRange(first: first, last: last, total: total))
    }
  }
}
