/* Shadowsocks AEAD ciphers: methods, master key derivation, per-session
 * subkeys (HKDF-SHA1) and seal/open with the little-endian nonce counter. */
#ifndef OTB_CRYPTO_H
#define OTB_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sodium.h>

#define OTB_MAX_KEY_LEN 32
#define OTB_MAX_SALT_LEN 32
#define OTB_MAX_NONCE_LEN 24
#define OTB_TAG_LEN 16

#define OTB_2022_SUBKEY_CONTEXT "shadowsocks 2022 session subkey"

enum otb_method {
    OTB_AES_128_GCM,
    OTB_AES_256_GCM,
    OTB_CHACHA20_IETF_POLY1305,
    OTB_XCHACHA20_IETF_POLY1305,
    /* Shadowsocks 2022 (SIP022): BLAKE3 subkeys, headers with timestamps,
     * a base64 PSK instead of a password. */
    OTB_SIP004_METHOD_COUNT,
    OTB_2022_AES_128_GCM = OTB_SIP004_METHOD_COUNT,
    OTB_2022_AES_256_GCM,
    OTB_2022_CHACHA20_POLY1305,
    OTB_METHOD_COUNT
};

#define OTB_DEFAULT_METHOD "chacha20-ietf-poly1305"

struct otb_cipher_info {
    const char *name;
    size_t key_len;   /* also the salt length */
    size_t nonce_len;
    bool ss2022;      /* a Shadowsocks 2022 method */
};

/* The long-lived secret of a server/client pair. Never logged. */
struct otb_master {
    enum otb_method method;
    size_t key_len;
    uint8_t key[OTB_MAX_KEY_LEN];
};

/* OpenSSL's EVP_CIPHER_CTX, named by its struct tag so that users of this
 * header do not pull in <openssl/evp.h>. */
struct evp_cipher_ctx_st;

/* One direction of one session: subkey state and nonce counter. Kept small:
 * one per direction per connection. */
struct otb_aead {
    /* OpenSSL context for AES-GCM and ChaCha20-Poly1305 (NULL until first
     * needed); it survives a re-key so that reusing a struct costs no malloc. */
    struct evp_cipher_ctx_st *ctx;
    const struct otb_master *master;
    uint8_t key[OTB_MAX_KEY_LEN]; /* XChaCha20-Poly1305 subkey (libsodium) */
    uint8_t nonce[OTB_MAX_NONCE_LEN];
    bool ready;
};

int otb_crypto_init(void);
/* Returns the method or -1 if the name is unknown (stream ciphers are refused). */
int otb_method_from_name(const char *name);
const struct otb_cipher_info *otb_method_info(enum otb_method m);
/* Comma-separated list of supported method names, for messages and --help. */
const char *otb_method_names(void);

static inline bool otb_method_is_2022(enum otb_method m)
{
    return m >= OTB_SIP004_METHOD_COUNT;
}

/* Master key from a password with EVP_BytesToKey(MD5), as Shadowsocks does
 * (SIP004 methods only: a 2022 method's password is its base64 PSK). */
void otb_master_from_password(struct otb_master *m, enum otb_method method, const char *password);
/* Master key from base64 (standard or URL-safe alphabet). 0, or -EINVAL if the
 * text is not base64 of exactly the method's key length. */
int otb_master_from_base64(struct otb_master *m, enum otb_method method, const char *b64);
void otb_master_wipe(struct otb_master *m);

/* Subkey = HKDF-SHA1(master key, salt, "ss-subkey"), or for a 2022 method
 * BLAKE3 derive_key("shadowsocks 2022 session subkey", PSK || salt); nonce
 * reset to zero.
 * a must be zeroed before its first start. Starting again re-keys in place,
 * reusing the cipher context: a long-lived struct otb_aead re-keyed per UDP
 * datagram allocates nothing. 0, or -EIO. */
int otb_aead_start(struct otb_aead *a, const struct otb_master *m, const uint8_t *salt);
/* The same with the session key given (a 2022 UDP session's subkey, or the
 * PSK itself), for the AEAD cipher of method m. 0, or -EIO. */
int otb_aead_start_key(struct otb_aead *a, const struct otb_master *m, const uint8_t *key);
/* out receives len + OTB_TAG_LEN bytes (ciphertext || tag); nonce incremented.
 * out may equal in. */
void otb_aead_seal(struct otb_aead *a, uint8_t *out, const uint8_t *in, size_t len);
/* in holds clen bytes (ciphertext || tag), clen >= OTB_TAG_LEN; out receives
 * clen - OTB_TAG_LEN bytes. 0, or -EBADMSG if authentication fails. Nonce
 * incremented in both cases. */
int otb_aead_open(struct otb_aead *a, uint8_t *out, const uint8_t *in, size_t clen);
/* Frees the cipher context and wipes the keys; a is zeroed afterwards. */
void otb_aead_end(struct otb_aead *a);

#endif
