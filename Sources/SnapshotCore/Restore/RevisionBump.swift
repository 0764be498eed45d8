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
  /// Largest revision a bump may reach (and so the largest bump): far from Int64's end.
  package static let maximum: UInt64 = 1 << 60

  /// The bump for a snapshot of revision `snapshotRevision` taken at `snapshotTime` and restored
  /// at `now` (Unix seconds), with the reason in words.
  ///
  /// Total over all `Int64` inputs: a time in the future counts as age 0, a negative revision
  /// as 0, and the bump is capped so that `snapshotRevision + bump <= maximum`. When that cap is
  /// below `recommended` (a revision within 10^9 of 2^60, which no real cluster reaches) no bump
  /// is both large enough and safe: throws `.invalidConfiguration`, saying what to do instead.
  package static func auto(
    snapshotRevision: Int64, snapshotTime: Int64, now: Int64
  ) throws(SnapshotError) -> (bump: UInt64, reason: String) {
    // The exact difference of two Int64 values always fits a UInt64 when it is positive.
    let age = now > snapshotTime ? UInt64(bitPattern: now &- snapshotTime) : 0
    let (product, overflow) = age.multipliedReportingOverflow(by: assumedWriteRate * 2)
    let estimate = overflow ? maximum : min(product, maximum)
    let revision = UInt64(max(0, snapshotRevision))
    guard revision <= maximum, maximum - revision >= recommended else {
      throw SnapshotError(
        .invalidConfiguration,
        "--bump-revision auto: the snapshot's revision \(snapshotRevision) leaves less than \(recommended) below "
          + "\(maximum), the largest revision a bump may reach; no real etcd gets there, so the snapshot is damaged or "
          + "was crafted: restore it without --bump-revision, or give an explicit --bump-revision N")
    }
    let bump = min(max(recommended, estimate), maximum - revision)
    let reason =
      "the snapshot is \(age) s old; at most \(assumedWriteRate) writes/s since then, doubled, is \(estimate) revisions; etcd recommends at least \(recommended)"
    return (bump, reason)
  }
}
