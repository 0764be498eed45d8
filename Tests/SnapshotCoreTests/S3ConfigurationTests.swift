import Foundation
import SnapshotCore
import Testing

@Suite("S3 configuration and credentials file")
struct S3ConfigurationTests {
  func valid() -> S3Configuration {
    var c = S3Configuration()
    c.bucket = "backups"
    c.accessKey = "AKIAEXAMPLE"
    c.secretKey = "very-secret"
    c.sessionToken = "token-secret"
    return c
  }

  @Test("k3s defaults: s3.amazonaws.com, us-east-1, 5m, keep 5")
  func defaults() {
    let c = S3Configuration()
    #expect(c.endpoint == "s3.amazonaws.com" && c.region == "us-east-1" && c.timeout == .seconds(300) && c.retention == 5)
    #expect(c.bucketLookup == .auto)
  }

  @Test("folders: slashes trimmed, keys and sidecar keys", arguments: [("", "", ""), ("/a/b/", "a/b/", "a/b/"), ("a", "a/", "a/")])
  func folders(folder: String, prefix: String, expected: String) {
    var c = valid()
    c.folder = folder
    #expect(c.keyPrefix == prefix)
    #expect(c.objectKey("snap") == expected + "snap")
    #expect(c.metadataKey("snap") == expected + ".metadata/snap")
  }

  @Test("bucket lookup: auto is virtual-host only for AWS and DNS-safe names")
  func lookup() {
    var c = valid()
    #expect(!c.usesPathStyle)
    c.bucket = "with.dots"
    #expect(c.usesPathStyle)
    c.bucket = "backups"
    c.endpoint = "s3.eu-central-1.amazonaws.com"
    #expect(!c.usesPathStyle)
    c.endpoint = "minio.lan:9000"
    #expect(c.usesPathStyle)
    #expect(c.endpointHost == "minio.lan" && c.endpointPort == 9000)
    c.bucketLookup = .dns
    #expect(!c.usesPathStyle)
    c.endpoint = "[fd00::1]:9000"
    #expect(c.endpointHost == "[fd00::1]" && c.endpointPort == 9000)
  }

  @Test("every problem at once")
  func problems() {
    var c = S3Configuration()
    c.endpoint = "https://minio:9000"
    c.timeout = .zero
    c.retention = -1
    c.folder = "a//b"
    c.proxy = "socks5://x"
    let p = c.problems().joined(separator: "\n")
    for text in [
      "--s3-bucket is required", "without a scheme", "no S3 access key", "no S3 secret key", "--s3-timeout", "--s3-retention", "--s3-folder",
      "--s3-proxy",
    ] {
      #expect(p.contains(text), "\(text)")
    }
    #expect(valid().problems().isEmpty)
  }

  @Test("description never shows the secret or the token, and encoding leaves them out")
  func redaction() throws {
    let c = valid()
    let text = c.description + String(describing: c)
    #expect(!text.contains("very-secret") && !text.contains("token-secret") && !text.contains("AKIAEXAMPLE"))
    #expect(text.contains("<redacted>"))
    let json = String(decoding: try JSONEncoder().encode(c), as: UTF8.self)
    #expect(!json.contains("very-secret") && !json.contains("token-secret"))
    let back = try JSONDecoder().decode(S3Configuration.self, from: Data(json.utf8))
    #expect(back.bucket == "backups" && back.accessKey == "AKIAEXAMPLE" && back.secretKey == nil && back.sessionToken == nil)
  }

  @Test("a proxy's credentials are neither encoded nor quoted in a problem")
  func proxyCredentials() throws {
    var c = valid()
    c.proxy = "http://proxyuser:proxy-pass@proxy:3128"
    c.proxyEnvironment = ["HTTPS_PROXY": "http://u:env-pass@proxy:3128", "NO_PROXY": "localhost"]
    let json = String(decoding: try JSONEncoder().encode(c), as: UTF8.self)
    #expect(!json.contains("proxy-pass") && !json.contains("env-pass") && !json.contains("proxyuser"), "\(json)")
    #expect(json.contains("proxy:3128") && json.contains("localhost"))
    c.proxy = "socks5://proxyuser:proxy-pass@proxy:1080"
    let problems = c.problems().joined(separator: "\n")
    #expect(problems.contains("--s3-proxy") && !problems.contains("proxy-pass"), "\(problems)")
  }
}
