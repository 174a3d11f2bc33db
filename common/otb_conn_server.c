/* Server side of a TCP connection: a box's stream starts with the salt and
 * the address header; a replayed salt or a bad header gets no answer (the
 * connection drains until its timeout); the destination is resolved and
 * checked against the egress policy, then connected from the egress's
 * source address. otb_conn_begin_target also serves the box's direct
 * connections, which reach their destination the same way. */
#include "otb_conn.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

static void otb_conn_close_failed(struct otb_conn *c, const char *why)
{
    otb_conn_close(c, why);
}

static void otb_conn_nothing(struct otb_conn *c)
{
    (void)c;
}

/* ------------------------------------------------------------ draining */

/* A peer that fails authentication gets no answer and no early close: it
 * cannot tell this server from any other silent service. */
void otb_conn_drain(struct otb_conn *c, const char *why, uint64_t *counter)
{
    struct otb_relay *r = c->relay;

    (*counter)++;
    OTB_DEBUG(r->log, "[#%llu] %s: draining until timeout", (unsigned long long)c->id, why);
    c->state = OTB_CONN_DRAINING;
    ev_io_stop(r->loop, &c->seal.rio);
    ev_io_stop(r->loop, &c->seal.wio);
    ev_io_stop(r->loop, &c->open.wio);
    otb_pipe_release(r, &c->open.in);
    otb_pipe_release(r, &c->open.out);
    if (!ev_is_active(&c->open.rio))
        ev_io_start(r->loop, &c->open.rio);
}

void otb_conn_drain_read(struct otb_conn *c)
{
    struct otb_relay *r = c->relay;
    ssize_t n;

    do {
        n = recv(c->cipher_fd, r->scratch, OTB_BUF_SIZE, 0);
    } while (n > 0);
    if (n == 0)
        otb_conn_close(c, "peer closed while draining");
    else if (errno != EAGAIN && errno != EINTR)
        otb_conn_close(c, "read error while draining");
}

/* -------------------------------------------------------------- header */

/* SIP004 salts go through the program's filter (hashes, a window counted in
 * salts); a 2022 request salt, whose timestamp the codec has checked, into
 * the relay's pool of exact salts kept OTB_SS22_SALT_TTL seconds, as the
 * 2022 spec requires. A salt the pool cannot keep is refused too. */
static bool otb_conn_salt_replayed(struct otb_conn *c, const uint8_t *salt, size_t len)
{
    struct otb_relay *r = c->relay;

    if (otb_method_is_2022(c->key->master.method))
        return otb_saltpool_check_add(&r->salts2022, salt, len, ev_now(r->loop)) != 0;
    return r->replay && otb_replay_check_add(r->replay, salt, len);
}

/* Server, HEADER state: check the salt once, then wait for a whole address header. */
void otb_conn_header_progress(struct otb_conn *c)
{
    struct otb_relay *r = c->relay;
    struct otb_buf *out = c->open.out;
    const uint8_t *salt;
    size_t used, salt_len;
    int rc;

    if (!c->salt_checked && (salt = c->codec->request_salt(c, &salt_len))) {
        c->salt_checked = true;
        if (otb_conn_salt_replayed(c, salt, salt_len)) {
            otb_conn_drain(c, "replayed salt", &r->stats.replay);
            return;
        }
        otb_conn_preauth_leave(c);
        otb_relay_check_cap(r);
    }
    if (!out)
        return;
    rc = otb_addr_parse(out->data + out->start, out->end - out->start, &c->target, &used);
    if (rc == OTB_BAD || (rc == OTB_NEED_MORE && out->end - out->start >= OTB_ADDR_MAX_LEN)) {
        otb_conn_drain(c, "bad address header", &r->stats.bad_header);
        return;
    }
    if (rc == OTB_NEED_MORE)
        return;
    out->start += (uint32_t)used;
    if (out->start == out->end)
        otb_pipe_release(r, &c->open.out);
    ev_io_stop(r->loop, &c->open.rio); /* the rest waits for the destination */
    otb_conn_mark_class(c, c->cipher_fd);
    otb_conn_begin_target(c);
}

