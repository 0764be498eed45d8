import EtcdSnapshot
import Foundation

#if canImport(Glibc)
  import Glibc
#endif

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
