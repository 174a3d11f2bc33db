/* Unit tests for the pure parts of common/otb_netlink.c: the requests it
 * sends, and route, generic netlink controller and MPTCP endpoint replies
 * built here byte by byte, including truncated and malformed ones. Every
 * parse runs on an exact-size heap copy, so the address sanitizer sees any
 * read past the end. Addresses are documentation ranges. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include <linux/genetlink.h>
#include <linux/mptcp.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include "otb_netlink.h"

/* ---- A message builder: every length is written by hand ---- */

struct mb {
    uint8_t b[1024];
    size_t len;
};

static void mb_raw(struct mb *m, const void *data, size_t len)
{
    assert_true(m->len + NLA_ALIGN(len) <= sizeof(m->b));
    memcpy(m->b + m->len, data, len);
    memset(m->b + m->len + len, 0, NLA_ALIGN(len) - len);
    m->len += NLA_ALIGN(len);
}

/* A netlink header whose length mb_end_msg fills in; returns its offset. */
static size_t mb_msg(struct mb *m, uint16_t type, uint16_t flags, uint32_t seq)
{
    struct nlmsghdr h = { .nlmsg_type = type, .nlmsg_flags = flags, .nlmsg_seq = seq };
    size_t at = m->len;

    mb_raw(m, &h, sizeof(h));
    return at;
}

static void mb_end_msg(struct mb *m, size_t at)
{
    uint32_t len = (uint32_t)(m->len - at);
    memcpy(m->b + at, &len, sizeof(len));
}

static size_t mb_attr(struct mb *m, uint16_t type, const void *data, size_t len)
{
    struct nlattr a = { .nla_len = (uint16_t)(NLA_HDRLEN + len), .nla_type = type };
    size_t at = m->len;

    mb_raw(m, &a, sizeof(a));
    if (len)
        mb_raw(m, data, len);
    return at;
}

static void mb_attr_u32(struct mb *m, uint16_t type, uint32_t v)
{
    mb_attr(m, type, &v, sizeof(v));
}

/* Closes a nest (or an rtnexthop: both start with a u16 length). */
static void mb_end_nest(struct mb *m, size_t at)
{
    uint16_t len = (uint16_t)(m->len - at);
    memcpy(m->b + at, &len, sizeof(len));
}

static void *copy_exact(const void *p, size_t len)
{
    void *c = malloc(len ? len : 1);
    assert_non_null(c);
    if (len)
        memcpy(c, p, len);
    return c;
}

static int parse_route(const void *p, size_t len, struct otb_nl_route *out, size_t cap)
{
    void *c = copy_exact(p, len);
    int rc = otb_nl_parse_route(c, len, out, cap);
    free(c);
    return rc;
}

static int parse_endpoint(const void *p, size_t len, struct otb_nl_endpoint *out)
{
    void *c = copy_exact(p, len);
    int rc = otb_nl_parse_endpoint(c, len, out);
    free(c);
    return rc;
}

static int parse_family(const void *p, size_t len, uint16_t *id)
{
    void *c = copy_exact(p, len);
    int rc = otb_nl_parse_family_id(c, len, id);
    free(c);
    return rc;
}

static void inet(int family, const char *text, void *out)
{
    assert_int_equal(inet_pton(family, text, out), 1);
}

static void assert_gw(const struct sockaddr_storage *ss, int family, const char *text)
{
    char buf[INET6_ADDRSTRLEN];
    const void *a = family == AF_INET ? (const void *)&((const struct sockaddr_in *)ss)->sin_addr
                                      : (const void *)&((const struct sockaddr_in6 *)ss)->sin6_addr;

    assert_int_equal(ss->ss_family, family);
    assert_non_null(inet_ntop(family, a, buf, sizeof(buf)));
    assert_string_equal(buf, text);
}

/* ---- Route messages ---- */

struct route_spec {
    uint16_t type;
    uint8_t family, dst_len, table, rtype;
    uint32_t rtm_flags;
    int64_t table_attr; /* -1: no RTA_TABLE */
    const char *gw;     /* NULL: none */
    uint32_t oif, prio; /* 0: absent */
};

static const struct route_spec default4 = {
    .type = RTM_NEWROUTE, .family = AF_INET, .table = RT_TABLE_MAIN, .rtype = RTN_UNICAST,
    .table_attr = RT_TABLE_MAIN, .gw = "192.0.2.1", .oif = 3, .prio = 100,
};

static size_t mb_route(struct mb *m, const struct route_spec *s)
{
    struct rtmsg rtm = { .rtm_family = s->family, .rtm_dst_len = s->dst_len,
                         .rtm_table = s->table, .rtm_type = s->rtype, .rtm_flags = s->rtm_flags };
    size_t at = mb_msg(m, s->type, NLM_F_MULTI, 7);

    mb_raw(m, &rtm, sizeof(rtm));
    if (s->table_attr >= 0)
        mb_attr_u32(m, RTA_TABLE, (uint32_t)s->table_attr);
    if (s->gw) {
        uint8_t a[16];
        inet(s->family, s->gw, a);
        mb_attr(m, RTA_GATEWAY, a, s->family == AF_INET ? 4 : 16);
    }
    if (s->oif)
        mb_attr_u32(m, RTA_OIF, s->oif);
    if (s->prio)
        mb_attr_u32(m, RTA_PRIORITY, s->prio);
    return at;
}

