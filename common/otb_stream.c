#include "otb_stream.h"

#include <string.h>

size_t otb_stream_sealed_len(size_t len)
{
    size_t chunks = (len + OTB_CHUNK_MAX - 1) / OTB_CHUNK_MAX;
    return len + chunks * OTB_CHUNK_OVERHEAD;
}

size_t otb_stream_max_plain(size_t room)
{
    size_t full = room / (OTB_CHUNK_MAX + OTB_CHUNK_OVERHEAD);
    size_t rest = room % (OTB_CHUNK_MAX + OTB_CHUNK_OVERHEAD);
    size_t plain = full * OTB_CHUNK_MAX;
    if (rest > OTB_CHUNK_OVERHEAD)
        plain += rest - OTB_CHUNK_OVERHEAD;
    return plain;
}

size_t otb_stream_enc_start(struct otb_stream_enc *e, const struct otb_master *m,
                            const uint8_t *salt, uint8_t *out)
{
    otb_aead_start(&e->aead, m, salt);
    memcpy(out, salt, m->key_len);
    return m->key_len;
}

size_t otb_stream_seal_chunk(struct otb_aead *a, const uint8_t *in, size_t n, uint8_t *out)
{
    uint8_t be[2];

    otb_put_be16(be, (uint16_t)n);
    otb_aead_seal(a, out, be, 2);
    otb_aead_seal(a, out + 2 + OTB_TAG_LEN, in, n);
    return 2 + OTB_TAG_LEN + n + OTB_TAG_LEN;
}

size_t otb_stream_seal(struct otb_stream_enc *e, const uint8_t *in, size_t len, uint8_t *out)
{
    size_t written = 0;

    while (len > 0) {
        size_t n = OTB_MIN(len, (size_t)OTB_CHUNK_MAX);
        written += otb_stream_seal_chunk(&e->aead, in, n, out + written);
        in += n;
        len -= n;
    }
    return written;
}

void otb_stream_enc_end(struct otb_stream_enc *e)
{
    otb_aead_end(&e->aead);
}

void otb_stream_dec_init(struct otb_stream_dec *d, const struct otb_master *m)
{
    d->master = m;
    d->state = OTB_DEC_SALT;
    d->payload_len = 0;
    d->chunks = 0;
}

/* One unit; returns OTB_OK when consumed, OTB_NEED_MORE when in is short. */
static int otb_stream_open_unit(struct otb_stream_dec *d, const uint8_t *in, size_t avail,
                                size_t *used, uint8_t *out, size_t room, size_t *produced)
{
    size_t salt_len = d->master->key_len;
    uint8_t be[2];

    *used = *produced = 0;
    switch (d->state) {
    case OTB_DEC_SALT:
        if (avail < salt_len)
            return OTB_NEED_MORE;
        memcpy(d->salt, in, salt_len);
        if (otb_aead_start(&d->aead, d->master, d->salt) != 0)
            return OTB_BAD;
        d->state = OTB_DEC_LENGTH;
        *used = salt_len;
        return OTB_OK;
    case OTB_DEC_LENGTH:
        if (avail < 2 + OTB_TAG_LEN)
            return OTB_NEED_MORE;
        if (otb_aead_open(&d->aead, be, in, 2 + OTB_TAG_LEN) != 0)
            return OTB_BAD;
        d->payload_len = otb_get_be16(be);
        if (d->payload_len == 0 || d->payload_len > OTB_CHUNK_MAX)
            return OTB_BAD;
        d->state = OTB_DEC_PAYLOAD;
        *used = 2 + OTB_TAG_LEN;
        return OTB_OK;
    case OTB_DEC_PAYLOAD:
        if (avail < (size_t)d->payload_len + OTB_TAG_LEN)
            return OTB_NEED_MORE;
        if (room < d->payload_len)
            return OTB_OK; /* caller sees no progress and out is full */
        if (otb_aead_open(&d->aead, out, in, (size_t)d->payload_len + OTB_TAG_LEN) != 0)
            return OTB_BAD;
        *used = (size_t)d->payload_len + OTB_TAG_LEN;
        *produced = d->payload_len;
        d->state = OTB_DEC_LENGTH;
        d->chunks++;
        return OTB_OK;
    }
    return OTB_BAD;
}

int otb_stream_open(struct otb_stream_dec *d, const uint8_t *in, size_t inlen, size_t *consumed,
                    uint8_t *out, size_t outcap, size_t *outlen)
{
    *consumed = *outlen = 0;
    for (;;) {
        size_t used, produced;
        int rc = otb_stream_open_unit(d, in + *consumed, inlen - *consumed, &used,
                                      out + *outlen, outcap - *outlen, &produced);
        if (rc != OTB_OK)
            return rc;
        if (used == 0)
            return OTB_OK; /* out full */
        *consumed += used;
        *outlen += produced;
    }
}

void otb_stream_dec_end(struct otb_stream_dec *d)
{
    otb_aead_end(&d->aead);
}
