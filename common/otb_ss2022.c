#include "otb_ss2022.h"

#include "otb_stream.h"

#include <string.h>

size_t otb_ss22_request_len(const struct otb_master *m, size_t addr_len, size_t padding,
                            size_t payload_len)
{
    return m->key_len + OTB_SS22_REQ_FIXED_LEN + OTB_TAG_LEN + addr_len + 2 + padding +
           payload_len + OTB_TAG_LEN;
}

static void otb_ss22_enc_begin(struct otb_ss22_enc *e, const struct otb_master *m,
                               const uint8_t *salt)
{
    e->master = m;
    memcpy(e->salt, salt, m->key_len);
    otb_aead_start(&e->aead, m, salt);
}

size_t otb_ss22_request(struct otb_ss22_enc *e, const struct otb_master *m, const uint8_t *salt,
                        uint64_t now, const uint8_t *addr, size_t addr_len, size_t padding,
                        const uint8_t *payload, size_t payload_len, uint8_t *out)
{
    uint8_t fixed[OTB_SS22_REQ_FIXED_LEN];
    size_t var_len = addr_len + 2 + padding + payload_len;
    uint8_t *var;
    size_t n = m->key_len;

    otb_ss22_enc_begin(e, m, salt);
    memcpy(out, salt, n);
    fixed[0] = OTB_SS22_TYPE_CLIENT;
    otb_put_be64(fixed + 1, now);
    otb_put_be16(fixed + 9, (uint16_t)var_len);
    otb_aead_seal(&e->aead, out + n, fixed, sizeof(fixed));
    n += sizeof(fixed) + OTB_TAG_LEN;
    /* The variable header is laid out in place, then sealed in place. */
    var = out + n;
    memcpy(var, addr, addr_len);
    otb_put_be16(var + addr_len, (uint16_t)padding);
    memset(var + addr_len + 2, 0, padding);
    if (payload_len > 0)
        memcpy(var + addr_len + 2 + padding, payload, payload_len);
    otb_aead_seal(&e->aead, var, var, var_len);
    return n + var_len + OTB_TAG_LEN;
}

void otb_ss22_response_start(struct otb_ss22_enc *e, const struct otb_master *m,
                             const uint8_t *salt, uint64_t now, const uint8_t *req_salt)
{
    otb_ss22_enc_begin(e, m, salt);
    memcpy(e->req_salt, req_salt, m->key_len);
    e->time = now;
    e->header_pending = true;
}

size_t otb_ss22_max_plain(size_t room)
{
    size_t plain = 0;

    /* The first chunk pays for the salt and the response header. */
    if (room <= OTB_SS22_FIRST_OVERHEAD)
        return 0;
    room -= OTB_SS22_FIRST_OVERHEAD;
    plain = OTB_MIN(room, (size_t)OTB_SS22_CHUNK_MAX);
    room -= plain;
    while (room > OTB_SS22_CHUNK_OVERHEAD) {
        size_t n = OTB_MIN(room - OTB_SS22_CHUNK_OVERHEAD, (size_t)OTB_SS22_CHUNK_MAX);
        plain += n;
        room -= n + OTB_SS22_CHUNK_OVERHEAD;
    }
    return plain;
}

/* The response's salt and fixed header; the header's length announces the
 * first payload chunk. */
static size_t otb_ss22_seal_header(struct otb_ss22_enc *e, size_t first, uint8_t *out)
{
    const struct otb_master *m = e->master;
    uint8_t hdr[OTB_SS22_RESP_FIXED_LEN(OTB_MAX_SALT_LEN)];
    size_t hdr_len = OTB_SS22_RESP_FIXED_LEN(m->key_len);

    memcpy(out, e->salt, m->key_len);
    hdr[0] = OTB_SS22_TYPE_SERVER;
    otb_put_be64(hdr + 1, e->time);
    memcpy(hdr + 9, e->req_salt, m->key_len);
    otb_put_be16(hdr + 9 + m->key_len, (uint16_t)first);
    otb_aead_seal(&e->aead, out + m->key_len, hdr, hdr_len);
    e->header_pending = false;
    return m->key_len + hdr_len + OTB_TAG_LEN;
}

