import SnapshotCore
import Testing

// SnapshotConfiguration.swift holds three small types; their tests share this file.

@Suite("SnapshotDirectoryConfiguration: where snapshots go")
struct SnapshotDirectoryConfigurationTests {
  @Test(
    "the snapshot directory is <data-dir>/snapshots unless --dir is given",
    arguments: [
      ("/var/lib/etcd-snapshot", String?.none, "/var/lib/etcd-snapshot/snapshots"),
      ("/var/lib/etcd-snapshot/", nil, "/var/lib/etcd-snapshot/snapshots"),
      ("/data", "/backups", "/backups"),
      ("rel", nil, "rel/snapshots"),
    ])
  func snapshotDirectory(dataDir: String, directory: String?, expected: String) {
    #expect(SnapshotDirectoryConfiguration(dataDir: dataDir, directory: directory).snapshotDirectory == expected)
  }

  @Test("default data directory: /var/lib for root, else an absolute XDG_DATA_HOME, else ~/.local/share")
  func defaultDataDir() {
    #expect(SnapshotDirectoryConfiguration.defaultDataDir(isRoot: true, environment: ["XDG_DATA_HOME": "/x"]) == "/var/lib/etcd-snapshot")
    #expect(SnapshotDirectoryConfiguration.defaultDataDir(isRoot: false, environment: ["XDG_DATA_HOME": "/x", "HOME": "/h"]) == "/x/etcd-snapshot")
    // The XDG spec says a relative XDG_DATA_HOME is invalid and must be ignored.
    #expect(
      SnapshotDirectoryConfiguration.defaultDataDir(isRoot: false, environment: ["XDG_DATA_HOME": "x", "HOME": "/h"])
        == "/h/.local/share/etcd-snapshot")
    #expect(SnapshotDirectoryConfiguration.defaultDataDir(isRoot: false, environment: ["HOME": "/home/u"]) == "/home/u/.local/share/etcd-snapshot")
  }

  @Test("without HOME (a systemd unit): the account's home, never /tmp; with none, a problem naming the fix")
  func noHome() {
    #expect(SnapshotDirectoryConfiguration.defaultDataDir(isRoot: true, environment: [:]) == "/var/lib/etcd-snapshot")
    #expect(
      SnapshotDirectoryConfiguration.defaultDataDir(isRoot: false, environment: [:], accountHome: "/home/svc")
        == "/home/svc/.local/share/etcd-snapshot")
    let none = SnapshotDirectoryConfiguration.defaultDataDir(isRoot: false, environment: [:], accountHome: nil)
    #expect(!none.hasPrefix("/tmp"))
    let problems = SnapshotDirectoryConfiguration(dataDir: none).problems()
    #expect(problems.count == 1 && problems[0].contains("--dir"), "\(problems)")
    #expect(SnapshotDirectoryConfiguration(dataDir: none, directory: "/srv/snaps").problems().isEmpty)
  }

  @Test("empty --data-dir and --dir are problems")
  func problems() {
    #expect(SnapshotDirectoryConfiguration(dataDir: "/d").problems().isEmpty)
    #expect(SnapshotDirectoryConfiguration(dataDir: "").problems().count == 1)
    // With --dir given, the data directory is not used: only the empty --dir is a problem.
    #expect(SnapshotDirectoryConfiguration(dataDir: "", directory: "").problems() == ["--dir is empty"])
  }
}

@Suite("SaveConfiguration and PruneConfiguration: k3s defaults and validation")
struct SaveAndPruneConfigurationTests {
  @Test("save: k3s defaults are valid; every problem of connection, storage and names is reported")
  func save() {
    let ok = SaveConfiguration(connection: ConnectionConfiguration(), storage: .init(dataDir: "/d"), nodeName: "node-1")
    #expect(ok.namePrefix == "on-demand")
    #expect(ok.problems().isEmpty)

    var connection = ConnectionConfiguration()
    connection.endpoints = ["ftp://x"]
    var bad = SaveConfiguration(connection: connection, storage: .init(dataDir: ""), nodeName: "a/b")
    bad.namePrefix = ""
    let problems = bad.problems()
    #expect(problems.count == 4, "\(problems)")
    #expect(problems.contains { $0.contains("--node-name") })
    #expect(problems.contains { $0.contains("--name") && !$0.contains("--node-name") })
  }

  @Test("prune: retention 5 and prefix on-demand by default; a negative retention is refused (0 never prunes)", arguments: [-1, Int.min])
  func prune(retention: Int) {
    var config = PruneConfiguration(storage: .init(dataDir: "/d"))
    #expect(config.retention == 5)
    #expect(config.namePrefix == "on-demand")
    #expect(config.dryRun == false)
    #expect(config.problems().isEmpty)
    config.retention = retention
    #expect(config.problems().count == 1)
    #expect(config.problems().first?.contains("--snapshot-retention") == true)
    config.retention = 0
    #expect(config.problems().isEmpty, "k3s: retention 0 keeps every snapshot")
    config.retention = 1
    config.namePrefix = ".."
    #expect(config.problems().count == 1)
  }
}
