/* Unit tests for the AEAD TCP stream codec: multi-chunk round trips, every
 * split of the input across calls, malformed streams and the size helpers. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "otb_common.h"
#include "otb_crypto.h"
#include "otb_stream.h"

#define PASSWORD "otb-stream-test"
#define GUARD 64

/* What a connection keeps between reads: bytes not yet consumed and the
 * plaintext delivered so far. */
struct reader {
    struct otb_stream_dec dec;
    uint8_t *pend;
    size_t pend_len, pend_cap;
    uint8_t *out;
    size_t out_len, out_cap;
    int last;
};

static int setup(void **state)
{
    (void)state;
    return otb_crypto_init();
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    assert_non_null(p);
    return p;
}

static void reader_init(struct reader *r, const struct otb_master *m, size_t max_in,
                        size_t max_out)
{
    memset(r, 0, sizeof(*r));
    otb_stream_dec_init(&r->dec, m);
    r->pend_cap = max_in;
    r->pend = xmalloc(max_in);
    r->out_cap = max_out;
    r->out = xmalloc(max_out);
    r->last = OTB_NEED_MORE;
}

static void reader_free(struct reader *r)
{
    otb_stream_dec_end(&r->dec);
    free(r->pend);
    free(r->out);
}

/* Appends n new bytes and decodes as much as possible, the way a relay
 * would after a read(): unconsumed bytes stay at the front of pend. */
static int reader_feed(struct reader *r, const uint8_t *in, size_t n)
{
    size_t consumed, produced;
    int rc;

    assert_true(r->pend_len + n <= r->pend_cap);
    if (n > 0)
        memcpy(r->pend + r->pend_len, in, n);
    r->pend_len += n;
    rc = otb_stream_open(&r->dec, r->pend, r->pend_len, &consumed, r->out + r->out_len,
                         r->out_cap - r->out_len, &produced);
    assert_true(consumed <= r->pend_len);
    assert_true(produced <= r->out_cap - r->out_len);
    if (rc != OTB_BAD) {
        memmove(r->pend, r->pend + consumed, r->pend_len - consumed);
        r->pend_len -= consumed;
        r->out_len += produced;
    }
    r->last = rc;
    return rc;
}

static void make_master(struct otb_master *m, enum otb_method meth)
{
    otb_master_from_password(m, meth, PASSWORD);
}

static void fill_salt(uint8_t *salt, uint8_t seed)
{
    for (size_t i = 0; i < OTB_MAX_SALT_LEN; i++)
        salt[i] = (uint8_t)(seed + 13 * i);
}

/* Seals plain as consecutive otb_stream_seal calls of the given sizes (0
 * terminated; the last one takes the rest). Returns the stream length. */
static size_t seal_stream(const struct otb_master *m, const uint8_t *salt, const uint8_t *plain,
                          size_t len, const size_t *parts, uint8_t *out, size_t outcap)
{
    struct otb_stream_enc e;
    size_t off = 0, w;

    memset(&e, 0, sizeof(e));
    w = otb_stream_enc_start(&e, m, salt, out);
    assert_int_equal(w, m->key_len);
    assert_memory_equal(out, salt, m->key_len);
    while (off < len) {
        size_t n = len - off;
        size_t got;
        if (parts && *parts) {
            n = OTB_MIN(*parts, n);
            parts++;
        }
        assert_true(w + otb_stream_sealed_len(n) + GUARD <= outcap);
        memset(out + w, 0xA5, otb_stream_sealed_len(n) + GUARD);
        got = otb_stream_seal(&e, plain + off, n, out + w);
        assert_int_equal(got, otb_stream_sealed_len(n));
        for (size_t g = 0; g < GUARD; g++)
            assert_int_equal(out[w + got + g], 0xA5);
        w += got;
        off += n;
    }
    otb_stream_enc_end(&e);
    return w;
}

/* ---- large multi-chunk streams ---- */

