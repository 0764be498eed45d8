import Foundation
import SnapshotCore

/// An HTTP proxy to send S3 requests through.
package struct S3Proxy: Sendable, Equatable {
  /// Proxy host name or address.
  package var host: String
  /// Proxy port (default 80 for `http://`, as Go uses).
  package var port: Int
  /// `user:password` from the proxy URL, if any; never printed.
  package var userInfo: String?

  /// Makes a proxy.
  package init(host: String, port: Int, userInfo: String? = nil) {
    self.host = host
    self.port = port
    self.userInfo = userInfo
  }
}

/// Chooses the proxy for a request the way Go's `net/http` does (`ProxyFromEnvironment`), since
/// k3s users set `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY` for k3s and expect the same here.
///
/// Rules (golang.org/x/net/http/httpproxy): `HTTPS_PROXY` for https, `HTTP_PROXY` for http
/// (upper case first, then lower case); a proxy URL without a scheme means `http://`;
/// `localhost` and loopback addresses never use a proxy; `NO_PROXY` is a comma list of
/// `*`, host names (`example.com` matches it and its subdomains, `.example.com` and
/// `*.example.com` only subdomains), IP addresses and CIDR blocks, each optionally with `:port`.
package enum S3ProxySelection {
  /// The result: a proxy, none, or a problem with the setting.
  package enum Choice: Sendable, Equatable {
    /// Go directly.
    case direct
    /// Go through this proxy.
    case proxy(S3Proxy)
    /// The proxy setting cannot be used; the text says why and what to do.
    case invalid(String)
  }

  /// The proxy for a request to `host:port` over https (`secure`) or http.
  ///
  /// `explicit` is `--s3-proxy`: nil reads the environment, `none` turns proxies off.
  package static func choose(
    host: String, port: Int, secure: Bool, explicit: String?, environment env: [String: String]
  ) -> Choice {
    if explicit == "none" { return .direct }
    let setting: String
    let source: String
    if let explicit {
      setting = explicit
      source = "--s3-proxy"
    } else {
      let names = secure ? ["HTTPS_PROXY", "https_proxy"] : ["HTTP_PROXY", "http_proxy"]
      guard let name = names.first(where: { !(env[$0] ?? "").isEmpty }), let value = env[name] else { return .direct }
      setting = value
      source = name
    }
    if !bypassesProxy(host: host, port: port, explicit: explicit != nil, environment: env) {
      return parse(setting, source: source)
    }
    return .direct
  }

  /// Parses a proxy URL such as `http://user:pw@proxy:3128` or `proxy:3128`.
  package static func parse(_ setting: String, source: String) -> Choice {
    var rest = Substring(setting.trimmingCharacters(in: .whitespaces))
    if let scheme = rest.range(of: "://") {
      let name = rest[..<scheme.lowerBound].lowercased()
      guard name == "http" else {
        return .invalid(
          "\(source): proxies with scheme \(name):// are not supported; use an http:// proxy (HTTPS requests are tunnelled with CONNECT)")
      }
      rest = rest[scheme.upperBound...]
    }
    if let slash = rest.firstIndex(of: "/") { rest = rest[..<slash] }
    var userInfo: String?
    if let at = rest.lastIndex(of: "@") {
      userInfo = String(rest[..<at])
      rest = rest[rest.index(after: at)...]
    }
    let (host, port) = splitHostPort(String(rest))
    guard !host.isEmpty else { return .invalid("\(source) has no proxy host name") }
    let portNumber: Int
    if let port {
      guard let p = Int(port), (1...65535).contains(p) else { return .invalid("\(source) has an invalid port \(quoted(port))") }
      portNumber = p
    } else {
      portNumber = 80
    }
    return .proxy(S3Proxy(host: host, port: portNumber, userInfo: userInfo))
  }

  /// True when `host:port` must not go through a proxy (loopback, or listed in `NO_PROXY`).
  ///
  /// An explicit `--s3-proxy` still honours `NO_PROXY`, as k3s's does.
  package static func bypassesProxy(host rawHost: String, port: Int, explicit: Bool, environment env: [String: String]) -> Bool {
    let host = unbracket(rawHost).lowercased()
    if host == "localhost" { return true }
    if let ip = IPAddress(host), ip.isLoopback { return true }
    let noProxy = env["NO_PROXY"].flatMap { $0.isEmpty ? nil : $0 } ?? env["no_proxy"] ?? ""
    for raw in noProxy.split(separator: ",") {
      let entry = raw.trimmingCharacters(in: .whitespaces).lowercased()
      if entry.isEmpty { continue }
      if entry == "*" { return true }
      if entry.contains("/") {
        if let cidr = CIDR(entry), let ip = IPAddress(host), cidr.contains(ip) { return true }
        continue
      }
      var (name, entryPort) = splitHostPort(entry)
      name = unbracket(name)
      if let entryPort, Int(entryPort) != port { continue }
      if let a = IPAddress(name) {
        if let b = IPAddress(host), a == b { return true }
        continue
      }
      if name.hasPrefix("*.") { name.removeFirst() }
      if name.hasPrefix(".") {
        if host.hasSuffix(name) { return true }
      } else if host == name || host.hasSuffix("." + name) {
        return true
      }
    }
    return false
  }

  private static func unbracket(_ s: String) -> String {
    s.hasPrefix("[") && s.hasSuffix("]") ? String(s.dropFirst().dropLast()) : s
  }

  /// `host:port` split; IPv6 literals in brackets keep their colons.
  package static func splitHostPort(_ s: String) -> (host: String, port: String?) {
    if s.hasPrefix("[") {
      guard let close = s.firstIndex(of: "]") else { return (s, nil) }
      let host = String(s[...close])
      let after = s[s.index(after: close)...]
      return after.hasPrefix(":") ? (host, String(after.dropFirst())) : (host, nil)
    }
    let colons = s.filter { $0 == ":" }.count
    if colons == 1, let colon = s.firstIndex(of: ":") {
      return (String(s[..<colon]), String(s[s.index(after: colon)...]))
    }
    return (s, nil)
  }
}

