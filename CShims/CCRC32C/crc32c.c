/* See include/lockstep_crc32c.h. Three independent crc32q chains would hide the instruction's
 * latency further, but one chain already runs at about 8 bytes per 3 cycles (several GB/s), far
 * above what the ingest path needs; this stays the shortest correct loop. */
#include "lockstep_crc32c.h"

#include <string.h>

#if defined(__x86_64__)
#include <nmmintrin.h>

int lockstep_crc32c_hw_available(void) { return __builtin_cpu_supports("sse4.2") ? 1 : 0; }

__attribute__((target("sse4.2")))
uint32_t lockstep_crc32c_hw_update(uint32_t crc, const void *bytes, size_t count)
{
    const unsigned char *p = bytes;
    uint64_t state = crc;
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