static void test_route_ipv4(void **state)
{
    struct mb m = { .len = 0 };
    struct otb_nl_route r[2];
    size_t at;

    (void)state;
    at = mb_route(&m, &default4);
    mb_end_msg(&m, at);
    memset(r, 0xAA, sizeof(r));
    assert_int_equal(parse_route(m.b, m.len, r, 2), 1);
    assert_int_equal(r[0].family, AF_INET);
    assert_int_equal(r[0].ifindex, 3);
    assert_int_equal(r[0].metric, 100);
    assert_int_equal(r[0].nh_flags, 0);
    assert_string_equal(r[0].ifname, "");
    assert_gw(&r[0].gw, AF_INET, "192.0.2.1");
    assert_int_equal(r[1].ifindex, (int)0xAAAAAAAA); /* untouched */
    /* Counted with no room to write. */
    assert_int_equal(parse_route(m.b, m.len, NULL, 0), 1);
    /* Trailing bytes after the message are not its own. */
    memset(m.b + m.len, 0xFF, 8);
    assert_int_equal(parse_route(m.b, m.len + 8, r, 2), 1);
}

static void test_route_point_to_point_ipv6(void **state)
{
    struct route_spec s = default4;
    struct mb m = { .len = 0 };
    struct otb_nl_route r;
    size_t at;

    (void)state;
    /* No gateway, no metric, no RTA_TABLE (rtm_table alone says main). */
    s.gw = NULL;
    s.prio = 0;
    s.table_attr = -1;
    s.rtm_flags = RTNH_F_LINKDOWN;
    at = mb_route(&m, &s);
    mb_end_msg(&m, at);
    assert_int_equal(parse_route(m.b, m.len, &r, 1), 1);
    assert_int_equal(r.gw.ss_family, 0);
    assert_int_equal(r.metric, 0);
    assert_int_equal(r.nh_flags, RTNH_F_LINKDOWN);

    m.len = 0;
    s = default4;
    s.family = AF_INET6;
    s.gw = "2001:db8::1";
    s.prio = 1024;
    at = mb_route(&m, &s);
    mb_end_msg(&m, at);
    assert_int_equal(parse_route(m.b, m.len, &r, 1), 1);
    assert_int_equal(r.family, AF_INET6);
    assert_int_equal(r.metric, 1024);
    assert_gw(&r.gw, AF_INET6, "2001:db8::1");
}

static void test_route_via(void **state)
{
    struct mb m = { .len = 0 };
    struct route_spec s = default4;
    struct otb_nl_route r;
    uint8_t via[2 + 16];
    uint16_t fam = AF_INET6;
    size_t at;

    (void)state;
    /* An IPv4 route through an IPv6 gateway (RTA_VIA). */
    s.gw = NULL;
    at = mb_route(&m, &s);
    memcpy(via, &fam, 2);
    inet(AF_INET6, "fe80::1", via + 2);
    mb_attr(&m, RTA_VIA, via, sizeof(via));
    mb_end_msg(&m, at);
    assert_int_equal(parse_route(m.b, m.len, &r, 1), 1);
    assert_int_equal(r.family, AF_INET);
    assert_gw(&r.gw, AF_INET6, "fe80::1");

    /* A via whose address does not match its family. */
    m.len = 0;
    at = mb_route(&m, &s);
    mb_attr(&m, RTA_VIA, via, 2 + 4);
    mb_end_msg(&m, at);
    assert_int_equal(parse_route(m.b, m.len, &r, 1), -1);
}

static void test_route_not_default(void **state)
{
    struct route_spec cases[8];
    struct otb_nl_route r;

    (void)state;
    for (size_t i = 0; i < 8; i++)
        cases[i] = default4;
    cases[0].dst_len = 24;                                 /* a prefix */
    cases[1].table_attr = 100;                             /* another table */
    cases[1].table = RT_TABLE_COMPAT;
    cases[2].table_attr = -1;                              /* local table, header only */
    cases[2].table = RT_TABLE_LOCAL;
    cases[3].rtype = RTN_BLACKHOLE;                        /* not unicast */
    cases[4].rtm_flags = RTM_F_CLONED;                     /* a cache entry */
    cases[5].type = RTM_DELROUTE;                          /* not a route listing */
    cases[6].family = 28 /* AF_MPLS */, cases[6].gw = NULL; /* not IP */
    cases[7].table_attr = RT_TABLE_LOCAL;                  /* RTA_TABLE overrides */
    for (size_t i = 0; i < 8; i++) {
        struct mb m = { .len = 0 };
        size_t at = mb_route(&m, &cases[i]);
        mb_end_msg(&m, at);
        assert_int_equal(parse_route(m.b, m.len, &r, 1), 0);
    }
}

/* A multipath default route: two nexthops, the second with RTNH_F_DEAD. */
static size_t mb_multipath(struct mb *m, int extra)
{
    struct route_spec s = default4;
    struct rtnexthop nh = { .rtnh_ifindex = 3 };
    size_t at, mp, n1;
    uint8_t a[4];

    s.gw = NULL;
    s.oif = 0;
    s.prio = 300;
    at = mb_route(m, &s);
    mp = mb_attr(m, RTA_MULTIPATH, NULL, 0);
    n1 = m->len;
    mb_raw(m, &nh, sizeof(nh));
    inet(AF_INET, "192.0.2.1", a);
    mb_attr(m, RTA_GATEWAY, a, 4);
    mb_end_nest(m, n1);
    n1 = m->len;
    nh.rtnh_ifindex = 4;
    nh.rtnh_flags = RTNH_F_DEAD;
    mb_raw(m, &nh, sizeof(nh));
    inet(AF_INET, "198.51.100.1", a);
    mb_attr(m, RTA_GATEWAY, a, 4);
    mb_end_nest(m, n1);
    if (extra) {
        memset(m->b + m->len, 0, 4);
        m->len += 4; /* a stub shorter than an rtnexthop */
    }
    mb_end_nest(m, mp);
    mb_end_msg(m, at);
    return at;
}

