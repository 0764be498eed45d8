import EtcdSnapshot
import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOCore
import NIOSSL
import ServiceLifecycle
import SnapshotCore

/// The agent's HTTP server (Hummingbird): `/metrics`, `/healthz`, `/readyz`, the snapshot API
/// under `/v1/snapshots` and the status page at `/`.
///
/// Reading is open; `POST` and `DELETE` need `Authorization: Bearer TOKEN` with the token of
/// `--api-token-file` (read on each request, so that it can be rotated). A refused request is
/// logged with the method, path and peer, never with the token.
package enum AgentHTTPServer {
  /// The server as a service of the agent's group.
  package static func make(
    store: ConfigurationStore, runner: SnapshotRunner, metrics: AgentMetrics, logger: Logger,
    onListening: @escaping @Sendable (String) -> Void = { _ in }
  ) throws(SnapshotError) -> any Service {
    let configuration = store.current.configuration
    let router = Router(context: AgentRequestContext.self)
    let api = API(store: store, runner: runner, metrics: metrics, logger: logger)
    router.get("/metrics") { _, _ in
      text(metrics.render(), type: "text/plain; version=0.0.4; charset=utf-8")
    }
    router.get("/healthz") { _, _ in await api.health() }
    router.get("/readyz") { _, _ in text("ready\n") }
    router.get("/v1/snapshots") { _, _ in await api.list() }
    router.post("/v1/snapshots") { request, context in await api.snapshot(request, context) }
    router.delete("/v1/snapshots/:name") { request, context in await api.delete(request, context) }
    router.get("/") { _, _ in await api.statusPage() }
    let address = configuration.listen
    var server: HTTPServerBuilder = .http1()
    if let cert = configuration.tlsCertificate, let key = configuration.tlsKey {
      do {
        let chain = try NIOSSLCertificate.fromPEMFile(cert).map { NIOSSLCertificateSource.certificate($0) }
        let privateKey = try NIOSSLPrivateKey(file: key, format: .pem)
        let tls = TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(privateKey))
        server = try .tls(.http1(), tlsConfiguration: tls)
      } catch {
        throw SnapshotError(
          .tls,
          "--http-tls-cert \(quoted(cert)) / --http-tls-key \(quoted(key)) cannot be used: \(error); give a PEM certificate chain and its PEM private key"
        )
      }
    }
    let scheme = configuration.tlsCertificate == nil ? "http" : "https"
    return Application(
      router: router, server: server,
      configuration: ApplicationConfiguration(address: .hostname(address.host, port: address.port), serverName: nil),
      onServerRunning: { channel in
        let port = channel.localAddress?.port ?? address.port
        onListening("\(scheme)://\(ListenAddress(host: address.host, port: port))")
      },
      logger: logger)
  }
}

/// A plain-text answer.
func text(_ body: String, status: HTTPResponse.Status = .ok, type: String = "text/plain; charset=utf-8") -> Response {
  Response(status: status, headers: [.contentType: type], body: ResponseBody(byteBuffer: ByteBuffer(string: body)))
}

/// A JSON answer (sorted keys, indented, as `ls -o json`).
func json<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) -> Response {
  let encoder = JSONEncoder()
  encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
  let data = (try? encoder.encode(value)) ?? Data("{}".utf8)
  return Response(
    status: status, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: data + Data("\n".utf8))))
}

/// An error as the API answers it: `{"error": MESSAGE, "code": CODE}` with the matching status.
func failure(_ error: SnapshotError) -> Response {
  json(["error": error.message, "code": error.code.rawValue], status: httpStatus(for: error.code))
}

/// The HTTP status of each error code (the CLI maps the same codes to exit statuses).
func httpStatus(for code: SnapshotError.Code) -> HTTPResponse.Status {
  switch code {
  case .invalidConfiguration: .badRequest
  case .notFound: .notFound
  case .busy: .conflict
  case .permissionDenied: .forbidden
  case .unavailable, .interrupted: .serviceUnavailable
  case .tls: .badGateway
  case .corrupt, .cannotWrite, .io, .internal, .cancelled: .internalServerError
  }
}

/// The handlers, over the agent's state.
struct API: Sendable {
  let store: ConfigurationStore
  let runner: SnapshotRunner
  let metrics: AgentMetrics
  let logger: Logger

  func health() async -> Response {
    let configuration = store.current.configuration
    let health = await currentHealth(configuration)
    return text((health.healthy ? "ok: " : "unhealthy: ") + health.reason + "\n", status: health.healthy ? .ok : .serviceUnavailable)
  }

