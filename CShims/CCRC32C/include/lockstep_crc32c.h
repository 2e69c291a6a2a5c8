/* Hardware CRC32C (SSE4.2 `crc32` on x86-64, the CRC extension on AArch64): the one loop Swift cannot
 * express, because Swift has no per-function target features. Runtime-dispatched by the caller
 * (Wire/CRC32C.swift), which keeps the portable path and checks both agree. No state, no allocation. */
#ifndef LOCKSTEP_CRC32C_H
#define LOCKSTEP_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* 1 when this CPU has the CRC32C instruction, else 0. */
int lockstep_crc32c_hw_available(void);

/* Feeds `count` bytes at `bytes` into the running (pre-inverted) state `crc`; returns the new state.
 * Only call when lockstep_crc32c_hw_available() returned 1. */
uint32_t lockstep_crc32c_hw_update(uint32_t crc, const void *bytes, size_t count);

#endif
