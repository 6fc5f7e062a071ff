/* SHA-256 of the bytes handed to the interpreter. Hashing sits on the
 * import path, so the x86 SHA extensions are used when the CPU has them
 * (about 10x a portable implementation); the portable code is the fallback
 * and the reference the unit tests compare against. */
#ifndef HOOKSCOPE_SHA256_H
#define HOOKSCOPE_SHA256_H

#include <stddef.h>
#include <stdint.h>

struct hs_sha256 {
    uint32_t state[8];
    uint64_t length;
    uint8_t block[64];
    size_t used;
};

void hs_sha256_init(struct hs_sha256 *c);
void hs_sha256_update(struct hs_sha256 *c, const void *data, size_t len);
void hs_sha256_final(struct hs_sha256 *c, uint8_t out[32]);
void hs_sha256(const void *data, size_t len, uint8_t out[32]);

/* For tests: 1 to force the portable code, 0 to allow hardware. */
void hs_sha256_force_portable(int on);
int hs_sha256_hardware(void);

#endif
