import Foundation
import SnapshotCore

/// Where a value came from; messages about the value start with it.
public enum SettingOrigin: Sendable, Equatable, CustomStringConvertible {
  case flag(String)
  case environment(String)
  case file(path: String, line: Int, key: String)
  case defaultValue

  /// `--s3-timeout`, `ETCD_SNAPSHOT_S3_TIMEOUT`, `/etc/etcd-snapshot/config.yaml:4: etcd-s3-timeout`.
  public var description: String {
    switch self {
    case .flag(let flag): flag
    case .environment(let variable): variable
    case .file(let path, let line, let key): "\(path):\(line): \(key)"
    case .defaultValue: "the default"
    }
  }
}

/// A setting's values and where they came from.
public struct SettingValue: Sendable, Equatable {
  public var values: [String]
  public var origin: SettingOrigin

  public init(values: [String], origin: SettingOrigin) {
    self.values = values
    self.origin = origin
  }
}

/// The config files and the environment, merged: for each setting the value that wins below
/// the flags (the environment over the files, a later file over an earlier one).
///
/// An empty variable counts as unset, as etcdctl reads its variables. A key no setting has
/// (a k3s server key such as `token` or `tls-san`) gets one warning naming file and key; a
/// value of the wrong shape is a problem naming file, line and key. All of them are collected,
/// so that one run reports everything.
public struct SettingsLayer: Sendable {
  /// Keys no setting has, one line each.
  public private(set) var warnings: [String] = []
  /// Values that cannot be used.
  public private(set) var problems: [String] = []
  /// The files read, in order.
  public let paths: [String]
  private var fromFiles: [String: SettingValue] = [:]
  private let environment: [String: String]

  /// An empty layer (no files) over the given environment.
  public init(environment: [String: String]) {
    self.init(files: [], environment: environment)
  }

  public init(files: [ConfigFile], environment: [String: String], known: [SettingKey] = SettingKey.known) {
    self.environment = environment
    paths = files.map(\.path)
    var bySpelling: [String: SettingKey] = [:]
    for key in known {
      for spelling in key.spellings { bySpelling[spelling] = key }
    }
    var warned: Set<String> = []
    for file in files {
      for entry in file.entries {
        guard let key = bySpelling[entry.key] else {
          if warned.insert("\(file.path)\u{0}\(entry.key)").inserted {
            warnings.append("\(file.path):\(entry.line): \(quoted(entry.key)) is not an etcd-snapshot setting; ignored")
          }
          continue
        }
        let origin = SettingOrigin.file(path: entry.path, line: entry.line, key: entry.key + (entry.appends ? "+" : ""))
        if (entry.appends || entry.isSequence) && !key.isList {
          let what = entry.appends ? "\(entry.key)+ appends to a list" : "\(entry.key) is given a list"
          problems.append("\(entry.path):\(entry.line): \(what), but --\(key.name) takes one value")
          continue
        }
        if entry.appends {
          let earlier = fromFiles[key.name]?.values ?? []
          fromFiles[key.name] = SettingValue(values: earlier + entry.values, origin: origin)
        } else if entry.values.isEmpty || entry.values == [""] {
          fromFiles[key.name] = nil
        } else {
          fromFiles[key.name] = SettingValue(values: entry.values, origin: origin)
        }
      }
    }
  }

  /// The value below the flags: the first non-empty variable of the key, else the files'.
  public func value(_ key: SettingKey) -> SettingValue? {
    for variable in key.variables {
      guard let text = environment[variable], !text.isEmpty else { continue }
      let values = key.isList ? text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty } : [text]
      return SettingValue(values: values, origin: .environment(variable))
    }
    return fromFiles[key.name]
  }

  /// A variable of the environment, empty counted as unset (for the few settings read from
  /// variables of other tools only, such as `AWS_PROFILE`).
  public func variable(_ name: String) -> String? {
    guard let text = environment[name], !text.isEmpty else { return nil }
    return text
  }

  /// The whole environment, for the parts that pass it on (proxy variables).
  public var environmentVariables: [String: String] { environment }
}

/// Reads settings for one command: a flag when given, else the layer's value, with every
/// value that cannot be used collected in `problems`.
public struct SettingsReader: Sendable {
  public let layer: SettingsLayer
  public private(set) var problems: [String] = []

  public init(_ layer: SettingsLayer) {
    self.layer = layer
  }

  /// A value and where it came from.
  public struct Sourced: Sendable, Equatable {
    public var value: String
    public var origin: SettingOrigin
  }

  /// The flag's value when given, else the layer's last value; nil when neither is set.
  public func sourced(_ key: SettingKey, flag: String?) -> Sourced? {
    if let flag { return Sourced(value: flag, origin: .flag("--\(key.name)")) }
    guard let v = layer.value(key), let last = v.values.last else { return nil }
    return Sourced(value: last, origin: v.origin)
  }

  /// The value as a string; an empty one counts as unset.
  public func string(_ key: SettingKey, flag: String?) -> String? {
    guard let s = sourced(key, flag: flag), !s.value.isEmpty else { return nil }
    return s.value
  }

  /// Repeated flags when given, else the layer's values.
  public func list(_ key: SettingKey, flag: [String]) -> [String] {
    if !flag.isEmpty { return flag }
    return layer.value(key)?.values ?? []
  }

  /// A switch: as the flag says when given (`--x` or `--no-x`), else as the layer says
  /// (true/false, 1/0, yes/no); off when unset.
  public mutating func bool(_ key: SettingKey, flag: Bool?) -> Bool {
    if let flag { return flag }
    guard let s = sourced(key, flag: nil) else { return false }
    if let b = Self.parseBool(s.value) { return b }
    report(s, "is not true or false")
    return false
  }

  /// A whole number at least `minimum`.
  public mutating func int(_ key: SettingKey, flag: Int?, minimum: Int = .min) -> Int? {
    let s = flag.map { Sourced(value: String($0), origin: .flag("--\(key.name)")) } ?? sourced(key, flag: nil)
    guard let s else { return nil }
    guard let n = Int(s.value.trimmingCharacters(in: .whitespaces)), n >= minimum else {
      report(s, minimum == .min ? "is not a whole number" : "is not a whole number of at least \(minimum)")
      return nil
    }
    return n
  }

  /// A duration in Go's syntax (`5m`, `30s`, `1h30m`); `example` says how to write one.
  public mutating func duration(_ key: SettingKey, flag: String?, positive: Bool, example: String) -> Duration? {
    guard let s = sourced(key, flag: flag) else { return nil }
    guard let d = GoDuration.parse(s.value), positive ? d > .zero : d >= .zero else {
      report(s, "is not \(positive ? "a positive" : "a") duration: write it like \(example)")
      return nil
    }
    return d
  }

  /// Records that a value cannot be used: `ORIGIN "VALUE" WHAT`.
  public mutating func report(_ s: Sourced, _ what: String) {
    problems.append("\(s.origin) \(quoted(s.value)) \(what)")
  }

  /// Records a problem in words of the caller's own.
  public mutating func report(_ problem: String) {
    problems.append(problem)
  }

  /// Go's `strconv.ParseBool` spellings, plus yes/no and on/off.
  public static func parseBool(_ text: String) -> Bool? {
    switch text.trimmingCharacters(in: .whitespaces).lowercased() {
    case "1", "t", "true", "yes", "y", "on": true
    case "0", "f", "false", "no", "n", "off": false
    default: nil
    }
  }
}