static void test_route_multipath(void **state)
{
    struct mb m = { .len = 0 };
    struct otb_nl_route r[3];

    (void)state;
    mb_multipath(&m, 0);
    memset(r, 0, sizeof(r));
    assert_int_equal(parse_route(m.b, m.len, r, 3), 2);
    assert_int_equal(r[0].ifindex, 3);
    assert_int_equal(r[0].metric, 300);
    assert_int_equal(r[0].nh_flags, 0);
    assert_gw(&r[0].gw, AF_INET, "192.0.2.1");
    assert_int_equal(r[1].ifindex, 4);
    assert_int_equal(r[1].metric, 300);
    assert_int_equal(r[1].nh_flags, RTNH_F_DEAD);
    assert_gw(&r[1].gw, AF_INET, "198.51.100.1");
    assert_int_equal(r[2].ifindex, 0);

    /* Room for one: the count still says two, only one is written. */
    memset(r, 0, sizeof(r));
    assert_int_equal(parse_route(m.b, m.len, r, 1), 2);
    assert_int_equal(r[0].ifindex, 3);
    assert_int_equal(r[1].ifindex, 0);

    m.len = 0;
    mb_multipath(&m, 1);
    assert_int_equal(parse_route(m.b, m.len, r, 3), -1);
}

static void test_route_malformed(void **state)
{
    struct mb m = { .len = 0 };
    struct otb_nl_route r[2];
    struct route_spec s = default4;
    size_t at;
    uint16_t v16;

    (void)state;
    /* Every cut of a valid message: as received (header longer than the
     * bytes) it is malformed; with the header matching the cut, whatever
     * the answer, nothing past the cut is read. */
    mb_multipath(&m, 0);
    for (size_t cut = 0; cut < m.len; cut++) {
        uint8_t c[sizeof(m.b)];
        uint32_t len32 = (uint32_t)cut;
        int rc;
        assert_int_equal(parse_route(m.b, cut, r, 2), -1);
        memcpy(c, m.b, m.len);
        if (cut >= 4)
            memcpy(c, &len32, sizeof(len32));
        rc = parse_route(c, cut, r, 2);
        assert_true(rc >= -1 && rc <= 2);
    }

    /* An attribute shorter than its own header. */
    m.len = 0;
    at = mb_route(&m, &s);
    v16 = 2;
    memcpy(m.b + m.len - 8, &v16, 2); /* RTA_PRIORITY's length */
    mb_end_msg(&m, at);
    assert_int_equal(parse_route(m.b, m.len, r, 2), -1);

    /* An attribute longer than the message. */
    v16 = 12;
    memcpy(m.b + m.len - 8, &v16, 2);
    assert_int_equal(parse_route(m.b, m.len, r, 2), -1);

    /* Wrong payload sizes. */
    m.len = 0;
    s.oif = 0;
    at = mb_route(&m, &s);
    mb_attr(&m, RTA_OIF, &v16, 2);
    mb_end_msg(&m, at);
    assert_int_equal(parse_route(m.b, m.len, r, 2), -1);
    m.len = 0;
    s = default4;
    s.gw = NULL;
    at = mb_route(&m, &s);
    mb_attr(&m, RTA_GATEWAY, "\xc0\x00\x02\x01\x01", 5);
    mb_end_msg(&m, at);
    assert_int_equal(parse_route(m.b, m.len, r, 2), -1);

    /* A message header whose length is below a header. */
    m.len = 0;
    at = mb_route(&m, &default4);
    mb_end_msg(&m, at);
    memset(m.b, 0, 4);
    m.b[0] = 8;
    assert_int_equal(parse_route(m.b, m.len, r, 2), -1);

    /* A route message too short for its rtmsg. */
    m.len = 0;
    at = mb_msg(&m, RTM_NEWROUTE, 0, 1);
    mb_raw(&m, "\x02\x00\x00\x00", 4);
    mb_end_msg(&m, at);
    assert_int_equal(parse_route(m.b, m.len, r, 2), -1);
}

static void test_multipath_nexthop_malformed(void **state)
{
    struct mb m = { .len = 0 };
    struct otb_nl_route r[2];
    uint16_t v16;
    size_t mp_at;

    (void)state;
    mb_multipath(&m, 0);
    /* The first rtnexthop starts after rtmsg, RTA_TABLE, RTA_PRIORITY and
     * RTA_MULTIPATH's header. */
    mp_at = NLMSG_HDRLEN + sizeof(struct rtmsg) + 8 + 8 + NLA_HDRLEN;
    assert_int_equal(m.b[mp_at - 2], RTA_MULTIPATH);
    /* Length below an rtnexthop. */
    v16 = 4;
    memcpy(m.b + mp_at, &v16, 2);
    assert_int_equal(parse_route(m.b, m.len, r, 2), -1);
    /* Length past the list. */
    v16 = 200;
    memcpy(m.b + mp_at, &v16, 2);
    assert_int_equal(parse_route(m.b, m.len, r, 2), -1);
    /* A nexthop attribute overflowing its rtnexthop. */
    v16 = 16;
    memcpy(m.b + mp_at, &v16, 2);
    v16 = 12;
    memcpy(m.b + mp_at + sizeof(struct rtnexthop), &v16, 2);
    assert_int_equal(parse_route(m.b, m.len, r, 2), -1);
}

