import AgeFormat
import SnapshotCore

/// age encryption as a pipeline stage: the header (one stanza per recipient) and the payload
/// nonce come first, then the payload in 64 KiB chunks, as `age -r` writes it.
package final class AgeEncryptStage: ByteStage {
  private var encryptor: AgeEncryptor

  /// Encrypts to `recipients` (`age1…` public keys, or a passphrase) with a fresh file key.
  package init(recipients: [AgeRecipient]) throws(SnapshotError) {
    do throws(AgeError) { encryptor = try AgeEncryptor(recipients: recipients) } catch { throw SnapshotError.age(error, "encrypting") }
  }

  package func update(_ input: UnsafeRawBufferPointer, into output: inout [UInt8]) throws(SnapshotError) {
    do throws(AgeError) { try encryptor.update(input, into: &output) } catch {
      throw SnapshotError.age(error, "encrypting")
    }
  }

  package func finish(into output: inout [UInt8]) throws(SnapshotError) {
    do throws(AgeError) { try encryptor.finish(into: &output) } catch { throw SnapshotError.age(error, "encrypting") }
  }
}

/// age decryption as a pipeline stage. It releases only plaintext of chunks that
/// authenticated, but a file cut at a chunk boundary is only found by `finish`: a caller
/// writes what it gets to a private file and uses it only after `finish` returned.
package final class AgeDecryptStage: ByteStage {
  private var decryptor: AgeDecryptor

  /// Decrypts with any of `identities`.
  package init(identities: [AgeIdentity]) {
    decryptor = AgeDecryptor(identities: identities)
  }

  package func update(_ input: UnsafeRawBufferPointer, into output: inout [UInt8]) throws(SnapshotError) {
    do throws(AgeError) { try decryptor.update(input, into: &output) } catch {
      throw SnapshotError.age(error, "decrypting")
    }
  }

  package func finish(into output: inout [UInt8]) throws(SnapshotError) {
    do throws(AgeError) { try decryptor.finish(into: &output) } catch { throw SnapshotError.age(error, "decrypting") }
  }
}

extension SnapshotError {
  /// An age failure in words: a damaged or cut file is `.corrupt`; no matching identity is a
  /// configuration problem.
  package static func age(_ error: AgeError, _ doing: String) -> SnapshotError {
    switch error {
    case .noIdentityMatched, .scryptWorkFactorTooHigh:
      SnapshotError(.invalidConfiguration, "\(doing): \(error)")
    case .invalidRecipient, .invalidIdentity, .invalidRecipientSet:
      SnapshotError(.invalidConfiguration, "\(doing): \(error)")
    default:
      SnapshotError(.corrupt, "\(doing): \(error) (damaged, cut or changed after it was written)")
    }
  }
}
