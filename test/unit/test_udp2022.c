/* The Shadowsocks 2022 UDP codec (otb_udp2022.c) on hand-built packets:
 * each is laid out here byte by byte and sealed with OpenSSL's AES-ECB
 * (EVP), otb_aead and libsodium's XChaCha20-Poly1305 directly, not by the
 * sealing function under test; every field wrong in turn must be refused
 * for that reason. Then the packet-ID window: replays, old IDs, reordering. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include <openssl/evp.h>
#include <sodium.h>

#include "otb_blake3.h"
#include "otb_udp2022.h"

#define NOW 1700000000ull
static const uint8_t ADDR[] = { 1, 192, 0, 2, 7, 0x13, 0xc4 }; /* 192.0.2.7:5060 */
static const uint8_t SID[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
static const uint8_t CSID[8] = { 9, 9, 9, 9, 8, 8, 8, 8 };
static const enum otb_method methods[] = { OTB_2022_AES_128_GCM, OTB_2022_AES_256_GCM,
                                           OTB_2022_CHACHA20_POLY1305 };

static int setup(void **state)
{
    (void)state;
    return otb_crypto_init() == 0 ? 0 : -1;
}

static void psk(struct otb_master *m, enum otb_method method)
{
    memset(m, 0, sizeof(*m));
    m->method = method;
    m->key_len = otb_method_info(method)->key_len;
    for (size_t i = 0; i < m->key_len; i++)
        m->key[i] = (uint8_t)(0x30 + i);
}

struct pkt {
    uint8_t type;
    uint64_t ts, pid;
    bool server;          /* carries the client session ID */
    uint16_t pad_field;
    size_t pad;
    const uint8_t *addr;
    size_t addr_len;
    const char *payload;
};

static struct pkt good_pkt(void)
{
    struct pkt p = { OTB_SS22_TYPE_CLIENT, NOW, 41, false, 2, 2, ADDR, sizeof(ADDR), "voice" };
    return p;
}

static void ecb(const struct otb_master *m, const uint8_t in[16], uint8_t out[16])
{
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int n = 0;

    assert_non_null(c);
    assert_int_equal(EVP_EncryptInit_ex(c, m->key_len == 16 ? EVP_aes_128_ecb()
                                                             : EVP_aes_256_ecb(),
                                        NULL, m->key, NULL), 1);
    EVP_CIPHER_CTX_set_padding(c, 0);
    assert_int_equal(EVP_EncryptUpdate(c, out, &n, in, 16), 1);
    assert_int_equal(n, 16);
    EVP_CIPHER_CTX_free(c);
}

/* The packet per the spec, sealed with the primitives themselves. */
static size_t build(const struct otb_master *m, const struct pkt *p, uint8_t *out)
{
    uint8_t ids[16], body[2048], subkey[32], material[40];
    size_t n = 0, plen = strlen(p->payload);
    bool aes = m->method != OTB_2022_CHACHA20_POLY1305;

    memcpy(ids, SID, 8);
    otb_put_be64(ids + 8, p->pid);
    if (!aes) {
        memcpy(body, ids, 16);
        n = 16;
    }
    body[n++] = p->type;
    otb_put_be64(body + n, p->ts);
    n += 8;
    if (p->server) {
        memcpy(body + n, CSID, 8);
        n += 8;
    }
    otb_put_be16(body + n, p->pad_field);
    n += 2;
    memset(body + n, 0xEE, p->pad);
    n += p->pad;
    memcpy(body + n, p->addr, p->addr_len);
    n += p->addr_len;
    memcpy(body + n, p->payload, plen);
    n += plen;
    if (!aes) {
        randombytes_buf(out, 24);
        crypto_aead_xchacha20poly1305_ietf_encrypt(out + 24, NULL, body, n, NULL, 0, NULL, out,
                                                   m->key);
        return 24 + n + OTB_TAG_LEN;
    }
    memcpy(material, m->key, m->key_len);
    memcpy(material + m->key_len, SID, 8);
    otb_blake3_derive_key("shadowsocks 2022 session subkey", material, m->key_len + 8, subkey,
                          m->key_len);
    {
        struct otb_aead a = { 0 };
        assert_int_equal(otb_aead_start_key(&a, m, subkey), 0);
        memcpy(a.nonce, ids + 4, 12);
        otb_aead_seal(&a, out + 16, body, n);
        otb_aead_end(&a);
    }
    ecb(m, ids, out);
    return 16 + n + OTB_TAG_LEN;
}

static enum otb_ss22_udp_err open_pkt(const struct otb_master *m, const uint8_t *in, size_t len,
                                      bool from_server, struct otb_ss22_udp_msg *msg,
                                      uint8_t *out, struct otb_addr *addr, size_t *off,
                                      size_t *plen)
{
    struct otb_ss22_udp_key k;
    struct otb_aead a = { 0 };
    uint8_t sid[8], subkey[32];
    enum otb_ss22_udp_err err;

    otb_ss22_udp_key_init(&k, m);
    if (otb_ss22_udp_is_aes(m)) {
        if (!otb_ss22_udp_peek(&k, in, len, sid))
            return OTB_SS22_UDP_SHORT;
        otb_ss22_udp_subkey(m, sid, subkey);
    }
    err = otb_ss22_udp_open(&k, &a, subkey, in, len, from_server, NOW, msg, out, 4096, addr, off,
                            plen);
    otb_aead_end(&a);
    return err;
}

static void expect(const struct pkt *p, bool from_server, enum otb_ss22_udp_err want)
{
    for (size_t i = 0; i < OTB_ARRAY_LEN(methods); i++) {
        struct otb_master m;
        struct otb_ss22_udp_msg msg;
        struct otb_addr addr;
        uint8_t buf[4096], out[4096];
        size_t len, off, plen;

        psk(&m, methods[i]);
        len = build(&m, p, buf);
        assert_int_equal(open_pkt(&m, buf, len, from_server, &msg, out, &addr, &off, &plen),
                         want);
        if (want != OTB_SS22_UDP_OK)
            continue;
        assert_memory_equal(msg.sid, SID, 8);
        assert_int_equal(msg.pid, p->pid);
        assert_int_equal(addr.port, 5060);
        assert_int_equal(plen, strlen(p->payload));
        assert_memory_equal(out + off, p->payload, plen);
        if (from_server)
            assert_memory_equal(msg.client_sid, CSID, 8);
    }
}

static void test_good(void **state)
{
    struct pkt p = good_pkt();

    (void)state;
    expect(&p, false, OTB_SS22_UDP_OK);
    p.type = OTB_SS22_TYPE_SERVER;
    p.server = true;
    expect(&p, true, OTB_SS22_UDP_OK);
    p = good_pkt();
    p.ts = NOW - OTB_SS22_TIME_WINDOW;
    p.pad = p.pad_field = 0;
    p.payload = "";
    expect(&p, false, OTB_SS22_UDP_OK);
}

static void test_fields(void **state)
{
    static const uint8_t bad_atyp[] = { 7, 0, 0 };
    struct pkt p;

    (void)state;
    p = good_pkt();
    p.ts = NOW - OTB_SS22_TIME_WINDOW - 1; /* stale */
    expect(&p, false, OTB_SS22_UDP_TIME);
    p.ts = NOW + OTB_SS22_TIME_WINDOW + 1;
    expect(&p, false, OTB_SS22_UDP_TIME);
    p = good_pkt();
    p.type = OTB_SS22_TYPE_SERVER; /* a server's type from a client */
    expect(&p, false, OTB_SS22_UDP_TYPE);
    p = good_pkt();
    p.type = OTB_SS22_TYPE_SERVER;
    p.server = true;
    expect(&p, false, OTB_SS22_UDP_TYPE); /* and the other way round */
    p = good_pkt();
    expect(&p, true, OTB_SS22_UDP_TYPE);
    p = good_pkt();
    p.pad_field = 2000; /* padding past the packet */
    expect(&p, false, OTB_SS22_UDP_PADDING);
    p = good_pkt();
    p.addr = bad_atyp;
    p.addr_len = sizeof(bad_atyp);
    expect(&p, false, OTB_SS22_UDP_ADDR);
    p = good_pkt();
    p.addr_len = 4; /* address cut short, no payload behind */
    p.payload = "";
    expect(&p, false, OTB_SS22_UDP_ADDR);
}

static void test_short_and_auth(void **state)
{
    (void)state;
    for (size_t i = 0; i < OTB_ARRAY_LEN(methods); i++) {
        struct otb_master m, other;
        struct otb_ss22_udp_msg msg;
        struct otb_addr addr;
        struct pkt p = good_pkt();
        uint8_t buf[4096], out[4096];
        size_t len, off, plen;

        psk(&m, methods[i]);
        len = build(&m, &p, buf);
        for (size_t cut = 0; cut < len; cut++) {
            enum otb_ss22_udp_err e = open_pkt(&m, buf, cut, false, &msg, out, &addr, &off,
                                               &plen);
            assert_true(e == OTB_SS22_UDP_SHORT || e == OTB_SS22_UDP_AUTH);
        }
        for (size_t bit = 0; bit < len * 8; bit += 29) {
            buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
            assert_int_equal(open_pkt(&m, buf, len, false, &msg, out, &addr, &off, &plen),
                             OTB_SS22_UDP_AUTH);
            buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        }
        psk(&other, methods[i]);
        other.key[0] ^= 1;
        assert_int_equal(open_pkt(&other, buf, len, false, &msg, out, &addr, &off, &plen),
                         OTB_SS22_UDP_AUTH);
    }
}

/* The sealing function's packets open with the primitives' layout. */
static void test_round_trip(void **state)
{
    (void)state;
    for (size_t i = 0; i < OTB_ARRAY_LEN(methods); i++) {
        struct otb_master m;
        struct otb_ss22_udp_key k;
        struct otb_aead a = { 0 };
        struct otb_ss22_udp_msg msg = { .pid = 7, .type = OTB_SS22_TYPE_SERVER, .time = NOW },
                                got;
        struct otb_addr addr;
        uint8_t buf[4096], out[4096], subkey[32], nonce[24];
        size_t len, off, plen;

        psk(&m, methods[i]);
        otb_ss22_udp_key_init(&k, &m);
        memcpy(msg.sid, SID, 8);
        memcpy(msg.client_sid, CSID, 8);
        otb_ss22_udp_subkey(&m, SID, subkey);
        randombytes_buf(nonce, sizeof(nonce));
        len = otb_ss22_udp_seal(&k, &a, subkey, nonce, &msg, ADDR, sizeof(ADDR),
                                (const uint8_t *)"reply", 5, buf);
        assert_int_equal(len, otb_ss22_udp_sealed_len(&m, true, 0, sizeof(ADDR), 5));
        assert_true(len <= OTB_SS22_UDP_OVERHEAD + sizeof(ADDR) + 5);
        assert_int_equal(open_pkt(&m, buf, len, true, &got, out, &addr, &off, &plen),
                         OTB_SS22_UDP_OK);
        assert_memory_equal(got.client_sid, CSID, 8);
        assert_int_equal(got.pid, 7);
        assert_int_equal(plen, 5);
        assert_memory_equal(out + off, "reply", 5);
        otb_aead_end(&a);
    }
}

static void test_window(void **state)
{
    struct otb_ss22_window w = { 0 };

    (void)state;
    assert_true(otb_ss22_window_check(&w, 0));
    assert_false(otb_ss22_window_check(&w, 0)); /* replayed */
    assert_true(otb_ss22_window_check(&w, 5));
    assert_true(otb_ss22_window_check(&w, 3)); /* late but new */
    assert_false(otb_ss22_window_check(&w, 3));
    assert_false(otb_ss22_window_check(&w, 5));
    assert_true(otb_ss22_window_check(&w, 100));
    assert_true(otb_ss22_window_check(&w, 100 - OTB_SS22_WINDOW)); /* the oldest still in */
    assert_false(otb_ss22_window_check(&w, 100 - OTB_SS22_WINDOW - 1)); /* outside */
    assert_false(otb_ss22_window_check(&w, 5));
    assert_false(otb_ss22_window_check(&w, 100 - OTB_SS22_WINDOW));
    /* A jump of exactly the window keeps the former top as the oldest. */
    assert_true(otb_ss22_window_check(&w, 100 + OTB_SS22_WINDOW));
    assert_false(otb_ss22_window_check(&w, 100));
    assert_true(otb_ss22_window_check(&w, 101));
    assert_false(otb_ss22_window_check(&w, UINT64_MAX));
    /* Every ID in a shuffled run of 64 passes once. */
    memset(&w, 0, sizeof(w));
    for (uint64_t i = 0; i < 64; i++)
        assert_true(otb_ss22_window_check(&w, (i * 37) % 64));
    for (uint64_t i = 0; i < 64; i++)
        assert_false(otb_ss22_window_check(&w, i));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good),
        cmocka_unit_test(test_fields),
        cmocka_unit_test(test_short_and_auth),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_window),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
