/* libFuzzer target for the SOCKS5 parsers, driven the way the SOCKS5
 * front end drives them: the input is the client's byte stream, received in
 * reads of a fuzzed size and parsed greeting -> (auth) -> request, each
 * stage on what is left after the previous one consumed its message.
 *
 * The first input byte holds the options: bit 0 = authentication wanted,
 * bits 1-7 = read size (0 = everything at once). Every parse runs on a heap
 * copy of exactly the bytes "received", so that a read past them is caught
 * by the address sanitizer. Checked at each step: what an answer implies
 * about the bytes (method offered, credentials equal, address re-encodes to
 * the header), that a message is complete at its length and not before,
 * that an incomplete input's prefixes are incomplete too, and that a
 * refusal stands whatever follows. */

#include "fuzz.h"
#include "otb_addr.h"
#include "otb_common.h"
#include "otb_socks5.h"

#define FUZZ_USER "fuzz"
#define FUZZ_PASS "pw-fuzz"

enum fuzz_stage { STAGE_GREETING, STAGE_AUTH, STAGE_REQUEST, STAGE_DONE };

/* The outputs of one parse. */
struct fuzz_result {
    int rc;
    size_t consumed;
    uint8_t method, rep;
    bool ok;
    struct otb_addr dst;
};

static void fuzz_parse(enum fuzz_stage stage, bool want_auth, const uint8_t *in, size_t len,
                       struct fuzz_result *r)
{
    uint8_t *copy = malloc(len ? len : 1);

    FUZZ_CHECK(copy != NULL);
    if (len)
        memcpy(copy, in, len);
    memset(r, 0, sizeof(*r));
    r->consumed = SIZE_MAX;
    if (stage == STAGE_GREETING)
        r->rc = otb_socks5_parse_greeting(copy, len, want_auth, &r->method, &r->consumed);
    else if (stage == STAGE_AUTH)
        r->rc = otb_socks5_parse_auth(copy, len, FUZZ_USER, FUZZ_PASS, &r->ok, &r->consumed);
    else
        r->rc = otb_socks5_parse_request(copy, len, &r->dst, &r->rep, &r->consumed);
    free(copy);
    FUZZ_CHECK(r->rc == OTB_OK || r->rc == OTB_NEED_MORE || r->rc == OTB_BAD);
    if (r->rc != OTB_OK)
        FUZZ_CHECK(r->consumed == SIZE_MAX);
}

static bool fuzz_field_is(const uint8_t *p, size_t n, const char *want)
{
    return n == strlen(want) && memcmp(p, want, n) == 0;
}

/* What an accepted message says must match its bytes. */
static void check_accepted(enum fuzz_stage stage, bool want_auth, const uint8_t *in, size_t len,
                           const struct fuzz_result *r)
{
    uint8_t wanted = want_auth ? OTB_SOCKS5_USERPASS : OTB_SOCKS5_NO_AUTH;

    FUZZ_CHECK(r->consumed >= 2 && r->consumed <= len);
    if (stage == STAGE_GREETING) {
        FUZZ_CHECK(in[0] == 5 && in[1] > 0 && r->consumed == 2 + (size_t)in[1]);
        FUZZ_CHECK(r->method == (memchr(in + 2, wanted, in[1]) ? wanted : OTB_SOCKS5_NO_METHOD));
    } else if (stage == STAGE_AUTH) {
        size_t ulen = in[1], plen = in[2 + ulen];
        FUZZ_CHECK(in[0] == 1 && ulen > 0 && r->consumed == 3 + ulen + plen);
        FUZZ_CHECK(r->ok == (fuzz_field_is(in + 2, ulen, FUZZ_USER) &&
                             fuzz_field_is(in + 3 + ulen, plen, FUZZ_PASS)));
    } else if (r->rep == OTB_SOCKS5_OK) {
        uint8_t enc[OTB_ADDR_MAX_LEN];
        FUZZ_CHECK(in[0] == 5 && in[1] == 1);
        FUZZ_CHECK(otb_addr_encode(&r->dst, enc) == r->consumed - 3);
        FUZZ_CHECK(memcmp(enc, in + 3, r->consumed - 3) == 0);
    } else {
        /* A refusal ends the connection: everything is consumed. */
        FUZZ_CHECK(r->consumed == len && len >= 4);
        if (r->rep == OTB_SOCKS5_CMD_UNSUPPORTED)
            FUZZ_CHECK(in[1] != 1);
        else
            FUZZ_CHECK(r->rep == OTB_SOCKS5_ATYP_UNSUPPORTED && in[1] == 1 &&
                       in[3] != OTB_ATYP_IPV4 && in[3] != OTB_ATYP_IPV6 &&
                       in[3] != OTB_ATYP_DOMAIN);
    }
}

