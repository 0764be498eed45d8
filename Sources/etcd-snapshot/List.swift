import ArgumentParser
import EtcdSnapshot
import Foundation
import SnapshotCore

enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
  case table, json
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

  @Option(name: [.short, .customLong("output")], help: "Output format: table or json.")
  var output: OutputFormat = .table

  @Flag(
    name: .customLong("details"),
    help: "With --s3: read every bucket snapshot's .metadata sidecar (one request each) for the REVISION and VERIFIED columns; json always does.")
  var details = false

  @OptionGroup var global: GlobalOptions

  func run() async throws {
    try await runReporting(debug: global.debug) {
      let env = ProcessInfo.processInfo.environment
      let s3Config = try s3.validated(environment: env)
      let catalog = Catalog(storage: directory.configuration(environment: env), s3: s3Config, logger: makeLogger(debug: global.debug))
      // The default table over a bucket needs only the list pages; json and --details need the sidecars.
      let sidecars = s3Config == nil || output == .json || details
      let entries = try await catalog.list(readingSidecars: sidecars)
      switch output {
      case .json:
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let data = try encoder.encode(entries.map(ListedSnapshot.init))
        print(entries.isEmpty ? "[]" : String(decoding: data, as: UTF8.self))
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

/// One row of `ls -o json`.
struct ListedSnapshot: Encodable {
  var name: String
  var prefix: String?
  var node: String?
  var timestamp: Int64
  var createdAt: String
  var size: Int64
  var revision: Int64?
  var verified: Bool
  var location: String
  var path: String
  var url: String
  var sha256: String?
  var etcdVersion: String?
  var clusterID: String?
  var memberID: String?
  var hasMetadata: Bool
  var problem: String?

  init(_ e: SnapshotEntry) {
    name = e.fileName
    prefix = e.name?.prefix
    node = e.name?.node
    timestamp = e.timestamp
    createdAt = rfc3339(timestamp: e.timestamp)
    size = e.size
    revision = e.revision
    verified = e.verified
    location = e.location.kind
    path = e.location.address
    url = e.location.url
    sha256 = e.metadata?.sha256
    etcdVersion = e.metadata?.etcdVersion
    clusterID = e.metadata?.clusterID
    memberID = e.metadata?.memberID
    hasMetadata = e.metadata != nil
    problem = e.problem
  }
}
