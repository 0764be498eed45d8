import SnapshotCore

/// One transform of a byte stream in the snapshot pipeline: a compressor, a decompressor,
/// later an encryptor. Bytes go in, in pieces of any size; what the stage produces is
/// appended to `output`. `finish` ends the stream and throws when what came in was
/// incomplete (a truncated file) or wrong.
///
/// A stage holds its own state (a C library's context), so it is a class, used by one task
/// at a time.
///
/// What one `update` appends is not bounded by the stage: a caller that must keep memory
/// bounded feeds a decompressor small slices (see `PlainSnapshot`).
package protocol ByteStage: AnyObject {
  /// Transforms `input`, appending what is ready to `output`.
  func update(_ input: UnsafeRawBufferPointer, into output: inout [UInt8]) throws(SnapshotError)
  /// Ends the stream, appending what is left to `output`.
  func finish(into output: inout [UInt8]) throws(SnapshotError)
}

/// Stages run one after another: what one produces is the next one's input.
package final class StageChain {
  private let stages: [any ByteStage]
  private var buffers: [[UInt8]]

  /// The chain of `stages`, first to last (none: the bytes pass through unchanged).
  package init(_ stages: [any ByteStage]) {
    self.stages = stages
    buffers = Array(repeating: [], count: stages.count)
  }

  /// Whether bytes pass through unchanged.
  package var isEmpty: Bool { stages.isEmpty }

  /// Runs `input` through every stage; `body` gets what the last one produced (maybe nothing).
  package func update(_ input: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
    guard !stages.isEmpty else { return try body(input) }
    try run(from: 0, input, finishing: false, body)
  }

  /// Ends every stage in order; `body` gets what is left.
  package func finish(_ body: (UnsafeRawBufferPointer) throws -> Void) throws {
    guard !stages.isEmpty else { return }
    try run(from: 0, UnsafeRawBufferPointer(start: nil, count: 0), finishing: true, body)
  }

  private func run(
    from index: Int, _ input: UnsafeRawBufferPointer, finishing: Bool, _ body: (UnsafeRawBufferPointer) throws -> Void
  ) throws {
    guard index < stages.count else { return try body(input) }
    var out: [UInt8] = []
    swap(&out, &buffers[index])  // reuse the stage's buffer without a copy
    out.removeAll(keepingCapacity: true)
    if !input.isEmpty { try stages[index].update(input, into: &out) }
    if finishing { try stages[index].finish(into: &out) }
    defer { buffers[index] = out }
    if out.isEmpty && !finishing { return }
    try out.withUnsafeBytes { try run(from: index + 1, $0, finishing: finishing, body) }
  }
}
