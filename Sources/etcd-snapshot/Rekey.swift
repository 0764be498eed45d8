import ArgumentParser
import EtcdSnapshot
import Foundation
import SnapshotCore
import SnapshotSettings

struct Rekey: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Give encrypted snapshots new recipients: a new age header, the same payload.",
    discussion: """
      The header is opened with --decrypt-identity-file (an identity of a current recipient) \
      and written anew for the recipients given; the file key, and so the encrypted payload, \
      is unchanged. The file is replaced atomically, with its metadata record. Afterwards the \
      old identities no longer open it.

      With --s3 the objects in the bucket folder are rekeyed in the store: one ranged GET \
      (the header and 8 MiB), then a multipart upload to the same key whose other parts the \
      store copies from the object itself (UploadPartCopy); the object changes only when it \
      completes. A local copy keeps its old header: rekey it without --s3.

      Example:
        etcd-snapshot rekey --decrypt-identity-file old.key --encrypt-recipient age1new... \\
          on-demand-node1-1700000000.zst.age
      """
  )

  @Argument(help: ArgumentHelp("Encrypted snapshots: names as `ls` prints them, or paths.", valueName: "name"))
  var names: [String] = []

  @OptionGroup var directory: DirectoryOptions

  @OptionGroup var decryption: DecryptionOptions

  @OptionGroup var encryption: EncryptionOptions

  @OptionGroup var lock: LockOptions

  @OptionGroup var s3: S3Options

  @OptionGroup var global: GlobalOptions

  func run() async throws {
    try await runReporting(global) { invocation in
      var settings = invocation.settings()
      let storage = directory.configuration(&settings)
      var configuration = RekeyConfiguration(
        storage: storage, names: names, decryption: decryption.configuration(settings), encryption: encryption.configuration(settings),
        waitLock: lock.duration(&settings))
      configuration.s3 = s3.configuration(&settings)
      try invocation.check(settings)
      try await RekeySnapshots(configuration, logger: invocation.logger()).run { done in
        let whom = done.recipients == ["passphrase"] ? "a passphrase" : done.recipients.joined(separator: ", ")
        print("rekeyed \(done.path): now encrypted to \(whom)")
      }
    }
  }
}
