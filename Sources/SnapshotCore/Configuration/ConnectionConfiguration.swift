/// How to reach etcd: etcdctl's connection flags and `ETCDCTL_*` variables, as one value.
package struct ConnectionConfiguration: Sendable, Codable, CustomStringConvertible {
  /// Endpoints in the order given (`--endpoints`, comma separated).
  package var endpoints: [String] = ["http://127.0.0.1:2379"]
  /// CA bundle that signed the server certificates (`--cacert`).
  package var caCertPath: String?
  /// Client certificate (`--cert`).
  package var certPath: String?
  /// Client private key (`--key`).
  package var keyPath: String?
  /// Accept any server certificate (`--insecure-skip-tls-verify`).
  package var insecureSkipTLSVerify = false
  /// User name (`--user name[:password]`); nil for no password authentication.
  package var user: String?
  /// Password; never printed.
  package var password: String?
  /// Time to connect and get the first answer (`--dial-timeout`).
  package var dialTimeout: Duration = .seconds(2)
  /// Time for each short request (`--command-timeout`); not applied to the snapshot stream.
  package var commandTimeout: Duration = .seconds(5)

  /// The defaults (etcdctl's).
  package init() {}

  /// True when certificates were given, so that `host:port` endpoints use TLS (etcdctl rule).
  package var certificatesGiven: Bool { caCertPath != nil || certPath != nil || keyPath != nil }

  /// Whether `endpoint` is reached over TLS.
  package func usesTLS(_ endpoint: EtcdEndpoint) -> Bool {
    switch endpoint.scheme {
    case .https: true
    case .http: false
    case nil: certificatesGiven || insecureSkipTLSVerify
    }
  }

  /// Every problem with this configuration, in words; empty when it is usable.
  package func problems() -> [String] {
    var problems: [String] = []
    if endpoints.isEmpty { problems.append("--endpoints is empty: give at least one, e.g. http://127.0.0.1:2379") }
    for text in endpoints {
      if case .failure(let e) = EtcdEndpoint.parse(text) {
        problems.append("--endpoints: \(quoted(e.endpoint)): \(e.reason)")
      }
    }
    if (certPath == nil) != (keyPath == nil) {
      problems.append("--cert and --key go together: give both files (the client certificate and its private key)")
    }
    if let user {
      if user.isEmpty { problems.append("--user is empty: give `name` or `name:password`") }
      if user.contains(":") { problems.append("--user must be split into name and password before validation") }
    } else if password != nil {
      problems.append("a password was given without --user: add --user NAME")
    }
    if dialTimeout <= .zero { problems.append("--dial-timeout must be more than 0 (e.g. 2s)") }
    if commandTimeout <= .zero { problems.append("--command-timeout must be more than 0 (e.g. 5s)") }
    return problems
  }

  /// The endpoints, parsed; throws with every problem when the configuration is not usable.
  package func validated() throws(SnapshotError) -> [EtcdEndpoint] {
    let problems = problems()
    guard problems.isEmpty else { throw SnapshotError.invalid(problems) }
    return endpoints.compactMap { try? EtcdEndpoint.parse($0).get() }
  }

  /// Safe to log: the password is never shown.
  package var description: String {
    var parts = ["endpoints=\(endpoints.map(Redaction.url).joined(separator: ","))"]
    if let caCertPath { parts.append("cacert=\(caCertPath)") }
    if let certPath { parts.append("cert=\(certPath)") }
    if let keyPath { parts.append("key=\(keyPath)") }
    if insecureSkipTLSVerify { parts.append("insecure-skip-tls-verify") }
    if let user { parts.append("user=\(user)") }
    if password != nil { parts.append("password=<redacted>") }
    parts.append("dial-timeout=\(GoDuration.format(dialTimeout))")
    parts.append("command-timeout=\(GoDuration.format(commandTimeout))")
    return "ConnectionConfiguration(\(parts.joined(separator: " ")))"
  }

  private enum CodingKeys: String, CodingKey {
    case endpoints
    case caCertPath = "cacert"
    case certPath = "cert"
    case keyPath = "key"
    case insecureSkipTLSVerify = "insecure-skip-tls-verify"
    // The password is never encoded: it comes from a flag, the environment or a file.
    case user
    case dialTimeout = "dial-timeout"
    case commandTimeout = "command-timeout"
  }
}

extension SnapshotError {
  /// An invalid-configuration error listing every problem, one per line.
  package static func invalid(_ problems: [String]) -> SnapshotError {
    if problems.count == 1 { return SnapshotError(.invalidConfiguration, problems[0]) }
    return SnapshotError(
      .invalidConfiguration,
      "the configuration has \(problems.count) problems:\n" + problems.map { "  - \($0)" }.joined(separator: "\n"))
  }

  /// The error of an all-or-nothing delete that found `problems` before deleting anything:
  /// `.notFound` when every problem is an unknown name (`no snapshot named …`), else a
  /// configuration error.
  package static func nothingDeleted(_ problems: [String]) -> SnapshotError {
    var error = invalid(problems)
    error.code = problems.allSatisfy({ $0.hasPrefix("no snapshot") }) ? .notFound : .invalidConfiguration
    error.message += "\nnothing was deleted"
    return error
  }
}
