import EtcdProto
import Foundation
import GRPCCore
import SnapshotCore

/// A key claimed in etcd, or who holds it.
package enum ClaimOutcome: Sendable, Equatable {
  /// The key was absent and is now ours, held by the lease.
  case claimed
  /// The key exists: its value (another agent's claim, or a finished tick).
  case held(Data)
}

/// The few KV and Lease calls the agent's coordination makes, on the member's connection and
/// with its authentication token. Every call is bounded by `--command-timeout`.
extension EtcdMember {
  private func options(_ timeout: Duration) -> CallOptions {
    var options = CallOptions.defaults
    options.timeout = timeout
    return options
  }

  /// This member is the cluster's leader (a snapshot loads the member that serves it).
  package var isLeader: Bool { status.leader != 0 && status.leader == status.memberID }

  /// A lease of `ttl` seconds; its ID.
  package func grantLease(ttl: Int64, timeout: Duration) async throws(SnapshotError) -> Int64 {
    var request = EtcdLeaseGrantRequest()
    request.ttl = ttl
    do {
      let r = try await EtcdLease.Client(wrapping: client).leaseGrant(request, metadata: metadata, options: options(timeout))
      guard r.error.isEmpty, r.id != 0 else { throw SnapshotError(.unavailable, "etcd refused a lease of \(ttl) s: \(r.error)") }
      return r.id
    } catch let error as SnapshotError {
      throw error
    } catch {
      throw EtcdErrors.map(error, endpoint: url, during: "granting a lease")
    }
  }

  /// Renews the lease once; false when it has already expired.
  package func renewLease(_ id: Int64, timeout: Duration) async throws(SnapshotError) -> Bool {
    let request = EtcdLeaseKeepAliveRequest.with { $0.id = id }
    do {
      let ttl = try await EtcdLease.Client(wrapping: client).leaseKeepAlive(
        metadata: metadata, options: options(timeout),
        requestProducer: { writer in try await writer.write(request) },
        onResponse: { response in
          for try await message in response.messages { return message.ttl }
          return Int64(0)
        })
      return ttl > 0
    } catch {
      throw EtcdErrors.map(error, endpoint: url, during: "renewing a lease")
    }
  }

  /// Revokes the lease: the keys it holds are deleted at once.
  package func revokeLease(_ id: Int64, timeout: Duration) async throws(SnapshotError) {
    var request = EtcdLeaseRevokeRequest()
    request.id = id
    do {
      _ = try await EtcdLease.Client(wrapping: client).leaseRevoke(request, metadata: metadata, options: options(timeout))
    } catch let error as RPCError where error.message.contains("requested lease not found") {
      return
    } catch {
      throw EtcdErrors.map(error, endpoint: url, during: "revoking a lease")
    }
  }

  /// Creates `key` with `value`, held by `lease`, if and only if it does not exist (one
  /// transaction: compare the key's version with 0, put on success, read it on failure).
  package func claim(key: String, value: Data, lease: Int64, timeout: Duration) async throws(SnapshotError) -> ClaimOutcome {
    var compare = EtcdCompare()
    compare.key = Data(key.utf8)
    compare.target = .version
    compare.result = .equal
    compare.version = 0
    var put = EtcdPutRequest()
    put.key = Data(key.utf8)
    put.value = value
    put.lease = lease
    var range = EtcdRangeRequest()
    range.key = Data(key.utf8)
    var request = EtcdTxnRequest()
    request.compare = [compare]
    request.success = [EtcdRequestOp.with { $0.requestPut = put }]
    request.failure = [EtcdRequestOp.with { $0.requestRange = range }]
    do {
      let r = try await EtcdKV.Client(wrapping: client).txn(request, metadata: metadata, options: options(timeout))
      if r.succeeded { return .claimed }
      return .held(r.responses.first?.responseRange.kvs.first?.value ?? Data())
    } catch {
      throw EtcdErrors.map(error, endpoint: url, during: "claiming \(key)")
    }
  }

  /// Replaces `key`'s value, now held by `lease` (0: none), if it is still held by `holder`.
  /// False when the key is gone or another lease holds it.
  package func replace(key: String, value: Data, heldBy holder: Int64, lease: Int64, timeout: Duration) async throws(SnapshotError) -> Bool {
    var compare = EtcdCompare()
    compare.key = Data(key.utf8)
    compare.target = .lease
    compare.result = .equal
    compare.lease = holder
    var put = EtcdPutRequest()
    put.key = Data(key.utf8)
    put.value = value
    put.lease = lease
    var request = EtcdTxnRequest()
    request.compare = [compare]
    request.success = [EtcdRequestOp.with { $0.requestPut = put }]
    do {
      return try await EtcdKV.Client(wrapping: client).txn(request, metadata: metadata, options: options(timeout)).succeeded
    } catch {
      throw EtcdErrors.map(error, endpoint: url, during: "updating \(key)")
    }
  }

  /// The value of `key`, or nil when it does not exist.
  package func value(of key: String, timeout: Duration) async throws(SnapshotError) -> Data? {
    var request = EtcdRangeRequest()
    request.key = Data(key.utf8)
    do {
      return try await EtcdKV.Client(wrapping: client).range(request, metadata: metadata, options: options(timeout)).kvs.first?.value
    } catch {
      throw EtcdErrors.map(error, endpoint: url, during: "reading \(key)")
    }
  }
}
