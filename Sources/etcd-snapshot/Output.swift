import ArgumentParser
import Dispatch
import EtcdSnapshot
import Foundation
import Logging
import SnapshotCore

#if canImport(Glibc)
  import Glibc
#endif

/// Writes a line to standard error.
func note(_ text: String) {
  FileHandle.standardError.write(Data((text + "\n").utf8))
}

/// Runs a command body and turns its errors into a message and an exit status.
func runReporting(debug: Bool, _ body: () async throws -> Void) async throws {
  do {
    try await body()
  } catch let error as SnapshotError {
    clearProgressLine()
    note("etcd-snapshot: error: \(error.message)")
    if debug, let cause = error.cause { note("  cause: \(cause)") }
    throw ExitCode(error.code.exitStatus)
  }
}

/// Runs `body`, cancelling it on SIGINT or SIGTERM so that it removes what it half-wrote
/// before the process exits (with the error `body` then throws).
func cancellingOnSignals<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) async throws -> T {
  let signals = AsyncStream<Int32> { continuation in
    let sources = SignalSources([SIGINT, SIGTERM]) { continuation.yield($0) }
    continuation.onTermination = { _ in sources.cancel() }
  }
  return try await withThrowingTaskGroup(of: T?.self) { group in
    group.addTask { try await body() }
    group.addTask {
      for await _ in signals { return nil }
      return nil
    }
    while let outcome = try await group.next() {
      group.cancelAll()
      if let value = outcome { return value }
    }
    throw CancellationError()
  }
}

/// Dispatch signal sources that report signals instead of letting them kill the process.
///
/// Dispatch sources are thread-safe but not marked Sendable; this holder only resumes them
/// once and cancels them once.
final class SignalSources: @unchecked Sendable {
  private let sources: [any DispatchSourceSignal]

  init(_ numbers: [Int32], handler: @escaping @Sendable (Int32) -> Void) {
    sources = numbers.map { number in
      signal(number, SIG_IGN)
      let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
      source.setEventHandler { handler(number) }
      source.resume()
      return source
    }
  }

  func cancel() {
    for source in sources { source.cancel() }
  }
}

/// A logger that prints notices and warnings to standard error without decoration.
struct StderrLogHandler: LogHandler {
  var logLevel: Logger.Level = .notice
  var metadata: Logger.Metadata = [:]
  subscript(metadataKey key: String) -> Logger.Metadata.Value? {
    get { metadata[key] }
    set { metadata[key] = newValue }
  }
  func log(event: LogEvent) {
    let prefix = event.level >= .warning ? "warning: " : ""
    note("etcd-snapshot: \(prefix)\(event.message)")
  }
}

/// The logger commands hand to use cases.
func makeLogger(debug: Bool) -> Logger {
  var handler = StderrLogHandler()
  handler.logLevel = debug ? .debug : .notice
  return Logger(label: "etcd-snapshot") { _ in handler }
}

/// True when standard error is a terminal (progress is shown only then).
var stderrIsTerminal: Bool { isatty(2) == 1 }

/// Draws the progress line in place.
func drawProgress(_ p: SaveProgress) {
  let seconds = max(0.001, seconds(p.elapsed))
  let rate = Double(p.bytes) / seconds
  var line = "  \(humanBytes(p.bytes))"
  if let total = p.total, total > 0 {
    let pct = min(100, Int(Double(p.bytes) * 100 / Double(total)))
    line += " / \(humanBytes(total)) (\(pct)%)"
    if rate > 0, total > p.bytes {
      line += ", ETA \(Int((Double(total - p.bytes) / rate).rounded(.up)))s"
    }
  }
  line += ", \(humanBytes(Int64(rate)))/s"
  FileHandle.standardError.write(Data("\r\u{1B}[K\(line)".utf8))
}

/// Removes the progress line, if any was drawn.
func clearProgressLine() {
  if stderrIsTerminal { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
}

/// Duration in seconds as a Double.
func seconds(_ d: Duration) -> Double {
  Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
}

/// 1.5 MiB style sizes (powers of 1024).
func humanBytes(_ n: Int64) -> String {
  let units = ["B", "KiB", "MiB", "GiB", "TiB"]
  var value = Double(n)
  var unit = 0
  while value >= 1024 && unit < units.count - 1 {
    value /= 1024
    unit += 1
  }
  return unit == 0 ? "\(n) B" : String(format: "%.1f %@", value, units[unit])
}

/// The host name, used as the default node name as k3s does.
func hostName() -> String {
  var buffer = [CChar](repeating: 0, count: 256)
  guard gethostname(&buffer, buffer.count) == 0 else { return "localhost" }
  let name = String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
  return name.isEmpty ? "localhost" : name
}

/// Left-aligned columns separated by two spaces.
func table(_ rows: [[String]]) -> String {
  guard let first = rows.first else { return "" }
  var widths = Array(repeating: 0, count: first.count)
  for row in rows {
    for (i, cell) in row.enumerated() where i < widths.count { widths[i] = max(widths[i], cell.count) }
  }
  return rows.map { row in
    row.enumerated().map { i, cell in
      i == row.count - 1 ? cell : cell.padding(toLength: widths[i], withPad: " ", startingAt: 0)
    }.joined(separator: "  ")
  }.joined(separator: "\n")
}
