// The keys of etcd's `key` bucket (mvcc revisions; checked against etcd 3.4.23 and 3.5.1):
//
//   key = main u64 BE | '_' | sub u64 BE [| 't' for a tombstone]     (17 or 18 bytes)
//
// etcd keeps revisions as int64: a main revision of 2^63 or more is never written by etcd,
// only by damage or on purpose, and is refused here before anything computes with it.

/// Decodes the main revision of an etcd `key` bucket key, refusing one that is not an int64.
package enum EtcdRevisionKey {
  /// Bytes of the big-endian main revision at the start of every key.
  package static let mainByteCount = 8

  /// The main revision in the first 8 bytes of `key`, as etcd's int64.
  ///
  /// Throws a `FormatError` for `path` (located at `pageID` and `offset` when known) when `key`
  /// is shorter than 8 bytes or its main revision is 2^63 or more: etcd never writes either.
  package static func mainRevision(
    of key: some Collection<UInt8>, path: String, pageID: UInt64? = nil, offset: Int64? = nil
  ) throws(FormatError) -> Int64 {
    guard key.count >= mainByteCount else {
      throw FormatError(
        path: path,
        message:
          "the `key` bucket holds a \(key.count)-byte key \(boltDescribeKey(ArraySlice(key))), too short to start with an etcd revision: this is not an etcd database, or it is damaged",
        pageID: pageID, offset: offset)
    }
    var main: UInt64 = 0
    for byte in key.prefix(mainByteCount) { main = main << 8 | UInt64(byte) }
    guard let revision = Int64(exactly: main) else {
      throw FormatError(
        path: path,
        message:
          "the `key` bucket holds revision \(main) (key \(boltDescribeKey(ArraySlice(key)))), beyond etcd's largest revision \(Int64.max): the file is damaged or was crafted; use another snapshot",
        pageID: pageID, offset: offset)
    }
    return revision
  }
}
