/// Whom `save` encrypts a snapshot to, in the age format (`age-encryption.org/v1`): a user
/// can always decrypt it with the standard `age` tool.
///
/// Only public keys are needed to encrypt: the machine that takes backups cannot read them.
/// A passphrase (scrypt) is the other choice, and age allows it alone only.
package struct EncryptionConfiguration: Sendable, Equatable, Codable {
  /// `--encrypt-recipient age1…`, repeatable.
  package var recipients: [String] = []
  /// `--encrypt-recipients-file FILE`, repeatable: one `age1…` per line, `#` comments.
  package var recipientFiles: [String] = []
  /// `--encrypt-passphrase-file FILE`: the passphrase is the file's first line.
  package var passphraseFile: String?

  package init(recipients: [String] = [], recipientFiles: [String] = [], passphraseFile: String? = nil) {
    self.recipients = recipients
    self.recipientFiles = recipientFiles
    self.passphraseFile = passphraseFile
  }

  /// Whether snapshots are encrypted.
  package var isEnabled: Bool { !recipients.isEmpty || !recipientFiles.isEmpty || passphraseFile != nil }

  /// The suffix an encrypted file gets after its compression's: `NAME.zst.age`.
  package static let fileSuffix = ".age"

  /// Every problem, in words.
  package func problems() -> [String] {
    if passphraseFile != nil && !(recipients.isEmpty && recipientFiles.isEmpty) {
      return [
        "--encrypt-passphrase-file cannot be combined with --encrypt-recipient or --encrypt-recipients-file (age allows a passphrase only alone): give one of them"
      ]
    }
    return []
  }
}

/// How the readers (status, verify, restore, cluster-reset) decrypt an age-encrypted
/// snapshot: `--decrypt-identity-file` (repeatable; `age-keygen`'s file) or
/// `--decrypt-passphrase-file`.
package struct DecryptionConfiguration: Sendable, Equatable, Codable {
  /// Identity files: `AGE-SECRET-KEY-1…` lines, `#` comments.
  package var identityFiles: [String] = []
  /// A file whose first line is the passphrase.
  package var passphraseFile: String?

  package init(identityFiles: [String] = [], passphraseFile: String? = nil) {
    self.identityFiles = identityFiles
    self.passphraseFile = passphraseFile
  }

  /// Whether nothing was given.
  package var isEmpty: Bool { identityFiles.isEmpty && passphraseFile == nil }
}
