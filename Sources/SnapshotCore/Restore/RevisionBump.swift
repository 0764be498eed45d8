/// How much to add to a restored store revision (`restore --bump-revision auto`).
///
/// Why: Kubernetes uses etcd's revision as `resourceVersion`. A restore from an older snapshot
/// makes the revision go backwards; new writes would reuse revision numbers that clients have
/// already seen, and watches resumed from them would silently miss changes. Bumping the
/// revision beyond anything the old cluster can have reached, and marking everything below as
/// compacted, keeps revisions monotonic and forces every watcher to re-list (410 Gone).
///
/// The bump must exceed the revisions written after the snapshot was taken. `auto` assumes at
/// most `assumedWriteRate` revisions per second since the snapshot's creation, doubles it for
/// margin, and never goes below etcd's recommended 1 000 000 000.
package enum RevisionBump {
  /// etcd's documented recommendation, and our minimum.
  package static let recommended: UInt64 = 1_000_000_000
  /// A sustained write rate no real etcd cluster reaches for long (revisions per second).
  package static let assumedWriteRate: UInt64 = 10_000
  /// Largest bump we choose, so that the revision stays far from Int64's end.
  package static let maximum: UInt64 = 1 << 60

  /// The bump for a snapshot taken at `snapshotTime` and restored at `now` (Unix seconds),
  /// with the reason in words.
  package static func auto(snapshotRevision: Int64, snapshotTime: Int64, now: Int64) -> (bump: UInt64, reason: String) {
    let age = UInt64(max(0, now - snapshotTime))
    let (product, overflow) = age.multipliedReportingOverflow(by: assumedWriteRate * 2)
    let estimate = overflow ? maximum : product
    let headroom = maximum - UInt64(max(0, snapshotRevision))
    let bump = min(max(recommended, estimate), headroom)
    let reason =
      "the snapshot is \(age) s old; at most \(assumedWriteRate) writes/s since then, doubled, is \(estimate) revisions; etcd recommends at least \(recommended)"
    return (bump, reason)
  }
}
