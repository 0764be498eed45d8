import EtcdTestSupport
import Foundation
import Testing
import Yams

/// The configuration layer as a k3s user meets it: config files, variables and k3s's flag
/// spellings, through the built executable.
@Suite("Config files, ETCD_SNAPSHOT_* variables and k3s spellings")
struct ConfigTests {
  private static let names = (1...4).map { "on-demand-n1-\(1_700_000_000 + $0 * 60)" } + (1...2).map { "on-demand-n2-\(1_700_000_000 + $0 * 60)" }

  @Test("a k3s config.yaml works as it is: shared keys apply, server keys give one warning each naming file and line")
  func k3sConfigFile() async throws {
    let work = try TemporaryDirectory(prefix: "config-k3s")
    let dir = work.appending("snaps")
    try await populateSnapshots(dir, names: Self.names)
    let config = work.appending("config.yaml")
    try """
    token: a-secret-token
    tls-san:
      - k3s.example.com
    cluster-init: true
    node-name: n1
    etcd-snapshot-retention: 2
    etcd-snapshot-dir: \(dir)
    """.write(toFile: config, atomically: true, encoding: .utf8)
    let r = try Tool.run(["prune", "--config", config])
    #expect(r.status == 0, "\(r)")
    #expect(r.stderr.contains("\(config):1: `token` is not an etcd-snapshot setting; ignored"), "\(r.stderr)")
    #expect(r.stderr.contains("\(config):2: `tls-san` is not an etcd-snapshot setting; ignored"), "\(r.stderr)")
    #expect(r.stderr.contains("\(config):4: `cluster-init` is not an etcd-snapshot setting; ignored"), "\(r.stderr)")
    #expect(!r.stderr.contains("a-secret-token"))
    // node-name n1 (k3s prunes its own node's snapshots), retention 2: n2 is untouched.
    let left = try Tool.list(dir).map(\.name).sorted()
    #expect(left == ["on-demand-n1-1700000180", "on-demand-n1-1700000240", "on-demand-n2-1700000060", "on-demand-n2-1700000120"])
  }

  @Test("k3s's command line is accepted: prune --node-name n1 --snapshot-retention 3, and -d, --etcd-snapshot-dir")
  func k3sCommandLine() async throws {
    let work = try TemporaryDirectory(prefix: "config-flags")
    let dir = work.appending("snaps")
    try await populateSnapshots(dir, names: Self.names)
    let r = try Tool.run(["prune", "--node-name", "n1", "--snapshot-retention", "3", "--etcd-snapshot-dir", dir, "-d", work.appending("data")])
    #expect(r.status == 0, "\(r)")
    #expect(r.stdout.contains("deleted on-demand-n1-1700000060"), "\(r)")
    #expect(try Tool.list(dir).count == 5)
    // K3S_NODE_NAME is k3s's variable for --node-name.
    let viaEnv = try Tool.run(["prune", "--etcd-snapshot-retention", "1", "--dir", dir], environment: ["K3S_NODE_NAME": "n2"])
    #expect(viaEnv.status == 0, "\(viaEnv)")
    #expect(try Tool.list(dir).map(\.name).filter { $0.contains("-n2-") } == ["on-demand-n2-1700000120"])
  }

  @Test("retention 0 never prunes, as in k3s; a negative one is refused")
  func retentionZero() async throws {
    let work = try TemporaryDirectory(prefix: "config-zero")
    let dir = work.appending("snaps")
    try await populateSnapshots(dir, names: Self.names)
    let r = try Tool.run(["prune", "--dir", dir, "--snapshot-retention", "0"])
    #expect(r.status == 0, "\(r)")
    #expect(r.stdout.contains("retention 0 keeps every snapshot"), "\(r)")
    #expect(try Tool.list(dir).count == 6)
    let negative = try Tool.run(["prune", "--dir", dir], environment: ["ETCD_SNAPSHOT_SNAPSHOT_RETENTION": "-1"])
    #expect(negative.status == 64, "\(negative)")
    #expect(negative.stderr.contains("ETCD_SNAPSHOT_SNAPSHOT_RETENTION `-1` is not a whole number of at least 0"), "\(negative)")
    #expect(try Tool.list(dir).count == 6)
  }

