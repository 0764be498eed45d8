import Foundation

/// Why a cron schedule was refused, in words for the person who wrote it.
///
/// `field` names the cron field at fault (`minute`, `hour`, `day-of-month`, `month`,
/// `day-of-week`) when there is one; `message` is the whole sentence, quoting the schedule.
package struct CronParseError: Error, Sendable, Equatable, CustomStringConvertible {
  /// The schedule as it was given.
  package let spec: String
  /// The field at fault, when the problem is inside one field.
  package let field: String?
  /// What is wrong and, where it helps, how to write it instead.
  package let message: String

  package init(spec: String, field: String? = nil, message: String) {
    self.spec = spec
    self.field = field
    self.message = message
  }

  package var description: String { message }
}

/// A cron schedule with the meaning k3s gives `--etcd-snapshot-schedule-cron`: the standard
/// parser of robfig/cron v3 (`cron.ParseStandard`).
///
/// It accepts five fields (minute, hour, day of month, month, day of week) with `*`, `?`,
/// ranges, steps, lists and month and weekday names; the descriptors `@yearly`, `@annually`,
/// `@monthly`, `@weekly`, `@daily`, `@midnight`, `@hourly` and `@every <Go duration>`; and a
/// leading `CRON_TZ=Zone ` or `TZ=Zone ` that sets the time zone. Without one, times are
/// computed in the default zone given to the initialiser, as robfig computes them in the zone of
/// the time it is handed (the local zone for k3s).
///
/// `next(after:)` walks the calendar the way robfig's `SpecSchedule.Next` does, Go's rules for
/// wall-clock times that a daylight-saving change skips or repeats included, so runs around such
/// a change fall where k3s puts them: a time skipped by spring-forward does not run that day, and
/// a time repeated by fall-back runs twice.
package struct CronSchedule: Sendable, Equatable, CustomStringConvertible {
  /// The schedule k3s uses when `--etcd-snapshot-schedule-cron` is not set.
  package static let k3sDefault = "0 */12 * * *"

  /// Set in a field's bits when the field was written as `*` or `?` (alone or with step 1);
  /// it decides how day of month and day of week combine.
  package static let starBit: UInt64 = 1 << 63

  /// The bit sets of a field schedule: bit `n` is set when value `n` is allowed.
  package struct Fields: Sendable, Equatable, Hashable {
    /// Seconds are not written in the standard syntax: always `1` (second 0 only).
    package var second: UInt64
    package var minute: UInt64
    package var hour: UInt64
    package var dayOfMonth: UInt64
    package var month: UInt64
    package var dayOfWeek: UInt64

    package init(second: UInt64 = 1, minute: UInt64, hour: UInt64, dayOfMonth: UInt64, month: UInt64, dayOfWeek: UInt64) {
      self.second = second
      self.minute = minute
      self.hour = hour
      self.dayOfMonth = dayOfMonth
      self.month = month
      self.dayOfWeek = dayOfWeek
    }
  }

  /// What the schedule is made of.
  enum Kind: Sendable, Equatable {
    /// A five-field spec or a descriptor other than `@every`.
    case fields(Fields)
    /// `@every`: a fixed delay in whole seconds, at least one.
    case every(seconds: Int64)
  }

  /// The schedule as it was written.
  package let spec: String
  /// The zone the schedule is evaluated in: its `CRON_TZ=`/`TZ=` zone, else the default zone.
  package let timeZone: TimeZone
  /// Things that are valid but probably not what was meant, each saying what the schedule does
  /// and how to write what was likely intended.
  package let warnings: [String]
  let kind: Kind

  /// Parses `spec` like robfig/cron v3's `ParseStandard`; `defaultTimeZone` applies when the spec
  /// has no `CRON_TZ=` or `TZ=` prefix.
  package init(parsing spec: String, defaultTimeZone: TimeZone = .current) throws(CronParseError) {
    let parsed = try CronSpecParser(spec: spec, defaultTimeZone: defaultTimeZone).parse()
    self.spec = spec
    self.timeZone = parsed.zone
    self.kind = parsed.kind
    self.warnings = parsed.warnings
  }

  package var description: String { spec }

  /// The bit sets of a field schedule (nil for `@every`), as robfig's `SpecSchedule` holds them.
  package var fields: Fields? {
    if case .fields(let fields) = kind { return fields }
    return nil
  }

  /// For `@every`, the delay between runs after robfig's rounding (whole seconds, at least one);
  /// nil for field schedules.
  package var interval: Duration? {
    if case .every(let seconds) = kind { return .seconds(seconds) }
    return nil
  }

  /// The first run strictly after `date`, on a whole second; nil when none falls within about
  /// five years (the search robfig does before it gives up).
  package func next(after date: Date) -> Date? {
    let since1970 = date.timeIntervalSince1970
    guard since1970.isFinite, abs(since1970) < 1e13 else { return nil }
    let wholeSecond = since1970.rounded(.down)
    switch kind {
    case .every(let seconds):
      // robfig drops the fraction of a second of the time, then adds the delay.
      return Date(timeIntervalSince1970: wholeSecond + Double(seconds))
    case .fields(let fields):
      let walker = CronWalker(fields: fields, clock: ZoneClock(zone: timeZone))
      return walker.next(after: Int64(wholeSecond)).map { Date(timeIntervalSince1970: Double($0)) }
    }
  }

  /// The next `count` runs after `date`, fewer if the schedule stops firing.
  package func upcoming(_ count: Int, after date: Date) -> [Date] {
    var runs: [Date] = []
    var from = date
    while runs.count < count, let run = next(after: from) {
      runs.append(run)
      from = run
    }
    return runs
  }

  /// A typical time between runs: for `@every` the interval; for field schedules the smallest gap
  /// between the next dozen runs after `date`, leaving out gaps stretched or shrunk by a change of
  /// UTC offset (a daylight-saving change) unless every gap is one. Nil when the schedule has fewer
  /// than two runs ahead.
  package func period(after date: Date) -> Duration? {
    if let interval { return interval }
    let runs = upcoming(12, after: date)
    guard runs.count >= 2 else { return nil }
    var steady: Double?
    var any: Double?
    for (earlier, later) in zip(runs, runs.dropFirst()) {
      let gap = later.timeIntervalSince(earlier)
      any = min(any ?? gap, gap)
      if timeZone.secondsFromGMT(for: earlier) == timeZone.secondsFromGMT(for: later) {
        steady = min(steady ?? gap, gap)
      }
    }
    guard let gap = steady ?? any else { return nil }
    return .seconds(Int64(gap.rounded()))
  }
}