static void test_route_insert(void **state)
{
    struct otb_nl_route in[5], out[3];
    size_t n = 0;

    (void)state;
    memset(in, 0, sizeof(in));
    in[0].family = AF_INET6, in[0].metric = 100, in[0].ifindex = 1;
    in[1].family = AF_INET, in[1].metric = 200, in[1].ifindex = 2;
    in[2].family = AF_INET, in[2].metric = 100, in[2].ifindex = 3;
    in[3].family = AF_INET, in[3].metric = 200, in[3].ifindex = 4;
    in[4].family = AF_INET6, in[4].metric = 50, in[4].ifindex = 5;
    for (size_t i = 0; i < 5; i++)
        n = otb_nl_route_insert(out, n, 3, &in[i]);
    /* Family first, then metric; equal keys in arrival order; the rest dropped. */
    assert_int_equal(n, 3);
    assert_int_equal(out[0].ifindex, 3);
    assert_int_equal(out[1].ifindex, 2);
    assert_int_equal(out[2].ifindex, 4);

    n = 0;
    for (size_t i = 0; i < 5; i++)
        n = otb_nl_route_insert(out, n, 0, &in[i]);
    assert_int_equal(n, 0);
}

/* ---- Requests ---- */

/* The netlink header of a built request. */
static void assert_request_header(const uint8_t *buf, size_t len, uint16_t type, uint16_t flags,
                                  uint32_t seq)
{
    struct nlmsghdr h;

    memcpy(&h, buf, sizeof(h));
    assert_int_equal(h.nlmsg_len, len);
    assert_int_equal(h.nlmsg_type, type);
    assert_int_equal(h.nlmsg_flags, flags);
    assert_int_equal(h.nlmsg_seq, seq);
}

static void test_build_route_dump(void **state)
{
    uint8_t buf[64];
    struct rtmsg rtm;
    size_t len;

    (void)state;
    len = otb_nl_build_route_dump(buf, sizeof(buf), AF_INET6, 42);
    assert_int_equal(len, NLMSG_HDRLEN + sizeof(rtm));
    assert_request_header(buf, len, RTM_GETROUTE, NLM_F_REQUEST | NLM_F_DUMP, 42);
    memcpy(&rtm, buf + NLMSG_HDRLEN, sizeof(rtm));
    assert_int_equal(rtm.rtm_family, AF_INET6);
    for (size_t cap = 0; cap < len; cap++) {
        uint8_t *small = malloc(cap ? cap : 1);
        assert_non_null(small);
        assert_int_equal(otb_nl_build_route_dump(small, cap, AF_INET, 1), 0);
        free(small);
    }
    assert_int_equal(otb_nl_build_route_dump(NULL, 0, AF_INET, 1), 0);
}

static void test_build_family_query(void **state)
{
    uint8_t buf[64];
    struct nlmsghdr h;
    struct genlmsghdr g;
    struct nlattr a;
    size_t len;

    (void)state;
    len = otb_nl_build_family_query(buf, sizeof(buf), MPTCP_PM_NAME, 9);
    /* header, genl header, attribute header, "mptcp_pm\0" padded to 12 */
    assert_int_equal(len, NLMSG_HDRLEN + GENL_HDRLEN + NLA_HDRLEN + 12);
    memcpy(&h, buf, sizeof(h));
    memcpy(&g, buf + NLMSG_HDRLEN, sizeof(g));
    memcpy(&a, buf + NLMSG_HDRLEN + GENL_HDRLEN, sizeof(a));
    assert_int_equal(h.nlmsg_len, len);
    assert_int_equal(h.nlmsg_type, GENL_ID_CTRL);
    assert_int_equal(h.nlmsg_flags, NLM_F_REQUEST | NLM_F_ACK);
    assert_int_equal(g.cmd, CTRL_CMD_GETFAMILY);
    assert_int_equal(a.nla_type, CTRL_ATTR_FAMILY_NAME);
    assert_int_equal(a.nla_len, NLA_HDRLEN + 9);
    assert_memory_equal(buf + NLMSG_HDRLEN + GENL_HDRLEN + NLA_HDRLEN, "mptcp_pm\0\0\0\0", 12);
    assert_int_equal(otb_nl_build_family_query(buf, len - 1, MPTCP_PM_NAME, 9), 0);
}

static void test_build_link_requests(void **state)
{
    uint8_t buf[64];
    struct ifinfomsg ifi;
    struct nlattr a;
    uint32_t v;
    size_t len;

    (void)state;
    len = otb_nl_build_link_get(buf, sizeof(buf), 5, 7);
    assert_int_equal(len, NLMSG_HDRLEN + sizeof(ifi));
    assert_request_header(buf, len, RTM_GETLINK, NLM_F_REQUEST | NLM_F_ACK, 5);
    memcpy(&ifi, buf + NLMSG_HDRLEN, sizeof(ifi));
    assert_int_equal(ifi.ifi_index, 7);
    assert_int_equal(otb_nl_build_link_get(buf, len - 1, 5, 7), 0);

    /* Only the one attribute: a RTM_NEWLINK carries no change it does not name. */
    len = otb_nl_build_link_gso_segs(buf, sizeof(buf), 6, 3, 1);
    assert_int_equal(len, NLMSG_HDRLEN + sizeof(ifi) + NLA_HDRLEN + 4);
    assert_request_header(buf, len, RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK, 6);
    memcpy(&ifi, buf + NLMSG_HDRLEN, sizeof(ifi));
    memcpy(&a, buf + NLMSG_HDRLEN + sizeof(ifi), sizeof(a));
    memcpy(&v, buf + NLMSG_HDRLEN + sizeof(ifi) + NLA_HDRLEN, sizeof(v));
    assert_int_equal(ifi.ifi_index, 3);
    assert_int_equal(ifi.ifi_change, 0);
    assert_int_equal(a.nla_type, IFLA_GSO_MAX_SEGS);
    assert_int_equal(a.nla_len, NLA_HDRLEN + 4);
    assert_int_equal(v, 1);
    for (size_t cap = 0; cap < len; cap++)
        assert_int_equal(otb_nl_build_link_gso_segs(cap ? buf : NULL, cap, 6, 3, 1), 0);
}

