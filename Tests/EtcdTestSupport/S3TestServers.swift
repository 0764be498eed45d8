import Foundation

#if canImport(Glibc)
  import Glibc
#endif

/// Waits for a child's first stdout line (a JSON object) and decodes it.
func firstJSONLine<T: Decodable>(_ process: RunningProcess, _ type: T.Type, what: String, timeout: Duration = .seconds(60)) async throws -> T {
  let deadline = ContinuousClock.now + timeout
  // The line is looked for once more after the deadline: a test process whose cooperative pool
  // other suites keep busy may wake from its sleep late, and the child is then judged by what
  // it printed, not by how late the test looked.
  while true {
    if let line = process.stdoutSoFar.split(separator: "\n").first, line.hasPrefix("{"), line.hasSuffix("}") {
      return try JSONDecoder().decode(T.self, from: Data(line.utf8))
    }
    if !process.isRunning { throw HarnessError("\(what) exited: \(try process.wait())") }
    if ContinuousClock.now >= deadline { throw HarnessError("\(what) did not start within \(timeout)") }
    try await Task.sleep(for: .milliseconds(50))
  }
}

/// moto's S3 server on 127.0.0.1 with SigV4 signatures checked (`Tests/Servers/moto-s3.py`), an IAM
/// key pair that may do everything, and the buckets asked for.
package final class MotoS3Server: Sendable {
  struct Started: Decodable {
    var port: Int
    var accessKey: String
    var secretKey: String
    var roleARN: String

    enum CodingKeys: String, CodingKey {
      case port
      case accessKey = "access_key"
      case secretKey = "secret_key"
      case roleARN = "role_arn"
    }
  }

  /// The process.
  package let process: RunningProcess
  /// Port on 127.0.0.1.
  package let port: Int
  /// Access key ID of the IAM user.
  package let accessKey: String
  /// Its secret.
  package let secretKey: String
  /// A role with the same rights, for web identity (STS AssumeRoleWithWebIdentity).
  package let roleARN: String
  /// The only token STS accepts for the role (nil: web identity is refused).
  package let webIdentityToken: String?

  /// Starts the server with `buckets` created; STS issues credentials for `webIdentityToken`
  /// that expire after `stsDuration` seconds (S3 then refuses them, as AWS does).
  package init(buckets: [String], webIdentityToken: String? = nil, stsDuration: Int? = nil) async throws {
    var args = ["python3", repositoryRoot() + "/Tests/Servers/moto-s3.py", "--port", "0"] + buckets.flatMap { ["--bucket", $0] }
    if let webIdentityToken { args += ["--web-identity-token", webIdentityToken] }
    if let stsDuration { args += ["--sts-duration-seconds", String(stsDuration)] }
    process = try TestProcess.start("/usr/bin/env", args)
    let started = try await firstJSONLine(process, Started.self, what: "moto-s3.py")
    port = started.port
    accessKey = started.accessKey
    secretKey = started.secretKey
    roleARN = started.roleARN
    self.webIdentityToken = webIdentityToken
  }

  /// How many credentials moto's STS has issued for web identity so far.
  package var webIdentityGrants: Int {
    process.stderrSoFar.components(separatedBy: "moto-s3: AssumeRoleWithWebIdentity for").count - 1
  }

  /// `127.0.0.1:PORT`, for `--s3-endpoint`.
  package var endpoint: String { "127.0.0.1:\(port)" }

  /// The key pair as AWS_* variables.
  package var credentialEnvironment: [String: String] {
    ["AWS_ACCESS_KEY_ID": accessKey, "AWS_SECRET_ACCESS_KEY": secretKey]
  }

  /// Runs `Tests/Servers/s3-oracle.py` (boto3, independent of our client) and returns its JSON output.
  package func oracle(bucket: String, _ arguments: [String]) throws -> Any {
    var env = ProcessInfo.processInfo.environment
    for (k, v) in credentialEnvironment { env[k] = v }
    for k in ["HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"] { env.removeValue(forKey: k) }
    let out = try TestProcess.check(
      "/usr/bin/env",
      ["python3", repositoryRoot() + "/Tests/Servers/s3-oracle.py", "--endpoint", "http://\(endpoint)", "--bucket", bucket] + arguments,
      environment: env, timeout: .seconds(300))
    return try JSONSerialization.jsonObject(with: Data(out.utf8))
  }

  /// Keys and sizes of every object under `prefix`.
  package func objects(bucket: String, prefix: String = "") throws -> [S3Object] {
    let list = try oracle(bucket: bucket, ["objects", prefix]) as? [[String: Any]] ?? []
    return list.map {
      S3Object(
        key: $0["key"] as? String ?? "", size: $0["size"] as? Int ?? -1, metadata: $0["metadata"] as? [String: String] ?? [:],
        checksumCRC32C: $0["checksumCRC32C"] as? String, tags: $0["tags"] as? [String: String] ?? [:])
    }
  }

  /// Multipart uploads still in progress (orphan parts, if a test ends with any).
  package func uploadsInProgress(bucket: String) throws -> [String] {
    let list = try oracle(bucket: bucket, ["uploads"]) as? [[String: Any]] ?? []
    return list.map { $0["key"] as? String ?? "" }
  }

  deinit { process.signal(SIGTERM) }
}

/// An object as boto3 sees it.
package struct S3Object: Sendable {
  /// Key.
  package var key: String
  /// Size in bytes.
  package var size: Int
  /// User metadata (`x-amz-meta-*` without the prefix).
  package var metadata: [String: String]
  /// The store's CRC-32C checksum (`base64-N` for a multipart upload), if it has one.
  package var checksumCRC32C: String?
  /// Object tags.
  package var tags: [String: String]
}

