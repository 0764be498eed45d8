import GRPCCore
import SnapshotCore

/// Maps gRPC and transport failures to errors that say what went wrong and what to do.
///
/// etcd reports its own errors as gRPC status messages prefixed `etcdserver:`; transport
/// problems arrive as `unavailable` with the NIO or BoringSSL error as the cause. The texts
/// matched here were observed against etcd 3.4.23 and 3.5.1.
package enum EtcdErrors {
  /// Maps `error` that happened while `during` at `endpoint`.
  package static func map(
    _ error: any Error, endpoint: String, during: String, timeout: Duration? = nil
  ) -> SnapshotError {
    if let e = error as? SnapshotError { return e }
    if error is CancellationError || (error as? RPCError)?.code == .cancelled {
      return SnapshotError(.cancelled, "stopped while \(during) at \(endpoint); nothing was saved")
    }
    let detail = causeChain(error)
    let lower = detail.lowercased()
    let cause = SendableDescription(detail)

    if lower.contains("certificate_verify_failed") || lower.contains("certificate verify failed")
      || lower.contains("unable to get local issuer") || lower.contains("self signed certificate")
      || lower.contains("self-signed certificate") || lower.contains("invalidcertificate")
    {
      return SnapshotError(
        .tls,
        "TLS: the server certificate of \(endpoint) is not trusted: it is not signed by the CA in --cacert (or the system CAs when --cacert is not given). Give the CA that signed etcd's server certificate with --cacert (or --insecure-skip-tls-verify to skip the check).",
        cause: cause)
    }
    if lower.contains("hostname") && lower.contains("mismatch") || lower.contains("unable to validate hostname") {
      return SnapshotError(
        .tls,
        "TLS: the server certificate of \(endpoint) does not name this host: use an endpoint address listed in the certificate's subject alternative names.",
        cause: cause)
    }
    if lower.contains("bad certificate") || lower.contains("sslv3_alert_bad_certificate")
      || lower.contains("unknown ca") || lower.contains("tlsv1_alert_unknown_ca")
      || lower.contains("certificate required") || lower.contains("handshake_failure")
    {
      return SnapshotError(
        .tls,
        "TLS: \(endpoint) rejected our client certificate: give a certificate and key signed by the CA etcd trusts (--cert, --key; etcd's --trusted-ca-file).",
        cause: cause)
    }
    if lower.contains("key values mismatch") || lower.contains("key_values_mismatch")
      || lower.contains("failedtoloadprivatekey") || lower.contains("failedtoloadcertificate")
      || lower.contains("couldn't create ssl context")
      || lower.contains("no_start_line") || lower.contains("failed to load") || lower.contains("unable to load")
    {
      return SnapshotError(
        .tls,
        "TLS: cannot load the certificate or key files (--cacert, --cert, --key): \(firstLine(detail)). Check they are PEM files and that --key belongs to --cert.",
        cause: cause)
    }
    if lower.contains("wrong version number") || lower.contains("wrong_version_number")
      || (lower.contains("http/1") && lower.contains("tls"))
    {
      return SnapshotError(
        .tls,
        "TLS: \(endpoint) did not answer TLS: if etcd listens without TLS use an http:// endpoint; if it uses TLS, use https://.",
        cause: cause)
    }

    if let rpc = error as? RPCError {
      let message = rpc.message
      if message.contains("authentication failed") || message.contains("invalid user ID or password") {
        return SnapshotError(
          .permissionDenied,
          "authentication failed at \(endpoint): wrong user name or password; check --user and the password (--password, --password-file or ETCDCTL_PASSWORD).",
          cause: cause)
      }
      if message.contains("permission denied") {
        return SnapshotError(
          .permissionDenied,
          "permission denied at \(endpoint) during \(during): a snapshot needs a user with the root role; use the root user or grant it (`etcdctl user grant-role USER root`).",
          cause: cause)
      }
      if message.contains("auth: user not found") || message.contains("user name not found") {
        return SnapshotError(
          .permissionDenied,
          "\(endpoint) does not know the user we authenticated as (the client certificate's CN, or --user): use --user root with its password, or a client certificate whose CN is a user with the root role.",
          cause: cause)
      }
      if message.contains("user name is empty") || message.contains("invalid auth token") {
        return SnapshotError(
          .permissionDenied,
          "\(endpoint) requires authentication: give --user root (with a password), or a client certificate whose CN is a user with the root role.",
          cause: cause)
      }
      if message.contains("auth: revision in header is old") {
        return SnapshotError(.permissionDenied, "the auth token was refused by \(endpoint); try again.", cause: cause)
      }
      switch rpc.code {
      case .deadlineExceeded:
        let t = timeout.map { " within \(GoDuration.format($0))" } ?? ""
        let flag = timeout != nil ? "--dial-timeout" : "--command-timeout"
        return SnapshotError(
          .unavailable,
          "\(endpoint) did not answer\(t) while \(during): check that etcd is running and reachable there, or raise \(flag).",
          cause: cause)
      case .unavailable:
        if lower.contains("connection refused") {
          return SnapshotError(
            .unavailable,
            "cannot connect to \(endpoint): connection refused. Is etcd running and listening on that address (its --listen-client-urls)?",
            cause: cause)
        }
        if during == "the snapshot stream" {
          return SnapshotError(
            .interrupted,
            "the snapshot stream from \(endpoint) broke off (\(firstLine(detail))): etcd stopped or the connection was lost; nothing was saved. Check etcd's health and try again.",
            cause: cause)
        }
        return SnapshotError(
          .unavailable,
          "cannot reach \(endpoint) while \(during): \(firstLine(detail)). Check --endpoints and that etcd is running.",
          cause: cause)
      default:
        if during == "the snapshot stream" {
          return SnapshotError(
            .interrupted,
            "the snapshot stream from \(endpoint) failed: \(message) (\(rpc.code)); nothing was saved.",
            cause: cause)
        }
        return SnapshotError(.unavailable, "\(endpoint) answered with an error while \(during): \(message) (\(rpc.code))", cause: cause)
      }
    }
    return SnapshotError(.unavailable, "\(endpoint): \(during) failed: \(firstLine(detail))", cause: cause)
  }

  /// The error and all its causes, as text (for matching and for --debug output).
  package static func causeChain(_ error: any Error) -> String {
    var parts: [String] = []
    var current: (any Error)? = error
    var depth = 0
    while let e = current, depth < 8 {
      parts.append(String(describing: e))
      if let rpc = e as? RPCError {
        current = rpc.cause
      } else if let rt = e as? RuntimeError {
        current = rt.cause
      } else {
        current = nil
      }
      depth += 1
    }
    return parts.joined(separator: " <- ")
  }

  private static func firstLine(_ text: String) -> String {
    let line = text.split(separator: "\n").first.map(String.init) ?? text
    return line.count > 300 ? String(line.prefix(300)) + "…" : line
  }
}

/// An error's text, kept as the cause of a mapped error.
package struct SendableDescription: Error, Sendable, CustomStringConvertible {
  /// The text.
  package var description: String
  init(_ text: String) { description = text }
}