static int parse_segs(const void *p, size_t len, uint32_t *gso, uint32_t *tso)
{
    void *c = copy_exact(p, len);
    int rc = otb_nl_parse_link_segs(c, len, gso, tso);
    free(c);
    return rc;
}

/* A link message of type (RTM_NEWLINK or not) naming wan1, with a GSO segment limit of
 * gso_len bytes when gso_len > 0, and a TSO ceiling when tso > 0. */
static void mb_link(struct mb *m, uint16_t type, const void *gso, size_t gso_len, uint32_t tso)
{
    struct ifinfomsg ifi = { .ifi_index = 2 };
    size_t at;

    m->len = 0;
    at = mb_msg(m, type, 0, 1);
    mb_raw(m, &ifi, sizeof(ifi));
    mb_attr(m, IFLA_IFNAME, "wan1", 5);
    mb_attr_u32(m, IFLA_GSO_MAX_SIZE, 65536);
    if (gso_len)
        mb_attr(m, IFLA_GSO_MAX_SEGS, gso, gso_len);
    if (tso)
        mb_attr_u32(m, IFLA_TSO_MAX_SEGS, tso);
    mb_end_msg(m, at);
}

static void test_link_segs(void **state)
{
    struct mb m;
    uint32_t gso = 0, tso = 7, v = 1;

    (void)state;
    mb_link(&m, RTM_NEWLINK, &v, sizeof(v), 65535);
    assert_int_equal(parse_segs(m.b, m.len, &gso, &tso), 1);
    assert_int_equal(gso, 1);
    assert_int_equal(tso, 65535);
    /* Cut anywhere: the header's length then claims bytes that are not there. */
    for (size_t cut = 0; cut < m.len; cut++)
        assert_int_equal(parse_segs(m.b, cut, &gso, &tso), -1);
    /* An older kernel: no TSO ceiling. */
    v = 64;
    mb_link(&m, RTM_NEWLINK, &v, sizeof(v), 0);
    assert_int_equal(parse_segs(m.b, m.len, &gso, &tso), 1);
    assert_int_equal(gso, 64);
    assert_int_equal(tso, 0);

    /* Without the attribute; another message type (left alone); a u16 where a u32 belongs. */
    mb_link(&m, RTM_NEWLINK, NULL, 0, 65535);
    assert_int_equal(parse_segs(m.b, m.len, &gso, &tso), 0);
    mb_link(&m, RTM_NEWROUTE, &v, sizeof(v), 65535);
    gso = 9;
    assert_int_equal(parse_segs(m.b, m.len, &gso, &tso), 0);
    assert_int_equal(gso, 9);
    mb_link(&m, RTM_NEWLINK, "\1\0", 2, 65535);
    assert_int_equal(parse_segs(m.b, m.len, &gso, &tso), -1);
    /* No room for the family header. */
    m.len = 0;
    mb_end_msg(&m, mb_msg(&m, RTM_NEWLINK, 0, 1));
    assert_int_equal(parse_segs(m.b, m.len, &gso, &tso), -1);
}

static void test_build_endpoint_requests(void **state)
{
    uint8_t buf[64];
    struct nlmsghdr h;
    struct genlmsghdr g;
    struct nlattr nest, a;
    size_t len, off = NLMSG_HDRLEN + GENL_HDRLEN;
    uint32_t flags;

    (void)state;
    len = otb_nl_build_endpoint_dump(buf, sizeof(buf), 0x1d, 2);
    assert_int_equal(len, NLMSG_HDRLEN + GENL_HDRLEN);
    memcpy(&h, buf, sizeof(h));
    memcpy(&g, buf + NLMSG_HDRLEN, sizeof(g));
    assert_int_equal(h.nlmsg_type, 0x1d);
    assert_int_equal(h.nlmsg_flags, NLM_F_REQUEST | NLM_F_DUMP);
    assert_int_equal(g.cmd, MPTCP_PM_CMD_GET_ADDR);
    assert_int_equal(g.version, MPTCP_PM_VER);

    len = otb_nl_build_set_flags(buf, sizeof(buf), 0x1d, 3, 7,
                                 MPTCP_PM_ADDR_FLAG_SUBFLOW | MPTCP_PM_ADDR_FLAG_BACKUP);
    /* nest header, ID (u8 padded to 8), FLAGS (8) */
    assert_int_equal(len, off + NLA_HDRLEN + 8 + 8);
    memcpy(&h, buf, sizeof(h));
    memcpy(&g, buf + NLMSG_HDRLEN, sizeof(g));
    assert_int_equal(h.nlmsg_len, len);
    assert_int_equal(h.nlmsg_flags, NLM_F_REQUEST | NLM_F_ACK);
    assert_int_equal(g.cmd, MPTCP_PM_CMD_SET_FLAGS);
    memcpy(&nest, buf + off, sizeof(nest));
    assert_int_equal(nest.nla_type, NLA_F_NESTED | MPTCP_PM_ATTR_ADDR);
    assert_int_equal(nest.nla_len, NLA_HDRLEN + 16);
    memcpy(&a, buf + off + 4, sizeof(a));
    assert_int_equal(a.nla_type, MPTCP_PM_ADDR_ATTR_ID);
    assert_int_equal(a.nla_len, NLA_HDRLEN + 1);
    assert_int_equal(buf[off + 8], 7);
    assert_memory_equal(buf + off + 9, "\0\0\0", 3);
    memcpy(&a, buf + off + 12, sizeof(a));
    assert_int_equal(a.nla_type, MPTCP_PM_ADDR_ATTR_FLAGS);
    memcpy(&flags, buf + off + 16, 4);
    assert_int_equal(flags, MPTCP_PM_ADDR_FLAG_SUBFLOW | MPTCP_PM_ADDR_FLAG_BACKUP);
    for (size_t cap = 0; cap < len; cap++) {
        uint8_t *small = malloc(cap ? cap : 1);
        assert_non_null(small);
        assert_int_equal(otb_nl_build_set_flags(small, cap, 0x1d, 3, 7, 0), 0);
        free(small);
    }
}

