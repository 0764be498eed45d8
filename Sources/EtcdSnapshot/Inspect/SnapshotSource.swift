import Logging
import SnapshotCore

/// The snapshot a command reads: a path, or a name that `ls` prints, looked up in the
/// snapshot directory, or with `s3` in the bucket folder (downloaded and checked first).
package struct SnapshotSource: Sendable {
  /// The path or name as given.
  package var argument: String
  /// Where names are looked up, and where S3 downloads go.
  package var storage: SnapshotDirectoryConfiguration
  /// The bucket folder, with `--s3`.
  package var s3: S3Configuration?
  /// The identities an encrypted snapshot is decrypted with (`--decrypt-identity-file`).
  package var decryption: DecryptionConfiguration

  /// The snapshot `argument`.
  package init(
    _ argument: String, storage: SnapshotDirectoryConfiguration, s3: S3Configuration? = nil,
    decryption: DecryptionConfiguration = DecryptionConfiguration()
  ) {
    self.argument = argument
    self.storage = storage
    self.s3 = s3
    self.decryption = decryption
  }

  /// How messages name the snapshot read from `path`: its `s3://` address, or the path.
  package func address(reading path: String) -> String {
    s3.map { $0.address(of: argument) } ?? path
  }

  /// Runs `body` with a local file of the snapshot and its metadata record (see
  /// `SnapshotReference.withLocalFile`).
  package func withLocalFile<T: Sendable>(
    logger: Logger, _ body: (_ path: String, _ metadata: SnapshotMetadata?) async throws -> T
  ) async throws(SnapshotError) -> T {
    try await SnapshotReference.withLocalFile(argument, in: storage, s3: s3, decryption: decryption, logger: logger, body)
  }
}
