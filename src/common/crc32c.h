/* CRC-32C (Castagnoli): the checksum of the durable Raft log's records, hardware-accelerated where possible.
 */
#ifndef LKV_COMMON_CRC32C_H
#define LKV_COMMON_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Extends crc (0 to start) over len bytes at p and returns the new value; lkv_crc32c(0, "123456789", 9) is
 * 0xe3069283. Uses the SSE4.2 instruction when the CPU has it, otherwise a table (same results). Pure and
 * thread-safe; p may be NULL when len is 0. */
uint32_t lkv_crc32c(uint32_t crc, const void *p, size_t len);

/* The table version alone, so tests can check that both paths agree. */
uint32_t lkv_crc32c_sw(uint32_t crc, const void *p, size_t len);

#endif
