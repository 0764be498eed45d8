import ArgumentParser
import EtcdSnapshot
import Foundation
import SnapshotCore
import SnapshotSettings

struct Status: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Show a snapshot's hash, revision, key count and size, as etcdutl does.",
    discussion: """
      The same figures as `etcdutl snapshot status` (3.5) and `etcdctl snapshot status` (3.4): \
      hash (CRC-32C of the contents), revision, total keys, total size, and the storage \
      version where the file has one; then what our metadata record says, if there is one. \
      Works on saved snapshots and on plain member/snap/db copies. Reads the file in bounded \
      memory and runs the bbolt structure check first.

      Examples:
        etcd-snapshot status --dir /var/backups/etcd on-demand-node1-1700000000
        etcd-snapshot status ./snapshot.db -o json
      """
  )

  @OptionGroup var directory: DirectoryOptions

  @Option(name: [.short, .customLong("output")], help: help("Output format: table or json.", .output))
  var output: OutputFormat?

  @Argument(help: ArgumentHelp("A snapshot path (./x, /x), or a name that `ls` prints (looked up in --dir).", valueName: "snapshot"))
  var snapshot: String

  @OptionGroup var s3: S3Options

  @OptionGroup var decryption: DecryptionOptions

  @OptionGroup var global: GlobalOptions

  func run() async throws {
    try await runReporting(global) { invocation in
      var settings = invocation.settings()
      let storage = directory.configuration(&settings)
      let s3Config = s3.configuration(&settings)
      var output = OutputFormat.resolve(self.output, &settings)
      if output == .yaml {
        if self.output == .yaml { settings.report("status -o yaml: status prints table or json, as etcdutl") }
        output = .table
      }
      try invocation.check(settings)
      let report = try await ReadSnapshotStatus(
        SnapshotSource(snapshot, storage: storage, s3: s3Config, decryption: decryption.configuration(settings)), logger: invocation.logger()
      ).run()
      let f = report.figures
      switch output {
      case .json:
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data = try encoder.encode(
          StatusJSON(
            hash: f.hash, revision: f.revision, totalKey: f.totalKey, totalSize: f.totalSize,
            version: f.version.isEmpty ? nil : f.version, metadata: report.metadata))
        print(String(decoding: data, as: UTF8.self))
      case .table, .yaml:
        var header = ["HASH", "REVISION", "TOTAL KEYS", "TOTAL SIZE"]
        var row = [String(f.hash, radix: 16), String(f.revision), String(f.totalKey), humanBytes(f.totalSize)]
        if !f.version.isEmpty {
          header.append("VERSION")
          row.append(f.version)
        }
        print(table([header, row]))
        if let m = report.metadata {
          print(
            "saved by etcd-snapshot \(m.toolVersion) at \(m.createdAt) on node \(m.node) from \(m.endpoint) (etcd \(m.etcdVersion), member \(m.memberID), cluster \(m.clusterID)); sha256 \(m.sha256)"
          )
        }
      }
    }
  }
}

/// `status -o json`: etcdutl's fields (hash as a number), plus our record.
struct StatusJSON: Encodable {
  var hash: UInt32
  var revision: Int64
  var totalKey: Int
  var totalSize: Int64
  var version: String?
  var metadata: SnapshotMetadata?
}
