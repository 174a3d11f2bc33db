#include "otb_netlink.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <linux/genetlink.h>
#include <linux/mptcp.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

/* Longest multipath route whose nexthops are all kept (a WAN list is short). */
#define OTB_NL_MAX_NEXTHOPS 32

/* Every read of a received buffer goes through memcpy: the buffers come from
 * recv() or a fuzzer, at any alignment. */
static uint16_t otb_nl_u16(const uint8_t *p)
{
    uint16_t v;
    memcpy(&v, p, sizeof(v));
    return v;
}

static uint32_t otb_nl_u32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof(v));
    return v;
}

/* ---- Attributes ---- */

struct otb_nl_attr {
    uint16_t type; /* without NLA_F_NESTED / NLA_F_NET_BYTEORDER */
    const uint8_t *data;
    size_t len;
};

/* Next attribute of p[0..len) at *off: 1 and *a, 0 at the end, -1 when an
 * attribute's length is below its header or past the end. Fewer trailing
 * bytes than a header are ignored, as the kernel's nla_ok() does. */
static int otb_nl_attr_next(const uint8_t *p, size_t len, size_t *off, struct otb_nl_attr *a)
{
    size_t rest = len - *off, alen;

    if (rest < NLA_HDRLEN)
        return 0;
    alen = otb_nl_u16(p + *off);
    if (alen < NLA_HDRLEN || alen > rest)
        return -1;
    a->type = otb_nl_u16(p + *off + 2) & NLA_TYPE_MASK;
    a->data = p + *off + NLA_HDRLEN;
    a->len = alen - NLA_HDRLEN;
    *off += NLA_ALIGN(alen) < rest ? NLA_ALIGN(alen) : rest;
    return 1;
}

/* Checks a netlink message header against the bytes available and returns
 * the message's own length, or 0 when it is malformed. */
static size_t otb_nl_msg_len(const void *msg, size_t len, struct nlmsghdr *h)
{
    if (!msg || len < NLMSG_HDRLEN)
        return 0;
    memcpy(h, msg, sizeof(*h));
    if (h->nlmsg_len < NLMSG_HDRLEN || h->nlmsg_len > len)
        return 0;
    return h->nlmsg_len;
}

/* ---- Requests ---- */

struct otb_nl_out {
    uint8_t *buf;
    size_t cap, len;
    bool full;
};

static void otb_nl_put(struct otb_nl_out *o, const void *data, size_t len)
{
    size_t padded = NLA_ALIGN(len);

    if (o->full || padded > o->cap - o->len) {
        o->full = true;
        return;
    }
    if (len)
        memcpy(o->buf + o->len, data, len);
    memset(o->buf + o->len + len, 0, padded - len);
    o->len += padded;
}

static void otb_nl_put_attr(struct otb_nl_out *o, uint16_t type, const void *data, size_t len)
{
    struct nlattr a = { .nla_len = (uint16_t)(NLA_HDRLEN + len), .nla_type = type };

    otb_nl_put(o, &a, sizeof(a));
    otb_nl_put(o, data, len);
}

/* Starts a message: netlink header (length fixed by otb_nl_finish), then
 * the family header of hlen bytes. */
static void otb_nl_begin(struct otb_nl_out *o, void *buf, size_t cap, uint16_t type,
                         uint16_t flags, uint32_t seq, const void *fam, size_t hlen)
{
    struct nlmsghdr h = { .nlmsg_type = type, .nlmsg_flags = flags, .nlmsg_seq = seq };

    o->buf = buf;
    o->cap = buf ? cap : 0;
    o->len = 0;
    o->full = false;
    otb_nl_put(o, &h, sizeof(h));
    otb_nl_put(o, fam, hlen);
}

static size_t otb_nl_finish(struct otb_nl_out *o)
{
    uint32_t len = (uint32_t)o->len;

    if (o->full)
        return 0;
    memcpy(o->buf, &len, sizeof(len)); /* nlmsg_len comes first */
    return o->len;
}

