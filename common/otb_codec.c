#include "otb_codec.h"

#include <errno.h>
#include <string.h>

#include <sodium.h>

#include "otb_conn.h"

/* ------------------------------------------------------ SIP004 AEAD stream */

static void otb_sip004_init(struct otb_conn *c)
{
    otb_stream_dec_init(&c->codec_state.aead.dec, &c->key->master);
}

/* The salt, the first time anything is sealed. */
static void otb_sip004_start(struct otb_conn *c, struct otb_buf *b)
{
    struct otb_codec_aead_state *s = &c->codec_state.aead;
    uint8_t salt[OTB_MAX_SALT_LEN];

    if (s->enc_started)
        return;
    randombytes_buf(salt, c->key->master.key_len);
    /* Server: our own salts are recorded too. A response stream read back
     * to us would otherwise open as a request under the same key. */
    if (c->relay->replay)
        otb_replay_check_add(c->relay->replay, salt, c->key->master.key_len);
    b->end += (uint32_t)otb_stream_enc_start(&s->enc, &c->key->master, salt, b->data + b->end);
    s->enc_started = true;
}

ssize_t otb_codec_read_plain(struct otb_conn *c, size_t max, struct otb_buf **out)
{
    struct otb_relay *r = c->relay;
    ssize_t n = recv(c->plain_fd, r->scratch, max, 0);

    if (n < 0)
        return errno == EAGAIN || errno == EINTR ? 0 : -errno;
    if (n == 0)
        return -1;
    if (!(*out = otb_pipe_buf(r, &c->seal.out)))
        return -ENOMEM;
    return n;
}

static int otb_sip004_seal_read(struct otb_conn *c)
{
    struct otb_relay *r = c->relay;
    struct otb_codec_aead_state *s = &c->codec_state.aead;
    size_t salt_len = s->enc_started ? 0 : c->key->master.key_len;
    struct otb_buf *b = NULL;
    ssize_t n = otb_codec_read_plain(c, otb_stream_max_plain(OTB_BUF_SIZE - salt_len), &b);

    if (n <= 0)
        return (int)n;
    otb_sip004_start(c, b);
    b->end += (uint32_t)otb_stream_seal(&s->enc, r->scratch, (size_t)n, b->data + b->end);
    return 1;
}

static int otb_sip004_open_read(struct otb_conn *c)
{
    struct otb_relay *r = c->relay;
    struct otb_buf *in;
    ssize_t n;

    if (!(in = otb_pipe_buf(r, &c->open.in)))
        return -ENOMEM;
    n = recv(c->cipher_fd, in->data + in->end, OTB_BUF_SIZE - in->end, 0);
    if (n < 0) {
        if (in->end == 0)
            otb_pipe_release(r, &c->open.in);
        return errno == EAGAIN || errno == EINTR ? 0 : -errno;
    }
    if (n == 0) {
        if (in->end == 0)
            otb_pipe_release(r, &c->open.in);
        return -1;
    }
    in->end += (uint32_t)n;
    otb_conn_touch(c);
    return 1;
}

static int otb_sip004_open_decode(struct otb_conn *c)
{
    struct otb_relay *r = c->relay;
    struct otb_buf *in = c->open.in, *out;
    size_t used, made;
    int rc;

    if (!in || in->start == in->end)
        return OTB_OK;
    if (!(out = otb_pipe_buf(r, &c->open.out)))
        return OTB_BAD;
    if (out->start == out->end)
        out->start = out->end = 0;
    rc = otb_stream_open(&c->codec_state.aead.dec, in->data + in->start, in->end - in->start,
                         &used, out->data + out->end, OTB_BUF_SIZE - out->end, &made);
    in->start += (uint32_t)used;
    out->end += (uint32_t)made;
    if (in->start == in->end) {
        otb_pipe_release(r, &c->open.in);
    } else if (in->start > 0) {
        memmove(in->data, in->data + in->start, in->end - in->start);
        in->end -= in->start;
        in->start = 0;
    }
    if (c->open.out->start == c->open.out->end)
        otb_pipe_release(r, &c->open.out);
    return rc == OTB_BAD ? OTB_BAD : OTB_OK;
}

