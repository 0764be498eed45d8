import Foundation
import SnapshotCore

/// One snapshot as `ls -o json` and `ls -o yaml` show it (and, later, the agent's HTTP API).
package struct SnapshotListing: Encodable, Sendable {
  package var name: String
  package var prefix: String?
  package var node: String?
  package var timestamp: Int64
  package var createdAt: String
  package var size: Int64
  package var revision: Int64?
  package var verified: Bool
  package var location: String
  package var path: String
  package var url: String
  package var sha256: String?
  package var etcdVersion: String?
  package var clusterID: String?
  package var memberID: String?
  package var hasMetadata: Bool
  package var problem: String?

  package init(_ e: SnapshotEntry) {
    name = e.fileName
    prefix = e.name?.prefix
    node = e.name?.node
    timestamp = e.timestamp
    createdAt = rfc3339(timestamp: e.timestamp)
    size = e.size
    revision = e.revision
    verified = e.verified
    location = e.location.kind
    path = e.location.address
    url = e.location.url
    sha256 = e.metadata?.sha256
    etcdVersion = e.metadata?.etcdVersion
    clusterID = e.metadata?.clusterID
    memberID = e.metadata?.memberID
    hasMetadata = e.metadata != nil
    problem = e.problem
  }
}
