/* libFuzzer target for the AEAD UDP codec, with a fixed key (password
 * "fuzz"):
 *  - the input is opened as a received packet under every method (and
 *    AES-256-GCM on both of its code paths);
 *  - the input is sealed as a plaintext under one of those (picked by the
 *    first byte), opened again and compared; the address header must be
 *    accepted exactly when otb_addr_parse accepts it;
 *  - a copy with one byte flipped must be refused. */

#include "fuzz.h"
#include "otb_addr.h"
#include "otb_common.h"
#include "otb_crypto.h"
#include "otb_udp.h"

/* Cipher state re-keyed for every datagram, as the relay keeps one. */
static struct otb_aead codec_aead;

#define FUZZ_MASTERS (OTB_SIP004_METHOD_COUNT + 1)

static size_t make_masters(struct otb_master *m)
{
    size_t n = 0;

    for (int meth = 0; meth < OTB_SIP004_METHOD_COUNT; meth++) {
        otb_master_from_password(&m[n], (enum otb_method)meth, "fuzz");
        n++;
    }
    return n;
}

static void open_received(const struct otb_master *m, const uint8_t *data, size_t size)
{
    uint8_t *out = malloc(size ? size : 1);
    struct otb_addr addr;
    size_t off = 0, plen = 0, outlen = 0;
    int rc;

    FUZZ_CHECK(out != NULL);
    rc = otb_udp_open_addr(&codec_aead, m, data, size, out, size, &addr, &off, &plen);
    FUZZ_CHECK(rc == OTB_OK || rc == OTB_BAD);
    if (rc == OTB_OK) {
        FUZZ_CHECK(size >= m->key_len + OTB_TAG_LEN);
        FUZZ_CHECK(off + plen == size - m->key_len - OTB_TAG_LEN);
    }
    rc = otb_udp_open(&codec_aead, m, data, size, out, size, &outlen);
    FUZZ_CHECK(rc == OTB_OK || rc == OTB_BAD);
    if (size < m->key_len + OTB_TAG_LEN)
        FUZZ_CHECK(rc == OTB_BAD);
    free(out);
}

static void round_trip(const struct otb_master *m, const uint8_t *data, size_t size)
{
    uint8_t salt[OTB_MAX_SALT_LEN];
    size_t pktlen = otb_udp_sealed_len(m, size);
    uint8_t *pkt = malloc(pktlen);
    uint8_t *out = malloc(size ? size : 1);
    struct otb_addr addr, want;
    size_t off = 0, plen = 0, outlen = 0, hdr = 0, pos;
    int rc, want_rc;

    FUZZ_CHECK(pkt != NULL && out != NULL);
    for (size_t i = 0; i < sizeof(salt); i++)
        salt[i] = (uint8_t)(0xF0 ^ (i * 11) ^ m->method);
    FUZZ_CHECK(otb_udp_seal(&codec_aead, m, salt, data, size, pkt) == pktlen);
    FUZZ_CHECK(pktlen == m->key_len + size + OTB_TAG_LEN);
    FUZZ_CHECK(memcmp(pkt, salt, m->key_len) == 0);

    FUZZ_CHECK(otb_udp_open(&codec_aead, m, pkt, pktlen, out, size, &outlen) == OTB_OK);
    FUZZ_CHECK(outlen == size);
    FUZZ_CHECK(size == 0 || memcmp(out, data, size) == 0);

    want_rc = otb_addr_parse(data, size, &want, &hdr);
    rc = otb_udp_open_addr(&codec_aead, m, pkt, pktlen, out, size, &addr, &off, &plen);
    FUZZ_CHECK((rc == OTB_OK) == (want_rc == OTB_OK));
    if (rc == OTB_OK) {
        FUZZ_CHECK(off == hdr && plen == size - hdr);
        FUZZ_CHECK(addr.atyp == want.atyp && addr.port == want.port);
        FUZZ_CHECK(memcmp(out + off, data + off, plen) == 0);
    }

    /* One flipped bit anywhere: refused. */
    pos = (size * 131 + m->method * 7) % pktlen;
    pkt[pos] ^= (uint8_t)(1u << (size % 8));
    FUZZ_CHECK(otb_udp_open(&codec_aead, m, pkt, pktlen, out, size, &outlen) == OTB_BAD);
    FUZZ_CHECK(otb_udp_open_addr(&codec_aead, m, pkt, pktlen, out, size, &addr, &off, &plen) ==
               OTB_BAD);
    free(pkt);
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct otb_master masters[FUZZ_MASTERS];
    size_t n;

    if (otb_crypto_init() != 0)
        abort();
    n = make_masters(masters);
    for (size_t i = 0; i < n; i++)
        open_received(&masters[i], data, size);
    /* The round trip under one master, picked by the first byte. */
    round_trip(&masters[size > 0 ? data[0] % n : 0], data, size);
    for (size_t i = 0; i < n; i++)
        otb_master_wipe(&masters[i]);
    return 0;
}
