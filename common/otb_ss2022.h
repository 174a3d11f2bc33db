/* Shadowsocks 2022 TCP stream codec (SIP022, 2022-1-shadowsocks-2022-edition):
 *   request:  [salt][seal(type 0, timestamp u64 BE, var_len u16 BE)]
 *             [seal(ATYP addr port, padding_len u16 BE, padding, payload)]
 *             then [seal(len u16 BE)][seal(payload)]... as in SIP004
 *   response: [salt][seal(type 1, timestamp, request salt, len u16 BE)]
 *             [seal(payload)] then length and payload chunks.
 * Subkeys come from BLAKE3 (otb_aead_start with a 2022 method), chunks carry
 * up to 0xFFFF bytes. Pure and allocation-free: no I/O, no clock (the caller
 * gives the time); the server checks request_salt against its salt pool, the
 * client hands its pool to otb_ss22_response_replayed. */
#ifndef OTB_SS2022_H
#define OTB_SS2022_H

#include "otb_addr.h"
#include "otb_common.h"
#include "otb_crypto.h"
#include "otb_saltpool.h"

#define OTB_SS22_CHUNK_MAX 0xFFFF
#define OTB_SS22_PADDING_MAX 900
/* Headers more than this many seconds away from our clock are replays. */
#define OTB_SS22_TIME_WINDOW 30
/* How long a request salt is remembered (twice the window). */
#define OTB_SS22_SALT_TTL 60
#define OTB_SS22_TYPE_CLIENT 0
#define OTB_SS22_TYPE_SERVER 1
#define OTB_SS22_REQ_FIXED_LEN (1 + 8 + 2)
#define OTB_SS22_RESP_FIXED_LEN(salt_len) (1 + 8 + (salt_len) + 2)
/* The largest unit the decoder needs whole: a full payload chunk. */
#define OTB_SS22_UNIT_MAX (OTB_SS22_CHUNK_MAX + OTB_TAG_LEN)
/* What a response's first seal adds at most: salt, header chunk, one tag. */
#define OTB_SS22_FIRST_OVERHEAD \
    (OTB_MAX_SALT_LEN + OTB_SS22_RESP_FIXED_LEN(OTB_MAX_SALT_LEN) + 2 * OTB_TAG_LEN)
#define OTB_SS22_CHUNK_OVERHEAD (2 + 2 * OTB_TAG_LEN)

/* Why the decoder refused its input (unit tests and the debug log). */
enum otb_ss22_err {
    OTB_SS22_OK,
    OTB_SS22_ERR_AUTH,      /* a chunk failed authentication */
    OTB_SS22_ERR_TYPE,      /* header type is not the expected stream type */
    OTB_SS22_ERR_TIME,      /* timestamp more than OTB_SS22_TIME_WINDOW away */
    OTB_SS22_ERR_SALT,      /* response's request salt is not ours */
    OTB_SS22_ERR_LENGTH,    /* a zero length */
    OTB_SS22_ERR_ADDR,      /* bad or truncated address in the variable header */
    OTB_SS22_ERR_PADDING,   /* padding length over the maximum or past the header */
    OTB_SS22_ERR_EMPTY,     /* request header with neither payload nor padding */
};

struct otb_ss22_enc {
    struct otb_aead aead;
    const struct otb_master *master;
    uint8_t salt[OTB_MAX_SALT_LEN];     /* ours: the response must name it */
    uint8_t req_salt[OTB_MAX_SALT_LEN]; /* server: the request's, for the header */
    uint64_t time;                      /* server: timestamp of the response header */
    bool header_pending;                /* server: nothing sealed yet */
};

enum otb_ss22_dec_state {
    OTB_SS22_DEC_SALT,
    OTB_SS22_DEC_FIXED,
    OTB_SS22_DEC_VAR,
    OTB_SS22_DEC_LENGTH,
    OTB_SS22_DEC_PAYLOAD,
};