// MARK: - Parsing

/// The five fields of the standard syntax, with their bounds and names.
private enum CronField: Int, CaseIterable {
  case minute, hour, dayOfMonth, month, dayOfWeek

  var name: String {
    switch self {
    case .minute: "minute"
    case .hour: "hour"
    case .dayOfMonth: "day-of-month"
    case .month: "month"
    case .dayOfWeek: "day-of-week"
    }
  }

  var bounds: ClosedRange<Int> {
    switch self {
    case .minute: 0...59
    case .hour: 0...23
    case .dayOfMonth: 1...31
    case .month: 1...12
    case .dayOfWeek: 0...6
    }
  }

  /// Names accepted in place of numbers, lower case (they match in any case).
  var names: [String: Int] {
    switch self {
    case .month:
      ["jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6, "jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12]
    case .dayOfWeek: ["sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6]
    default: [:]
    }
  }

  /// Every value of the field, without the star bit.
  var allBits: UInt64 { bitRange(bounds.lowerBound, bounds.upperBound, step: 1) }
}

/// Bits `low...high`, every `step`-th one from `low`.
private func bitRange(_ low: Int, _ high: Int, step: Int) -> UInt64 {
  var bits: UInt64 = 0
  var value = low
  while value <= high {
    bits |= 1 << UInt64(value)
    let (following, overflow) = value.addingReportingOverflow(step)
    if overflow { break }
    value = following
  }
  return bits
}

/// Zone names that ICU (and so Foundation on Linux) knows but the tz database, and so Go's
/// `time.LoadLocation`, does not: Java's three-letter ids. `BST` is Bangladesh there, not London.
private let icuOnlyZoneNames: Set<String> = [
  "ACT", "AET", "AGT", "ART", "AST", "BET", "BST", "CAT", "CNT", "CST", "CTT", "EAT", "ECT", "IET", "IST", "JST", "MIT",
  "NET", "NST", "PLT", "PNT", "PRT", "PST", "SST", "VST",
]

/// One parse of one spec; kept apart so the error messages can quote the spec.
private struct CronSpecParser {
  let spec: String
  let defaultTimeZone: TimeZone