  @Test("every bad value is reported at once, naming file, line and key, or the variable; nothing is pruned")
  func badValuesAtOnce() async throws {
    let work = try TemporaryDirectory(prefix: "config-bad")
    let dir = work.appending("snaps")
    try await populateSnapshots(dir, names: Self.names)
    let config = work.appending("config.yaml")
    try "etcd-snapshot-dir: \(dir)\netcd-snapshot-retention: few\n".write(toFile: config, atomically: true, encoding: .utf8)
    try FileManager.default.createDirectory(atPath: config + ".d", withIntermediateDirectories: true)
    try "etcd-s3: true\netcd-s3-timeout: soon\n".write(toFile: config + ".d/50-s3.yaml", atomically: true, encoding: .utf8)
    let r = try Tool.run(["prune"], environment: ["ETCD_SNAPSHOT_CONFIG_FILE": config, "ETCD_SNAPSHOT_WAIT_LOCK": "later"])
    #expect(r.status == 64, "\(r)")
    #expect(r.stderr.contains("\(config):2: etcd-snapshot-retention `few` is not a whole number of at least 0"), "\(r.stderr)")
    #expect(r.stderr.contains("\(config).d/50-s3.yaml:2: etcd-s3-timeout `soon` is not a positive duration"), "\(r.stderr)")
    #expect(r.stderr.contains("ETCD_SNAPSHOT_WAIT_LOCK `later` is not a duration"), "\(r.stderr)")
    #expect(try Tool.list(dir).count == 6)
    // A named file that is not there is an error, not silence.
    let missing = try Tool.run(["ls", "-c", work.appending("nope.yaml"), "--dir", dir])
    #expect(missing.status == 64, "\(missing)")
    #expect(missing.stderr.contains("nope.yaml does not exist: check --config or ETCD_SNAPSHOT_CONFIG_FILE"), "\(missing)")
  }

