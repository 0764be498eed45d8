import EtcdFormats

/// The bbolt checks that `verify` runs.
enum StructureCheck {
  /// Throws the first problem of the bbolt file at `path`, with its page and offset: the size
  /// rules (a database plus etcd's trailer, or whole pages), then the full structure check.
  ///
  /// bbolt opens a file with one damaged meta page by using the other; `verify` still reports
  /// it, since a saved snapshot's bytes should be exactly what etcd sent.
  static func run(path: String) throws(FormatError) {
    _ = try BoltSummary.read(path: path)
    let report = try BoltChecker.check(path: path)
    if let damaged = report.damagedMetas.first { throw damaged }
  }
}
