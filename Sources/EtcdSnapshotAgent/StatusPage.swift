import Foundation
import SnapshotCore

/// `GET /`: one server-rendered HTML page, no script: the health, the schedule and its next
/// runs, the last result per location, the recent runs, and the snapshots per node and
/// location on a time line. Every value from outside (names, messages) is escaped.
struct StatusPage {
  var configuration: AgentConfiguration
  var history: [SnapshotRun]
  var lastSuccess: [String: Date]
  var entries: [SnapshotEntry]
  var listProblem: String?
  var health: Health
  var now: Date

  func render() -> String {
    var html = """
      <!doctype html>
      <html lang="en"><head><meta charset="utf-8">
      <meta name="viewport" content="width=device-width, initial-scale=1">
      <title>etcd-snapshot agent: \(escape(configuration.save.nodeName))</title>
      <style>
      body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#1d232a;padding:0 1em}
      h1{font-size:1.5em;margin-bottom:.2em}h2{font-size:1.1em;margin-top:1.8em;border-bottom:1px solid #dde;padding-bottom:.2em}
      table{border-collapse:collapse;width:100%}td,th{padding:.3em .6em;text-align:left;border-bottom:1px solid #eef}
      th{background:#f5f6fa}.ok{color:#176b2c}.bad{color:#b3261e}.muted{color:#667}
      .badge{display:inline-block;padding:.15em .6em;border-radius:1em;font-weight:600}
      .badge.ok{background:#e3f4e8}.badge.bad{background:#fbe4e2}
      .lane{position:relative;height:26px;background:#f5f6fa;border-radius:4px;margin:.2em 0 .8em}
      .mark{position:absolute;top:4px;width:8px;height:18px;margin-left:-4px;border-radius:2px;background:#3869d4}
      .mark.unverified{background:#c58a00}.lane-label{font-weight:600}.axis{display:flex;justify-content:space-between;color:#667;font-size:.85em}
      code{background:#f5f6fa;padding:0 .3em;border-radius:3px}
      </style></head><body>
      <h1>etcd-snapshot agent <span class="muted">on \(escape(configuration.save.nodeName))</span></h1>
      <p id="health"><span class="badge \(health.healthy ? "ok" : "bad")">\(health.healthy ? "healthy" : "unhealthy")</span> \(escape(health.reason))</p>

      """
    html += schedule()
    html += locations()
    html += runs()
    html += timeline()
    html += "<p class=\"muted\">Rendered at \(timestamp(now)). <a href=\"/metrics\">/metrics</a> · <a href=\"/healthz\">/healthz</a> · "
    html += "<a href=\"/v1/snapshots\">/v1/snapshots</a></p>\n</body></html>\n"
    return html
  }

  private func schedule() -> String {
    var html = "<h2>Schedule</h2>\n<table id=\"schedule\">\n"
    let spec = configuration.schedule
    let enabled = configuration.snapshotsEnabled
    html += row(
      "Schedule", enabled ? "<code>\(escape(spec.spec))</code> (\(escape(spec.timeZone.identifier)))" : "disabled (--etcd-disable-snapshots)")
    let upcoming = enabled ? spec.upcoming(5, after: now) : []
    html += row(
      "Next runs", upcoming.isEmpty ? "none" : upcoming.map { "<span class=\"next-run\">\(timestamp($0))</span>" }.joined(separator: "<br>"))
    let retention = configuration.retention == 0 ? "all kept" : "\(configuration.retention) per node"
    html += row("Local", "<code>\(escape(configuration.save.storage.snapshotDirectory))</code>, \(retention)")
    if let s3 = configuration.save.s3 {
      let kept = s3.retention == 0 ? "all kept" : "\(s3.retention) per node"
      html += row("S3", "<code>\(escape(s3.folderAddress))</code>, \(kept)")
    }
    html += row("Snapshot name", "<code>\(escape(configuration.save.namePrefix))-\(escape(configuration.save.nodeName))-UNIXTIME</code>")
    return html + "</table>\n"
  }

  private func locations() -> String {
    var html = "<h2>Last result per location</h2>\n<table id=\"locations\"><tr><th>Location</th><th>Last success</th><th>Last run</th></tr>\n"
    var names = ["local"]
    if configuration.save.s3 != nil { names.append("s3") }
    for name in names {
      let success = lastSuccess[name].map(timestamp) ?? "never (since the agent started)"
      var last = "<span class=\"muted\">no run yet</span>"
      if let run = history.first, let result = run.locations.first(where: { $0.location == name }) {
        last =
          result.success
          ? "<span class=\"ok\">success</span> at \(escape(run.finishedAt))"
          : "<span class=\"bad\">failed</span> at \(escape(run.finishedAt)): \(escape(result.message ?? ""))"
      }
      html += "<tr data-location=\"\(name)\"><td>\(name)</td><td>\(success)</td><td>\(last)</td></tr>\n"
    }
    return html + "</table>\n"
  }

