import Foundation
import Logging
import Synchronization
import SystemFiles

#if canImport(Glibc)
  import Glibc
#endif

/// Writes a line to standard error, or to the `--log` file (and with `--alsologtostderr`
/// to both).
func note(_ text: String) {
  Diagnostics.write(text)
}

/// A logger that prints notices and warnings to standard error without decoration.
struct StderrLogHandler: LogHandler {
  var logLevel: Logger.Level = .notice
  var metadata: Logger.Metadata = [:]
  subscript(metadataKey key: String) -> Logger.Metadata.Value? {
    get { metadata[key] }
    set { metadata[key] = newValue }
  }
  /// The agent's lines carry the time and every level's name; a command's read as before.
  var isService = false
  func log(event: LogEvent) {
    if isService {
      let stamp = ISO8601DateFormatter().string(from: Date())
      note("\(stamp) etcd-snapshot agent: \(event.level): \(event.message)")
      return
    }
    let prefix = event.level >= .warning ? "warning: " : ""
    note("etcd-snapshot: \(prefix)\(event.message)")
  }
}

/// The logger of `agent`: info and above (debug with --debug), each line with its time.
func makeServiceLogger(debug: Bool) -> Logger {
  var handler = StderrLogHandler()
  handler.logLevel = debug ? .debug : .info
  handler.isService = true
  return Logger(label: "etcd-snapshot-agent") { _ in handler }
}

/// The logger commands hand to use cases.
func makeLogger(debug: Bool) -> Logger {
  var handler = StderrLogHandler()
  handler.logLevel = debug ? .debug : .notice
  return Logger(label: "etcd-snapshot") { _ in handler }
}

/// Where messages go: standard error, or the `--log` file (k3s's `--log`), or both.
enum Diagnostics {
  private static let sink = Mutex<(file: Int32?, alsoStderr: Bool)>((nil, false))

  /// Sends messages to `logFile` from now on (created 0600, appended to); a problem in words
  /// when it cannot be opened.
  static func open(logFile: String, alsoStderr: Bool) -> String? {
    let fd = Glibc.open(logFile, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
    guard fd >= 0 else {
      return "--log \(logFile): cannot open it for appending (\(SystemFile.errnoText(errno))): check the directory exists and is writable"
    }
    sink.withLock { $0 = (fd, alsoStderr) }
    return nil
  }

  static func write(_ text: String) {
    let (file, alsoStderr) = sink.withLock { $0 }
    if let file {
      let stamp = ISO8601DateFormatter().string(from: Date())
      let line = text.split(separator: "\n", omittingEmptySubsequences: false).map { "\(stamp) \($0)" }.joined(separator: "\n") + "\n"
      line.utf8CString.withUnsafeBufferPointer { buffer in
        _ = Glibc.write(file, buffer.baseAddress, buffer.count - 1)
      }
    }
    if file == nil || alsoStderr {
      FileHandle.standardError.write(Data((text + "\n").utf8))
    }
  }
}
