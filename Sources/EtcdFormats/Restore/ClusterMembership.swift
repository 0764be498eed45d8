// The membership a restore writes: `--initial-cluster` parsed as etcd parses it, member and
// cluster IDs, and the member JSON etcd stores (docs/etcd-data-dir.md §3.3, 4.1, 4.2; checked against
// etcdctl 3.4.23 and etcdutl 3.5.1):
//
//   --initial-cluster  = part ("," part)*        empty parts skipped; part = name "=" url
//                        (split at the first "="); a name may repeat: one member, several URLs
//   url                = scheme "://" host ":" port   scheme http|https|unix|unixs (lower-cased),
//                        no user-info, path, query, fragment or percent-escape
//   memberID           = BE u64 of SHA-1( concat(sorted peer URLs) ++ token )[0..<8]
//   clusterID          = BE u64 of SHA-1( concat over IDs ascending of BE u64(id) )[0..<8]
//   member JSON        = {"id":<decimal>,"peerURLs":[<urls>],"name":"<name>"}   (Go escaping)
import Crypto

/// One member of the cluster a restore creates.
package struct RestoreMember: Sendable, Equatable {
  /// Its name in `--initial-cluster`.
  package var name: String
  /// Its peer URLs, sorted byte-wise (as etcd sorts them).
  package var peerURLs: [String]
  /// Its member ID (SHA-1 of the URLs and the token).
  package var id: UInt64

  /// The ID as etcd prints it: lower-case hex, no leading zeros.
  package var idHex: String { String(id, radix: 16) }

  /// The member as etcd stores it in the `members` bucket and in the ConfChange context.
  package var json: String {
    var s = "{\"id\":\(id),\"peerURLs\":" + GoJSON.stringArray(peerURLs)
    if !name.isEmpty { s += ",\"name\":" + GoJSON.string(name) }
    return s + "}"
  }

  /// The v2 store's `raftAttributes` value: `{"peerURLs":[...]}`.
  package var raftAttributesJSON: String {
    "{\"peerURLs\":" + GoJSON.stringArray(peerURLs) + "}"
  }
}

