import ArgumentParser
import EtcdSnapshot
import Foundation
import SnapshotCore
import SnapshotSettings
import Yams

enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
  case table, json, yaml

  /// The flag's value, else the settings' (`output:` in a config file, ETCD_SNAPSHOT_OUTPUT).
  static func resolve(_ flag: OutputFormat?, _ settings: inout SettingsReader) -> OutputFormat {
    if let flag { return flag }
    guard let s = settings.sourced(.output, flag: nil), !s.value.isEmpty else { return .table }
    if let format = OutputFormat(rawValue: s.value) { return format }
    settings.report(s, "is not an output format: use table, json or yaml")
    return .table
  }
}

struct List: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "ls",
    abstract: "List snapshots, newest first.",
    discussion: """
      Shows every snapshot in the directory (and with --s3 in the bucket folder): name, node, creation time, size, store revision, \
      whether etcd's checksum was verified when it was saved, and where it is. Files copied in \
      by hand or made by etcdctl are listed too, with what the file itself says. With --s3 the \
      table comes from the bucket's list pages alone (name, node, time, size, location: one \
      request per 1,000 objects); --details and -o json also read each snapshot's .metadata \
      sidecar (one request each) for its revision, checksum and IDs.

      Example:
        etcd-snapshot ls --dir /var/backups/etcd -o json
        etcd-snapshot ls --s3 --s3-bucket backups --s3-folder etcd/prod
      """,
    aliases: ["list", "l"]
  )

  @OptionGroup var directory: DirectoryOptions

  @OptionGroup var s3: S3Options

  @Option(name: [.short, .customLong("output")], help: help("Output format: table, json or yaml (as k3s).", .output))
  var output: OutputFormat?

  @Flag(
    name: .customLong("details"),
    help: help(
      "With --s3: read every bucket snapshot's .metadata sidecar (one request each) for the REVISION and VERIFIED columns; json and yaml always do.",
      .details))
  var details = false

  @OptionGroup var nodeName: NodeNameOption

  @Option(name: .customLong("name"), help: help("Accepted as in k3s; ls lists every prefix and every node.", .name, valueName: "prefix"))
  var name: String?

  @OptionGroup var global: GlobalOptions

  func run() async throws {
    try await runReporting(global) { invocation in
      var settings = invocation.settings()
      let storage = directory.configuration(&settings)
      let s3Config = s3.configuration(&settings)
      let output = OutputFormat.resolve(self.output, &settings)
      let details = settings.bool(.details, flag: self.details ? true : nil)
      try invocation.check(settings)
      let catalog = Catalog(storage: storage, s3: s3Config, logger: invocation.logger())
      // The default table over a bucket needs only the list pages; json, yaml and --details need the sidecars.
      let sidecars = s3Config == nil || output != .table || details
      let entries = try await catalog.list(readingSidecars: sidecars)
      switch output {
      case .json:
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let data = try encoder.encode(entries.map(SnapshotListing.init))
        print(entries.isEmpty ? "[]" : String(decoding: data, as: UTF8.self))
      case .yaml:
        let encoder = YAMLEncoder()
        encoder.options.sortKeys = true
        print(try encoder.encode(entries.map(SnapshotListing.init)), terminator: "")
      case .table:
        var rows =
          sidecars
          ? [["NAME", "NODE", "CREATED", "SIZE", "REVISION", "VERIFIED", "LOCATION"]] : [["NAME", "NODE", "CREATED", "SIZE", "LOCATION"]]
        for e in entries {
          var row = [e.fileName, e.name?.node ?? "-", rfc3339(timestamp: e.timestamp), humanBytes(e.size)]
          if sidecars {
            row += [e.revision.map(String.init) ?? "-", e.problem != nil ? "PROBLEM" : (e.verified ? "yes" : "no")]
          }
          rows.append(row + [e.location.url])
        }
        // Names and keys come from whoever wrote them: escaped, so they cannot drive the terminal.
        print(table(rows.map { $0.map(escapedForTerminal) }))
        // Per node, on stderr (stdout stays the table): a node whose newest snapshot keeps
        // ageing has left or was renamed; `prune --node NODE` trims what it left.
        let summary = NodeSummary.make(entries)
        if !summary.isEmpty {
          let now = Int64(Date().timeIntervalSince1970)
          var nodes = [["NODE", "SNAPSHOTS", "NEWEST", "AGE"]]
          for row in summary {
            nodes.append([row.node, String(row.count), rfc3339(timestamp: row.newest), NodeSummary.age(seconds: now - row.newest)])
          }
          note("\n" + table(nodes.map { $0.map(escapedForTerminal) }))
        }
        for e in entries {
          if let problem = e.problem { note("etcd-snapshot: warning: \(escapedForTerminal(e.fileName)): \(escapedForTerminal(problem))") }
        }
      }
    }
  }
}
