import CZstd
import SnapshotCore

private func zstdProblem(_ code: Int) -> String {
  String(cString: ZSTD_getErrorName(code))
}

/// zstd compression (one frame, with zstd's content checksum), through the system's libzstd.
package final class ZstdCompressor: ByteStage {
  private let context: OpaquePointer
  private let chunk = ZSTD_CStreamOutSize()

  /// A compressor at `level` (1...19).
  package init(level: Int) throws(SnapshotError) {
    guard let context = ZSTD_createCCtx() else { throw SnapshotError(.internal, "zstd: could not create a compression context") }
    self.context = context
    for (parameter, value) in [(ZSTD_c_compressionLevel, Int32(level)), (ZSTD_c_checksumFlag, 1)] {
      let r = ZSTD_CCtx_setParameter(context, parameter, value)
      if ZSTD_isError(r) != 0 {
        throw SnapshotError(.invalidConfiguration, "zstd level \(level): \(zstdProblem(r)); use --compress-level 1 to 19")
      }
    }
  }

  deinit { ZSTD_freeCCtx(context) }

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
    let start = output.count
    output.reserveCapacity(start + chunk)
    var result = 0
    var produced = 0
    output.append(contentsOf: repeatElement(0, count: chunk))
    output.withUnsafeMutableBytes { bytes in
      var target = ZSTD_outBuffer(dst: bytes.baseAddress! + start, size: chunk, pos: 0)
      result = ZSTD_compressStream2(context, &target, &source, mode)
      produced = target.pos
    }
    output.removeLast(chunk - produced)
    if ZSTD_isError(result) != 0 { throw SnapshotError(.internal, "zstd compression failed: \(zstdProblem(result))") }
    return result
  }
}

/// zstd decompression of one or more frames (as `zstd -d`), checking each frame's checksum.
package final class ZstdDecompressor: ByteStage {
  private let context: OpaquePointer
  private let chunk = ZSTD_DStreamOutSize()
  /// 0 after a complete frame (or before any input); otherwise a frame is under way.
  private var pending = 0
  private var sawInput = false

  /// A decompressor.
  package init() throws(SnapshotError) {
    guard let context = ZSTD_createDCtx() else { throw SnapshotError(.internal, "zstd: could not create a decompression context") }
    self.context = context
  }

  deinit { ZSTD_freeDCtx(context) }

  package func update(_ input: UnsafeRawBufferPointer, into output: inout [UInt8]) throws(SnapshotError) {
    guard !input.isEmpty else { return }
    sawInput = true
    var source = ZSTD_inBuffer(src: input.baseAddress, size: input.count, pos: 0)
    var full = true
    while source.pos < source.size || full {
      let start = output.count
      output.append(contentsOf: repeatElement(0, count: chunk))
      var result = 0
      var produced = 0
      output.withUnsafeMutableBytes { bytes in
        var target = ZSTD_outBuffer(dst: bytes.baseAddress! + start, size: chunk, pos: 0)
        result = ZSTD_decompressStream(context, &target, &source)
        produced = target.pos
      }
      output.removeLast(chunk - produced)
      if ZSTD_isError(result) != 0 {
        throw SnapshotError(.corrupt, "the zstd data is damaged: \(zstdProblem(result))")
      }
      pending = result
      full = produced == chunk
    }
  }

  package func finish(into output: inout [UInt8]) throws(SnapshotError) {
    guard sawInput else { throw SnapshotError(.corrupt, "the zstd file is empty") }
    guard pending == 0 else { throw SnapshotError(.corrupt, "the zstd data ends in the middle of a frame: the file is truncated") }
  }
}
