import EtcdTestSupport
import Foundation
import SnapshotCore
import SnapshotSettings
import Testing

@Suite("Config files, variables and flags, merged")
struct SettingsLayerTests {
  private func file(_ text: String, path: String = "/etc/etcd-snapshot/config.yaml") -> ConfigFile {
    let (file, problems) = ConfigFile.parse(text, path: path)
    #expect(problems.isEmpty, "\(problems)")
    return file
  }

  @Test("a k3s config.yaml: shared keys apply in either spelling, server keys give one warning each naming file and line")
  func k3sConfig() {
    let text = """
      token: secret-token
      tls-san:
        - a.example
        - b.example
      cluster-init: true
      disable: [traefik]
      node-name: n1
      etcd-snapshot-retention: 3
      etcd-s3: true
      etcd-s3-bucket: backups
      s3-folder: etcd
      etcd-snapshot-dir: /var/backups/etcd
      """
    let layer = SettingsLayer(files: [file(text, path: "/etc/rancher/k3s/config.yaml")], environment: [:])
    #expect(layer.problems.isEmpty, "\(layer.problems)")
    #expect(
      layer.warnings == [
        "/etc/rancher/k3s/config.yaml:1: `token` is not an etcd-snapshot setting; ignored",
        "/etc/rancher/k3s/config.yaml:2: `tls-san` is not an etcd-snapshot setting; ignored",
        "/etc/rancher/k3s/config.yaml:5: `cluster-init` is not an etcd-snapshot setting; ignored",
        "/etc/rancher/k3s/config.yaml:6: `disable` is not an etcd-snapshot setting; ignored",
      ])
    #expect(layer.value(.nodeName) == SettingValue(values: ["n1"], origin: .file(path: "/etc/rancher/k3s/config.yaml", line: 7, key: "node-name")))
    #expect(layer.value(.snapshotRetention)?.values == ["3"])
    #expect(layer.value(.s3)?.values == ["true"])
    #expect(layer.value(.s3Bucket)?.values == ["backups"])
    #expect(layer.value(.s3Folder)?.values == ["etcd"])
    #expect(layer.value(.dir)?.values == ["/var/backups/etcd"])
  }

  @Test("precedence: flag over variable over later file over earlier file over default")
  func precedence() {
    let main = file("s3-bucket: from-main\ns3-region: eu-west-1\nname: main\n")
    let dropIn = file("etcd-s3-bucket: from-drop-in\n", path: "/etc/etcd-snapshot/config.yaml.d/10-bucket.yaml")
    let env = ["ETCD_SNAPSHOT_NAME": "from-env", "ETCD_SNAPSHOT_S3_REGION": ""]
    var reader = SettingsReader(SettingsLayer(files: [main, dropIn], environment: env))
    #expect(reader.string(.s3Bucket, flag: nil) == "from-drop-in")
    #expect(
      reader.sourced(.s3Bucket, flag: nil)?.origin == .file(path: "/etc/etcd-snapshot/config.yaml.d/10-bucket.yaml", line: 1, key: "etcd-s3-bucket"))
    #expect(reader.string(.s3Bucket, flag: "from-flag") == "from-flag")
    #expect(reader.string(.name, flag: nil) == "from-env")
    #expect(reader.string(.name, flag: "flag") == "flag")
    // An empty variable is unset: the file's value shows through.
    #expect(reader.string(.s3Region, flag: nil) == "eu-west-1")
    #expect(reader.string(.s3Folder, flag: nil) == nil)
    #expect(reader.int(.snapshotRetention, flag: nil) == nil)
    #expect(reader.problems.isEmpty)
  }

  @Test("every spelling has its ETCD_SNAPSHOT_ variable; other tools' variables come after ours")
  func variables() {
    #expect(SettingKey.s3Bucket.variable == "ETCD_SNAPSHOT_S3_BUCKET")
    #expect(SettingKey.s3Bucket.variables == ["ETCD_SNAPSHOT_S3_BUCKET", "ETCD_SNAPSHOT_ETCD_S3_BUCKET"])
    #expect(SettingKey.nodeName.variables == ["ETCD_SNAPSHOT_NODE_NAME", "K3S_NODE_NAME"])
    let both = SettingsLayer(environment: ["K3S_NODE_NAME": "k3s", "ETCD_SNAPSHOT_NODE_NAME": "ours"])
    #expect(both.value(.nodeName)?.values == ["ours"])
    let k3s = SettingsLayer(environment: ["K3S_NODE_NAME": "k3s"])
    #expect(k3s.value(.nodeName) == SettingValue(values: ["k3s"], origin: .environment("K3S_NODE_NAME")))
    let alias = SettingsLayer(environment: ["ETCD_SNAPSHOT_ETCD_S3_BUCKET": "b"])
    #expect(alias.value(.s3Bucket)?.values == ["b"])
  }

  @Test("lists: a sequence replaces, key+: appends across files, a variable splits on commas")
  func lists() {
    let first = file("endpoints:\n  - https://a:2379\n  - https://b:2379\n")
    let second = file("endpoints+: [https://c:2379]\n", path: "/etc/etcd-snapshot/config.yaml.d/20.yaml")
    let layer = SettingsLayer(files: [first, second], environment: [:])
    #expect(layer.value(.endpoints)?.values == ["https://a:2379", "https://b:2379", "https://c:2379"])
    let replaced = SettingsLayer(files: [first, file("endpoints: https://d:2379\n", path: "/x.yaml")], environment: [:])
    #expect(replaced.value(.endpoints)?.values == ["https://d:2379"])
    let env = SettingsLayer(files: [first], environment: ["ETCDCTL_ENDPOINTS": "https://e:2379, https://f:2379"])
    #expect(env.value(.endpoints)?.values == ["https://e:2379", "https://f:2379"])
    let reader = SettingsReader(layer)
    #expect(reader.list(.endpoints, flag: ["https://g:2379"]) == ["https://g:2379"])
  }

  @Test("an empty value in a later file unsets the key")
  func emptyUnsets() {
    let layer = SettingsLayer(files: [file("s3-bucket: b\n"), file("s3-bucket:\n", path: "/y.yaml")], environment: [:])
    #expect(layer.value(.s3Bucket) == nil)
  }

  @Test("every bad value is reported at once, each naming file, line and key")
  func badValues() {
    let text = """
      etcd-s3-timeout: soon
      etcd-snapshot-retention: many
      s3-bucket:
        - a
        - b
      name+: x
      etcd-s3-skip-ssl-verify: perhaps
      """
    let path = "/etc/etcd-snapshot/config.yaml"
    let layer = SettingsLayer(files: [file(text, path: path)], environment: [:])
    #expect(
      layer.problems == [
        "\(path):3: s3-bucket is given a list, but --s3-bucket takes one value",
        "\(path):6: name+ appends to a list, but --name takes one value",
      ])
    var reader = SettingsReader(layer)
    #expect(reader.duration(.s3Timeout, flag: nil, positive: true, example: "5m") == nil)
    #expect(reader.int(.snapshotRetention, flag: nil, minimum: 0) == nil)
    #expect(reader.bool(.s3SkipSSLVerify, flag: nil) == false)
    #expect(
      reader.problems == [
        "\(path):1: etcd-s3-timeout `soon` is not a positive duration: write it like 5m",
        "\(path):2: etcd-snapshot-retention `many` is not a whole number of at least 0",
        "\(path):7: etcd-s3-skip-ssl-verify `perhaps` is not true or false",
      ])
  }

  @Test("YAML that does not parse, or is not a mapping, is a problem naming the file and the line")
  func badYAML() {
    let (_, broken) = ConfigFile.parse("s3-secret-key: hush\ns3-bucket: [unclosed\n", path: "/c.yaml")
    #expect(broken.count == 1)
    #expect(broken.first?.hasPrefix("/c.yaml:3: not valid YAML (") == true, "\(broken)")
    // The message never quotes the file: it may hold secrets.
    #expect(broken.first?.contains("hush") == false, "\(broken)")
    let (_, twice) = ConfigFile.parse("token: first-secret\nnode-name: n1\ntoken: second-secret\n", path: "/t.yaml")
    #expect(twice.count == 1)
    #expect(twice.first?.hasPrefix("/t.yaml:") == true && twice.first?.contains("`token`") == true, "\(twice)")
    #expect(twice.first?.contains("secret") == false, "\(twice)")
    let (_, list) = ConfigFile.parse("- a\n- b\n", path: "/l.yaml")
    #expect(list == ["/l.yaml:1: the file must be a mapping of flag names to values (for example `etcd-s3-bucket: backups`)"])
    let (_, nested) = ConfigFile.parse("s3:\n  bucket: b\n", path: "/n.yaml")
    #expect(nested == ["/n.yaml:1: s3: the value must be a plain value or a list, not a mapping"])
    let (empty, none) = ConfigFile.parse("# nothing yet\n", path: "/e.yaml")
    #expect(none.isEmpty && empty.entries.isEmpty)
  }

  @Test("booleans: Go's spellings and yes/no; a flag's --no-x turns off a file's true")
  func booleans() {
    for yes in ["true", "True", "1", "yes", "on", "t"] { #expect(SettingsReader.parseBool(yes) == true, "\(yes)") }
    for no in ["false", "FALSE", "0", "no", "off", "f"] { #expect(SettingsReader.parseBool(no) == false, "\(no)") }
    #expect(SettingsReader.parseBool("maybe") == nil)
    var reader = SettingsReader(SettingsLayer(files: [file("etcd-s3: true\n")], environment: [:]))
    #expect(reader.bool(.s3, flag: nil) == true)
    #expect(reader.bool(.s3, flag: false) == false)
  }

  @Test("files: the named one must exist; the default need not; FILE.d/*.yaml follow in lexical order")
  func discovery() throws {
    let scratch = try TemporaryDirectory(prefix: "settings")
    defer { withExtendedLifetime(scratch) {} }
    let dir = scratch.path
    try FileManager.default.createDirectory(atPath: dir + "/config.yaml.d", withIntermediateDirectories: true)
    try "s3-bucket: main\n".write(toFile: dir + "/config.yaml", atomically: true, encoding: .utf8)
    try "s3-bucket: twenty\n".write(toFile: dir + "/config.yaml.d/20-b.yaml", atomically: true, encoding: .utf8)
    try "s3-bucket: ten\ns3-folder: f\n".write(toFile: dir + "/config.yaml.d/10-a.yaml", atomically: true, encoding: .utf8)
    try "s3-bucket: ignored\n".write(toFile: dir + "/config.yaml.d/README.txt", atomically: true, encoding: .utf8)
    let (files, problems) = ConfigFiles.load(flag: dir + "/config.yaml", environment: [:])
    #expect(problems.isEmpty)
    #expect(files.map(\.path) == [dir + "/config.yaml", dir + "/config.yaml.d/10-a.yaml", dir + "/config.yaml.d/20-b.yaml"])
    let layer = SettingsLayer(files: files, environment: [:])
    #expect(layer.value(.s3Bucket)?.values == ["twenty"])
    #expect(layer.value(.s3Folder)?.values == ["f"])

    let (_, missing) = ConfigFiles.load(flag: dir + "/nope.yaml", environment: [:])
    #expect(missing == ["config file \(dir)/nope.yaml does not exist: check --config or ETCD_SNAPSHOT_CONFIG_FILE"])
    let (fromEnv, _) = ConfigFiles.load(flag: nil, environment: ["ETCD_SNAPSHOT_CONFIG_FILE": dir + "/config.yaml"])
    #expect(fromEnv.count == 3)
    #expect(ConfigFiles.main(flag: nil, environment: ["ETCD_SNAPSHOT_CONFIG_FILE": ""]) == (ConfigFiles.defaultPath, false))
  }

  @Test("precedence holds for every kind of setting: string, switch, number, duration, list")
  func precedenceEveryKind() {
    let fileText = "s3-bucket: file\ns3-insecure: false\nsnapshot-retention: 3\ns3-timeout: 1m\nendpoints: [https://file:2379]\n"
    let files = [file(fileText)]
    let env = [
      "ETCD_SNAPSHOT_S3_BUCKET": "env", "ETCD_SNAPSHOT_S3_INSECURE": "true", "ETCD_SNAPSHOT_SNAPSHOT_RETENTION": "4",
      "ETCD_SNAPSHOT_S3_TIMEOUT": "2m", "ETCD_SNAPSHOT_ENDPOINTS": "https://env:2379",
    ]
    // default (nothing set)
    var none = SettingsReader(SettingsLayer(environment: [:]))
    #expect(none.string(.s3Bucket, flag: nil) == nil && !none.bool(.s3Insecure, flag: nil))
    #expect(none.int(.snapshotRetention, flag: nil) == nil && none.duration(.s3Timeout, flag: nil, positive: true, example: "") == nil)
    #expect(none.list(.endpoints, flag: []).isEmpty)
    // file
    var fromFile = SettingsReader(SettingsLayer(files: files, environment: [:]))
    #expect(fromFile.string(.s3Bucket, flag: nil) == "file" && !fromFile.bool(.s3Insecure, flag: nil))
    #expect(fromFile.int(.snapshotRetention, flag: nil) == 3 && fromFile.duration(.s3Timeout, flag: nil, positive: true, example: "") == .seconds(60))
    #expect(fromFile.list(.endpoints, flag: []) == ["https://file:2379"])
    // variables over the file
    var fromEnv = SettingsReader(SettingsLayer(files: files, environment: env))
    #expect(fromEnv.string(.s3Bucket, flag: nil) == "env" && fromEnv.bool(.s3Insecure, flag: nil))
    #expect(fromEnv.int(.snapshotRetention, flag: nil) == 4 && fromEnv.duration(.s3Timeout, flag: nil, positive: true, example: "") == .seconds(120))
    #expect(fromEnv.list(.endpoints, flag: []) == ["https://env:2379"])
    // flags over everything
    #expect(fromEnv.string(.s3Bucket, flag: "flag") == "flag" && !fromEnv.bool(.s3Insecure, flag: false))
    #expect(fromEnv.int(.snapshotRetention, flag: 5) == 5 && fromEnv.duration(.s3Timeout, flag: "3m", positive: true, example: "") == .seconds(180))
    #expect(fromEnv.list(.endpoints, flag: ["https://flag:2379"]) == ["https://flag:2379"])
    #expect(none.problems.isEmpty && fromFile.problems.isEmpty && fromEnv.problems.isEmpty)
  }
}
