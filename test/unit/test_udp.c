/* Unit tests for the AEAD UDP packet codec.
 *
 * The known-answer packets were computed outside this code base with
 * /usr/bin/python3 (Debian python3-cryptography 38, python3-nacl 1.5):
 * master = EVP_BytesToKey(MD5) of "otb-udp" (iterated hashlib.md5),
 * salt = bytes 0xa0, 0xa1, ... (key_len of them),
 * subkey = HKDF(SHA1, length=key_len, salt=salt, info=b"ss-subkey"),
 * packet = salt || AESGCM / ChaCha20Poly1305(subkey).encrypt(bytes(12), plain,
 * None), or for xchacha salt || nacl.bindings.
 * crypto_aead_xchacha20poly1305_ietf_encrypt(plain, None, bytes(24), subkey),
 * with plain = 01 c0 00 02 01 00 35 "dns?" (192.0.2.1:53, payload "dns?"). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "otb_common.h"
#include "otb_crypto.h"
#include "otb_udp.h"

/* Cipher state re-keyed for every datagram, as the relay keeps one. */
static struct otb_aead codec_aead;

static const uint8_t kat_plain[] = {0x01, 0xc0, 0x00, 0x02, 0x01, 0x00, 0x35, 'd', 'n', 's', '?'};

static const char *const kat_packets[OTB_SIP004_METHOD_COUNT] = {
    [OTB_AES_128_GCM] = "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb820f04419d085628c0b000de37405988fb2"
                        "fc64c81ec7ca852abb",
    [OTB_AES_256_GCM] = "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebfa802"
                        "b6a980e1139dabbda1e815f825710ace674d51913f26adfe31",
    [OTB_CHACHA20_IETF_POLY1305] = "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babb"
                                   "bcbdbebfd2e9a1f217a8658d47f296974ac24055fdd5f10c8c8cfc5a"
                                   "059404",
    [OTB_XCHACHA20_IETF_POLY1305] = "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9bab"
                                    "bbcbdbebf365f6fc45093ccf5dcd0b1e263c04f60cbb2934f4fc636"
                                    "786eae5f",
};

static int setup(void **state)
{
    (void)state;
    return otb_crypto_init();
}

static size_t unhex(const char *hex, uint8_t *out, size_t cap)
{
    size_t n = strlen(hex);

    assert_int_equal(n % 2, 0);
    assert_true(n / 2 <= cap);
    for (size_t i = 0; i < n / 2; i++) {
        char pair[3] = {hex[2 * i], hex[2 * i + 1], '\0'};
        char *end;
        out[i] = (uint8_t)strtoul(pair, &end, 16);
        assert_true(*end == '\0');
    }
    return n / 2;
}

/* One master per method. */
static size_t all_masters(struct otb_master *m, size_t cap, const char *password)
{
    size_t n = 0;

    for (int meth = 0; meth < OTB_SIP004_METHOD_COUNT; meth++) {
        assert_true(n < cap);
        otb_master_from_password(&m[n], (enum otb_method)meth, password);
        n++;
    }
    return n;
}

/* Opens a copy held in a buffer of exactly len bytes. */
static int open_exact(const struct otb_master *m, const uint8_t *pkt, size_t len, uint8_t *out,
                      size_t outcap, struct otb_addr *addr, size_t *off, size_t *plen)
{
    uint8_t *copy = malloc(len ? len : 1);
    int rc;

    assert_non_null(copy);
    if (len)
        memcpy(copy, pkt, len);
    rc = otb_udp_open_addr(&codec_aead, m, copy, len, out, outcap, addr, off, plen);
    free(copy);
    return rc;
}