/* ---- Generic netlink replies ---- */

static void test_family_id(void **state)
{
    struct mb m = { .len = 0 };
    struct genlmsghdr g = { .cmd = CTRL_CMD_NEWFAMILY };
    uint16_t id = 0, v16 = 0x1d;
    size_t at;

    (void)state;
    at = mb_msg(&m, GENL_ID_CTRL, 0, 1);
    mb_raw(&m, &g, sizeof(g));
    mb_attr(&m, CTRL_ATTR_FAMILY_NAME, "mptcp_pm", 9);
    mb_attr(&m, CTRL_ATTR_FAMILY_ID, &v16, 2);
    mb_end_msg(&m, at);
    assert_int_equal(parse_family(m.b, m.len, &id), 1);
    assert_int_equal(id, 0x1d);
    for (size_t cut = 0; cut < m.len; cut++)
        assert_int_equal(parse_family(m.b, cut, &id), -1);

    /* Without the id; from another family; a u32 id; no genl header. */
    m.len = 0;
    at = mb_msg(&m, GENL_ID_CTRL, 0, 1);
    mb_raw(&m, &g, sizeof(g));
    mb_attr(&m, CTRL_ATTR_FAMILY_NAME, "mptcp_pm", 9);
    mb_end_msg(&m, at);
    assert_int_equal(parse_family(m.b, m.len, &id), 0);
    m.b[4] = 0x1d;
    assert_int_equal(parse_family(m.b, m.len, &id), 0);
    m.len = 0;
    at = mb_msg(&m, GENL_ID_CTRL, 0, 1);
    mb_raw(&m, &g, sizeof(g));
    mb_attr_u32(&m, CTRL_ATTR_FAMILY_ID, 0x1d);
    mb_end_msg(&m, at);
    assert_int_equal(parse_family(m.b, m.len, &id), -1);
    m.len = 0;
    at = mb_msg(&m, GENL_ID_CTRL, 0, 1);
    mb_end_msg(&m, at);
    assert_int_equal(parse_family(m.b, m.len, &id), -1);
}

struct ep_spec {
    int family;     /* 0: no family attribute */
    const char *a4, *a6;
    int id;         /* -1: absent */
    uint16_t port;
    uint32_t flags;
    int32_t ifindex;
};

static size_t mb_endpoint(struct mb *m, const struct ep_spec *s)
{
    struct genlmsghdr g = { .cmd = MPTCP_PM_CMD_ADD_ADDR, .version = MPTCP_PM_VER };
    size_t at = mb_msg(m, 0x1d, NLM_F_MULTI, 2), nest;
    uint8_t a[16];

    mb_raw(m, &g, sizeof(g));
    nest = mb_attr(m, NLA_F_NESTED | MPTCP_PM_ATTR_ADDR, NULL, 0);
    if (s->family) {
        uint16_t f = (uint16_t)s->family;
        mb_attr(m, MPTCP_PM_ADDR_ATTR_FAMILY, &f, 2);
    }
    if (s->id >= 0) {
        uint8_t id = (uint8_t)s->id;
        mb_attr(m, MPTCP_PM_ADDR_ATTR_ID, &id, 1);
    }
    if (s->a4) {
        inet(AF_INET, s->a4, a);
        mb_attr(m, MPTCP_PM_ADDR_ATTR_ADDR4, a, 4);
    }
    if (s->a6) {
        inet(AF_INET6, s->a6, a);
        mb_attr(m, MPTCP_PM_ADDR_ATTR_ADDR6, a, 16);
    }
    if (s->port)
        mb_attr(m, MPTCP_PM_ADDR_ATTR_PORT, &s->port, 2);
    mb_attr_u32(m, MPTCP_PM_ADDR_ATTR_FLAGS, s->flags);
    if (s->ifindex)
        mb_attr_u32(m, MPTCP_PM_ADDR_ATTR_IF_IDX, (uint32_t)s->ifindex);
    mb_end_nest(m, nest);
    mb_end_msg(m, at);
    return at;
}

static void test_endpoint(void **state)
{
    const struct ep_spec v4 = { .family = AF_INET, .a4 = "192.0.2.2", .id = 1,
                                .flags = MPTCP_PM_ADDR_FLAG_SUBFLOW, .ifindex = 3 };
    const struct ep_spec v6 = { .family = AF_INET6, .a6 = "2001:db8::2", .id = 2, .port = 10000,
                                .flags = MPTCP_PM_ADDR_FLAG_SIGNAL | MPTCP_PM_ADDR_FLAG_BACKUP };
    struct mb m = { .len = 0 };
    struct otb_nl_endpoint ep;

    (void)state;
    mb_endpoint(&m, &v4);
    assert_int_equal(parse_endpoint(m.b, m.len, &ep), 1);
    assert_int_equal(ep.id, 1);
    assert_int_equal(ep.ifindex, 3);
    assert_int_equal(ep.flags, MPTCP_PM_ADDR_FLAG_SUBFLOW);
    assert_gw(&ep.addr, AF_INET, "192.0.2.2");
    assert_int_equal(((struct sockaddr_in *)&ep.addr)->sin_port, 0);
    for (size_t cut = 0; cut < m.len; cut++)
        assert_int_equal(parse_endpoint(m.b, cut, &ep), -1);

    m.len = 0;
    mb_endpoint(&m, &v6);
    assert_int_equal(parse_endpoint(m.b, m.len, &ep), 1);
    assert_int_equal(ep.id, 2);
    assert_int_equal(ep.ifindex, 0);
    assert_int_equal(ep.flags, MPTCP_PM_ADDR_FLAG_SIGNAL | MPTCP_PM_ADDR_FLAG_BACKUP);
    assert_gw(&ep.addr, AF_INET6, "2001:db8::2");
    assert_int_equal(ntohs(((struct sockaddr_in6 *)&ep.addr)->sin6_port), 10000);
}

