import PropertyBased
import SnapshotCore
import Testing

@Suite("EtcdEndpoint: etcdctl's endpoint syntax")
struct EtcdEndpointTests {
  @Test(
    "accepts http://, https:// and bare host:port, IPv6 in brackets, default port 2379",
    arguments: [
      ("http://127.0.0.1:2379", "127.0.0.1", 2379, EtcdEndpoint.Scheme?.some(.http)),
      ("https://etcd.example.com:2379", "etcd.example.com", 2379, .https),
      ("HTTPS://etcd-0:12379", "etcd-0", 12379, .https),
      ("10.0.0.1:12379", "10.0.0.1", 12379, nil),
      ("localhost", "localhost", 2379, nil),
      ("http://localhost", "localhost", 2379, .http),
      ("https://node-1.cluster.local", "node-1.cluster.local", 2379, .https),
      ("[::1]:2379", "::1", 2379, nil),
      ("https://[fe80::1%25eth0]:2380", "fe80::1%25eth0", 2380, .https),
      ("http://[2001:db8::7]", "2001:db8::7", 2379, .http),
      ("[::1]", "::1", 2379, nil),
      ("http://etcd:1/", "etcd", 1, .http),
      ("etcd:65535", "etcd", 65535, nil),
      ("  http://a:1\t", "a", 1, .http),
    ])
  func accepts(text: String, host: String, port: Int, scheme: EtcdEndpoint.Scheme?) throws {
    let endpoint = try EtcdEndpoint.parse(text).get()
    #expect(endpoint == EtcdEndpoint(host: host, port: port, scheme: scheme))
  }

  @Test(
    "refuses other schemes, paths, bad ports, unbracketed IPv6 and missing hosts",
    arguments: [
      ("ftp://etcd:2379", "scheme"),
      ("unix://etcd:2379", "scheme"),
      ("://etcd:2379", "scheme"),
      ("http://etcd:2379/v3/kv", "path"),
      ("etcd:2379/x", "path"),
      ("etcd:0", "port"),
      ("etcd:65536", "port"),
      ("etcd:-1", "port"),
      ("etcd:http", "port"),
      ("etcd:", "port"),
      ("[::1]:99999", "port"),
      ("::1", "brackets"),
      ("fe80::1:2379", "brackets"),
      ("http://2001:db8::7:2379", "brackets"),
      ("[::1", "]"),
      ("[::1]2379", "after the address"),
      ("", "host"),
      ("http://", "host"),
      (":2379", "host"),
      ("[]:2379", "host"),
    ])
  func rejects(text: String, reasonMentions: String) throws {
    guard case .failure(let error) = EtcdEndpoint.parse(text) else {
      Issue.record("\(text.debugDescription) was accepted")
      return
    }
    #expect(error.endpoint == text)
    #expect(error.reason.contains(reasonMentions), "\(error.reason)")
  }

  @Test("description and url put IPv6 addresses in brackets")
  func formatting() {
    let v6 = EtcdEndpoint(host: "::1", port: 2379, scheme: nil)
    #expect(v6.description == "[::1]:2379")
    #expect(v6.url(tls: true) == "https://[::1]:2379")
    #expect(v6.url(tls: false) == "http://[::1]:2379")
    let v4 = EtcdEndpoint(host: "10.0.0.1", port: 1, scheme: .https)
    #expect(v4.description == "https://10.0.0.1:1")
    #expect(v4.url(tls: false) == "http://10.0.0.1:1")
  }

  @Test("parse(description) gives back the endpoint")
  func roundTrip() async {
    let hostChars = Array("abcdefghijklmnopqrstuvwxyz0123456789-.")
    let dnsHost = Gen<Character?>.element(of: hostChars).map { $0! }.string(of: 1...30)
    let v6Host = Gen.uint16().array(of: 2...8).map { groups in groups.map { String($0, radix: 16) }.joined(separator: ":") }
    let input = zip(dnsHost, v6Host, Gen.bool, Gen.int(in: 1...65535), Gen.int(in: 0...2))
    await propertyCheck(count: 500, input: input) { dns, v6, useV6, port, schemeIndex in
      let scheme: EtcdEndpoint.Scheme? = [nil, .http, .https][schemeIndex]
      let endpoint = EtcdEndpoint(host: useV6 ? v6 : dns, port: port, scheme: scheme)
      #expect(EtcdEndpoint.parse(endpoint.description) == .success(endpoint), "\(endpoint.description)")
      #expect((try? EtcdEndpoint.parse(endpoint.url(tls: true)).get())?.scheme == .https)
    }
  }

  @Test("every port outside 1...65535 is refused")
  func portRange() async {
    let bad = Gen<Int>.oneOf(Gen.int(in: -100_000...0), Gen.int(in: 65536...10_000_000))
    await propertyCheck(count: 300, input: bad) { port in
      guard case .failure = EtcdEndpoint.parse("etcd:\(port)") else {
        Issue.record("port \(port) accepted")
        return
      }
    }
  }
}