size_t otb_nl_build_route_dump(void *buf, size_t cap, int family, uint32_t seq)
{
    struct rtmsg rtm = { .rtm_family = (unsigned char)family };
    struct otb_nl_out o;

    otb_nl_begin(&o, buf, cap, RTM_GETROUTE, NLM_F_REQUEST | NLM_F_DUMP, seq, &rtm, sizeof(rtm));
    return otb_nl_finish(&o);
}

size_t otb_nl_build_family_query(void *buf, size_t cap, const char *name, uint32_t seq)
{
    struct genlmsghdr g = { .cmd = CTRL_CMD_GETFAMILY, .version = 1 };
    struct otb_nl_out o;

    otb_nl_begin(&o, buf, cap, GENL_ID_CTRL, NLM_F_REQUEST | NLM_F_ACK, seq, &g, sizeof(g));
    otb_nl_put_attr(&o, CTRL_ATTR_FAMILY_NAME, name, strlen(name) + 1);
    return otb_nl_finish(&o);
}

size_t otb_nl_build_endpoint_dump(void *buf, size_t cap, uint16_t genl_id, uint32_t seq)
{
    struct genlmsghdr g = { .cmd = MPTCP_PM_CMD_GET_ADDR, .version = MPTCP_PM_VER };
    struct otb_nl_out o;

    otb_nl_begin(&o, buf, cap, genl_id, NLM_F_REQUEST | NLM_F_DUMP, seq, &g, sizeof(g));
    return otb_nl_finish(&o);
}

size_t otb_nl_build_set_flags(void *buf, size_t cap, uint16_t genl_id, uint32_t seq, uint8_t id,
                              uint32_t flags)
{
    struct genlmsghdr g = { .cmd = MPTCP_PM_CMD_SET_FLAGS, .version = MPTCP_PM_VER };
    struct otb_nl_out o;
    size_t nest;
    uint16_t nest_len;

    otb_nl_begin(&o, buf, cap, genl_id, NLM_F_REQUEST | NLM_F_ACK, seq, &g, sizeof(g));
    nest = o.len;
    otb_nl_put_attr(&o, NLA_F_NESTED | MPTCP_PM_ATTR_ADDR, NULL, 0);
    /* No family: the kernel then looks the endpoint up by id alone. */
    otb_nl_put_attr(&o, MPTCP_PM_ADDR_ATTR_ID, &id, sizeof(id));
    otb_nl_put_attr(&o, MPTCP_PM_ADDR_ATTR_FLAGS, &flags, sizeof(flags));
    if (o.full)
        return 0;
    nest_len = (uint16_t)(o.len - nest);
    memcpy(o.buf + nest, &nest_len, sizeof(nest_len));
    return otb_nl_finish(&o);
}

size_t otb_nl_build_link_get(void *buf, size_t cap, uint32_t seq, int ifindex)
{
    struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC, .ifi_index = ifindex };
    struct otb_nl_out o;

    otb_nl_begin(&o, buf, cap, RTM_GETLINK, NLM_F_REQUEST | NLM_F_ACK, seq, &ifi, sizeof(ifi));
    return otb_nl_finish(&o);
}

size_t otb_nl_build_link_gso_segs(void *buf, size_t cap, uint32_t seq, int ifindex,
                                  uint32_t segs)
{
    struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC, .ifi_index = ifindex };
    struct otb_nl_out o;

    otb_nl_begin(&o, buf, cap, RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK, seq, &ifi, sizeof(ifi));
    otb_nl_put_attr(&o, IFLA_GSO_MAX_SEGS, &segs, sizeof(segs));
    return otb_nl_finish(&o);
}

/* ---- Reply walking ---- */

bool otb_nl_addr_event(const void *buf, size_t len)
{
    const uint8_t *p = buf;
    size_t off = 0;

    while (len - off >= NLMSG_HDRLEN) {
        struct nlmsghdr h;
        size_t mlen = otb_nl_msg_len(p + off, len - off, &h);

        if (mlen == 0)
            return false;
        if (h.nlmsg_type == RTM_NEWADDR || h.nlmsg_type == RTM_DELADDR)
            return true;
        off += NLMSG_ALIGN(mlen);
        if (off > len)
            break;
    }
    return false;
}

