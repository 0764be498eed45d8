import EtcdClient
import Foundation
import Logging
import SnapshotCore

/// `--coordinate`: agents on several members take each tick once, cluster-wide, through etcd.
///
/// Each tick has a key, `PREFIX NAME-PREFIX/UNIX-TIME`. An agent claims it in one transaction
/// (created only if absent) under a lease of `leaseTTL`, which it renews while its snapshot
/// runs. After a success the key is moved to a lease of two periods, marked done, and expires
/// by itself; after a failure the lease is revoked, which deletes the key, so another agent
/// may try. The others poll the key: done ends the tick for them; gone (the holder's lease
/// expired: it died mid-snapshot, or failed) lets them claim it in turn. The agent whose
/// member is the leader claims only after the others' jitter window and a grace have passed,
/// so that a healthy follower serves the snapshot when there is one.
package struct TickCoordinator: Sendable {
  package var prefix: String
  package var leaseTTL: Duration
  package var logger: Logger

  package init(prefix: String, leaseTTL: Duration, logger: Logger) {
    self.prefix = prefix
    self.leaseTTL = leaseTTL
    self.logger = logger
  }

  /// What a tick's key holds.
  struct Claim: Codable {
    var node: String
    var state: String
    var tick: String
    var since: String
    var pid: Int32
  }

  /// How a tick ended for this agent.
  package enum Outcome: Sendable {
    /// This agent took the snapshot (or tried: the run says how it went).
    case ran(SnapshotRun)
    /// Another agent did it.
    case doneElsewhere(node: String)
    /// Another agent still held it when the next tick came.
    case heldElsewhere(node: String)
    /// This agent won the tick while a snapshot of its own (an API call) still ran; the
    /// claim was given back so that another agent may take the tick.
    case busy
    /// etcd could not be asked: nothing was taken.
    case failed(SnapshotError)
  }

  package func key(for tick: Date, namePrefix: String) -> String {
    "\(prefix)\(namePrefix)/\(Int64(tick.timeIntervalSince1970))"
  }

  /// Takes part in `tick` until it is done or `deadline` passes; `snapshot` runs when this agent holds it.
  package func run(
    tick: Date, configuration: AgentConfiguration, deadline: Date, snapshot: @escaping @Sendable () async -> SnapshotRun?
  ) async -> Outcome {
    let key = key(for: tick, namePrefix: configuration.save.namePrefix)
    let connector = EtcdConnector(configuration: configuration.save.connection, logger: logger)
    let timeout = configuration.save.connection.commandTimeout
    let period = configuration.schedule.period(after: tick) ?? .seconds(3600)
    // The agents claim at the tick (the winner's jitter comes after its claim); the leader's
    // agent claims only once the jitter bound and a grace (a quarter of the period, at most
    // 3 s) have passed, so that a follower's claim has all of that time, however loaded.
    let leaderStart = tick.addingTimeInterval((configuration.jitterBound(after: tick) + min(Duration.seconds(3), period / 4)).seconds)
    let ttl = max(2, Int64(leaseTTL.seconds.rounded(.up)))
    let doneTTL = max(60, Int64((period * 2).seconds.rounded(.up)))
    let node = configuration.save.nodeName
    let logger = self.logger
    do {
      return try await connector.withHealthyMember { member in
        if member.isLeader {
          logger.debug("\(member.url) is the leader: letting a follower's agent claim the tick of \(timestamp(tick)) first")
          let wait = leaderStart.timeIntervalSinceNow
          if wait > 0 { try await Task.sleep(for: .milliseconds(Int64(wait * 1000))) }
        }
        var lastHolder = "another agent"
        while Date() < deadline {
          try Task.checkCancellation()
          let lease = try await member.grantLease(ttl: ttl, timeout: timeout)
          let running = Self.encode(Claim(node: node, state: "running", tick: timestamp(tick), since: timestamp(Date()), pid: getpid()))
          switch try await member.claim(key: key, value: running, lease: lease, timeout: timeout) {
          case .claimed:
            logger.info("claimed the tick of \(timestamp(tick)) (\(key))")
            let run = await Self.holding(lease, ttl: ttl, on: member, timeout: timeout, logger: logger, snapshot)
            guard let run else {
              try? await member.revokeLease(lease, timeout: timeout)
              return .busy
            }
            if run.succeeded {
              let doneLease = try await member.grantLease(ttl: doneTTL, timeout: timeout)
              let done = Self.encode(Claim(node: node, state: "done", tick: timestamp(tick), since: timestamp(Date()), pid: getpid()))
              if try await !member.replace(key: key, value: done, heldBy: lease, lease: doneLease, timeout: timeout) {
                logger.warning(
                  "the claim of the tick of \(timestamp(tick)) was lost while the snapshot ran (its lease expired); another agent may have taken it too"
                )
                try? await member.revokeLease(doneLease, timeout: timeout)
              }
            }
            // After a failure this deletes the key, so that another agent may try the tick.
            try? await member.revokeLease(lease, timeout: timeout)
            return .ran(run)
          case .held(let value):
            try? await member.revokeLease(lease, timeout: timeout)
            var current: Data? = value
            while let data = current {
              let holder = (try? JSONDecoder().decode(Claim.self, from: data))
              lastHolder = holder?.node ?? lastHolder
              if holder?.state == "done" { return .doneElsewhere(node: lastHolder) }
              guard Date() < deadline else { return .heldElsewhere(node: lastHolder) }
              try await Task.sleep(for: .milliseconds(500))
              current = try await member.value(of: key, timeout: timeout)
            }
            logger.notice("the tick of \(timestamp(tick)) was held by \(quoted(lastHolder)), which went away before finishing; taking it over")
          }
        }
        return .heldElsewhere(node: lastHolder)
      }
    } catch {
      return .failed(error)
    }
  }

  /// Runs `snapshot` while renewing `lease` every third of its TTL.
  private static func holding(
    _ lease: Int64, ttl: Int64, on member: EtcdMember, timeout: Duration, logger: Logger,
    _ snapshot: @escaping @Sendable () async -> SnapshotRun?
  ) async -> SnapshotRun? {
    await withTaskGroup(of: SnapshotRun??.self) { group in
      group.addTask { .some(await snapshot()) }
      group.addTask {
        let every = Duration.milliseconds(ttl * 1000 / 3)
        while !Task.isCancelled {
          try? await Task.sleep(for: every)
          guard !Task.isCancelled else { break }
          do {
            if try await !member.renewLease(lease, timeout: min(timeout, every)) {
              logger.warning("the lease holding the tick expired while the snapshot ran")
              break
            }
          } catch {
            logger.warning("could not renew the lease holding the tick: \((error as? SnapshotError)?.message ?? "\(error)")")
          }
        }
        return nil
      }
      var result: SnapshotRun?
      for await value in group {
        if let run = value {
          result = run
          group.cancelAll()
        }
      }
      return result
    }
  }

  private static func encode(_ claim: Claim) -> Data {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    return (try? encoder.encode(claim)) ?? Data()
  }
}
