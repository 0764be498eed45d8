import ArgumentParser
import EtcdSnapshot
import Foundation
import Logging
import SnapshotCore
import SnapshotSettings

/// What every command starts from: the config files and the environment merged below its
/// flags (`SettingsLayer`), the global switches resolved, and what was wrong with them.
struct Invocation: Sendable {
  let layer: SettingsLayer
  let debug: Bool
  /// Problems of the config files and of the global options; reported with the command's own.
  let problems: [String]

  /// Reads the config files (`--config`, `ETCD_SNAPSHOT_CONFIG_FILE` or the default, then
  /// `FILE.d/*.yaml`), opens the `--log` file, and prints one warning per unknown key.
  /// `reopeningLog: false` (the agent's reload on SIGHUP) keeps the log as it is.
  static func start(_ global: GlobalOptions, environment: [String: String], reopeningLog: Bool = true) -> Invocation {
    let (files, fileProblems) = ConfigFiles.load(flag: global.config, environment: environment)
    let layer = SettingsLayer(files: files, environment: environment)
    var reader = SettingsReader(layer)
    let debug = reader.bool(.debug, flag: global.debug ? true : nil)
    let alsoStderr = reader.bool(.alsoLogToStderr, flag: global.alsoLogToStderr ? true : nil)
    if let path = reader.string(.log, flag: global.log), reopeningLog {
      if let problem = Diagnostics.open(logFile: path, alsoStderr: alsoStderr) { reader.report(problem) }
    }
    for warning in layer.warnings { note("etcd-snapshot: warning: \(warning)") }
    if debug && !layer.paths.isEmpty { note("etcd-snapshot: config files read: \(layer.paths.joined(separator: ", "))") }
    return Invocation(layer: layer, debug: debug, problems: fileProblems + layer.problems + reader.problems)
  }

  /// A reader for the command's own settings.
  func settings() -> SettingsReader { SettingsReader(layer) }

  /// Throws every problem at once: those of the files and global options, those the reader
  /// collected, and `more` (a configuration's own `problems()`).
  func check(_ settings: SettingsReader, _ more: [String] = []) throws(SnapshotError) {
    let all = problems + settings.problems + more
    guard all.isEmpty else { throw SnapshotError.invalid(all) }
  }

  func logger() -> Logger { makeLogger(debug: debug) }
}

/// Runs a command body and turns its errors into a message and an exit status.
///
/// Every command runs under `cancellingOnSignals`: SIGINT or SIGTERM cancels it, it removes
/// what it started (a `.part`, a download, a half-built data dir) and exits 130.
func runReporting(_ global: GlobalOptions, _ body: @escaping @Sendable (Invocation) async throws -> Void) async throws {
  let invocation = Invocation.start(global, environment: ProcessInfo.processInfo.environment)
  do {
    try await cancellingOnSignals { try await body(invocation) }
  } catch let error as SnapshotError {
    clearProgressLine()
    note("etcd-snapshot: error: \(error.message)")
    if invocation.debug, let cause = error.cause { note("  cause: \(cause)") }
    throw ExitCode(error.code.exitStatus)
  }
}
