/* Voice duplication over two WANs: the server's view of a session's two
 * addresses, the client's choice to send a copy, and the local address a
 * reply came to (which WAN brought it). Pure, see otb_udp_dup.h. */
#include "otb_udp_dup.h"

#include <netinet/in.h>
#include <string.h>

socklen_t otb_udp_dup_sockaddr(const struct otb_udp_key *k, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof(*ss));
    if (k->family == AF_INET6) {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
        sin6->sin6_family = AF_INET6;
        memcpy(&sin6->sin6_addr, k->addr, 16);
        sin6->sin6_port = k->port;
        return sizeof(*sin6);
    }
    struct sockaddr_in *sin = (struct sockaddr_in *)ss;
    sin->sin_family = AF_INET;
    memcpy(&sin->sin_addr, k->addr, 4);
    sin->sin_port = k->port;
    return sizeof(*sin);
}

static bool otb_udp_dup_same(const struct otb_udp_key *a, const struct otb_udp_key *b)
{
    return memcmp(a, b, sizeof(*a)) == 0;
}

bool otb_udp_dup_fresh(struct otb_udp_dup *d, const struct otb_udp_key *cur,
                       const struct otb_udp_key *from, ev_tstamp now)
{
    ev_tstamp cur_heard = d->heard;

    d->heard = now;
    if (otb_udp_dup_same(cur, from))
        return false;
    /* A new latest address (the other WAN's, or one never seen): the
     * former latest one becomes the second, with its own last sign of life. */
    d->second = *cur;
    d->second_heard = cur_heard;
    d->credit = OTB_UDP_DUP_CREDIT_MAX;
    return true;
}

bool otb_udp_dup_window_seen(const struct otb_ss22_window *w, uint64_t pid)
{
    /* The window accepts nothing older than OTB_SS22_WINDOW behind its top:
     * within that, a refused ID is one it accepted before. */
    return pid < w->top && w->top - 1 - pid <= OTB_SS22_WINDOW;
}

static bool otb_udp_dup_live(const struct otb_udp_dup *d, ev_tstamp now)
{
    return d->second.family != 0 && now - d->second_heard <= OTB_UDP_DUP_HOLD;
}

static void otb_udp_dup_earn(struct otb_udp_dup *d, ev_tstamp now)
{
    d->second_heard = now;
    d->credit = d->credit + OTB_UDP_DUP_CREDIT_PER_COPY > OTB_UDP_DUP_CREDIT_MAX
                    ? OTB_UDP_DUP_CREDIT_MAX
                    : (uint16_t)(d->credit + OTB_UDP_DUP_CREDIT_PER_COPY);
}

bool otb_udp_dup_copy(struct otb_udp_dup *d, const struct otb_ss22_window *w, uint64_t pid,
                      const struct otb_udp_key *cur, const struct otb_udp_key *from,
                      ev_tstamp now)
{
    bool live = otb_udp_dup_live(d, now);

    if (!otb_udp_dup_window_seen(w, pid))
        return false;
    if (otb_udp_dup_same(cur, from)) {
        /* The latest address itself: a copy only if the box uses two
         * (the copy overtook the original); otherwise a replay. */
        if (live)
            d->heard = now;
        return live;
    }
    if (live && !otb_udp_dup_same(&d->second, from))
        return false; /* a third address: the second stays the box's */
    if (!live) {
        d->second = *from;
        d->credit = 0;
    }
    otb_udp_dup_earn(d, now);
    return true;
}

bool otb_udp_dup_take(struct otb_udp_dup *d, ev_tstamp now)
{
    if (!otb_udp_dup_live(d, now) || d->credit == 0)
        return false;
    d->credit--;
    return true;
}

bool otb_udp_dup_eligible(bool enabled, bool is_2022, bool voice, int wan)
{
    return enabled && is_2022 && voice && wan >= 0;
}

bool otb_udp_dup_second_ok(int wan, int second, bool second_down)
{
    return second >= 0 && second != wan && !second_down;
}

bool otb_udp_dup_recv_local(struct msghdr *msg, struct sockaddr_storage *local)
{
    for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c; c = CMSG_NXTHDR(msg, c)) {
        memset(local, 0, sizeof(*local));
        if (c->cmsg_level == SOL_IP && c->cmsg_type == IP_PKTINFO &&
            c->cmsg_len >= CMSG_LEN(sizeof(struct in_pktinfo))) {
            struct in_pktinfo pi;
            memcpy(&pi, CMSG_DATA(c), sizeof(pi));
            ((struct sockaddr_in *)local)->sin_family = AF_INET;
            ((struct sockaddr_in *)local)->sin_addr = pi.ipi_addr;
            return true;
        }
        if (c->cmsg_level == SOL_IPV6 && c->cmsg_type == IPV6_PKTINFO &&
            c->cmsg_len >= CMSG_LEN(sizeof(struct in6_pktinfo))) {
            struct in6_pktinfo pi;
            memcpy(&pi, CMSG_DATA(c), sizeof(pi));
            ((struct sockaddr_in6 *)local)->sin6_family = AF_INET6;
            ((struct sockaddr_in6 *)local)->sin6_addr = pi.ipi6_addr;
            return true;
        }
    }
    return false;
}
