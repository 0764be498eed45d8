import PropertyBased
import SnapshotCore
import Testing

@Suite("GoDuration: Go's time.ParseDuration syntax and Duration.String output")
struct GoDurationTests {
  // Expected values are Go's own: the examples of `time.ParseDuration`'s documentation and
  // what `time.Duration.String()` prints.

  @Test(
    "parses the examples of Go's documentation",
    arguments: [
      ("300ms", Duration.milliseconds(300)),
      ("1.5h", Duration.seconds(5400)),
      ("2h45m", Duration.seconds(9900)),
      ("1m30s", Duration.seconds(90)),
      ("0", Duration.zero),
      ("1h15m30.918273645s", Duration.nanoseconds(4_530_918_273_645)),
    ])
  func goExamples(text: String, expected: Duration) {
    #expect(GoDuration.parse(text) == expected)
  }

  @Test(
    "parses every unit Go knows",
    arguments: [
      ("7ns", Duration.nanoseconds(7)),
      ("7us", Duration.microseconds(7)),
      ("7µs", Duration.microseconds(7)),  // U+00B5 MICRO SIGN
      ("7μs", Duration.microseconds(7)),  // U+03BC GREEK SMALL LETTER MU
      ("7ms", Duration.milliseconds(7)),
      ("7s", Duration.seconds(7)),
      ("7m", Duration.seconds(420)),
      ("7h", Duration.seconds(25200)),
      ("0s", Duration.zero),
      ("+5s", Duration.seconds(5)),
      (".5s", Duration.milliseconds(500)),
      ("1h1h", Duration.seconds(7200)),
      ("30s1m", Duration.seconds(90)),
      ("2.5m", Duration.seconds(150)),
    ])
  func units(text: String, expected: Duration) {
    #expect(GoDuration.parse(text) == expected)
  }

  @Test(
    "refuses what Go refuses (and negative durations)",
    arguments: [
      "", "5", "-1s", "1x", "s", "ms", "+", "00", "1.2.3s", ".s", " 1s", "1s ", "1 s", "1e3s", "h1",
      "1sec", "1S", "9999999999h", "1s-", "nan", "infh",
    ])
  func rejections(text: String) {
    #expect(GoDuration.parse(text) == nil)
  }

  @Test(
    "formats like Go's Duration.String",
    arguments: [
      (Duration.zero, "0s"),
      (Duration.milliseconds(1), "1ms"),
      (Duration.milliseconds(500), "500ms"),
      (Duration.seconds(1), "1s"),
      (Duration.milliseconds(1500), "1.5s"),
      (Duration.milliseconds(1250), "1.25s"),
      (Duration.milliseconds(2001), "2.001s"),
      (Duration.seconds(90), "1m30s"),
      (Duration.seconds(120), "2m0s"),
      (Duration.milliseconds(60_001), "1m0.001s"),
      (Duration.seconds(3600), "1h0m0s"),
      (Duration.seconds(9900), "2h45m0s"),
      (Duration.seconds(3600 + 1), "1h0m1s"),
      (Duration.seconds(100 * 3600 + 59 * 60 + 59), "100h59m59s"),
    ])
  func format(duration: Duration, expected: String) {
    #expect(GoDuration.format(duration) == expected)
  }

  @Test("parse(format(d)) == d for millisecond durations from 1 ms to 1000 hours")
  func roundTripMilliseconds() async {
    await propertyCheck(count: 500, input: Gen.int64(in: 1...(1000 * 3600 * 1000))) { ms in
      let d = Duration.milliseconds(ms)
      #expect(GoDuration.parse(GoDuration.format(d)) == d, "format gave \(GoDuration.format(d))")
    }
  }

  @Test("parse(format(d)) == d for whole seconds, and for sub-second milliseconds")
  func roundTripSecondsAndSubSecond() async {
    await propertyCheck(count: 300, input: Gen.int64(in: 0...(48 * 3600))) { s in
      let d = Duration.seconds(s)
      #expect(GoDuration.parse(GoDuration.format(d)) == d)
    }
    await propertyCheck(count: 300, input: Gen.int64(in: 1...999)) { ms in
      let d = Duration.milliseconds(ms)
      #expect(GoDuration.format(d) == "\(ms)ms")
      #expect(GoDuration.parse(GoDuration.format(d)) == d)
    }
  }

  @Test("a Go string built from h, m, s and ms components is their sum, in any order")
  func composedComponents() async {
    let parts = zip(
      Gen.int64(in: 0...500), Gen.int64(in: 0...59), Gen.int64(in: 0...59), Gen.int64(in: 0...999),
      Gen.bool)
    await propertyCheck(count: 300, input: parts) { h, m, s, ms, reversed in
      var pieces = ["\(h)h", "\(m)m", "\(s)s", "\(ms)ms"]
      if reversed { pieces.reverse() }
      let text = pieces.joined()
      let expected = Duration.seconds(h * 3600 + m * 60 + s) + .milliseconds(ms)
      #expect(GoDuration.parse(text) == expected, "\(text)")
    }
  }
}