static void test_large_stream(void **state)
{
    const size_t len = 100 * 1024;
    const size_t chunks = (len + OTB_CHUNK_MAX - 1) / OTB_CHUNK_MAX;
    uint8_t *plain = xmalloc(len);
    size_t cap = len + (chunks + 8) * OTB_CHUNK_OVERHEAD + OTB_MAX_SALT_LEN + GUARD;
    uint8_t *ct = xmalloc(cap);

    (void)state;
    randombytes_buf(plain, len);
    for (int meth = 0; meth < OTB_METHOD_COUNT; meth++) {
        struct otb_master m;
        uint8_t salt[OTB_MAX_SALT_LEN];
        struct reader r;
        size_t ctlen, off;
        int rc;

        make_master(&m, (enum otb_method)meth);
        fill_salt(salt, (uint8_t)meth);
        ctlen = seal_stream(&m, salt, plain, len, NULL, ct, cap);
        assert_int_equal(ctlen, m.key_len + otb_stream_sealed_len(len));
        assert_int_equal(ctlen, m.key_len + len + chunks * OTB_CHUNK_OVERHEAD);

        /* One call with everything. */
        reader_init(&r, &m, ctlen, len);
        assert_int_equal(reader_feed(&r, ct, ctlen), OTB_NEED_MORE);
        assert_int_equal(r.pend_len, 0);
        assert_int_equal(r.out_len, len);
        assert_memory_equal(r.out, plain, len);
        assert_int_equal(r.dec.chunks, chunks);
        assert_memory_equal(r.dec.salt, salt, m.key_len);
        reader_free(&r);

        /* Irregular reads. */
        reader_init(&r, &m, ctlen, len);
        off = 0;
        for (size_t step = 1; off < ctlen; step = step * 7 % 5003 + 1) {
            size_t n = OTB_MIN(step, ctlen - off);
            rc = reader_feed(&r, ct + off, n);
            assert_int_equal(rc, OTB_NEED_MORE);
            off += n;
        }
        assert_int_equal(r.pend_len, 0);
        assert_int_equal(r.out_len, len);
        assert_memory_equal(r.out, plain, len);
        reader_free(&r);

        /* The same plaintext sealed in uneven calls, including exact chunk
         * sizes and single bytes. */
        {
            static const size_t parts[] = { 1, OTB_CHUNK_MAX, OTB_CHUNK_MAX + 1, 2, 5000, 0 };
            size_t expect = 0, rest = len;
            for (size_t i = 0; parts[i]; i++) {
                expect += otb_stream_sealed_len(parts[i]);
                rest -= parts[i];
            }
            expect += otb_stream_sealed_len(rest);
            ctlen = seal_stream(&m, salt, plain, len, parts, ct, cap);
            assert_int_equal(ctlen, m.key_len + expect);
            reader_init(&r, &m, ctlen, len);
            assert_int_equal(reader_feed(&r, ct, ctlen), OTB_NEED_MORE);
            assert_int_equal(r.out_len, len);
            assert_memory_equal(r.out, plain, len);
            reader_free(&r);
        }
        otb_master_wipe(&m);
    }
    free(plain);
    free(ct);
}

/* ---- every split of a small stream ---- */

static void small_stream(const struct otb_master *m, uint8_t *plain, size_t *plen, uint8_t *ct,
                         size_t cap, size_t *ctlen)
{
    static const size_t parts[] = { 100, 1, 200, 0 };
    uint8_t salt[OTB_MAX_SALT_LEN];

    *plen = 100 + 1 + 200 + 57;
    for (size_t i = 0; i < *plen; i++)
        plain[i] = (uint8_t)(i * 31 + 7);
    fill_salt(salt, 0x5A);
    *ctlen = seal_stream(m, salt, plain, *plen, parts, ct, cap);
    assert_int_equal(*ctlen, m->key_len + *plen + 4 * OTB_CHUNK_OVERHEAD);
}

/* The small stream under every method, with its master key. */
struct small_case {
    struct otb_master m;
    enum otb_method meth;
    uint8_t plain[512], ct[1024];
    size_t plen, ctlen;
};