int otb_nl_walk(const void *buf, size_t len, uint32_t seq, otb_nl_msg_cb cb, void *ctx)
{
    const uint8_t *p = buf;
    size_t off = 0;

    while (len - off >= NLMSG_HDRLEN) {
        struct nlmsghdr h;
        size_t mlen = otb_nl_msg_len(p + off, len - off, &h), plen;
        int32_t err = 0;

        if (mlen == 0)
            return -EBADMSG;
        plen = mlen - NLMSG_HDRLEN;
        if (h.nlmsg_seq == seq) {
            switch (h.nlmsg_type) {
            case NLMSG_NOOP:
                break;
            case NLMSG_ERROR:
                if (plen < sizeof(err))
                    return -EBADMSG;
                memcpy(&err, p + off + NLMSG_HDRLEN, sizeof(err));
                return err <= 0 ? err : -EBADMSG;
            case NLMSG_DONE:
                /* A dump's error, if any, rides on its end marker. */
                if (plen >= sizeof(err))
                    memcpy(&err, p + off + NLMSG_HDRLEN, sizeof(err));
                return err < 0 ? err : 0;
            case NLMSG_OVERRUN:
                return -ENOBUFS;
            default:
                /* The table changed while it was dumped: the caller retries. */
                if (h.nlmsg_flags & NLM_F_DUMP_INTR)
                    return -EINTR;
                if (cb) {
                    int rc = cb(p + off, mlen, ctx);
                    if (rc < 0)
                        return rc;
                }
                break;
            }
        }
        off += NLMSG_ALIGN(mlen) < len - off ? NLMSG_ALIGN(mlen) : len - off;
    }
    return off == len ? OTB_NL_WALK_MORE : -EBADMSG;
}

/* ---- Routes ---- */

static bool otb_nl_set_addr(struct sockaddr_storage *ss, int family, const uint8_t *p, size_t len)
{
    memset(ss, 0, sizeof(*ss));
    if (family == AF_INET && len == sizeof(struct in_addr)) {
        struct sockaddr_in *sin = (struct sockaddr_in *)ss;
        sin->sin_family = AF_INET;
        memcpy(&sin->sin_addr, p, len);
        return true;
    }
    if (family == AF_INET6 && len == sizeof(struct in6_addr)) {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
        sin6->sin6_family = AF_INET6;
        memcpy(&sin6->sin6_addr, p, len);
        return true;
    }
    return false;
}

/* RTA_VIA: an address family (u16) then the address, e.g. an IPv6 gateway
 * of an IPv4 route. */
static bool otb_nl_set_via(struct sockaddr_storage *ss, const struct otb_nl_attr *a)
{
    if (a->len < sizeof(uint16_t))
        return false;
    return otb_nl_set_addr(ss, otb_nl_u16(a->data), a->data + sizeof(uint16_t),
                           a->len - sizeof(uint16_t));
}

/* The gateway attributes of a route or of one of its nexthops. */
static int otb_nl_gateway_attr(const struct otb_nl_attr *a, int family,
                               struct sockaddr_storage *gw)
{
    if (a->type == RTA_GATEWAY)
        return otb_nl_set_addr(gw, family, a->data, a->len) ? 0 : -1;
    if (a->type == RTA_VIA)
        return otb_nl_set_via(gw, a) ? 0 : -1;
    return 0;
}

/* Walks RTA_MULTIPATH: one rtnexthop with its own attributes per nexthop.
 * Writes up to cap entries derived from base; returns the nexthop count or
 * -1 when the list is malformed. */
static int otb_nl_parse_multipath(const struct otb_nl_attr *mp, const struct otb_nl_route *base,
                                  struct otb_nl_route *out, size_t cap)
{
    size_t off = 0;
    int n = 0;

