import Foundation
import PropertyBased
import S3Protocol
import SnapshotCore
import Testing

/// The UTF-8 bytes of `text`.
private func utf8(_ text: String) -> [UInt8] { Array(text.utf8) }

/// The error `body` throws, or nil when it does not throw.
private func thrown<T>(_ body: () throws(SnapshotError) -> T) -> SnapshotError? {
  do {
    _ = try body()
    return nil
  } catch {
    return error
  }
}

/// Answers as the S3 API reference documents them.
private enum AWSBodies {
  /// ListObjectsV2, one page with the whole listing.
  static let listing = """
    <?xml version="1.0" encoding="UTF-8"?>
    <ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
        <Name>bucket</Name>
        <Prefix/>
        <KeyCount>205</KeyCount>
        <MaxKeys>1000</MaxKeys>
        <IsTruncated>false</IsTruncated>
        <Contents>
            <Key>my-image.jpg</Key>
            <LastModified>2009-10-12T17:50:30.000Z</LastModified>
            <ETag>"fba9dede5f27731c9771645a39863328"</ETag>
            <Size>434234</Size>
            <StorageClass>STANDARD</StorageClass>
        </Contents>
        <Contents>
            <Key>my-third-image.jpg</Key>
            <LastModified>2009-10-12T17:50:30.000Z</LastModified>
            <ETag>"1b2cf535f27731c974343645a3985328"</ETag>
            <Size>64994</Size>
            <StorageClass>STANDARD_IA</StorageClass>
        </Contents>
    </ListBucketResult>
    """

  /// ListObjectsV2 with `delimiter=/`.
  static let commonPrefixes = """
    <ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
      <Name>example-bucket</Name>
      <Prefix></Prefix>
      <KeyCount>2</KeyCount>
      <MaxKeys>1000</MaxKeys>
      <Delimiter>/</Delimiter>
      <IsTruncated>false</IsTruncated>
      <Contents>
        <Key>sample.jpg</Key>
        <LastModified>2011-02-26T01:56:20.000Z</LastModified>
        <ETag>"bf1d737a4d46a19f3bced6905cc8b902"</ETag>
        <Size>142863</Size>
        <StorageClass>STANDARD</StorageClass>
      </Contents>
      <CommonPrefixes>
        <Prefix>photos/</Prefix>
      </CommonPrefixes>
    </ListBucketResult>
    """

  /// ListObjectsV2 with `max-keys=3`: the first of several pages.
  static let truncated = """
    <?xml version="1.0" encoding="UTF-8"?>
    <ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
      <Name>bucket</Name>
      <Prefix></Prefix>
      <NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>
      <KeyCount>3</KeyCount>
      <MaxKeys>3</MaxKeys>
      <IsTruncated>true</IsTruncated>
      <Contents>
        <Key>happyface.jpg</Key>
        <LastModified>2014-11-21T19:40:05.000Z</LastModified>
        <ETag>"70ee1738b6b21e2c8a43f3a5ab0eee71"</ETag>
        <Size>11</Size>
        <StorageClass>STANDARD</StorageClass>
      </Contents>
      <Contents>
        <Key>happyface2.jpg</Key>
        <LastModified>2014-11-21T19:40:05.000Z</LastModified>
        <ETag>"70ee1738b6b21e2c8a43f3a5ab0eee71"</ETag>
        <Size>11</Size>
        <StorageClass>STANDARD</StorageClass>
      </Contents>
      <Contents>
        <Key>happyface3.jpg</Key>
        <LastModified>2014-11-21T19:40:05.000Z</LastModified>
        <ETag>"70ee1738b6b21e2c8a43f3a5ab0eee71"</ETag>
        <Size>11</Size>
        <StorageClass>STANDARD</StorageClass>
      </Contents>
    </ListBucketResult>
    """

  /// CreateMultipartUpload.
  static let initiate = """
    <?xml version="1.0" encoding="UTF-8"?>
    <InitiateMultipartUploadResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
      <Bucket>example-bucket</Bucket>
      <Key>example-object</Key>
      <UploadId>VXBsb2FkIElEIGZvciA2aWWpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA</UploadId>
    </InitiateMultipartUploadResult>
    """