static void for_each_small_stream(void (*body)(const struct small_case *c))
{
    for (int meth = 0; meth < OTB_METHOD_COUNT; meth++) {
        struct small_case c;

        c.meth = (enum otb_method)meth;
        make_master(&c.m, c.meth);
        small_stream(&c.m, c.plain, &c.plen, c.ct, sizeof(c.ct), &c.ctlen);
        body(&c);
        otb_master_wipe(&c.m);
    }
}

/* test_BODY: BODY run on the small stream of every method. */
#define SMALL_STREAM_TEST(body)                \
    static void test_##body(void **state)      \
    {                                          \
        (void)state;                           \
        for_each_small_stream(body);           \
    }

static void every_split(const struct small_case *c)
{
    /* Two reads, split at every offset. */
    for (size_t split = 0; split <= c->ctlen; split++) {
        struct reader r;
        reader_init(&r, &c->m, c->ctlen, c->plen);
        assert_int_equal(reader_feed(&r, c->ct, split), OTB_NEED_MORE);
        assert_memory_equal(r.out, c->plain, r.out_len);
        assert_int_equal(reader_feed(&r, c->ct + split, c->ctlen - split), OTB_NEED_MORE);
        assert_int_equal(r.pend_len, 0);
        assert_int_equal(r.out_len, c->plen);
        assert_memory_equal(r.out, c->plain, c->plen);
        assert_int_equal(r.dec.chunks, 4);
        reader_free(&r);
    }

    /* Three reads at many pairs of offsets. */
    for (size_t a = 0; a <= c->ctlen; a += 7) {
        for (size_t b = a; b <= c->ctlen; b += 11) {
            struct reader r;
            reader_init(&r, &c->m, c->ctlen, c->plen);
            assert_int_equal(reader_feed(&r, c->ct, a), OTB_NEED_MORE);
            assert_int_equal(reader_feed(&r, c->ct + a, b - a), OTB_NEED_MORE);
            assert_int_equal(reader_feed(&r, c->ct + b, c->ctlen - b), OTB_NEED_MORE);
            assert_int_equal(r.out_len, c->plen);
            assert_memory_equal(r.out, c->plain, c->plen);
            reader_free(&r);
        }
    }

    /* Byte by byte: plaintext appears exactly when a chunk completes. */
    {
        struct reader r;
        size_t done_at[4], k = 0, off = c->m.key_len;
        static const size_t sizes[] = { 100, 1, 200, 57 };
        for (size_t i = 0; i < 4; i++) {
            off += OTB_CHUNK_OVERHEAD + sizes[i];
            done_at[i] = off;
        }
        reader_init(&r, &c->m, c->ctlen, c->plen);
        for (size_t i = 0; i < c->ctlen; i++) {
            size_t before = r.out_len;
            assert_int_equal(reader_feed(&r, c->ct + i, 1), OTB_NEED_MORE);
            if (k < 4 && i + 1 == done_at[k]) {
                assert_int_equal(r.out_len, before + sizes[k]);
                k++;
            } else {
                assert_int_equal(r.out_len, before);
            }
            /* The decoder never holds back a complete unit. */
            assert_true(r.pend_len < 2 + OTB_TAG_LEN + OTB_CHUNK_MAX + OTB_TAG_LEN);
        }
        assert_int_equal(k, 4);
        assert_int_equal(r.out_len, c->plen);
        assert_memory_equal(r.out, c->plain, c->plen);
        assert_int_equal(r.pend_len, 0);
        reader_free(&r);
    }
}

SMALL_STREAM_TEST(every_split)

/* ---- malformed streams ---- */

