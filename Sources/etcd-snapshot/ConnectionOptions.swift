import ArgumentParser
import Foundation
import SnapshotCore
import SnapshotSettings

#if canImport(Glibc)
  import Glibc
#endif

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
