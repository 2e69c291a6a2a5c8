/* See include/lockstep_crc32c.h.
 *
 * x86-64: the crc32q instruction has a latency of 3 cycles and a throughput of 1 per cycle, so one
 * chain runs at a third of the instruction's speed. Long inputs are cut into three lanes that run
 * interleaved, and the lane results are joined with the linearity of CRCs: for a lane of L bytes,
 * crc(A ++ B ++ C) = shift_2L(crc(A)) ^ shift_L(crc0(B)) ^ crc0(C), where crc0 starts from state 0 and
 * shift_L advances a state over L zero bytes. shift_L is linear in the 32 state bits, so it is four
 * 256-entry tables (one per state byte), built once at load time by running the instruction itself
 * over L zero bytes from each single-bit state. Two lane lengths: 4 KiB lanes for the bulk, 256-byte
 * lanes for the rest. (Intel's white paper "Fast CRC Computation for iSCSI Polynomial Using CRC32
 * Instruction", 2011, describes the method.) */
#include "lockstep_crc32c.h"

#include <string.h>

#if defined(__x86_64__)
#include <nmmintrin.h>

#define LONG_LANE 4096
#define SHORT_LANE 256

static uint32_t shift_long[4][256];
static uint32_t shift_short[4][256];
/* Set once the tables are built; until then (or without the instruction) the lanes are not used. */
static int tables_ready;

int lockstep_crc32c_hw_available(void) { return __builtin_cpu_supports("sse4.2") ? 1 : 0; }

__attribute__((target("sse4.2")))
static uint32_t zeros(uint32_t state, size_t count)
{
    uint64_t wide = state;
    for (size_t i = 0; i < count; i += 8) wide = _mm_crc32_u64(wide, 0);
    return (uint32_t)wide;
}

static void build_shift(uint32_t table[4][256], size_t lane)
{
    uint32_t column[32];
    for (int bit = 0; bit < 32; bit++) column[bit] = zeros(1u << bit, lane);
    for (int byte = 0; byte < 4; byte++) {
        for (int value = 0; value < 256; value++) {
            uint32_t out = 0;
            for (int bit = 0; bit < 8; bit++) {
                if (value & (1 << bit)) out ^= column[8 * byte + bit];
            }
            table[byte][value] = out;
        }
    }
}

__attribute__((constructor))
static void build_tables(void)
{
    __builtin_cpu_init();
    if (!lockstep_crc32c_hw_available()) return;
    build_shift(shift_long, LONG_LANE);
    build_shift(shift_short, SHORT_LANE);
    tables_ready = 1;
}

static uint32_t shift(uint32_t table[4][256], uint32_t state)
{
    return table[0][state & 0xff] ^ table[1][(state >> 8) & 0xff] ^ table[2][(state >> 16) & 0xff] ^ table[3][state >> 24];
}

/* Three interleaved lanes of `lane` bytes at p; returns the state after all 3 × lane bytes. */
__attribute__((target("sse4.2")))
static uint64_t three_lanes(uint64_t state, const unsigned char *p, size_t lane, uint32_t table[4][256])
{
    uint64_t a = state, b = 0, c = 0;
    for (size_t i = 0; i < lane; i += 8) {
        uint64_t wa, wb, wc;
        memcpy(&wa, p + i, 8);
        memcpy(&wb, p + lane + i, 8);
        memcpy(&wc, p + 2 * lane + i, 8);
        a = _mm_crc32_u64(a, wa);
        b = _mm_crc32_u64(b, wb);
        c = _mm_crc32_u64(c, wc);
    }
    return shift(table, shift(table, (uint32_t)a) ^ (uint32_t)b) ^ (uint32_t)c;
}

__attribute__((target("sse4.2")))
uint32_t lockstep_crc32c_hw_update(uint32_t crc, const void *bytes, size_t count)
{
    const unsigned char *p = bytes;
    uint64_t state = crc;
    while (tables_ready && count >= 3 * LONG_LANE) {
        state = three_lanes(state, p, LONG_LANE, shift_long);
        p += 3 * LONG_LANE;
        count -= 3 * LONG_LANE;
    }
    while (tables_ready && count >= 3 * SHORT_LANE) {
        state = three_lanes(state, p, SHORT_LANE, shift_short);
        p += 3 * SHORT_LANE;
        count -= 3 * SHORT_LANE;
    }
    while (count >= 8) {
        uint64_t word;
        memcpy(&word, p, 8);
        state = _mm_crc32_u64(state, word);
        p += 8;
        count -= 8;
    }
    uint32_t small = (uint32_t)state;
    while (count > 0) {
        small = _mm_crc32_u8(small, *p);
        p++;
        count--;
    }
    return small;
}

#elif defined(__aarch64__)
#include <sys/auxv.h>
#include <asm/hwcap.h>

int lockstep_crc32c_hw_available(void) { return (getauxval(AT_HWCAP) & HWCAP_CRC32) ? 1 : 0; }

__attribute__((target("crc")))
uint32_t lockstep_crc32c_hw_update(uint32_t crc, const void *bytes, size_t count)
{
    const unsigned char *p = bytes;
    while (count >= 8) {
        uint64_t word;
        memcpy(&word, p, 8);
        crc = __builtin_arm_crc32cd(crc, word);
        p += 8;
        count -= 8;
    }
    while (count > 0) {
        crc = __builtin_arm_crc32cb(crc, *p);
        p++;
        count--;
    }
    return crc;
}

#else
int lockstep_crc32c_hw_available(void) { return 0; }
uint32_t lockstep_crc32c_hw_update(uint32_t crc, const void *bytes, size_t count)
{
    (void)bytes;
    (void)count;
    return crc;
}
#endif