static void tampered(const struct small_case *c)
{
    uint8_t bad[1024];

    /* Any flipped byte after the salt makes the stream BAD, and the
     * plaintext delivered before that point is genuine. A flipped salt
     * byte changes the subkey, so the first length block fails. */
    for (size_t pos = 0; pos < c->ctlen; pos++) {
        struct reader r;
        memcpy(bad, c->ct, c->ctlen);
        bad[pos] ^= 0x20;
        reader_init(&r, &c->m, c->ctlen, c->plen);
        assert_int_equal(reader_feed(&r, bad, c->ctlen), OTB_BAD);
        reader_free(&r);

        /* Fed in two parts, the error shows up when the damaged unit
         * is complete. */
        reader_init(&r, &c->m, c->ctlen, c->plen);
        if (reader_feed(&r, bad, pos + 1) != OTB_BAD) {
            assert_int_equal(r.last, OTB_NEED_MORE);
            assert_memory_equal(r.out, c->plain, r.out_len);
            assert_int_equal(reader_feed(&r, bad + pos + 1, c->ctlen - pos - 1), OTB_BAD);
        }
        reader_free(&r);
    }
    /* A stream under another password. */
    {
        struct otb_master other;
        struct reader r;
        otb_master_from_password(&other, c->meth, "wrong");
        reader_init(&r, &other, c->ctlen, c->plen);
        assert_int_equal(reader_feed(&r, c->ct, c->ctlen), OTB_BAD);
        assert_int_equal(r.out_len, 0);
        reader_free(&r);
    }
    /* Chunks swapped: the counter does not match. */
    {
        struct reader r;
        size_t c1 = c->m.key_len, c2 = c1 + OTB_CHUNK_OVERHEAD + 100;
        size_t c3 = c2 + OTB_CHUNK_OVERHEAD + 1;
        memcpy(bad, c->ct, c->ctlen);
        memcpy(bad + c1, c->ct + c2, c3 - c2);
        memcpy(bad + c1 + (c3 - c2), c->ct + c1, c2 - c1);
        reader_init(&r, &c->m, c->ctlen, c->plen);
        assert_int_equal(reader_feed(&r, bad, c->ctlen), OTB_BAD);
        assert_int_equal(r.out_len, 0);
        reader_free(&r);
    }
}

SMALL_STREAM_TEST(tampered)

/* [salt][seal(BE16 len)] built with a raw otb_aead over the stream subkey,
 * optionally preceded by a valid chunk. */
static size_t forged_length(const struct otb_master *m, const uint8_t *salt, uint16_t value,
                            bool valid_first, uint8_t *out)
{
    struct otb_aead a;
    uint8_t be[2];
    size_t w = m->key_len;

    memset(&a, 0, sizeof(a));
    memcpy(out, salt, m->key_len);
    assert_int_equal(otb_aead_start(&a, m, salt), 0);
    if (valid_first) {
        otb_put_be16(be, 3);
        otb_aead_seal(&a, out + w, be, 2);
        w += 2 + OTB_TAG_LEN;
        otb_aead_seal(&a, out + w, (const uint8_t *)"abc", 3);
        w += 3 + OTB_TAG_LEN;
    }
    otb_put_be16(be, value);
    otb_aead_seal(&a, out + w, be, 2);
    w += 2 + OTB_TAG_LEN;
    otb_aead_end(&a);
    return w;
}

static void test_bad_lengths(void **state)
{
    static const uint16_t bad_values[] = { 0, OTB_CHUNK_MAX + 1, 0x8000, 0xFFFF };

    (void)state;
    for (int meth = 0; meth < OTB_METHOD_COUNT; meth++) {
        struct otb_master m;
        uint8_t salt[OTB_MAX_SALT_LEN], buf[256];

        make_master(&m, (enum otb_method)meth);
        fill_salt(salt, 0x77);
        for (size_t i = 0; i < OTB_ARRAY_LEN(bad_values); i++) {
            for (int first = 0; first < 2; first++) {
                struct reader r;
                size_t n = forged_length(&m, salt, bad_values[i], first, buf);
                reader_init(&r, &m, sizeof(buf), 64);
                assert_int_equal(reader_feed(&r, buf, n), OTB_BAD);
                if (first)
                    assert_int_equal(r.dec.chunks, 1);
                reader_free(&r);
                /* Byte by byte, BAD exactly at the end of the length block. */
                reader_init(&r, &m, sizeof(buf), 64);
                for (size_t k = 0; k + 1 < n; k++)
                    assert_int_equal(reader_feed(&r, buf + k, 1), OTB_NEED_MORE);
                assert_int_equal(reader_feed(&r, buf + n - 1, 1), OTB_BAD);
                if (first) {
                    assert_int_equal(r.out_len, 3);
                    assert_memory_equal(r.out, "abc", 3);
                }
                reader_free(&r);
            }
        }
        /* The boundary values themselves are accepted as lengths. */
        {
            static const uint16_t good[] = { 1, OTB_CHUNK_MAX };
            for (size_t i = 0; i < OTB_ARRAY_LEN(good); i++) {
                struct reader r;
                size_t n = forged_length(&m, salt, good[i], false, buf);
                reader_init(&r, &m, sizeof(buf), 64);
                assert_int_equal(reader_feed(&r, buf, n), OTB_NEED_MORE);
                assert_int_equal(r.pend_len, 0);
                assert_int_equal(r.dec.state, OTB_DEC_PAYLOAD);
                assert_int_equal(r.dec.payload_len, good[i]);
                reader_free(&r);
            }
        }
        otb_master_wipe(&m);
    }
}