static void test_kat(void **state)
{
    struct otb_master ms[OTB_SIP004_METHOD_COUNT + 1];
    size_t n = all_masters(ms, OTB_ARRAY_LEN(ms), "otb-udp");

    (void)state;
    for (size_t i = 0; i < n; i++) {
        uint8_t want[128], pkt[128], salt[OTB_MAX_SALT_LEN], out[128];
        size_t wlen = unhex(kat_packets[ms[i].method], want, sizeof(want));
        size_t outlen = 0, off, plen;
        struct otb_addr addr;

        for (size_t k = 0; k < sizeof(salt); k++)
            salt[k] = (uint8_t)(0xa0 + k);
        assert_int_equal(otb_udp_sealed_len(&ms[i], sizeof(kat_plain)), wlen);
        assert_int_equal(otb_udp_seal(&codec_aead, &ms[i], salt, kat_plain, sizeof(kat_plain), pkt),
                         wlen);
        assert_memory_equal(pkt, want, wlen);

        assert_int_equal(otb_udp_open(&codec_aead, &ms[i], want, wlen, out, sizeof(out), &outlen),
                         OTB_OK);
        assert_int_equal(outlen, sizeof(kat_plain));
        assert_memory_equal(out, kat_plain, sizeof(kat_plain));

        assert_int_equal(open_exact(&ms[i], want, wlen, out, sizeof(out), &addr, &off, &plen),
                         OTB_OK);
        assert_int_equal(addr.atyp, OTB_ATYP_IPV4);
        assert_int_equal(addr.port, 53);
        assert_memory_equal(addr.u.v4, "\xc0\x00\x02\x01", 4);
        assert_int_equal(off, 7);
        assert_int_equal(plen, 4);
        assert_memory_equal(out + off, "dns?", 4);
        otb_master_wipe(&ms[i]);
    }
}

static void test_round_trip(void **state)
{
    struct otb_master ms[OTB_SIP004_METHOD_COUNT + 1];
    size_t n = all_masters(ms, OTB_ARRAY_LEN(ms), "round trip");
    static const size_t payload_lens[] = {0, 1, 15, 16, 17, 500, 1472, 8192, 65000};
    const size_t maxplain = OTB_ADDR_MAX_LEN + 65000;
    uint8_t *plain = malloc(maxplain), *pkt = malloc(maxplain + 64), *out = malloc(maxplain);

    (void)state;
    assert_non_null(plain);
    assert_non_null(pkt);
    assert_non_null(out);
    for (size_t i = 0; i < n; i++) {
        for (size_t h = 0; h < 3; h++) {
            struct otb_addr a;
            size_t hlen;
            memset(&a, 0, sizeof(a));
            if (h == 0) {
                a.atyp = OTB_ATYP_IPV4;
                memcpy(a.u.v4, "\xcb\x00\x71\x05", 4);
                a.port = 5353;
            } else if (h == 1) {
                a.atyp = OTB_ATYP_IPV6;
                memcpy(a.u.v6, "\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x09",
                       16);
                a.port = 443;
            } else {
                assert_int_equal(otb_addr_set_domain(&a, "dns.example.net", 853), 0);
            }
            hlen = otb_addr_encode(&a, plain);
            for (size_t p = 0; p < OTB_ARRAY_LEN(payload_lens); p++) {
                size_t len = hlen + payload_lens[p], outlen = 0, off = 0, plen = 0;
                uint8_t salt[OTB_MAX_SALT_LEN];
                struct otb_addr got;
                size_t pktlen;

                randombytes_buf(plain + hlen, payload_lens[p]);
                randombytes_buf(salt, sizeof(salt));
                pktlen = otb_udp_seal(&codec_aead, &ms[i], salt, plain, len, pkt);
                assert_int_equal(pktlen, ms[i].key_len + len + OTB_TAG_LEN);
                assert_int_equal(pktlen, otb_udp_sealed_len(&ms[i], len));
                assert_memory_equal(pkt, salt, ms[i].key_len);

                /* Exact output capacity is enough. */
                assert_int_equal(otb_udp_open(&codec_aead, &ms[i], pkt, pktlen, out, len, &outlen),
                                 OTB_OK);
                assert_int_equal(outlen, len);
                assert_memory_equal(out, plain, len);

                memset(&got, 0, sizeof(got));
                assert_int_equal(otb_udp_open_addr(&codec_aead, &ms[i], pkt, pktlen, out, maxplain,
                                                   &got, &off, &plen),
                                 OTB_OK);
                assert_int_equal(got.atyp, a.atyp);
                assert_int_equal(got.port, a.port);
                assert_int_equal(off, hlen);
                assert_int_equal(plen, payload_lens[p]);
                assert_memory_equal(out + off, plain + hlen, plen);
                if (h == 2)
                    assert_string_equal(got.u.host, "dns.example.net");

                /* One byte too little room is refused. */
                if (len > 0)
                    assert_int_equal(
                        otb_udp_open(&codec_aead, &ms[i], pkt, pktlen, out, len - 1, &outlen),
                        OTB_BAD);
            }
        }
        otb_master_wipe(&ms[i]);
    }
    free(plain);
    free(pkt);
    free(out);
}

