import AsyncHTTPClient
import Crypto
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOSSL
import S3Protocol
import SnapshotCore

/// A small S3 client: the requests etcd-snapshot needs, signed with SigV4, retried with
/// backoff within `--s3-timeout`.
///
/// The protocol parts (signing, XML, multipart bookkeeping, error classification) are pure
/// code in `SnapshotCore/S3`; this type only builds requests, runs them over
/// async-http-client and turns failures into `SnapshotError`s that name the bucket, the key
/// and the fix. Credentials are never logged.
package final class S3Client: Sendable {
  /// The storage configuration.
  package let configuration: S3Configuration
  /// Signs each request with the credentials current at that moment (temporary ones are
  /// renewed before they expire, also during a long upload).
  let credentials: S3CredentialProvider
  let http: HTTPClient
  let logger: Logger
  /// Where requests go through, for messages: `direct` or `proxy host:port`.
  package let route: String

  private init(configuration: S3Configuration, credentials: S3CredentialProvider, http: HTTPClient, logger: Logger, route: String) {
    self.configuration = configuration
    self.credentials = credentials
    self.http = http
    self.logger = logger
    self.route = route
  }

  /// Runs `body` with a client for `configuration`, and shuts the client down afterwards.
  package static func with<T: Sendable>(
    _ configuration: S3Configuration, logger: Logger, _ body: (S3Client) async throws -> T
  ) async throws -> T {
    let client = try make(configuration, logger: logger)
    do {
      // Credentials first: a chain that finds none fails before anything else is done.
      _ = try await client.credentials.credentials()
      let result = try await body(client)
      await client.shutdown()
      return result
    } catch {
      await client.shutdown()
      throw error
    }
  }

  private static func make(_ c: S3Configuration, logger: Logger) throws -> S3Client {
    let problems = c.problems()
    guard problems.isEmpty else { throw SnapshotError.invalid(problems) }
    var tls = TLSConfiguration.makeClientConfiguration()
    if let ca = c.endpointCA {
      guard fileExists(ca) else {
        throw SnapshotError(
          .invalidConfiguration, "--s3-endpoint-ca \(ca): no such file; give the PEM bundle of the CA that signed the endpoint's certificate")
      }
      do {
        tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(ca))
      } catch {
        throw SnapshotError(.invalidConfiguration, "--s3-endpoint-ca \(ca) is not a PEM certificate bundle: \(error)")
      }
    }
    if c.skipSSLVerify { tls.certificateVerification = .none }
    var config = HTTPClient.Configuration(
      tlsConfiguration: tls, redirectConfiguration: .disallow,
      timeout: .init(connect: .seconds(10), read: Self.timeAmount(c.effectiveReadTimeout)),
      connectionPool: .init(idleTimeout: .seconds(30), concurrentHTTP1ConnectionsPerHostSoftLimit: 64),
      proxy: nil, ignoreUncleanSSLShutdown: false, decompression: .disabled)
    config.httpVersion = .http1Only
    let requestHost = c.usesPathStyle ? c.endpointHost : c.bucket + "." + c.endpointHost
    let port = c.endpointPort ?? (c.insecure ? 80 : 443)
    var route = "direct"
    switch S3ProxySelection.choose(host: requestHost, port: port, secure: !c.insecure, explicit: c.proxy, environment: c.proxyEnvironment) {
    case .direct: break
    case .invalid(let text): throw SnapshotError(.invalidConfiguration, text)
    case .proxy(let p):
      var auth: HTTPClient.Authorization?
      if let userInfo = p.userInfo {
        auth = .basic(credentials: Data(userInfo.removingPercentEncoding?.utf8 ?? userInfo.utf8).base64EncodedString())
      }
      config.proxy = .server(host: p.host, port: p.port, authorization: auth)
      route = "proxy \(p.host):\(p.port)"
    }
    let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: config)
    logger.debug("S3 client: \(c) via \(route)")
    return S3Client(configuration: c, credentials: S3CredentialProvider(c, logger: logger), http: http, logger: logger, route: route)
  }

  private func shutdown() async {
    try? await http.shutdown()
    await credentials.shutdown()
  }

  // MARK: Requests

  /// A request body that can be produced again for each attempt (parts are re-read from the file).
  package enum Body: Sendable {
    /// No body.
    case empty
    /// Small bytes (XML, JSON): signed with their SHA-256.
    case bytes([UInt8], contentType: String)
    /// A byte range of an open file, streamed in 1 MiB chunks (read again on each attempt),
    /// sent with `UNSIGNED-PAYLOAD` and its Content-MD5. Memory stays at one chunk per request.
    case fileRange(fd: Int32, offset: Int64, length: Int64, md5: [UInt8]?, crc32c: UInt32)
  }

  /// A finished response with its (small) body collected.
  package struct Response: Sendable {
    /// HTTP status.
    package var status: Int
    /// Response headers.
    package var headers: HTTPHeaders
    /// Body bytes (capped; large bodies are streamed with `download`).
    package var body: [UInt8]
  }

  /// What a request is for, in messages: `PUT s3://bucket/key`.
  func describe(_ operation: String, key: String?) -> String {
    "\(operation) \(configuration.address(ofKey: key ?? ""))"
  }

  func url(key: String?, query: [(name: String, value: String)]) -> (url: String, path: String, host: String) {
    let c = configuration
    let path = S3URIEncoding.objectPath(bucket: c.bucket, key: key ?? "", pathStyle: c.usesPathStyle)
    let host = c.usesPathStyle ? c.endpoint : c.bucket + "." + c.endpoint
    let q = S3URIEncoding.canonicalQuery(query)
    let scheme = c.insecure ? "http" : "https"
    return ("\(scheme)://\(host)\(path)" + (q.isEmpty ? "" : "?" + q), path, host)
  }

  /// Sends one request, retrying transient failures with backoff until `--s3-timeout` runs out.
  ///
  /// `accept` lists the statuses that count as success (others become classified errors).
  /// `deadline` defaults to `--s3-timeout` from now; a caller that retries on its own passes
  /// its deadline so that the budget is one for the whole operation.
  package func send(
    _ method: HTTPMethod, key: String?, query: [(name: String, value: String)] = [],
    headers extra: [(name: String, value: String)] = [], body: Body = .empty,
    operation: String, accept: Set<Int> = [200], maxBody: Int = 16 * 1024 * 1024, deadline: ContinuousClock.Instant? = nil
  ) async throws -> Response {
    let deadline = deadline ?? ContinuousClock.now + configuration.timeout
    var attempt = 0
    while true {
      attempt += 1
      let failure: S3Failure
      do {
        let response = try await once(method, key: key, query: query, headers: extra, body: body, deadline: deadline, maxBody: maxBody)
        if accept.contains(response.status) { return response }
        failure = S3Failure(httpStatus: response.status, response: S3ErrorResponse.parse(response.body), transportError: nil)
      } catch let error as SnapshotError {
        throw error
      } catch {
        if Task.isCancelled { throw SnapshotError(.cancelled, "stopped while \(describe(operation, key: key)) was running") }
        if let tls = tlsFailure(error) { throw tls }
        failure = S3Failure(httpStatus: nil, response: nil, transportError: describeTransport(error))
      }
      try await retryOrThrow(failure, attempt: attempt, deadline: deadline, operation: operation, key: key)
    }
  }

  /// Sleeps before the next attempt, or throws the classified error when the failure is final.
  func retryOrThrow(
    _ failure: S3Failure, attempt: Int, deadline: ContinuousClock.Instant, operation: String, key: String?
  ) async throws {
    let what = describe(operation, key: key)
    let retryable = S3ErrorClassifier.isRetryable(failure)
    let pause = Self.backoff(attempt: attempt)
    if retryable && ContinuousClock.now + pause < deadline {
      logger.info("\(what) failed (\(Self.summary(failure))); retry \(attempt) in \(pause)")
      do { try await Task.sleep(for: pause) } catch {
        throw SnapshotError(.cancelled, "stopped while retrying \(what)")
      }
      return
    }
    var error = S3ErrorClassifier.error(
      for: failure, operation: operation, bucket: configuration.bucket, key: key, endpoint: configuration.endpoint)
    if retryable {
      error.message += " (gave up after \(attempt) attempt\(attempt == 1 ? "" : "s") within --s3-timeout \(configuration.timeout))"
    }
    if failure.transportError != nil && route != "direct" { error.message += "; requests go through \(route)" }
    throw error
  }

  /// A TLS handshake failure is not transient: the certificate (or the CA given) is wrong.
  func tlsFailure(_ error: any Error) -> SnapshotError? {
    let text: String
    switch error {
    case let e as NIOSSLError: text = "\(e)"
    case let e as BoringSSLError: text = "\(e)"
    case let e as NIOSSLExtraError: text = "\(e)"
    default: return nil
    }
    let c = configuration
    let hint =
      c.endpointCA != nil
      ? "the certificate is not signed by the CA in --s3-endpoint-ca \(c.endpointCA ?? ""), or does not name \(c.endpointHost)"
      : "give the CA that signed it with --s3-endpoint-ca (or, only for testing, --s3-skip-ssl-verify); for plain http use --s3-insecure"
    return SnapshotError(.tls, "TLS handshake with the S3 endpoint \(c.endpoint) failed (\(text)): \(hint)")
  }

  /// Exponential backoff with jitter: 200 ms, 400 ms, … capped at 5 s.
  static func backoff(attempt: Int) -> Duration {
    let base = min(5000, 200 << min(attempt - 1, 5))
    return .milliseconds(base / 2 + Int.random(in: 0...(base / 2)))
  }

  static func summary(_ f: S3Failure) -> String {
    if let t = f.transportError { return t }
    return "HTTP \(f.httpStatus ?? 0)" + (f.response.map { " \($0.code)" } ?? "")
  }

  func describeTransport(_ error: any Error) -> String {
    if error is BodyTooSlow { return "the response was still arriving when --s3-timeout \(configuration.timeout) ran out" }
    if let e = error as? HTTPClientError {
      switch e {
      case .deadlineExceeded: return "timed out"
      case .readTimeout: return "timed out: no data for \(configuration.effectiveReadTimeout) (--s3-read-timeout)"
      case .connectTimeout: return "connect timed out"
      case .remoteConnectionClosed: return "connection closed by the server"
      default: return "\(e)"
      }
    }
    if let e = error as? NIOSSLError { return "TLS error: \(e)" }
    if let e = error as? BoringSSLError { return "TLS error: \(e)" }
    if let e = error as? IOError { return e.description }
    return "\(error)"
  }

  func request(
    _ method: HTTPMethod, key: String?, query: [(name: String, value: String)], headers extra: [(name: String, value: String)],
    body: Body
  ) async throws -> HTTPClientRequest {
    let (url, path, host) = url(key: key, query: query)
    var signed: [(name: String, value: String)] = [("host", host)]
    var payloadHash = S3Signer.emptyPayloadHash
    var buffer: ByteBuffer?
    var streamed: HTTPClientRequest.Body?
    switch body {
    case .empty: break
    case .bytes(let bytes, let contentType):
      payloadHash = S3Signer.payloadHash(bytes)
      signed.append(("content-type", contentType))
      signed.append(("content-md5", Data(Insecure.MD5.hash(data: bytes)).base64EncodedString()))
      buffer = ByteBuffer(bytes: bytes)
    case .fileRange(let fd, let offset, let length, let md5, let crc32c):
      payloadHash = S3Signer.unsignedPayload
      signed.append(("content-type", "application/octet-stream"))
      if let md5 { signed.append(("content-md5", Data(md5).base64EncodedString())) }
      signed.append((S3Checksum.header, S3Checksum.base64(crc32c)))
      streamed = .stream(FileRangeChunks(fd: fd, offset: offset, length: length), length: .known(length))
    }
    signed += extra
    let signing = S3SigningRequest(method: method.rawValue, path: path, query: query, headers: signed, payloadHash: payloadHash)
    var request = HTTPClientRequest(url: url)
    request.method = method
    for (name, value) in signed { request.headers.add(name: name, value: value) }
    let signer = S3Signer(credentials: try await credentials.credentials(), region: configuration.region)
    for (name, value) in signer.sign(signing, date: Date()) { request.headers.add(name: name, value: value) }
    if let buffer {
      request.body = .bytes(buffer)
    } else if let streamed {
      request.body = streamed
    } else if method == .PUT || method == .POST {
      request.headers.add(name: "content-length", value: "0")
    }
    return request
  }

  private func once(
    _ method: HTTPMethod, key: String?, query: [(name: String, value: String)], headers: [(name: String, value: String)],
    body: Body, deadline: ContinuousClock.Instant, maxBody: Int
  ) async throws -> Response {
    let request = try await request(method, key: key, query: query, headers: headers, body: body)
    let response = try await http.execute(request, deadline: Self.nioDeadline(deadline), logger: nil)
    let status = Int(response.status.code)
    var collected: [UInt8] = []
    if method != .HEAD {
      // The client's read timeout bounds each wait for the next byte; the budget bounds the whole body.
      for try await chunk in response.body {
        if collected.count < maxBody { collected += chunk.readableBytesView.prefix(maxBody - collected.count) }
        if ContinuousClock.now > deadline { throw BodyTooSlow() }
      }
    }
    return Response(status: status, headers: response.headers, body: collected)
  }

  /// A response body still arriving when the operation's budget ran out.
  struct BodyTooSlow: Error {}

  /// A `Duration` as NIO's `TimeAmount`.
  static func timeAmount(_ d: Duration) -> TimeAmount {
    let (s, a) = d.components
    return .nanoseconds(max(0, s * 1_000_000_000 + a / 1_000_000_000))
  }

  static func nioDeadline(_ deadline: ContinuousClock.Instant) -> NIODeadline {
    let left = ContinuousClock.now.duration(to: deadline)
    let (s, a) = left.components
    let nanos = max(0, s * 1_000_000_000 + a / 1_000_000_000)
    return .now() + .nanoseconds(nanos)
  }
}