/* ------------------------------------------------------------- reaching */

/* Server: connect to one resolved, permitted destination. */
static void otb_conn_connect_target(struct otb_conn *c, const struct sockaddr *dst)
{
    struct otb_relay *r = c->relay;
    struct sockaddr_storage real;
    /* A mapped IPv4 destination leaves from the IPv4 socket and source (-b). */
    const struct sockaddr *sa = otb_egress_unmap(dst, &real);
    const struct sockaddr *bind_sa;
    socklen_t bind_len;
    bool fell_back = false;
    int fd;

    if (!otb_egress_permits_addr(r->egress, sa)) {
        char where[OTB_ADDR_FMT_LEN];
        r->stats.acl_refused++;
        otb_sockaddr_format(sa, where, sizeof(where));
        OTB_INFO(r->log, "[#%llu] destination %s refused by the outbound block list",
                 (unsigned long long)c->id, where);
        otb_conn_close(c, "destination refused");
        return;
    }
    bind_sa = otb_egress_bind(r->egress, sa->sa_family, &bind_len);
    fd = otb_sock_outbound(sa->sa_family, &r->egress->opts, bind_sa, bind_len, &fell_back);
    if (fd < 0) {
        r->stats.errors++;
        OTB_WARN(r->log, "[#%llu] outbound socket: %s", (unsigned long long)c->id,
                 strerror(-fd));
        otb_conn_close(c, "outbound socket failed");
        return;
    }
    c->plain_fd = fd;
    otb_conn_connect(c, fd, sa);
}

static void otb_conn_resolved(void *arg, int status, const struct sockaddr_storage *addrs,
                              size_t n)
{
    struct otb_conn *c = arg;
    struct otb_relay *r = c->relay;
    const struct sockaddr *to;

    c->dns = NULL;
    if (status != 0) {
        r->stats.dns_fail++;
        OTB_DEBUG(r->log, "[#%llu] resolve failed: %s", (unsigned long long)c->id,
                  strerror(-status));
        otb_conn_close(c, "resolve failed");
        return;
    }
    /* No permitted address: the first one, refused (and logged) as such. */
    to = c->side->policed ? otb_egress_first_permitted(r->egress, addrs, n) : NULL;
    c->side->reach(c, to ? to : (const struct sockaddr *)&addrs[0]);
}

void otb_conn_begin_target(struct otb_conn *c)
{
    struct otb_relay *r = c->relay;
    struct sockaddr_storage ss;
    socklen_t len;

    if (otb_addr_to_sockaddr(&c->target, &ss, &len) == 0) {
        c->side->reach(c, (const struct sockaddr *)&ss);
        return;
    }
    if (c->side->policed && !otb_egress_permits_host(r->egress, c->target.u.host)) {
        r->stats.acl_refused++;
        otb_conn_close(c, "destination name refused by the ACL");
        return;
    }
    c->state = OTB_CONN_RESOLVING;
    c->dns = otb_dns_resolve(r->egress->dns, c->target.u.host, c->target.port, otb_conn_resolved,
                             c);
    if (!c->dns) {
        otb_conn_close(c, "out of memory");
        return;
    }
    otb_conn_arm_timer(c, r->connect_timeout);
}

const struct otb_conn_side otb_conn_side_server = {
    .failed = otb_conn_close_failed,
    .connected = otb_conn_nothing,
    .reach = otb_conn_connect_target,
    .policed = true,
};

/* ------------------------------------------------------ pre-authentication */

int otb_relay_set_preauth(struct otb_relay *r, ev_tstamp timeout, size_t per_source)
{
    r->preauth_timeout = timeout;
    r->max_preauth_per_source = per_source;
    otb_srccount_free(&r->sources);
    /* At most one unauthenticated connection per slot of the cap. */
    return otb_srccount_init(&r->sources, r->max_conns ? r->max_conns : 1024);
}

