/* Unit tests for the AEAD cipher layer: master key derivation, method names,
 * HKDF subkeys, known-answer seal/open vectors and the nonce counter.
 *
 * Expected values were computed outside this code base:
 *  - EVP_BytesToKey keys with
 *      openssl enc -aes-256-cbc -k PASSWORD -nosalt -md md5 -P   (32 bytes)
 *      openssl enc -aes-128-cbc -k PASSWORD -nosalt -md md5 -P   (16 bytes)
 *  - subkeys and ciphertexts with /usr/bin/python3 (Debian python3-cryptography
 *    38 and python3-nacl 1.5): master = iterated hashlib.md5 as above,
 *    subkey = HKDF(SHA1, length=key_len, salt=salt, info=b"ss-subkey"),
 *    ciphertext||tag = AESGCM(subkey) / ChaCha20Poly1305(subkey)
 *    .encrypt(nonce, plaintext, None), and for xchacha
 *    nacl.bindings.crypto_aead_xchacha20poly1305_ietf_encrypt(plaintext, None,
 *    nonce, subkey), with nonce = counter.to_bytes(nonce_len, "little").
 *    The 16-byte subkey was also cross-checked with
 *      openssl kdf -keylen 16 -kdfopt digest:SHA1 -kdfopt hexkey:... \
 *          -kdfopt hexsalt:... -kdfopt info:ss-subkey HKDF
 *  - base64 texts with Python's base64.b64encode / urlsafe_b64encode. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "otb_common.h"
#include "otb_crypto.h"

#define KAT_PASSWORD "otb-kat"
#define KAT_PLAIN "Shadowsocks AEAD known answer"

struct kat {
    enum otb_method method;
    const char *name;
    const char *master;
    const char *subkey;
    const char *ct0;   /* nonce counter 0 */
    const char *ct1;   /* nonce counter 1 */
    const char *ct256; /* nonce counter 256: bytes 00 01 00 ... */
    const char *empty0; /* empty plaintext, counter 0: tag only */
};

/* Salt for every vector: bytes 0x40, 0x41, ... (key_len of them). */
static const struct kat kats[] = {
    { OTB_AES_128_GCM, "aes-128-gcm", "a6286a38ce2e3141f3da8f0eef9187e1",
      "81204ab021bd6fb1e8fc975d2730bb65",
      "71647653040bb92f66a0f98fe7c0a6fd1932591ea492a16fe785ee45bccc70380b65824aa45db69fbb76f18bd6",
      "36fdcd7293718d1bc3d9d4c746e36652b8801082308ba992bbba7f7427362cca211d258efc602256282576d71a",
      "dd27d07015d2c564c2b24c2ec4aeb0fdd0303ff4f43cac67c71e9f111642a811303c9f3bef6017c876d92d5405",
      "aa31e16a5c9eab3c87661aa4d73a9988" },
    { OTB_AES_256_GCM, "aes-256-gcm",
      "a6286a38ce2e3141f3da8f0eef9187e1a8fbacdbe2c81f058160a2679d8a943d",
      "78c99596cad9cabdb0463071a478c94bdf311f174841d69d9ffe3ab2af6fbbdf",
      "1145de153aedffa4a778420acebd75146133b93b9b42057c020a1d1b9ef67df7c005cf6da19e5a401b6b4359ad",
      "5bf5e325736c04b7d787d9a42d613f9e643a958036d50b749128a5e0f32491b0fd9e6ff48df4ffbb0e791349b3",
      "44b67359183f06238b8bb84009ce25d05e6ef330b69b63b407b83a044e9bbba76e9f9cd84b054fd9f4becc58ab",
      "a3186c7e8bbb8d30cc832edd3ddd3445" },
    { OTB_CHACHA20_IETF_POLY1305, "chacha20-ietf-poly1305",
      "a6286a38ce2e3141f3da8f0eef9187e1a8fbacdbe2c81f058160a2679d8a943d",
      "78c99596cad9cabdb0463071a478c94bdf311f174841d69d9ffe3ab2af6fbbdf",
      "1b78fa4b7e7167ace8b229bd88ec391a46b1c8acc5767fa73d08448e04ee6e3d1aad7d678dfa1059bc1d4067fb",
      "70f20bf745bffabe156f6ae5423bf896865d5b1b1830dca0cda5d534bf8147b3dcfbb97328a9f72d7883b7ac2e",
      "85c1aa9198e9a9fc09e512756e6a210224a94c932511ea8beaa6a678615ab248cd87ec32218cb98c5f206f91f8",
      "1c76e1fe7d2af58b5789131ed10efa80" },
    { OTB_XCHACHA20_IETF_POLY1305, "xchacha20-ietf-poly1305",
      "a6286a38ce2e3141f3da8f0eef9187e1a8fbacdbe2c81f058160a2679d8a943d",
      "78c99596cad9cabdb0463071a478c94bdf311f174841d69d9ffe3ab2af6fbbdf",
      "04d0208cb1b48c0384b7ab13eb43364a7a288041e62c2fab0e812cc467374a3655998da3c1deb698fbe5fbe144",
      "b36c404eb1099443982a1988cbbdabf795960626da1a4fcecbd2502140a85c2b0159fb7a38e590e04d5d53837d",
      "8190a9fa3b0385fd8c7c51503e0c3613d2741b0d29e9a2fcec706660301e0ba81e0111974457cf27a0dae57395",
      "9131a0976e03d2049fe095b4390c85dc" },
};