static void truncated(const struct small_case *c)
{
    for (size_t cut = 0; cut < c->ctlen; cut++) {
        size_t consumed = 99, outlen = 99;
        struct otb_stream_dec d;
        uint8_t out[512];
        memset(&d, 0, sizeof(d));
        otb_stream_dec_init(&d, &c->m);
        assert_int_equal(otb_stream_open(&d, c->ct, cut, &consumed, out, sizeof(out), &outlen),
                         OTB_NEED_MORE);
        assert_true(consumed <= cut);
        assert_true(outlen < c->plen);
        assert_memory_equal(out, c->plain, outlen);
        /* Calling again without new bytes changes nothing. */
        {
            size_t c2 = 99, o2 = 99;
            assert_int_equal(otb_stream_open(&d, c->ct + consumed, cut - consumed, &c2,
                                             out + outlen, sizeof(out) - outlen, &o2),
                             OTB_NEED_MORE);
            assert_int_equal(c2, 0);
            assert_int_equal(o2, 0);
        }
        otb_stream_dec_end(&d);
    }
}

SMALL_STREAM_TEST(truncated)

/* ---- output buffer smaller than a chunk ---- */

static void out_full(const struct small_case *c)
{
    uint8_t out[512];
    size_t consumed, outlen, k = c->m.key_len;
    struct otb_stream_dec d;

    memset(&d, 0, sizeof(d));
    otb_stream_dec_init(&d, &c->m);

    /* No room at all: salt and first length consumed, then stop. */
    assert_int_equal(otb_stream_open(&d, c->ct, c->ctlen, &consumed, out, 0, &outlen), OTB_OK);
    assert_int_equal(consumed, k + 2 + OTB_TAG_LEN);
    assert_int_equal(outlen, 0);
    /* 99 bytes of room for a 100-byte chunk: no progress. */
    assert_int_equal(otb_stream_open(&d, c->ct + consumed, c->ctlen - consumed, &consumed, out, 99,
                                     &outlen),
                     OTB_OK);
    assert_int_equal(consumed, 0);
    assert_int_equal(outlen, 0);
    /* Exactly 100: the first chunk, the next length block, then stop
     * before the 1-byte chunk. */
    {
        size_t base = k + 2 + OTB_TAG_LEN;
        assert_int_equal(otb_stream_open(&d, c->ct + base, c->ctlen - base, &consumed, out, 100,
                                         &outlen),
                         OTB_OK);
        assert_int_equal(consumed, 100 + OTB_TAG_LEN + 2 + OTB_TAG_LEN);
        assert_int_equal(outlen, 100);
        assert_memory_equal(out, c->plain, 100);
        base += consumed;
        /* 201 bytes: the 1-byte and the 200-byte chunk, stop before 57. */
        assert_int_equal(otb_stream_open(&d, c->ct + base, c->ctlen - base, &consumed, out + 100,
                                         201, &outlen),
                         OTB_OK);
        assert_int_equal(outlen, 201);
        assert_int_equal(d.chunks, 3);
        base += consumed;
        /* Enough room for the rest: NEED_MORE with everything consumed. */
        assert_int_equal(otb_stream_open(&d, c->ct + base, c->ctlen - base, &consumed, out + 301,
                                         sizeof(out) - 301, &outlen),
                         OTB_NEED_MORE);
        assert_int_equal(outlen, 57);
        assert_int_equal(base + consumed, c->ctlen);
        assert_memory_equal(out, c->plain, c->plen);
    }
    otb_stream_dec_end(&d);

    /* A reader whose output is drained after each call gets every byte
     * with any buffer of at least one chunk. */
    for (size_t room = 200; room <= 400; room += 50) {
        uint8_t got[512];
        size_t have = 0, off = 0;
        int rc;
        memset(&d, 0, sizeof(d));
        otb_stream_dec_init(&d, &c->m);
        do {
            rc = otb_stream_open(&d, c->ct + off, c->ctlen - off, &consumed, out, room, &outlen);
            assert_true(rc == OTB_OK || rc == OTB_NEED_MORE);
            assert_true(consumed > 0 || rc == OTB_NEED_MORE);
            memcpy(got + have, out, outlen);
            have += outlen;
            off += consumed;
        } while (rc == OTB_OK);
        assert_int_equal(off, c->ctlen);
        assert_int_equal(have, c->plen);
        assert_memory_equal(got, c->plain, c->plen);
        otb_stream_dec_end(&d);
    }
}

