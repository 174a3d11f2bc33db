/* libFuzzer target of the Shadowsocks 2022 UDP codec (otb_udp2022.c).
 * data[0]: method (low 2 bits, of the three), mode (bits 2-3), direction
 * (bit 4: a server's packet):
 *   mode 0: the rest opened as a packet from the wire;
 *   mode 1: the rest is a body's plaintext (after the IDs), sealed here
 *           with XChaCha20-Poly1305 under the PSK: every header check runs
 *           on fuzzed contents;
 *   mode 2: the rest is a sequence of 16-bit packet-ID steps through a
 *           window, checked against a plain list of the IDs accepted: none
 *           twice, none more than the window behind the highest;
 *   mode 3: the rest is payload: sealed by the codec, must open as itself.
 * Whatever the input: no crash, no read out of bounds, results in range. */
#include "fuzz.h"

#include <sodium.h>

#include "otb_udp2022.h"

#define NOW 1700000000ull
static const uint8_t ADDR[] = { 4, 0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0xbb };
static const enum otb_method methods[] = { OTB_2022_AES_128_GCM, OTB_2022_AES_256_GCM,
                                           OTB_2022_CHACHA20_POLY1305 };

static void window_run(const uint8_t *d, size_t n)
{
    static uint64_t seen[4096];
    struct otb_ss22_window w = { 0 };
    uint64_t pid = 0, top = 0;
    size_t nseen = 0;

    for (size_t i = 0; i + 1 < n && nseen < 4096; i += 2) {
        int16_t step = (int16_t)((d[i] << 8) | d[i + 1]);
        bool dup = false, ok;
        pid = step < 0 && (uint64_t)-step > pid ? 0 : pid + (uint64_t)(int64_t)step;
        for (size_t j = 0; j < nseen; j++)
            dup |= seen[j] == pid;
        ok = otb_ss22_window_check(&w, pid);
        FUZZ_CHECK(!(ok && dup));
        if (ok) {
            FUZZ_CHECK(nseen == 0 || pid + OTB_SS22_WINDOW >= top);
            seen[nseen++] = pid;
            top = pid > top ? pid : top;
        } else {
            /* Refused: seen, or too old. */
            FUZZ_CHECK(dup || pid + OTB_SS22_WINDOW < top);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct otb_master m;
    struct otb_ss22_udp_key k;
    struct otb_aead a = { 0 };
    struct otb_ss22_udp_msg msg = { 0 };
    struct otb_addr addr;
    uint8_t sid[8] = { 0 }, subkey[32], *buf, *out;
    size_t body_len, off = 0, plen = 0, len;
    const uint8_t *body = data + 1;
    bool from_server;
    unsigned mode;

    if (size < 1 || size > 66000)
        return 0;
    if (otb_crypto_init() != 0)
        abort();
    memset(&m, 0, sizeof(m));
    m.method = methods[(data[0] & 3u) % 3];
    m.key_len = otb_method_info(m.method)->key_len;
    memset(m.key, 0x6B, m.key_len);
    otb_ss22_udp_key_init(&k, &m);
    mode = (data[0] >> 2) & 3u;
    from_server = data[0] & 16u;
    body_len = size - 1;
    buf = malloc(body_len + 256);
    out = malloc(body_len + 256);
    FUZZ_CHECK(buf != NULL && out != NULL);
    switch (mode) {
    case 0:
        if (otb_ss22_udp_is_aes(&m) && !otb_ss22_udp_peek(&k, body, body_len, sid))
            break;
        otb_ss22_udp_subkey(&m, sid, subkey);
        if (otb_ss22_udp_open(&k, &a, subkey, body, body_len, from_server, NOW, &msg, out,
                              body_len + 256, &addr, &off, &plen) == OTB_SS22_UDP_OK)
            FUZZ_CHECK(off + plen <= body_len);
        break;
    case 1:
        m.method = OTB_2022_CHACHA20_POLY1305;
        m.key_len = 32;
        otb_ss22_udp_key_init(&k, &m);
        randombytes_buf(buf, 24);
        memset(out, 0, 16);
        memcpy(out + 16, body, body_len);
        crypto_aead_xchacha20poly1305_ietf_encrypt(buf + 24, NULL, out, 16 + body_len, NULL, 0,
                                                   NULL, buf, m.key);
        len = 24 + 16 + body_len + OTB_TAG_LEN;
        if (otb_ss22_udp_open(&k, &a, NULL, buf, len, from_server, NOW, &msg, out,
                              body_len + 256, &addr, &off, &plen) == OTB_SS22_UDP_OK) {
            FUZZ_CHECK(off + plen == 16 + body_len);
            FUZZ_CHECK(msg.pid == 0);
        }
        break;
    case 2:
        window_run(body, body_len);
        break;
    default:
        if (body_len > 65000)
            break;
        msg.type = from_server ? OTB_SS22_TYPE_SERVER : OTB_SS22_TYPE_CLIENT;
        msg.time = NOW;
        msg.pid = body_len;
        msg.padding = (uint16_t)(body_len % 7);
        otb_ss22_udp_subkey(&m, msg.sid, subkey);
        len = otb_ss22_udp_seal(&k, &a, subkey, (const uint8_t *)"0123456789abcdefghijklmn", &msg,
                                ADDR, sizeof(ADDR), body, body_len, buf);
        FUZZ_CHECK(len == otb_ss22_udp_sealed_len(&m, from_server, msg.padding, sizeof(ADDR),
                                                  body_len));
        FUZZ_CHECK(otb_ss22_udp_open(&k, &a, subkey, buf, len, from_server, NOW, &msg, out,
                                     body_len + 256, &addr, &off, &plen) == OTB_SS22_UDP_OK);
        FUZZ_CHECK(plen == body_len && msg.pid == body_len);
        FUZZ_CHECK(memcmp(out + off, body, body_len) == 0);
        break;
    }
    otb_aead_end(&a);
    free(buf);
    free(out);
    return 0;
}
