/// Go's `time.ParseDuration` syntax, which etcdctl and k3s flags use: `5s`, `1m30s`, `500ms`,
/// `1.5h`. A bare number other than `0` is refused, as in Go.
package enum GoDuration {
  /// Parses a duration; nil when the text is not one (or is negative).
  package static func parse(_ text: String) -> Duration? {
    var s = Substring(text)
    if s == "0" { return .zero }
    guard !s.isEmpty, !s.hasPrefix("-") else { return nil }
    if s.hasPrefix("+") { s = s.dropFirst() }
    var totalNanos: Double = 0
    var sawComponent = false
    while !s.isEmpty {
      let number = s.prefix(while: { $0.isASCII && ($0.isNumber || $0 == ".") })
      guard !number.isEmpty, let value = Double(number) else { return nil }
      s = s.dropFirst(number.count)
      let unit = s.prefix(while: { !($0.isASCII && ($0.isNumber || $0 == ".")) })
      s = s.dropFirst(unit.count)
      let scale: Double
      switch unit {
      case "ns": scale = 1
      case "us", "µs", "μs": scale = 1e3
      case "ms": scale = 1e6
      case "s": scale = 1e9
      case "m": scale = 60e9
      case "h": scale = 3600e9
      default: return nil
      }
      totalNanos += value * scale
      sawComponent = true
    }
    guard sawComponent, totalNanos.isFinite, totalNanos < 9.2e18 else { return nil }
    return .nanoseconds(Int64(totalNanos.rounded()))
  }

  /// Formats like Go does for whole and fractional seconds: `2s`, `1m30s`, `500ms`.
  package static func format(_ duration: Duration) -> String {
    let (seconds, atto) = duration.components
    if seconds == 0 && atto == 0 { return "0s" }
    if seconds < 1 { return "\(atto / 1_000_000_000_000_000)ms" }
    var out = ""
    let h = seconds / 3600
    let m = (seconds % 3600) / 60
    let sec = seconds % 60
    if h > 0 { out += "\(h)h" }
    if m > 0 || h > 0 { out += "\(m)m" }
    let ms = atto / 1_000_000_000_000_000
    out += ms > 0 ? "\(sec).\(String(format3(ms)))s" : "\(sec)s"
    return out
  }

  private static func format3(_ ms: Int64) -> String {
    var digits = String(ms)
    while digits.count < 3 { digits = "0" + digits }
    while digits.hasSuffix("0") { digits.removeLast() }
    return digits
  }
}
