/* What a TCP connection's wire side carries, behind one interface so the
 * pipes (otb_pipe.c) do not know which one they run:
 *   otb_codec_aead      Shadowsocks AEAD stream (SIP004): [salt][chunks...]
 *   otb_codec_2022      Shadowsocks 2022 stream (SIP022, otb_ss2022.h)
 *   otb_codec_identity  bytes as they are (direct/bypass connections of the box)
 * A codec with a request header, a response header and its own chunk format
 * (Shadowsocks 2022) fits the same slots: request() writes the client's
 * first flight, seal_read() starts the response the first time it seals,
 * open_decode() parses headers before chunks and request_salt() hands the
 * server's replay filter what identifies a request.
 *
 * The per-connection state is a union embedded in struct otb_conn (no
 * allocation per connection); it starts zeroed. */
#ifndef OTB_CODEC_H
#define OTB_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "otb_ss2022.h"
#include "otb_stream.h"

struct otb_conn;
struct otb_buf;

struct otb_codec_aead_state {
    struct otb_stream_enc enc;
    struct otb_stream_dec dec;
    bool enc_started; /* salt sent */
};

/* Wire bytes of a 2022 stream wait in rx, not in the pool's buffers: a
 * chunk may hold 0xFFFF bytes, twice a pool buffer. rx is allocated while it
 * holds bytes only. */
#define OTB_SS22_RX_SIZE (OTB_SS22_UNIT_MAX + 2 * OTB_TAG_LEN)

struct otb_codec_2022_state {
    struct otb_ss22_enc enc;
    struct otb_ss22_dec dec;
    uint8_t *rx;
    uint32_t rx_len;
    bool enc_started; /* client: request sent; server: response started */
    bool decoded;     /* the first read has been decoded */
};

union otb_codec_state {
    struct otb_codec_aead_state aead;
    struct otb_codec_2022_state ss22;
};

struct otb_codec {
    const char *name;
    /* The state of a new connection (its key is c->key). */
    void (*init)(struct otb_conn *c);
    /* Reads from the plain socket and appends the encoded bytes to seal.out.
     * 1 data, 0 nothing (would block), -1 EOF, -errno error. */
    int (*seal_read)(struct otb_conn *c);
    /* Reads from the wire socket into open.in (bytes to decode) or, when
     * nothing is to decode, into open.out. Same results. */
    int (*open_read)(struct otb_conn *c);
    /* Decodes what open.in holds into open.out. OTB_OK or OTB_BAD. */
    int (*open_decode)(struct otb_conn *c);
    /* Client: the first flight in seal.out (request header for c->target,
     * then c->early). 0 or -ENOMEM. */
    int (*request)(struct otb_conn *c);
    /* Server: what identifies the request for the replay filter, once its
     * first chunk has authenticated (NULL before, or when the codec has none). */
    const uint8_t *(*request_salt)(const struct otb_conn *c, size_t *len);
    /* Client: forgets the sending side (a retry to another server starts
     * a fresh stream). */
    void (*reset)(struct otb_conn *c);
    /* Wipes the state (keys). */
    void (*end)(struct otb_conn *c);
};

extern const struct otb_codec otb_codec_aead;
extern const struct otb_codec otb_codec_2022;

/* For the stream codecs' seal_read: up to max bytes of the plain socket into
 * the relay's scratch, and the seal pipe's output buffer in *out. n > 0, 0
 * when there is nothing to read now, -1 at EOF, -ENOMEM or -errno. */
ssize_t otb_codec_read_plain(struct otb_conn *c, size_t max, struct otb_buf **out);
extern const struct otb_codec otb_codec_identity;

/* The codec of a connection through a server keyed with m. */
const struct otb_codec *otb_codec_for(const struct otb_master *m);

#endif
