import ArgumentParser
import EtcdSnapshot
import Foundation
import Logging
import SnapshotCore
import UnixSignals

#if canImport(Glibc)
  import Glibc
#endif

/// Writes a line to standard error, or to the `--log` file (and with `--alsologtostderr`
/// to both).
func note(_ text: String) {
  Diagnostics.write(text)
}

/// How long a stopped command may take to clean up before the process exits anyway.
let cleanupBound: Duration = .seconds(30)

/// Runs `body`, cancelling it on SIGINT or SIGTERM (swift-service-lifecycle's `UnixSignals`)
/// so that it removes what it half-wrote before the process exits with the error `body` then
/// throws. A body that does not end within `cleanupBound` after the signal is not waited for.
func cancellingOnSignals<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) async throws -> T {
  // Ignored first, so that a signal arriving before the handler is set does not kill the
  // process half-way (Dispatch's handler then takes over).
  for number in [SIGINT, SIGTERM] { signal(number, SIG_IGN) }
  let signals = await UnixSignalsSequence(trapping: .sigint, .sigterm)
  return try await withThrowingTaskGroup(of: T?.self) { group in
    group.addTask { try await body() }
    group.addTask {
      for await _ in signals {
        return nil
      }
      return nil
    }
    while let outcome = try await group.next() {
      if let value = outcome {
        group.cancelAll()
        return value
      }
      // A signal: stop the body, and give it a bounded time to clean up.
      group.cancelAll()
      group.addTask {
        try? await Task.sleep(for: cleanupBound)
        guard !Task.isCancelled else { return nil }
        note("etcd-snapshot: stopped; cleaning up took longer than \(cleanupBound), exiting anyway")
        exit(130)
      }
    }
    throw CancellationError()
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