static void test_endpoint_malformed(void **state)
{
    struct ep_spec bad[4] = {
        { .family = AF_INET, .a4 = "192.0.2.2", .id = -1 },   /* no id */
        { .family = AF_INET, .a6 = "2001:db8::2", .id = 1 },  /* family without its address */
        { .family = 0, .a4 = "192.0.2.2", .id = 1 },          /* no family */
        { .family = AF_UNIX, .a4 = "192.0.2.2", .id = 1 },    /* not IP */
    };
    struct genlmsghdr g = { .cmd = MPTCP_PM_CMD_ADD_ADDR };
    struct otb_nl_endpoint ep;
    struct mb m = { .len = 0 };
    size_t at, nest;

    (void)state;
    for (size_t i = 0; i < 4; i++) {
        m.len = 0;
        mb_endpoint(&m, &bad[i]);
        assert_int_equal(parse_endpoint(m.b, m.len, &ep), -1);
    }

    /* A nested attribute of the wrong size. */
    m.len = 0;
    at = mb_msg(&m, 0x1d, 0, 2);
    mb_raw(&m, &g, sizeof(g));
    nest = mb_attr(&m, NLA_F_NESTED | MPTCP_PM_ATTR_ADDR, NULL, 0);
    mb_attr(&m, MPTCP_PM_ADDR_ATTR_ID, "\1\0", 2);
    mb_end_nest(&m, nest);
    mb_end_msg(&m, at);
    assert_int_equal(parse_endpoint(m.b, m.len, &ep), -1);

    /* A nest overflowing the message. */
    memset(m.b + nest, 0x40, 2);
    assert_int_equal(parse_endpoint(m.b, m.len, &ep), -1);

    /* No address attribute at all: not an endpoint. */
    m.len = 0;
    at = mb_msg(&m, 0x1d, 0, 2);
    mb_raw(&m, &g, sizeof(g));
    mb_attr_u32(&m, MPTCP_PM_ATTR_TOKEN, 1);
    mb_end_msg(&m, at);
    assert_int_equal(parse_endpoint(m.b, m.len, &ep), 0);

    /* Control messages and the controller are not endpoints. */
    m.b[4] = NLMSG_DONE;
    m.b[5] = 0;
    assert_int_equal(parse_endpoint(m.b, m.len, &ep), 0);
    m.b[4] = GENL_ID_CTRL;
    assert_int_equal(parse_endpoint(m.b, m.len, &ep), 0);
}

/* ---- Walking replies ---- */

struct walk_log {
    int calls;
    int stop_at; /* a call number that returns -E2BIG, 0: none */
};

static int walk_cb(const void *msg, size_t len, void *ctx)
{
    struct walk_log *log = ctx;
    struct nlmsghdr h;

    assert_true(len >= NLMSG_HDRLEN);
    memcpy(&h, msg, sizeof(h));
    assert_int_equal(h.nlmsg_len, len);
    log->calls++;
    return log->calls == log->stop_at ? -E2BIG : 0;
}

static int walk(const struct mb *m, size_t len, uint32_t seq, struct walk_log *log)
{
    void *c = copy_exact(m->b, len);
    int rc = otb_nl_walk(c, len, seq, walk_cb, log);
    free(c);
    return rc;
}

static void mb_control(struct mb *m, uint16_t type, uint32_t seq, int32_t err, size_t plen)
{
    size_t at = mb_msg(m, type, 0, seq);
    uint8_t payload[4 + NLMSG_HDRLEN] = { 0 };

    memcpy(payload, &err, sizeof(err));
    mb_raw(m, payload, plen);
    mb_end_msg(m, at);
}