  /// CompleteMultipartUpload (the documented Location holds a placeholder; a region stands in for it).
  static let complete = """
    <?xml version="1.0" encoding="UTF-8"?>
    <CompleteMultipartUploadResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
      <Location>http://Example-Bucket.s3.eu-west-1.amazonaws.com/Example-Object</Location>
      <Bucket>Example-Bucket</Bucket>
      <Key>Example-Object</Key>
      <ETag>"3858f62230ac3c915f300c664312c11f-9"</ETag>
    </CompleteMultipartUploadResult>
    """

  /// CompleteMultipartUpload that failed after the 200 status was sent.
  static let completeWithError = """
    <?xml version="1.0" encoding="UTF-8"?>

    <Error>
    <Code>InternalError</Code>
    <Message>We encountered an internal error. Please try again.</Message>
    <RequestId>656c76696e6727732072657175657374</RequestId>
    <HostId>Uuag1LuByRx9e6j5Onimru9pO4ZVKnJ2Qz7/C1NPcfTWAtRPfTaOFg==</HostId>
    </Error>
    """

  /// The REST error response.
  static let noSuchKey = """
    <?xml version="1.0" encoding="UTF-8"?>
    <Error>
      <Code>NoSuchKey</Code>
      <Message>The resource you requested does not exist</Message>
      <Resource>/mybucket/myfoto.jpg</Resource>
      <RequestId>4442587FB7D0A2F9</RequestId>
    </Error>
    """

  /// A request signed for the wrong region.
  static let wrongRegion = """
    <?xml version="1.0" encoding="UTF-8"?>
    <Error><Code>AuthorizationHeaderMalformed</Code><Message>The authorization header is malformed; the region 'us-east-1' is wrong; \
    expecting 'eu-central-1'</Message><Region>eu-central-1</Region><RequestId>2B4E4C5BFB5F3AC1</RequestId>\
    <HostId>hJ3dPCbm4MZHMoLkeLBuRxGqY0vvgEhK2Zr3x3LJ8gO0oqXnbh3eN3gJ/YQ0kDcqgX8DtNlPz1k=</HostId></Error>
    """

  /// A bucket in another region, addressed through the wrong endpoint.
  static let permanentRedirect = """
    <?xml version="1.0" encoding="UTF-8"?>
    <Error><Code>PermanentRedirect</Code><Message>The bucket you are attempting to access must be addressed using the specified endpoint. \
    Please send all future requests to this endpoint.</Message><Endpoint>my-bucket.s3.eu-west-1.amazonaws.com</Endpoint>\
    <Bucket>my-bucket</Bucket><RequestId>8H2WZ3ZQ3JX7QF0T</RequestId><HostId>bWFkZSB1cCBmb3IgdGhlIHRlc3Q=</HostId></Error>
    """

  /// DeleteObjects with one key deleted and one refused.
  static let deleteResult = """
    <?xml version="1.0" encoding="UTF-8"?>
    <DeleteResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
      <Deleted>
        <Key>sample1.txt</Key>
      </Deleted>
      <Error>
        <Key>sample2.txt</Key>
        <Code>AccessDenied</Code>
        <Message>Access Denied</Message>
      </Error>
    </DeleteResult>
    """
}

/// Answers captured from moto 5.2.1 (`moto_server`), byte for byte but for line breaks.
private enum MotoBodies {
  /// ListObjectsV2 with `delimiter=/`: keys with `&`, `<`, `>`, a space and `é` are below the prefixes.
  static let delimited = """
    <?xml version="1.0" encoding="utf-8"?>
    <ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><IsTruncated>false</IsTruncated><Contents><Key>top.db</Key>\
    <LastModified>2026-11-21T23:34:39.000Z</LastModified><ETag>"d41d8cd98f00b204e9800998ecf8427e"</ETag><Size>0</Size>\
    <StorageClass>STANDARD</StorageClass></Contents><Name>bkt</Name><Prefix/><Delimiter>/</Delimiter><MaxKeys>1000</MaxKeys>\
    <CommonPrefixes><Prefix>a/</Prefix></CommonPrefixes><CommonPrefixes><Prefix>b/</Prefix></CommonPrefixes><CommonPrefixes>\
    <Prefix>sp ace/</Prefix></CommonPrefixes><KeyCount>4</KeyCount></ListBucketResult>
    """