  struct Result {
    var zone: TimeZone
    var kind: CronSchedule.Kind
    var warnings: [String]
  }

  func failure(_ message: String, field: CronField? = nil) -> CronParseError {
    if let field {
      return CronParseError(spec: spec, field: field.name, message: "field \"\(field.name)\" of \"\(spec)\": \(message)")
    }
    return CronParseError(spec: spec, message: message)
  }

  func parse() throws(CronParseError) -> Result {
    guard !spec.isEmpty else {
      throw failure("the cron schedule is empty: write five fields (minute hour day-of-month month day-of-week) or a descriptor such as @daily")
    }
    var rest = Substring(spec)
    var zone = defaultTimeZone
    var prefix = ""
    if rest.hasPrefix("TZ=") || rest.hasPrefix("CRON_TZ=") {
      guard let space = rest.firstIndex(of: " "), let equals = rest.firstIndex(of: "=") else {
        throw failure("the time zone prefix of \"\(spec)\" must be followed by a space and the schedule, as in \"CRON_TZ=UTC 0 */12 * * *\"")
      }
      let name = String(rest[rest.index(after: equals)..<space])
      zone = try loadZone(name)
      prefix = String(rest[..<space]) + " "
      rest = rest[space...].drop(while: \.isWhitespace)
      while let last = rest.last, last.isWhitespace { rest = rest.dropLast() }
    }
    if rest.hasPrefix("@") {
      let (kind, warnings) = try parseDescriptor(String(rest))
      return Result(zone: zone, kind: kind, warnings: warnings)
    }
    let texts = rest.split(whereSeparator: \.isWhitespace)
    guard texts.count == 5 else {
      var message = "expected 5 fields (minute hour day-of-month month day-of-week), found \(texts.count) in \"\(spec)\""
      if texts.count == 6 {
        message += "; the standard cron syntax k3s uses has no seconds field"
      }
      throw failure(message)
    }
    var bits: [UInt64] = []
    for field in CronField.allCases {
      bits.append(try parseField(texts[field.rawValue], field))
    }
    let fields = CronSchedule.Fields(
      second: 1, minute: bits[0], hour: bits[1], dayOfMonth: bits[2], month: bits[3], dayOfWeek: bits[4])
    let warnings = fieldWarnings(fields, texts: texts.map(String.init), prefix: prefix)
    return Result(zone: zone, kind: .fields(fields), warnings: warnings)
  }

  /// Go's `time.LoadLocation` names: "" and "UTC" are UTC, "Local" is the default zone, anything
  /// else must be a tz database name.
  func loadZone(_ name: String) throws(CronParseError) -> TimeZone {
    if name.isEmpty || name == "UTC" { return .gmt }
    if name == "Local" { return defaultTimeZone }
    if !icuOnlyZoneNames.contains(name), let zone = TimeZone(identifier: name) {
      // Foundation also takes offsets such as "GMT+1" and renames them; the tz database has no such names.
      if zone.identifier == name || (zone.identifier == "GMT" && (name == "GMT+0" || name == "GMT-0")) {
        return zone
      }
    }
    throw failure("unknown time zone \"\(name)\" in \"\(spec)\": use a tz database name such as UTC, Europe/Berlin or America/New_York")
  }

