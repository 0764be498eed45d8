import Foundation

/// Certificates made by `Tests/Fixtures/make-certs.sh` for one test: a CA, a server certificate for
/// 127.0.0.1, a client certificate with CN `root`, and deliberately wrong ones.
package struct TestCertificates: Sendable {
  /// The folder holding them.
  package let directory: String

  /// Makes a fresh set in `directory`.
  package init(in directory: String) throws {
    self.directory = directory
    try TestProcess.check("/bin/bash", [repositoryRoot() + "/Tests/Fixtures/make-certs.sh", directory], timeout: .seconds(60))
  }

  /// The CA that signed the server and client certificates.
  package var ca: String { directory + "/ca.pem" }
  /// Server certificate and key.
  package var serverCert: String { directory + "/server.pem" }
  /// Server key.
  package var serverKey: String { directory + "/server-key.pem" }
  /// Client certificate, CN=root.
  package var clientCert: String { directory + "/client.pem" }
  /// Client key.
  package var clientKey: String { directory + "/client-key.pem" }
  /// An unrelated CA.
  package var otherCA: String { directory + "/other-ca.pem" }
  /// A CN=root client certificate signed by the unrelated CA.
  package var rogueClientCert: String { directory + "/rogue-client.pem" }
  /// Its key.
  package var rogueClientKey: String { directory + "/rogue-client-key.pem" }
  /// A client certificate for user `nobody`, signed by the right CA.
  package var nobodyCert: String { directory + "/client-nobody.pem" }
  /// Its key.
  package var nobodyKey: String { directory + "/client-nobody-key.pem" }
}