/// `Tests/Servers/s3-test-proxy.py`: a reverse proxy (optionally TLS) or forward proxy that
/// injects faults and records what passed through.
package final class S3TestProxy: Sendable {
  struct Started: Decodable {
    var port: Int
    var controlPort: Int?

    enum CodingKeys: String, CodingKey {
      case port
      case controlPort = "control_port"
    }
  }

  /// One request as the proxy saw it.
  package struct Seen: Decodable, Sendable {
    /// HTTP method.
    package var method: String?
    /// Path.
    package var path: String?
    /// Query string.
    package var query: String?
    /// HTTP status the client got (nil for a reset or a stall).
    package var httpStatus: Int?
    /// The fault applied, if any.
    package var fault: String?
    /// Target host:port (forward mode).
    package var target: String?
    /// The request's Range header.
    package var range: String?
    /// The request's If-Match header.
    package var ifMatch: String?

    enum CodingKeys: String, CodingKey {
      case method, path, query, fault, target, range
      case httpStatus = "http_status"
      case ifMatch = "if_match"
    }
  }

  /// The stats document.
  package struct Stats: Decodable, Sendable {
    /// Requests forwarded or answered.
    package var requests: [Seen]
    /// CONNECT targets.
    package var connects: [String]
  }

  /// The process.
  package let process: RunningProcess
  /// Listening port.
  package let port: Int
  /// Plain-HTTP control port.
  package let controlPort: Int

  /// A reverse proxy to `upstream` (`127.0.0.1:PORT`), speaking TLS with `tls` (cert, key).
  package init(upstream: String, tls: (cert: String, key: String)? = nil) async throws {
    var args = ["python3", repositoryRoot() + "/Tests/Servers/s3-test-proxy.py", "--listen-port", "0", "--upstream", upstream, "--control-port", "0"]
    if let tls { args += ["--tls-cert", tls.cert, "--tls-key", tls.key] }
    process = try TestProcess.start("/usr/bin/env", args)
    let started = try await firstJSONLine(process, Started.self, what: "s3-test-proxy.py")
    port = started.port
    controlPort = started.controlPort ?? started.port
  }

  /// A forward proxy (absolute-form requests and CONNECT; `*.localhost` resolves to 127.0.0.1).
  package init(forward: Void) async throws {
    process = try TestProcess.start(
      "/usr/bin/env",
      ["python3", repositoryRoot() + "/Tests/Servers/s3-test-proxy.py", "--mode", "forward", "--listen-port", "0", "--control-port", "0"])
    let started = try await firstJSONLine(process, Started.self, what: "s3-test-proxy.py")
    port = started.port
    controlPort = started.controlPort ?? started.port
  }

  /// `127.0.0.1:PORT`.
  package var endpoint: String { "127.0.0.1:\(port)" }

  /// Replaces the fault rules (JSON list, see the script).
  package func setFaults(_ json: String) throws {
    try TestProcess.check(
      "/usr/bin/curl",
      ["-fsS", "-X", "POST", "-H", "Content-Type: application/json", "--data-binary", json, "http://127.0.0.1:\(controlPort)/__proxy/faults"])
  }

  /// Clears the statistics and the fault rules.
  package func reset() throws {
    try TestProcess.check("/usr/bin/curl", ["-fsS", "-X", "POST", "http://127.0.0.1:\(controlPort)/__proxy/reset"])
  }

  /// What passed through so far.
  package func stats() throws -> Stats {
    let out = try TestProcess.check("/usr/bin/curl", ["-fsS", "http://127.0.0.1:\(controlPort)/__proxy/stats"])
    return try JSONDecoder().decode(Stats.self, from: Data(out.utf8))
  }

  deinit { process.signal(SIGTERM) }
}

/// Stand-ins for the EC2 instance metadata service (IMDSv2) and the container credentials
/// endpoint (`Tests/Servers/aws-credentials-server.py`), handing out real credentials of `moto`
/// (obtained from its STS with the web identity token).
package final class AWSCredentialsServer: Sendable {
  struct Started: Decodable {
    var port: Int
    var imdsEndpoint: String
    var containerURI: String
    var containerToken: String

    enum CodingKeys: String, CodingKey {
      case port
      case imdsEndpoint = "imds_endpoint"
      case containerURI = "container_uri"
      case containerToken = "container_token"
    }
  }

  package let process: RunningProcess
  /// `http://127.0.0.1:PORT`, for AWS_EC2_METADATA_SERVICE_ENDPOINT.
  package let imdsEndpoint: String
  /// For AWS_CONTAINER_CREDENTIALS_FULL_URI.
  package let containerURI: String
  /// The Authorization value the container endpoint wants.
  package let containerToken: String

  package init(moto: MotoS3Server) async throws {
    guard let token = moto.webIdentityToken else { throw HarnessError("the credentials server needs moto with a web identity token") }
    process = try TestProcess.start(
      "/usr/bin/env",
      [
        "python3", repositoryRoot() + "/Tests/Servers/aws-credentials-server.py", "--moto-endpoint", moto.endpoint, "--role-arn", moto.roleARN,
        "--web-identity-token", token,
      ])
    let started = try await firstJSONLine(process, Started.self, what: "aws-credentials-server.py")
    imdsEndpoint = started.imdsEndpoint
    containerURI = started.containerURI
    containerToken = started.containerToken
  }

  /// The requests served so far: (method, path, status).
  package var requests: [(method: String, path: String, status: Int)] {
    process.stderrSoFar.split(separator: "\n").compactMap { line in
      guard let data = line.data(using: .utf8), let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
        let method = object["method"] as? String, let path = object["path"] as? String, let status = object["status"] as? Int
      else { return nil }
      return (method, path, status)
    }
  }
}
