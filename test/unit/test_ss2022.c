/* The Shadowsocks 2022 TCP codec (otb_ss2022.c) and salt pool
 * (otb_saltpool.c) on hand-built streams: each header is sealed here field
 * by field with otb_aead (not by the encoder under test), every field wrong
 * in turn, and the decoder must refuse for that reason and no other. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "otb_saltpool.h"
#include "otb_ss2022.h"

#define NOW 1700000000ull
static const uint8_t ADDR[] = { 1, 127, 0, 0, 1, 0x1f, 0x90 }; /* 127.0.0.1:8080 */

static const enum otb_method methods[] = { OTB_2022_AES_128_GCM, OTB_2022_AES_256_GCM,
                                           OTB_2022_CHACHA20_POLY1305 };

static int setup(void **state)
{
    (void)state;
    return otb_crypto_init() == 0 ? 0 : -1;
}

static void psk(struct otb_master *m, enum otb_method method, uint8_t fill)
{
    memset(m, 0, sizeof(*m));
    m->method = method;
    m->key_len = otb_method_info(method)->key_len;
    memset(m->key, fill, m->key_len);
}

/* A request's fields, each of which a test may spoil. */
struct req {
    uint8_t type;
    uint64_t ts;
    int var_len;         /* -1: the true length */
    const uint8_t *addr;
    size_t addr_len;
    uint16_t pad_field;  /* padding length written */
    size_t pad;          /* padding bytes present */
    const char *payload;
};

static struct req good_req(void)
{
    struct req r = { OTB_SS22_TYPE_CLIENT, NOW, -1, ADDR, sizeof(ADDR), 3, 3, "GET /" };
    return r;
}

/* salt || seal(fixed) || seal(var): built with the AEAD only. */
static size_t build_request(const struct otb_master *m, const struct req *r, uint8_t *salt,
                            uint8_t *out)
{
    struct otb_aead a = { 0 };
    uint8_t fixed[11], var[2048];
    size_t plen = strlen(r->payload), vlen = 0, n;

    memset(salt, 0xA5, m->key_len);
    salt[0] = (uint8_t)rand();
    memcpy(out, salt, m->key_len);
    n = m->key_len;
    memcpy(var, r->addr, r->addr_len);
    vlen = r->addr_len;
    otb_put_be16(var + vlen, r->pad_field);
    vlen += 2;
    memset(var + vlen, 0, r->pad);
    vlen += r->pad;
    memcpy(var + vlen, r->payload, plen);
    vlen += plen;
    fixed[0] = r->type;
    otb_put_be64(fixed + 1, r->ts);
    otb_put_be16(fixed + 9, (uint16_t)(r->var_len < 0 ? (int)vlen : r->var_len));
    assert_int_equal(otb_aead_start(&a, m, salt), 0);
    otb_aead_seal(&a, out + n, fixed, sizeof(fixed));
    n += sizeof(fixed) + OTB_TAG_LEN;
    otb_aead_seal(&a, out + n, var, vlen);
    n += vlen + OTB_TAG_LEN;
    otb_aead_end(&a);
    return n;
}

/* Decodes in as a request at NOW: the result, the plaintext in out. */
static int decode_request(const struct otb_master *m, uint8_t *in, size_t len, uint8_t *out,
                          size_t *outlen, enum otb_ss22_err *err)
{
    struct otb_ss22_dec d = { 0 };
    size_t used;
    int rc;

    otb_ss22_dec_init(&d, m, true, NULL);
    d.now = NOW;
    rc = otb_ss22_open(&d, in, len, &used, out, 4096, outlen);
    *err = d.err;
    otb_ss22_dec_end(&d);
    return rc;
}