size_t otb_ss22_seal(struct otb_ss22_enc *e, const uint8_t *in, size_t len, uint8_t *out)
{
    size_t written = 0;

    while (len > 0) {
        size_t n = OTB_MIN(len, (size_t)OTB_SS22_CHUNK_MAX);
        if (e->header_pending) { /* the length is in the response's header */
            written += otb_ss22_seal_header(e, n, out);
            otb_aead_seal(&e->aead, out + written, in, n);
            written += n + OTB_TAG_LEN;
        } else {
            written += otb_stream_seal_chunk(&e->aead, in, n, out + written);
        }
        in += n;
        len -= n;
    }
    return written;
}

void otb_ss22_enc_end(struct otb_ss22_enc *e)
{
    otb_aead_end(&e->aead);
}

void otb_ss22_dec_init(struct otb_ss22_dec *d, const struct otb_master *m, bool request,
                       const uint8_t *expect_salt)
{
    d->master = m;
    d->state = OTB_SS22_DEC_SALT;
    d->err = OTB_SS22_OK;
    d->request = request;
    d->opened = false;
    if (expect_salt)
        memcpy(d->expect_salt, expect_salt, m->key_len);
}

static int otb_ss22_fail(struct otb_ss22_dec *d, enum otb_ss22_err err)
{
    d->err = err;
    return OTB_BAD;
}

static bool otb_ss22_time_ok(const struct otb_ss22_dec *d, uint64_t t)
{
    uint64_t diff = t > d->now ? t - d->now : d->now - t;
    return diff <= OTB_SS22_TIME_WINDOW;
}

/* The fixed-length header (request or response): type, time, lengths. */
static int otb_ss22_fixed(struct otb_ss22_dec *d, const uint8_t *in, size_t avail, size_t *used)
{
    size_t salt_len = d->master->key_len;
    size_t len = d->request ? OTB_SS22_REQ_FIXED_LEN : OTB_SS22_RESP_FIXED_LEN(salt_len);
    uint8_t hdr[OTB_SS22_RESP_FIXED_LEN(OTB_MAX_SALT_LEN)];

    if (avail < len + OTB_TAG_LEN)
        return OTB_NEED_MORE;
    if (otb_aead_open(&d->aead, hdr, in, len + OTB_TAG_LEN) != 0)
        return otb_ss22_fail(d, OTB_SS22_ERR_AUTH);
    if (hdr[0] != (d->request ? OTB_SS22_TYPE_CLIENT : OTB_SS22_TYPE_SERVER))
        return otb_ss22_fail(d, OTB_SS22_ERR_TYPE);
    if (!otb_ss22_time_ok(d, otb_get_be64(hdr + 1)))
        return otb_ss22_fail(d, OTB_SS22_ERR_TIME);
    if (!d->request && memcmp(hdr + 9, d->expect_salt, salt_len) != 0)
        return otb_ss22_fail(d, OTB_SS22_ERR_SALT);
    d->next_len = otb_get_be16(hdr + len - 2);
    if (d->next_len == 0)
        return otb_ss22_fail(d, OTB_SS22_ERR_LENGTH);
    d->state = d->request ? OTB_SS22_DEC_VAR : OTB_SS22_DEC_PAYLOAD;
    *used = len + OTB_TAG_LEN;
    return OTB_OK;
}

/* The variable header, opened in place: checks it and moves the address
 * next to the initial payload, so both are delivered as one run. */
static int otb_ss22_var(struct otb_ss22_dec *d, uint8_t *p)
{
    struct otb_addr addr;
    size_t addr_len, pad;
    int rc = otb_addr_parse(p, d->next_len, &addr, &addr_len);

    if (rc != OTB_OK || addr_len + 2 > d->next_len)
        return otb_ss22_fail(d, OTB_SS22_ERR_ADDR);
    pad = otb_get_be16(p + addr_len);
    if (pad > OTB_SS22_PADDING_MAX || addr_len + 2 + pad > d->next_len)
        return otb_ss22_fail(d, OTB_SS22_ERR_PADDING);
    if (pad == 0 && addr_len + 2 == d->next_len)
        return otb_ss22_fail(d, OTB_SS22_ERR_EMPTY);
    memmove(p + 2 + pad, p, addr_len);
    d->out_from = (uint32_t)(2 + pad);
    return OTB_OK;
}

/* A unit of next_len bytes plus tag (variable header or payload chunk):
 * opened in place once, then delivered as out has room. */