    while (off < mp->len) {
        struct rtnexthop nh;
        struct otb_nl_route r = *base;
        size_t rest = mp->len - off, aoff = 0;
        struct otb_nl_attr a;
        int rc;

        if (rest < sizeof(nh))
            return -1;
        memcpy(&nh, mp->data + off, sizeof(nh));
        if (nh.rtnh_len < sizeof(nh) || nh.rtnh_len > rest)
            return -1;
        r.ifindex = nh.rtnh_ifindex;
        r.nh_flags = nh.rtnh_flags;
        memset(&r.gw, 0, sizeof(r.gw));
        {
            const uint8_t *attrs = mp->data + off + sizeof(nh);
            size_t alen = (size_t)nh.rtnh_len - sizeof(nh);
            while ((rc = otb_nl_attr_next(attrs, alen, &aoff, &a)) > 0)
                if (otb_nl_gateway_attr(&a, base->family, &r.gw) < 0)
                    return -1;
            if (rc < 0)
                return -1;
        }
        if ((size_t)n < cap)
            out[n] = r;
        if (n == INT32_MAX)
            return -1;
        n++;
        off += (size_t)RTNH_ALIGN(nh.rtnh_len) < rest ? (size_t)RTNH_ALIGN(nh.rtnh_len) : rest;
    }
    return n;
}

/* Whether msg is a message of type with a family header of fam_len bytes: 1 and its length
 * in *mlen, 0 when it is another type, -1 when malformed or too short for the header. */
static int otb_nl_msg_of_type(const void *msg, size_t len, uint16_t type, size_t fam_len,
                              size_t *mlen)
{
    struct nlmsghdr h;

    *mlen = otb_nl_msg_len(msg, len, &h);
    if (*mlen == 0)
        return -1;
    if (h.nlmsg_type != type)
        return 0;
    return *mlen < NLMSG_HDRLEN + NLMSG_ALIGN(fam_len) ? -1 : 1;
}

int otb_nl_parse_route(const void *msg, size_t len, struct otb_nl_route *out, size_t cap)
{
    const size_t hdr = NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(struct rtmsg));
    struct rtmsg rtm;
    struct otb_nl_route base;
    struct otb_nl_attr a, mp = { 0 };
    const uint8_t *p = msg;
    size_t mlen, off = hdr;
    uint32_t table;
    bool multipath = false;
    int rc = otb_nl_msg_of_type(msg, len, RTM_NEWROUTE, sizeof(rtm), &mlen);

    if (rc <= 0)
        return rc;
    memcpy(&rtm, p + NLMSG_HDRLEN, sizeof(rtm));
    if (rtm.rtm_family != AF_INET && rtm.rtm_family != AF_INET6)
        return 0;
    memset(&base, 0, sizeof(base));
    base.family = rtm.rtm_family;
    base.nh_flags = rtm.rtm_flags & 0xff; /* RTNH_F_* of a single nexthop */
    table = rtm.rtm_table;
    while ((rc = otb_nl_attr_next(p, mlen, &off, &a)) > 0) {
        switch (a.type) {
        case RTA_TABLE:
        case RTA_OIF:
        case RTA_PRIORITY:
            if (a.len != sizeof(uint32_t))
                return -1;
            if (a.type == RTA_TABLE)
                table = otb_nl_u32(a.data);
            else if (a.type == RTA_OIF)
                base.ifindex = (int)otb_nl_u32(a.data);
            else
                base.metric = otb_nl_u32(a.data);
            break;
        case RTA_MULTIPATH:
            mp = a;
            multipath = true;
            break;
        default:
            if (otb_nl_gateway_attr(&a, base.family, &base.gw) < 0)
                return -1;
            break;
        }
    }
    if (rc < 0)
        return -1;
    if (multipath) {
        /* Checked whatever the route, so the answer never depends on it. */
        rc = otb_nl_parse_multipath(&mp, &base, NULL, 0);
        if (rc < 0)
            return -1;
    }
    if (rtm.rtm_dst_len != 0 || table != RT_TABLE_MAIN || rtm.rtm_type != RTN_UNICAST ||
        (rtm.rtm_flags & RTM_F_CLONED))
        return 0;
    if (multipath)
        return otb_nl_parse_multipath(&mp, &base, out, cap);
    if (cap > 0)
        out[0] = base;
    return 1;
}

size_t otb_nl_route_insert(struct otb_nl_route *out, size_t n, size_t cap,
                           const struct otb_nl_route *r)
{
    size_t i = n;

    /* After every entry that sorts before r or equal to it. */
    while (i > 0 && (out[i - 1].family > r->family ||
                     (out[i - 1].family == r->family && out[i - 1].metric > r->metric)))
        i--;
    if (i >= cap)
        return n;
    if (n == cap)
        n--; /* the last one falls off */
    memmove(out + i + 1, out + i, (n - i) * sizeof(*out));
    out[i] = *r;
    return n + 1;
}