static void expect_refused(const struct req *r, enum otb_ss22_err want)
{
    for (size_t i = 0; i < OTB_ARRAY_LEN(methods); i++) {
        struct otb_master m;
        uint8_t salt[32], buf[4096], out[4096];
        size_t len, outlen;
        enum otb_ss22_err err;

        psk(&m, methods[i], 0x11);
        len = build_request(&m, r, salt, buf);
        assert_int_equal(decode_request(&m, buf, len, out, &outlen, &err), OTB_BAD);
        assert_int_equal(err, want);
    }
}

static void test_request_good(void **state)
{
    (void)state;
    for (size_t i = 0; i < OTB_ARRAY_LEN(methods); i++) {
        struct otb_master m;
        struct req r = good_req();
        uint8_t salt[32], buf[4096], out[4096];
        size_t len, outlen;
        enum otb_ss22_err err;

        psk(&m, methods[i], 0x11);
        len = build_request(&m, &r, salt, buf);
        /* The address then the payload, padding gone. */
        assert_int_equal(decode_request(&m, buf, len, out, &outlen, &err), OTB_NEED_MORE);
        assert_int_equal(err, OTB_SS22_OK);
        assert_int_equal(outlen, sizeof(ADDR) + 5);
        assert_memory_equal(out, ADDR, sizeof(ADDR));
        assert_memory_equal(out + sizeof(ADDR), "GET /", 5);
        /* Timestamps at the edges of the window are accepted. */
        r.ts = NOW - OTB_SS22_TIME_WINDOW;
        len = build_request(&m, &r, salt, buf);
        assert_int_equal(decode_request(&m, buf, len, out, &outlen, &err), OTB_NEED_MORE);
        r.ts = NOW + OTB_SS22_TIME_WINDOW;
        len = build_request(&m, &r, salt, buf);
        assert_int_equal(decode_request(&m, buf, len, out, &outlen, &err), OTB_NEED_MORE);
        /* Padding alone (no payload) is a valid request. */
        r.payload = "";
        len = build_request(&m, &r, salt, buf);
        assert_int_equal(decode_request(&m, buf, len, out, &outlen, &err), OTB_NEED_MORE);
        assert_int_equal(outlen, sizeof(ADDR));
    }
}

/* One byte at a time: the salt is known once the fixed header passed. */
static void test_request_split(void **state)
{
    struct otb_master m;
    struct otb_ss22_dec d = { 0 };
    struct req r = good_req();
    uint8_t salt[32], buf[4096], out[4096];
    size_t len, start = 0, got = 0;

    (void)state;
    psk(&m, OTB_2022_AES_256_GCM, 0x22);
    len = build_request(&m, &r, salt, buf);
    otb_ss22_dec_init(&d, &m, true, NULL);
    d.now = NOW;
    for (size_t end = 1; end <= len; end++) {
        size_t used, made;
        assert_int_equal(otb_ss22_open(&d, buf + start, end - start, &used, out + got,
                                       sizeof(out) - got, &made), OTB_NEED_MORE);
        start += used;
        got += made;
        if (end < 32 + 11 + 16)
            assert_null(otb_ss22_request_salt(&d));
    }
    assert_int_equal(start, len);
    assert_int_equal(got, sizeof(ADDR) + 5);
    assert_memory_equal(otb_ss22_request_salt(&d), salt, 32);
    otb_ss22_dec_end(&d);
}

static void test_request_stale(void **state)
{
    struct req r = good_req();

    (void)state;
    r.ts = NOW - OTB_SS22_TIME_WINDOW - 1;
    expect_refused(&r, OTB_SS22_ERR_TIME);
    r.ts = NOW + OTB_SS22_TIME_WINDOW + 1;
    expect_refused(&r, OTB_SS22_ERR_TIME);
    r.ts = 0;
    expect_refused(&r, OTB_SS22_ERR_TIME);
    r.ts = UINT64_MAX;
    expect_refused(&r, OTB_SS22_ERR_TIME);
}

static void test_request_type(void **state)
{
    struct req r = good_req();

    (void)state;
    r.type = OTB_SS22_TYPE_SERVER;
    expect_refused(&r, OTB_SS22_ERR_TYPE);
    r.type = 0xFF;
    expect_refused(&r, OTB_SS22_ERR_TYPE);
}

