import EtcdFormats

/// What a snapshot file says about itself when no metadata record describes it.
package enum FileInspection {
  /// The revision inside the file (from its bbolt pages, a few page reads), or the problem
  /// that prevented reading it.
  @Sendable package static func inspect(_ path: String) -> (revision: Int64?, problem: String?) {
    do {
      let summary = try BoltSummary.read(path: path)
      return (summary.revision, nil)
    } catch {
      return (nil, error.message)
    }
  }
}