/* Whether peer's source may open one more unauthenticated connection;
 * if not, counted (refused). */
static bool otb_relay_preauth_admits(struct otb_relay *r, const struct otb_src *src)
{
    uint32_t n;

    if (!r->sources.slots)
        return true;
    n = otb_srccount_get(&r->sources, src);
    if ((r->max_preauth_per_source && n >= r->max_preauth_per_source) ||
        (n == 0 && r->sources.used >= r->sources.limit)) {
        r->stats.preauth_source_cap++;
        return false;
    }
    return true;
}

/* A new connection joins the newest end of the list (admitted above). */
static void otb_conn_preauth_join(struct otb_conn *c, const struct otb_src *src)
{
    struct otb_relay *r = c->relay;

    c->src = *src;
    if (r->sources.slots)
        otb_srccount_add(&r->sources, src);
    c->preauth = true;
    c->accepted = ev_now(r->loop);
    c->pprev = r->preauth_newest;
    if (r->preauth_newest)
        r->preauth_newest->pnext = c;
    else
        r->preauth_oldest = c;
    r->preauth_newest = c;
}

void otb_conn_preauth_leave(struct otb_conn *c)
{
    struct otb_relay *r = c->relay;

    if (!c->preauth)
        return;
    c->preauth = false;
    if (c->pprev)
        c->pprev->pnext = c->pnext;
    else
        r->preauth_oldest = c->pnext;
    if (c->pnext)
        c->pnext->pprev = c->pprev;
    else
        r->preauth_newest = c->pprev;
    c->pprev = c->pnext = NULL;
    if (r->sources.slots)
        otb_srccount_del(&r->sources, &c->src);
}

/* ---------------------------------------------------------------- accept */

void otb_relay_accept_cipher(struct otb_relay *r, int fd, const struct sockaddr *peer)
{
    otb_relay_accept_cipher_key(r, r->key, fd, peer);
}

void otb_relay_accept_cipher_key(struct otb_relay *r, struct otb_relay_key *key, int fd,
                                 const struct sockaddr *peer)
{
    struct otb_conn *c;
    struct otb_src src;

    otb_src_from_sockaddr(&src, peer);
    if (!otb_relay_preauth_admits(r, &src)) {
        close(fd);
        return;
    }
    /* At the cap, a new connection takes the place of the oldest one that
     * has not authenticated: holding slots without the key locks nobody out. */
    if (r->max_conns && r->nconns >= r->max_conns && r->preauth_oldest) {
        r->stats.preauth_evicted++;
        otb_conn_close(r->preauth_oldest, "connection limit: oldest unauthenticated closed");
    }
    c = otb_conn_new(r, key, otb_codec_for(&key->master), &otb_conn_side_server);
    if (!c) {
        close(fd);
        return;
    }
    otb_conn_preauth_join(c, &src);
    if (otb_log_enabled(r->log, OTB_LOG_DEBUG)) {
        char from[OTB_ADDR_FMT_LEN];
        otb_sockaddr_format(peer, from, sizeof(from));
        OTB_DEBUG(r->log, "[#%llu] accepted from %s", (unsigned long long)c->id, from);
    }
    c->state = OTB_CONN_HEADER;
    c->cipher_fd = fd;
    c->cipher_mptcp = true; /* cheap to ask; plain TCP clients just report no subflows */
    c->outbound = &c->open;
    ev_io_set(&c->open.rio, fd, EV_READ);
    ev_io_start(r->loop, &c->open.rio);
    /* The first chunk must authenticate before the fixed pre-authentication
     * deadline (and the idle timeout, if shorter). */
    otb_conn_arm_timer(c, r->preauth_timeout > 0 ? OTB_MIN(r->preauth_timeout, r->idle_timeout)
                                                 : r->idle_timeout);
}