static void test_request_padding(void **state)
{
    struct req r = good_req();

    (void)state;
    r.pad_field = OTB_SS22_PADDING_MAX + 1; /* over the maximum */
    r.pad = OTB_SS22_PADDING_MAX + 1;
    expect_refused(&r, OTB_SS22_ERR_PADDING);
    r = good_req();
    r.payload = "";
    r.pad_field = 4; /* one byte past the header's end */
    expect_refused(&r, OTB_SS22_ERR_PADDING);
    r.pad_field = 0xFFFF;
    expect_refused(&r, OTB_SS22_ERR_PADDING);
    r.pad_field = 0; /* neither padding nor payload */
    r.pad = 0;
    expect_refused(&r, OTB_SS22_ERR_EMPTY);
}

static void test_request_lengths(void **state)
{
    static const uint8_t bad_atyp[] = { 9, 1, 2, 3, 4, 0, 80 };
    static const uint8_t cut_domain[] = { 3, 40, 'a', 'b' };
    struct req r = good_req();

    (void)state;
    r.var_len = 0;
    expect_refused(&r, OTB_SS22_ERR_LENGTH);
    r = good_req();
    r.addr = bad_atyp;
    r.addr_len = sizeof(bad_atyp);
    expect_refused(&r, OTB_SS22_ERR_ADDR);
    /* A variable header shorter than its address: the rest is not there. */
    r = good_req();
    r.addr = cut_domain;
    r.addr_len = sizeof(cut_domain);
    r.pad_field = 0;
    r.pad = 0;
    r.payload = "";
    expect_refused(&r, OTB_SS22_ERR_ADDR);
    /* A declared length longer than what was sealed fails authentication. */
    r = good_req();
    r.var_len = (int)(sizeof(ADDR) + 2 + 3 + 5 + 1);
    for (size_t i = 0; i < OTB_ARRAY_LEN(methods); i++) {
        struct otb_master m;
        uint8_t salt[32], buf[4096], out[4096];
        size_t len, outlen;
        enum otb_ss22_err err;

        psk(&m, methods[i], 0x11);
        len = build_request(&m, &r, salt, buf);
        /* Short by one byte: waits for more... */
        assert_int_equal(decode_request(&m, buf, len, out, &outlen, &err), OTB_NEED_MORE);
        assert_int_equal(outlen, 0);
        /* ...and what comes next does not authenticate. */
        buf[len] = 0;
        assert_int_equal(decode_request(&m, buf, len + 1, out, &outlen, &err), OTB_BAD);
        assert_int_equal(err, OTB_SS22_ERR_AUTH);
    }
}

static void test_request_auth(void **state)
{
    (void)state;
    for (size_t i = 0; i < OTB_ARRAY_LEN(methods); i++) {
        struct otb_master m, other;
        struct req r = good_req();
        uint8_t salt[32], buf[4096], out[4096];
        size_t len, outlen;
        enum otb_ss22_err err;

        psk(&m, methods[i], 0x11);
        psk(&other, methods[i], 0x12);
        len = build_request(&m, &r, salt, buf);
        assert_int_equal(decode_request(&other, buf, len, out, &outlen, &err), OTB_BAD);
        assert_int_equal(err, OTB_SS22_ERR_AUTH);
        for (size_t bit = 0; bit < len * 8; bit += 37) {
            buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
            assert_int_equal(decode_request(&m, buf, len, out, &outlen, &err), OTB_BAD);
            assert_int_equal(err, OTB_SS22_ERR_AUTH);
            buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        }
    }
}

