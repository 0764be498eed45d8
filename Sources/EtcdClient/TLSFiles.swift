import GRPCNIOTransportHTTP2Posix
import SnapshotCore
import SystemFiles

#if canImport(Glibc)
  import Glibc
#endif

/// Turns `--cacert`, `--cert`, `--key` and `--insecure-skip-tls-verify` into transport security.
enum TLSFiles {
  /// Checks that the given files exist and are readable before anything is dialled, so that a
  /// typo gets a message naming the flag instead of a handshake failure.
  static func check(_ c: ConnectionConfiguration) throws(SnapshotError) {
    var problems: [String] = []
    for (flag, path) in [("--cacert", c.caCertPath), ("--cert", c.certPath), ("--key", c.keyPath)] {
      guard let path else { continue }
      if access(path, R_OK) != 0 {
        let code = errno
        problems.append("\(flag) \(path): \(SystemFile.errnoText(code)); give the path of a PEM file")
      }
    }
    guard problems.isEmpty else {
      var error = SnapshotError.invalid(problems)
      error.code = .tls
      throw error
    }
  }

  static func security(_ c: ConnectionConfiguration, tls: Bool) -> HTTP2ClientTransport.Posix.TransportSecurity {
    guard tls else { return .plaintext }
    var config = HTTP2ClientTransport.Posix.TransportSecurity.TLS.defaults
    if let ca = c.caCertPath {
      config.trustRoots = .certificates([.file(path: ca, format: .pem)])
    }
    if let cert = c.certPath, let key = c.keyPath {
      config.certificateChain = [.file(path: cert, format: .pem)]
      config.privateKey = .file(path: key, format: .pem)
    }
    if c.insecureSkipTLSVerify { config.serverCertificateVerification = .noVerification }
    return .tls(config)
  }
}
