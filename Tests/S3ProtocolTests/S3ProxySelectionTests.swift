import S3Protocol
import SnapshotCore
import Testing

@Suite("proxy selection as Go's ProxyFromEnvironment")
struct S3ProxySelectionTests {
  let proxy = S3ProxySelection.Choice.proxy(S3Proxy(host: "proxy.corp", port: 3128))

  @Test("HTTPS_PROXY for https, HTTP_PROXY for http, upper case before lower case")
  func variables() {
    let env = ["HTTPS_PROXY": "http://proxy.corp:3128", "http_proxy": "other:8080", "https_proxy": "ignored:1"]
    #expect(S3ProxySelection.choose(host: "s3.amazonaws.com", port: 443, secure: true, explicit: nil, environment: env) == proxy)
    #expect(
      S3ProxySelection.choose(host: "minio.lan", port: 9000, secure: false, explicit: nil, environment: env)
        == .proxy(S3Proxy(host: "other", port: 8080)))
    #expect(S3ProxySelection.choose(host: "minio.lan", port: 9000, secure: false, explicit: nil, environment: [:]) == .direct)
    #expect(
      S3ProxySelection.choose(host: "x", port: 443, secure: true, explicit: nil, environment: ["https_proxy": "proxy.corp:3128"]) == proxy)
  }

  @Test("an explicit --s3-proxy wins; `none` turns proxies off")
  func explicit() {
    let env = ["HTTPS_PROXY": "http://elsewhere:1"]
    #expect(S3ProxySelection.choose(host: "x", port: 443, secure: true, explicit: "http://proxy.corp:3128", environment: env) == proxy)
    #expect(S3ProxySelection.choose(host: "x", port: 443, secure: true, explicit: "none", environment: env) == .direct)
  }

  @Test("localhost and loopback addresses never use a proxy", arguments: ["localhost", "127.0.0.1", "127.1.2.3", "::1", "[::1]", "LOCALHOST"])
  func loopback(host: String) {
    #expect(S3ProxySelection.choose(host: host, port: 9000, secure: false, explicit: nil, environment: ["HTTP_PROXY": "p:1"]) == .direct)
  }

  @Test(
    "NO_PROXY entries",
    arguments: [
      ("example.com", "example.com", true), ("example.com", "s3.example.com", true), ("example.com", "badexample.com", false),
      (".example.com", "s3.example.com", true), (".example.com", "example.com", false), ("*.example.com", "a.b.example.com", true),
      ("*", "anything", true), ("10.0.0.0/8", "10.1.2.3", true), ("10.0.0.0/8", "11.1.2.3", false), ("10.0.0.5", "10.0.0.5", true),
      ("fd00::/8", "fd12::1", true), ("example.com:9000", "example.com", true), ("example.com:443", "example.com", false),
      (" minio.lan , other", "minio.lan", true), ("", "minio.lan", false),
    ])
  func noProxy(entry: String, host: String, bypass: Bool) {
    let env = ["HTTP_PROXY": "http://proxy.corp:3128", "NO_PROXY": entry]
    let choice = S3ProxySelection.choose(host: host, port: 9000, secure: false, explicit: nil, environment: env)
    #expect((choice == .direct) == bypass, "\(entry) vs \(host): \(choice)")
  }

  @Test("no_proxy in lower case counts; NO_PROXY applies to an explicit proxy too")
  func lowerCaseNoProxy() {
    #expect(
      S3ProxySelection.choose(
        host: "minio.lan", port: 9000, secure: false, explicit: nil, environment: ["HTTP_PROXY": "p:1", "no_proxy": "minio.lan"])
        == .direct)
    #expect(
      S3ProxySelection.choose(host: "minio.lan", port: 9000, secure: false, explicit: "http://p:1", environment: ["NO_PROXY": "minio.lan"])
        == .direct)
  }

  @Test("proxy URLs: user info kept (never printed), default port 80, https:// and socks refused")
  func parse() {
    #expect(
      S3ProxySelection.parse("http://u:p%40ss@proxy.corp:3128/", source: "x") == .proxy(S3Proxy(host: "proxy.corp", port: 3128, userInfo: "u:p%40ss"))
    )
    #expect(S3ProxySelection.parse("proxy.corp", source: "x") == .proxy(S3Proxy(host: "proxy.corp", port: 80)))
    #expect(S3ProxySelection.parse("http://[fd00::1]:8080", source: "x") == .proxy(S3Proxy(host: "[fd00::1]", port: 8080)))
    if case .invalid(let text) = S3ProxySelection.parse("socks5://p:1080", source: "HTTPS_PROXY") {
      #expect(text.contains("HTTPS_PROXY") && text.contains("socks5"))
    } else {
      Issue.record("socks5 accepted")
    }
    if case .invalid = S3ProxySelection.parse("http://p:99999", source: "x") {} else { Issue.record("bad port accepted") }
  }

  @Test("IP addresses and CIDR blocks")
  func addresses() {
    #expect(IPAddress("::ffff:127.0.0.1")?.isLoopback == true)
    #expect(IPAddress("1.2.3") == nil)
    #expect(IPAddress("1.2.3.256") == nil)
    #expect(IPAddress("fe80::1::2") == nil)
    #expect(IPAddress("2001:db8::1")?.bytes.count == 16)
    #expect(CIDR("192.168.0.0/16")?.contains(IPAddress("192.168.44.1")!) == true)
    #expect(CIDR("192.168.0.0/33") == nil)
    #expect(CIDR("0.0.0.0/0")?.contains(IPAddress("8.8.8.8")!) == true)
  }
}