  private func runs() -> String {
    guard !history.isEmpty else { return "<h2>Recent runs</h2>\n<p class=\"muted\">No snapshot has run since the agent started.</p>\n" }
    var html = "<h2>Recent runs</h2>\n<table id=\"runs\"><tr><th>Started</th><th>Trigger</th><th>Result</th><th>Snapshot</th><th>Time</th></tr>\n"
    for run in history.prefix(10) {
      let result = run.succeeded ? "<span class=\"ok\">success</span>" : "<span class=\"bad\">failure</span>: \(escape(run.failureMessage ?? ""))"
      html += "<tr><td>\(escape(run.startedAt))</td><td>\(run.trigger.rawValue)</td><td>\(result)</td>"
      html += "<td>\(escape(run.name ?? "-"))</td><td>\(String(format: "%.2f s", run.durationSeconds))</td></tr>\n"
    }
    return html + "</table>\n"
  }

  private func timeline() -> String {
    var html = "<h2>Snapshots</h2>\n"
    if let listProblem { html += "<p class=\"bad\">The snapshots cannot be listed: \(escape(listProblem))</p>\n" }
    guard !entries.isEmpty else { return html + "<p class=\"muted\" id=\"no-snapshots\">No snapshots yet.</p>\n" }
    let end = max(now.timeIntervalSince1970, Double(entries.map(\.timestamp).max() ?? 0))
    let start = min(Double(entries.map(\.timestamp).min() ?? 0), end - 60)
    let span = max(end - start, 1)
    var lanes: [String: [SnapshotEntry]] = [:]
    for e in entries { lanes["\(e.location.kind)\u{0}\(e.name?.node ?? "-")", default: []].append(e) }
    html += "<div id=\"timeline\">\n"
    for key in lanes.keys.sorted() {
      let parts = key.split(separator: "\u{0}", omittingEmptySubsequences: false)
      let (location, node) = (String(parts[0]), String(parts[1]))
      let lane = lanes[key] ?? []
      html += "<div class=\"lane-label\">\(escape(location)) · node \(escape(node)) · \(lane.count) snapshot\(lane.count == 1 ? "" : "s")</div>\n"
      html += "<div class=\"lane\" data-location=\"\(escape(location))\" data-node=\"\(escape(node))\">"
      for e in lane.sorted(by: { $0.timestamp < $1.timestamp }) {
        let left = (Double(e.timestamp) - start) / span * 100
        html += "<span class=\"mark\(e.verified ? "" : " unverified")\" style=\"left:\(String(format: "%.2f", left))%\" "
        html += "title=\"\(escape(e.fileName)) · \(rfc3339(timestamp: e.timestamp)) · \(e.size) bytes\"></span>"
      }
      html += "</div>\n"
    }
    html +=
      "<div class=\"axis\"><span>\(timestamp(Date(timeIntervalSince1970: start)))</span><span>\(timestamp(Date(timeIntervalSince1970: end)))</span></div>\n"
    html += "</div>\n<table id=\"snapshots\"><tr><th>Name</th><th>Node</th><th>Created</th><th>Size</th><th>Location</th></tr>\n"
    for e in entries {
      html += "<tr class=\"snapshot\"><td>\(escape(e.fileName))</td><td>\(escape(e.name?.node ?? "-"))</td>"
      html += "<td>\(rfc3339(timestamp: e.timestamp))</td><td>\(e.size)</td><td>\(escape(e.location.url))</td></tr>\n"
    }
    return html + "</table>\n"
  }

  private func row(_ name: String, _ value: String) -> String { "<tr><th>\(name)</th><td>\(value)</td></tr>\n" }
}

/// HTML text and attribute escaping.
func escape(_ text: String) -> String {
  var out = ""
  out.reserveCapacity(text.count)
  for c in text {
    switch c {
    case "&": out += "&amp;"
    case "<": out += "&lt;"
    case ">": out += "&gt;"
    case "\"": out += "&quot;"
    case "'": out += "&#39;"
    default: out.append(c)
    }
  }
  return out
}