  /// ListObjectsV2 with `max-keys=2`; moto's token is a hex string.
  static let truncated = """
    <?xml version="1.0" encoding="utf-8"?>
    <ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><IsTruncated>true</IsTruncated><Contents><Key>a/one.db</Key>\
    <LastModified>2026-11-21T23:34:37.000Z</LastModified><ETag>"d41d8cd98f00b204e9800998ecf8427e"</ETag><Size>0</Size>\
    <StorageClass>STANDARD</StorageClass></Contents><Contents><Key>a/two&amp;three.db</Key><LastModified>2026-11-21T23:34:38.000Z\
    </LastModified><ETag>"d41d8cd98f00b204e9800998ecf8427e"</ETag><Size>0</Size><StorageClass>STANDARD</StorageClass></Contents>\
    <Name>bkt</Name><Prefix/><MaxKeys>2</MaxKeys><KeyCount>2</KeyCount><NextContinuationToken>027e93acf117ecbde0346978f4885a83\
    </NextContinuationToken></ListBucketResult>
    """

  /// ListObjectsV2 with `encoding-type=url`: moto writes a space as `%20` (S3 as `+`).
  static let urlEncoded = """
    <?xml version="1.0" encoding="utf-8"?>
    <ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><IsTruncated>false</IsTruncated><Contents><Key>a/two%26three.db</Key>\
    <LastModified>2026-11-21T23:34:38.000Z</LastModified><ETag>"d41d8cd98f00b204e9800998ecf8427e"</ETag><Size>0</Size>\
    <StorageClass>STANDARD</StorageClass></Contents><Contents><Key>b/x%3Cy%3E.db</Key><LastModified>2026-11-21T23:34:38.000Z\
    </LastModified><ETag>"d41d8cd98f00b204e9800998ecf8427e"</ETag><Size>0</Size><StorageClass>STANDARD</StorageClass></Contents>\
    <Contents><Key>sp%20ace/%C3%A9.db</Key><LastModified>2026-11-21T23:34:39.000Z</LastModified>\
    <ETag>"d41d8cd98f00b204e9800998ecf8427e"</ETag><Size>0</Size><StorageClass>STANDARD</StorageClass></Contents><Name>bkt</Name>\
    <Prefix/><MaxKeys>1000</MaxKeys><EncodingType>url</EncodingType><KeyCount>3</KeyCount></ListBucketResult>
    """

  /// ListObjectsV2 of an empty prefix.
  static let empty = """
    <?xml version="1.0" encoding="utf-8"?>
    <ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><IsTruncated>false</IsTruncated><Name>bkt</Name><Prefix>zzz</Prefix>\
    <MaxKeys>1000</MaxKeys><KeyCount>0</KeyCount></ListBucketResult>
    """

  /// CreateMultipartUpload of the key `snap&.db`.
  static let initiate = """
    <?xml version="1.0" encoding="utf-8"?>
    <InitiateMultipartUploadResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Bucket>bkt</Bucket><Key>snap&amp;.db</Key>\
    <UploadId>y0BXYOalHgFU54uXAHet0LvD7ANlSiysA5jK5LYWGDjQ7G3pbyfyfxgg</UploadId></InitiateMultipartUploadResult>
    """

  /// CompleteMultipartUpload: moto's root is `CompleteMultipartUploadResponse`, not S3's `…Result`.
  static let complete = """
    <?xml version="1.0" encoding="utf-8"?>
    <CompleteMultipartUploadResponse xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Location>http://bkt.s3.amazonaws.com/snap&amp;.db\
    </Location><Bucket>bkt</Bucket><Key>snap&amp;.db</Key><ETag>"528de5c719382b7b1b2829bc75b26cbd-2"</ETag></CompleteMultipartUploadResponse>
    """

  /// GET of a missing key.
  static let noSuchKey = """
    <?xml version="1.0" encoding="utf-8"?>
    <Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message><Key>missing.db</Key>\
    <RequestId>isrku4M5z2YEY5LrqBB0yiPZmUJUVgq9mbNBnpMdRJZYRmStEmYS</RequestId>\
    <HostId>9Gjjt1m+cjU4OPvX9O9/8RuvnG41MRb/18Oux2o5H5MY7ISNTlXN+Dz9IG62/ILVxhAGI0qyPfg=</HostId></Error>
    """

  /// DeleteObjects: moto lists every key as deleted, also with `<Quiet>true</Quiet>` and for keys that never existed.
  static let deleteResult = """
    <?xml version="1.0" encoding="utf-8"?>
    <DeleteResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Deleted><Key>a/one.db</Key></Deleted><Deleted>\
    <Key>a/two&amp;three.db</Key></Deleted><Deleted><Key>nothere.db</Key></Deleted></DeleteResult>
    """