/* ---- Generic netlink ---- */

/* Start of a generic netlink message's attributes, or 0 when too short. */
static size_t otb_nl_genl_attrs(size_t mlen)
{
    const size_t hdr = NLMSG_HDRLEN + GENL_HDRLEN;
    return mlen >= hdr ? hdr : 0;
}

/* The value of the last attribute type among msg[off..mlen), which must be want_len bytes
 * long: 1 and *data, 0 when there is none, -1 when the attributes are malformed or that one
 * has another length. */
static int otb_nl_find_attr(const uint8_t *msg, size_t mlen, size_t off, uint16_t type,
                            size_t want_len, const uint8_t **data)
{
    struct otb_nl_attr a;
    bool found = false;
    int rc;

    while ((rc = otb_nl_attr_next(msg, mlen, &off, &a)) > 0) {
        if (a.type != type)
            continue;
        if (a.len != want_len)
            return -1;
        *data = a.data;
        found = true;
    }
    if (rc < 0)
        return -1;
    return found ? 1 : 0;
}

int otb_nl_parse_family_id(const void *msg, size_t len, uint16_t *id)
{
    size_t mlen;
    const uint8_t *data;
    int rc = otb_nl_msg_of_type(msg, len, GENL_ID_CTRL, GENL_HDRLEN, &mlen);

    if (rc <= 0)
        return rc;
    rc = otb_nl_find_attr(msg, mlen, NLMSG_HDRLEN + GENL_HDRLEN, CTRL_ATTR_FAMILY_ID,
                          sizeof(uint16_t), &data);
    if (rc == 1)
        *id = otb_nl_u16(data);
    return rc;
}

int otb_nl_parse_link_segs(const void *msg, size_t len, uint32_t *gso, uint32_t *tso)
{
    size_t mlen, off = NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(struct ifinfomsg));
    const uint8_t *data;
    int rc = otb_nl_msg_of_type(msg, len, RTM_NEWLINK, sizeof(struct ifinfomsg), &mlen);

    if (rc <= 0)
        return rc;
    rc = otb_nl_find_attr(msg, mlen, off, IFLA_TSO_MAX_SEGS, sizeof(uint32_t), &data);
    if (rc < 0)
        return -1;
    *tso = rc == 1 ? otb_nl_u32(data) : 0;
    rc = otb_nl_find_attr(msg, mlen, off, IFLA_GSO_MAX_SEGS, sizeof(uint32_t), &data);
    if (rc == 1)
        *gso = otb_nl_u32(data);
    return rc;
}

/* The attributes nested in MPTCP_PM_ATTR_ADDR. */
static int otb_nl_parse_endpoint_addr(const struct otb_nl_attr *nest, struct otb_nl_endpoint *ep)
{
    const uint8_t *a4 = NULL, *a6 = NULL;
    struct otb_nl_attr a;
    size_t off = 0;
    int family = -1, have_id = 0, rc;
    uint16_t port = 0;

    memset(ep, 0, sizeof(*ep));
    while ((rc = otb_nl_attr_next(nest->data, nest->len, &off, &a)) > 0) {
        switch (a.type) {
        case MPTCP_PM_ADDR_ATTR_FAMILY:
            if (a.len != sizeof(uint16_t))
                return -1;
            family = otb_nl_u16(a.data);
            break;
        case MPTCP_PM_ADDR_ATTR_ID:
            if (a.len != sizeof(uint8_t))
                return -1;
            ep->id = a.data[0];
            have_id = 1;
            break;
        case MPTCP_PM_ADDR_ATTR_ADDR4:
            if (a.len != sizeof(struct in_addr))
                return -1;
            a4 = a.data;
            break;
        case MPTCP_PM_ADDR_ATTR_ADDR6:
            if (a.len != sizeof(struct in6_addr))
                return -1;
            a6 = a.data;
            break;
        case MPTCP_PM_ADDR_ATTR_PORT:
            if (a.len != sizeof(uint16_t))
                return -1;
            port = otb_nl_u16(a.data); /* host order on this wire */
            break;
        case MPTCP_PM_ADDR_ATTR_FLAGS:
            if (a.len != sizeof(uint32_t))
                return -1;
            ep->flags = otb_nl_u32(a.data);
            break;
        case MPTCP_PM_ADDR_ATTR_IF_IDX:
            if (a.len != sizeof(int32_t))
                return -1;
            ep->ifindex = (int)otb_nl_u32(a.data);
            break;
        default:
            break;
        }
    }
    if (rc < 0 || !have_id)
        return -1;
    if (family == AF_INET && a4)
        otb_nl_set_addr(&ep->addr, AF_INET, a4, sizeof(struct in_addr));
    else if (family == AF_INET6 && a6)
        otb_nl_set_addr(&ep->addr, AF_INET6, a6, sizeof(struct in6_addr));
    else
        return -1;
    if (family == AF_INET)
        ((struct sockaddr_in *)&ep->addr)->sin_port = htons(port);
    else
        ((struct sockaddr_in6 *)&ep->addr)->sin6_port = htons(port);
    return 1;
}

