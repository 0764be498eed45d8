import EtcdSnapshot
import Foundation
import Logging
import ServiceLifecycle
import SnapshotCore
import UnixSignals

/// `etcd-snapshot agent`: a swift-service-lifecycle `ServiceGroup` of the scheduler, the HTTP
/// server and the SIGHUP reloader, over one `SnapshotRunner`.
///
/// SIGTERM and SIGINT shut the group down gracefully: the HTTP server stops accepting, the
/// scheduler's loop is cancelled (a snapshot in flight is aborted and cleaned up by the save
/// use case). Whatever has not ended `shutdownBound` after the signal is cancelled, and the
/// group then gives up waiting after the same bound again.
package struct Agent: Sendable {
  package var configuration: AgentConfiguration
  package var version: String
  package var logger: Logger
  /// Builds the configuration anew (config files, environment, the same flags) on SIGHUP;
  /// throws the problems of a bad one, which is then reported and not used.
  package var reload: (@Sendable () throws(SnapshotError) -> AgentConfiguration)?
  /// Called with the server's URL once it listens.
  package var onListening: @Sendable (String) -> Void = { _ in }
  /// How long a stopping agent waits for each phase of its shutdown.
  package var shutdownBound: Duration = .seconds(20)

  package init(configuration: AgentConfiguration, version: String, logger: Logger) {
    self.configuration = configuration
    self.version = version
    self.logger = logger
  }

  /// Runs until SIGTERM or SIGINT; throws only when it cannot start (a bad key, the port is taken).
  package func run() async throws(SnapshotError) {
    // The keys first: a bad one stops the agent before it listens, not at every tick.
    try SaveSnapshot(configuration: configuration.save, logger: logger).checkKeys()
    let metrics = AgentMetrics(version: version)
    let store = ConfigurationStore(configuration)
    let notifier = FailureNotifier(metrics: metrics, logger: logger)
    let runner = SnapshotRunner(metrics: metrics, hooks: notifier, logger: logger, version: version)
    let server = try AgentHTTPServer.make(store: store, runner: runner, metrics: metrics, logger: logger, onListening: onListening)
    let scheduler = SnapshotScheduler(store: store, runner: runner, metrics: metrics, logger: logger)
    let reloader = Reloader(store: store, reload: reload, logger: logger)
    var group = ServiceGroupConfiguration(
      services: [
        .init(service: scheduler, successTerminationBehavior: .gracefullyShutdownGroup, failureTerminationBehavior: .gracefullyShutdownGroup),
        .init(service: server, successTerminationBehavior: .gracefullyShutdownGroup, failureTerminationBehavior: .gracefullyShutdownGroup),
        .init(service: reloader, successTerminationBehavior: .ignore, failureTerminationBehavior: .ignore),
      ],
      gracefulShutdownSignals: [.sigterm, .sigint],
      logger: logger)
    group.maximumGracefulShutdownDuration = shutdownBound
    group.maximumCancellationDuration = shutdownBound
    let cleaner = SaveSnapshot(configuration: configuration.save, logger: logger)
    await cleaner.cleanUp()
    if let s3 = configuration.save.s3 { logger.info("snapshots go to \(configuration.save.storage.snapshotDirectory) and \(s3.folderAddress)") }
    do {
      try await ServiceGroup(configuration: group).run()
    } catch {
      throw SnapshotError(.unavailable, "the agent stopped: \(error)")
    }
    // A snapshot aborted by the signal aborts its own upload, but a signal that lands while
    // CreateMultipartUpload is in flight leaves an upload whose ID the save never learned:
    // the store's list of this node's uploads finds it.
    // Bounded by `shutdownBound`: a stalled store does not hold the exit.
    if configuration.save.s3 != nil {
      let bound = shutdownBound
      await withTaskGroup(of: Void.self) { group in
        group.addTask { await cleaner.cleanUp() }
        group.addTask { try? await Task.sleep(for: bound) }
        await group.next()
        group.cancelAll()
      }
    }
    logger.info("agent stopped")
  }
}

/// Reloads the configuration on SIGHUP; a bad one is logged and the old one keeps running.
struct Reloader: Service {
  let store: ConfigurationStore
  let reload: (@Sendable () throws(SnapshotError) -> AgentConfiguration)?
  let logger: Logger

  func run() async throws {
    guard let reload else { return }
    let signals = await UnixSignalsSequence(trapping: .sighup)
    await cancelWhenGracefulShutdown {
      for await _ in signals {
        do throws(SnapshotError) {
          let configuration = try reload()
          let old = store.current.configuration
          store.replace(with: configuration)
          if old.listen != configuration.listen || old.tlsCertificate != configuration.tlsCertificate || old.tlsKey != configuration.tlsKey {
            logger.warning(
              "SIGHUP: the HTTP server keeps listening on \(old.listen) as it started; restart the agent to change --http-listen or its TLS files")
          }
          logger.notice("SIGHUP: configuration reloaded; schedule \(quoted(configuration.schedule.spec))")
        } catch {
          logger.error("SIGHUP: the new configuration is not used, the old one keeps running: \(error.message)")
        }
      }
    }
  }
}
