import ArgumentParser
import EtcdSnapshot
import Foundation
import SnapshotCore

#if canImport(Glibc)
  import Glibc
#endif

/// etcdctl's connection flags, each also read from its ETCDCTL_* variable.
struct ConnectionOptions: ParsableArguments {
  @Option(
    name: .customLong("endpoints"),
    help: ArgumentHelp("Comma-separated etcd endpoints, tried in order (env ETCDCTL_ENDPOINTS).", valueName: "urls"))
  var endpoints: String?

  @Option(
    name: .customLong("cacert"), help: ArgumentHelp("CA bundle that verifies etcd's server certificate (env ETCDCTL_CACERT).", valueName: "file"))
  var cacert: String?

  @Option(name: .customLong("cert"), help: ArgumentHelp("Client certificate (env ETCDCTL_CERT).", valueName: "file"))
  var cert: String?

  @Option(name: .customLong("key"), help: ArgumentHelp("Client private key (env ETCDCTL_KEY).", valueName: "file"))
  var key: String?

  @Flag(name: .customLong("insecure-skip-tls-verify"), help: "Do not verify etcd's server certificate (env ETCDCTL_INSECURE_SKIP_TLS_VERIFY).")
  var insecureSkipTLSVerify = false

  @Option(name: .customLong("user"), help: ArgumentHelp("User name, or name:password (env ETCDCTL_USER).", valueName: "name[:password]"))
  var user: String?

  @Option(
    name: .customLong("password"),
    help: ArgumentHelp("Password; prefer ETCDCTL_PASSWORD or --password-file so it is not in the process list.", valueName: "password"))
  var password: String?

  @Option(name: .customLong("password-file"), help: ArgumentHelp("Read the password from this file (first line).", valueName: "file"))
  var passwordFile: String?

  @Option(
    name: .customLong("dial-timeout"),
    help: ArgumentHelp("Time to connect to an endpoint, Go syntax (env ETCDCTL_DIAL_TIMEOUT; default 2s).", valueName: "duration"))
  var dialTimeout: String?

  @Option(
    name: .customLong("command-timeout"),
    help: ArgumentHelp("Time for short requests; the snapshot stream has none (env ETCDCTL_COMMAND_TIMEOUT; default 5s).", valueName: "duration"))
  var commandTimeout: String?

  /// Flags, then ETCDCTL_* variables, then etcdctl's defaults; with the values that could not
  /// be read at all (the configuration's own `problems()` reports the rest).
  func configuration(environment env: [String: String]) -> (ConnectionConfiguration, problems: [String]) {
    var c = ConnectionConfiguration()
    var problems: [String] = []
    if let e = endpoints ?? env["ETCDCTL_ENDPOINTS"] {
      c.endpoints = e.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }
    c.caCertPath = nonEmpty(cacert ?? env["ETCDCTL_CACERT"])
    c.certPath = nonEmpty(cert ?? env["ETCDCTL_CERT"])
    c.keyPath = nonEmpty(key ?? env["ETCDCTL_KEY"])
    if insecureSkipTLSVerify {
      c.insecureSkipTLSVerify = true
    } else if let v = env["ETCDCTL_INSECURE_SKIP_TLS_VERIFY"] {
      switch v.lowercased() {
      case "1", "true", "yes": c.insecureSkipTLSVerify = true
      case "", "0", "false", "no": break
      default: problems.append("ETCDCTL_INSECURE_SKIP_TLS_VERIFY=\(quoted(v)) is not true or false")
      }
    }
    if let u = user ?? env["ETCDCTL_USER"], !u.isEmpty {
      if let colon = u.firstIndex(of: ":") {
        c.user = String(u[..<colon])
        c.password = String(u[u.index(after: colon)...])
      } else {
        c.user = u
      }
    }
    if let p = password ?? env["ETCDCTL_PASSWORD"] {
      c.password = p
    }
    if let file = passwordFile ?? env["ETCD_SNAPSHOT_PASSWORD_FILE"] {
      do {
        let text = try String(contentsOfFile: file, encoding: .utf8)
        c.password = String(text.split(separator: "\n", omittingEmptySubsequences: false).first ?? "")
      } catch {
        problems.append("--password-file \(file): cannot read it (\(error.localizedDescription))")
      }
    }
    if c.user != nil && c.password == nil {
      if isatty(0) == 1, let typed = readPassword(prompt: "Password: ") {
        c.password = typed
      } else {
        problems.append("--user \(quoted(c.user ?? "")) needs a password: use --password-file, ETCDCTL_PASSWORD or --user name:password")
      }
    }
    if let text = dialTimeout ?? env["ETCDCTL_DIAL_TIMEOUT"] {
      if let d = GoDuration.parse(text) {
        c.dialTimeout = d
      } else {
        problems.append("--dial-timeout \(quoted(text)) is not a duration: write it like 2s, 500ms or 1m")
      }
    }
    if let text = commandTimeout ?? env["ETCDCTL_COMMAND_TIMEOUT"] {
      if let d = GoDuration.parse(text) {
        c.commandTimeout = d
      } else {
        problems.append("--command-timeout \(quoted(text)) is not a duration: write it like 5s, 500ms or 1m")
      }
    }
    return (c, problems)
  }
}

/// Where snapshots live: k3s's `--data-dir` and `--dir` (`--etcd-snapshot-dir`).
struct DirectoryOptions: ParsableArguments {
  @Option(
    name: .customLong("data-dir"),
    help: ArgumentHelp(
      "Tool data directory; snapshots go to DIR/snapshots (default /var/lib/etcd-snapshot for root, else $XDG_DATA_HOME/etcd-snapshot).",
      valueName: "dir"))
  var dataDir: String?

  @Option(
    name: [.customLong("dir"), .customLong("etcd-snapshot-dir")],
    help: ArgumentHelp("Snapshot directory; overrides DATA-DIR/snapshots.", valueName: "dir"))
  var dir: String?

  func configuration(environment env: [String: String]) -> SnapshotDirectoryConfiguration {
    Self.configuration(dataDir: dataDir, dir: dir, environment: env)
  }

  /// The snapshot directory for the given flags, with the default data dir for this user.
  ///
  /// `restore` and `cluster-reset` call it with no data dir: their `--data-dir` is etcd's.
  static func configuration(dataDir: String?, dir: String?, environment env: [String: String])
    -> SnapshotDirectoryConfiguration
  {
    SnapshotDirectoryConfiguration(
      dataDir: dataDir
        ?? SnapshotDirectoryConfiguration.defaultDataDir(isRoot: geteuid() == 0, environment: env, accountHome: accountHome()),
      directory: dir)
  }
}

/// `--wait-lock`, for the commands that change a snapshot directory.
struct LockOptions: ParsableArguments {
  @Option(
    name: .customLong("wait-lock"),
    help: ArgumentHelp(
      "Wait up to this long for another save, prune or delete on the directory (default: fail at once, exit 75).", valueName: "duration"))
  var waitLock: String?

  /// The duration given, or nil; a bad value is a configuration error.
  func duration() throws(SnapshotError) -> Duration? {
    guard let waitLock else { return nil }
    guard let d = GoDuration.parse(waitLock), d >= .zero else {
      throw SnapshotError(.invalidConfiguration, "--wait-lock \(quoted(waitLock)) is not a duration: write it like 30s or 5m")
    }
    return d
  }
}

/// Options every command has.
struct GlobalOptions: ParsableArguments {
  @Flag(name: .customLong("debug"), help: "Print the underlying error causes.")
  var debug = false
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