int otb_nl_parse_endpoint(const void *msg, size_t len, struct otb_nl_endpoint *out)
{
    struct nlmsghdr h;
    struct otb_nl_attr a, nest = { 0 };
    size_t mlen = otb_nl_msg_len(msg, len, &h), off;
    bool found = false;
    int rc;

    if (mlen == 0)
        return -1;
    if (h.nlmsg_type < NLMSG_MIN_TYPE || h.nlmsg_type == GENL_ID_CTRL)
        return 0;
    off = otb_nl_genl_attrs(mlen);
    if (off == 0)
        return -1;
    while ((rc = otb_nl_attr_next(msg, mlen, &off, &a)) > 0) {
        if (a.type == MPTCP_PM_ATTR_ADDR) {
            nest = a;
            found = true;
        }
    }
    if (rc < 0)
        return -1;
    if (!found)
        return 0;
    return otb_nl_parse_endpoint_addr(&nest, out);
}

/* ---- Sockets ---- */

static int64_t otb_nl_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int otb_nl_open(int protocol)
{
    struct sockaddr_nl local = { .nl_family = AF_NETLINK };
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, protocol);
    int one = 1;

    if (fd < 0)
        return -errno;
    /* Errors need not echo the whole request back. */
    (void)setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&local, sizeof(local)) < 0) {
        int err = -errno;
        close(fd);
        return err;
    }
    return fd;
}

/* Sends req and feeds the replies to cb until the kernel ends them, an error,
 * or the deadline (CLOCK_MONOTONIC ms): -ETIMEDOUT. */
static int otb_nl_transact(int fd, const void *req, size_t len, uint32_t seq, int64_t deadline,
                           otb_nl_msg_cb cb, void *ctx)
{
    struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
    uint8_t buf[OTB_NL_BUF_SIZE] __attribute__((aligned(NLMSG_ALIGNTO)));

    if (len == 0)
        return -EMSGSIZE;
    ssize_t sent = sendto(fd, req, len, 0, (struct sockaddr *)&kernel, sizeof(kernel));
    if (sent < 0)
        return -errno;
    if ((size_t)sent != len)
        return -EIO;
    for (;;) {
        struct sockaddr_nl from;
        socklen_t flen = sizeof(from);
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        int64_t left = deadline - otb_nl_now_ms();
        ssize_t n;
        int rc;

        if (left <= 0)
            return -ETIMEDOUT;
        rc = poll(&pfd, 1, (int)left);
        if (rc < 0 && errno != EINTR)
            return -errno;
        if (rc <= 0)
            continue;
        n = recvfrom(fd, buf, sizeof(buf), MSG_DONTWAIT | MSG_TRUNC, (struct sockaddr *)&from,
                     &flen);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR)
                continue;
            return -errno;
        }
        if ((size_t)n > sizeof(buf))
            return -EMSGSIZE;
        if (flen < sizeof(from) || from.nl_pid != 0)
            continue; /* only the kernel answers */
        rc = otb_nl_walk(buf, (size_t)n, seq, cb, ctx);
        if (rc != OTB_NL_WALK_MORE)
            return rc;
    }
}

