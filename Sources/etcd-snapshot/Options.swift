import ArgumentParser
import EtcdSnapshot
import Foundation
import SnapshotCore
import SnapshotSettings

#if canImport(Glibc)
  import Glibc
#endif

/// Help text with the variables that set the flag: `TEXT (env ETCD_SNAPSHOT_X, OTHER_X)`.
func help(_ text: String, _ key: SettingKey, valueName: String? = nil) -> ArgumentHelp {
  ArgumentHelp("\(text) (env \(([key.variable] + key.foreignVariables).joined(separator: ", ")))", valueName: valueName)
}

/// etcdctl's connection flags, each also read from its ETCDCTL_* variable.
struct ConnectionOptions: ParsableArguments {
  @Option(name: .customLong("endpoints"), help: help("Comma-separated etcd endpoints, tried in order.", .endpoints, valueName: "urls"))
  var endpoints: String?

  @Option(name: .customLong("cacert"), help: help("CA bundle that verifies etcd's server certificate.", .cacert, valueName: "file"))
  var cacert: String?

  @Option(name: .customLong("cert"), help: help("Client certificate.", .cert, valueName: "file"))
  var cert: String?

  @Option(name: .customLong("key"), help: help("Client private key.", .key, valueName: "file"))
  var key: String?

  @Flag(name: .customLong("insecure-skip-tls-verify"), help: help("Do not verify etcd's server certificate.", .insecureSkipTLSVerify))
  var insecureSkipTLSVerify = false

  @Option(name: .customLong("user"), help: help("User name, or name:password.", .user, valueName: "name[:password]"))
  var user: String?

  @Option(
    name: .customLong("password"),
    help: help("Password; prefer a variable or --password-file so it is not in the process list.", .password, valueName: "password"))
  var password: String?

  @Option(name: .customLong("password-file"), help: help("Read the password from this file (first line).", .passwordFile, valueName: "file"))
  var passwordFile: String?

  @Option(
    name: .customLong("dial-timeout"), help: help("Time to connect to an endpoint, Go syntax (default 2s).", .dialTimeout, valueName: "duration"))
  var dialTimeout: String?

  @Option(
    name: .customLong("command-timeout"),
    help: help("Time for short requests; the snapshot stream has none (default 5s).", .commandTimeout, valueName: "duration"))
  var commandTimeout: String?

  /// Flags, then variables (ETCD_SNAPSHOT_*, ETCDCTL_*), then config files, then etcdctl's
  /// defaults; what cannot be read goes to the reader's problems (the configuration's own
  /// `problems()` reports the rest).
  func configuration(_ settings: inout SettingsReader) -> ConnectionConfiguration {
    var c = ConnectionConfiguration()
    // One comma-separated flag, or a list in a config file.
    let given = settings.list(.endpoints, flag: endpoints.map { [$0] } ?? [])
    if !given.isEmpty {
      c.endpoints = given.flatMap { $0.split(separator: ",") }.map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }
    c.caCertPath = settings.string(.cacert, flag: cacert)
    c.certPath = settings.string(.cert, flag: cert)
    c.keyPath = settings.string(.key, flag: key)
    c.insecureSkipTLSVerify = settings.bool(.insecureSkipTLSVerify, flag: insecureSkipTLSVerify ? true : nil)
    if let u = settings.string(.user, flag: user) {
      if let colon = u.firstIndex(of: ":") {
        c.user = String(u[..<colon])
        c.password = String(u[u.index(after: colon)...])
      } else {
        c.user = u
      }
    }
    if let p = settings.sourced(.password, flag: password) {
      c.password = p.value
    }
    if let file = settings.string(.passwordFile, flag: passwordFile) {
      do {
        let text = try String(contentsOfFile: file, encoding: .utf8)
        c.password = String(text.split(separator: "\n", omittingEmptySubsequences: false).first ?? "")
      } catch {
        settings.report("--password-file \(file): cannot read it (\(error.localizedDescription))")
      }
    }
    if c.user != nil && c.password == nil {
      if isatty(0) == 1, let typed = readPassword(prompt: "Password: ") {
        c.password = typed
      } else {
        settings.report("--user \(quoted(c.user ?? "")) needs a password: use --password-file, ETCDCTL_PASSWORD or --user name:password")
      }
    }
    if let d = settings.duration(.dialTimeout, flag: dialTimeout, positive: false, example: "2s, 500ms or 1m") { c.dialTimeout = d }
    if let d = settings.duration(.commandTimeout, flag: commandTimeout, positive: false, example: "5s, 500ms or 1m") { c.commandTimeout = d }
    return c
  }
}

