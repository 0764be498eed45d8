internal import CEtcdShims

/// CRC-32C (Castagnoli), the checksum of etcd's `snapshot status` hash and WAL records.
///
/// The same function as Go's `crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli))`:
/// reflected polynomial 0x82F63B78, initial value and final xor 0xFFFFFFFF; the check value
/// of "123456789" is 0xE3069283. Runs on the SSE4.2 `crc32` instruction when the CPU has it
/// (three interleaved chains, several GB/s) and a slicing-by-8 table otherwise; both give
/// identical results. Incremental: `checksum(a + b) == update(checksum(a), b)`, and
/// `update(0, b) == checksum(b)`.
package enum CRC32C {
  /// True when `update` runs on a CPU instruction rather than in software.
  package static var hasHardwareSupport: Bool { etcd_crc32c_has_hardware() != 0 }

  /// Continues `crc` (the checksum of the bytes before, 0 to start) over `bytes`.
  package static func update(_ crc: UInt32, _ bytes: UnsafeRawBufferPointer) -> UInt32 {
    etcd_crc32c_update(crc, bytes.baseAddress, bytes.count)
  }

  /// As `update`, always in portable software (for tests and comparisons).
  package static func softwareUpdate(_ crc: UInt32, _ bytes: UnsafeRawBufferPointer) -> UInt32 {
    etcd_crc32c_update_software(crc, bytes.baseAddress, bytes.count)
  }

  /// As `update`, on the SSE4.2 instruction when the CPU has it, else in software.
  package static func hardwareUpdate(_ crc: UInt32, _ bytes: UnsafeRawBufferPointer) -> UInt32 {
    etcd_crc32c_update_hardware(crc, bytes.baseAddress, bytes.count)
  }

  /// Continues `crc` over any collection of bytes (contiguous ones without a copy).
  package static func update<Bytes: Collection<UInt8>>(_ crc: UInt32, _ bytes: Bytes) -> UInt32 {
    if let result = bytes.withContiguousStorageIfAvailable({ update(crc, UnsafeRawBufferPointer($0)) }) {
      return result
    }
    return Array(bytes).withUnsafeBytes { update(crc, $0) }
  }

  /// The CRC-32C of `bytes`.
  package static func checksum<Bytes: Collection<UInt8>>(_ bytes: Bytes) -> UInt32 {
    update(0, bytes)
  }
}
