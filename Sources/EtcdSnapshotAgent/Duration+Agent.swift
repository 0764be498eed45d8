import Foundation

extension Duration {
  /// The whole duration in nanoseconds (saturating).
  var nanoseconds: Int64 {
    let (seconds, atto) = components
    let (whole, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
    return overflow ? .max : whole + atto / 1_000_000_000
  }

  /// The duration in seconds, as a `TimeInterval`.
  var seconds: TimeInterval {
    let (s, atto) = components
    return TimeInterval(s) + TimeInterval(atto) / 1e18
  }
}
