/* SHA1_Init & co. are deprecated in OpenSSL 3 in favour of EVP_MD_CTX, which
 * allocates; every UDP datagram derives a subkey (HKDF-SHA1), so this file
 * keeps the stack-only interface, which runs the same SHA-NI/AVX2 code. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include "otb_crypto.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "otb_blake3.h"
#include "otb_common.h"

static const struct otb_cipher_info otb_methods[OTB_METHOD_COUNT] = {
    [OTB_AES_128_GCM] = { "aes-128-gcm", 16, 12, false },
    [OTB_AES_256_GCM] = { "aes-256-gcm", 32, 12, false },
    [OTB_CHACHA20_IETF_POLY1305] = { "chacha20-ietf-poly1305", 32, 12, false },
    [OTB_XCHACHA20_IETF_POLY1305] = { "xchacha20-ietf-poly1305", 32, 24, false },
    [OTB_2022_AES_128_GCM] = { "2022-blake3-aes-128-gcm", 16, 12, true },
    [OTB_2022_AES_256_GCM] = { "2022-blake3-aes-256-gcm", 32, 12, true },
    [OTB_2022_CHACHA20_POLY1305] = { "2022-blake3-chacha20-poly1305", 32, 12, true },
};

/* The OpenSSL cipher of a method; NULL for XChaCha20 (libsodium). These are
 * OpenSSL's own constant objects: no state of ours to keep. */
static const EVP_CIPHER *otb_evp_cipher(enum otb_method m)
{
    switch (m) {
    case OTB_AES_128_GCM:
    case OTB_2022_AES_128_GCM:
        return EVP_aes_128_gcm();
    case OTB_AES_256_GCM:
    case OTB_2022_AES_256_GCM:
        return EVP_aes_256_gcm();
    case OTB_CHACHA20_IETF_POLY1305:
    case OTB_2022_CHACHA20_POLY1305:
        return EVP_chacha20_poly1305();
    default:
        return NULL;
    }
}

int otb_crypto_init(void)
{
    static const char *const warm[] = { "AES-128-GCM", "AES-256-GCM", "ChaCha20-Poly1305" };

    if (sodium_init() < 0)
        return -EIO;
    /* OpenSSL sets its providers up lazily and caches fetched algorithms:
     * pay that here, not on the first connection. */
    for (size_t i = 0; i < OTB_ARRAY_LEN(warm); i++) {
        EVP_CIPHER *c = EVP_CIPHER_fetch(NULL, warm[i], NULL);
        if (!c)
            return -EIO;
        EVP_CIPHER_free(c);
    }
    return 0;
}

int otb_method_from_name(const char *name)
{
    for (size_t i = 0; i < OTB_METHOD_COUNT; i++)
        if (strcmp(otb_methods[i].name, name) == 0)
            return (int)i;
    return -1;
}

const struct otb_cipher_info *otb_method_info(enum otb_method m)
{
    return &otb_methods[m];
}

const char *otb_method_names(void)
{
    return "aes-128-gcm, aes-256-gcm, chacha20-ietf-poly1305, xchacha20-ietf-poly1305, "
           "2022-blake3-aes-128-gcm, 2022-blake3-aes-256-gcm, 2022-blake3-chacha20-poly1305";
}

static void otb_master_init(struct otb_master *m, enum otb_method method)
{
    memset(m, 0, sizeof(*m));
    m->method = method;
    m->key_len = otb_methods[method].key_len;
}

void otb_master_from_password(struct otb_master *m, enum otb_method method, const char *password)
{
    uint8_t prev[16];
    unsigned int prev_len = sizeof(prev);
    size_t have = 0, pwlen = strlen(password);
    /* Startup and reload only: the allocating EVP interface is fine here. */
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();

    otb_master_init(m, method);
    if (!ctx)
        abort(); /* a program that cannot allocate a few bytes at start cannot run */
    /* EVP_BytesToKey(MD5, no salt, 1 round): D_i = MD5(D_{i-1} || password). */
    while (have < m->key_len) {
        if (EVP_DigestInit_ex(ctx, EVP_md5(), NULL) != 1 ||
            (have > 0 && EVP_DigestUpdate(ctx, prev, sizeof(prev)) != 1) ||
            EVP_DigestUpdate(ctx, password, pwlen) != 1 ||
            EVP_DigestFinal_ex(ctx, prev, &prev_len) != 1)
            abort(); /* MD5 is in OpenSSL's default provider: never fails */
        size_t n = OTB_MIN(sizeof(prev), m->key_len - have);
        memcpy(m->key + have, prev, n);
        have += n;
    }
    EVP_MD_CTX_free(ctx);
    sodium_memzero(prev, sizeof(prev));
}