static int otb_ss22_body(struct otb_ss22_dec *d, uint8_t *in, size_t avail, size_t *used,
                         uint8_t *out, size_t room, size_t *produced)
{
    size_t n;

    if (avail < (size_t)d->next_len + OTB_TAG_LEN)
        return OTB_NEED_MORE;
    if (!d->opened) {
        if (otb_aead_open(&d->aead, in, in, (size_t)d->next_len + OTB_TAG_LEN) != 0)
            return otb_ss22_fail(d, OTB_SS22_ERR_AUTH);
        d->opened = true;
        d->out_from = 0;
        d->out_to = d->next_len;
        if (d->state == OTB_SS22_DEC_VAR && otb_ss22_var(d, in) != OTB_OK)
            return OTB_BAD;
    }
    n = OTB_MIN(room, (size_t)(d->out_to - d->out_from));
    memcpy(out, in + d->out_from, n);
    d->out_from += (uint32_t)n;
    *produced = n;
    if (d->out_from < d->out_to)
        return OTB_OK; /* the unit stays unconsumed until delivered */
    d->opened = false;
    d->state = OTB_SS22_DEC_LENGTH;
    *used = (size_t)d->next_len + OTB_TAG_LEN;
    return OTB_OK;
}

static int otb_ss22_unit(struct otb_ss22_dec *d, uint8_t *in, size_t avail, size_t *used,
                         uint8_t *out, size_t room, size_t *produced)
{
    size_t salt_len = d->master->key_len;
    uint8_t be[2];

    *used = *produced = 0;
    switch (d->state) {
    case OTB_SS22_DEC_SALT:
        if (avail < salt_len)
            return OTB_NEED_MORE;
        memcpy(d->salt, in, salt_len);
        if (otb_aead_start(&d->aead, d->master, d->salt) != 0)
            return otb_ss22_fail(d, OTB_SS22_ERR_AUTH);
        d->state = OTB_SS22_DEC_FIXED;
        *used = salt_len;
        return OTB_OK;
    case OTB_SS22_DEC_FIXED:
        return otb_ss22_fixed(d, in, avail, used);
    case OTB_SS22_DEC_LENGTH:
        if (avail < 2 + OTB_TAG_LEN)
            return OTB_NEED_MORE;
        if (otb_aead_open(&d->aead, be, in, 2 + OTB_TAG_LEN) != 0)
            return otb_ss22_fail(d, OTB_SS22_ERR_AUTH);
        d->next_len = otb_get_be16(be);
        if (d->next_len == 0)
            return otb_ss22_fail(d, OTB_SS22_ERR_LENGTH);
        d->state = OTB_SS22_DEC_PAYLOAD;
        *used = 2 + OTB_TAG_LEN;
        return OTB_OK;
    case OTB_SS22_DEC_VAR:
    case OTB_SS22_DEC_PAYLOAD:
        return otb_ss22_body(d, in, avail, used, out, room, produced);
    }
    return OTB_BAD;
}

int otb_ss22_open(struct otb_ss22_dec *d, uint8_t *in, size_t inlen, size_t *consumed,
                  uint8_t *out, size_t outcap, size_t *outlen)
{
    *consumed = *outlen = 0;
    if (d->err != OTB_SS22_OK)
        return OTB_BAD;
    for (;;) {
        size_t used, produced;
        int rc = otb_ss22_unit(d, in + *consumed, inlen - *consumed, &used, out + *outlen,
                               outcap - *outlen, &produced);
        if (rc != OTB_OK)
            return rc;
        *outlen += produced;
        if (used == 0)
            return OTB_OK; /* out full */
        *consumed += used;
    }
}

const uint8_t *otb_ss22_request_salt(const struct otb_ss22_dec *d)
{
    if (!d->request || d->state == OTB_SS22_DEC_SALT || d->state == OTB_SS22_DEC_FIXED)
        return NULL;
    return d->salt;
}

bool otb_ss22_response_replayed(struct otb_ss22_dec *d, struct otb_saltpool *pool, double now)
{
    if (d->request || d->salt_pooled || d->state == OTB_SS22_DEC_SALT ||
        d->state == OTB_SS22_DEC_FIXED)
        return false;
    d->salt_pooled = true;
    return otb_saltpool_check_add(pool, d->salt, d->master->key_len, now) != 0;
}

void otb_ss22_dec_end(struct otb_ss22_dec *d)
{
    otb_aead_end(&d->aead);
}