/* The salt, the sealed address header, then any early LAN bytes. */
static int otb_sip004_request(struct otb_conn *c)
{
    struct otb_codec_aead_state *s = &c->codec_state.aead;
    uint8_t hdr[OTB_ADDR_MAX_LEN];
    struct otb_buf *b = otb_pipe_buf(c->relay, &c->seal.out);
    size_t len;

    if (!b)
        return -ENOMEM;
    otb_sip004_start(c, b);
    len = otb_addr_encode(&c->target, hdr);
    b->end += (uint32_t)otb_stream_seal(&s->enc, hdr, len, b->data + b->end);
    if (c->early)
        b->end += (uint32_t)otb_stream_seal(&s->enc, c->early->data, otb_buf_len(c->early),
                                            b->data + b->end);
    return 0;
}

static const uint8_t *otb_sip004_request_salt(const struct otb_conn *c, size_t *len)
{
    const struct otb_stream_dec *d = &c->codec_state.aead.dec;

    /* Only once the first chunk has authenticated: junk that merely looks
     * like a salt must not enter (and so cannot flush) the replay filter. */
    if (d->chunks == 0)
        return NULL;
    *len = c->key->master.key_len;
    return d->salt;
}

static void otb_sip004_reset(struct otb_conn *c)
{
    otb_stream_enc_end(&c->codec_state.aead.enc);
    c->codec_state.aead.enc_started = false;
}

static void otb_sip004_end(struct otb_conn *c)
{
    otb_stream_enc_end(&c->codec_state.aead.enc);
    otb_stream_dec_end(&c->codec_state.aead.dec);
}

const struct otb_codec otb_codec_aead = {
    .name = "aead",
    .init = otb_sip004_init,
    .seal_read = otb_sip004_seal_read,
    .open_read = otb_sip004_open_read,
    .open_decode = otb_sip004_open_decode,
    .request = otb_sip004_request,
    .request_salt = otb_sip004_request_salt,
    .reset = otb_sip004_reset,
    .end = otb_sip004_end,
};

/* ---------------------------------------------------------------- identity */

static void otb_identity_nop(struct otb_conn *c)
{
    (void)c;
}

/* Bytes go through unchanged, straight into the pipe's output. */
static int otb_identity_copy(struct otb_conn *c, int fd, struct otb_pipe *p)
{
    struct otb_buf *b = otb_pipe_buf(c->relay, &p->out);
    ssize_t n;

    if (!b)
        return -ENOMEM;
    n = recv(fd, b->data + b->end, OTB_BUF_SIZE - b->end, 0);
    if (n <= 0) {
        if (b->start == b->end)
            otb_pipe_release(c->relay, &p->out);
        if (n == 0)
            return -1;
        return errno == EAGAIN || errno == EINTR ? 0 : -errno;
    }
    b->end += (uint32_t)n;
    return 1;
}

static int otb_identity_seal_read(struct otb_conn *c)
{
    return otb_identity_copy(c, c->plain_fd, &c->seal);
}

static int otb_identity_open_read(struct otb_conn *c)
{
    return otb_identity_copy(c, c->cipher_fd, &c->open);
}

static int otb_identity_open_decode(struct otb_conn *c)
{
    (void)c;
    return OTB_OK;
}

/* No header: the early bytes are the first flight. */
static int otb_identity_request(struct otb_conn *c)
{
    struct otb_buf *b;

    if (!c->early)
        return 0;
    if (!c->seal.out) { /* nothing to retry on a direct connection: hand the buffer over */
        c->seal.out = c->early;
        c->early = NULL;
        return 0;
    }
    if (!(b = otb_pipe_buf(c->relay, &c->seal.out)))
        return -ENOMEM;
    memcpy(b->data + b->end, c->early->data, otb_buf_len(c->early));
    b->end += (uint32_t)otb_buf_len(c->early);
    return 0;
}

static const uint8_t *otb_identity_request_salt(const struct otb_conn *c, size_t *len)
{
    (void)c;
    *len = 0;
    return NULL;
}

const struct otb_codec otb_codec_identity = {
    .name = "identity",
    .init = otb_identity_nop,
    .seal_read = otb_identity_seal_read,
    .open_read = otb_identity_open_read,
    .open_decode = otb_identity_open_decode,
    .request = otb_identity_request,
    .request_salt = otb_identity_request_salt,
    .reset = otb_identity_nop,
    .end = otb_identity_nop,
};
