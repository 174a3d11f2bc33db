/* AES_set_encrypt_key & co. are deprecated in OpenSSL 3 for EVP, which would
 * need a context per key and direction; one block per packet is all the
 * separate header needs, with the same AES-NI code. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include "otb_udp2022.h"

#include <string.h>

#include <sodium.h>

#include "otb_blake3.h"

bool otb_ss22_udp_is_aes(const struct otb_master *m)
{
    return m->method != OTB_2022_CHACHA20_POLY1305;
}

void otb_ss22_udp_key_init(struct otb_ss22_udp_key *k, const struct otb_master *m)
{
    k->master = m;
    if (otb_ss22_udp_is_aes(m)) {
        AES_set_encrypt_key(m->key, (int)m->key_len * 8, &k->enc);
        AES_set_decrypt_key(m->key, (int)m->key_len * 8, &k->dec);
    }
}

void otb_ss22_udp_subkey(const struct otb_master *m, const uint8_t sid[OTB_SS22_SID_LEN],
                         uint8_t *subkey)
{
    uint8_t material[OTB_MAX_KEY_LEN + OTB_SS22_SID_LEN];

    memcpy(material, m->key, m->key_len);
    memcpy(material + m->key_len, sid, OTB_SS22_SID_LEN);
    otb_blake3_derive_key(OTB_2022_SUBKEY_CONTEXT, material, m->key_len + OTB_SS22_SID_LEN,
                          subkey, m->key_len);
    sodium_memzero(material, sizeof(material));
}

/* The main header's length before the address. */
static size_t otb_ss22_udp_head_len(bool server, size_t padding)
{
    return 1 + 8 + (server ? OTB_SS22_SID_LEN : 0) + 2 + padding;
}

/* What precedes the sealed body: the separate header, or the nonce. */
static size_t otb_ss22_udp_prefix_len(const struct otb_master *m)
{
    return otb_ss22_udp_is_aes(m) ? 16 : OTB_SS22_XNONCE_LEN;
}

size_t otb_ss22_udp_sealed_len(const struct otb_master *m, bool server, size_t padding,
                               size_t addr_len, size_t len)
{
    /* chacha: the IDs ride inside the body. */
    size_t ids = otb_ss22_udp_is_aes(m) ? 0 : 16;
    return otb_ss22_udp_prefix_len(m) + ids + otb_ss22_udp_head_len(server, padding) + addr_len +
           len + OTB_TAG_LEN;
}

size_t otb_ss22_udp_seal(const struct otb_ss22_udp_key *k, struct otb_aead *a,
                         const uint8_t *subkey, const uint8_t *nonce,
                         const struct otb_ss22_udp_msg *msg, const uint8_t *addr,
                         size_t addr_len, const uint8_t *payload, size_t len, uint8_t *out)
{
    const struct otb_master *m = k->master;
    bool server = msg->type == OTB_SS22_TYPE_SERVER, aes = otb_ss22_udp_is_aes(m);
    uint8_t ids[16], *body, *p;
    size_t body_len;

    memcpy(ids, msg->sid, OTB_SS22_SID_LEN);
    otb_put_be64(ids + 8, msg->pid);
    body = out + otb_ss22_udp_prefix_len(m);
    p = body;
    if (!aes) {
        memcpy(p, ids, sizeof(ids));
        p += sizeof(ids);
    }
    *p++ = msg->type;
    otb_put_be64(p, msg->time);
    p += 8;
    if (server) {
        memcpy(p, msg->client_sid, OTB_SS22_SID_LEN);
        p += OTB_SS22_SID_LEN;
    }
    otb_put_be16(p, msg->padding);
    p += 2;
    memset(p, 0, msg->padding);
    p += msg->padding;
    memcpy(p, addr, addr_len);
    p += addr_len;
    if (len > 0)
        memcpy(p, payload, len);
    body_len = (size_t)(p - body) + len;
    if (!aes) {
        memcpy(out, nonce, OTB_SS22_XNONCE_LEN);
        crypto_aead_xchacha20poly1305_ietf_encrypt(body, NULL, body, body_len, NULL, 0, NULL,
                                                   nonce, m->key);
        return OTB_SS22_XNONCE_LEN + body_len + OTB_TAG_LEN;
    }
    if (otb_aead_start_key(a, m, subkey) != 0)
        return 0;
    memcpy(a->nonce, ids + 4, 12);
    otb_aead_seal(a, body, body, body_len);
    AES_encrypt(ids, out, &k->enc);
    return 16 + body_len + OTB_TAG_LEN;
}

bool otb_ss22_udp_peek(const struct otb_ss22_udp_key *k, const uint8_t *in, size_t len,
                       uint8_t sid[OTB_SS22_SID_LEN])
{
    uint8_t ids[16];

    if (len < 16 + OTB_TAG_LEN)
        return false;
    AES_decrypt(in, ids, &k->dec);
    memcpy(sid, ids, OTB_SS22_SID_LEN);
    return true;
}