/* Decodes lowercase/uppercase hex into out; returns the byte count. */
static size_t unhex(const char *hex, uint8_t *out, size_t cap)
{
    size_t n = strlen(hex);

    assert_int_equal(n % 2, 0);
    assert_true(n / 2 <= cap);
    for (size_t i = 0; i < n / 2; i++) {
        unsigned v = 0;
        for (size_t j = 0; j < 2; j++) {
            char c = hex[2 * i + j];
            v <<= 4;
            if (c >= '0' && c <= '9')
                v |= (unsigned)(c - '0');
            else if (c >= 'a' && c <= 'f')
                v |= (unsigned)(c - 'a' + 10);
            else if (c >= 'A' && c <= 'F')
                v |= (unsigned)(c - 'A' + 10);
            else
                fail_msg("bad hex digit %c", c);
        }
        out[i] = (uint8_t)v;
    }
    return n / 2;
}

static void assert_hex_equal(const uint8_t *got, size_t len, const char *hex)
{
    uint8_t want[256];
    size_t n = unhex(hex, want, sizeof(want));

    assert_int_equal(len, n);
    assert_memory_equal(got, want, n);
}

static void kat_salt(uint8_t *salt, size_t len)
{
    for (size_t i = 0; i < len; i++)
        salt[i] = (uint8_t)(0x40 + i);
}

static void aead_zero(struct otb_aead *a)
{
    memset(a, 0, sizeof(*a));
}

static int setup(void **state)
{
    (void)state;
    return otb_crypto_init();
}

/* ---- EVP_BytesToKey ---- */

static void test_bytes_to_key_32(void **state)
{
    struct otb_master m;

    (void)state;
    otb_master_from_password(&m, OTB_CHACHA20_IETF_POLY1305, "foobar");
    assert_int_equal(m.key_len, 32);
    assert_int_equal(m.method, OTB_CHACHA20_IETF_POLY1305);
    assert_hex_equal(m.key, m.key_len,
                     "3858F62230AC3C915F300C664312C63F568378529614D22DDB49237D2F60BFDF");

    otb_master_from_password(&m, OTB_AES_256_GCM, "otb-test-password");
    assert_hex_equal(m.key, m.key_len,
                     "BB1F1EA82AA1FE76357CAC82BAA2826ACA8D2A88DFC0D29B3C18F754124E1373");

    otb_master_from_password(&m, OTB_XCHACHA20_IETF_POLY1305, KAT_PASSWORD);
    assert_hex_equal(m.key, m.key_len, kats[3].master);
    otb_master_wipe(&m);
}

