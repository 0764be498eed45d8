import EtcdTestSupport
import PropertyBased
import S3Protocol
import SnapshotCore
import Testing

private let mebibyte: Int64 = 1 << 20

/// The MD5 of `bytes`, as bytes.
private func md5(_ bytes: [UInt8]) -> [UInt8] { S3MultipartUpload.md5(bytes) }

/// The error `body` throws, or nil when it does not throw.
private func thrown<T>(_ body: () throws(SnapshotError) -> T) -> SnapshotError? {
  do {
    _ = try body()
    return nil
  } catch {
    return error
  }
}

/// `count` bytes that depend on `seed`.
private func bytes(_ count: Int, seed: UInt8) -> [UInt8] {
  (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ Int(seed)) }
}

@Suite("S3MultipartPlan and S3MultipartUpload: part sizes and the parts of a growing file")
struct S3MultipartPlanTests {
  @Test("S3's limits")
  func limits() {
    #expect(S3MultipartPlan.minimumPartSize == 5 * mebibyte)
    #expect(S3MultipartPlan.maximumPartSize == 5 * 1024 * mebibyte)
    #expect(S3MultipartPlan.maximumParts == 10_000)
  }

  static let sizes: [(expected: Int64?, preferred: Int64, partSize: Int64)] = [
    (nil, 16 * mebibyte, 16 * mebibyte),
    (0, 16 * mebibyte, 16 * mebibyte),
    (-5, 16 * mebibyte, 16 * mebibyte),
    (8 << 30, 16 * mebibyte, 16 * mebibyte),  // an 8 GiB database: 2x fits in 1,024 parts
    (100 << 30, 16 * mebibyte, 21 * mebibyte),  // 200 GiB / 10,000 = 20.48 MiB, rounded up
    (nil, 1, 5 * mebibyte),
    (nil, -1, 5 * mebibyte),
    (nil, 5 * mebibyte + 1, 6 * mebibyte),
    (nil, 16 * mebibyte - 1, 16 * mebibyte),
    (nil, 1 << 40, 5 << 30),
    (Int64.max, 16 * mebibyte, 5 << 30),
    (50_000 * mebibyte, 5 * mebibyte, 10 * mebibyte),  // exactly 10 MiB per part
    (50_000 * mebibyte + 1, 5 * mebibyte, 11 * mebibyte),
  ]

  @Test("partSize: at least preferred and 5 MiB, 2x the expected size in 10,000 parts, whole MiB", arguments: sizes.indices)
  func partSize(index: Int) {
    let (expected, preferred, partSize) = Self.sizes[index]
    #expect(S3MultipartPlan.partSize(expectedSize: expected, preferred: preferred) == partSize)
  }

  @Test("partSize properties for any expected size and preference")
  func partSizeProperties() async {
    await propertyCheck(count: 1000, input: Gen.int64(in: 0...(1 << 42)), Gen.int64(in: -1...(6 << 30))) { expected, preferred in
      let size = S3MultipartPlan.partSize(expectedSize: expected, preferred: preferred)
      #expect(size % mebibyte == 0)
      #expect(size >= S3MultipartPlan.minimumPartSize)
      #expect(size <= S3MultipartPlan.maximumPartSize)
      #expect(size >= min(preferred, S3MultipartPlan.maximumPartSize))
      if 2 * expected <= S3MultipartPlan.maximumPartSize * 10_000 {
        #expect(size * 10_000 >= 2 * expected)
      }
    }
  }

