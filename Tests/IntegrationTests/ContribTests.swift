import EtcdTestSupport
import Foundation
import Testing
import Yams

/// The files in contrib/ start the agent with arguments that `agent --check-config` accepts.
///
/// Each file's absolute paths (`/etc/…`, `/var/…`) are moved under a temporary root, where the
/// certificates, keys and token files they name are made (real test certificates), and the
/// config files they name are copied from contrib/ with their paths moved the same way.
@Suite("contrib: the systemd unit and the Kubernetes manifests pass agent --check-config")
struct ContribTests {
  /// `/etc/x` → `ROOT/etc/x`, in arguments and in config files.
  private func moved(_ text: String, under root: String) -> String {
    text.replacingOccurrences(of: "/etc/", with: root + "/etc/").replacingOccurrences(of: "/var/lib/", with: root + "/var/lib/")
  }

  /// Makes the files the arguments name: certificates, keys and tokens from the test set, config files from contrib/.
  private func provide(_ arguments: [String], root: String, certificates: TestCertificates, configs: [String: String]) throws {
    for argument in arguments {
      let value = argument.split(separator: "=", maxSplits: 1).last.map(String.init) ?? argument
      guard value.hasPrefix(root + "/") else { continue }
      let dir = (value as NSString).deletingLastPathComponent
      try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
      let name = (value as NSString).lastPathComponent
      if let source = configs[name] {
        try moved(try String(contentsOfFile: source, encoding: .utf8), under: root).write(toFile: value, atomically: true, encoding: .utf8)
        // The config names certificate files too.
        let config = try String(contentsOfFile: value, encoding: .utf8)
        let paths = config.split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init).filter { $0.hasPrefix(root + "/") }
        try provide(paths, root: root, certificates: certificates, configs: [:])
      } else if name.hasSuffix(".key") {
        try FileManager.default.copyItem(atPath: certificates.clientKey, toPath: value)
      } else if name.contains("ca.") || name.hasSuffix("-ca.crt") {
        try FileManager.default.copyItem(atPath: certificates.ca, toPath: value)
      } else if name.hasSuffix(".crt") || name.hasSuffix(".pem") {
        try FileManager.default.copyItem(atPath: certificates.clientCert, toPath: value)
      } else if name.contains("token") {
        try "a-token\n".write(toFile: value, atomically: true, encoding: .utf8)
      }
    }
  }

  private func check(_ arguments: [String], configs: [String: String] = [:], what: String) throws {
    let root = try TemporaryDirectory(prefix: "contrib")
    let certificates = try TestCertificates(in: root.appending("certs"))
    #expect(arguments.first == "agent", "\(what) runs the agent: \(arguments)")
    let args = Array(arguments.dropFirst()).map { moved($0, under: root.path) }
    try provide(args, root: root.path, certificates: certificates, configs: configs)
    let r = try Tool.run(["agent", "--check-config"] + args, environment: ["K3S_NODE_NAME": "server-1"])
    #expect(r.status == 0, "\(what): \(r)")
    #expect(r.stdout.contains("configuration is valid") && r.stdout.contains("next runs:"), "\(what): \(r.stdout)")
  }

  @Test("contrib/systemd/etcd-snapshot-agent.service, with contrib/systemd/config.yaml")
  func systemdUnit() throws {
    let root = repositoryRoot() + "/contrib/systemd"
    let unit = try String(contentsOfFile: root + "/etcd-snapshot-agent.service", encoding: .utf8)
    let exec = try #require(unit.split(separator: "\n").first { $0.hasPrefix("ExecStart=") })
    let words = exec.dropFirst("ExecStart=".count).split(separator: " ").map(String.init)
    #expect(words.first == "/usr/local/bin/etcd-snapshot")
    try check(Array(words.dropFirst()), configs: ["config.yaml": root + "/config.yaml"], what: "the systemd unit")
  }

  @Test("contrib/kubernetes manifests: the kubeadm static pod and the k3s DaemonSet", arguments: ["kubeadm-static-pod.yaml", "k3s-daemonset.yaml"])
  func manifest(file: String) throws {
    let text = try String(contentsOfFile: repositoryRoot() + "/contrib/kubernetes/" + file, encoding: .utf8)
    let document = try #require(try Yams.load(yaml: text) as? [String: Any])
    var spec = try #require(document["spec"] as? [String: Any])
    if let template = spec["template"] as? [String: Any], let inner = template["spec"] as? [String: Any] { spec = inner }
    let containers = try #require(spec["containers"] as? [[String: Any]])
    let arguments = try #require(containers.first?["args"] as? [String])
    // A k3s config.yaml as a k3s server node has it, with k3s's own snapshots turned off.
    let k3sConfig = try TemporaryDirectory(prefix: "k3s")
    try """
    token: K10secret::server:secret
    cluster-init: true
    etcd-disable-snapshots: true
    etcd-snapshot-schedule-cron: "0 */6 * * *"
    etcd-snapshot-retention: 10
    """.write(toFile: k3sConfig.appending("config.yaml"), atomically: true, encoding: .utf8)
    try check(arguments, configs: ["config.yaml": k3sConfig.appending("config.yaml")], what: file)
    if file == "k3s-daemonset.yaml" {
      let root = try TemporaryDirectory(prefix: "contrib")
      let certificates = try TestCertificates(in: root.appending("certs"))
      let args = Array(arguments.dropFirst()).map { moved($0, under: root.path) }
      try provide(args, root: root.path, certificates: certificates, configs: ["config.yaml": k3sConfig.appending("config.yaml")])
      let r = try Tool.run(["agent", "--check-config"] + args, environment: ["K3S_NODE_NAME": "server-1"])
      #expect(r.stdout.contains("schedule: 0 */6 * * *"), "k3s's schedule from its config.yaml: \(r.stdout)")
      #expect(r.stdout.contains("etcd-snapshot-server-1-<unix time>, retention 10"), "k3s's retention and node name: \(r.stdout)")
    }
  }
}
