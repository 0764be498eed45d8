import Foundation
import Synchronization

/// The agent's current configuration, replaced whole on SIGHUP. Waiters (the scheduler
/// between ticks) are woken when it changes, so that a new schedule takes effect at once.
package final class ConfigurationStore: Sendable {
  private struct State {
    var configuration: AgentConfiguration
    var generation = 0
    var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
    var nextWaiter = 0
  }
  private let state: Mutex<State>

  package init(_ configuration: AgentConfiguration) {
    state = Mutex(State(configuration: configuration))
  }

  /// The configuration in force and its generation (counts replacements).
  package var current: (configuration: AgentConfiguration, generation: Int) {
    state.withLock { ($0.configuration, $0.generation) }
  }

  /// Puts `configuration` in force and wakes every waiter.
  package func replace(with configuration: AgentConfiguration) {
    let waiters = state.withLock { s in
      s.configuration = configuration
      s.generation += 1
      let w = Array(s.waiters.values)
      s.waiters = [:]
      return w
    }
    for waiter in waiters { waiter.resume() }
  }

  /// Returns when the generation is no longer `generation`, or when the task is cancelled.
  package func waitForChange(from generation: Int) async {
    let id = state.withLock { s -> Int in
      s.nextWaiter += 1
      return s.nextWaiter
    }
    await withTaskCancellationHandler {
      await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
        let resumeNow = state.withLock { s -> Bool in
          if s.generation != generation || Task.isCancelled { return true }
          s.waiters[id] = continuation
          return false
        }
        if resumeNow { continuation.resume() }
      }
    } onCancel: {
      let waiter = state.withLock { $0.waiters.removeValue(forKey: id) }
      waiter?.resume()
    }
  }
}
