import Foundation
import SnapshotCore
import Yams

/// One `key: value` of a config file, with where it was written.
public struct ConfigEntry: Sendable, Equatable {
  /// The key as written, without a trailing `+`.
  public var key: String
  /// A scalar is one value, a sequence its items, an empty value (`key:`) none.
  public var values: [String]
  /// `key+:` (k3s): the values go after those of earlier files instead of replacing them.
  public var appends: Bool
  /// The value was a YAML sequence.
  public var isSequence: Bool
  /// The file, and the key's line in it (from 1).
  public var path: String
  public var line: Int

  public init(key: String, values: [String], appends: Bool = false, isSequence: Bool = false, path: String, line: Int) {
    self.key = key
    self.values = values
    self.appends = appends
    self.isSequence = isSequence
    self.path = path
    self.line = line
  }
}

/// A config file as k3s reads `/etc/rancher/k3s/config.yaml`: a YAML mapping from flag names
/// (either spelling) to values.
public struct ConfigFile: Sendable, Equatable {
  public var path: String
  public var entries: [ConfigEntry]

  public init(path: String, entries: [ConfigEntry]) {
    self.path = path
    self.entries = entries
  }

  /// The entries of a file's text, and every problem found in it, each naming the file and
  /// the line.
  public static func parse(_ text: String, path: String) -> (ConfigFile, problems: [String]) {
    let root: Node?
    do {
      root = try Yams.compose(yaml: text)
    } catch {
      return (ConfigFile(path: path, entries: []), [describe(error, path: path)])
    }
    guard let root else { return (ConfigFile(path: path, entries: []), []) }
    guard case .mapping(let mapping) = root else {
      if root.null != nil { return (ConfigFile(path: path, entries: []), []) }
      return (
        ConfigFile(path: path, entries: []),
        ["\(path):\(line(of: root)): the file must be a mapping of flag names to values (for example `etcd-s3-bucket: backups`)"]
      )
    }
    var entries: [ConfigEntry] = []
    var problems: [String] = []
    for (keyNode, valueNode) in mapping {
      let at = "\(path):\(line(of: keyNode))"
      guard case .scalar(let keyScalar) = keyNode, !keyScalar.string.isEmpty else {
        problems.append("\(at): a key must be a flag name such as etcd-s3-bucket")
        continue
      }
      var key = keyScalar.string
      var appends = false
      if key.hasSuffix("+") {
        appends = true
        key.removeLast()
      }
      switch valueNode {
      case .scalar(let scalar):
        let values = valueNode.null != nil ? [] : [scalar.string]
        entries.append(ConfigEntry(key: key, values: values, appends: appends, path: path, line: line(of: keyNode)))
      case .sequence(let sequence):
        var values: [String] = []
        var bad = false
        for item in sequence {
          guard case .scalar(let s) = item else {
            bad = true
            break
          }
          values.append(s.string)
        }
        if bad {
          problems.append("\(at): \(key): a list item must be a plain value, not a list or a mapping")
        } else {
          entries.append(
            ConfigEntry(key: key, values: values, appends: appends, isSequence: true, path: path, line: line(of: keyNode)))
        }
      case .mapping:
        problems.append("\(at): \(key): the value must be a plain value or a list, not a mapping")
      case .alias:
        problems.append("\(at): \(key): YAML aliases are not supported; write the value out")
      }
    }
    return (ConfigFile(path: path, entries: entries), problems)
  }

  private static func line(of node: Node) -> Int { node.mark?.line ?? 1 }

  /// The parser's problem and where, without the text around it: a config file holds
  /// secrets (a k3s `token`, S3 keys), and a message must not quote them.
  private static func describe(_ error: any Error, path: String) -> String {
    let fix = "fix the YAML (a mapping of flag names to values)"
    switch error as? YamlError {
    case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _), .composer(_, let problem, let mark, _):
      return "\(path):\(mark.line): not valid YAML (\(problem), column \(mark.column)): \(fix)"
    case .duplicatedKeysInMapping(let duplicates, let context):
      let keys = duplicates.sorted().map(quoted).joined(separator: ", ")
      return "\(path):\(context.mark.line): a key is given twice in one file (\(keys)): keep one, or put the other in a later file"
    case .reader(let problem, _, _, _):
      return "\(path): not valid YAML (\(problem)): \(fix)"
    default:
      return "\(path): not valid YAML: \(fix)"
    }
  }
}

/// Which config files a run reads, and reading them.
public enum ConfigFiles {
  /// Read when neither `--config` nor `ETCD_SNAPSHOT_CONFIG_FILE` names a file.
  public static let defaultPath = "/etc/etcd-snapshot/config.yaml"
  /// The variable that names the config file.
  public static let variable = "ETCD_SNAPSHOT_CONFIG_FILE"

  /// The main file (from `--config`, else `ETCD_SNAPSHOT_CONFIG_FILE`, else the default) and
  /// whether it must exist: one that was named must, the default need not.
  public static func main(flag: String?, environment: [String: String]) -> (path: String, required: Bool) {
    if let flag, !flag.isEmpty { return (flag, true) }
    if let named = environment[variable], !named.isEmpty { return (named, true) }
    return (defaultPath, false)
  }

  /// The files in the order they apply: the main file, then `FILE.d/*.yaml` (and `*.yml`)
  /// in lexical order, as k3s reads `config.yaml.d`. Later files override earlier ones.
  public static func load(flag: String?, environment: [String: String]) -> (files: [ConfigFile], problems: [String]) {
    let (path, required) = main(flag: flag, environment: environment)
    var files: [ConfigFile] = []
    var problems: [String] = []
    let fm = FileManager.default
    var isDirectory: ObjCBool = false
    if fm.fileExists(atPath: path, isDirectory: &isDirectory) {
      if isDirectory.boolValue {
        problems.append("config file \(path) is a directory: name a YAML file with --config or \(variable)")
      } else {
        read(path, into: &files, problems: &problems)
      }
    } else if required {
      problems.append("config file \(path) does not exist: check --config or \(variable)")
    }
    let dropIns = path + ".d"
    if let names = try? fm.contentsOfDirectory(atPath: dropIns) {
      for name in names.sorted() where name.hasSuffix(".yaml") || name.hasSuffix(".yml") {
        read(dropIns + "/" + name, into: &files, problems: &problems)
      }
    }
    return (files, problems)
  }

  private static func read(_ path: String, into files: inout [ConfigFile], problems: inout [String]) {
    do {
      let text = try String(contentsOfFile: path, encoding: .utf8)
      let (file, found) = ConfigFile.parse(text, path: path)
      files.append(file)
      problems += found
    } catch {
      problems.append("config file \(path): cannot read it (\(error.localizedDescription))")
    }
  }
}
