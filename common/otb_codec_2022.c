/* The Shadowsocks 2022 TCP codec (otb_ss2022.h) behind struct otb_codec.
 * Client: request() seals the salt, both headers, random padding and the
 * early bytes in one flight. Server: the response's salt and header go out
 * with the first bytes of the destination. Both: wire bytes collect in rx
 * (up to a whole 0xFFFF chunk); the salt and fixed header must come with
 * the first read (detection prevention: a probe must not learn how many
 * bytes are consumed before the answer). */
#include "otb_codec.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "otb_conn.h"

/* Headers carry the wall clock: the peer compares it with its own. */
static uint64_t otb_ss22_now(void)
{
    return (uint64_t)time(NULL);
}

static void otb_ss22_codec_init(struct otb_conn *c)
{
    /* Server: the request stream. A client starts its decoder in request(),
     * once it knows its salt. */
    if (c->relay->role == OTB_ROLE_SERVER)
        otb_ss22_dec_init(&c->codec_state.ss22.dec, &c->key->master, true, NULL);
}

static void otb_ss22_rx_free(struct otb_codec_2022_state *s)
{
    free(s->rx);
    s->rx = NULL;
    s->rx_len = 0;
}

/* Server: the response starts with the first bytes it carries. */
static void otb_ss22_codec_start(struct otb_conn *c)
{
    struct otb_codec_2022_state *s = &c->codec_state.ss22;
    uint8_t salt[OTB_MAX_SALT_LEN];

    if (s->enc_started)
        return;
    randombytes_buf(salt, c->key->master.key_len);
    otb_ss22_response_start(&s->enc, &c->key->master, salt, otb_ss22_now(), s->dec.salt);
    s->enc_started = true;
}

static int otb_ss22_codec_seal_read(struct otb_conn *c)
{
    struct otb_relay *r = c->relay;
    struct otb_codec_2022_state *s = &c->codec_state.ss22;
    struct otb_buf *b = NULL;
    ssize_t n = otb_codec_read_plain(c, otb_ss22_max_plain(OTB_BUF_SIZE), &b);

    if (n <= 0)
        return (int)n;
    otb_ss22_codec_start(c);
    b->end += (uint32_t)otb_ss22_seal(&s->enc, r->scratch, (size_t)n, b->data + b->end);
    return 1;
}

static int otb_ss22_codec_open_read(struct otb_conn *c)
{
    struct otb_codec_2022_state *s = &c->codec_state.ss22;
    ssize_t n;

    if (!s->rx && !(s->rx = malloc(OTB_SS22_RX_SIZE)))
        return -ENOMEM;
    n = recv(c->cipher_fd, s->rx + s->rx_len, OTB_SS22_RX_SIZE - s->rx_len, 0);
    if (n <= 0) {
        if (s->rx_len == 0 || n == 0) /* at EOF an incomplete chunk is dropped */
            otb_ss22_rx_free(s);
        if (n == 0)
            return -1;
        return errno == EAGAIN || errno == EINTR ? 0 : -errno;
    }
    s->rx_len += (uint32_t)n;
    otb_conn_touch(c);
    return 1;
}