/// An IPv4 or IPv6 address as 4 or 16 bytes.
package struct IPAddress: Sendable, Equatable {
  /// Network-order bytes: 4 for IPv4, 16 for IPv6.
  package var bytes: [UInt8]

  /// Parses dotted IPv4 or IPv6 text (with `::`); nil for anything else.
  package init?(_ text: String) {
    if let v4 = Self.parseV4(Substring(text)) {
      bytes = v4
    } else if let v6 = Self.parseV6(text) {
      bytes = v6
    } else {
      return nil
    }
  }

  /// 127.0.0.0/8 and ::1 (and IPv4-mapped loopback).
  package var isLoopback: Bool {
    if bytes.count == 4 { return bytes[0] == 127 }
    if bytes == [UInt8](repeating: 0, count: 15) + [1] { return true }
    return bytes[0..<10].allSatisfy { $0 == 0 } && bytes[10] == 0xff && bytes[11] == 0xff && bytes[12] == 127
  }

  private static func parseV4(_ text: Substring) -> [UInt8]? {
    let parts = text.split(separator: ".", omittingEmptySubsequences: false)
    guard parts.count == 4 else { return nil }
    var out: [UInt8] = []
    for p in parts {
      guard !p.isEmpty, p.count <= 3, p.allSatisfy(\.isASCII), let v = UInt8(p) else { return nil }
      out.append(v)
    }
    return out
  }

  private static func parseV6(_ text: String) -> [UInt8]? {
    guard text.contains(":") else { return nil }
    let halves = text.components(separatedBy: "::")
    guard halves.count <= 2 else { return nil }
    func groups(_ s: String) -> [UInt8]? {
      if s.isEmpty { return [] }
      var out: [UInt8] = []
      let items = s.split(separator: ":", omittingEmptySubsequences: false)
      for (i, g) in items.enumerated() {
        if i == items.count - 1, g.contains("."), let v4 = parseV4(g) {
          out += v4
          continue
        }
        guard !g.isEmpty, g.count <= 4, let v = UInt16(g, radix: 16) else { return nil }
        out += [UInt8(v >> 8), UInt8(v & 0xff)]
      }
      return out
    }
    guard let head = groups(halves[0]) else { return nil }
    if halves.count == 1 { return head.count == 16 ? head : nil }
    guard let tail = groups(halves[1]), head.count + tail.count <= 14 else { return nil }
    return head + [UInt8](repeating: 0, count: 16 - head.count - tail.count) + tail
  }
}

/// A CIDR block such as `10.0.0.0/8` or `fd00::/8`.
package struct CIDR: Sendable, Equatable {
  /// The network address.
  package var network: IPAddress
  /// Prefix length in bits.
  package var bits: Int

  /// Parses `address/bits`; nil when either part is invalid.
  package init?(_ text: String) {
    let parts = text.split(separator: "/")
    guard parts.count == 2, let ip = IPAddress(String(parts[0])), let b = Int(parts[1]), b >= 0, b <= ip.bytes.count * 8
    else { return nil }
    network = ip
    bits = b
  }

  /// True when `ip` (of the same family) lies in the block.
  package func contains(_ ip: IPAddress) -> Bool {
    guard ip.bytes.count == network.bytes.count else { return false }
    var remaining = bits
    for i in 0..<ip.bytes.count where remaining > 0 {
      let take = min(8, remaining)
      let mask = UInt8(truncatingIfNeeded: 0xff << (8 - take))
      if ip.bytes[i] & mask != network.bytes[i] & mask { return false }
      remaining -= take
    }
    return true
  }
}