  func parseDescriptor(_ text: String) throws(CronParseError) -> (CronSchedule.Kind, [String]) {
    let star = CronSchedule.starBit
    func all(_ field: CronField) -> UInt64 { field.allBits | star }
    let daily = CronSchedule.Fields(
      second: 1, minute: 1, hour: 1, dayOfMonth: all(.dayOfMonth), month: all(.month), dayOfWeek: all(.dayOfWeek))
    switch text {
    case "@yearly", "@annually":
      var fields = daily
      fields.dayOfMonth = 1 << 1
      fields.month = 1 << 1
      return (.fields(fields), [])
    case "@monthly":
      var fields = daily
      fields.dayOfMonth = 1 << 1
      return (.fields(fields), [])
    case "@weekly":
      var fields = daily
      fields.dayOfWeek = 1 << 0
      return (.fields(fields), [])
    case "@daily", "@midnight":
      return (.fields(daily), [])
    case "@hourly":
      var fields = daily
      fields.hour = all(.hour)
      return (.fields(fields), [])
    default:
      break
    }
    let everyPrefix = "@every "
    if text.hasPrefix(everyPrefix) {
      let durationText = String(text.dropFirst(everyPrefix.count))
      guard let duration = GoDuration.parse(durationText) else {
        throw failure("@every needs a Go duration such as 1h30m, got \"\(durationText)\" in \"\(spec)\"")
      }
      // robfig runs at most once a second and drops any fraction of a second from the delay.
      let whole = duration.components.seconds
      let seconds = max(whole, 1)
      var warnings: [String] = []
      if whole < 1 {
        warnings.append("\"\(spec)\": robfig/cron runs @every at most once a second, so \(durationText) means every 1s")
      } else if duration != .seconds(whole) {
        let rounded = GoDuration.format(.seconds(seconds))
        warnings.append("\"\(spec)\": robfig/cron drops the fraction of a second from @every, so \(durationText) means every \(rounded)")
      }
      return (.every(seconds: seconds), warnings)
    }
    let named = ["@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"]
    var message =
      "unrecognised descriptor \"\(text)\" in \"\(spec)\": use \(named.joined(separator: ", ")) or @every <duration>"
    let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines).lowercased()
    if trimmed != text, named.contains(trimmed) {
      message += " (descriptors are lower case, without spaces around them)"
    }
    throw failure(message)
  }

  /// A comma-separated list of ranges; empty items are skipped, as robfig skips them.
  func parseField(_ text: Substring, _ field: CronField) throws(CronParseError) -> UInt64 {
    var bits: UInt64 = 0
    for item in text.split(separator: ",") {
      bits |= try parseRange(item, field)
    }
    return bits
  }

  /// One item of a list: `*`, `?`, `n`, `a-b`, each optionally followed by `/step`.
  func parseRange(_ item: Substring, _ field: CronField) throws(CronParseError) -> UInt64 {
    let bounds = field.bounds
    let slashParts = item.split(separator: "/", omittingEmptySubsequences: false)
    guard slashParts.count <= 2 else { throw failure("\"\(item)\" has more than one \"/\"", field: field) }
    let dashParts = slashParts[0].split(separator: "-", omittingEmptySubsequences: false)
    var start: Int
    var end: Int
    var starred = false
    if dashParts[0] == "*" || dashParts[0] == "?" {
      // Like robfig, whatever follows "*-" is ignored.
      start = bounds.lowerBound
      end = bounds.upperBound
      starred = true
    } else {
      guard dashParts.count <= 2 else { throw failure("\"\(item)\" has more than one \"-\"", field: field) }
      start = try value(dashParts[0], in: item, field)
      end = dashParts.count == 2 ? try value(dashParts[1], in: item, field) : start
    }
    var step = 1
    if slashParts.count == 2 {
      guard let parsed = Int(slashParts[1]), parsed > 0 else {
        throw failure("the step in \"\(item)\" must be a positive whole number, as in \"*/5\"", field: field)
      }
      step = parsed
      // "n/step" runs from n to the end of the field.
      if dashParts.count == 1 { end = bounds.upperBound }
      if step > 1 { starred = false }
    }
    if start > bounds.upperBound { throw failure(aboveMaximum(start, field), field: field) }
    if end > bounds.upperBound { throw failure(aboveMaximum(end, field), field: field) }
    if start < bounds.lowerBound { throw failure("\(start) is below the minimum \(bounds.lowerBound)", field: field) }
    if start > end { throw failure("the range \"\(item)\" starts at \(start), after its end \(end)", field: field) }
    return bitRange(start, end, step: step) | (starred ? CronSchedule.starBit : 0)
  }