struct otb_nl_route_ctx {
    int family;
    struct otb_nl_route *out;
    size_t cap, n;
};

static int otb_nl_route_cb(const void *msg, size_t len, void *vctx)
{
    struct otb_nl_route_ctx *ctx = vctx;
    struct otb_nl_route hops[OTB_NL_MAX_NEXTHOPS];
    int n = otb_nl_parse_route(msg, len, hops, OTB_NL_MAX_NEXTHOPS);

    if (n < 0)
        return -EBADMSG;
    if (n > OTB_NL_MAX_NEXTHOPS)
        n = OTB_NL_MAX_NEXTHOPS;
    for (int i = 0; i < n; i++)
        if (ctx->family == AF_UNSPEC || hops[i].family == ctx->family)
            ctx->n = otb_nl_route_insert(ctx->out, ctx->n, ctx->cap, &hops[i]);
    return 0;
}

int otb_nl_default_routes(int family, struct otb_nl_route *out, size_t cap)
{
    struct otb_nl_route_ctx ctx = { .family = family, .out = out, .cap = cap };
    int64_t deadline = otb_nl_now_ms() + OTB_NL_TIMEOUT_MS;
    uint8_t req[64];
    int rc = -EINTR;

    if (family != AF_UNSPEC && family != AF_INET && family != AF_INET6)
        return -EAFNOSUPPORT;
    if (!out && cap)
        return -EINVAL;
    /* A dump interrupted by a route change is taken again, once. */
    for (uint32_t seq = 1; seq <= 2 && rc == -EINTR; seq++) {
        int fd = otb_nl_open(NETLINK_ROUTE);
        if (fd < 0)
            return fd;
        ctx.n = 0;
        rc = otb_nl_transact(fd, req, otb_nl_build_route_dump(req, sizeof(req), family, seq), seq,
                             deadline, otb_nl_route_cb, &ctx);
        close(fd);
    }
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < ctx.n; i++)
        if (!if_indextoname((unsigned)out[i].ifindex, out[i].ifname))
            out[i].ifname[0] = '\0';
    return (int)ctx.n;
}

struct otb_nl_segs_ctx {
    uint32_t gso, tso;
    bool found;
};

static int otb_nl_segs_cb(const void *msg, size_t len, void *vctx)
{
    struct otb_nl_segs_ctx *ctx = vctx;
    int rc = otb_nl_parse_link_segs(msg, len, &ctx->gso, &ctx->tso);

    if (rc < 0)
        return -EBADMSG;
    ctx->found |= rc > 0;
    return 0;
}

/* One rtnetlink request of sequence 1 (req, len) on a socket of its own, its replies fed to
 * cb; 0 or -errno. */
static int otb_nl_route_request(const void *req, size_t len, otb_nl_msg_cb cb, void *ctx)
{
    int fd = otb_nl_open(NETLINK_ROUTE), rc;

    if (fd < 0)
        return fd;
    rc = otb_nl_transact(fd, req, len, 1, otb_nl_now_ms() + OTB_NL_TIMEOUT_MS, cb, ctx);
    close(fd);
    return rc;
}

int otb_nl_link_segs(int ifindex, uint32_t *gso_max_segs, uint32_t *tso_max_segs)
{
    struct otb_nl_segs_ctx ctx = { 0 };
    uint8_t req[64];
    int rc = otb_nl_route_request(req, otb_nl_build_link_get(req, sizeof(req), 1, ifindex),
                                  otb_nl_segs_cb, &ctx);

    if (rc < 0)
        return rc;
    if (!ctx.found)
        return -EOPNOTSUPP;
    *gso_max_segs = ctx.gso;
    *tso_max_segs = ctx.tso;
    return 0;
}

int otb_nl_set_link_gso_max_segs(int ifindex, uint32_t segs)
{
    uint8_t req[64];

    return otb_nl_route_request(req, otb_nl_build_link_gso_segs(req, sizeof(req), 1, ifindex,
                                                                segs),
                                NULL, NULL);
}