struct otb_ss22_dec {
    struct otb_aead aead;
    const struct otb_master *master;
    enum otb_ss22_dec_state state;
    enum otb_ss22_err err;
    bool request;        /* decodes a request stream (server) */
    bool opened;         /* the current unit is decrypted in place */
    bool salt_pooled;    /* client: the response's salt went through the pool */
    uint16_t next_len;   /* plaintext length of the next unit */
    uint32_t out_from, out_to; /* what is left to deliver of the opened unit */
    uint64_t now;        /* the caller's clock (Unix seconds), set before opening */
    uint8_t salt[OTB_MAX_SALT_LEN];        /* the stream's, once read */
    uint8_t expect_salt[OTB_MAX_SALT_LEN]; /* client: our request's salt */
};

/* Sealed size of a request: salt, both headers, padding and payload. */
size_t otb_ss22_request_len(const struct otb_master *m, size_t addr_len, size_t padding,
                            size_t payload_len);
/* Client: the first flight, in out (otb_ss22_request_len bytes): the salt,
 * the fixed header stamped now, the variable header with addr (encoded,
 * addr_len bytes), padding zero bytes (at most OTB_SS22_PADDING_MAX) and the
 * initial payload; addr_len + 2 + padding + payload_len <= 0xFFFF. e must
 * start zeroed; it then seals length and payload chunks. Returns the length. */
size_t otb_ss22_request(struct otb_ss22_enc *e, const struct otb_master *m, const uint8_t *salt,
                        uint64_t now, const uint8_t *addr, size_t addr_len, size_t padding,
                        const uint8_t *payload, size_t payload_len, uint8_t *out);
/* Server: the response stream of the request whose salt is req_salt; the
 * salt and header go out with the first seal. e must start zeroed. */
void otb_ss22_response_start(struct otb_ss22_enc *e, const struct otb_master *m,
                             const uint8_t *salt, uint64_t now, const uint8_t *req_salt);
/* Largest plaintext whose seal fits in room, first seal included. */
size_t otb_ss22_max_plain(size_t room);
/* Seals len > 0 bytes (chunks of at most OTB_SS22_CHUNK_MAX), with the
 * response's salt and header first if still pending. Returns the length. */
size_t otb_ss22_seal(struct otb_ss22_enc *e, const uint8_t *in, size_t len, uint8_t *out);
void otb_ss22_enc_end(struct otb_ss22_enc *e);

/* request: decodes a request stream (server), else a response to the
 * request salted expect_salt (client). d must start zeroed. */
void otb_ss22_dec_init(struct otb_ss22_dec *d, const struct otb_master *m, bool request,
                       const uint8_t *expect_salt);
/* Consumes complete units from in (decrypted in place: in is scratch) and
 * writes plaintext to out. A request's variable header comes out as the
 * address (ATYP addr port) followed by the initial payload, padding
 * removed. A unit larger than outcap is delivered over several calls, each
 * given the same unconsumed input again.
 *   OTB_NEED_MORE: in[*consumed..inlen) starts an incomplete unit.
 *   OTB_OK:        out is full; call again with room.
 *   OTB_BAD:       refused, d->err says why. */
int otb_ss22_open(struct otb_ss22_dec *d, uint8_t *in, size_t inlen, size_t *consumed,
                  uint8_t *out, size_t outcap, size_t *outlen);
/* The request's salt once its fixed header passed the checks, else NULL. */
const uint8_t *otb_ss22_request_salt(const struct otb_ss22_dec *d);
/* Client, after otb_ss22_open: once the response's fixed header passed (its
 * timestamp within OTB_SS22_TIME_WINDOW), its salt goes into pool, once per
 * stream, as the spec asks of clients too. true when the pool refused it:
 * seen within the pool's ttl (a replayed response) or not kept (no memory);
 * the stream must then be dropped, nothing of it delivered. */
bool otb_ss22_response_replayed(struct otb_ss22_dec *d, struct otb_saltpool *pool, double now);
void otb_ss22_dec_end(struct otb_ss22_dec *d);

#endif
