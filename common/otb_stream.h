/* Shadowsocks AEAD TCP stream codec (SIP004):
 *   [salt][seal(len:2 BE)][tag][seal(payload)][tag]...
 * Pure and allocation-free: no I/O, no logging. The decoder accepts any split
 * of its input across calls; the caller keeps unconsumed bytes. */
#ifndef OTB_STREAM_H
#define OTB_STREAM_H

#include "otb_common.h"
#include "otb_crypto.h"

#define OTB_CHUNK_MAX 0x3FFF
#define OTB_CHUNK_OVERHEAD (2 + OTB_TAG_LEN + OTB_TAG_LEN)

struct otb_stream_enc {
    struct otb_aead aead;
};

enum otb_stream_dec_state { OTB_DEC_SALT, OTB_DEC_LENGTH, OTB_DEC_PAYLOAD };

struct otb_stream_dec {
    struct otb_aead aead;
    const struct otb_master *master;
    enum otb_stream_dec_state state;
    uint16_t payload_len;
    uint32_t chunks;                 /* payload chunks opened so far */
    uint8_t salt[OTB_MAX_SALT_LEN];  /* valid once state != OTB_DEC_SALT */
};

/* Sealed size of len plaintext bytes (without the salt). */
size_t otb_stream_sealed_len(size_t len);
/* Largest plaintext whose sealed size fits in room (without the salt). */
size_t otb_stream_max_plain(size_t room);

/* Both structs must start zeroed. Writes the salt (key_len bytes) to out and
 * returns its length. */
size_t otb_stream_enc_start(struct otb_stream_enc *e, const struct otb_master *m,
                            const uint8_t *salt, uint8_t *out);
/* Seals len > 0 bytes as chunks of at most OTB_CHUNK_MAX; out must hold
 * otb_stream_sealed_len(len). Returns the bytes written. */
size_t otb_stream_seal(struct otb_stream_enc *e, const uint8_t *in, size_t len, uint8_t *out);
/* One chunk: sealed length (2 bytes big-endian) then sealed payload, n
 * bytes of in; the bytes written. Shared with the 2022 stream, whose chunks
 * have the same form (up to 0xFFFF bytes). */
size_t otb_stream_seal_chunk(struct otb_aead *a, const uint8_t *in, size_t n, uint8_t *out);
void otb_stream_enc_end(struct otb_stream_enc *e);

void otb_stream_dec_init(struct otb_stream_dec *d, const struct otb_master *m);
/* Consumes complete units (salt, length block, payload chunk) from in and
 * writes plaintext to out.
 *   OTB_NEED_MORE: every complete unit was consumed; in[*consumed..inlen) is
 *                  the start of an incomplete one (keep it, add more bytes).
 *   OTB_OK:        stopped early because out has no room for the next
 *                  payload; call again with room (never when outcap >= inlen).
 *   OTB_BAD:       authentication failed or length is 0 or > OTB_CHUNK_MAX. */
int otb_stream_open(struct otb_stream_dec *d, const uint8_t *in, size_t inlen, size_t *consumed,
                    uint8_t *out, size_t outcap, size_t *outlen);
void otb_stream_dec_end(struct otb_stream_dec *d);

#endif
