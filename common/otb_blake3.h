/* BLAKE3 (https://github.com/BLAKE3-team/BLAKE3-specs), portable C, the two
 * modes Shadowsocks 2022 key derivation needs: the plain hash and derive_key.
 * One-shot functions over a whole input; any output length (extended output).
 * Stack only, no allocation, not constant-time-sensitive beyond what the
 * algorithm itself is (it has no secret-dependent branches or lookups). */
#ifndef OTB_BLAKE3_H
#define OTB_BLAKE3_H

#include <stddef.h>
#include <stdint.h>

#define OTB_BLAKE3_OUT_LEN 32

/* out receives out_len bytes of BLAKE3(in). */
void otb_blake3_hash(const uint8_t *in, size_t len, uint8_t *out, size_t out_len);
/* out receives out_len bytes of BLAKE3 derive_key(context, material). */
void otb_blake3_derive_key(const char *context, const uint8_t *material, size_t len,
                           uint8_t *out, size_t out_len);

#endif