static void test_short_packets(void **state)
{
    struct otb_master ms[OTB_SIP004_METHOD_COUNT + 1];
    size_t n = all_masters(ms, OTB_ARRAY_LEN(ms), "short");
    uint8_t pkt[OTB_MAX_SALT_LEN + OTB_TAG_LEN + 8], out[sizeof(pkt)];

    (void)state;
    for (size_t i = 0; i < n; i++) {
        uint8_t salt[OTB_MAX_SALT_LEN];
        size_t full;

        memset(salt, 0x11, sizeof(salt));
        /* A sealed empty plaintext is exactly salt + tag. */
        full = otb_udp_seal(&codec_aead, &ms[i], salt, NULL, 0, pkt);
        assert_int_equal(full, ms[i].key_len + OTB_TAG_LEN);
        for (size_t len = 0; len < full; len++) {
            struct otb_addr a;
            size_t off, plen, outlen;
            uint8_t *copy = malloc(len ? len : 1);
            assert_non_null(copy);
            memcpy(copy, pkt, len);
            assert_int_equal(
                otb_udp_open(&codec_aead, &ms[i], copy, len, out, sizeof(out), &outlen), OTB_BAD);
            assert_int_equal(otb_udp_open_addr(&codec_aead, &ms[i], copy, len, out, sizeof(out), &a,
                                               &off, &plen),
                             OTB_BAD);
            free(copy);
        }
        /* salt + tag authenticates but carries no address header. */
        {
            size_t outlen = 99, off, plen;
            struct otb_addr a;
            assert_int_equal(otb_udp_open(&codec_aead, &ms[i], pkt, full, out, 0, &outlen), OTB_OK);
            assert_int_equal(outlen, 0);
            assert_int_equal(open_exact(&ms[i], pkt, full, out, sizeof(out), &a, &off, &plen),
                             OTB_BAD);
        }
        otb_master_wipe(&ms[i]);
    }
}

