import EtcdTestSupport
import Foundation
import Testing

/// S3 over TLS with a private CA, `--s3-skip-ssl-verify`, and proxies from the environment.
@Suite("S3 over TLS and through proxies", .serialized)
struct S3TLSTests {
  /// moto behind a TLS-terminating proxy whose certificate the test CA signed (SAN 127.0.0.1, localhost).
  struct Setup {
    let server: EtcdServer
    let s3: S3Fixture
    let certs: TestCertificates
    let tls: S3TestProxy

    init() async throws {
      server = try await EtcdServer(.etcd35)
      try server.putKeys(prefix: "/k/", count: 200)
      s3 = try await S3Fixture()
      certs = try TestCertificates(in: s3.work.appending("pki"))
      tls = try await S3TestProxy(upstream: s3.moto.endpoint, tls: (certs.serverCert, certs.serverKey))
    }

    /// `--s3 …` over https to `host:PORT` of the TLS proxy.
    func https(host: String = "127.0.0.1", _ extra: [String]) -> [String] {
      ["--s3", "--s3-endpoint", "\(host):\(tls.port)", "--s3-bucket", s3.bucket, "--s3-folder", s3.folder] + extra
    }
  }

  @Test("a private CA with --s3-endpoint-ca works; without it the certificate is refused; --s3-skip-ssl-verify accepts it")
  func privateCA() async throws {
    let t = try await Setup()
    // Each save has its own --name: two saves in one second would otherwise share a name.
    let ok = try t.s3.save(t.server, s3: t.https(["--s3-endpoint-ca", t.certs.ca]), extra: ["--name", "ca"])
    #expect(ok.status == 0, "\(ok)")
    #expect(try t.s3.objects().count == 2)

    let refused = try t.s3.save(t.server, s3: t.https([]), extra: ["--name", "noca"])
    #expect(refused.status == 78, "\(refused)")
    #expect(refused.stderr.contains("TLS handshake") && refused.stderr.contains("--s3-endpoint-ca"), "\(refused.stderr)")
    #expect(try t.s3.openUploads().isEmpty)

    let wrongCA = try t.s3.save(t.server, s3: t.https(["--s3-endpoint-ca", t.certs.otherCA]), extra: ["--name", "wrongca"])
    #expect(wrongCA.status == 78, "\(wrongCA)")

    let skipped = try t.s3.save(t.server, s3: t.https(["--s3-skip-ssl-verify"]), extra: ["--name", "skip"])
    #expect(skipped.status == 0, "\(skipped)")
    let listed = try t.s3.list(s3: t.https(["--s3-endpoint-ca", t.certs.ca]))
    #expect(listed.filter { $0.location == "s3" }.count == 2)
  }

  @Test("HTTPS_PROXY is used (CONNECT), NO_PROXY bypasses it, --s3-proxy none turns it off")
  func proxyFromEnvironment() async throws {
    let t = try await Setup()
    let forward = try await S3TestProxy(forward: ())
    let proxyURL = "http://127.0.0.1:\(forward.port)"
    // `localhost` never uses a proxy (as in Go), so the proxied endpoint is named s3.localhost,
    // which only the proxy resolves (to 127.0.0.1).
    // (virtual-host style: moto reads a dotted host name as BUCKET.rest)
    let viaProxy = try t.s3.save(
      t.server, s3: t.https(host: "s3.localhost", ["--s3-skip-ssl-verify", "--s3-bucket-lookup-type", "dns"]),
      environment: ["HTTPS_PROXY": proxyURL], extra: ["--name", "proxied"])
    #expect(viaProxy.status == 0, "\(viaProxy)")
    #expect(try forward.stats().connects.contains("\(t.s3.bucket).s3.localhost:\(t.tls.port)"))

    // A name this machine resolves itself, listed in NO_PROXY: straight to the endpoint.
    let direct = try #require(Self.loopbackHostName(), "no host name in /etc/hosts maps to 127.0.0.1 besides localhost")
    let before = try forward.stats().connects.count
    let bypass = try t.s3.save(
      t.server, s3: t.https(host: direct, ["--s3-skip-ssl-verify"]), environment: ["HTTPS_PROXY": proxyURL, "NO_PROXY": "example.com,\(direct)"],
      extra: ["--name", "bypass"])
    #expect(bypass.status == 0, "\(bypass)")
    #expect(try forward.stats().connects.count == before, "NO_PROXY bypassed the proxy")

    let dead = "http://127.0.0.1:\(try freeLoopbackPort())"
    let viaDeadProxy = try t.s3.save(
      t.server, s3: t.https(host: direct, ["--s3-skip-ssl-verify", "--s3-timeout", "3s"]), environment: ["HTTPS_PROXY": dead],
      extra: ["--name", "dead"])
    #expect(viaDeadProxy.status == 69, "without NO_PROXY the (dead) proxy is used: \(viaDeadProxy)")
    #expect(viaDeadProxy.stderr.contains("proxy 127.0.0.1"), "\(viaDeadProxy.stderr)")
    let none = try t.s3.save(
      t.server, s3: t.https(host: direct, ["--s3-skip-ssl-verify", "--s3-proxy", "none"]), environment: ["HTTPS_PROXY": dead],
      extra: ["--name", "noproxy"])
    #expect(none.status == 0, "--s3-proxy none ignores HTTPS_PROXY: \(none)")
  }

  /// A name other than localhost that /etc/hosts maps to 127.0.0.1 (the machine's own name here).
  static func loopbackHostName() -> String? {
    guard let hosts = try? String(contentsOfFile: "/etc/hosts", encoding: .utf8) else { return nil }
    for line in hosts.split(separator: "\n") where !line.hasPrefix("#") {
      let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
      guard fields.first == "127.0.0.1" else { continue }
      if let name = fields.dropFirst().first(where: { $0 != "localhost" && !$0.hasPrefix("localhost") }) { return String(name) }
    }
    return nil
  }
}
