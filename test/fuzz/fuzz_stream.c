/* libFuzzer target for the AEAD TCP stream decoder.
 *
 * Input layout: [ctl][split][extra][room][body...]
 *   ctl bits 0-1  method
 *   ctl bits 2-3  mode: 0 = body is a ciphertext stream, 1 = body is
 *                 plaintext to seal and decode again, 2 = like 1 with one
 *                 byte of the sealed stream corrupted, 3 = as 0
 *   split         seeds the sizes of the pieces handed to the decoder
 *   extra         mode 1/2: plaintext repetitions (bits 4-6) and sizes of
 *                 the otb_stream_seal calls (bits 0-3)
 *   room          output buffer size: 0 = one full chunk, else room * 37
 * Every input is decoded with a fixed key (password "fuzz"), so runs are
 * deterministic. */

#include "fuzz.h"
#include "otb_common.h"
#include "otb_crypto.h"
#include "otb_stream.h"

/* xorshift32: deterministic piece sizes from one input byte. */
static uint32_t next_rand(uint32_t *s)
{
    uint32_t x = *s;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    *s = x;
    return x;
}

static size_t piece_size(uint32_t *s)
{
    uint32_t r = next_rand(s);
    switch (r & 3) {
    case 0:
        return 1 + (r >> 8) % 4;
    case 1:
        return 1 + (r >> 8) % 64;
    case 2:
        return 1 + (r >> 8) % 1024;
    default:
        return 1 + (r >> 8) % 40000;
    }
}

/* Feeds ct to a decoder in pieces, keeping unconsumed bytes the way a
 * connection does and draining the output after every call. Returns the
 * last result; *plain receives everything decoded (at most ctlen bytes). */
static int decode_pieces(const struct otb_master *m, const uint8_t *ct, size_t ctlen,
                         uint32_t seed, size_t room, uint8_t *plain, size_t *plainlen,
                         size_t *left)
{
    struct otb_stream_dec d;
    uint8_t *pend = malloc(ctlen ? ctlen : 1);
    uint8_t *out = malloc(OTB_CHUNK_MAX);
    size_t pend_len = 0, off = 0;
    int rc = OTB_NEED_MORE;

    FUZZ_CHECK(pend != NULL && out != NULL);
    memset(&d, 0, sizeof(d));
    otb_stream_dec_init(&d, m);
    *plainlen = 0;
    while (off < ctlen && rc != OTB_BAD) {
        size_t want = piece_size(&seed);
        size_t n = OTB_MIN(want, ctlen - off);
        memcpy(pend + pend_len, ct + off, n);
        pend_len += n;
        off += n;
        for (;;) {
            size_t consumed = 0, produced = 0;
            rc = otb_stream_open(&d, pend, pend_len, &consumed, out, room, &produced);
            if (rc == OTB_BAD)
                break;
            FUZZ_CHECK(rc == OTB_OK || rc == OTB_NEED_MORE);
            FUZZ_CHECK(consumed <= pend_len);
            FUZZ_CHECK(produced <= room);
            /* Plaintext is always shorter than the ciphertext it came from. */
            FUZZ_CHECK(produced < consumed || produced == 0);
            FUZZ_CHECK(*plainlen + produced <= ctlen);
            memcpy(plain + *plainlen, out, produced);
            *plainlen += produced;
            memmove(pend, pend + consumed, pend_len - consumed);
            pend_len -= consumed;
            if (rc == OTB_NEED_MORE) {
                /* What is left is an incomplete unit. */
                switch (d.state) {
                case OTB_DEC_SALT:
                    FUZZ_CHECK(pend_len < m->key_len);
                    break;
                case OTB_DEC_LENGTH:
                    FUZZ_CHECK(pend_len < 2 + OTB_TAG_LEN);
                    break;
                case OTB_DEC_PAYLOAD:
                    FUZZ_CHECK(d.payload_len >= 1 && d.payload_len <= OTB_CHUNK_MAX);
                    FUZZ_CHECK(pend_len < (size_t)d.payload_len + OTB_TAG_LEN);
                    break;
                }
                break;
            }
            /* OTB_OK: the output was too small for the next chunk. That
             * never happens when it could hold all the input. */
            FUZZ_CHECK(room < pend_len + consumed);
            FUZZ_CHECK(d.state == OTB_DEC_PAYLOAD && d.payload_len > room - produced);
            if (consumed == 0 && produced == 0) {
                FUZZ_CHECK(room < OTB_CHUNK_MAX);
                room = OTB_CHUNK_MAX;
            }
        }
    }
    *left = pend_len;
    otb_stream_dec_end(&d);
    free(pend);
    free(out);
    return rc;
}

