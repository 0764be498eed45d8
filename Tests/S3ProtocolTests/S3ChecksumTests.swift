import S3Protocol
import SnapshotCore
import Testing

@Suite("S3's CRC-32C checksums")
struct S3ChecksumTests {
  @Test("base64 of the big-endian bytes, and the composite of parts (values from Python's crc32c)")
  func composite() {
    let a = CRC32C.checksum([UInt8](repeating: 0x61, count: 10))
    let b = CRC32C.checksum([UInt8](repeating: 0x62, count: 7))
    #expect(S3Checksum.base64(a) == "5yZkMA==")
    #expect(S3Checksum.composite([a, b]) == "zVOrPQ==")
    #expect(S3Checksum.bigEndianBytes(0x0102_0304) == [1, 2, 3, 4])
    #expect(S3Checksum.matches(reported: "zVOrPQ==-2", expected: "zVOrPQ=="))
    #expect(S3Checksum.matches(reported: "zVOrPQ==", expected: "zVOrPQ=="))
    #expect(!S3Checksum.matches(reported: "AAAAAA==-2", expected: "zVOrPQ=="))
  }

  @Test("CompleteMultipartUpload lists each part's checksum; the answer's composite checksum is read")
  func completeBodyAndAnswer() throws {
    let body = String(
      decoding: S3RequestBody.completeMultipartUpload(parts: [(2, "\"b\""), (1, "\"a\"")], checksums: [1: "5yZkMA=="]), as: UTF8.self)
    #expect(body.contains("<Part><PartNumber>1</PartNumber><ETag>&quot;a&quot;</ETag><ChecksumCRC32C>5yZkMA==</ChecksumCRC32C></Part>"))
    #expect(body.contains("<Part><PartNumber>2</PartNumber><ETag>&quot;b&quot;</ETag></Part>"))
    let answer = Array(
      "<CompleteMultipartUploadResult><Bucket>b</Bucket><Key>k</Key><ETag>\"x-2\"</ETag><ChecksumCRC32C>zVOrPQ==-2</ChecksumCRC32C></CompleteMultipartUploadResult>"
        .utf8)
    #expect(try S3Responses.parseCompleteMultipartUploadOutcome(answer) == .completed(eTag: "\"x-2\"", checksum: "zVOrPQ==-2"))
  }
}
