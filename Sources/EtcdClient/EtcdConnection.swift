import EtcdProto
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import Logging
import SnapshotCore
import Synchronization

#if canImport(Glibc)
  import Glibc
#endif

/// A connected, authenticated etcd member: the client, the token, and what it said about itself.
package struct EtcdMember: Sendable {
  /// The endpoint this member was reached at.
  package let endpoint: EtcdEndpoint
  /// The URL actually used (scheme shows whether TLS is on).
  package let url: String
  /// Its status from the pre-flight call.
  package let status: MemberStatus
  let client: GRPCClient<HTTP2ClientTransport.Posix>
  let metadata: Metadata

  /// Streams the backend database: `body` gets the chunks in order, then etcd's 32-byte
  /// SHA-256 trailer as the last chunk (the stream carries it like any other data).
  ///
  /// No overall timeout applies: a large database takes as long as it takes. But a stream on
  /// which nothing arrives for `idleTimeout` while `body` waits for the next chunk (a stopped
  /// or wedged member: its kernel keeps the connection open) fails; time `body` spends with
  /// a chunk does not count. Cancellation is honoured.
  package func snapshot<Result: Sendable>(
    idleTimeout: Duration, _ body: @Sendable @escaping (SnapshotChunks) async throws -> Result
  ) async throws(SnapshotError) -> Result {
    let maintenance = EtcdMaintenance.Client(wrapping: client)
    let waiting = StreamWait()
    let url = self.url
    do {
      return try await withThrowingTaskGroup(of: Result?.self) { group in
        group.addTask {
          try await maintenance.snapshot(EtcdSnapshotRequest(), metadata: metadata) { response in
            try await body(SnapshotChunks(messages: response.messages, waiting: waiting))
          }
        }
        group.addTask {
          while true {
            try await Task.sleep(for: min(idleTimeout / 4, .seconds(1)))
            if let since = waiting.since, ContinuousClock.now - since > idleTimeout {
              throw SnapshotError(
                .interrupted,
                "\(url) sent nothing on the snapshot stream for \(GoDuration.format(idleTimeout)): the member may be stopped, wedged or overloaded; check it (or raise --command-timeout: the stream may pause for that long, 30s at least)"
              )
            }
          }
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let result = first else {
          throw SnapshotError(.internal, "the snapshot stream ended without a result")
        }
        return result
      }
    } catch let error as SnapshotError {
      throw error
    } catch {
      throw EtcdErrors.map(error, endpoint: url, during: "the snapshot stream")
    }
  }
}

/// The snapshot stream's chunks, as an async sequence of byte blobs.
package struct SnapshotChunks: AsyncSequence, Sendable {
  package typealias Element = Chunk
  let messages: RPCAsyncSequence<EtcdSnapshotResponse, any Error>
  let waiting: StreamWait

  /// One chunk: its bytes and how many bytes etcd says are still to come after it.
  package struct Chunk: Sendable {
    /// The bytes.
    package var blob: Data
    /// Bytes after this chunk, as etcd counts them (the trailer is not counted).
    package var remainingBytes: UInt64
  }

  /// Iterates the chunks.
  package struct AsyncIterator: AsyncIteratorProtocol {
    var base: RPCAsyncSequence<EtcdSnapshotResponse, any Error>.AsyncIterator
    let waiting: StreamWait
    /// The next chunk, or nil at the end of the stream.
    package mutating func next() async throws -> Chunk? {
      waiting.begin()
      defer { waiting.end() }
      guard let m = try await base.next() else { return nil }
      return Chunk(blob: m.blob, remainingBytes: m.remainingBytes)
    }
  }

  /// Makes an iterator.
  package func makeAsyncIterator() -> AsyncIterator { AsyncIterator(base: messages.makeAsyncIterator(), waiting: waiting) }
}

/// Since when the reader of a snapshot stream has been waiting for its next chunk (nil: it
/// is not waiting), for the idle watchdog.
final class StreamWait: Sendable {
  private let state = Mutex<ContinuousClock.Instant?>(nil)

  var since: ContinuousClock.Instant? { state.withLock { $0 } }
  func begin() { state.withLock { $0 = .now } }
  func end() { state.withLock { $0 = nil } }
}

/// Connects to etcd the way etcdctl does and picks the member to snapshot.
package struct EtcdConnector: Sendable {
  /// The connection settings.
  package let configuration: ConnectionConfiguration
  /// Where progress and decisions are logged.
  package let logger: Logger

  /// A connector; nothing is dialled until `withHealthyMember` is called.
  package init(configuration: ConnectionConfiguration, logger: Logger) {
    self.configuration = configuration
    self.logger = logger
  }

  /// Tries the endpoints in order and runs `body` with the first healthy voting member.
  ///
  /// Unreachable endpoints, learners and members without a leader are skipped; `onSkip` is told
  /// why. If none qualifies the error lists every endpoint's reason.
  package func withHealthyMember<Result: Sendable>(
    onSkip: @Sendable (EtcdEndpoint, String) -> Void = { _, _ in },
    _ body: @Sendable @escaping (EtcdMember) async throws -> Result
  ) async throws(SnapshotError) -> Result {
    let endpoints = try configuration.validated()
    try TLSFiles.check(configuration)
    var reasons: [(EtcdEndpoint, SnapshotError)] = []
    for endpoint in endpoints {
      // A failure inside body (after a member was chosen) is final: no other member is tried.
      let outcome = try await withMember(endpoint, body)
      switch outcome {
      case .done(let value): return value
      case .skipped(let error):
        reasons.append((endpoint, error))
        if endpoints.count > 1 { onSkip(endpoint, error.message) }
      }
    }
    if reasons.count == 1, let only = reasons.first { throw only.1 }
    // One shared cause (say, every endpoint rejects the certificate) keeps its exit status.
    let codes = Set(reasons.map(\.1.code))
    let code: SnapshotError.Code =
      codes.count == 1 ? (codes.first ?? .unavailable) : codes.contains(.permissionDenied) ? .permissionDenied : .unavailable
    throw SnapshotError(
      code,
      "no endpoint is a healthy voting member that we could use:\n"
        + reasons.map { "  - \($0.0): \($0.1.message)" }.joined(separator: "\n"))
  }

  private enum Outcome<Value: Sendable>: Sendable {
    case done(Value)
    case skipped(SnapshotError)
  }

  private func withMember<Result: Sendable>(
    _ endpoint: EtcdEndpoint, _ body: @Sendable @escaping (EtcdMember) async throws -> Result
  ) async throws(SnapshotError) -> Outcome<Result> {
    let tls = configuration.usesTLS(endpoint)
    let url = endpoint.url(tls: tls)
    let transport: HTTP2ClientTransport.Posix
    do {
      transport = try HTTP2ClientTransport.Posix(
        target: Self.target(endpoint),
        transportSecurity: TLSFiles.security(configuration, tls: tls),
        config: Self.transportConfig(configuration)
      )
    } catch {
      return .skipped(EtcdErrors.map(error, endpoint: url, during: "connecting"))
    }
    let configuration = self.configuration
    let logger = self.logger
    do {
      return try await withPromptlyClosedClient(transport: transport) { client -> Outcome<Result> in
        var metadata: Metadata = [:]
        var dial = CallOptions.defaults
        dial.timeout = configuration.dialTimeout
        dial.waitForReady = false
        var command = CallOptions.defaults
        command.timeout = configuration.commandTimeout

        let status: MemberStatus
        do {
          let r = try await EtcdMaintenance.Client(wrapping: client).status(
            EtcdStatusRequest(), options: dial)
          status = MemberStatus(r)
        } catch {
          return .skipped(EtcdErrors.map(error, endpoint: url, during: "connecting", timeout: configuration.dialTimeout))
        }
        if let user = configuration.user {
          var request = EtcdAuthenticateRequest()
          request.name = user
          request.password = configuration.password ?? ""
          do {
            let r = try await EtcdAuth.Client(wrapping: client).authenticate(request, options: command)
            metadata.addString(r.token, forKey: "token")
          } catch let error as RPCError where error.message.contains("authentication is not enabled") {
            logger.notice("authentication is not enabled on \(url); continuing without a token")
          } catch {
            return .skipped(EtcdErrors.map(error, endpoint: url, during: "authenticating as \(quoted(user))"))
          }
        }
        if let why = status.unsuitability {
          return .skipped(SnapshotError(.unavailable, "\(url) (member \(String(status.memberID, radix: 16))) was not used: \(why)"))
        }
        let member = EtcdMember(endpoint: endpoint, url: url, status: status, client: client, metadata: metadata)
        return .done(try await body(member))
      }
    } catch let error as SnapshotError {
      throw error
    } catch {
      throw EtcdErrors.map(error, endpoint: url, during: "talking to etcd")
    }
  }

  private static func target(_ endpoint: EtcdEndpoint) -> any ResolvableTarget {
    if isIPv4(endpoint.host) { return .ipv4(address: endpoint.host, port: endpoint.port) }
    if endpoint.host.contains(":") { return .ipv6(address: endpoint.host, port: endpoint.port) }
    return .dns(host: endpoint.host, port: endpoint.port)
  }

  private static func isIPv4(_ host: String) -> Bool {
    var addr = in_addr()
    return inet_pton(AF_INET, host, &addr) == 1
  }

  private static func transportConfig(_ c: ConnectionConfiguration) -> HTTP2ClientTransport.Posix.Config {
    var config = HTTP2ClientTransport.Posix.Config.defaults
    config.backoff.initial = .milliseconds(100)
    config.backoff.max = .seconds(1)
    // The HTTP/2 window bounds how much of the stream can sit in memory ahead of the writer:
    // measured on a 1 GB database, 16 MiB gave 68 MiB peak RSS and no speed gain over 1 MiB
    // (40 MiB peak RSS, flat from 130 MB to 1 GB).
    config.http2.targetWindowSize = 1 << 20
    config.connection.keepalive = .init(time: .seconds(30), timeout: .seconds(20), allowWithoutCalls: false)
    return config
  }
}

/// Runs a gRPC client for the duration of `body`, then closes its connections at once.
///
/// grpc-swift's `withGRPCClient` shuts down gracefully, which waits for a connection attempt
/// in progress: an endpoint that accepts TCP but never speaks HTTP/2 would hold the process
/// long after `--dial-timeout` reported it. All our calls are finished when `body` returns, so
/// there is nothing to drain and the connection task is cancelled instead.
func withPromptlyClosedClient<Result: Sendable>(
  transport: HTTP2ClientTransport.Posix,
  _ body: (GRPCClient<HTTP2ClientTransport.Posix>) async throws -> Result
) async throws -> Result {
  try await withThrowingTaskGroup(of: Void.self) { group in
    let client = GRPCClient(transport: transport)
    group.addTask {
      // Connection errors reach the calls that needed the connection; none is lost here.
      try? await client.runConnections()
    }
    defer {
      client.beginGracefulShutdown()
      group.cancelAll()
    }
    return try await body(client)
  }
}