static void test_bytes_to_key_16(void **state)
{
    struct otb_master m;

    (void)state;
    otb_master_from_password(&m, OTB_AES_128_GCM, "foobar");
    assert_int_equal(m.key_len, 16);
    assert_hex_equal(m.key, m.key_len, "3858F62230AC3C915F300C664312C63F");
    /* Nothing beyond key_len is written. */
    for (size_t i = 16; i < OTB_MAX_KEY_LEN; i++)
        assert_int_equal(m.key[i], 0);

    otb_master_from_password(&m, OTB_AES_128_GCM, "otb-test-password");
    assert_hex_equal(m.key, m.key_len, "BB1F1EA82AA1FE76357CAC82BAA2826A");

    otb_master_from_password(&m, OTB_AES_128_GCM, KAT_PASSWORD);
    assert_hex_equal(m.key, m.key_len, kats[0].master);
    otb_master_wipe(&m);
    for (size_t i = 0; i < OTB_MAX_KEY_LEN; i++)
        assert_int_equal(m.key[i], 0);
}

/* ---- base64 keys ---- */

static const char k16_hex[] = "fafeff030405060708090a0b0c0d0e0f";
static const char k32_hex[] = "fbffbf0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d";

static void expect_b64_ok(enum otb_method method, const char *b64, const char *hex)
{
    struct otb_master m;

    assert_int_equal(otb_master_from_base64(&m, method, b64), 0);
    assert_int_equal(m.method, method);
    assert_hex_equal(m.key, m.key_len, hex);
    otb_master_wipe(&m);
}

static void expect_b64_bad(enum otb_method method, const char *b64)
{
    struct otb_master m;

    memset(&m, 0xAA, sizeof(m));
    assert_int_equal(otb_master_from_base64(&m, method, b64), -EINVAL);
    for (size_t i = 0; i < OTB_MAX_KEY_LEN; i++)
        assert_int_equal(m.key[i], 0);
}

static void test_base64_accept(void **state)
{
    (void)state;
    /* 16 bytes: standard, standard unpadded, url-safe, url-safe unpadded. */
    expect_b64_ok(OTB_AES_128_GCM, "+v7/AwQFBgcICQoLDA0ODw==", k16_hex);
    expect_b64_ok(OTB_AES_128_GCM, "+v7/AwQFBgcICQoLDA0ODw", k16_hex);
    expect_b64_ok(OTB_AES_128_GCM, "-v7_AwQFBgcICQoLDA0ODw==", k16_hex);
    expect_b64_ok(OTB_AES_128_GCM, "-v7_AwQFBgcICQoLDA0ODw", k16_hex);
    /* 32 bytes, every 32-byte method. */
    for (int meth = OTB_AES_256_GCM; meth < OTB_METHOD_COUNT; meth++) {
        if (otb_method_info((enum otb_method)meth)->key_len != 32)
            continue;
        expect_b64_ok((enum otb_method)meth, "+/+/AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0=",
                      k32_hex);
        expect_b64_ok((enum otb_method)meth, "+/+/AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0",
                      k32_hex);
        expect_b64_ok((enum otb_method)meth, "-_-_AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0=",
                      k32_hex);
        expect_b64_ok((enum otb_method)meth, "-_-_AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0",
                      k32_hex);
    }
}

