/// A k3s-style snapshot name: `<prefix>-<node>-<unix-seconds>`.
///
/// k3s names on-demand snapshots `on-demand-<node>-<ts>` and scheduled ones
/// `etcd-snapshot-<node>-<ts>`. Because prefixes and node names may both contain `-`, a file
/// name alone does not say where the prefix ends; `group` (`<prefix>-<node>`) does not need to
/// know, and is what retention counts by. The split is exact when the metadata record is there
/// and a best guess (known prefixes first, else the first `-`) when it is not.
package struct SnapshotName: Hashable, Sendable, Codable {
  /// The name prefix (`--name`), such as `on-demand`.
  package var prefix: String
  /// The node that took the snapshot (`--node-name`, the host name by default).
  package var node: String
  /// Creation time, Unix seconds.
  package var timestamp: Int64

  /// The prefixes k3s itself uses, tried first when splitting a name without metadata.
  package static let knownPrefixes = ["on-demand", "etcd-snapshot"]

  /// The suffixes of compressed snapshots: k3s's `.zip`, and `.zst` and `.gz`.
  package static let compressedSuffixes = SnapshotCompression.allCases.map(\.fileSuffix).filter { !$0.isEmpty }

  /// `fileName` without the suffixes of how it is stored: `.age` (encrypted), then the
  /// compression's (`x.zst.age` -> `x`).
  package static func strippingStoredSuffixes(_ fileName: Substring) -> Substring {
    var name = fileName
    if name.hasSuffix(EncryptionConfiguration.fileSuffix) && name.count > EncryptionConfiguration.fileSuffix.count {
      name = name.dropLast(EncryptionConfiguration.fileSuffix.count)
    }
    for suffix in compressedSuffixes where name.hasSuffix(suffix) && name.count > suffix.count {
      return name.dropLast(suffix.count)
    }
    return name
  }

  /// Makes a name from its parts; validate them with `validateComponent` first.
  package init(prefix: String, node: String, timestamp: Int64) {
    self.prefix = prefix
    self.node = node
    self.timestamp = timestamp
  }

  /// The file (and object) name.
  package var fileName: String { "\(prefix)-\(node)-\(timestamp)" }

  /// The retention group: snapshots with the same prefix and node.
  package var group: String { "\(prefix)-\(node)" }

  /// Parses a file name of the form `<group>-<digits>`, optionally followed by the suffix of
  /// a compressed snapshot (`.zip` as k3s writes, `.zst`, `.gz`) and then `.age` for an
  /// encrypted one; nil for anything else. The
  /// suffix is not part of the result: a listed entry keeps its file name.
  ///
  /// `preferredPrefixes` are tried before `knownPrefixes` when splitting the group.
  package static func parse(_ fileName: String, preferredPrefixes: [String] = []) -> SnapshotName? {
    let fileName = strippingStoredSuffixes(Substring(fileName))
    guard let dash = fileName.lastIndex(of: "-") else { return nil }
    let digits = fileName[fileName.index(after: dash)...]
    guard !digits.isEmpty, digits.count <= 18, digits.allSatisfy({ $0.isASCII && $0.isNumber }),
      let timestamp = Int64(digits)
    else { return nil }
    let group = String(fileName[..<dash])
    guard !group.isEmpty else { return nil }
    for prefix in preferredPrefixes + knownPrefixes where group.hasPrefix(prefix + "-") {
      let node = String(group.dropFirst(prefix.count + 1))
      if !node.isEmpty { return SnapshotName(prefix: prefix, node: node, timestamp: timestamp) }
    }
    guard let firstDash = group.firstIndex(of: "-") else { return nil }
    let prefix = String(group[..<firstDash])
    let node = String(group[group.index(after: firstDash)...])
    guard !prefix.isEmpty, !node.isEmpty else { return nil }
    return SnapshotName(prefix: prefix, node: node, timestamp: timestamp)
  }

  /// Checks a prefix or node name: it becomes part of a file name and an S3 key.
  ///
  /// Returns the problem in words, or nil when the value is fine.
  package static func problem(with value: String, flag: String) -> String? {
    if value.isEmpty { return "\(flag) is empty: give a name such as `on-demand`" }
    if value.contains("/") || value.contains("\\") || value.contains("..") || value.hasPrefix(".") {
      return "\(flag) \(quoted(value)) must not contain `/`, `\\` or `..`, nor start with `.`: it becomes part of a file name"
    }
    if value.unicodeScalars.contains(where: { $0.properties.isWhitespace || $0.value < 0x20 || $0.value == 0x7F }) {
      return "\(flag) \(quoted(value)) must not contain spaces or control characters"
    }
    if value.utf8.count > 200 { return "\(flag) is longer than 200 bytes" }
    return nil
  }
}

/// A value in backticks for messages, with control characters escaped.
package func quoted(_ value: String) -> String {
  "`" + escapedForTerminal(value) + "`"
}

/// `value` safe to print on a terminal: control characters (C0, DEL, C1) and invisible format
/// characters (bidirectional overrides, zero-width marks) become `\u{…}`, and so does a
/// backslash that would otherwise read as the start of one. File names and S3 keys are
/// chosen by whoever wrote them, and must not move the cursor or recolour a listing.
package func escapedForTerminal(_ value: String) -> String {
  var out = ""
  for scalar in value.unicodeScalars {
    let category = scalar.properties.generalCategory
    if category == .control || category == .format || category == .lineSeparator || category == .paragraphSeparator
      || scalar == "\\"
    {
      out += "\\u{\(String(scalar.value, radix: 16))}"
    } else {
      out.unicodeScalars.append(scalar)
    }
  }
  return out
}
