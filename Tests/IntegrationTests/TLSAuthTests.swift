import EtcdTestSupport
import Foundation
import Testing

/// One etcd with TLS, client-certificate authentication and auth enabled, as k3s and kubeadm
/// run it; every way in, and every way to get it wrong.
@Suite("TLS and authentication", .serialized)
struct TLSAuthTests {
  static let rootPassword = "pa:ss w0rd+/%"

  /// A TLS etcd with users `root` (password) and `alice` (no roles), auth enabled.
  func securedServer(_ release: EtcdRelease, certs: TemporaryDirectory) async throws -> (EtcdServer, TestCertificates) {
    let tls = try TestCertificates(in: certs.appending("pki"))
    var options = EtcdServer.Options()
    options.tls = tls
    let server = try await EtcdServer(release, options)
    try server.ctl(["user", "add", "root:\(Self.rootPassword)"])
    try server.ctl(["user", "grant-role", "root", "root"])
    try server.ctl(["user", "add", "alice:alicepw"])
    try server.ctl(["auth", "enable"])
    try server.ctl(["put", "/registry/secrets/default/token", "abc"], user: "root:\(Self.rootPassword)")
    return (server, tls)
  }

  /// Runs argv[1:] on a pseudo-terminal, types $TYPED_PASSWORD after "Password: ", prints the
  /// terminal's output and exits with the program's status.
  static let typeAtPrompt = """
    import os, pty, sys
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(sys.argv[1], sys.argv[1:])
    seen = b""
    while b"Password: " not in seen:
        chunk = os.read(fd, 1024)
        if not chunk:
            break
        seen += chunk
    os.write(fd, os.environ["TYPED_PASSWORD"].encode() + b"\\n")
    while True:
        try:
            chunk = os.read(fd, 1024)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    sys.stdout.buffer.write(seen)
    _, status = os.waitpid(pid, 0)
    sys.exit(os.waitstatus_to_exitcode(status))
    """

  func tlsFlags(_ t: TestCertificates, ca: String? = nil, cert: String? = nil, key: String? = nil) -> [String] {
    ["--cacert", ca ?? t.ca, "--cert", cert ?? t.clientCert, "--key", key ?? t.clientKey]
  }

  @Test("client certificate, password, and ETCDCTL_* variables all work", arguments: EtcdRelease.allCases)
  func waysIn(release: EtcdRelease) async throws {
    let work = try TemporaryDirectory(prefix: "tls")
    let (server, t) = try await securedServer(release, certs: work)
    let dir = work.appending("snaps")

    // 1. The client certificate's CN (root) is the identity; no password.
    let byCert = try Tool.run(["save", "--endpoints", server.clientURL, "--dir", dir, "--name", "cert"] + tlsFlags(t))
    #expect(byCert.status == 0, "\(byCert)")

    // 2. User and password from a file (the certificate is still needed for the TLS handshake).
    let pwFile = work.appending("password")
    try (Self.rootPassword + "\n").write(toFile: pwFile, atomically: true, encoding: .utf8)
    let byPassword = try Tool.run(
      ["save", "--endpoints", server.clientURL, "--dir", dir, "--name", "pw", "--user", "root", "--password-file", pwFile]
        + tlsFlags(t, cert: t.nobodyCert, key: t.nobodyKey))
    #expect(byPassword.status == 0, "\(byPassword)")

    // 3. Everything from ETCDCTL_* variables, as etcdctl users have it.
    let byEnv = try Tool.run(
      ["save", "--dir", dir, "--name", "env"],
      environment: [
        "ETCDCTL_ENDPOINTS": server.clientURL, "ETCDCTL_CACERT": t.ca, "ETCDCTL_CERT": t.nobodyCert,
        "ETCDCTL_KEY": t.nobodyKey, "ETCDCTL_USER": "root", "ETCDCTL_PASSWORD": Self.rootPassword,
      ])
    #expect(byEnv.status == 0, "\(byEnv)")

    // 4. --insecure-skip-tls-verify accepts a server the given CA did not sign.
    let skip = try Tool.run(
      ["save", "--endpoints", server.clientURL, "--dir", dir, "--name", "skip", "--insecure-skip-tls-verify"]
        + tlsFlags(t, ca: t.otherCA))
    #expect(skip.status == 0, "\(skip)")

    // 5. No password given, a terminal: it is asked for, without echo, as etcdctl does. A
    //    pseudo-terminal runs the tool; the password is typed once the prompt is shown.
    var env = EtcdServer.cleanEnvironment
    env["TYPED_PASSWORD"] = Self.rootPassword
    let prompted = try TestProcess.run(
      "/usr/bin/env",
      ["python3", "-c", Self.typeAtPrompt, Tool.path, "save", "--endpoints", server.clientURL, "--dir", dir, "--name", "prompt", "--user", "root"]
        + tlsFlags(t, cert: t.nobodyCert, key: t.nobodyKey),
      environment: env, timeout: .seconds(60))
    #expect(prompted.status == 0, "\(prompted)")
    #expect(prompted.stdout.contains("Password: "), "\(prompted)")

    for r in [byCert, byPassword, byEnv, skip, prompted] {
      #expect(!r.stdout.contains(Self.rootPassword) && !r.stderr.contains(Self.rootPassword), "the password is never printed")
    }
    let listed = try Tool.list(dir)
    #expect(Set(listed.compactMap(\.prefix)) == ["cert", "pw", "env", "skip", "prompt"])
    for entry in listed {
      #expect(entry.verified)
      let figures = try SnapshotStatus.read(entry.path, with: server.binaries)
      #expect(figures.revision == entry.revision)
    }
  }