  /// What moto sends (HTTP 500) for CompleteMultipartUpload with an unknown upload ID or a malformed body.
  static let html500 = """
    <!doctype html>
    <html lang=en>
    <title>500 Internal Server Error</title>
    <h1>Internal Server Error</h1>
    <p>The server encountered an internal error and was unable to complete your request. \
    Either the server is overloaded or there is an error in the application.</p>
    """
}

@Suite("S3Responses: listings, multipart answers, error bodies")
struct S3ResponsesTests {
  @Test("the documented ListObjectsV2 page")
  func awsListing() throws {
    let page = try S3Responses.parseListObjectsV2(utf8(AWSBodies.listing))
    #expect(page.isTruncated == false)
    #expect(page.nextContinuationToken == nil)
    #expect(page.commonPrefixes.isEmpty)
    #expect(
      page.objects == [
        S3ObjectSummary(
          key: "my-image.jpg", size: 434_234, lastModified: Date(timeIntervalSince1970: 1_255_369_830),
          eTag: "\"fba9dede5f27731c9771645a39863328\""
        ),
        S3ObjectSummary(
          key: "my-third-image.jpg", size: 64_994, lastModified: Date(timeIntervalSince1970: 1_255_369_830),
          eTag: "\"1b2cf535f27731c974343645a3985328\""
        ),
      ]
    )
  }

  @Test("CommonPrefixes, from S3 and from moto (whose keys need entity decoding)")
  func commonPrefixes() throws {
    let aws = try S3Responses.parseListObjectsV2(utf8(AWSBodies.commonPrefixes))
    #expect(aws.commonPrefixes == ["photos/"])
    #expect(aws.objects.map(\.key) == ["sample.jpg"])
    #expect(aws.objects.first?.size == 142_863)
    let moto = try S3Responses.parseListObjectsV2(utf8(MotoBodies.delimited))
    #expect(moto.commonPrefixes == ["a/", "b/", "sp ace/"])
    #expect(
      moto.objects == [
        S3ObjectSummary(
          key: "top.db", size: 0, lastModified: Date(timeIntervalSince1970: 1_795_304_079), eTag: "\"d41d8cd98f00b204e9800998ecf8427e\"")
      ])
  }

  @Test("truncated pages carry NextContinuationToken")
  func truncatedPages() throws {
    let aws = try S3Responses.parseListObjectsV2(utf8(AWSBodies.truncated))
    #expect(aws.isTruncated)
    #expect(aws.nextContinuationToken == "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=")
    #expect(aws.objects.map(\.key) == ["happyface.jpg", "happyface2.jpg", "happyface3.jpg"])
    #expect(aws.objects.allSatisfy { $0.lastModified == Date(timeIntervalSince1970: 1_416_598_805) })
    let moto = try S3Responses.parseListObjectsV2(utf8(MotoBodies.truncated))
    #expect(moto.isTruncated)
    #expect(moto.nextContinuationToken == "027e93acf117ecbde0346978f4885a83")
    #expect(moto.objects.map(\.key) == ["a/one.db", "a/two&three.db"])
  }

  @Test("a truncated page without a token is refused (paging on would loop)")
  func truncatedWithoutToken() {
    let body = "<ListBucketResult><IsTruncated>true</IsTruncated><Contents><Key>k</Key><Size>1</Size></Contents></ListBucketResult>"
    let error = thrown { () throws(SnapshotError) in try S3Responses.parseListObjectsV2(utf8(body)) }
    #expect(error?.code == .io)
    #expect(error?.message.contains("NextContinuationToken") == true)
    let emptyToken = body.replacingOccurrences(of: "</ListBucketResult>", with: "<NextContinuationToken/></ListBucketResult>")
    #expect(thrown { () throws(SnapshotError) in try S3Responses.parseListObjectsV2(utf8(emptyToken)) }?.code == .io)
  }

  @Test("an empty listing")
  func emptyListing() throws {
    #expect(try S3Responses.parseListObjectsV2(utf8(MotoBodies.empty)) == S3ListPage(objects: []))
    #expect(try S3Responses.parseListObjectsV2(utf8("<ListBucketResult/>")) == S3ListPage(objects: []))
  }

  @Test("EncodingType url: keys and prefixes are percent-decoded, '+' is a space")
  func urlEncodedKeys() throws {
    let moto = try S3Responses.parseListObjectsV2(utf8(MotoBodies.urlEncoded))
    #expect(moto.objects.map(\.key) == ["a/two&three.db", "b/x<y>.db", "sp ace/é.db"])
    let aws = """
      <ListBucketResult><EncodingType>url</EncodingType><IsTruncated>false</IsTruncated>\
      <Contents><Key>sp+ace/a%2Bb%25c.db</Key><Size>7</Size></Contents>\
      <CommonPrefixes><Prefix>dir+one/</Prefix></CommonPrefixes></ListBucketResult>
      """
    let page = try S3Responses.parseListObjectsV2(utf8(aws))
    #expect(page.objects.map(\.key) == ["sp ace/a+b%c.db"])
    #expect(page.commonPrefixes == ["dir one/"])
    // Without EncodingType the same text is taken literally.
    let literal = try S3Responses.parseListObjectsV2(utf8(aws.replacingOccurrences(of: "<EncodingType>url</EncodingType>", with: "")))
    #expect(literal.objects.map(\.key) == ["sp+ace/a%2Bb%25c.db"])
  }

  static let badListings: [(name: String, body: String)] = [
    (
      "bad percent encoding", "<ListBucketResult><EncodingType>url</EncodingType><Contents><Key>a%2</Key><Size>1</Size></Contents></ListBucketResult>"
    ),
    (
      "percent-encoded invalid UTF-8",
      "<ListBucketResult><EncodingType>url</EncodingType><Contents><Key>%FF</Key><Size>1</Size></Contents></ListBucketResult>"
    ),
    ("no Key", "<ListBucketResult><Contents><Size>1</Size></Contents></ListBucketResult>"),
    ("no Size", "<ListBucketResult><Contents><Key>k</Key></Contents></ListBucketResult>"),
    ("a negative Size", "<ListBucketResult><Contents><Key>k</Key><Size>-1</Size></Contents></ListBucketResult>"),
    ("a Size that is not a number", "<ListBucketResult><Contents><Key>k</Key><Size>12kB</Size></Contents></ListBucketResult>"),
    ("IsTruncated that is not a Boolean", "<ListBucketResult><IsTruncated>maybe</IsTruncated></ListBucketResult>"),
    ("another root", "<ListAllMyBucketsResult><Buckets/></ListAllMyBucketsResult>"),
    ("an Error body", AWSBodies.noSuchKey),
    ("HTML", MotoBodies.html500),
    ("nothing", ""),
  ]

  @Test("listings that cannot be read throw .io", arguments: badListings.indices)
  func badListing(index: Int) {
    let (name, body) = Self.badListings[index]
    let error = thrown { () throws(SnapshotError) in try S3Responses.parseListObjectsV2(utf8(body)) }
    #expect(error?.code == .io, "\(name)")
    #expect(error?.message.contains("--s3-endpoint") == true, "\(name): \(error?.message ?? "")")
  }

  @Test("an unreadable or missing LastModified is nil, not an error; ETag is optional")
  func optionalFields() throws {
    let body = """
      <ListBucketResult><Contents><Key>a</Key><Size>1</Size><LastModified>yesterday</LastModified></Contents>\
      <Contents><Key>b</Key><Size> 2 </Size></Contents></ListBucketResult>
      """
    let page = try S3Responses.parseListObjectsV2(utf8(body))
    #expect(page.objects == [S3ObjectSummary(key: "a", size: 1), S3ObjectSummary(key: "b", size: 2)])
  }

  @Test("CreateMultipartUpload: the UploadId, from S3 and moto")
  func initiate() throws {
    #expect(try S3Responses.parseInitiateMultipartUpload(utf8(AWSBodies.initiate)) == "VXBsb2FkIElEIGZvciA2aWWpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA")
    #expect(try S3Responses.parseInitiateMultipartUpload(utf8(MotoBodies.initiate)) == "y0BXYOalHgFU54uXAHet0LvD7ANlSiysA5jK5LYWGDjQ7G3pbyfyfxgg")
    for bad in [
      "<InitiateMultipartUploadResult><UploadId/></InitiateMultipartUploadResult>", "<InitiateMultipartUploadResult/>", AWSBodies.noSuchKey, "",
    ] {
      let error = thrown { () throws(SnapshotError) in try S3Responses.parseInitiateMultipartUpload(utf8(bad)) }
      #expect(error?.code == .io, "\(bad)")
    }
    let error = thrown { () throws(SnapshotError) in try S3Responses.parseInitiateMultipartUpload(utf8(AWSBodies.noSuchKey)) }
    #expect(error?.message.contains("NoSuchKey: The resource you requested does not exist") == true)
  }

  @Test("CompleteMultipartUpload: the ETag, from S3's …Result and moto's …Response root")
  func complete() throws {
    #expect(
      try S3Responses.parseCompleteMultipartUpload(utf8(AWSBodies.complete), bucket: "b", key: "k", endpoint: "e")
        == "\"3858f62230ac3c915f300c664312c11f-9\"")
    #expect(
      try S3Responses.parseCompleteMultipartUpload(utf8(MotoBodies.complete), bucket: "b", key: "k", endpoint: "e")
        == "\"528de5c719382b7b1b2829bc75b26cbd-2\"")
    #expect(
      try S3Responses.parseCompleteMultipartUploadOutcome(utf8(MotoBodies.complete))
        == .completed(eTag: "\"528de5c719382b7b1b2829bc75b26cbd-2\"", checksum: nil))
    for bad in ["<CompleteMultipartUploadResult><Bucket>b</Bucket></CompleteMultipartUploadResult>", "<Other/>", MotoBodies.html500, ""] {
      let error = thrown { () throws(SnapshotError) in try S3Responses.parseCompleteMultipartUploadOutcome(utf8(bad)) }
      #expect(error?.code == .io, "\(bad)")
    }
  }

  @Test("CompleteMultipartUpload answered 200 with an <Error>: an outcome to retry on, or the classified error")
  func completeWithError() throws {
    let outcome = try S3Responses.parseCompleteMultipartUploadOutcome(utf8(AWSBodies.completeWithError))
    let expected = S3ErrorResponse(
      code: "InternalError", message: "We encountered an internal error. Please try again.", requestID: "656c76696e6727732072657175657374"
    )
    #expect(outcome == .failed(expected))
    #expect(S3ErrorClassifier.isRetryable(S3Failure(httpStatus: 200, response: expected)))
    let error = thrown { () throws(SnapshotError) in
      try S3Responses.parseCompleteMultipartUpload(
        utf8(AWSBodies.completeWithError), bucket: "backups", key: "etcd/snap.db", endpoint: "https://s3.example")
    }
    #expect(error?.code == .unavailable)
    #expect(error?.message.contains("(200 InternalError) for CompleteMultipartUpload on backups/etcd/snap.db") == true, "\(error?.message ?? "")")
    // Without the context the message still reads well.
    let bare = thrown { () throws(SnapshotError) in try S3Responses.parseCompleteMultipartUpload(utf8(AWSBodies.completeWithError)) }
    #expect(bare?.code == .unavailable)
    #expect(bare?.message.contains("(200 InternalError) for CompleteMultipartUpload on the bucket until") == true, "\(bare?.message ?? "")")
    #expect(try S3Responses.parseCompleteMultipartUpload(utf8(MotoBodies.complete)) == "\"528de5c719382b7b1b2829bc75b26cbd-2\"")
  }

  @Test("S3ErrorResponse.parse reads Code, Message, RequestId, Region and Endpoint")
  func errorBodies() {
    #expect(
      S3ErrorResponse.parse(utf8(AWSBodies.noSuchKey))
        == S3ErrorResponse(code: "NoSuchKey", message: "The resource you requested does not exist", requestID: "4442587FB7D0A2F9")
    )
    #expect(
      S3ErrorResponse.parse(utf8(MotoBodies.noSuchKey))
        == S3ErrorResponse(
          code: "NoSuchKey", message: "The specified key does not exist.", requestID: "isrku4M5z2YEY5LrqBB0yiPZmUJUVgq9mbNBnpMdRJZYRmStEmYS")
    )
    let region = S3ErrorResponse.parse(utf8(AWSBodies.wrongRegion))
    #expect(region?.code == "AuthorizationHeaderMalformed")
    #expect(region?.region == "eu-central-1")
    #expect(region?.endpoint == nil)
    let redirect = S3ErrorResponse.parse(utf8(AWSBodies.permanentRedirect))
    #expect(redirect?.code == "PermanentRedirect")
    #expect(redirect?.endpoint == "my-bucket.s3.eu-west-1.amazonaws.com")
    #expect(redirect?.requestID == "8H2WZ3ZQ3JX7QF0T")
    // A Ceph-style error without a Message.
    #expect(
      S3ErrorResponse.parse(utf8("<Error><Code>NoSuchBucket</Code><BucketName>b</BucketName></Error>"))
        == S3ErrorResponse(code: "NoSuchBucket", message: ""))
  }

  @Test("S3ErrorResponse.parse is nil for bodies that are not an S3 <Error>")
  func notErrorBodies() {
    for body in ["", MotoBodies.html500, AWSBodies.listing, AWSBodies.deleteResult, "<Error", "Internal Server Error"] {
      #expect(S3ErrorResponse.parse(utf8(body)) == nil, "\(body)")
    }
  }

  @Test("DeleteObjects results, from S3 and moto")
  func deleteResults() throws {
    #expect(
      try S3DeleteResult.parse(utf8(AWSBodies.deleteResult))
        == S3DeleteResult(deleted: ["sample1.txt"], failures: [.init(key: "sample2.txt", code: "AccessDenied", message: "Access Denied")])
    )
    #expect(
      try S3DeleteResult.parse(utf8(MotoBodies.deleteResult)) == S3DeleteResult(deleted: ["a/one.db", "a/two&three.db", "nothere.db"], failures: []))
    #expect(try S3DeleteResult.parse(utf8("<DeleteResult/>")) == S3DeleteResult(deleted: [], failures: []))
    #expect(thrown { () throws(SnapshotError) in try S3DeleteResult.parse(utf8(AWSBodies.noSuchKey)) }?.code == .io)
  }

  static let timestamps: [(text: String, seconds: Double?)] = [
    ("2009-10-12T17:50:30.000Z", 1_255_369_830),
    ("2009-10-12T17:50:30Z", 1_255_369_830),
    ("2009-10-12T17:50:30.5Z", 1_255_369_830.5),
    ("2009-10-12T17:50:30.123456Z", 1_255_369_830.123456),
    ("1970-01-01T00:00:00.000Z", 0),
    ("1969-12-31T23:59:59Z", -1),
    ("2000-02-29T00:00:00Z", 951_782_400),
    ("2100-12-31T23:59:59Z", 4_133_980_799),
    ("2024-03-01T01:30:00+02:00", 1_709_249_400),
    ("2024-02-29T21:30:00-02:00", 1_709_249_400),
    ("2016-12-31T23:59:60Z", 1_483_228_800),
    ("2009-10-12 17:50:30Z", 1_255_369_830),
    ("2001-02-29T00:00:00Z", nil),
    ("2100-02-29T00:00:00Z", nil),
    ("2009-13-12T17:50:30Z", nil),
    ("2009-10-32T17:50:30Z", nil),
    ("2009-10-12T24:00:00Z", nil),
    ("2009-10-12T17:60:00Z", nil),
    ("2009-10-12T17:50:30", nil),
    ("2009-10-12T17:50:30.Z", nil),
    ("2009-10-12T17:50:30.000Zjunk", nil),
    ("2009-10-12", nil),
    ("Mon, 12 Oct 2009 17:50:30 GMT", nil),
    ("", nil),
  ]

  @Test("ISO 8601 times as S3 writes them, read without locales", arguments: timestamps.indices)
  func timestamp(index: Int) throws {
    let (text, seconds) = Self.timestamps[index]
    let date = S3Timestamp.parse(text)
    if let seconds {
      let parsed = try #require(date, "\(text)")
      #expect(abs(parsed.timeIntervalSince1970 - seconds) < 1e-6, "\(text)")
    } else {
      #expect(date == nil, "\(text)")
    }
  }

  @Test("S3Timestamp agrees with Foundation's ISO 8601 formatter for any second in 1900...2200")
  func timestampsAgree() async {
    await propertyCheck(count: 1000, input: Gen.int64(in: -2_208_988_800...7_258_118_399)) { seconds in
      let date = Date(timeIntervalSince1970: Double(seconds))
      let formatter = ISO8601DateFormatter()
      formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
      let text = formatter.string(from: date)
      #expect(S3Timestamp.parse(text) == date, "\(text)")
    }
  }
}
