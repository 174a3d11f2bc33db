/* SOCKS5 handshake of otb-redir: greeting, optional username/password, the
 * CONNECT request and the reply; then the socket joins the common relay. */
#include <string.h>

#include "otb_socks5.h"
#include "pending.h"

enum otb_socks5_step { OTB_S5_GREETING, OTB_S5_AUTH, OTB_S5_REQUEST };

/* Step results besides OTB_OK (go on), OTB_NEED_MORE and OTB_BAD (malformed:
 * refuse): the pending connection has been ended or handed over. */
#define OTB_S5_DONE 2

/* Replies are a few bytes on a fresh socket: a short write means the client is broken. */
static bool otb_socks5_send(struct otb_pending *p, const uint8_t *msg, size_t len)
{
    return send(p->fd, msg, len, MSG_NOSIGNAL) == (ssize_t)len;
}

static void otb_socks5_refuse(struct otb_pending *p, uint8_t rep, const char *why)
{
    uint8_t reply[OTB_SOCKS5_REPLY_LEN];

    p->redir->socks_refused++;
    OTB_DEBUG(&p->redir->log, "socks5: refused: %s", why);
    otb_socks5_send(p, reply, otb_socks5_reply(rep, reply));
    otb_pending_end(p, true);
}

static int otb_socks5_greeting(struct otb_pending *p, bool want_auth)
{
    uint8_t answer[2] = { OTB_SOCKS5_VERSION, 0 };
    size_t used;
    int rc = otb_socks5_parse_greeting(p->buf, p->len, want_auth, &answer[1], &used);

    if (rc != OTB_OK)
        return rc;
    if (!otb_socks5_send(p, answer, 2) || answer[1] == OTB_SOCKS5_NO_METHOD) {
        otb_pending_end(p, true);
        return OTB_S5_DONE;
    }
    otb_pending_consume(p, used);
    p->step = want_auth ? OTB_S5_AUTH : OTB_S5_REQUEST;
    return OTB_OK;
}

static int otb_socks5_auth(struct otb_pending *p)
{
    struct otb_redir *rd = p->redir;
    uint8_t answer[2] = { 1, 0 };
    bool ok = false;
    size_t used;
    int rc = otb_socks5_parse_auth(p->buf, p->len, rd->cfg.socks5_user, rd->cfg.socks5_password,
                                   &ok, &used);

    if (rc != OTB_OK)
        return rc;
    answer[1] = ok ? 0 : 1;
    if (!otb_socks5_send(p, answer, 2) || !ok) {
        rd->socks_refused += !ok;
        otb_pending_end(p, true);
        return OTB_S5_DONE;
    }
    otb_pending_consume(p, used);
    p->step = OTB_S5_REQUEST;
    return OTB_OK;
}

static int otb_socks5_request(struct otb_pending *p)
{
    uint8_t reply[OTB_SOCKS5_REPLY_LEN], rep;
    size_t used;
    int rc = otb_socks5_parse_request(p->buf, p->len, &p->dst, &rep, &used);

    if (rc != OTB_OK)
        return rc;
    if (rep != OTB_SOCKS5_OK) {
        otb_socks5_refuse(p, rep, "command or address type not supported");
        return OTB_S5_DONE;
    }
    otb_pending_consume(p, used);
    /* Success is answered before the upstream connects, as ss-local does:
     * the stream to the server carries the real outcome. */
    if (!otb_socks5_send(p, reply, otb_socks5_reply(OTB_SOCKS5_OK, reply))) {
        otb_pending_end(p, true);
        return OTB_S5_DONE;
    }
    otb_redir_dispatch(p, p->dst.atyp == OTB_ATYP_DOMAIN ? p->dst.u.host : NULL);
    return OTB_S5_DONE;
}

static void otb_socks5_input(struct otb_pending *p, bool timed_out)
{
    bool want_auth = p->redir->cfg.socks5_user[0] != '\0';
    int rc = OTB_OK;

    if (timed_out) {
        OTB_DEBUG(&p->redir->log, "socks5: handshake timed out or too long");
        otb_pending_end(p, true);
        return;
    }
    while (rc == OTB_OK) {
        if (p->step == OTB_S5_GREETING)
            rc = otb_socks5_greeting(p, want_auth);
        else if (p->step == OTB_S5_AUTH)
            rc = otb_socks5_auth(p);
        else
            rc = otb_socks5_request(p);
    }
    if (rc == OTB_BAD)
        otb_socks5_refuse(p, OTB_SOCKS5_FAILURE, "malformed message");
}

void otb_redir_socks5_accept(struct otb_listener *l, int fd, const struct sockaddr *peer,
                             socklen_t len)
{
    struct otb_redir *rd = l->arg;

    otb_pending_start(rd, fd, peer, rd->cfg.connect_timeout, otb_socks5_input);
}