  @Test("a growing file: whole parts as they appear, the short last one at the end")
  func growingFile() throws {
    var upload = S3MultipartUpload(partSize: 10)
    #expect(try upload.partsReady(bytesOnDisk: 0, finished: false) == [])
    #expect(try upload.partsReady(bytesOnDisk: 9, finished: false) == [])
    #expect(try upload.partsReady(bytesOnDisk: 10, finished: false) == [S3PartRange(number: 1, offset: 0, length: 10)])
    #expect(try upload.partsReady(bytesOnDisk: 10, finished: false) == [])
    #expect(
      try upload.partsReady(bytesOnDisk: 35, finished: false)
        == [S3PartRange(number: 2, offset: 10, length: 10), S3PartRange(number: 3, offset: 20, length: 10)]
    )
    #expect(
      try upload.partsReady(bytesOnDisk: 47, finished: true)
        == [S3PartRange(number: 4, offset: 30, length: 10), S3PartRange(number: 5, offset: 40, length: 7)]
    )
    #expect(try upload.partsReady(bytesOnDisk: 47, finished: true) == [])
    #expect(upload.partCount == 5)
    #expect(upload.bytesHandedOut == 47)
    #expect(upload.isFinished)
  }

  @Test("a file of whole parts has no short part; an empty file has no part at all")
  func edges() throws {
    var whole = S3MultipartUpload(partSize: 10)
    #expect(try whole.partsReady(bytesOnDisk: 20, finished: false).count == 2)
    #expect(try whole.partsReady(bytesOnDisk: 20, finished: true) == [])
    var wholeAtOnce = S3MultipartUpload(partSize: 10)
    #expect(try wholeAtOnce.partsReady(bytesOnDisk: 20, finished: true).map(\.length) == [10, 10])
    var empty = S3MultipartUpload(partSize: 10)
    #expect(try empty.partsReady(bytesOnDisk: 0, finished: true) == [])
    #expect(empty.isFinished)
    #expect(empty.expectedCompositeETag == nil)
    var small = S3MultipartUpload(partSize: 10)
    #expect(try small.partsReady(bytesOnDisk: 3, finished: true) == [S3PartRange(number: 1, offset: 0, length: 3)])
    #expect(S3MultipartUpload(partSize: 0).partSize == 1)
  }

  @Test("a shrinking file, growth after the end and more than 10,000 parts throw, changing nothing")
  func refusals() throws {
    var upload = S3MultipartUpload(partSize: 10)
    _ = try upload.partsReady(bytesOnDisk: 25, finished: false)
    let shrank = thrown { () throws(SnapshotError) in try upload.partsReady(bytesOnDisk: 24, finished: false) }
    #expect(shrank?.code == .io)
    #expect(shrank?.message.contains("shrank from 25 to 24 bytes") == true)
    _ = try upload.partsReady(bytesOnDisk: 26, finished: true)
    #expect(thrown { () throws(SnapshotError) in try upload.partsReady(bytesOnDisk: 27, finished: true) }?.code == .internal)
    #expect(thrown { () throws(SnapshotError) in try upload.partsReady(bytesOnDisk: 27, finished: false) }?.code == .internal)
    #expect(upload.partCount == 3)

    var big = S3MultipartUpload(partSize: 1)
    #expect(try big.partsReady(bytesOnDisk: 9_999, finished: false).count == 9_999)
    #expect(try big.partsReady(bytesOnDisk: 10_000, finished: true).map(\.number) == [10_000])
    var tooBig = S3MultipartUpload(partSize: 1)
    _ = try tooBig.partsReady(bytesOnDisk: 9_999, finished: false)
    let error = thrown { () throws(SnapshotError) in try tooBig.partsReady(bytesOnDisk: 10_001, finished: false) }
    #expect(error?.code == .io)
    #expect(error?.message.contains("10000 parts") == true)
    #expect(tooBig.partCount == 9_999)
    #expect(try tooBig.partsReady(bytesOnDisk: 10_000, finished: false).count == 1)
    // The short last part counts too.
    var lastPart = S3MultipartUpload(partSize: 2)
    _ = try lastPart.partsReady(bytesOnDisk: 20_000, finished: false)
    #expect(thrown { () throws(SnapshotError) in try lastPart.partsReady(bytesOnDisk: 20_001, finished: true) }?.code == .io)
    #expect(lastPart.isFinished == false)
    // A huge size neither loops nor overflows.
    var huge = S3MultipartUpload(partSize: 16 * mebibyte)
    #expect(thrown { () throws(SnapshotError) in try huge.partsReady(bytesOnDisk: Int64.max, finished: true) }?.code == .io)
  }

  @Test("completion in any order; the list for CompleteMultipartUpload is sorted")
  func completion() throws {
    var upload = S3MultipartUpload(partSize: 10)
    _ = try upload.partsReady(bytesOnDisk: 25, finished: true)
    #expect(upload.allHandedOutPartsCompleted == false)
    upload.completed(part: 3, eTag: "\"c\"", md5: md5([3]))
    upload.completed(part: 1, eTag: "\"a\"", md5: md5([1]))
    #expect(upload.allHandedOutPartsCompleted == false)
    #expect(upload.expectedCompositeETag == nil)
    upload.completed(part: 2, eTag: "\"b\"", md5: md5([2]))
    #expect(upload.allHandedOutPartsCompleted)
    #expect(upload.completedParts.map(\.number) == [1, 2, 3])
    #expect(upload.completedParts.map(\.eTag) == ["\"a\"", "\"b\"", "\"c\""])
    // A retried part replaces the earlier record.
    upload.completed(part: 2, eTag: "\"b2\"", md5: md5([2]))
    #expect(upload.completedParts.map(\.eTag) == ["\"a\"", "\"b2\"", "\"c\""])
    // Parts never handed out and MD5s of the wrong length are not recorded.
    let unknownPart = upload.completed(part: 4, eTag: "x", md5: md5([]))
    let partZero = upload.completed(part: 0, eTag: "x", md5: md5([]))
    let shortMD5 = upload.completed(part: 1, eTag: "x", md5: [1, 2, 3])
    #expect(!unknownPart && !partZero && !shortMD5)
    #expect(upload.completedParts.map(\.eTag) == ["\"a\"", "\"b2\"", "\"c\""])
    var early = S3MultipartUpload(partSize: 10)
    let beforeHandedOut = early.completed(part: 1, eTag: "x", md5: md5([]))
    #expect(!beforeHandedOut)
    _ = try early.partsReady(bytesOnDisk: 15, finished: true)
    let afterHandedOut = early.completed(part: 1, eTag: "x", md5: md5([]))
    #expect(afterHandedOut)
    #expect(early.allHandedOutPartsCompleted == false)
  }

  @Test("partETagsAreMD5: only when every completed part's ETag is its MD5 (not with SSE-KMS)")
  func partETagsAreMD5() throws {
    var upload = S3MultipartUpload(partSize: 10)
    _ = try upload.partsReady(bytesOnDisk: 25, finished: true)
    #expect(upload.partETagsAreMD5 == false)
    let digests = [md5([1]), md5([2]), md5([3])]
    upload.completed(part: 1, eTag: "\"\(hex(digests[0]))\"", md5: digests[0])
    upload.completed(part: 2, eTag: hex(digests[1]).uppercased(), md5: digests[1])
    #expect(upload.partETagsAreMD5)
    upload.completed(part: 3, eTag: "\"b4a5b4c7f3c8a1d0e1f2a3b4c5d6e7f8\"", md5: digests[2])
    #expect(upload.partETagsAreMD5 == false)
    #expect(upload.expectedCompositeETag != nil)
  }

  @Test("before the end, completed parts are not enough for a composite ETag")
  func notFinished() throws {
    var upload = S3MultipartUpload(partSize: 10)
    _ = try upload.partsReady(bytesOnDisk: 20, finished: false)
    upload.completed(part: 1, eTag: "a", md5: md5([1]))
    upload.completed(part: 2, eTag: "b", md5: md5([2]))
    #expect(upload.allHandedOutPartsCompleted)
    #expect(upload.expectedCompositeETag == nil)
    _ = try upload.partsReady(bytesOnDisk: 20, finished: true)
    #expect(upload.expectedCompositeETag != nil)
  }

  @Test("the composite ETag of the two-part upload moto 5.2.1 completed as \"528de5c719382b7b1b2829bc75b26cbd-2\"")
  func compositeETagMoto() throws {
    // Part MD5s as moto returned them for a 5 MiB and a 1,000-byte part.
    let part1 = S3MultipartPlanTests.fromHex("de5d9573c86baf05242f9e03eccea09e")
    let part2 = S3MultipartPlanTests.fromHex("6b1367787994e5a3b4811472ee6b889d")
    var upload = S3MultipartUpload(partSize: 5 * mebibyte)
    _ = try upload.partsReady(bytesOnDisk: 5 * mebibyte + 1000, finished: true)
    upload.completed(part: 2, eTag: "\"6b1367787994e5a3b4811472ee6b889d\"", md5: part2)
    upload.completed(part: 1, eTag: "\"de5d9573c86baf05242f9e03eccea09e\"", md5: part1)
    #expect(upload.expectedCompositeETag == "\"528de5c719382b7b1b2829bc75b26cbd-2\"")
    #expect(S3MultipartUpload.sameETag(upload.expectedCompositeETag ?? "", "528DE5C719382B7B1B2829BC75B26CBD-2"))
    #expect(!S3MultipartUpload.sameETag("\"528de5c719382b7b1b2829bc75b26cbd-2\"", "\"528de5c719382b7b1b2829bc75b26cbd-3\""))
  }

  @Test("etagIsMD5 ignores quotes and case")
  func etagIsMD5() {
    let digest = md5(Array("hello".utf8))
    #expect(hex(digest) == "5d41402abc4b2a76b9719d911017c592")
    #expect(S3MultipartUpload.etagIsMD5("\"5d41402abc4b2a76b9719d911017c592\"", md5: digest))
    #expect(S3MultipartUpload.etagIsMD5("5D41402ABC4B2A76B9719D911017C592", md5: digest))
    #expect(S3MultipartUpload.etagIsMD5("W/\"5d41402abc4b2a76b9719d911017c592\"", md5: digest))
    #expect(!S3MultipartUpload.etagIsMD5("\"5d41402abc4b2a76b9719d911017c593\"", md5: digest))
    #expect(!S3MultipartUpload.etagIsMD5("\"5d41402abc4b2a76b9719d911017c592-1\"", md5: digest))
    #expect(!S3MultipartUpload.etagIsMD5("", md5: []))
  }

  /// Growing sizes (each step adds 0...3 part sizes and change) and a part size.
  static let growth = zip(Gen.int64(in: 0...35).array(of: 0...12), Gen.int64(in: 1...9))

  @Test("for any growth: contiguous, non-overlapping, covering [0, total), full parts but the last, numbered 1...n")
  func coverage() async {
    await propertyCheck(count: 1000, input: Self.growth) { steps, partSize in
      var upload = S3MultipartUpload(partSize: partSize)
      var size: Int64 = 0
      var ranges: [S3PartRange] = []
      do {
        for step in steps {
          size += step
          ranges += try upload.partsReady(bytesOnDisk: size, finished: false)
          ranges += try upload.partsReady(bytesOnDisk: size, finished: false)  // asking again hands out nothing
        }
        ranges += try upload.partsReady(bytesOnDisk: size, finished: true)
        ranges += try upload.partsReady(bytesOnDisk: size, finished: true)
      } catch {
        Issue.record("unexpected \(error)")
      }
      #expect(ranges.map(\.number) == Array(0..<ranges.count).map { $0 + 1 })
      var next: Int64 = 0
      for range in ranges {
        #expect(range.offset == next)
        #expect(range.length > 0)
        next += range.length
      }
      #expect(next == size)
      #expect(ranges.dropLast().allSatisfy { $0.length == partSize })
      #expect(ranges.last.map { $0.length <= partSize } ?? true)
      #expect(ranges.count == Int((size + partSize - 1) / partSize))
      #expect(upload.partCount == ranges.count)
      #expect(upload.bytesHandedOut == size)
    }
  }

  @Test("for any file and completion order: the composite ETag is MD5(part MD5s)-n, recomputed plainly")
  func compositeETag() async {
    let input = zip(Gen.int(in: 0...200), Gen.int64(in: 1...40), Gen.uint8(in: 0...255), Gen.uint64())
    await propertyCheck(count: 300, input: input) { size, partSize, seed, orderSeed in
      let file = bytes(size, seed: seed)
      var upload = S3MultipartUpload(partSize: partSize)
      do {
        let ranges = try upload.partsReady(bytesOnDisk: Int64(size), finished: true)
        var rng = SplitMix64(state: orderSeed)
        for range in ranges.shuffled(using: &rng) {
          let part = Array(file[Int(range.offset)..<Int(range.offset + range.length)])
          upload.completed(part: range.number, eTag: "\"\(hex(md5(part)))\"", md5: md5(part))
        }
      } catch {
        Issue.record("unexpected \(error)")
      }
      // Straightforward recomputation: cut the file into parts, MD5 each, MD5 the concatenation.
      var partDigests: [UInt8] = []
      var count = 0
      var offset = 0
      while offset < size {
        let end = min(size, offset + Int(partSize))
        partDigests += md5(Array(file[offset..<end]))
        count += 1
        offset = end
      }
      let expected = count == 0 ? nil : "\"\(hex(md5(partDigests)))-\(count)\""
      #expect(upload.expectedCompositeETag == expected)
      #expect(upload.completedParts.map(\.number) == Array(0..<count).map { $0 + 1 })
      for (number, eTag) in upload.completedParts {
        let start = (number - 1) * Int(partSize)
        let part = Array(file[start..<min(size, start + Int(partSize))])
        #expect(S3MultipartUpload.etagIsMD5(eTag, md5: md5(part)))
      }
    }
  }

  static func fromHex(_ hex: String) -> [UInt8] {
    var out: [UInt8] = []
    var iterator = hex.utf8.makeIterator()
    while let high = iterator.next(), let low = iterator.next() {
      out.append(UInt8(String(decoding: [high, low], as: UTF8.self), radix: 16) ?? 0)
    }
    return out
  }
}