static void test_bad_tag(void **state)
{
    struct otb_master ms[OTB_SIP004_METHOD_COUNT + 1];
    size_t n = all_masters(ms, OTB_ARRAY_LEN(ms), "tamper");
    uint8_t plain[40], pkt[128], bad[128], out[128];

    (void)state;
    memcpy(plain, "\x01\x7f\x00\x00\x01\x00\x50", 7);
    memset(plain + 7, 'p', sizeof(plain) - 7);
    for (size_t i = 0; i < n; i++) {
        uint8_t salt[OTB_MAX_SALT_LEN];
        size_t len, outlen, off, plen;
        struct otb_addr a;
        struct otb_master other;

        randombytes_buf(salt, sizeof(salt));
        len = otb_udp_seal(&codec_aead, &ms[i], salt, plain, sizeof(plain), pkt);
        /* Flipping any bit of salt, ciphertext or tag is caught. */
        for (size_t pos = 0; pos < len; pos++) {
            for (int bit = 0; bit < 8; bit += 7) {
                memcpy(bad, pkt, len);
                bad[pos] ^= (uint8_t)(1u << bit);
                assert_int_equal(
                    otb_udp_open(&codec_aead, &ms[i], bad, len, out, sizeof(out), &outlen),
                    OTB_BAD);
                assert_int_equal(otb_udp_open_addr(&codec_aead, &ms[i], bad, len, out, sizeof(out),
                                                   &a, &off, &plen),
                                 OTB_BAD);
            }
        }
        /* Truncated or extended packets are caught. */
        assert_int_equal(otb_udp_open(&codec_aead, &ms[i], pkt, len - 1, out, sizeof(out), &outlen),
                         OTB_BAD);
        memcpy(bad, pkt, len);
        bad[len] = 0;
        assert_int_equal(otb_udp_open(&codec_aead, &ms[i], bad, len + 1, out, sizeof(out), &outlen),
                         OTB_BAD);
        /* Another key. */
        otb_master_from_password(&other, ms[i].method, "not tamper");
        assert_int_equal(otb_udp_open(&codec_aead, &other, pkt, len, out, sizeof(out), &outlen),
                         OTB_BAD);
        /* The original is still fine. */
        assert_int_equal(otb_udp_open(&codec_aead, &ms[i], pkt, len, out, sizeof(out), &outlen),
                         OTB_OK);
        assert_memory_equal(out, plain, sizeof(plain));
        otb_master_wipe(&other);
        otb_master_wipe(&ms[i]);
    }
}

static void test_bad_header(void **state)
{
    struct otb_master ms[OTB_SIP004_METHOD_COUNT + 1];
    size_t n = all_masters(ms, OTB_ARRAY_LEN(ms), "header");
    static const struct {
        const char *bytes;
        size_t len;
    } bad[] = {
        {"\x01\x7f\x00\x00", 4},             /* truncated IPv4 */
        {"\x04\x20\x01\x0d\xb8\x00\x00", 7}, /* truncated IPv6 */
        {"\x03", 1},                         /* domain without a length */
        {"\x03\x05"
         "abc",
         5}, /* truncated domain */
        {"\x03\x00\x00\x50"
         "data",
         8}, /* empty domain */
        {"\x03\x03"
         "a\0b\x00\x50",
         7},                                 /* NUL in domain */
        {"\x00\x7f\x00\x00\x01\x00\x50", 7}, /* ATYP 0 */
        {"\x02\x7f\x00\x00\x01\x00\x50", 7}, /* ATYP 2 */
        {"\x05\x7f\x00\x00\x01\x00\x50", 7}, /* ATYP 5 */
        {"\xff\x7f\x00\x00\x01\x00\x50", 7}, /* ATYP 255 */
    };

    (void)state;
    for (size_t i = 0; i < n; i++) {
        for (size_t b = 0; b < OTB_ARRAY_LEN(bad); b++) {
            uint8_t salt[OTB_MAX_SALT_LEN], pkt[128], out[128];
            size_t len, outlen, off, plen;
            struct otb_addr a;

            randombytes_buf(salt, sizeof(salt));
            len = otb_udp_seal(&codec_aead, &ms[i], salt, (const uint8_t *)bad[b].bytes, bad[b].len,
                               pkt);
            /* Authentic packet ... */
            assert_int_equal(otb_udp_open(&codec_aead, &ms[i], pkt, len, out, sizeof(out), &outlen),
                             OTB_OK);
            assert_int_equal(outlen, bad[b].len);
            /* ... whose header is refused. */
            assert_int_equal(open_exact(&ms[i], pkt, len, out, sizeof(out), &a, &off, &plen),
                             OTB_BAD);
        }
        otb_master_wipe(&ms[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kat),           cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_short_packets), cmocka_unit_test(test_bad_tag),
        cmocka_unit_test(test_bad_header),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
