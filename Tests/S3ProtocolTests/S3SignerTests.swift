import EtcdTestSupport
import Foundation
import S3Protocol
import SnapshotCore
import Testing

/// `name: value` lines, to compare header lists (tuples are not Equatable).
private func lines(_ pairs: [(name: String, value: String)]) -> [String] {
  pairs.map { "\($0.name): \($0.value)" }
}

/// Lowercase hex of bytes.
private func hex(_ bytes: [UInt8]) -> String {
  bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
}

/// The credentials of the AWS S3 documentation examples.
private let exampleCredentials = S3Credentials(
  accessKeyID: "AKIAIOSFODNN7EXAMPLE",
  secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
)

/// 2013-05-24T00:00:00Z, the time of the AWS S3 documentation examples.
private let exampleDate = Date(timeIntervalSince1970: 1_369_353_600)

/// One of the S3 documentation examples "Signature Calculations for the Authorization Header: Transferring Payload
/// in a Single Chunk" (bucket examplebucket, virtual-host style, us-east-1).
struct DocumentedExample: Sendable, CustomTestStringConvertible {
  /// The example's title in the AWS docs.
  var name: String
  /// The request as the S3 client would hand it to the signer.
  var request: S3SigningRequest
  /// The documented canonical request.
  var canonicalRequest: String
  /// The documented SHA-256 of the canonical request (last line of the string to sign).
  var canonicalRequestHash: String
  /// The documented signed headers.
  var signedHeaders: String
  /// The documented signature.
  var signature: String

  var testDescription: String { name }
}

extension SigV4BotocoreVector: CustomTestStringConvertible {
  var testDescription: String { name }
}

@Suite("S3Signer: AWS Signature Version 4 for S3")
struct S3SignerTests {
  static let host = (name: "Host", value: "examplebucket.s3.amazonaws.com")

  static let documented: [DocumentedExample] = [
    DocumentedExample(
      name: "GET Object",
      request: S3SigningRequest(
        method: "GET",
        path: S3URIEncoding.objectPath(bucket: "examplebucket", key: "test.txt", pathStyle: false),
        headers: [host, (name: "Range", value: "bytes=0-9")],
        payloadHash: S3Signer.emptyPayloadHash
      ),
      canonicalRequest: """
        GET
        /test.txt

        host:examplebucket.s3.amazonaws.com
        range:bytes=0-9
        x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
        x-amz-date:20130524T000000Z

        host;range;x-amz-content-sha256;x-amz-date
        e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
        """,
      canonicalRequestHash: "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972",
      signedHeaders: "host;range;x-amz-content-sha256;x-amz-date",
      signature: "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
    ),
    DocumentedExample(
      name: "PUT Object",
      request: S3SigningRequest(
        method: "PUT",
        path: S3URIEncoding.objectPath(bucket: "examplebucket", key: "test$file.text", pathStyle: false),
        headers: [
          host, (name: "Date", value: "Fri, 24 May 2013 00:00:00 GMT"),
          (name: "x-amz-storage-class", value: "REDUCED_REDUNDANCY"),
        ],
        payloadHash: S3Signer.payloadHash(Array("Welcome to Amazon S3.".utf8))
      ),
      canonicalRequest: """
        PUT
        /test%24file.text

        date:Fri, 24 May 2013 00:00:00 GMT
        host:examplebucket.s3.amazonaws.com
        x-amz-content-sha256:44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072
        x-amz-date:20130524T000000Z
        x-amz-storage-class:REDUCED_REDUNDANCY

        date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class
        44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072
        """,
      canonicalRequestHash: "9e0e90d9c76de8fa5b200d8c849cd5b8dc7a3be3951ddb7f6a76b4158342019d",
      signedHeaders: "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class",
      signature: "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"
    ),
    DocumentedExample(
      name: "GET Bucket Lifecycle",
      request: S3SigningRequest(
        method: "GET",
        path: S3URIEncoding.objectPath(bucket: "examplebucket", key: "", pathStyle: false),
        query: [(name: "lifecycle", value: "")],
        headers: [host],
        payloadHash: S3Signer.emptyPayloadHash
      ),
      canonicalRequest: """
        GET
        /
        lifecycle=
        host:examplebucket.s3.amazonaws.com
        x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
        x-amz-date:20130524T000000Z

        host;x-amz-content-sha256;x-amz-date
        e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
        """,
      canonicalRequestHash: "9766c798316ff2757b517bc739a67f6213b4ab36dd5da2f94eaebf79c77395ca",
      signedHeaders: "host;x-amz-content-sha256;x-amz-date",
      signature: "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543"
    ),
    DocumentedExample(
      name: "Get Bucket (List Objects)",
      request: S3SigningRequest(
        method: "GET",
        path: S3URIEncoding.objectPath(bucket: "examplebucket", key: "", pathStyle: false),
        query: [(name: "prefix", value: "J"), (name: "max-keys", value: "2")],
        headers: [host],
        payloadHash: S3Signer.emptyPayloadHash
      ),
      canonicalRequest: """
        GET
        /
        max-keys=2&prefix=J
        host:examplebucket.s3.amazonaws.com
        x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
        x-amz-date:20130524T000000Z

        host;x-amz-content-sha256;x-amz-date
        e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
        """,
      canonicalRequestHash: "df57d21db20da04d7fa30298dd4488ba3a2b47ca3a489c74750e0f1e7df1b9b7",
      signedHeaders: "host;x-amz-content-sha256;x-amz-date",
      signature: "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"
    ),
  ]