  func aboveMaximum(_ number: Int, _ field: CronField) -> String {
    var message = "\(number) is above the maximum \(field.bounds.upperBound)"
    if field == .dayOfWeek && number == 7 { message += " (Sunday is 0; robfig/cron, which k3s uses, does not accept 7)" }
    return message
  }

  /// A number or, in the month and day-of-week fields, a name in any case.
  func value(_ text: Substring, in item: Substring, _ field: CronField) throws(CronParseError) -> Int {
    if text.isEmpty { throw failure("\"\(item)\" is missing a number", field: field) }
    if let named = field.names[text.lowercased()] { return named }
    if let number = Int(text) {
      guard number >= 0 else { throw failure("\(number) is negative", field: field) }
      return number
    }
    if text.allSatisfy({ $0.isASCII && $0.isNumber }) {
      throw failure("\(text) is above the maximum \(field.bounds.upperBound)", field: field)
    }
    switch field {
    case .month: throw failure("\"\(text)\" is neither a number nor a month name (jan to dec)", field: field)
    case .dayOfWeek: throw failure("\"\(text)\" is neither a number nor a weekday name (sun to sat)", field: field)
    default: throw failure("\"\(text)\" is not a number", field: field)
    }
  }

  /// Valid specs that probably do not mean what their author meant.
  func fieldWarnings(_ fields: CronSchedule.Fields, texts: [String], prefix: String) -> [String] {
    var warnings: [String] = []
    let star = CronSchedule.starBit
    func values(_ bits: UInt64) -> UInt64 { bits & ~star }
    let minute = values(fields.minute)
    let hour = values(fields.hour)
    if minute == CronField.minute.allBits && hour != CronField.hour.allBits && hour != 0 {
      let suggestion = prefix + (["0"] + texts.dropFirst()).joined(separator: " ")
      warnings.append(
        "\"\(spec)\" runs every minute of the hours it selects (minute \"\(texts[0])\", hour \"\(texts[1])\"), 60 runs an hour; "
          + "to run once at the start of each of those hours, write \"\(suggestion)\"")
    }
    let emptyField = [(CronField.minute, minute), (.hour, hour), (.month, values(fields.month))].first { $0.1 == 0 }?.0
    if let field = emptyField {
      warnings.append("\"\(spec)\" never runs: field \"\(field.name)\" (\"\(texts[field.rawValue])\") selects no value")
      return warnings
    }
    let dom = values(fields.dayOfMonth)
    let dow = values(fields.dayOfWeek)
    // The longest month each allowed month can have (February 29 in leap years).
    let longest = [0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
    let domPossible = (1...12).contains { month in
      values(fields.month) & (1 << UInt64(month)) != 0 && dom & bitRange(1, longest[month], step: 1) != 0
    }
    let eitherStarred = (fields.dayOfMonth | fields.dayOfWeek) & star != 0
    let possible = eitherStarred ? domPossible && dow != 0 : domPossible || dow != 0
    if !possible {
      warnings.append(
        "\"\(spec)\" never runs: no day matches day-of-month \"\(texts[2])\" in month \"\(texts[3])\" with day-of-week \"\(texts[4])\"")
    } else if !eitherStarred {
      var warning =
        "\"\(spec)\" restricts both day-of-month (\"\(texts[2])\") and day-of-week (\"\(texts[4])\"), so it runs on the days that match "
        + "either of them, not only on days that match both (robfig/cron's rule, as in classic cron)"
      if dom == CronField.dayOfMonth.allBits || dow == CronField.dayOfWeek.allBits {
        warning += "; here that is every day"
        if dom == CronField.dayOfMonth.allBits { warning += " (write \"*\" as the day of month to run only on the days of week)" }
      }
      warnings.append(warning)
    }
    return warnings
  }
}

// MARK: - Next run

/// Civil time of one instant in one zone.
private struct CivilTime {
  var year: Int64
  var month: Int64
  var day: Int64
  var hour: Int64
  var minute: Int64
  var second: Int64
  /// 0 is Sunday.
  var weekday: Int64
}

/// Wall-clock arithmetic in one zone on Unix seconds, with the rules of Go's `time` package that
/// robfig relies on: reading fields in the zone, and `time.Date`'s choice for wall times that do
/// not exist or exist twice (look up the offset at the wall time read as UTC, then, if the instant
/// that gives falls under another offset, use that one).
private struct ZoneClock {
  let zone: TimeZone