/// Where snapshots live: k3s's `--data-dir` (`-d`) and `--dir` (`--etcd-snapshot-dir`).
struct DirectoryOptions: ParsableArguments {
  @Option(
    name: [.customShort("d"), .customLong("data-dir")],
    help: help(
      "Tool data directory; snapshots go to DIR/snapshots (default /var/lib/etcd-snapshot for root, else $XDG_DATA_HOME/etcd-snapshot).",
      .dataDir, valueName: "dir"))
  var dataDir: String?

  @Option(
    name: [.customLong("dir"), .customLong("etcd-snapshot-dir")],
    help: help("Snapshot directory; overrides DATA-DIR/snapshots.", .dir, valueName: "dir"))
  var dir: String?

  func configuration(_ settings: inout SettingsReader) -> SnapshotDirectoryConfiguration {
    Self.configuration(dataDir: settings.string(.dataDir, flag: dataDir), dir: settings.string(.dir, flag: dir), settings: settings)
  }

  /// The snapshot directory for the given flags, with the default data dir for this user.
  ///
  /// `restore` and `cluster-reset` call it with no data dir: their `--data-dir` is etcd's.
  static func configuration(dataDir: String?, dir: String?, settings: SettingsReader) -> SnapshotDirectoryConfiguration {
    SnapshotDirectoryConfiguration(
      dataDir: dataDir
        ?? SnapshotDirectoryConfiguration.defaultDataDir(
          isRoot: geteuid() == 0, environment: settings.layer.environmentVariables, accountHome: accountHome()),
      directory: dir)
  }
}

/// k3s's `--node-name` (env K3S_NODE_NAME too).
struct NodeNameOption: ParsableArguments {
  @Option(
    name: .customLong("node-name"),
    help: help("Node name, as k3s's --node-name; in save it goes into the snapshot name (default: the host name).", .nodeName, valueName: "node"))
  var nodeName: String?

  func value(_ settings: SettingsReader) -> String? { settings.sourced(.nodeName, flag: nodeName)?.value }
}

/// `--wait-lock`, for the commands that change a snapshot directory.
struct LockOptions: ParsableArguments {
  @Option(
    name: .customLong("wait-lock"),
    help: help(
      "Wait up to this long for another save, prune or delete on the directory (default: fail at once, exit 75).", .waitLock,
      valueName: "duration"))
  var waitLock: String?

  /// The duration given, or nil; a bad value goes to the reader's problems.
  func duration(_ settings: inout SettingsReader) -> Duration? {
    settings.duration(.waitLock, flag: waitLock, positive: false, example: "30s or 5m")
  }
}

/// Options every command has: k3s's `--debug`, `--config`, `--log`, `--alsologtostderr`.
struct GlobalOptions: ParsableArguments {
  @Flag(name: .customLong("debug"), help: help("Print the underlying error causes and debug messages.", .debug))
  var debug = false

  @Option(
    name: [.customShort("c"), .customLong("config")],
    help: ArgumentHelp(
      "Config file: flag names as keys, either spelling; a k3s config.yaml works (env ETCD_SNAPSHOT_CONFIG_FILE; default /etc/etcd-snapshot/config.yaml, then FILE.d/*.yaml).",
      valueName: "file"))
  var config: String?

  @Option(
    name: [.customShort("l"), .customLong("log")],
    help: help("Write messages to this file (appended, 0600) instead of stderr.", .log, valueName: "file"))
  var log: String?

  @Flag(name: .customLong("alsologtostderr"), help: help("With --log: write messages to stderr too.", .alsoLogToStderr))
  var alsoLogToStderr = false
}

/// The home directory of this account in the password database, if it has one.
func accountHome() -> String? {
  guard let entry = getpwuid(geteuid()), let dir = entry.pointee.pw_dir else { return nil }
  let home = String(cString: dir)
  return home.isEmpty ? nil : home
}

func nonEmpty(_ s: String?) -> String? {
  guard let s, !s.isEmpty else { return nil }
  return s
}

/// Reads a line from the terminal without echo.
func readPassword(prompt: String) -> String? {
  var old = termios()
  guard tcgetattr(0, &old) == 0 else { return nil }
  var silent = old
  silent.c_lflag &= ~tcflag_t(ECHO)
  // Echo goes off before the prompt appears, so nothing typed after the prompt is shown.
  tcsetattr(0, TCSANOW, &silent)
  FileHandle.standardError.write(Data(prompt.utf8))
  defer {
    tcsetattr(0, TCSANOW, &old)
    FileHandle.standardError.write(Data("\n".utf8))
  }
  return Swift.readLine(strippingNewline: true)
}