SMALL_STREAM_TEST(out_full)

/* ---- size helpers ---- */

static void check_room(size_t room)
{
    size_t mp = otb_stream_max_plain(room);

    if (mp > 0)
        assert_true(otb_stream_sealed_len(mp) <= room);
    else
        assert_true(room <= OTB_CHUNK_OVERHEAD);
    assert_true(otb_stream_sealed_len(mp + 1) > room);
}

static void test_sizes(void **state)
{
    static const size_t big[] = { 1u << 16, 1u << 20, 10u << 20, 123456789, (size_t)1 << 40 };

    (void)state;
    assert_int_equal(otb_stream_sealed_len(0), 0);
    assert_int_equal(otb_stream_sealed_len(1), 1 + OTB_CHUNK_OVERHEAD);
    assert_int_equal(otb_stream_sealed_len(OTB_CHUNK_MAX), OTB_CHUNK_MAX + OTB_CHUNK_OVERHEAD);
    assert_int_equal(otb_stream_sealed_len(OTB_CHUNK_MAX + 1),
                     OTB_CHUNK_MAX + 1 + 2 * OTB_CHUNK_OVERHEAD);
    assert_int_equal(otb_stream_max_plain(0), 0);
    assert_int_equal(otb_stream_max_plain(OTB_CHUNK_OVERHEAD), 0);
    assert_int_equal(otb_stream_max_plain(OTB_CHUNK_OVERHEAD + 1), 1);
    assert_int_equal(otb_stream_max_plain(OTB_CHUNK_MAX + OTB_CHUNK_OVERHEAD), OTB_CHUNK_MAX);

    for (size_t room = 0; room <= 4 * (OTB_CHUNK_MAX + OTB_CHUNK_OVERHEAD) + 100; room++)
        check_room(room);
    for (size_t i = 0; i < OTB_ARRAY_LEN(big); i++)
        for (size_t d = 0; d < 2 * OTB_CHUNK_OVERHEAD + 2; d++)
            check_room(big[i] + d);
    for (size_t n = 1; n <= 3 * OTB_CHUNK_MAX + 5; n++) {
        size_t s = otb_stream_sealed_len(n);
        assert_true(s > n);
        assert_int_equal(otb_stream_max_plain(s), n);
        assert_true(otb_stream_sealed_len(n - 1) < s);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_large_stream),
        cmocka_unit_test(test_every_split),
        cmocka_unit_test(test_tampered),
        cmocka_unit_test(test_bad_lengths),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_out_full),
        cmocka_unit_test(test_sizes),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
