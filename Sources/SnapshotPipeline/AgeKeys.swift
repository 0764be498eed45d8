import AgeFormat
import Foundation
import SnapshotCore

extension EncryptionConfiguration {
  /// The recipients to encrypt to, read from the flags and files; a clear error naming the
  /// flag or file and the fix for anything that is not an age recipient.
  package func loadRecipients() throws(SnapshotError) -> [AgeRecipient] {
    if let passphraseFile {
      let passphrase = try readPassphrase(passphraseFile, flag: "--encrypt-passphrase-file")
      do throws(AgeError) { return [try AgeRecipient.passphrase(passphrase)] } catch { throw SnapshotError.age(error, "--encrypt-passphrase-file") }
    }
    var out: [AgeRecipient] = []
    for text in recipients {
      guard !isSecretKey(text) else {
        throw SnapshotError(
          .invalidConfiguration,
          "--encrypt-recipient was given a secret key (an identity), not a recipient: give the `age1…` public key that `age-keygen -y IDENTITY_FILE` prints, and keep the identity off this machine"
        )
      }
      do { out.append(try AgeRecipient.parse(text)) } catch {
        throw SnapshotError(
          .invalidConfiguration,
          "--encrypt-recipient \(quoted(text)) is not an age X25519 recipient (\(error)): give the `age1…` public key that `age-keygen -y IDENTITY_FILE` prints"
        )
      }
    }
    for file in recipientFiles {
      let text = try readText(file, flag: "--encrypt-recipients-file")
      var found = 0
      // Lines are not echoed: a file given here by mistake may hold a secret.
      for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
        let entry = line.trimmingCharacters(in: CharacterSet(charactersIn: " \t\r"))
        if entry.isEmpty || entry.hasPrefix("#") { continue }
        guard !isSecretKey(entry) else {
          throw SnapshotError(
            .invalidConfiguration,
            "--encrypt-recipients-file \(file) line \(index + 1) holds a secret key (an identity), not a recipient: give the public keys (`age-keygen -y \(file)` prints them), and keep the identity off this machine"
          )
        }
        do { out.append(try AgeRecipient.parse(entry)) } catch {
          throw SnapshotError(
            .invalidConfiguration,
            "--encrypt-recipients-file \(file) line \(index + 1) is not an age X25519 recipient: put one `age1…` public key per line (`#` starts a comment)"
          )
        }
        found += 1
      }
      guard found > 0 else {
        throw SnapshotError(.invalidConfiguration, "--encrypt-recipients-file \(file) holds no recipient: put one `age1…` public key per line")
      }
    }
    return out
  }

  /// What a metadata record says the file is encrypted to: the public keys, or `passphrase`.
  package func describedRecipients(_ loaded: [AgeRecipient]) -> [String] {
    loaded.map {
      switch $0 {
      case .x25519(let r): r.string
      case .scrypt: "passphrase"
      }
    }
  }
}

extension DecryptionConfiguration {
  /// The identities to decrypt with; a clear error naming the file for one that cannot be
  /// read or holds no identity. The secrets never appear in messages.
  package func loadIdentities() throws(SnapshotError) -> [AgeIdentity] {
    var out: [AgeIdentity] = []
    for file in identityFiles {
      let text = try readText(file, flag: "--decrypt-identity-file")
      if text.hasPrefix("age-encryption.org/") || text.hasPrefix("-----BEGIN AGE ENCRYPTED FILE-----") {
        throw SnapshotError(
          .invalidConfiguration,
          "--decrypt-identity-file \(file) is itself encrypted: decrypt it first (`age -d -o KEY_FILE \(file)`) and give KEY_FILE")
      }
      do { out += try AgeIdentity.parseIdentityFile(text) } catch {
        throw SnapshotError(
          .invalidConfiguration,
          "--decrypt-identity-file \(file): \(error); give the file `age-keygen -o FILE` wrote")
      }
    }
    if let passphraseFile {
      out.append(.passphrase(try readPassphrase(passphraseFile, flag: "--decrypt-passphrase-file")))
    }
    return out
  }
}

private func isSecretKey(_ text: String) -> Bool {
  text.trimmingCharacters(in: .whitespaces).uppercased().hasPrefix("AGE-SECRET-KEY-")
}

private func readText(_ file: String, flag: String) throws(SnapshotError) -> String {
  do {
    let data = try Data(contentsOf: URL(fileURLWithPath: file))
    guard data.count <= 1 << 20 else { throw SnapshotError(.invalidConfiguration, "\(flag) \(file) is larger than 1 MiB: give a key file") }
    return String(decoding: data, as: UTF8.self)
  } catch let error as SnapshotError {
    throw error
  } catch {
    let reason = (error as NSError).localizedFailureReason ?? (error as NSError).localizedDescription
    throw SnapshotError(.invalidConfiguration, "\(flag) \(file) cannot be read (\(reason)): check the path and its permissions")
  }
}

/// The passphrase: the file's first line, without its line end.
private func readPassphrase(_ file: String, flag: String) throws(SnapshotError) -> String {
  let text = try readText(file, flag: flag)
  let line = text.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
  let passphrase = line.hasSuffix("\r") ? String(line.dropLast()) : line
  guard !passphrase.isEmpty else {
    throw SnapshotError(.invalidConfiguration, "\(flag) \(file) is empty: its first line is the passphrase")
  }
  return passphrase
}