static size_t seal_all(const struct otb_master *m, const uint8_t *plain, size_t len,
                       uint8_t parts, uint8_t *out)
{
    struct otb_stream_enc e;
    uint8_t salt[OTB_MAX_SALT_LEN];
    uint32_t seed = 0x9E3779B9u ^ parts;
    size_t w, off = 0;

    for (size_t i = 0; i < sizeof(salt); i++)
        salt[i] = (uint8_t)(i * 29 + 1);
    memset(&e, 0, sizeof(e));
    w = otb_stream_enc_start(&e, m, salt, out);
    while (off < len) {
        size_t n = len - off;
        if (parts != 0) {
            size_t want = piece_size(&seed);
            n = OTB_MIN(n, want);
        }
        w += otb_stream_seal(&e, plain + off, n, out + w);
        off += n;
    }
    otb_stream_enc_end(&e);
    return w;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct otb_master m;
    const uint8_t *body = data + 4;
    size_t body_len, room, plainlen, left;
    unsigned mode;
    uint8_t *plain;
    int rc;

    if (size < 4)
        return 0;
    if (otb_crypto_init() != 0)
        abort();
    body_len = size - 4;
    mode = (data[0] >> 2) & 3u;
    otb_master_from_password(&m, (enum otb_method)(data[0] & 3u), "fuzz");
    room = data[3] == 0 ? OTB_CHUNK_MAX : (size_t)data[3] * 37;

    if (mode == 0 || mode == 3) {
        plain = malloc(body_len ? body_len : 1);
        FUZZ_CHECK(plain != NULL);
        (void)decode_pieces(&m, body, body_len, 0x1234567u + data[1], room, plain, &plainlen,
                            &left);
        free(plain);
    } else if (body_len > 0) {
        size_t reps = 1 + ((data[2] >> 4) & 7u);
        size_t len = body_len * reps;
        uint8_t *src = malloc(len);
        /* Every seal call covers at least one byte: at most len chunks. */
        uint8_t *ct = malloc(m.key_len + len * (1 + OTB_CHUNK_OVERHEAD));
        size_t ctlen;

        FUZZ_CHECK(src != NULL && ct != NULL);
        for (size_t r = 0; r < reps; r++)
            memcpy(src + r * body_len, body, body_len);
        ctlen = seal_all(&m, src, len, data[2] & 15u, ct);
        if (data[2] & 15u)
            FUZZ_CHECK(ctlen >= m.key_len + otb_stream_sealed_len(len));
        else
            FUZZ_CHECK(ctlen == m.key_len + otb_stream_sealed_len(len));
        FUZZ_CHECK(ctlen <= m.key_len + len * (1 + OTB_CHUNK_OVERHEAD));
        plain = malloc(ctlen);
        FUZZ_CHECK(plain != NULL);
        if (mode == 1) {
            rc = decode_pieces(&m, ct, ctlen, 0x7654321u + data[1], room, plain, &plainlen,
                               &left);
            FUZZ_CHECK(rc == OTB_NEED_MORE);
            FUZZ_CHECK(left == 0);
            FUZZ_CHECK(plainlen == len);
            FUZZ_CHECK(memcmp(plain, src, len) == 0);
        } else {
            uint32_t pick = 0xC0FFEEu + data[1] + ((uint32_t)data[3] << 8);
            size_t pos = next_rand(&pick) % ctlen;
            uint8_t mask = (uint8_t)(1u << (next_rand(&pick) & 7));
            ct[pos] ^= mask;
            rc = decode_pieces(&m, ct, ctlen, 0x2468ACEu + data[1], room, plain, &plainlen,
                               &left);
            FUZZ_CHECK(rc == OTB_BAD);
            FUZZ_CHECK(plainlen <= len);
            FUZZ_CHECK(memcmp(plain, src, plainlen) == 0);
        }
        free(src);
        free(ct);
        free(plain);
    }
    otb_master_wipe(&m);
    return 0;
}