int otb_master_from_base64(struct otb_master *m, enum otb_method method, const char *b64)
{
    static const int variants[] = {
        sodium_base64_VARIANT_ORIGINAL, sodium_base64_VARIANT_ORIGINAL_NO_PADDING,
        sodium_base64_VARIANT_URLSAFE, sodium_base64_VARIANT_URLSAFE_NO_PADDING,
    };
    otb_master_init(m, method);
    for (size_t i = 0; i < sizeof(variants) / sizeof(variants[0]); i++) {
        size_t len = 0;
        uint8_t buf[OTB_MAX_KEY_LEN * 2];
        if (sodium_base642bin(buf, sizeof(buf), b64, strlen(b64), NULL, &len, NULL,
                              variants[i]) == 0 &&
            len == m->key_len) {
            memcpy(m->key, buf, len);
            sodium_memzero(buf, sizeof(buf));
            return 0;
        }
        sodium_memzero(buf, sizeof(buf));
    }
    otb_master_wipe(m);
    return -EINVAL;
}

void otb_master_wipe(struct otb_master *m)
{
    sodium_memzero(m, sizeof(*m));
}

#define OTB_SHA1_LEN SHA_DIGEST_LENGTH
#define OTB_SHA1_BLOCK SHA_CBLOCK

/* An HMAC-SHA1 key as the hash states after its inner and outer pads: a MAC
 * under it then costs two compressions plus the message. Stack only. */
struct otb_hmac_sha1_key {
    SHA_CTX inner, outer;
};

static void otb_hmac_sha1_key(struct otb_hmac_sha1_key *k, const uint8_t *key, size_t key_len)
{
    uint8_t pad[OTB_SHA1_BLOCK];

    memset(pad, 0x36, sizeof(pad));
    for (size_t i = 0; i < key_len; i++) /* key_len <= 64: salts and SHA-1 output */
        pad[i] ^= key[i];
    SHA1_Init(&k->inner);
    SHA1_Update(&k->inner, pad, sizeof(pad));
    for (size_t i = 0; i < sizeof(pad); i++)
        pad[i] ^= 0x36 ^ 0x5c;
    SHA1_Init(&k->outer);
    SHA1_Update(&k->outer, pad, sizeof(pad));
    sodium_memzero(pad, sizeof(pad));
}

static void otb_hmac_sha1(const struct otb_hmac_sha1_key *k, const uint8_t *msg, size_t len,
                          uint8_t out[OTB_SHA1_LEN])
{
    uint8_t inner[OTB_SHA1_LEN];
    SHA_CTX c = k->inner;

    SHA1_Update(&c, msg, len);
    SHA1_Final(inner, &c);
    c = k->outer;
    SHA1_Update(&c, inner, sizeof(inner));
    SHA1_Final(out, &c);
    sodium_memzero(inner, sizeof(inner));
    sodium_memzero(&c, sizeof(c));
}

/* HKDF-SHA1 (RFC 5869) with info "ss-subkey", out_len <= 40. */
static void otb_hkdf_sha1_subkey(const uint8_t *salt, size_t salt_len, const uint8_t *ikm,
                                 size_t ikm_len, uint8_t *out, size_t out_len)
{
    static const uint8_t info[] = "ss-subkey";
    uint8_t prk[OTB_SHA1_LEN], t[OTB_SHA1_LEN], block[OTB_SHA1_LEN + sizeof(info)];
    struct otb_hmac_sha1_key k;
    size_t done = 0, tlen = 0;

    otb_hmac_sha1_key(&k, salt, salt_len);
    otb_hmac_sha1(&k, ikm, ikm_len, prk);
    otb_hmac_sha1_key(&k, prk, sizeof(prk)); /* once for every T(i) */
    for (uint8_t i = 1; done < out_len; i++) {
        /* T(i) = HMAC(PRK, T(i-1) || info || i) */
        memcpy(block, t, tlen);
        memcpy(block + tlen, info, sizeof(info) - 1);
        block[tlen + sizeof(info) - 1] = i;
        otb_hmac_sha1(&k, block, tlen + sizeof(info), t);
        tlen = sizeof(t);
        size_t n = OTB_MIN(sizeof(t), out_len - done);
        memcpy(out + done, t, n);
        done += n;
    }
    sodium_memzero(&k, sizeof(k));
    sodium_memzero(prk, sizeof(prk));
    sodium_memzero(t, sizeof(t));
    sodium_memzero(block, sizeof(block));
}

/* Keys the context, allocating it on first use only. Passing the cipher again
 * would make OpenSSL free and reallocate its algorithm state, so a context
 * that already runs this cipher only gets the new key. */
static int otb_aead_evp_key(struct otb_aead *a, const EVP_CIPHER *cipher, const uint8_t *key)
{
    if (a->ctx == NULL && (a->ctx = EVP_CIPHER_CTX_new()) == NULL)
        return -ENOMEM;
    if (EVP_CIPHER_CTX_get0_cipher(a->ctx) != NULL &&
        EVP_CIPHER_CTX_get_nid(a->ctx) == EVP_CIPHER_get_nid(cipher))
        cipher = NULL;
    return EVP_EncryptInit_ex(a->ctx, cipher, NULL, key, NULL) == 1 ? 0 : -EIO;
}