  func list() async -> Response {
    let configuration = store.current.configuration
    do {
      let entries = try await catalog(configuration).list()
      return json(entries.map(SnapshotListing.init))
    } catch {
      return failure(error)
    }
  }

  func snapshot(_ request: Request, _ context: AgentRequestContext) async -> Response {
    if let refusal = authorize(request, context) { return refusal }
    let configuration = store.current.configuration
    guard let run = await runner.run(configuration, trigger: .api) else {
      return failure(SnapshotError(.busy, "a snapshot is already running; try again when it has finished"))
    }
    return json(run, status: run.succeeded ? .created : .internalServerError)
  }

  func delete(_ request: Request, _ context: AgentRequestContext) async -> Response {
    if let refusal = authorize(request, context) { return refusal }
    guard let name = context.parameters.get("name") else { return failure(SnapshotError(.invalidConfiguration, "no snapshot name")) }
    let configuration = store.current.configuration
    do {
      let deleted = try await catalog(configuration).delete(names: [name], waitLock: .seconds(30))
      logger.info("deleted \(deleted.joined(separator: ", ")) (DELETE /v1/snapshots)")
      return json(["deleted": deleted])
    } catch {
      return failure(error)
    }
  }

  func statusPage() async -> Response {
    let configuration = store.current.configuration
    var entries: [SnapshotEntry] = []
    var listProblem: String?
    do {
      entries = try await catalog(configuration).list()
    } catch {
      listProblem = error.message
    }
    let page = StatusPage(
      configuration: configuration, history: await runner.history, lastSuccess: await runner.lastSuccess, entries: entries,
      listProblem: listProblem,
      health: await currentHealth(configuration), now: Date())
    return text(page.render(), type: "text/html; charset=utf-8")
  }

  /// The list and delete use cases over the agent's locations (local, and S3 when configured).
  private func catalog(_ configuration: AgentConfiguration) -> Catalog {
    Catalog(storage: configuration.save.storage, s3: configuration.save.s3, logger: logger)
  }

  /// What `/healthz` and the status page say, from the runner's state now.
  private func currentHealth(_ configuration: AgentConfiguration) async -> Health {
    Health.evaluate(
      configuration, lastScheduled: await runner.lastScheduled, lastSuccess: await runner.newestSuccess, startedAt: runner.startedAt, now: Date())
  }

  /// nil when the request carries the API token; else the 401 (or 403 without a token file).
  private func authorize(_ request: Request, _ context: AgentRequestContext) -> Response? {
    let what = "\(request.method) \(request.uri.path)"
    let configuration = store.current.configuration
    guard let file = configuration.apiTokenFile else {
      logger.warning("refused \(what): the API is read-only without --api-token-file")
      return json(["error": "the API is read-only: start the agent with --api-token-file FILE to allow \(request.method)"], status: .forbidden)
    }
    guard let expected = try? String(contentsOfFile: file, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines),
      !expected.isEmpty
    else {
      logger.error("refused \(what): --api-token-file \(quoted(file)) cannot be read or is empty")
      return json(["error": "the agent's API token file cannot be read; see the agent's log"], status: .internalServerError)
    }
    let header = request.headers[.authorization] ?? ""
    let given = header.hasPrefix("Bearer ") ? String(header.dropFirst(7)) : ""
    guard constantTimeEqual(Array(given.utf8), Array(expected.utf8)) else {
      logger.warning("refused \(what): \(given.isEmpty ? "no bearer token" : "wrong bearer token") (peer \(context.remoteAddressText))")
      return Response(
        status: .unauthorized, headers: [.contentType: "application/json", .wwwAuthenticate: "Bearer"],
        body: ResponseBody(byteBuffer: ByteBuffer(string: "{\"error\": \"a valid bearer token is needed (Authorization: Bearer TOKEN)\"}\n")))
    }
    return nil
  }
}

/// Compares two secrets in time that depends on their lengths only.
func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
  var difference = UInt8(a.count == b.count ? 0 : 1)
  for i in 0..<max(a.count, b.count) {
    difference |= (i < a.count ? a[i] : 0) ^ (i < b.count ? b[i] : 0)
  }
  return difference == 0
}

/// Hummingbird's basic context and the client's address, for the log of refused requests.
struct AgentRequestContext: RequestContext, RemoteAddressRequestContext {
  var coreContext: CoreRequestContextStorage
  let remoteAddress: SocketAddress?

  init(source: ApplicationRequestContextSource) {
    coreContext = .init(source: source)
    remoteAddress = source.channel.remoteAddress
  }

  var remoteAddressText: String { remoteAddress?.description ?? "unknown" }
}
