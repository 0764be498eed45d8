import S3Protocol
import SnapshotCore
import Testing

@Suite("S3DownloadResume")
struct S3DownloadResumeTests {
  let eTag = "\"abc\""

  @Test("a resume asks for the rest, only of the same version")
  func headers() {
    #expect(S3DownloadResume.headers(received: 0, eTag: eTag).isEmpty)
    let h = S3DownloadResume.headers(received: 100, eTag: eTag)
    #expect(h.map(\.name) == ["range", "if-match"])
    #expect(h.map(\.value) == ["bytes=100-", eTag])
    #expect(S3DownloadResume.headers(received: 5, eTag: nil).map(\.value) == ["bytes=5-"])
  }

  @Test("a first answer: 200 is the object, anything else an error")
  func firstAnswer() {
    #expect(S3DownloadResume.judge(status: 200, contentRange: nil, answerETag: eTag, asked: nil, size: nil, eTag: nil) == .whole)
    for status in [206, 304, 403, 404, 412, 500] {
      #expect(S3DownloadResume.judge(status: status, contentRange: "bytes 0-9/10", answerETag: nil, asked: nil, size: nil, eTag: nil) == .failure)
    }
  }

  @Test("the exact rest of the same object is appended")
  func rest() {
    #expect(
      S3DownloadResume.judge(status: 206, contentRange: "bytes 100-1023/1024", answerETag: eTag, asked: 100, size: 1024, eTag: eTag) == .rest)
    #expect(
      S3DownloadResume.judge(status: 206, contentRange: "bytes 100-1023/1024", answerETag: nil, asked: 100, size: 1024, eTag: eTag) == .rest)
  }

  @Test(
    "a 206 that is not the rest asked for starts over, never appends",
    arguments: [
      "bytes 0-1023/1024", "bytes 99-1023/1024", "bytes 101-1023/1024", "bytes 100-500/1024", "bytes 100-2047/2048", "bytes */1024",
      "garbage",
    ])
  func wrongRange(_ range: String) {
    let v = S3DownloadResume.judge(status: 206, contentRange: range, answerETag: eTag, asked: 100, size: 1024, eTag: eTag)
    guard case .startOver(let reason) = v else {
      Issue.record("\(range): \(v)")
      return
    }
    #expect(reason.contains(range))
  }

  @Test("a 206 without Content-Range, from another version, or a 412 starts over; a 200 replaces")
  func otherAnswers() {
    if case .startOver = S3DownloadResume.judge(status: 206, contentRange: nil, answerETag: eTag, asked: 100, size: 1024, eTag: eTag) {
    } else {
      Issue.record("a 206 without Content-Range was accepted")
    }
    if case .startOver(let r) = S3DownloadResume.judge(
      status: 206, contentRange: "bytes 100-1023/1024", answerETag: "\"new\"", asked: 100, size: 1024, eTag: eTag)
    {
      #expect(r.contains("another version"))
    } else {
      Issue.record("a 206 of another version was accepted")
    }
    if case .startOver(let r) = S3DownloadResume.judge(status: 412, contentRange: nil, answerETag: nil, asked: 100, size: 1024, eTag: eTag) {
      #expect(r.contains("changed"))
    } else {
      Issue.record("412 did not start over")
    }
    #expect(S3DownloadResume.judge(status: 200, contentRange: nil, answerETag: eTag, asked: 100, size: 1024, eTag: eTag) == .whole)
    #expect(S3DownloadResume.judge(status: 503, contentRange: nil, answerETag: nil, asked: 100, size: 1024, eTag: eTag) == .failure)
  }
}