/// The members of `--initial-cluster` with their IDs and the cluster ID.
package struct ClusterMembership: Sendable, Equatable {
  /// Members sorted by numeric ID, ascending (raft's order everywhere in the restore).
  package var members: [RestoreMember]
  /// The cluster ID.
  package var clusterID: UInt64
  /// The token the IDs were made with.
  package var token: String

  /// The cluster ID as etcd prints it.
  package var clusterIDHex: String { String(clusterID, radix: 16) }

  /// Parses `initialCluster` and computes every ID; throws with every problem found.
  package init(initialCluster: String, token: String) throws(ClusterMembershipError) {
    var problems: [String] = []
    var order: [String] = []
    var urlsByName: [String: [String]] = [:]
    var seenURLs: Set<String> = []
    for part in initialCluster.split(separator: ",", omittingEmptySubsequences: true) {
      guard let eq = part.firstIndex(of: "=") else {
        problems.append("--initial-cluster entry \"\(part)\" is not name=url")
        continue
      }
      let name = String(part[part.startIndex..<eq])
      let rawURL = String(part[part.index(after: eq)...])
      switch ClusterMembership.normalizeURL(rawURL) {
      case .failure(let problem):
        problems.append("--initial-cluster URL \"\(rawURL)\" of \(name): \(problem)")
      case .success(let url):
        if !seenURLs.insert(url).inserted {
          problems.append("--initial-cluster has URL \(url) more than once; every peer URL must be unique")
        }
        if urlsByName[name] == nil { order.append(name) }
        urlsByName[name, default: []].append(url)
      }
    }
    if order.isEmpty && problems.isEmpty {
      problems.append("--initial-cluster is empty; give name=url for every member, e.g. default=http://localhost:2380")
    }
    var members: [RestoreMember] = []
    var ids: [UInt64: String] = [:]
    for name in order {
      let urls = (urlsByName[name] ?? []).sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
      let id = ClusterMembership.memberID(peerURLs: urls, token: token)
      if id == 0 { problems.append("member \(name) has ID 0; change --initial-cluster-token") }
      if let other = ids[id] {
        problems.append("members \(other) and \(name) have the same ID \(String(id, radix: 16)); give them different URLs")
      }
      ids[id] = name
      members.append(RestoreMember(name: name, peerURLs: urls, id: id))
    }
    guard problems.isEmpty else { throw ClusterMembershipError(problems: problems) }
    members.sort { $0.id < $1.id }
    self.members = members
    self.token = token
    self.clusterID = ClusterMembership.clusterID(memberIDs: members.map(\.id))
  }

  /// The member called `name`, if any.
  package func member(named name: String) -> RestoreMember? {
    members.first { $0.name == name }
  }

  /// etcd's member ID: the first 8 bytes (big-endian) of SHA-1 of the sorted URLs and the token.
  package static func memberID(peerURLs: [String], token: String) -> UInt64 {
    var input: [UInt8] = []
    for url in peerURLs.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }) { input += Array(url.utf8) }
    input += Array(token.utf8)
    return firstEightBigEndian(Array(Insecure.SHA1.hash(data: input)))
  }

  /// etcd's cluster ID: the first 8 bytes (big-endian) of SHA-1 of the member IDs (ascending, 8 bytes BE each).
  package static func clusterID(memberIDs: [UInt64]) -> UInt64 {
    var input: [UInt8] = []
    for id in memberIDs.sorted() {
      for shift in stride(from: 56, through: 0, by: -8) { input.append(UInt8(truncatingIfNeeded: id >> UInt64(shift))) }
    }
    return firstEightBigEndian(Array(Insecure.SHA1.hash(data: input)))
  }

  /// Checks a peer URL the way etcd does and returns it as Go would print it (scheme lower-cased).
  package static func normalizeURL(_ raw: String) -> Result<String, URLProblem> {
    let text = raw.trimmingSpaces()
    guard let sep = text.range(of: "://") else { return .failure(.notAURL) }
    let scheme = text[text.startIndex..<sep.lowerBound].lowercased()
    guard ["http", "https", "unix", "unixs"].contains(scheme) else { return .failure(.scheme(scheme)) }
    let rest = text[sep.upperBound...]
    if rest.contains(where: { "@?#%".contains($0) }) { return .failure(.unsupportedCharacters) }
    if rest.contains("/") { return .failure(.path) }
    // host:port, host may be a bracketed IPv6 address.
    let port: Substring
    if rest.hasPrefix("[") {
      guard let close = rest.firstIndex(of: "]") else { return .failure(.hostPort) }
      let after = rest[rest.index(after: close)...]
      guard after.hasPrefix(":") else { return .failure(.hostPort) }
      port = after.dropFirst()
    } else {
      let parts = rest.split(separator: ":", omittingEmptySubsequences: false)
      guard parts.count == 2, !parts[0].isEmpty else { return .failure(.hostPort) }
      port = parts[1]
    }
    guard !port.isEmpty, port.allSatisfy({ $0.isASCII && $0.isNumber }) else { return .failure(.hostPort) }
    return .success(scheme + "://" + rest)
  }

  /// Why a URL was refused.
  package enum URLProblem: Error, Sendable, Equatable, CustomStringConvertible {
    /// No "scheme://".
    case notAURL
    /// Scheme other than http, https, unix, unixs.
    case scheme(String)
    /// User-info, query, fragment or percent-escapes.
    case unsupportedCharacters
    /// A path after host:port.
    case path
    /// Missing or malformed host:port.
    case hostPort

    /// What to fix.
    package var description: String {
      switch self {
      case .notAURL: "not a URL; write it as http://host:port"
      case .scheme(let s): "scheme \"\(s)\" is not http, https, unix or unixs"
      case .unsupportedCharacters: "user-info, query, fragment or %-escapes are not allowed; write http://host:port"
      case .path: "a peer URL must not have a path; write http://host:port"
      case .hostPort: "needs host:port (e.g. http://10.0.0.1:2380, https://[::1]:2380)"
      }
    }
  }

  private static func firstEightBigEndian(_ digest: [UInt8]) -> UInt64 {
    var value: UInt64 = 0
    for byte in digest.prefix(8) { value = value << 8 | UInt64(byte) }
    return value
  }
}

/// Every problem found in `--initial-cluster`.
package struct ClusterMembershipError: Error, Sendable, Equatable, CustomStringConvertible {
  /// One line per problem.
  package var problems: [String]
  /// The problems, one per line.
  package var description: String { problems.joined(separator: "\n") }
}

/// Go `encoding/json` string escaping (HTML-safe, as etcd's JSON is byte-for-byte).
package enum GoJSON {
  /// `s` as a JSON string literal, escaped as Go escapes it.
  package static func string(_ s: String) -> String {
    var out = "\""
    for scalar in s.unicodeScalars {
      switch scalar {
      case "\"": out += "\\\""
      case "\\": out += "\\\\"
      case "\n": out += "\\n"
      case "\r": out += "\\r"
      case "\t": out += "\\t"
      case "<", ">", "&", "\u{2028}", "\u{2029}":
        out += "\\u" + hex4(scalar.value)
      default:
        if scalar.value < 0x20 { out += "\\u" + hex4(scalar.value) } else { out.unicodeScalars.append(scalar) }
      }
    }
    return out + "\""
  }

  /// A JSON array of strings.
  package static func stringArray(_ items: [String]) -> String {
    "[" + items.map(string).joined(separator: ",") + "]"
  }

  private static func hex4(_ v: UInt32) -> String {
    let h = String(v, radix: 16)
    return String(repeating: "0", count: max(0, 4 - h.count)) + h
  }
}

extension String {
  fileprivate func trimmingSpaces() -> String {
    let scalars = unicodeScalars
    guard let first = scalars.firstIndex(where: { !$0.properties.isWhitespace }),
      let last = scalars.lastIndex(where: { !$0.properties.isWhitespace })
    else { return "" }
    return String(scalars[first...last])
  }
}
