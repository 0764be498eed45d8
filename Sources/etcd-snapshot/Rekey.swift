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

  @OptionGroup var global: GlobalOptions

  func run() async throws {
    try await runReporting(global) { invocation in
      var settings = invocation.settings()
      let storage = directory.configuration(&settings)
      let configuration = RekeyConfiguration(
        storage: storage, names: names, decryption: decryption.configuration(settings), encryption: encryption.configuration(settings),
        waitLock: lock.duration(&settings))
      try invocation.check(settings)
      try await RekeySnapshots(configuration, logger: invocation.logger()).run { done in
        let whom = done.recipients == ["passphrase"] ? "a passphrase" : done.recipients.joined(separator: ", ")
        print("rekeyed \(done.path): now encrypted to \(whom)")
      }
    }
  }
}