static int otb_nl_family_cb(const void *msg, size_t len, void *ctx)
{
    return otb_nl_parse_family_id(msg, len, ctx) < 0 ? -EBADMSG : 0;
}

/* The id of the mptcp_pm family; -ENOENT when the kernel has none. */
static int otb_nl_mptcp_family(int fd, int64_t deadline, uint16_t *id)
{
    uint8_t req[64];
    int rc;

    *id = 0;
    rc = otb_nl_transact(fd, req, otb_nl_build_family_query(req, sizeof(req), MPTCP_PM_NAME, 1), 1,
                         deadline, otb_nl_family_cb, id);
    if (rc < 0)
        return rc;
    return *id ? 0 : -ENOENT;
}

struct otb_nl_endpoint_ctx {
    struct otb_nl_endpoint *out;
    size_t cap, n;
    int want_id;                  /* -1: none */
    struct otb_nl_endpoint found; /* the endpoint want_id, when found.id == want_id */
    bool have_found;
};

static int otb_nl_endpoint_cb(const void *msg, size_t len, void *vctx)
{
    struct otb_nl_endpoint_ctx *ctx = vctx;
    struct otb_nl_endpoint ep;
    int rc = otb_nl_parse_endpoint(msg, len, &ep);

    if (rc < 0)
        return -EBADMSG;
    if (rc == 0)
        return 0;
    if (ctx->n < ctx->cap)
        ctx->out[ctx->n++] = ep;
    if (ep.id == ctx->want_id) {
        ctx->found = ep;
        ctx->have_found = true;
    }
    return 0;
}

/* Opens a generic netlink socket, finds mptcp_pm and dumps the endpoints
 * into ctx. Returns the socket (for a following request) or -errno. */
static int otb_nl_endpoint_dump(struct otb_nl_endpoint_ctx *ctx, int64_t deadline,
                                uint16_t *genl_id)
{
    uint8_t req[64];
    int fd = otb_nl_open(NETLINK_GENERIC), rc;

    if (fd < 0)
        return fd;
    rc = otb_nl_mptcp_family(fd, deadline, genl_id);
    if (rc == 0)
        rc = otb_nl_transact(fd, req, otb_nl_build_endpoint_dump(req, sizeof(req), *genl_id, 2), 2,
                             deadline, otb_nl_endpoint_cb, ctx);
    if (rc < 0) {
        close(fd);
        return rc;
    }
    return fd;
}

int otb_nl_mptcp_endpoints(struct otb_nl_endpoint *out, size_t cap)
{
    struct otb_nl_endpoint_ctx ctx = { .out = out, .cap = cap, .want_id = -1 };
    uint16_t genl_id;
    int fd;

    if (!out && cap)
        return -EINVAL;
    fd = otb_nl_endpoint_dump(&ctx, otb_nl_now_ms() + OTB_NL_TIMEOUT_MS, &genl_id);
    if (fd < 0)
        return fd;
    close(fd);
    return (int)ctx.n;
}

int otb_nl_mptcp_set_backup(uint8_t id, bool backup)
{
    struct otb_nl_endpoint_ctx ctx = { .want_id = id };
    int64_t deadline = otb_nl_now_ms() + OTB_NL_TIMEOUT_MS;
    uint8_t req[64];
    uint32_t flags;
    uint16_t genl_id;
    int fd, rc;

    /* SET_FLAGS replaces the flags it may change (backup, fullmesh): the
     * endpoint's current ones are read first so that only backup moves. */
    fd = otb_nl_endpoint_dump(&ctx, deadline, &genl_id);
    if (fd < 0)
        return fd;
    if (!ctx.have_found) {
        close(fd);
        return -ENOENT;
    }
    flags = backup ? ctx.found.flags | MPTCP_PM_ADDR_FLAG_BACKUP
                   : ctx.found.flags & ~(uint32_t)MPTCP_PM_ADDR_FLAG_BACKUP;
    rc = 0;
    if (flags != ctx.found.flags)
        rc = otb_nl_transact(fd, req, otb_nl_build_set_flags(req, sizeof(req), genl_id, 3, id, flags),
                             3, deadline, NULL, NULL);
    close(fd);
    return rc;
}