  @Test("precedence: a flag over ETCD_SNAPSHOT_* over the file; an empty variable is unset")
  func precedence() async throws {
    let work = try TemporaryDirectory(prefix: "config-order")
    let fromFile = work.appending("from-file")
    let fromEnv = work.appending("from-env")
    let fromFlag = work.appending("from-flag")
    for d in [fromFile, fromEnv, fromFlag] { try await populateSnapshots(d, names: ["on-demand-x-1700000000"]) }
    let config = work.appending("config.yaml")
    try "dir: \(fromFile)\n".write(toFile: config, atomically: true, encoding: .utf8)
    func listed(_ args: [String], _ env: [String: String]) throws -> String {
      let r = try Tool.run(["ls", "-o", "json", "-c", config] + args, environment: env)
      guard r.status == 0 else { throw HarnessError("ls failed: \(r)") }
      let rows = try JSONDecoder().decode([Listed].self, from: Data(r.stdout.utf8))
      return URL(fileURLWithPath: try #require(rows.first).path).deletingLastPathComponent().path
    }
    #expect(try listed([], [:]) == fromFile)
    #expect(try listed([], ["ETCD_SNAPSHOT_DIR": ""]) == fromFile)
    #expect(try listed([], ["ETCD_SNAPSHOT_ETCD_SNAPSHOT_DIR": fromEnv]) == fromEnv)
    #expect(try listed(["--dir", fromFlag], ["ETCD_SNAPSHOT_DIR": fromEnv]) == fromFlag)
  }

  @Test("k3s's --etcd-s3-* spellings, ETCD_SNAPSHOT_S3_* variables and a config file reach the same bucket; ls -o yaml and -o json agree")
  func s3Spellings() async throws {
    let s3 = try await S3Fixture()
    let server = try await EtcdServer(.etcd35)
    try server.putKeys(prefix: "/config/", count: 20)
    let saved = try Tool.run(
      ["save"] + server.connectionArguments + [
        "--dir", s3.dir, "--node-name", "n1", "--etcd-s3", "--etcd-s3-endpoint", s3.moto.endpoint, "--etcd-s3-insecure",
        "--etcd-s3-bucket", s3.bucket, "--etcd-s3-folder", s3.folder,
      ], environment: s3.environment, timeout: .seconds(300))
    #expect(saved.status == 0, "\(saved)")
    let name = try S3Fixture.name(from: saved)
    #expect(try s3.objects().map(\.key).contains(s3.folder + name))

    let config = s3.work.appending("config.yaml")
    try """
    etcd-s3: true
    etcd-s3-endpoint: \(s3.moto.endpoint)
    etcd-s3-insecure: true
    etcd-s3-folder: \(s3.folder)
    """.write(toFile: config, atomically: true, encoding: .utf8)
    var env = s3.environment
    env["ETCD_SNAPSHOT_S3_BUCKET"] = s3.bucket
    let json = try Tool.run(["ls", "-c", config, "--dir", s3.dir, "-o", "json"], environment: env)
    #expect(json.status == 0, "\(json)")
    let yaml = try Tool.run(["ls", "-c", config, "--dir", s3.dir, "--output", "yaml"], environment: env)
    #expect(yaml.status == 0, "\(yaml)")
    let fromJSON = try JSONDecoder().decode([ListedS3].self, from: Data(json.stdout.utf8))
    let fromYAML = try YAMLDecoder().decode([ListedS3].self, from: yaml.stdout)
    #expect(fromJSON == fromYAML)
    #expect(Set(fromYAML.map(\.location)) == ["local", "s3"], "\(yaml.stdout)")
    #expect(fromYAML.allSatisfy { $0.name == name })
    // --no-s3 turns off what the file turned on.
    let localOnly = try Tool.list(s3.dir, extra: ["-c", config, "--no-etcd-s3"], environment: env, as: ListedS3.self)
    #expect(localOnly.map(\.location) == ["local"])
  }

  @Test("--log FILE takes the messages (0600, appended); --alsologtostderr copies them to stderr")
  func logFile() async throws {
    let work = try TemporaryDirectory(prefix: "config-log")
    let dir = work.appending("snaps")
    try await populateSnapshots(dir, names: Self.names)
    let log = work.appending("etcd-snapshot.log")
    let config = work.appending("config.yaml")
    try "token: x\n".write(toFile: config, atomically: true, encoding: .utf8)
    let r = try Tool.run(["ls", "--dir", dir, "-c", config, "--log", log])
    #expect(r.status == 0, "\(r)")
    #expect(!r.stderr.contains("`token`"), "\(r.stderr)")
    let text = try String(contentsOfFile: log, encoding: .utf8)
    #expect(text.contains("`token` is not an etcd-snapshot setting"), "\(text)")
    #expect(try mode(log) & 0o777 == 0o600)
    let both = try Tool.run(["ls", "--dir", dir, "-c", config, "-l", log, "--alsologtostderr"])
    #expect(both.stderr.contains("`token` is not an etcd-snapshot setting"), "\(both.stderr)")
    let lines = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n").filter { $0.contains("`token`") }
    #expect(lines.count == 2)
  }

  @Test("--help names the variable of every flag")
  func helpShowsVariables() throws {
    for (command, variables) in [
      (
        "save",
        ["ETCD_SNAPSHOT_ENDPOINTS, ETCDCTL_ENDPOINTS", "ETCD_SNAPSHOT_NODE_NAME, K3S_NODE_NAME", "ETCD_SNAPSHOT_S3_BUCKET", "ETCD_SNAPSHOT_DIR"]
      ),
      ("prune", ["ETCD_SNAPSHOT_SNAPSHOT_RETENTION", "ETCD_SNAPSHOT_S3_RETENTION", "ETCD_SNAPSHOT_NAME", "ETCD_SNAPSHOT_LOG"]),
      ("ls", ["ETCD_SNAPSHOT_OUTPUT", "ETCD_SNAPSHOT_S3_ACCESS_KEY, AWS_ACCESS_KEY_ID"]),
    ] {
      let r = try Tool.run([command, "--help"])
      #expect(r.status == 0, "\(r)")
      let flat = r.stdout.split(whereSeparator: \.isWhitespace).joined(separator: " ")
      for v in variables { #expect(flat.contains(v), "\(command) --help lacks \(v)") }
      #expect(flat.contains("--etcd-s3-bucket"), "\(command) --help lacks --etcd-s3-bucket")
    }
  }

  @Test("a realistic k3s config.yaml (server keys included) drives save --s3, ls and prune")
  func k3sConfigDrivesS3() async throws {
    let s3 = try await S3Fixture()
    let server = try await EtcdServer(.etcd35)
    try server.putKeys(prefix: "/k3s/", count: 20)
    let config = s3.work.appending("config.yaml")
    try """
    # /etc/rancher/k3s/config.yaml of a k3s server
    token: K10abcdef::server:0123456789
    tls-san:
      - k3s.example.com
      - 10.0.0.10
    cluster-init: true
    disable:
      - traefik
      - servicelb
    write-kubeconfig-mode: "0644"
    node-name: cp-1
    etcd-snapshot-schedule-cron: "0 */6 * * *"
    etcd-snapshot-retention: 2
    etcd-snapshot-dir: \(s3.dir)
    etcd-s3: true
    etcd-s3-endpoint: \(s3.moto.endpoint)
    etcd-s3-insecure: true
    etcd-s3-bucket: \(s3.bucket)
    etcd-s3-folder: \(s3.folder)
    etcd-s3-retention: 1
    etcd-s3-timeout: 2m
    """.write(toFile: config, atomically: true, encoding: .utf8)
    var names: [String] = []
    for i in 0..<3 {
      let r = try Tool.run(["save", "-c", config] + server.connectionArguments, environment: s3.environment, timeout: .seconds(300))
      #expect(r.status == 0, "\(r)")
      if i == 0 {
        for key in ["token", "tls-san", "cluster-init", "disable", "write-kubeconfig-mode"] {
          #expect(r.stderr.contains("\(config):") && r.stderr.contains("`\(key)` is not an etcd-snapshot setting"), "\(key): \(r.stderr)")
        }
        #expect(!r.stderr.contains("K10abcdef"), "the token's value is never printed")
      }
      names.append(try S3Fixture.name(from: r))
      #expect(names.last?.hasPrefix("on-demand-cp-1-") == true)
      try await Task.sleep(for: .milliseconds(1100))  // names are unique per second
    }
    let listed = try Tool.run(["ls", "-c", config, "-o", "json"], environment: s3.environment)
    #expect(listed.status == 0, "\(listed)")
    let rows = try JSONDecoder().decode([ListedS3].self, from: Data(listed.stdout.utf8))
    #expect(rows.filter { $0.location == "s3" }.count == 3 && rows.filter { $0.location == "local" }.count == 3)
    let pruned = try Tool.run(["prune", "-c", config], environment: s3.environment)
    #expect(pruned.status == 0, "\(pruned)")
    let after = try JSONDecoder().decode(
      [ListedS3].self, from: Data(try Tool.run(["ls", "-c", config, "-o", "json"], environment: s3.environment).stdout.utf8))
    // etcd-snapshot-retention 2 locally, etcd-s3-retention 1 in the bucket: the newest stay.
    #expect(Set(after.filter { $0.location == "local" }.map(\.name)) == Set(names.suffix(2)))
    #expect(after.filter { $0.location == "s3" }.map(\.name) == [names[2]])
  }

  @Test("every k3s spelling of the README table is accepted by each k3s subcommand")
  func everyK3sSpelling() throws {
    let spellings =
      [
        "--debug", "--config", "-c", "--log", "-l", "--alsologtostderr", "--node-name", "--data-dir", "-d", "--dir", "--etcd-snapshot-dir",
        "--name", "--s3", "--etcd-s3",
      ]
      + [
        "endpoint", "endpoint-ca", "skip-ssl-verify", "insecure", "access-key", "secret-key", "session-token", "bucket", "bucket-lookup-type",
        "region", "folder", "proxy", "timeout", "retention", "config-secret",
      ].flatMap { ["--s3-\($0)", "--etcd-s3-\($0)"] }
    for command in ["save", "ls", "delete", "prune"] {
      let r = try Tool.run([command, "--help"])
      #expect(r.status == 0, "\(r)")
      let words = Set(r.stdout.split(whereSeparator: { $0.isWhitespace || $0 == "," || $0 == "/" }).map(String.init))
      for spelling in spellings { #expect(words.contains(spelling), "\(command) does not take \(spelling)") }
    }
    for (command, extra) in [
      ("save", ["--snapshot-compress", "--etcd-snapshot-compress"]), ("prune", ["--snapshot-retention", "--etcd-snapshot-retention"]),
      ("ls", ["-o", "--output"]),
    ] {
      let r = try Tool.run([command, "--help"])
      let words = Set(r.stdout.split(whereSeparator: { $0.isWhitespace || $0 == "," || $0 == "/" }).map(String.init))
      for spelling in extra { #expect(words.contains(spelling), "\(command) does not take \(spelling)") }
    }
  }

  @Test("a k3s data dir (-d or data-dir in a k3s config.yaml) is read where k3s keeps snapshots: DIR/server/db/snapshots")
  func k3sDataDir() async throws {
    let work = try TemporaryDirectory(prefix: "config-k3s-data")
    let k3s = work.appending("rancher-k3s")
    let snapshots = k3s + "/server/db/snapshots"
    try await populateSnapshots(snapshots, names: ["on-demand-cp-1-1700000000", "etcd-snapshot-cp-1-1700000060"])
    try FileManager.default.setAttributes([.posixPermissions: 0o700], ofItemAtPath: snapshots)
    let r = try Tool.run(["ls", "-d", k3s, "-o", "json"])
    #expect(r.status == 0, "\(r)")
    let rows = try JSONDecoder().decode([Listed].self, from: Data(r.stdout.utf8))
    #expect(Set(rows.map(\.name)) == ["on-demand-cp-1-1700000000", "etcd-snapshot-cp-1-1700000060"])
    let config = work.appending("config.yaml")
    try "data-dir: \(k3s)\ntoken: x\n".write(toFile: config, atomically: true, encoding: .utf8)
    let viaFile = try Tool.run(["ls", "-c", config, "-o", "json"])
    #expect(viaFile.status == 0, "\(viaFile)")
    #expect(try JSONDecoder().decode([Listed].self, from: Data(viaFile.stdout.utf8)).count == 2)
    // Our own layout (DIR/snapshots) is left as it is.
    let ours = work.appending("ours")
    try await populateSnapshots(ours + "/snapshots", names: ["on-demand-n-1700000000"])
    try FileManager.default.setAttributes([.posixPermissions: 0o700], ofItemAtPath: ours + "/snapshots")
    #expect(try Tool.list(ours + "/snapshots").count == 1)
    let r2 = try Tool.run(["ls", "-d", ours, "-o", "json"])
    #expect(try JSONDecoder().decode([Listed].self, from: Data(r2.stdout.utf8)).map(\.name) == ["on-demand-n-1700000000"])
  }
}