/* A message is complete at its own length, incomplete one byte short. */
static void check_boundary(enum fuzz_stage stage, bool want_auth, const uint8_t *in,
                           const struct fuzz_result *r)
{
    struct fuzz_result again;

    if (stage == STAGE_REQUEST && r->rep != OTB_SOCKS5_OK)
        return;
    fuzz_parse(stage, want_auth, in, r->consumed, &again);
    FUZZ_CHECK(again.rc == OTB_OK && again.consumed == r->consumed);
    fuzz_parse(stage, want_auth, in, r->consumed - 1, &again);
    FUZZ_CHECK(again.rc == OTB_NEED_MORE);
}

static void check_reply(uint8_t rep)
{
    uint8_t *out = malloc(OTB_SOCKS5_REPLY_LEN);

    FUZZ_CHECK(out != NULL);
    FUZZ_CHECK(otb_socks5_reply(rep, out) == OTB_SOCKS5_REPLY_LEN);
    FUZZ_CHECK(out[0] == 5 && out[1] == rep && out[3] == OTB_ATYP_IPV4);
    free(out);
}

/* The next stage after an accepted message, as the server goes on. */
static enum fuzz_stage next_stage(enum fuzz_stage stage, bool want_auth,
                                  const struct fuzz_result *r)
{
    if (stage == STAGE_GREETING && r->method == OTB_SOCKS5_NO_METHOD)
        return STAGE_DONE;
    if (stage == STAGE_GREETING)
        return want_auth ? STAGE_AUTH : STAGE_REQUEST;
    if (stage == STAGE_AUTH)
        return r->ok ? STAGE_REQUEST : STAGE_DONE;
    check_reply(r->rep);
    return STAGE_DONE;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    enum fuzz_stage stage = STAGE_GREETING;
    struct fuzz_result r, more;
    bool want_auth;
    size_t chunk, pos = 0, have;

    if (size < 1)
        return 0;
    want_auth = data[0] & 1;
    chunk = data[0] >> 1;
    data++;
    size--;
    have = chunk ? OTB_MIN(chunk, size) : size;
    while (stage != STAGE_DONE) {
        fuzz_parse(stage, want_auth, data + pos, have - pos, &r);
        if (r.rc == OTB_NEED_MORE) {
            if (have > pos) {
                fuzz_parse(stage, want_auth, data + pos, have - pos - 1, &more);
                FUZZ_CHECK(more.rc == OTB_NEED_MORE);
            }
            if (have == size)
                break;
            have = OTB_MIN(size, have + (chunk ? chunk : size));
            continue;
        }
        if (r.rc == OTB_BAD) {
            fuzz_parse(stage, want_auth, data + pos, size - pos, &more);
            FUZZ_CHECK(more.rc == OTB_BAD);
            break;
        }
        check_accepted(stage, want_auth, data + pos, have - pos, &r);
        check_boundary(stage, want_auth, data + pos, &r);
        pos += r.consumed;
        stage = next_stage(stage, want_auth, &r);
    }
    return 0;
}