/* Short input is never refused nor accepted: it waits. */
static void test_request_short(void **state)
{
    struct otb_master m;
    struct req r = good_req();
    uint8_t salt[32], buf[4096], out[4096];
    size_t len, outlen;
    enum otb_ss22_err err;

    (void)state;
    psk(&m, OTB_2022_AES_128_GCM, 0x33);
    len = build_request(&m, &r, salt, buf);
    for (size_t cut = 0; cut < len; cut++) {
        assert_int_equal(decode_request(&m, buf, cut, out, &outlen, &err), OTB_NEED_MORE);
        assert_int_equal(outlen, 0);
    }
}

/* The encoder's response, decoded by a client: salt and type checked. */
static void test_response(void **state)
{
    (void)state;
    for (size_t i = 0; i < OTB_ARRAY_LEN(methods); i++) {
        struct otb_master m;
        struct otb_ss22_enc e = { 0 };
        struct otb_ss22_dec d = { 0 };
        uint8_t req_salt[32], salt[32], other[32], buf[4096], out[4096];
        size_t len, used, made, kl;

        psk(&m, methods[i], 0x44);
        kl = m.key_len;
        memset(req_salt, 7, sizeof(req_salt));
        memset(salt, 9, sizeof(salt));
        memset(other, 8, sizeof(other));
        otb_ss22_response_start(&e, &m, salt, NOW, req_salt);
        len = otb_ss22_seal(&e, (const uint8_t *)"hello", 5, buf);
        assert_int_equal(len, kl + OTB_SS22_RESP_FIXED_LEN(kl) + OTB_TAG_LEN + 5 + OTB_TAG_LEN);
        len += otb_ss22_seal(&e, (const uint8_t *)" world", 6, buf + len);
        otb_ss22_enc_end(&e);

        otb_ss22_dec_init(&d, &m, false, req_salt);
        d.now = NOW + 30;
        assert_int_equal(otb_ss22_open(&d, buf, len, &used, out, sizeof(out), &made),
                         OTB_NEED_MORE);
        assert_int_equal(made, 11);
        assert_memory_equal(out, "hello world", 11);
        assert_null(otb_ss22_request_salt(&d)); /* a response has none */
        otb_ss22_dec_end(&d);

        /* Another request's response. */
        memset(&d, 0, sizeof(d));
        otb_ss22_dec_init(&d, &m, false, other);
        d.now = NOW;
        assert_int_equal(otb_ss22_open(&d, buf, len, &used, out, sizeof(out), &made), OTB_BAD);
        assert_int_equal(d.err, OTB_SS22_ERR_SALT);
        otb_ss22_dec_end(&d);

        /* Stale. */
        memset(&d, 0, sizeof(d));
        otb_ss22_dec_init(&d, &m, false, req_salt);
        d.now = NOW + 31;
        assert_int_equal(otb_ss22_open(&d, buf, len, &used, out, sizeof(out), &made), OTB_BAD);
        assert_int_equal(d.err, OTB_SS22_ERR_TIME);
        otb_ss22_dec_end(&d);

        /* A response header of type 0 (a request's type). */
        {
            struct otb_aead a = { 0 };
            uint8_t hdr[1 + 8 + 32 + 2];
            hdr[0] = OTB_SS22_TYPE_CLIENT;
            otb_put_be64(hdr + 1, NOW);
            memcpy(hdr + 9, req_salt, kl);
            otb_put_be16(hdr + 9 + kl, 5);
            memcpy(buf, salt, kl);
            assert_int_equal(otb_aead_start(&a, &m, salt), 0);
            otb_aead_seal(&a, buf + kl, hdr, OTB_SS22_RESP_FIXED_LEN(kl));
            otb_aead_end(&a);
            len = kl + OTB_SS22_RESP_FIXED_LEN(kl) + OTB_TAG_LEN;
        }
        memset(&d, 0, sizeof(d));
        otb_ss22_dec_init(&d, &m, false, req_salt);
        d.now = NOW;
        assert_int_equal(otb_ss22_open(&d, buf, len, &used, out, sizeof(out), &made), OTB_BAD);
        assert_int_equal(d.err, OTB_SS22_ERR_TYPE);
        otb_ss22_dec_end(&d);
        /* A request decoded as a response is not even the right size. */
        memset(&d, 0, sizeof(d));
        otb_ss22_dec_init(&d, &m, true, NULL);
        d.now = NOW;
        assert_int_equal(otb_ss22_open(&d, buf, len, &used, out, sizeof(out), &made), OTB_BAD);
        assert_int_equal(d.err, OTB_SS22_ERR_AUTH);
        otb_ss22_dec_end(&d);
    }
}