static void test_walk(void **state)
{
    struct mb m = { .len = 0 };
    struct walk_log log = { 0 };
    size_t two;

    (void)state;
    mb_end_msg(&m, mb_route(&m, &default4));
    mb_end_msg(&m, mb_route(&m, &default4));
    two = m.len;
    /* A datagram without the end: more to come. */
    assert_int_equal(walk(&m, two, 7, &log), OTB_NL_WALK_MORE);
    assert_int_equal(log.calls, 2);
    /* Another sequence number: skipped. */
    log.calls = 0;
    assert_int_equal(walk(&m, two, 8, &log), OTB_NL_WALK_MORE);
    assert_int_equal(log.calls, 0);
    /* The end of a dump. */
    mb_control(&m, NLMSG_DONE, 7, 0, 4);
    log.calls = 0;
    assert_int_equal(walk(&m, m.len, 7, &log), 0);
    assert_int_equal(log.calls, 2);
    /* The callback stops the walk. */
    log = (struct walk_log){ .stop_at = 1 };
    assert_int_equal(walk(&m, m.len, 7, &log), -E2BIG);
    assert_int_equal(log.calls, 1);
    /* Cut anywhere inside a message: malformed. */
    for (size_t cut = 1; cut < NLMSG_HDRLEN; cut++)
        assert_int_equal(walk(&m, two + cut, 7, &log), -EBADMSG);
    assert_int_equal(walk(&m, two - 4, 7, &log), -EBADMSG);

    /* A dump's error on its end marker; a bare end marker. */
    m.len = 0;
    mb_control(&m, NLMSG_DONE, 7, -EPERM, 4);
    assert_int_equal(walk(&m, m.len, 7, &log), -EPERM);
    m.len = 0;
    mb_control(&m, NLMSG_DONE, 7, 0, 0);
    assert_int_equal(walk(&m, m.len, 7, &log), 0);

    /* Errors and acks; an error without its code. */
    m.len = 0;
    mb_control(&m, NLMSG_ERROR, 7, -ENOENT, 4 + NLMSG_HDRLEN);
    assert_int_equal(walk(&m, m.len, 7, &log), -ENOENT);
    m.len = 0;
    mb_control(&m, NLMSG_ERROR, 7, 0, 4 + NLMSG_HDRLEN);
    assert_int_equal(walk(&m, m.len, 7, &log), 0);
    m.len = 0;
    mb_control(&m, NLMSG_ERROR, 7, 5, 4);
    assert_int_equal(walk(&m, m.len, 7, &log), -EBADMSG);
    m.len = 0;
    mb_control(&m, NLMSG_ERROR, 7, 0, 0);
    assert_int_equal(walk(&m, m.len, 7, &log), -EBADMSG);

    /* A dump interrupted by a change; an overrun. */
    m.len = 0;
    mb_end_msg(&m, mb_route(&m, &default4));
    m.b[6] |= NLM_F_DUMP_INTR & 0xff;
    m.b[7] |= NLM_F_DUMP_INTR >> 8;
    assert_int_equal(walk(&m, m.len, 7, &log), -EINTR);
    m.len = 0;
    mb_control(&m, NLMSG_OVERRUN, 7, 0, 0);
    assert_int_equal(walk(&m, m.len, 7, &log), -ENOBUFS);

    /* An empty datagram waits for more; a header claiming less than itself is malformed. */
    assert_int_equal(walk(&m, 0, 7, &log), OTB_NL_WALK_MORE);
    m.b[0] = 4, m.b[1] = m.b[2] = m.b[3] = 0;
    assert_int_equal(walk(&m, m.len, 7, &log), -EBADMSG);
}

/* Address events of the watcher (otb_ifwatch): which messages mean that
 * this host's addresses changed. */
union addr_event_buf {
    struct nlmsghdr h;
    char b[512];
};

/* Appends a message of type with plen payload bytes; returns the new length. */
static size_t addr_event_put(union addr_event_buf *buf, size_t off, uint16_t type, size_t plen)
{
    struct nlmsghdr *h = (struct nlmsghdr *)(void *)(buf->b + off);

    assert_true(off + NLMSG_SPACE(plen) <= sizeof(buf->b));
    memset(h, 0, NLMSG_SPACE(plen));
    h->nlmsg_len = (uint32_t)NLMSG_LENGTH(plen);
    h->nlmsg_type = type;
    return off + NLMSG_SPACE(plen);
}

static void test_addr_event(void **state)
{
    union addr_event_buf buf;
    size_t n;

    (void)state;
    n = addr_event_put(&buf, 0, RTM_NEWADDR, sizeof(struct ifaddrmsg));
    assert_true(otb_nl_addr_event(&buf, n));
    n = addr_event_put(&buf, 0, RTM_DELADDR, sizeof(struct ifaddrmsg) + 8);
    assert_true(otb_nl_addr_event(&buf, n));
    /* Route and link messages do not change the addresses. */
    n = addr_event_put(&buf, 0, RTM_NEWROUTE, sizeof(struct rtmsg));
    n = addr_event_put(&buf, n, RTM_NEWLINK, sizeof(struct ifinfomsg));
    assert_false(otb_nl_addr_event(&buf, n));
    /* An address event after another message is found. */
    n = addr_event_put(&buf, n, RTM_DELADDR, sizeof(struct ifaddrmsg));
    assert_true(otb_nl_addr_event(&buf, n));
}

static void test_addr_event_malformed(void **state)
{
    union addr_event_buf buf = { .b = { 0 } };
    size_t n;

    (void)state;
    assert_false(otb_nl_addr_event(&buf, 0));
    n = addr_event_put(&buf, 0, RTM_NEWADDR, sizeof(struct ifaddrmsg));
    /* Cut short: the header is not whole. */
    assert_false(otb_nl_addr_event(&buf, sizeof(struct nlmsghdr) - 1));
    /* A length beyond what was read. */
    buf.h.nlmsg_len = (uint32_t)(n + 100);
    assert_false(otb_nl_addr_event(&buf, n));
    /* A length below the header's own. */
    buf.h.nlmsg_len = 4;
    assert_false(otb_nl_addr_event(&buf, n));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_route_ipv4),
        cmocka_unit_test(test_route_point_to_point_ipv6),
        cmocka_unit_test(test_route_via),
        cmocka_unit_test(test_route_not_default),
        cmocka_unit_test(test_route_multipath),
        cmocka_unit_test(test_route_malformed),
        cmocka_unit_test(test_multipath_nexthop_malformed),
        cmocka_unit_test(test_route_insert),
        cmocka_unit_test(test_build_route_dump),
        cmocka_unit_test(test_build_family_query),
        cmocka_unit_test(test_build_link_requests),
        cmocka_unit_test(test_link_segs),
        cmocka_unit_test(test_build_endpoint_requests),
        cmocka_unit_test(test_family_id),
        cmocka_unit_test(test_endpoint),
        cmocka_unit_test(test_endpoint_malformed),
        cmocka_unit_test(test_walk),
        cmocka_unit_test(test_addr_event),
        cmocka_unit_test(test_addr_event_malformed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
