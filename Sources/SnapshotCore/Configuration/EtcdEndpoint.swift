/// An etcd client endpoint as etcdctl accepts it: `http://host:port`, `https://host:port` or
/// `host:port` (TLS then depends on whether certificates were given, as in etcdctl).
package struct EtcdEndpoint: Hashable, Sendable, CustomStringConvertible {
  /// Whether the endpoint asks for TLS.
  package enum Scheme: String, Sendable {
    case http, https
  }

  /// Host name or IP address (IPv6 without brackets).
  package var host: String
  /// TCP port.
  package var port: Int
  /// The scheme written, or nil for a bare `host:port`.
  package var scheme: Scheme?

  /// Makes an endpoint.
  package init(host: String, port: Int, scheme: Scheme?) {
    self.host = host
    self.port = port
    self.scheme = scheme
  }

  /// The endpoint as a URL, with the scheme it will actually use.
  package func url(tls: Bool) -> String {
    let h = host.contains(":") ? "[\(host)]" : host
    return "\(tls ? "https" : "http")://\(h):\(port)"
  }

  /// As written by a user (scheme kept if given).
  package var description: String {
    let h = host.contains(":") ? "[\(host)]" : host
    if let scheme { return "\(scheme.rawValue)://\(h):\(port)" }
    return "\(h):\(port)"
  }

  /// Parses one endpoint; the error says what is wrong with it.
  package static func parse(_ text: String) -> Result<EtcdEndpoint, EtcdEndpointParseError> {
    var rest = Substring(text)
    while let f = rest.first, f == " " || f == "\t" { rest.removeFirst() }
    while let l = rest.last, l == " " || l == "\t" { rest.removeLast() }
    if Redaction.hasUserInfo(String(rest)) {
      return .failure(
        EtcdEndpointParseError(
          endpoint: Redaction.url(text),
          reason: "credentials in an endpoint are not supported (they would show in the process list): "
            + "use --user NAME with --password-file or ETCDCTL_PASSWORD"))
    }
    var scheme: Scheme?
    if let range = rest.range(of: "://") {
      let word = rest[..<range.lowerBound].lowercased()
      guard let s = Scheme(rawValue: word) else {
        return .failure(EtcdEndpointParseError(endpoint: text, reason: "scheme `\(word)` is not supported; use http:// or https://"))
      }
      scheme = s
      rest = rest[range.upperBound...]
    }
    if let slash = rest.firstIndex(of: "/") {
      let path = rest[slash...]
      guard path == "/" else {
        return .failure(EtcdEndpointParseError(endpoint: text, reason: "an endpoint has no path; write it as host:port"))
      }
      rest = rest[..<slash]
    }
    var host: Substring
    var portText: Substring?
    if rest.hasPrefix("[") {
      guard let close = rest.firstIndex(of: "]") else {
        return .failure(EtcdEndpointParseError(endpoint: text, reason: "missing `]` after an IPv6 address"))
      }
      host = rest[rest.index(after: rest.startIndex)..<close]
      let after = rest[rest.index(after: close)...]
      if after.hasPrefix(":") {
        portText = after.dropFirst()
      } else if !after.isEmpty {
        return .failure(EtcdEndpointParseError(endpoint: text, reason: "unexpected `\(after)` after the address"))
      }
    } else if let colon = rest.lastIndex(of: ":") {
      host = rest[..<colon]
      portText = rest[rest.index(after: colon)...]
      if host.contains(":") {
        return .failure(EtcdEndpointParseError(endpoint: text, reason: "put an IPv6 address in brackets: [::1]:2379"))
      }
    } else {
      host = rest
    }
    guard !host.isEmpty else {
      return .failure(EtcdEndpointParseError(endpoint: text, reason: "the host is missing"))
    }
    var port = 2379
    if let portText {
      guard let p = Int(portText), (1...65535).contains(p) else {
        return .failure(EtcdEndpointParseError(endpoint: text, reason: "port `\(portText)` is not a number from 1 to 65535"))
      }
      port = p
    }
    return .success(EtcdEndpoint(host: String(host), port: port, scheme: scheme))
  }
}

/// Why an endpoint could not be parsed.
package struct EtcdEndpointParseError: Error, Sendable, Equatable {
  /// The text given.
  package var endpoint: String
  /// What is wrong.
  package var reason: String
}