/* salt || seal(type 1, ts, req_salt, 5) || seal("hello"): a response built
 * with the AEAD only. */
static size_t build_response(const struct otb_master *m, const uint8_t *salt,
                             const uint8_t *req_salt, uint64_t ts, uint8_t *out)
{
    struct otb_aead a = { 0 };
    size_t kl = m->key_len, n = kl;
    uint8_t hdr[OTB_SS22_RESP_FIXED_LEN(OTB_MAX_SALT_LEN)];

    hdr[0] = OTB_SS22_TYPE_SERVER;
    otb_put_be64(hdr + 1, ts);
    memcpy(hdr + 9, req_salt, kl);
    otb_put_be16(hdr + 9 + kl, 5);
    memcpy(out, salt, kl);
    assert_int_equal(otb_aead_start(&a, m, salt), 0);
    otb_aead_seal(&a, out + n, hdr, OTB_SS22_RESP_FIXED_LEN(kl));
    n += OTB_SS22_RESP_FIXED_LEN(kl) + OTB_TAG_LEN;
    otb_aead_seal(&a, out + n, (const uint8_t *)"hello", 5);
    n += 5 + OTB_TAG_LEN;
    otb_aead_end(&a);
    return n;
}

/* Decodes the first len bytes of in as the response to req_salt at now; then
 * asks whether pool has seen its salt. The decoder's result in *rc. */
static bool response_replayed(const struct otb_master *m, uint8_t *in, size_t len,
                              const uint8_t *req_salt, uint64_t now, struct otb_saltpool *pool,
                              int *rc)
{
    struct otb_ss22_dec d = { 0 };
    uint8_t out[64];
    size_t used, made;
    bool replayed;

    otb_ss22_dec_init(&d, m, false, req_salt);
    d.now = now;
    *rc = otb_ss22_open(&d, in, len, &used, out, sizeof(out), &made);
    replayed = otb_ss22_response_replayed(&d, pool, (double)now);
    /* Once per stream: asking again does not find its own salt. */
    assert_false(otb_ss22_response_replayed(&d, pool, (double)now));
    otb_ss22_dec_end(&d);
    return replayed;
}

/* Client side of the salt pool: a response salt seen before is refused even
 * when the response names the right request salt; past the pool's ttl the
 * timestamp check refuses it instead. */