  func offset(_ unix: Int64) -> Int64 {
    Int64(zone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(unix))))
  }

  func civil(_ unix: Int64) -> CivilTime {
    let wall = unix + offset(unix)
    let days = floorDivide(wall, 86_400)
    let secondOfDay = wall - days * 86_400
    let (year, month, day) = civilDate(days: days)
    return CivilTime(
      year: year, month: month, day: day, hour: secondOfDay / 3600, minute: secondOfDay % 3600 / 60, second: secondOfDay % 60,
      weekday: floorModulo(days + 4, 7))
  }

  /// The instant of a wall time; out-of-range months and days carry over, as in Go's `time.Date`.
  func instant(year: Int64, month: Int64, day: Int64, hour: Int64, minute: Int64, second: Int64) -> Int64 {
    let monthIndex = month - 1
    let days = daysSinceEpoch(year: year + floorDivide(monthIndex, 12), month: floorModulo(monthIndex, 12) + 1, day: 1) + day - 1
    let wall = days * 86_400 + hour * 3600 + minute * 60 + second
    let guess = offset(wall)
    guard guess != 0 else { return wall }
    return wall - offset(wall - guess)
  }

  /// Go's `AddDate`: the same wall clock, that many months and days later.
  func adding(months: Int64 = 0, days: Int64 = 0, to unix: Int64) -> Int64 {
    let c = civil(unix)
    return instant(year: c.year, month: c.month + months, day: c.day + days, hour: c.hour, minute: c.minute, second: c.second)
  }
}

private func floorDivide(_ a: Int64, _ b: Int64) -> Int64 {
  let q = a / b
  return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
}

private func floorModulo(_ a: Int64, _ b: Int64) -> Int64 { a - floorDivide(a, b) * b }

/// Days from 1970-01-01 to a proleptic Gregorian date (month 1...12).
private func daysSinceEpoch(year: Int64, month: Int64, day: Int64) -> Int64 {
  let y = month <= 2 ? year - 1 : year
  let era = floorDivide(y, 400)
  let yearOfEra = y - era * 400
  let monthFromMarch = month > 2 ? month - 3 : month + 9
  let dayOfYear = (153 * monthFromMarch + 2) / 5 + day - 1
  let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
  return era * 146_097 + dayOfEra - 719_468
}

