import ArgumentParser
import EtcdSnapshot
import Logging
import SnapshotCore

@main
struct EtcdSnapshotCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "etcd-snapshot",
    abstract: "Back up etcd v3 clusters: save, list, delete and prune snapshots, or run the agent that takes them on a schedule.",
    discussion: """
      Command and flag names follow `k3s etcd-snapshot`; connection flags and ETCDCTL_* \
      variables follow etcdctl.

      Exit status: 0 success; 64 bad flag or value; 65 corrupt snapshot or checksum mismatch; \
      66 snapshot not found; 69 etcd unavailable or the stream broke off; 70 internal error; \
      73 cannot write (disk full, read-only, permissions); 74 other I/O error; \
      75 another save, prune or delete holds the snapshot directory (see --wait-lock); \
      77 authentication or permission denied; 78 TLS problem; 130 stopped by SIGINT or SIGTERM.
      """,
    version: toolVersion,
    subcommands: [
      Save.self, List.self, Delete.self, Prune.self, Status.self, Verify.self, Restore.self, ClusterResetCommand.self, Rekey.self, AgentCommand.self,
    ]
  )
}
