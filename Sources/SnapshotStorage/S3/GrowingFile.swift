import S3Protocol
import SnapshotCore
import Synchronization

/// A file that one task is still writing and another reads behind it: the save pipeline
/// reports each byte it has written, and the S3 uploader wakes up and reads whole parts
/// back from the file as soon as they are on disk.
///
/// Nothing is buffered here: the page cache holds the bytes, this type only carries the
/// high-water mark and the outcome.
package final class GrowingFile: Sendable {
  /// How the writer finished.
  package enum Outcome: Sendable {
    /// Still writing.
    case writing
    /// Complete and verified, with its final metadata record.
    case succeeded(SnapshotMetadata)
    /// The writer failed or was stopped; the text says why.
    case failed(String)
  }

  /// What the reader sees.
  package struct State: Sendable {
    /// Snapshot (file) name, once writing started.
    package var name: String?
    /// Path of the file being written, once it exists.
    package var path: String?
    /// Object metadata known when writing starts (node, cluster, member, etcd version).
    package var objectMetadata: [String: String] = [:]
    /// Bytes written so far.
    package var bytes: Int64 = 0
    /// Expected total, when the source announced it.
    package var expectedSize: Int64?
    /// How the writer finished.
    package var outcome: Outcome = .writing
  }

  private let state = Mutex(State())
  private let wake: AsyncStream<Void>.Continuation
  /// Wakes the reader after each change; buffers at most one wake-up.
  package let changes: AsyncStream<Void>

  /// A file nobody has started writing yet.
  package init() {
    (changes, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
  }

  /// The current state.
  package var current: State { state.withLock { $0 } }

  /// The writer created the file at `path`.
  package func started(name: String, path: String, expectedSize: Int64?, objectMetadata: [String: String]) {
    state.withLock {
      $0.name = name
      $0.path = path
      $0.expectedSize = expectedSize
      $0.objectMetadata = objectMetadata
    }
    wake.yield()
  }

  /// The writer has written `bytes` bytes in all.
  package func advanced(to bytes: Int64) {
    state.withLock { $0.bytes = bytes }
    wake.yield()
  }

  /// The writer is done; no more changes follow.
  package func finished(_ outcome: Outcome) {
    state.withLock {
      if case .writing = $0.outcome { $0.outcome = outcome }
    }
    wake.yield()
    wake.finish()
  }
}
