#include "otb_socks5.h"

#include <string.h>

#include <sodium.h>

int otb_socks5_parse_greeting(const uint8_t *in, size_t len, bool want_auth, uint8_t *method,
                              size_t *consumed)
{
    uint8_t wanted = want_auth ? OTB_SOCKS5_USERPASS : OTB_SOCKS5_NO_AUTH;

    if (len < 2)
        return len == 1 && in[0] != OTB_SOCKS5_VERSION ? OTB_BAD : OTB_NEED_MORE;
    if (in[0] != OTB_SOCKS5_VERSION || in[1] == 0)
        return OTB_BAD;
    if (len < 2 + (size_t)in[1])
        return OTB_NEED_MORE;
    *method = memchr(in + 2, wanted, in[1]) ? wanted : OTB_SOCKS5_NO_METHOD;
    *consumed = 2 + (size_t)in[1];
    return OTB_OK;
}

/* Constant time in the expected length: the comparison must not tell a
 * guesser how much of the secret it got right. */
static bool otb_socks5_equal(const uint8_t *got, size_t got_len, const char *want)
{
    size_t want_len = strlen(want);
    uint8_t a[255] = { 0 }, b[255] = { 0 };

    memcpy(a, got, got_len);
    memcpy(b, want, OTB_MIN(want_len, sizeof(b)));
    return (sodium_memcmp(a, b, sizeof(a)) == 0) & (got_len == want_len);
}

int otb_socks5_parse_auth(const uint8_t *in, size_t len, const char *user, const char *pass,
                          bool *ok, size_t *consumed)
{
    size_t ulen, plen;
    bool user_ok, pass_ok;

    if (len < 2)
        return len == 1 && in[0] != 1 ? OTB_BAD : OTB_NEED_MORE;
    if (in[0] != 1 || in[1] == 0)
        return OTB_BAD;
    ulen = in[1];
    if (len < 2 + ulen + 1)
        return OTB_NEED_MORE;
    plen = in[2 + ulen];
    if (len < 3 + ulen + plen)
        return OTB_NEED_MORE;
    /* Both are compared, whatever the first gives: a short-circuit would
     * tell a guesser whether the user name alone was right. */
    user_ok = otb_socks5_equal(in + 2, ulen, user);
    pass_ok = otb_socks5_equal(in + 3 + ulen, plen, pass);
    *ok = user_ok && pass_ok;
    *consumed = 3 + ulen + plen;
    return OTB_OK;
}

int otb_socks5_parse_request(const uint8_t *in, size_t len, struct otb_addr *dst, uint8_t *rep,
                             size_t *consumed)
{
    size_t used;
    int rc;

    if (len < 4)
        return len >= 1 && in[0] != OTB_SOCKS5_VERSION ? OTB_BAD : OTB_NEED_MORE;
    if (in[0] != OTB_SOCKS5_VERSION)
        return OTB_BAD;
    if (in[1] != 1) { /* only CONNECT: BIND and UDP ASSOCIATE are not offered */
        *rep = OTB_SOCKS5_CMD_UNSUPPORTED;
        *consumed = len;
        return OTB_OK;
    }
    if (in[3] != OTB_ATYP_IPV4 && in[3] != OTB_ATYP_IPV6 && in[3] != OTB_ATYP_DOMAIN) {
        *rep = OTB_SOCKS5_ATYP_UNSUPPORTED;
        *consumed = len;
        return OTB_OK;
    }
    rc = otb_addr_parse(in + 3, len - 3, dst, &used);
    if (rc != OTB_OK)
        return rc == OTB_NEED_MORE ? OTB_NEED_MORE : OTB_BAD;
    *rep = OTB_SOCKS5_OK;
    *consumed = 3 + used;
    return OTB_OK;
}

size_t otb_socks5_reply(uint8_t rep, uint8_t *out)
{
    static const uint8_t tail[] = { 0, OTB_ATYP_IPV4, 0, 0, 0, 0, 0, 0 };

    out[0] = OTB_SOCKS5_VERSION;
    out[1] = rep;
    memcpy(out + 2, tail, sizeof(tail));
    return OTB_SOCKS5_REPLY_LEN;
}