/* The main header after the IDs: type, time, client ID, padding, address. */
static enum otb_ss22_udp_err otb_ss22_udp_parse(const uint8_t *p, size_t len, bool from_server,
                                                uint64_t now, struct otb_ss22_udp_msg *msg,
                                                struct otb_addr *addr, size_t *used)
{
    size_t head = otb_ss22_udp_head_len(from_server, 0), alen;
    uint64_t diff;

    if (len < head)
        return OTB_SS22_UDP_SHORT;
    msg->type = p[0];
    if (msg->type != (from_server ? OTB_SS22_TYPE_SERVER : OTB_SS22_TYPE_CLIENT))
        return OTB_SS22_UDP_TYPE;
    msg->time = otb_get_be64(p + 1);
    diff = msg->time > now ? msg->time - now : now - msg->time;
    if (diff > OTB_SS22_TIME_WINDOW)
        return OTB_SS22_UDP_TIME;
    if (from_server)
        memcpy(msg->client_sid, p + 9, OTB_SS22_SID_LEN);
    msg->padding = otb_get_be16(p + head - 2);
    if (msg->padding > len - head)
        return OTB_SS22_UDP_PADDING;
    head += msg->padding;
    if (otb_addr_parse(p + head, len - head, addr, &alen) != OTB_OK)
        return OTB_SS22_UDP_ADDR;
    *used = head + alen;
    return OTB_SS22_UDP_OK;
}

enum otb_ss22_udp_err otb_ss22_udp_open(const struct otb_ss22_udp_key *k, struct otb_aead *a,
                                        const uint8_t *subkey, const uint8_t *in, size_t len,
                                        bool from_server, uint64_t now,
                                        struct otb_ss22_udp_msg *msg, uint8_t *out,
                                        size_t outcap, struct otb_addr *addr,
                                        size_t *payload_off, size_t *payload_len)
{
    const struct otb_master *m = k->master;
    size_t prefix = otb_ss22_udp_prefix_len(m), body_len, off = 0, used;
    enum otb_ss22_udp_err err;

    if (len < prefix + OTB_TAG_LEN + (otb_ss22_udp_is_aes(m) ? 0 : 16) ||
        outcap < len - prefix - OTB_TAG_LEN)
        return OTB_SS22_UDP_SHORT;
    body_len = len - prefix - OTB_TAG_LEN;
    if (otb_ss22_udp_is_aes(m)) {
        uint8_t ids[16];
        AES_decrypt(in, ids, &k->dec);
        memcpy(msg->sid, ids, OTB_SS22_SID_LEN);
        msg->pid = otb_get_be64(ids + 8);
        if (otb_aead_start_key(a, m, subkey) != 0)
            return OTB_SS22_UDP_AUTH;
        memcpy(a->nonce, ids + 4, 12);
        if (otb_aead_open(a, out, in + prefix, body_len + OTB_TAG_LEN) != 0)
            return OTB_SS22_UDP_AUTH;
    } else {
        if (crypto_aead_xchacha20poly1305_ietf_decrypt(out, NULL, NULL, in + prefix,
                                                       body_len + OTB_TAG_LEN, NULL, 0, in,
                                                       m->key) != 0)
            return OTB_SS22_UDP_AUTH;
        memcpy(msg->sid, out, OTB_SS22_SID_LEN);
        msg->pid = otb_get_be64(out + 8);
        off = 16;
    }
    err = otb_ss22_udp_parse(out + off, body_len - off, from_server, now, msg, addr, &used);
    if (err != OTB_SS22_UDP_OK)
        return err;
    *payload_off = off + used;
    *payload_len = body_len - off - used;
    return OTB_SS22_UDP_OK;
}

bool otb_ss22_window_check(struct otb_ss22_window *w, uint64_t pid)
{
    uint64_t ahead;

    if (pid == UINT64_MAX)
        return false; /* top would wrap */
    if (pid >= w->top) {
        ahead = pid + 1 - w->top;
        w->bits = ahead >= 64 ? 0 : w->bits << ahead;
        if (w->top > 0 && ahead < 64)
            w->bits |= (uint64_t)1 << (ahead - 1); /* the previous top, now behind */
        else if (w->top > 0 && ahead == 64)
            w->bits = (uint64_t)1 << 63;
        w->top = pid + 1;
        return true;
    }
    /* Behind the top: within the window and not seen yet. */
    ahead = w->top - 1 - pid; /* 0 = the top itself */
    if (ahead == 0 || ahead > OTB_SS22_WINDOW)
        return false;
    if (w->bits & ((uint64_t)1 << (ahead - 1)))
        return false;
    w->bits |= (uint64_t)1 << (ahead - 1);
    return true;
}