int otb_aead_start_key(struct otb_aead *a, const struct otb_master *m, const uint8_t *key)
{
    const EVP_CIPHER *cipher = otb_evp_cipher(m->method);
    int rc = 0;

    a->ready = false;
    memset(a->nonce, 0, sizeof(a->nonce));
    a->master = m;
    if (cipher != NULL)
        rc = otb_aead_evp_key(a, cipher, key);
    else
        memcpy(a->key, key, m->key_len);
    a->ready = rc == 0;
    return rc == 0 ? 0 : -EIO;
}

int otb_aead_start(struct otb_aead *a, const struct otb_master *m, const uint8_t *salt)
{
    uint8_t subkey[OTB_MAX_KEY_LEN], material[2 * OTB_MAX_KEY_LEN];
    int rc;

    if (otb_method_is_2022(m->method)) {
        memcpy(material, m->key, m->key_len);
        memcpy(material + m->key_len, salt, m->key_len);
        otb_blake3_derive_key(OTB_2022_SUBKEY_CONTEXT, material, 2 * m->key_len, subkey,
                              m->key_len);
        sodium_memzero(material, sizeof(material));
    } else {
        otb_hkdf_sha1_subkey(salt, m->key_len, m->key, m->key_len, subkey, m->key_len);
    }
    rc = otb_aead_start_key(a, m, subkey);
    sodium_memzero(subkey, sizeof(subkey));
    return rc;
}

/* OpenSSL fails here only on a broken context (these calls do not allocate);
 * sending an unsealed chunk would be worse than stopping. */
static void otb_aead_evp_check(int ok)
{
    if (ok != 1)
        abort();
}

static void otb_aead_evp_seal(struct otb_aead *a, uint8_t *out, const uint8_t *in, size_t len)
{
    int n = 0, fin = 0;

    otb_aead_evp_check(EVP_EncryptInit_ex(a->ctx, NULL, NULL, NULL, a->nonce));
    if (len > 0)
        otb_aead_evp_check(EVP_EncryptUpdate(a->ctx, out, &n, in, (int)len));
    otb_aead_evp_check(EVP_EncryptFinal_ex(a->ctx, out + n, &fin));
    otb_aead_evp_check(
        EVP_CIPHER_CTX_ctrl(a->ctx, EVP_CTRL_AEAD_GET_TAG, OTB_TAG_LEN, out + len));
}

/* 0 if the tag matches. The tag is taken before decrypting, so out == in works. */
static int otb_aead_evp_open(struct otb_aead *a, uint8_t *out, const uint8_t *in, size_t len)
{
    int n = 0, fin = 0;

    if (EVP_DecryptInit_ex(a->ctx, NULL, NULL, NULL, a->nonce) != 1 ||
        EVP_CIPHER_CTX_ctrl(a->ctx, EVP_CTRL_AEAD_SET_TAG, OTB_TAG_LEN, (void *)(in + len)) != 1)
        return -1;
    if (len > 0 && EVP_DecryptUpdate(a->ctx, out, &n, in, (int)len) != 1)
        return -1;
    return EVP_DecryptFinal_ex(a->ctx, out + n, &fin) == 1 ? 0 : -1;
}

void otb_aead_seal(struct otb_aead *a, uint8_t *out, const uint8_t *in, size_t len)
{
    const struct otb_master *m = a->master;
    unsigned long long clen;

    if (m->method == OTB_XCHACHA20_IETF_POLY1305)
        crypto_aead_xchacha20poly1305_ietf_encrypt(out, &clen, in, len, NULL, 0, NULL,
                                                   a->nonce, a->key);
    else
        otb_aead_evp_seal(a, out, in, len);
    sodium_increment(a->nonce, otb_methods[m->method].nonce_len);
}

int otb_aead_open(struct otb_aead *a, uint8_t *out, const uint8_t *in, size_t clen)
{
    const struct otb_master *m = a->master;
    size_t len = clen - OTB_TAG_LEN;
    int rc;

    if (m->method == OTB_XCHACHA20_IETF_POLY1305)
        rc = crypto_aead_xchacha20poly1305_ietf_decrypt(out, NULL, NULL, in, clen, NULL, 0,
                                                        a->nonce, a->key);
    else
        rc = otb_aead_evp_open(a, out, in, len);
    sodium_increment(a->nonce, otb_methods[m->method].nonce_len);
    return rc == 0 ? 0 : -EBADMSG;
}

void otb_aead_end(struct otb_aead *a)
{
    /* EVP_CIPHER_CTX_free cleanses the key schedule. */
    EVP_CIPHER_CTX_free(a->ctx);
    sodium_memzero(a, sizeof(*a));
}