  @Test(
    "wrong credentials and certificates fail cleanly with a message that says what to fix",
    arguments: EtcdRelease.allCases)
  func waysToFail(release: EtcdRelease) async throws {
    let work = try TemporaryDirectory(prefix: "tls-bad")
    let (server, t) = try await securedServer(release, certs: work)
    let dir = work.appending("snaps")
    let older = try Tool.run(["save", "--endpoints", server.clientURL, "--dir", dir, "--name", "older"] + tlsFlags(t))
    try #require(older.status == 0, "\(older)")
    let before = try directoryState(dir)
    let url = server.clientURL

    let cases: [(String, [String], Int32, [String])] = [
      ("wrong CA", tlsFlags(t, ca: t.otherCA), 78, ["not trusted", "--cacert"]),
      (
        "client certificate from another CA", tlsFlags(t, cert: t.rogueClientCert, key: t.rogueClientKey), 78,
        ["rejected our client certificate"]
      ),
      ("no client certificate", ["--cacert", t.ca], 78, ["rejected our client certificate"]),
      ("key that does not belong to the certificate", tlsFlags(t, key: t.nobodyKey), 78, ["--key belongs to --cert"]),
      ("missing CA file", tlsFlags(t, ca: work.appending("nope.pem")), 78, ["--cacert", "No such file"]),
      ("wrong password", tlsFlags(t) + ["--user", "root:wrong"], 77, ["authentication failed", "wrong user name or password"]),
      (
        "a user without the root role", tlsFlags(t, cert: t.nobodyCert, key: t.nobodyKey) + ["--user", "alice:alicepw"], 77,
        ["permission denied", "root role"]
      ),
      ("a certificate whose CN is not a user", tlsFlags(t, cert: t.nobodyCert, key: t.nobodyKey), 77, ["root"]),
      ("plain HTTP to a TLS port", [], 69, [url.replacingOccurrences(of: "https://", with: "")]),
    ]
    for (what, flags, status, mentions) in cases {
      let endpoint = flags.isEmpty ? url.replacingOccurrences(of: "https://", with: "http://") : url
      let r = try Tool.run(["save", "--endpoints", endpoint, "--dir", dir, "--dial-timeout", "3s"] + flags, timeout: .seconds(60))
      #expect(r.status == status, "\(what): \(r)")
      for text in mentions { #expect(r.stderr.contains(text), "\(what): expected \(text) in \(r.stderr)") }
      #expect(!r.stderr.contains("alicepw") && !r.stderr.contains(Self.rootPassword), "\(what): a password was printed")
      #expect(try directoryState(dir) == before, "\(what): the directory changed")
    }

    // Two endpoints that fail the same way: both are named, and the exit status is the shared one.
    let both = try Tool.run(
      ["save", "--endpoints", "\(url),\(url.replacingOccurrences(of: "127.0.0.1", with: "localhost"))", "--dir", dir]
        + tlsFlags(t, ca: t.otherCA))
    #expect(both.status == 78, "\(both)")
    #expect(both.stderr.contains("no endpoint is a healthy voting member"), "\(both)")
    #expect(try directoryState(dir) == before)
  }
}
