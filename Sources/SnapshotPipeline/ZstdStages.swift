import CZstd
import SnapshotCore

private func zstdProblem(_ code: Int) -> String {
  String(cString: ZSTD_getErrorName(code))
}

/// zstd compression (one frame, with zstd's content checksum), through the system's libzstd.
package final class ZstdCompressor: ByteStage {
  private let context: OpaquePointer
  private let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: ZSTD_CStreamOutSize(), alignment: 16)

  /// A compressor at `level` (1...19, as the zstd tool without `--ultra`).
  package init(level: Int) throws(SnapshotError) {
    guard (1...19).contains(level) else {
      scratch.deallocate()
      throw SnapshotError(.invalidConfiguration, "zstd level \(level): use --compress-level 1 to 19")
    }
    guard let context = ZSTD_createCCtx() else {
      scratch.deallocate()
      throw SnapshotError(.internal, "zstd: could not create a compression context")
    }
    self.context = context
    for (parameter, value) in [(ZSTD_c_compressionLevel, Int32(level)), (ZSTD_c_checksumFlag, 1)] {
      let r = ZSTD_CCtx_setParameter(context, parameter, value)
      if ZSTD_isError(r) != 0 {
        throw SnapshotError(.invalidConfiguration, "zstd level \(level): \(zstdProblem(r)); use --compress-level 1 to 19")
      }
    }
  }

  deinit {
    ZSTD_freeCCtx(context)
    scratch.deallocate()
  }

  package func update(_ input: UnsafeRawBufferPointer, into output: inout [UInt8]) throws(SnapshotError) {
    var source = ZSTD_inBuffer(src: input.baseAddress, size: input.count, pos: 0)
    while source.pos < source.size {
      _ = try step(&source, ZSTD_e_continue, into: &output)
    }
  }

  package func finish(into output: inout [UInt8]) throws(SnapshotError) {
    var source = ZSTD_inBuffer(src: nil, size: 0, pos: 0)
    while try step(&source, ZSTD_e_end, into: &output) != 0 {}
  }

  /// One call of ZSTD_compressStream2; returns what it returned (for `e_end`, bytes left to flush).
  private func step(_ source: inout ZSTD_inBuffer, _ mode: ZSTD_EndDirective, into output: inout [UInt8]) throws(SnapshotError) -> Int {
    var target = ZSTD_outBuffer(dst: scratch.baseAddress, size: scratch.count, pos: 0)
    let result = ZSTD_compressStream2(context, &target, &source, mode)
    output.append(contentsOf: UnsafeRawBufferPointer(rebasing: scratch[..<target.pos]))
    if ZSTD_isError(result) != 0 { throw SnapshotError(.internal, "zstd compression failed: \(zstdProblem(result))") }
    return result
  }
}

/// zstd decompression of one or more frames (as `zstd -d`), checking each frame's checksum.
package final class ZstdDecompressor: ByteStage {
  private let context: OpaquePointer
  private let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: ZSTD_DStreamOutSize(), alignment: 16)
  /// 0 after a complete frame (or before any input); otherwise a frame is under way.
  private var pending = 0
  private var sawInput = false

  /// A decompressor.
  package init() throws(SnapshotError) {
    guard let context = ZSTD_createDCtx() else {
      scratch.deallocate()
      throw SnapshotError(.internal, "zstd: could not create a decompression context")
    }
    self.context = context
  }

  deinit {
    ZSTD_freeDCtx(context)
    scratch.deallocate()
  }

  package func update(_ input: UnsafeRawBufferPointer, into output: inout [UInt8]) throws(SnapshotError) {
    guard !input.isEmpty else { return }
    sawInput = true
    var source = ZSTD_inBuffer(src: input.baseAddress, size: input.count, pos: 0)
    // A call after a frame has ended, with no input left, would start the next frame and
    // report what that one needs: so call again for a full output buffer only mid-frame.
    var more = true
    while source.pos < source.size || more {
      var target = ZSTD_outBuffer(dst: scratch.baseAddress, size: scratch.count, pos: 0)
      let result = ZSTD_decompressStream(context, &target, &source)
      output.append(contentsOf: UnsafeRawBufferPointer(rebasing: scratch[..<target.pos]))
      if ZSTD_isError(result) != 0 {
        throw SnapshotError(.corrupt, "the zstd data is damaged: \(zstdProblem(result))")
      }
      pending = result
      more = target.pos == scratch.count && result != 0
    }
  }

  package func finish(into output: inout [UInt8]) throws(SnapshotError) {
    guard sawInput else { throw SnapshotError(.corrupt, "the zstd file is empty") }
    // What the decoder still holds (a block that ended exactly at the end of the output
    // buffer) comes out with calls without new input, until they make no progress.
    var source = ZSTD_inBuffer(src: nil, size: 0, pos: 0)
    while pending != 0 {
      var target = ZSTD_outBuffer(dst: scratch.baseAddress, size: scratch.count, pos: 0)
      let result = ZSTD_decompressStream(context, &target, &source)
      if ZSTD_isError(result) != 0 { throw SnapshotError(.corrupt, "the zstd data is damaged: \(zstdProblem(result))") }
      output.append(contentsOf: UnsafeRawBufferPointer(rebasing: scratch[..<target.pos]))
      pending = result
      if target.pos == 0 { break }
    }
    guard pending == 0 else { throw SnapshotError(.corrupt, "the zstd data ends in the middle of a frame: the file is truncated") }
  }
}