static void test_response_replayed(void **state)
{
    (void)state;
    for (size_t i = 0; i < OTB_ARRAY_LEN(methods); i++) {
        struct otb_master m;
        struct otb_saltpool pool;
        uint8_t q1[32], q2[32], q3[32], salt[32], fresh[32], buf[512];
        size_t kl, len;
        int rc;

        psk(&m, methods[i], 0x55);
        kl = m.key_len;
        memset(q1, 1, sizeof(q1));
        memset(q2, 2, sizeof(q2));
        memset(q3, 3, sizeof(q3));
        memset(salt, 0x5A, sizeof(salt));
        memset(fresh, 0x5B, sizeof(fresh));
        otb_saltpool_init(&pool, OTB_SS22_SALT_TTL);

        /* Only the salt and half the header: nothing to record yet. */
        len = build_response(&m, salt, q1, NOW, buf);
        assert_false(response_replayed(&m, buf, kl + 5, q1, NOW, &pool, &rc));
        assert_int_equal(rc, OTB_NEED_MORE);
        assert_int_equal(otb_saltpool_count(&pool, (double)NOW), 0);

        assert_false(response_replayed(&m, buf, len, q1, NOW, &pool, &rc));
        assert_int_equal(rc, OTB_NEED_MORE);
        assert_int_equal(otb_saltpool_count(&pool, (double)NOW), 1);
        /* The same response salt for another request: decodes, is a replay. */
        len = build_response(&m, salt, q2, NOW + 10, buf);
        assert_true(response_replayed(&m, buf, len, q2, NOW + 10, &pool, &rc));
        assert_int_equal(rc, OTB_NEED_MORE);
        len = build_response(&m, fresh, q3, NOW, buf);
        assert_false(response_replayed(&m, buf, len, q3, NOW + 20, &pool, &rc));
        /* After the ttl the salt is forgotten, and the timestamp is stale. */
        len = build_response(&m, salt, q2, NOW + 10, buf);
        assert_false(response_replayed(&m, buf, len, q2, NOW + 10 + OTB_SS22_SALT_TTL + 1, &pool,
                                       &rc));
        assert_int_equal(rc, OTB_BAD);
        /* A request stream never goes through this check. */
        {
            struct otb_ss22_dec d = { 0 };
            otb_ss22_dec_init(&d, &m, true, NULL);
            d.state = OTB_SS22_DEC_PAYLOAD;
            assert_false(otb_ss22_response_replayed(&d, &pool, (double)NOW));
            otb_ss22_dec_end(&d);
        }
        otb_saltpool_free(&pool);
    }
}

/* The encoder's request with padding; a 0xFFFF chunk delivered into a small
 * output over several calls, each given the same unconsumed input. */
static void test_request_big_chunk(void **state)
{
    struct otb_master m;
    struct otb_ss22_enc e = { 0 };
    struct otb_ss22_dec d = { 0 };
    uint8_t salt[32], *buf = malloc(2 * OTB_SS22_UNIT_MAX), *plain = malloc(OTB_SS22_CHUNK_MAX);
    uint8_t out[1000], *got = malloc(OTB_SS22_CHUNK_MAX + 100);
    size_t len, start = 0, total = 0;
    int rc;

    (void)state;
    assert_non_null(buf);
    assert_non_null(plain);
    assert_non_null(got);
    psk(&m, OTB_2022_CHACHA20_POLY1305, 0x55);
    memset(salt, 3, sizeof(salt));
    for (size_t i = 0; i < OTB_SS22_CHUNK_MAX; i++)
        plain[i] = (uint8_t)(i * 7);
    len = otb_ss22_request(&e, &m, salt, NOW, ADDR, sizeof(ADDR), 900, NULL, 0, buf);
    assert_int_equal(len, otb_ss22_request_len(&m, sizeof(ADDR), 900, 0));
    len += otb_ss22_seal(&e, plain, OTB_SS22_CHUNK_MAX, buf + len);
    otb_ss22_enc_end(&e);
    otb_ss22_dec_init(&d, &m, true, NULL);
    d.now = NOW;
    do {
        size_t used, made;
        rc = otb_ss22_open(&d, buf + start, len - start, &used, out, sizeof(out), &made);
        assert_int_not_equal(rc, OTB_BAD);
        memcpy(got + total, out, made);
        total += made;
        start += used;
    } while (rc == OTB_OK);
    assert_int_equal(start, len);
    assert_int_equal(total, sizeof(ADDR) + OTB_SS22_CHUNK_MAX);
    assert_memory_equal(got, ADDR, sizeof(ADDR));
    assert_memory_equal(got + sizeof(ADDR), plain, OTB_SS22_CHUNK_MAX);
    otb_ss22_dec_end(&d);
    free(buf);
    free(plain);
    free(got);
}