static void test_base64_reject(void **state)
{
    (void)state;
    /* Valid base64 of the wrong length for the method. */
    expect_b64_bad(OTB_AES_256_GCM, "+v7/AwQFBgcICQoLDA0ODw==");
    expect_b64_bad(OTB_CHACHA20_IETF_POLY1305, "-v7_AwQFBgcICQoLDA0ODw");
    expect_b64_bad(OTB_AES_128_GCM, "+/+/AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0=");
    /* 31 and 33 bytes. */
    expect_b64_bad(OTB_AES_256_GCM, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHg==");
    expect_b64_bad(OTB_AES_256_GCM, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8g");
    /* 15 and 17 bytes. */
    expect_b64_bad(OTB_AES_128_GCM, "AAECAwQFBgcICQoLDA0O");
    expect_b64_bad(OTB_AES_128_GCM, "AAECAwQFBgcICQoLDA0ODxA=");
    /* Empty and garbage. */
    expect_b64_bad(OTB_AES_128_GCM, "");
    expect_b64_bad(OTB_AES_256_GCM, "not base64 at all!!");
    expect_b64_bad(OTB_AES_256_GCM, "+/+/AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0=!");
    expect_b64_bad(OTB_AES_256_GCM, " +/+/AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0=");
    expect_b64_bad(OTB_AES_256_GCM, "+/+/AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0==");
    /* Alphabets mixed within one key. */
    expect_b64_bad(OTB_AES_256_GCM, "+_+/AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0=");
    expect_b64_bad(OTB_AES_128_GCM, "-v7/AwQFBgcICQoLDA0ODw==");
}

/* ---- method names ---- */

static void test_method_names(void **state)
{
    const char *all = otb_method_names();

    (void)state;
    for (size_t i = 0; i < OTB_ARRAY_LEN(kats); i++) {
        const struct otb_cipher_info *info;
        assert_int_equal(otb_method_from_name(kats[i].name), (int)kats[i].method);
        info = otb_method_info(kats[i].method);
        assert_string_equal(info->name, kats[i].name);
        assert_non_null(strstr(all, kats[i].name));
    }
    assert_int_equal(otb_method_info(OTB_AES_128_GCM)->key_len, 16);
    assert_int_equal(otb_method_info(OTB_AES_128_GCM)->nonce_len, 12);
    assert_int_equal(otb_method_info(OTB_AES_256_GCM)->key_len, 32);
    assert_int_equal(otb_method_info(OTB_AES_256_GCM)->nonce_len, 12);
    assert_int_equal(otb_method_info(OTB_CHACHA20_IETF_POLY1305)->key_len, 32);
    assert_int_equal(otb_method_info(OTB_CHACHA20_IETF_POLY1305)->nonce_len, 12);
    assert_int_equal(otb_method_info(OTB_XCHACHA20_IETF_POLY1305)->key_len, 32);
    assert_int_equal(otb_method_info(OTB_XCHACHA20_IETF_POLY1305)->nonce_len, 24);
    assert_int_equal(otb_method_from_name(OTB_DEFAULT_METHOD), OTB_CHACHA20_IETF_POLY1305);

    assert_int_equal(otb_method_from_name("rc4-md5"), -1);
    assert_int_equal(otb_method_from_name("aes-256-cfb"), -1);
    assert_int_equal(otb_method_from_name("aes-128-cfb"), -1);
    assert_int_equal(otb_method_from_name("chacha20"), -1);
    assert_int_equal(otb_method_from_name("none"), -1);
    assert_int_equal(otb_method_from_name("plain"), -1);
    assert_int_equal(otb_method_from_name(""), -1);
    assert_int_equal(otb_method_from_name("aes-256-gcm "), -1);
    assert_int_equal(otb_method_from_name("aes-256"), -1);
    assert_int_equal(otb_method_from_name("xchacha20-ietf-poly1305x"), -1);
}

/* ---- known answers ---- */

static void check_kat(const struct kat *k, const struct otb_master *m)
{
    const size_t plen = sizeof(KAT_PLAIN) - 1;
    uint8_t salt[OTB_MAX_SALT_LEN], ct[128], pt[128];
    struct otb_aead a;
    size_t nlen = otb_method_info(k->method)->nonce_len;

    kat_salt(salt, m->key_len);
    aead_zero(&a);
    assert_int_equal(otb_aead_start(&a, m, salt), 0);
    assert_true(a.ready);
    for (size_t i = 0; i < OTB_MAX_NONCE_LEN; i++)
        assert_int_equal(a.nonce[i], 0);
    /* Only the libsodium method keeps its subkey in the struct; the others
     * are proven by the ciphertexts below. */
    if (k->method == OTB_XCHACHA20_IETF_POLY1305)
        assert_hex_equal(a.key, m->key_len, k->subkey);

    otb_aead_seal(&a, ct, (const uint8_t *)KAT_PLAIN, plen);
    assert_hex_equal(ct, plen + OTB_TAG_LEN, k->ct0);
    assert_int_equal(a.nonce[0], 1);
    otb_aead_seal(&a, ct, (const uint8_t *)KAT_PLAIN, plen);
    assert_hex_equal(ct, plen + OTB_TAG_LEN, k->ct1);
    /* Advance the counter to 256: the carry goes to byte 1 (little endian). */
    for (int i = 2; i < 256; i++)
        otb_aead_seal(&a, ct, (const uint8_t *)KAT_PLAIN, plen);
    assert_int_equal(a.nonce[0], 0);
    assert_int_equal(a.nonce[1], 1);
    for (size_t i = 2; i < nlen; i++)
        assert_int_equal(a.nonce[i], 0);
    otb_aead_seal(&a, ct, (const uint8_t *)KAT_PLAIN, plen);
    assert_hex_equal(ct, plen + OTB_TAG_LEN, k->ct256);
    otb_aead_end(&a);
    assert_false(a.ready);

    /* Empty plaintext: only a tag. */
    assert_int_equal(otb_aead_start(&a, m, salt), 0);
    otb_aead_seal(&a, ct, NULL, 0);
    assert_hex_equal(ct, OTB_TAG_LEN, k->empty0);
    otb_aead_end(&a);

    /* Opening the reference ciphertexts. */
    assert_int_equal(otb_aead_start(&a, m, salt), 0);
    assert_int_equal(unhex(k->ct0, ct, sizeof(ct)), plen + OTB_TAG_LEN);
    assert_int_equal(otb_aead_open(&a, pt, ct, plen + OTB_TAG_LEN), 0);
    assert_memory_equal(pt, KAT_PLAIN, plen);
    assert_int_equal(unhex(k->ct1, ct, sizeof(ct)), plen + OTB_TAG_LEN);
    assert_int_equal(otb_aead_open(&a, pt, ct, plen + OTB_TAG_LEN), 0);
    assert_memory_equal(pt, KAT_PLAIN, plen);
    otb_aead_end(&a);

    assert_int_equal(otb_aead_start(&a, m, salt), 0);
    assert_int_equal(unhex(k->empty0, ct, sizeof(ct)), OTB_TAG_LEN);
    assert_int_equal(otb_aead_open(&a, pt, ct, OTB_TAG_LEN), 0);
    otb_aead_end(&a);
}

static void test_kat_all_methods(void **state)
{
    (void)state;
    for (size_t i = 0; i < OTB_ARRAY_LEN(kats); i++) {
        struct otb_master m;
        otb_master_from_password(&m, kats[i].method, KAT_PASSWORD);
        assert_hex_equal(m.key, m.key_len, kats[i].master);
        check_kat(&kats[i], &m);
        otb_master_wipe(&m);
    }
}

/* libsodium's seal of the KAT plaintext prefix under the KAT subkey, nonce =
 * counter; the second implementation that OpenSSL's output is held to. */
static void sodium_seal(enum otb_method meth, const uint8_t *subkey, unsigned counter,
                        uint8_t *out, const uint8_t *in, size_t len)
{
    uint8_t nonce[12] = { (uint8_t)counter, (uint8_t)(counter >> 8) };
    unsigned long long clen;

    if (meth == OTB_CHACHA20_IETF_POLY1305) {
        crypto_aead_chacha20poly1305_ietf_encrypt(out, &clen, in, len, NULL, 0, NULL, nonce,
                                                  subkey);
    } else {
        crypto_aead_aes256gcm_state st;
        crypto_aead_aes256gcm_beforenm(&st, subkey);
        crypto_aead_aes256gcm_encrypt_afternm(out, &clen, in, len, NULL, 0, NULL, nonce, &st);
    }
    assert_int_equal(clen, len + OTB_TAG_LEN);
}

static void cross_check(const struct kat *k)
{
    enum { MAXLEN = 1000 };
    struct otb_master m;
    struct otb_aead a;
    uint8_t salt[OTB_MAX_SALT_LEN], subkey[OTB_MAX_KEY_LEN], plain[MAXLEN];
    uint8_t c1[MAXLEN + OTB_TAG_LEN], c2[MAXLEN + OTB_TAG_LEN];
    unsigned counter = 0;

    otb_master_from_password(&m, k->method, KAT_PASSWORD);
    assert_int_equal(unhex(k->subkey, subkey, sizeof(subkey)), m.key_len);
    kat_salt(salt, m.key_len);
    for (size_t i = 0; i < sizeof(plain); i++)
        plain[i] = (uint8_t)(i * 7 + 3);
    aead_zero(&a);
    assert_int_equal(otb_aead_start(&a, &m, salt), 0);
    for (size_t len = 0; len <= sizeof(plain); len += 37, counter++) {
        /* Sealed in place: out == in. */
        memcpy(c1, plain, len);
        otb_aead_seal(&a, c1, c1, len);
        sodium_seal(k->method, subkey, counter, c2, plain, len);
        assert_memory_equal(c1, c2, len + OTB_TAG_LEN);
    }
    otb_aead_end(&a);
    otb_master_wipe(&m);
}

/* OpenSSL against libsodium on many lengths, for the methods both have. */
static void test_openssl_matches_libsodium(void **state)
{
    (void)state;
    for (size_t i = 0; i < OTB_ARRAY_LEN(kats); i++) {
        if (kats[i].method == OTB_CHACHA20_IETF_POLY1305 ||
            (kats[i].method == OTB_AES_256_GCM && crypto_aead_aes256gcm_is_available()))
            cross_check(&kats[i]);
    }
}

/* Re-keying keeps the cipher context (no allocation per UDP datagram) and
 * gives the same bytes as a fresh start, across method changes too. */
static void test_rekey_reuses_context(void **state)
{
    struct otb_master ms[OTB_ARRAY_LEN(kats)];
    uint8_t salt[OTB_MAX_SALT_LEN], other[OTB_MAX_SALT_LEN], ct[128];
    size_t plen = strlen(KAT_PLAIN);
    struct otb_aead a;

    (void)state;
    kat_salt(salt, sizeof(salt));
    memset(other, 0xA5, sizeof(other));
    for (size_t i = 0; i < OTB_ARRAY_LEN(kats); i++)
        otb_master_from_password(&ms[i], kats[i].method, KAT_PASSWORD);
    aead_zero(&a);
    for (int round = 0; round < 2; round++) {
        for (size_t i = 0; i < OTB_ARRAY_LEN(kats); i++) {
            void *ctx_before = a.ctx;
            assert_int_equal(otb_aead_start(&a, &ms[i], other), 0);
            otb_aead_seal(&a, ct, (const uint8_t *)KAT_PLAIN, plen);
            assert_int_equal(otb_aead_start(&a, &ms[i], salt), 0);
            otb_aead_seal(&a, ct, (const uint8_t *)KAT_PLAIN, plen);
            assert_hex_equal(ct, plen + OTB_TAG_LEN, kats[i].ct0);
            assert_int_equal(otb_aead_open(&a, ct, ct, plen + OTB_TAG_LEN), -EBADMSG);
            if (ctx_before != NULL)
                assert_ptr_equal(a.ctx, ctx_before);
        }
    }
    otb_aead_end(&a);
    assert_null(a.ctx);
    assert_false(a.ready);
    for (size_t i = 0; i < OTB_ARRAY_LEN(kats); i++)
        otb_master_wipe(&ms[i]);
}

/* ---- round trips, tampering, nonce use ---- */

static void each_master(void (*fn)(const struct otb_master *m))
{
    for (int meth = 0; meth < OTB_METHOD_COUNT; meth++) {
        struct otb_master m;
        otb_master_from_password(&m, (enum otb_method)meth, "round-trip");
        fn(&m);
        otb_master_wipe(&m);
    }
}

static void round_trip(const struct otb_master *m)
{
    enum { MAXLEN = 4096 };
    uint8_t salt[OTB_MAX_SALT_LEN];
    uint8_t *plain = malloc(MAXLEN), *ct = malloc(MAXLEN + OTB_TAG_LEN), *out = malloc(MAXLEN);
    struct otb_aead enc, dec;
    static const size_t lens[] = { 0, 1, 2, 15, 16, 17, 63, 64, 65, 1000, 0x3FFF, MAXLEN };

    assert_non_null(plain);
    assert_non_null(ct);
    assert_non_null(out);
    randombytes_buf(salt, sizeof(salt));
    randombytes_buf(plain, MAXLEN);
    aead_zero(&enc);
    aead_zero(&dec);
    assert_int_equal(otb_aead_start(&enc, m, salt), 0);
    assert_int_equal(otb_aead_start(&dec, m, salt), 0);
    for (size_t i = 0; i < OTB_ARRAY_LEN(lens); i++) {
        size_t len = lens[i] > MAXLEN ? MAXLEN : lens[i];
        otb_aead_seal(&enc, ct, plain, len);
        memset(out, 0, MAXLEN);
        assert_int_equal(otb_aead_open(&dec, out, ct, len + OTB_TAG_LEN), 0);
        assert_memory_equal(out, plain, len);
    }
    /* In place: out == in. */
    memcpy(ct, plain, 500);
    otb_aead_seal(&enc, ct, ct, 500);
    assert_int_equal(otb_aead_open(&dec, ct, ct, 500 + OTB_TAG_LEN), 0);
    assert_memory_equal(ct, plain, 500);
    otb_aead_end(&enc);
    otb_aead_end(&dec);
    /* Restarting resets the nonce: the same salt gives the same bytes. */
    assert_int_equal(otb_aead_start(&enc, m, salt), 0);
    otb_aead_seal(&enc, ct, plain, 100);
    assert_int_equal(otb_aead_start(&enc, m, salt), 0);
    otb_aead_seal(&enc, out, plain, 100);
    assert_memory_equal(ct, out, 100 + OTB_TAG_LEN);
    otb_aead_end(&enc);
    free(plain);
    free(ct);
    free(out);
}

static void test_round_trip(void **state)
{
    (void)state;
    each_master(round_trip);
}

static void tamper(const struct otb_master *m)
{
    enum { LEN = 40 };
    uint8_t salt[OTB_MAX_SALT_LEN], plain[LEN], ct[LEN + OTB_TAG_LEN], bad[LEN + OTB_TAG_LEN];
    uint8_t out[LEN];
    struct otb_aead a;

    randombytes_buf(salt, sizeof(salt));
    randombytes_buf(plain, sizeof(plain));
    aead_zero(&a);
    assert_int_equal(otb_aead_start(&a, m, salt), 0);
    otb_aead_seal(&a, ct, plain, LEN);
    /* Every single-bit flip of ciphertext or tag is refused. */
    for (size_t pos = 0; pos < sizeof(ct); pos++) {
        for (int bit = 0; bit < 8; bit += 3) {
            memcpy(bad, ct, sizeof(ct));
            bad[pos] ^= (uint8_t)(1u << bit);
            assert_int_equal(otb_aead_start(&a, m, salt), 0);
            assert_int_equal(otb_aead_open(&a, out, bad, sizeof(bad)), -EBADMSG);
        }
    }
    /* A truncated message (tag misplaced) is refused. */
    assert_int_equal(otb_aead_start(&a, m, salt), 0);
    assert_int_equal(otb_aead_open(&a, out, ct, sizeof(ct) - 1), -EBADMSG);
    /* A wrong salt (different subkey) is refused. */
    salt[0] ^= 1;
    assert_int_equal(otb_aead_start(&a, m, salt), 0);
    assert_int_equal(otb_aead_open(&a, out, ct, sizeof(ct)), -EBADMSG);
    salt[0] ^= 1;
    /* The untouched message still opens. */
    assert_int_equal(otb_aead_start(&a, m, salt), 0);
    assert_int_equal(otb_aead_open(&a, out, ct, sizeof(ct)), 0);
    assert_memory_equal(out, plain, LEN);
    otb_aead_end(&a);
}

static void test_tamper(void **state)
{
    (void)state;
    each_master(tamper);
}

static void nonce_counter(const struct otb_master *m)
{
    uint8_t salt[OTB_MAX_SALT_LEN], c0[3 + OTB_TAG_LEN], c1[3 + OTB_TAG_LEN], out[3];
    struct otb_aead enc, dec;
    size_t nlen = otb_method_info(m->method)->nonce_len;

    randombytes_buf(salt, sizeof(salt));
    aead_zero(&enc);
    aead_zero(&dec);
    assert_int_equal(otb_aead_start(&enc, m, salt), 0);
    otb_aead_seal(&enc, c0, (const uint8_t *)"abc", 3);
    otb_aead_seal(&enc, c1, (const uint8_t *)"abc", 3);
    /* Same plaintext, different counters: different ciphertexts. */
    assert_memory_not_equal(c0, c1, sizeof(c0));
    assert_int_equal(enc.nonce[0], 2);

    /* Opening c1 first (counter 0) fails, and the failure still advances
     * the counter, so c1 then opens at counter 1. */
    assert_int_equal(otb_aead_start(&dec, m, salt), 0);
    assert_int_equal(otb_aead_open(&dec, out, c1, sizeof(c1)), -EBADMSG);
    assert_int_equal(dec.nonce[0], 1);
    assert_int_equal(otb_aead_open(&dec, out, c1, sizeof(c1)), 0);
    assert_memory_equal(out, "abc", 3);

    /* In order: both open. */
    assert_int_equal(otb_aead_start(&dec, m, salt), 0);
    assert_int_equal(otb_aead_open(&dec, out, c0, sizeof(c0)), 0);
    assert_int_equal(otb_aead_open(&dec, out, c1, sizeof(c1)), 0);
    /* Replaying c0 at counter 2 fails. */
    assert_int_equal(otb_aead_open(&dec, out, c0, sizeof(c0)), -EBADMSG);

    /* Carry across bytes, little endian, confined to the nonce length. */
    memset(enc.nonce, 0xFF, sizeof(enc.nonce));
    enc.nonce[nlen - 1] = 0x7F;
    otb_aead_seal(&enc, c0, (const uint8_t *)"abc", 3);
    for (size_t i = 0; i < nlen - 1; i++)
        assert_int_equal(enc.nonce[i], 0);
    assert_int_equal(enc.nonce[nlen - 1], 0x80);
    for (size_t i = nlen; i < OTB_MAX_NONCE_LEN; i++)
        assert_int_equal(enc.nonce[i], 0xFF);
    otb_aead_end(&enc);
    otb_aead_end(&dec);
}

static void test_nonce_counter(void **state)
{
    (void)state;
    each_master(nonce_counter);
}

/* Subkeys depend on the salt and the master key. */
static void test_subkey_separation(void **state)
{
    struct otb_master m1, m2;
    uint8_t salt1[32], salt2[32], c[3][10 + OTB_TAG_LEN];
    struct otb_aead a;

    (void)state;
    otb_master_from_password(&m1, OTB_CHACHA20_IETF_POLY1305, "one");
    otb_master_from_password(&m2, OTB_CHACHA20_IETF_POLY1305, "two");
    memset(salt1, 1, sizeof(salt1));
    memcpy(salt2, salt1, sizeof(salt2));
    salt2[31] ^= 1;
    aead_zero(&a);
    assert_int_equal(otb_aead_start(&a, &m1, salt1), 0);
    otb_aead_seal(&a, c[0], (const uint8_t *)"0123456789", 10);
    assert_int_equal(otb_aead_start(&a, &m1, salt2), 0);
    otb_aead_seal(&a, c[1], (const uint8_t *)"0123456789", 10);
    assert_int_equal(otb_aead_start(&a, &m2, salt1), 0);
    otb_aead_seal(&a, c[2], (const uint8_t *)"0123456789", 10);
    otb_aead_end(&a);
    assert_memory_not_equal(c[0], c[1], sizeof(c[0]));
    assert_memory_not_equal(c[0], c[2], sizeof(c[0]));
    assert_memory_not_equal(c[1], c[2], sizeof(c[0]));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bytes_to_key_32),
        cmocka_unit_test(test_bytes_to_key_16),
        cmocka_unit_test(test_base64_accept),
        cmocka_unit_test(test_base64_reject),
        cmocka_unit_test(test_method_names),
        cmocka_unit_test(test_kat_all_methods),
        cmocka_unit_test(test_openssl_matches_libsodium),
        cmocka_unit_test(test_rekey_reuses_context),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_tamper),
        cmocka_unit_test(test_nonce_counter),
        cmocka_unit_test(test_subkey_separation),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
