import ArgumentParser
import EtcdClient
import EtcdSnapshot
import Foundation
import SnapshotCore
import SnapshotSettings

struct Save: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Stream a snapshot of a live etcd member into a verified file.",
    discussion: """
      Asks each endpoint for its status and uses the first healthy voting member (learners \
      and members without a leader are skipped). The stream is written to \
      DIR/NAME-NODE-UNIXTIME.part while its SHA-256 is computed, checked against etcd's \
      trailer, fsynced and renamed; a metadata record goes to DIR/.metadata/. Files are 0600, \
      directories 0700. Nothing is left behind when anything fails.

      With --s3 the snapshot is also uploaded while it is taken (a multipart upload read back \
      from the local file); the object appears only after the local copy is verified, with a \
      .metadata/NAME sidecar. If the upload fails it is aborted, the local snapshot is kept \
      (its record says it was not uploaded) and the exit status is non-zero.

      Example:
        etcd-snapshot save --endpoints https://10.0.0.1:2379 \\
          --cacert ca.pem --cert client.pem --key client-key.pem \\
          --dir /var/backups/etcd --name nightly
        AWS_ACCESS_KEY_ID=… AWS_SECRET_ACCESS_KEY=… etcd-snapshot save \\
          --s3 --s3-bucket backups --s3-folder etcd/prod --s3-region eu-central-1
      """
  )

  @OptionGroup var connection: ConnectionOptions
  @OptionGroup var directory: DirectoryOptions

  @Option(name: .customLong("name"), help: help("Snapshot name prefix (default on-demand).", .name, valueName: "prefix"))
  var name: String?

  @OptionGroup var nodeName: NodeNameOption

  @OptionGroup var compression: CompressionOptions

  @OptionGroup var encryption: EncryptionOptions

  @OptionGroup var bundle: BundleOptions

  @OptionGroup var s3: S3Options

  @OptionGroup var lock: LockOptions

  @OptionGroup var global: GlobalOptions

  func run() async throws {
    try await runReporting(global) { invocation in try await save(invocation) }
  }

  private func save(_ invocation: Invocation) async throws {
    var settings = invocation.settings()
    let conn = connection.configuration(&settings)
    var config = SaveConfiguration(
      connection: conn, storage: directory.configuration(&settings), nodeName: nodeName.value(settings) ?? hostName())
    if let prefix = settings.sourced(.name, flag: name)?.value { config.namePrefix = prefix }
    config.s3 = s3.configuration(&settings)
    config.waitLock = lock.duration(&settings)
    compression.apply(to: &config, &settings)
    encryption.apply(to: &config, &settings)
    bundle.apply(to: &config, &settings)
    try invocation.check(settings, config.problems())
    let save = SaveSnapshot(configuration: config, logger: invocation.logger())
    let draw: @Sendable (SaveProgress) -> Void = { drawProgress($0) }
    let progress = stderrIsTerminal ? draw : nil
    let result = try await save.run(
      onSkip: { (text: String) in note("etcd-snapshot: \(text)") },
      onMemberChosen: { (url: String, status: MemberStatus) in note(Self.describe(url, status)) },
      onProgress: progress)
    clearProgressLine()
    let m = result.metadata
    let secs = seconds(result.duration)
    let rate = secs > 0 ? " (\(humanBytes(Int64(Double(m.size) / secs)))/s)" : ""
    let layers = [
      m.compression?.rawValue,
      m.encryption.map {
        m.recipients == ["passphrase"] ? "encrypted (\($0)) with a passphrase" : "encrypted (\($0)) to \(m.recipients?.count ?? 0) recipient(s)"
      },
    ].compactMap { $0 }
    let stored = layers.isEmpty ? "" : ", stored \(layers.joined(separator: ", ")) in \(humanBytes(m.stored.size))"
    print(result.path)
    print(
      "saved \(m.name): \(humanBytes(m.size))\(stored), revision \(m.revision), etcd \(m.etcdVersion), member \(m.memberID) of cluster \(m.clusterID), sha256 verified, \(String(format: "%.2f", secs))s\(rate)"
    )
    if let b = m.bundle {
      let whom =
        b.encryption == nil
        ? "not encrypted" : b.recipients == ["passphrase"] ? "encrypted with a passphrase" : "encrypted to \(b.recipients?.count ?? 0) recipient(s)"
      print("bundle \(b.path): \(b.entries) entries, \(humanBytes(b.size)), \(whom)\(b.uploadedTo.map { ", uploaded \($0)" } ?? "")")
    }
    if let upload = result.upload {
      print("uploaded \(upload.address) (\(upload.parts) part\(upload.parts == 1 ? "" : "s"), size checked)")
    }
  }

  private static func describe(_ url: String, _ status: MemberStatus) -> String {
    let member = String(status.memberID, radix: 16)
    return "etcd-snapshot: using \(url) (member \(member), etcd \(status.version), revision \(status.revision), db \(humanBytes(status.dbSize)))"
  }
}
