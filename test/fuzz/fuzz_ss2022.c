/* libFuzzer target of the Shadowsocks 2022 TCP decoder (otb_ss2022.c).
 * data[0] picks the method (low 2 bits, of the three) and the mode (bits
 * 2-3); data[1] seeds how the input is split and data[2] the output room:
 *   mode 0: the rest decoded as a request stream, as the wire brings it;
 *   mode 1: the rest is the plaintext of a variable header (address,
 *           padding length, padding, payload), sealed behind a good fixed
 *           header: every header check runs on fuzzed contents;
 *   mode 2: the rest is a response stream's bytes after a good salt;
 *   mode 3: the rest is payload: request + chunks by the encoder, decoded
 *           in pieces, must come back whole, address first.
 * Whatever the input: no crash, no read out of bounds, output within the
 * room given, and a refused stream says why. */
#include "fuzz.h"

#include "otb_ss2022.h"

#define NOW 1700000000ull
static const uint8_t ADDR[] = { 1, 10, 0, 0, 1, 0, 80 };
static const enum otb_method methods[] = { OTB_2022_AES_128_GCM, OTB_2022_AES_256_GCM,
                                           OTB_2022_CHACHA20_POLY1305 };

static uint32_t next_rand(uint32_t *s)
{
    *s = *s * 1103515245u + 12345u;
    return *s >> 8;
}

/* Decodes in (modified in place) in random pieces with the given room. */
static int decode(struct otb_ss22_dec *d, uint8_t *in, size_t len, uint32_t seed, size_t room,
                  uint8_t *out, size_t *outlen)
{
    size_t start = 0, end = 0;
    int rc = OTB_NEED_MORE;

    *outlen = 0;
    while (end < len || rc == OTB_OK) {
        size_t used, made;
        if (rc != OTB_OK) /* out was not full: more input */
            end += 1 + next_rand(&seed) % (len - end);
        rc = otb_ss22_open(d, in + start, end - start, &used, out + *outlen, room, &made);
        FUZZ_CHECK(made <= room);
        FUZZ_CHECK(start + used <= end);
        if (rc == OTB_BAD) {
            FUZZ_CHECK(d->err != OTB_SS22_OK);
            return rc;
        }
        start += used;
        *outlen += made;
    }
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct otb_master m;
    struct otb_ss22_dec d = { 0 };
    struct otb_ss22_enc e = { 0 };
    struct otb_aead a = { 0 };
    uint8_t salt[32], fixed[11], *buf, *out;
    size_t body_len, room, len = 0, outlen, cap;
    const uint8_t *body = data + 3;
    unsigned mode;

    if (size < 3 || size > 70000)
        return 0;
    if (otb_crypto_init() != 0)
        abort();
    memset(&m, 0, sizeof(m));
    m.method = methods[(data[0] & 3u) % 3];
    m.key_len = otb_method_info(m.method)->key_len;
    memset(m.key, 0x5A, m.key_len);
    memset(salt, 0xC3, sizeof(salt));
    mode = (data[0] >> 2) & 3u;
    body_len = size - 3;
    room = 1 + (size_t)data[2] * 97;
    cap = 3 * size + 4096;
    buf = malloc(cap + 2 * 65536);
    out = malloc(cap + 2 * 65536);
    FUZZ_CHECK(buf != NULL && out != NULL);

    otb_ss22_dec_init(&d, &m, mode != 2, mode == 2 ? salt : NULL);
    d.now = NOW;
    switch (mode) {
    case 0:
        memcpy(buf, body, body_len);
        (void)decode(&d, buf, body_len, data[1], room, out, &outlen);
        break;
    case 1:
        if (body_len == 0 || body_len > 0xFFFF)
            break;
        memcpy(buf, salt, m.key_len);
        fixed[0] = OTB_SS22_TYPE_CLIENT;
        otb_put_be64(fixed + 1, NOW);
        otb_put_be16(fixed + 9, (uint16_t)body_len);
        FUZZ_CHECK(otb_aead_start(&a, &m, salt) == 0);
        otb_aead_seal(&a, buf + m.key_len, fixed, sizeof(fixed));
        len = m.key_len + sizeof(fixed) + OTB_TAG_LEN;
        otb_aead_seal(&a, buf + len, body, body_len);
        len += body_len + OTB_TAG_LEN;
        if (decode(&d, buf, len, data[1], room, out, &outlen) != OTB_BAD) {
            /* Accepted: it was a whole address, and no more came out than went in. */
            struct otb_addr addr;
            size_t used;
            FUZZ_CHECK(otb_addr_parse(out, outlen, &addr, &used) == OTB_OK);
            FUZZ_CHECK(outlen <= body_len - 2);
            FUZZ_CHECK(otb_ss22_request_salt(&d) != NULL);
        }
        break;
    case 2:
        memcpy(buf, salt, m.key_len);
        memcpy(buf + m.key_len, body, body_len);
        (void)decode(&d, buf, m.key_len + body_len, data[1], room, out, &outlen);
        break;
    default: {
        size_t plen = OTB_MIN(body_len, (size_t)4096), pad = data[1] % (OTB_SS22_PADDING_MAX + 1);
        if (plen == 0 && pad == 0)
            pad = 1;
        len = otb_ss22_request(&e, &m, salt, NOW, ADDR, sizeof(ADDR), pad, body, plen, buf);
        if (body_len > plen)
            len += otb_ss22_seal(&e, body + plen, body_len - plen, buf + len);
        FUZZ_CHECK(decode(&d, buf, len, data[1], room, out, &outlen) == OTB_NEED_MORE);
        FUZZ_CHECK(outlen == sizeof(ADDR) + body_len);
        FUZZ_CHECK(memcmp(out, ADDR, sizeof(ADDR)) == 0);
        FUZZ_CHECK(memcmp(out + sizeof(ADDR), body, body_len) == 0);
        break;
    }
    }
    otb_aead_end(&a);
    otb_ss22_enc_end(&e);
    otb_ss22_dec_end(&d);
    free(buf);
    free(out);
    return 0;
}