static int otb_ss22_codec_open_decode(struct otb_conn *c)
{
    struct otb_relay *r = c->relay;
    struct otb_codec_2022_state *s = &c->codec_state.ss22;
    struct otb_buf *out;
    size_t used, made;
    int rc;

    if (!s->rx || s->rx_len == 0)
        return OTB_OK;
    if (!(out = otb_pipe_buf(r, &c->open.out)))
        return OTB_BAD;
    if (out->start == out->end)
        out->start = out->end = 0;
    s->dec.now = otb_ss22_now();
    rc = otb_ss22_open(&s->dec, s->rx, s->rx_len, &used, out->data + out->end,
                       OTB_BUF_SIZE - out->end, &made);
    out->end += (uint32_t)made;
    /* The salt and the fixed header come in the first read, or never. */
    if (rc != OTB_BAD && !s->decoded &&
        (s->dec.state == OTB_SS22_DEC_SALT || s->dec.state == OTB_SS22_DEC_FIXED))
        rc = OTB_BAD;
    s->decoded = true;
    /* Client: a response salt seen before is a replay; what it carried is
     * dropped with the connection, before reaching the LAN. */
    if (rc != OTB_BAD && r->role == OTB_ROLE_CLIENT &&
        otb_ss22_response_replayed(&s->dec, &r->salts2022, ev_now(r->loop))) {
        r->stats.replay++;
        OTB_DEBUG(r->log, "[#%llu] 2022 response with a salt seen before: refused",
                  (unsigned long long)c->id);
        return OTB_BAD;
    }
    if (rc == OTB_BAD) {
        OTB_DEBUG(r->log, "[#%llu] 2022 stream refused (reason %d)", (unsigned long long)c->id,
                  (int)s->dec.err);
        otb_ss22_rx_free(s);
    } else if (used == s->rx_len) {
        otb_ss22_rx_free(s);
    } else if (used > 0) {
        memmove(s->rx, s->rx + used, s->rx_len - used);
        s->rx_len -= (uint32_t)used;
    }
    if (c->open.out->start == c->open.out->end)
        otb_pipe_release(r, &c->open.out);
    return rc == OTB_BAD ? OTB_BAD : OTB_OK;
}

/* The salt, both headers with random padding, and any early LAN bytes. */
static int otb_ss22_codec_request(struct otb_conn *c)
{
    struct otb_codec_2022_state *s = &c->codec_state.ss22;
    const struct otb_master *m = &c->key->master;
    uint8_t addr[OTB_ADDR_MAX_LEN], salt[OTB_MAX_SALT_LEN];
    struct otb_buf *b = otb_pipe_buf(c->relay, &c->seal.out);
    size_t addr_len, early_len = c->early ? otb_buf_len(c->early) : 0;
    size_t padding = 1 + randombytes_uniform(OTB_SS22_PADDING_MAX);

    if (!b)
        return -ENOMEM;
    randombytes_buf(salt, m->key_len);
    addr_len = otb_addr_encode(&c->target, addr);
    b->end += (uint32_t)otb_ss22_request(&s->enc, m, salt, otb_ss22_now(), addr, addr_len,
                                         padding, early_len ? c->early->data : NULL, early_len,
                                         b->data + b->end);
    s->enc_started = true;
    otb_ss22_dec_init(&s->dec, m, false, salt);
    s->decoded = false;
    return 0;
}

static const uint8_t *otb_ss22_codec_request_salt(const struct otb_conn *c, size_t *len)
{
    *len = c->key->master.key_len;
    return otb_ss22_request_salt(&c->codec_state.ss22.dec);
}

static void otb_ss22_codec_reset(struct otb_conn *c)
{
    struct otb_codec_2022_state *s = &c->codec_state.ss22;

    otb_ss22_enc_end(&s->enc);
    memset(&s->enc, 0, sizeof(s->enc));
    s->enc_started = false;
    otb_ss22_rx_free(s);
}

static void otb_ss22_codec_end(struct otb_conn *c)
{
    struct otb_codec_2022_state *s = &c->codec_state.ss22;

    otb_ss22_enc_end(&s->enc);
    otb_ss22_dec_end(&s->dec);
    otb_ss22_rx_free(s);
}

const struct otb_codec otb_codec_2022 = {
    .name = "2022",
    .init = otb_ss22_codec_init,
    .seal_read = otb_ss22_codec_seal_read,
    .open_read = otb_ss22_codec_open_read,
    .open_decode = otb_ss22_codec_open_decode,
    .request = otb_ss22_codec_request,
    .request_salt = otb_ss22_codec_request_salt,
    .reset = otb_ss22_codec_reset,
    .end = otb_ss22_codec_end,
};

const struct otb_codec *otb_codec_for(const struct otb_master *m)
{
    return otb_method_is_2022(m->method) ? &otb_codec_2022 : &otb_codec_aead;
}