/// The proleptic Gregorian date `days` after 1970-01-01.
private func civilDate(days: Int64) -> (year: Int64, month: Int64, day: Int64) {
  let shifted = days + 719_468
  let era = floorDivide(shifted, 146_097)
  let dayOfEra = shifted - era * 146_097
  let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
  let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
  let monthFromMarch = (5 * dayOfYear + 2) / 153
  let day = dayOfYear - (153 * monthFromMarch + 2) / 5 + 1
  let month = monthFromMarch < 10 ? monthFromMarch + 3 : monthFromMarch - 9
  return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
}

/// The search of robfig's `SpecSchedule.Next`, step for step: find a matching month, then day,
/// hour, minute and second, each time moving forward from the first change on in whole units and
/// starting over from the month whenever a unit wraps around; give up past five years.
private struct CronWalker {
  let fields: CronSchedule.Fields
  let clock: ZoneClock

  /// A guard against a zone whose transitions would keep the walk from ending; far more steps
  /// than any five-year search takes.
  static let stepLimit = 200_000

  func has(_ bits: UInt64, _ value: Int64) -> Bool { bits & (1 << UInt64(value)) != 0 }

  func dayMatches(_ c: CivilTime) -> Bool {
    let domMatch = has(fields.dayOfMonth, c.day)
    let dowMatch = has(fields.dayOfWeek, c.weekday)
    if (fields.dayOfMonth | fields.dayOfWeek) & CronSchedule.starBit != 0 { return domMatch && dowMatch }
    return domMatch || dowMatch
  }

  /// True when some field can never match, so the walk would only run out its five years.
  var neverMatches: Bool {
    let star = CronSchedule.starBit
    let eitherStarred = (fields.dayOfMonth | fields.dayOfWeek) & star != 0
    let dom = fields.dayOfMonth & ~star
    let dow = fields.dayOfWeek & ~star
    let noDay = eitherStarred ? (dom == 0 || dow == 0) : (dom == 0 && dow == 0)
    return fields.second & ~star == 0 || fields.minute & ~star == 0 || fields.hour & ~star == 0 || fields.month & ~star == 0 || noDay
  }

  func next(after start: Int64) -> Int64? {
    if neverMatches { return nil }
    var t = start + 1
    var c = clock.civil(t)
    var moved = false
    let lastYear = c.year + 5
    var steps = 0
    func step() -> Bool {
      steps += 1
      return steps < Self.stepLimit
    }

    search: while true {
      guard c.year <= lastYear, step() else { return nil }

      while !has(fields.month, c.month) {
        guard step() else { return nil }
        if !moved {
          moved = true
          t = clock.instant(year: c.year, month: c.month, day: 1, hour: 0, minute: 0, second: 0)
        }
        t = clock.adding(months: 1, to: t)
        c = clock.civil(t)
        if c.month == 1 { continue search }
      }

      while !dayMatches(c) {
        guard step() else { return nil }
        if !moved {
          moved = true
          t = clock.instant(year: c.year, month: c.month, day: c.day, hour: 0, minute: 0, second: 0)
        }
        t = clock.adding(days: 1, to: t)
        c = clock.civil(t)
        // Where midnight was skipped or repeated, get back to the start of a day.
        if c.hour != 0 {
          t += c.hour > 12 ? (24 - c.hour) * 3600 : -c.hour * 3600
          c = clock.civil(t)
        }
        if c.day == 1 { continue search }
      }

      while !has(fields.hour, c.hour) {
        guard step() else { return nil }
        if !moved {
          moved = true
          t = clock.instant(year: c.year, month: c.month, day: c.day, hour: c.hour, minute: 0, second: 0)
        }
        t += 3600
        c = clock.civil(t)
        if c.hour == 0 { continue search }
      }

      while !has(fields.minute, c.minute) {
        guard step() else { return nil }
        if !moved {
          moved = true
          t = floorDivide(t, 60) * 60
        }
        t += 60
        c = clock.civil(t)
        if c.minute == 0 { continue search }
      }

      while !has(fields.second, c.second) {
        guard step() else { return nil }
        moved = true
        t += 1
        c = clock.civil(t)
        if c.second == 0 { continue search }
      }

      return t
    }
  }
}