  @Test("AWS S3 single-chunk examples: canonical request, string to sign, signature", arguments: documented)
  func documentedExample(example: DocumentedExample) {
    let signer = S3Signer(credentials: exampleCredentials, region: "us-east-1")
    let amzDate = S3Signer.amzDate(exampleDate)
    #expect(amzDate == "20130524T000000Z")
    let canonical = signer.canonicalRequest(example.request, amzDate: amzDate)
    #expect(canonical == example.canonicalRequest)
    #expect(
      signer.stringToSign(canonicalRequest: canonical, amzDate: amzDate)
        == "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n\(example.canonicalRequestHash)"
    )
    let authorization =
      "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
      + "SignedHeaders=\(example.signedHeaders), Signature=\(example.signature)"
    #expect(
      lines(signer.sign(example.request, date: exampleDate)) == [
        "x-amz-date: 20130524T000000Z", "x-amz-content-sha256: \(example.request.payloadHash)",
        "authorization: \(authorization)",
      ]
    )
  }

  @Test("the PUT example's payload hash is the documented SHA-256 of its body; the empty body's is emptyPayloadHash")
  func payloadHashes() {
    #expect(
      S3Signer.payloadHash(Array("Welcome to Amazon S3.".utf8))
        == "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072"
    )
    #expect(S3Signer.payloadHash([UInt8]()) == S3Signer.emptyPayloadHash)
    #expect(S3Signer.payloadHash(Data("Welcome to Amazon S3.".utf8)) == S3Signer.payloadHash(Array("Welcome to Amazon S3.".utf8)))
  }

  @Test("signing key: the documented derivation example (20120215, us-east-1, iam)")
  func documentedSigningKey() {
    let credentials = S3Credentials(accessKeyID: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    let signer = S3Signer(credentials: credentials, region: "us-east-1", service: "iam")
    let key = signer.signingKey(dateStamp: "20120215")
    #expect(key.count == 32)
    #expect(hex(key) == "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d")
    #expect(signer.credentialScope(amzDate: "20120215T101500Z") == "20120215/us-east-1/iam/aws4_request")
  }

  @Test("botocore S3SigV4Auth vectors: same canonical request, string to sign and headers", arguments: sigV4BotocoreVectors)
  func botocore(vector: SigV4BotocoreVector) {
    #expect(S3URIEncoding.objectPath(bucket: vector.bucket, key: vector.key, pathStyle: vector.pathStyle) == vector.path)
    let date = Date(timeIntervalSince1970: TimeInterval(vector.epochSeconds))
    #expect(S3Signer.amzDate(date) == vector.amzDate)
    if let body = vector.body { #expect(S3Signer.payloadHash(Array(body.utf8)) == vector.payloadHash) }
    let credentials = S3Credentials(
      accessKeyID: vector.accessKeyID,
      secretAccessKey: vector.secretAccessKey,
      sessionToken: vector.sessionToken
    )
    let signer = S3Signer(credentials: credentials, region: vector.region)
    let request = S3SigningRequest(
      method: vector.method,
      path: vector.path,
      query: vector.query,
      headers: vector.headers,
      payloadHash: vector.payloadHash
    )
    let canonical = signer.canonicalRequest(request, amzDate: vector.amzDate)
    #expect(canonical == vector.canonicalRequest)
    #expect(canonical.split(separator: "\n", omittingEmptySubsequences: false)[2] == S3URIEncoding.canonicalQuery(vector.query))
    #expect(signer.stringToSign(canonicalRequest: canonical, amzDate: vector.amzDate) == vector.stringToSign)
    #expect(lines(signer.sign(request, date: date)) == lines(vector.addedHeaders + [(name: "authorization", value: vector.authorization)]))
  }

  @Test("the signer sets x-amz-date, x-amz-content-sha256, x-amz-security-token and authorization itself")
  func signerHeadersReplaceTheCallers() {
    let signer = S3Signer(credentials: exampleCredentials, region: "us-east-1")
    let plain = Self.documented[0].request
    var withStale = plain
    withStale.headers += [
      (name: "X-Amz-Date", value: "19990101T000000Z"), (name: "x-amz-content-sha256", value: "stale"),
      (name: "Authorization", value: "AWS4-HMAC-SHA256 stale"), (name: "x-amz-security-token", value: "stale"),
    ]
    #expect(lines(signer.sign(withStale, date: exampleDate)) == lines(signer.sign(plain, date: exampleDate)))
  }

  @Test("header names are lowercased, values trimmed, repeated names joined with ',' in the order given")
  func canonicalHeaders() {
    let signer = S3Signer(credentials: exampleCredentials, region: "us-east-1")
    let request = S3SigningRequest(
      method: "PUT",
      path: "/k",
      headers: [
        (name: "X-Amz-Meta-B", value: "  one   two\t\tthree  "), (name: "HOST", value: "h"), (name: "x-amz-meta-a", value: "z"),
        (name: "X-AMZ-META-A", value: " y "), (name: "x-amz-meta-empty", value: "   "),
      ],
      payloadHash: S3Signer.unsignedPayload
    )
    #expect(
      signer.canonicalRequest(request, amzDate: "20240101T000000Z") == """
        PUT
        /k

        host:h
        x-amz-content-sha256:UNSIGNED-PAYLOAD
        x-amz-date:20240101T000000Z
        x-amz-meta-a:z,y
        x-amz-meta-b:one two three
        x-amz-meta-empty:

        host;x-amz-content-sha256;x-amz-date;x-amz-meta-a;x-amz-meta-b;x-amz-meta-empty
        UNSIGNED-PAYLOAD
        """
    )
  }

  @Test("a session token is sent and signed as x-amz-security-token; the log form of the canonical request hides it")
  func sessionToken() throws {
    let token = "FwoGZXIvYXdzEXAMPLE//token+with/slashes=="
    let credentials = S3Credentials(accessKeyID: "ASIAEXAMPLE", secretAccessKey: "secret-key-EXAMPLE", sessionToken: token)
    let signer = S3Signer(credentials: credentials, region: "eu-central-1")
    let request = S3SigningRequest(method: "GET", path: "/b/k", headers: [(name: "host", value: "h")], payloadHash: S3Signer.emptyPayloadHash)
    let headers = signer.sign(request, date: exampleDate)
    #expect(headers.map(\.name) == ["x-amz-date", "x-amz-content-sha256", "x-amz-security-token", "authorization"])
    #expect(headers[2].value == token)
    #expect(headers[3].value.contains("SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token, "))
    #expect(headers[3].value.hasPrefix("AWS4-HMAC-SHA256 Credential=ASIAEXAMPLE/20130524/eu-central-1/s3/aws4_request, "))
    let canonical = signer.canonicalRequest(request, amzDate: "20130524T000000Z")
    #expect(canonical.contains("\nx-amz-security-token:\(token)\n"))
    let forLog = signer.canonicalRequestForLog(request, amzDate: "20130524T000000Z")
    #expect(!forLog.contains(token))
    #expect(forLog == canonical.replacingOccurrences(of: token, with: "<redacted>"))
    let noToken = S3Signer(credentials: exampleCredentials, region: "us-east-1")
    #expect(noToken.canonicalRequestForLog(request, amzDate: "20130524T000000Z") == noToken.canonicalRequest(request, amzDate: "20130524T000000Z"))
    for piece in [canonical, forLog, signer.stringToSign(canonicalRequest: canonical, amzDate: "20130524T000000Z")] + lines(headers) {
      #expect(!piece.contains("secret-key-EXAMPLE"))
    }
  }

  @Test(
    "amzDate: UTC, whole seconds rounded down, across leap days, centuries and 1970",
    arguments: [
      (0.0, "19700101T000000Z"), (-1, "19691231T235959Z"), (-0.5, "19691231T235959Z"), (0.999, "19700101T000000Z"),
      (1_700_000_000, "20231114T221320Z"), (1_369_353_600, "20130524T000000Z"), (951_782_400, "20000229T000000Z"),
      (951_868_799, "20000229T235959Z"), (4_107_542_400, "21000301T000000Z"), (4_107_542_399, "21000228T235959Z"),
      (1_709_251_199, "20240229T235959Z"), (253_402_300_799, "99991231T235959Z"), (-2_208_988_800, "19000101T000000Z"),
      (-62_135_596_800, "00010101T000000Z"), (Date.distantFuture.timeIntervalSince1970, "40010101T000000Z"),
    ]
  )
  func amzDate(seconds: Double, expected: String) {
    #expect(S3Signer.amzDate(Date(timeIntervalSince1970: seconds)) == expected)
  }

  @Test("amzDate does not trap on infinite or NaN dates")
  func amzDateExtremes() {
    #expect(S3Signer.amzDate(Date(timeIntervalSince1970: .nan)) == "19700101T000000Z")
    #expect(S3Signer.amzDate(Date(timeIntervalSince1970: .infinity)).hasSuffix("Z"))
    #expect(S3Signer.amzDate(Date(timeIntervalSince1970: -.infinity)).hasSuffix("Z"))
  }

  @Test("amzDate agrees with Foundation's Gregorian calendar in UTC on 2000 pseudo-random dates")
  func amzDateMatchesFoundation() throws {
    var calendar = Calendar(identifier: .gregorian)
    calendar.timeZone = try #require(TimeZone(identifier: "UTC"))
    var random = SplitMix64(state: 0x5167_5634)
    var failures: [String] = []
    for _ in 0..<2000 {
      let seconds = Double(Int64.random(in: -2_208_988_800...7_258_118_400, using: &random))  // 1900 to 2200
      let date = Date(timeIntervalSince1970: seconds)
      let parts = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
      let expected = String(
        format: "%04d%02d%02dT%02d%02d%02dZ",
        parts.year ?? -1, parts.month ?? -1, parts.day ?? -1, parts.hour ?? -1, parts.minute ?? -1, parts.second ?? -1
      )
      if S3Signer.amzDate(date) != expected { failures.append("\(seconds): \(S3Signer.amzDate(date)) != \(expected)") }
    }
    #expect(failures.isEmpty, "\(failures.prefix(5))")
  }

  @Test("the signer's description, debugDescription and dump show neither the secret nor the token")
  func signerRedaction() {
    let credentials = S3Credentials(accessKeyID: "AKIDVISIBLE", secretAccessKey: "SECRET-VALUE-123", sessionToken: "TOKEN-VALUE-456")
    let signer = S3Signer(credentials: credentials, region: "us-west-2")
    var dumped = ""
    dump(signer, to: &dumped)
    let texts = [signer.description, String(describing: signer), String(reflecting: signer), "\(signer)", "\([signer])", dumped]
    for text in texts {
      #expect(!text.contains("SECRET-VALUE-123"), "\(text)")
      #expect(!text.contains("TOKEN-VALUE-456"), "\(text)")
    }
    #expect(signer.description == "S3Signer(accessKeyID: AKIDVISIBLE, region: us-west-2, service: s3)")
    #expect(dumped.contains("AKIDVISIBLE"))
    #expect(dumped.contains("us-west-2"))
  }
}
