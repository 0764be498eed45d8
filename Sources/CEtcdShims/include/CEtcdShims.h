// Small C helpers for etcd-snapshot: CRC-32C (Castagnoli).
//
// CRC-32C is the checksum of etcd's WAL records and of `snapshot status` (Go's
// crc32.MakeTable(crc32.Castagnoli)): reflected polynomial 0x82F63B78, initial value and final
// xor 0xFFFFFFFF. Check value: CRC-32C("123456789") = 0xE3069283.
//
// Every function here continues a checksum the way Go's crc32.Update does: pass 0 to start,
// and the result of one call as `crc` of the next to checksum a concatenation.

#ifndef CETCDSHIMS_H
#define CETCDSHIMS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// CRC-32C of `length` bytes at `bytes`, continuing `crc` (0 to start), with the fastest
/// implementation this CPU has (SSE4.2 on x86-64 when present, else slicing-by-8).
uint32_t etcd_crc32c_update(uint32_t crc, const void *bytes, size_t length);

/// As etcd_crc32c_update, always with the portable slicing-by-8 table implementation.
uint32_t etcd_crc32c_update_software(uint32_t crc, const void *bytes, size_t length);

/// As etcd_crc32c_update, with the SSE4.2 crc32 instruction; falls back to software when the
/// CPU (or the architecture) has no such instruction (see etcd_crc32c_has_hardware).
uint32_t etcd_crc32c_update_hardware(uint32_t crc, const void *bytes, size_t length);

/// 1 when etcd_crc32c_update uses a CPU instruction, 0 when it runs in software.
int etcd_crc32c_has_hardware(void);

#ifdef __cplusplus
}
#endif

#endif