static void test_max_plain(void **state)
{
    (void)state;
    for (size_t room = 0; room < 200000; room += 997) {
        size_t p = otb_ss22_max_plain(room);
        size_t chunks = (p + OTB_SS22_CHUNK_MAX - 1) / OTB_SS22_CHUNK_MAX;
        if (p == 0)
            continue;
        assert_true(OTB_SS22_FIRST_OVERHEAD + (chunks - 1) * OTB_SS22_CHUNK_OVERHEAD + p <=
                    room);
    }
    assert_true(otb_ss22_max_plain(32 * 1024) > 32 * 1024 - 200);
}

/* ---- salt pool ---- */

static void test_saltpool_repeat(void **state)
{
    struct otb_saltpool p;
    uint8_t a[32], b[32];

    (void)state;
    otb_saltpool_init(&p, OTB_SS22_SALT_TTL);
    memset(a, 1, sizeof(a));
    memcpy(b, a, sizeof(b));
    b[31] ^= 1;
    assert_int_equal(otb_saltpool_check_add(&p, a, 32, 100.0), 0);
    assert_int_equal(otb_saltpool_check_add(&p, a, 32, 100.0), 1);
    assert_int_equal(otb_saltpool_check_add(&p, a, 32, 159.9), 1); /* still kept */
    assert_int_equal(otb_saltpool_check_add(&p, b, 32, 101.0), 0); /* one bit apart */
    assert_int_equal(otb_saltpool_check_add(&p, a, 16, 101.0), 0); /* a prefix */
    /* Kept 60 s, then forgotten (its timestamp is long stale by then). */
    assert_int_equal(otb_saltpool_check_add(&p, a, 32, 160.0), 0);
    assert_int_equal(otb_saltpool_check_add(&p, a, 32, 161.0), 1);
    otb_saltpool_free(&p);
}

/* Many salts: none mistaken for another, all refused again, and expired
 * ones make room instead of growing the table. */
static void test_saltpool_many(void **state)
{
    struct otb_saltpool p;
    uint8_t s[16];
    size_t peak;

    (void)state;
    otb_saltpool_init(&p, OTB_SS22_SALT_TTL);
    for (uint32_t i = 0; i < 20000; i++) {
        memset(s, 0, sizeof(s));
        memcpy(s, &i, sizeof(i));
        assert_int_equal(otb_saltpool_check_add(&p, s, sizeof(s), 1000.0), 0);
    }
    for (uint32_t i = 0; i < 20000; i++) {
        memset(s, 0, sizeof(s));
        memcpy(s, &i, sizeof(i));
        assert_int_equal(otb_saltpool_check_add(&p, s, sizeof(s), 1001.0), 1);
    }
    assert_int_equal(otb_saltpool_count(&p, 1001.0), 20000);
    peak = p.nslots;
    /* A minute later the same load again: the expired salts are dropped, so
     * the table sized for 20000 live salts is not outgrown (40000 would
     * take four times the slots). */
    for (uint32_t i = 0; i < 20000; i++) {
        memset(s, 0xFF, sizeof(s));
        memcpy(s, &i, sizeof(i));
        assert_int_equal(otb_saltpool_check_add(&p, s, sizeof(s), 1061.0 + i * 0.001), 0);
    }
    assert_true(p.nslots <= 2 * peak);
    assert_int_equal(otb_saltpool_count(&p, 1081.0), 20000);
    otb_saltpool_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_good),
        cmocka_unit_test(test_request_split),
        cmocka_unit_test(test_request_stale),
        cmocka_unit_test(test_request_type),
        cmocka_unit_test(test_request_padding),
        cmocka_unit_test(test_request_lengths),
        cmocka_unit_test(test_request_auth),
        cmocka_unit_test(test_request_short),
        cmocka_unit_test(test_response),
        cmocka_unit_test(test_response_replayed),
        cmocka_unit_test(test_request_big_chunk),
        cmocka_unit_test(test_max_plain),
        cmocka_unit_test(test_saltpool_repeat),
        cmocka_unit_test(test_saltpool_many),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
