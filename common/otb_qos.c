#include "otb_qos.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "otb_common.h"

#define OTB_QOS_DSCP_EF 46
#define OTB_QOS_DSCP_CS5 40
#define OTB_QOS_PORT_DNS 53
#define OTB_QOS_PORT_QUIC 443

/* One "N" or "N-M" of a port list (len bytes of text). 0 or -1. */
static int otb_qos_parse_range(const char *text, size_t len, struct otb_qos_range *r)
{
    char buf[16], *end, *dash;
    unsigned long lo, hi;

    if (len == 0 || len >= sizeof(buf))
        return -1;
    memcpy(buf, text, len);
    buf[len] = '\0';
    dash = strchr(buf, '-');
    if (dash)
        *dash = '\0';
    if (buf[0] < '0' || buf[0] > '9')
        return -1;
    lo = strtoul(buf, &end, 10);
    if (*end || lo == 0 || lo > 65535)
        return -1;
    hi = lo;
    if (dash) {
        if (dash[1] < '0' || dash[1] > '9')
            return -1;
        hi = strtoul(dash + 1, &end, 10);
        if (*end || hi < lo || hi > 65535)
            return -1;
    }
    r->lo = (uint16_t)lo;
    r->hi = (uint16_t)hi;
    return 0;
}

int otb_qos_parse_ports(struct otb_qos_policy *p, const char *text)
{
    struct otb_qos_range ranges[OTB_QOS_MAX_PORT_RANGES];
    size_t n = 0;

    while (*text) {
        const char *comma = strchr(text, ',');
        size_t len = comma ? (size_t)(comma - text) : strlen(text);
        while (len && text[0] == ' ') {
            text++;
            len--;
        }
        if (n == OTB_QOS_MAX_PORT_RANGES || otb_qos_parse_range(text, len, &ranges[n]) < 0)
            return -1;
        n++;
        if (!comma)
            break;
        text = comma + 1;
        if (!*text)
            return -1; /* a trailing comma is a typo, not an empty entry */
    }
    memcpy(p->ports, ranges, n * sizeof(ranges[0]));
    p->n_ports = n;
    return 0;
}

int otb_qos_add_host(struct otb_qos_policy *p, const char *text)
{
    struct otb_qos_host h = { 0 };
    char addr[64];
    const char *slash = strchr(text, '/');
    size_t alen = slash ? (size_t)(slash - text) : strlen(text);
    unsigned max;

    if (p->n_hosts == OTB_QOS_MAX_HOSTS || alen == 0 || alen >= sizeof(addr))
        return -1;
    memcpy(addr, text, alen);
    addr[alen] = '\0';
    if (inet_pton(AF_INET, addr, &((struct sockaddr_in *)&h.net)->sin_addr) == 1)
        h.net.ss_family = AF_INET;
    else if (inet_pton(AF_INET6, addr, &((struct sockaddr_in6 *)&h.net)->sin6_addr) == 1)
        h.net.ss_family = AF_INET6;
    else
        return -1;
    max = h.net.ss_family == AF_INET ? 32 : 128;
    h.prefix = max;
    if (slash) {
        char *end;
        unsigned long v;
        if (slash[1] < '0' || slash[1] > '9')
            return -1;
        v = strtoul(slash + 1, &end, 10);
        if (*end || v > max)
            return -1;
        h.prefix = (unsigned)v;
    }
    p->hosts[p->n_hosts++] = h;
    return 0;
}

bool otb_qos_voice_port(const struct otb_qos_policy *p, uint16_t port)
{
    if (port >= OTB_QOS_SIP_PORT_LO && port <= OTB_QOS_SIP_PORT_HI)
        return true;
    for (size_t i = 0; p && i < p->n_ports; i++)
        if (port >= p->ports[i].lo && port <= p->ports[i].hi)
            return true;
    return false;
}

static const uint8_t *otb_qos_addr_bytes(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET)
        return (const uint8_t *)&((const struct sockaddr_in *)ss)->sin_addr;
    return (const uint8_t *)&((const struct sockaddr_in6 *)ss)->sin6_addr;
}

static bool otb_qos_prefix_match(const uint8_t *a, const uint8_t *b, unsigned bits)
{
    unsigned full = bits / 8, rest = bits % 8;

    if (memcmp(a, b, full) != 0)
        return false;
    return rest == 0 || ((a[full] ^ b[full]) & (uint8_t)(0xFF << (8 - rest))) == 0;
}

bool otb_qos_voice_host(const struct otb_qos_policy *p, const struct sockaddr *sa)
{
    struct sockaddr_storage ss;

    if (!p || !sa || (sa->sa_family != AF_INET && sa->sa_family != AF_INET6))
        return false;
    memcpy(&ss, sa, sa->sa_family == AF_INET ? sizeof(struct sockaddr_in)
                                             : sizeof(struct sockaddr_in6));
    for (size_t i = 0; i < p->n_hosts; i++)
        if (p->hosts[i].net.ss_family == sa->sa_family &&
            otb_qos_prefix_match(otb_qos_addr_bytes(&ss), otb_qos_addr_bytes(&p->hosts[i].net),
                                 p->hosts[i].prefix))
            return true;
    return false;
}

enum otb_qos_class otb_qos_classify_udp(const struct otb_qos_policy *p, uint8_t tos,
                                        const struct sockaddr *src, const struct sockaddr *dst,
                                        uint16_t port, size_t payload_len)
{
    unsigned dscp = tos >> 2;

    if (dscp == OTB_QOS_DSCP_EF || dscp == OTB_QOS_DSCP_CS5 || otb_qos_voice_port(p, port) ||
        otb_qos_voice_host(p, src) || otb_qos_voice_host(p, dst))
        return OTB_QOS_VOICE;
    return otb_qos_classify_answer(port, payload_len);
}

enum otb_qos_class otb_qos_classify_answer(uint16_t port, size_t payload_len)
{
    if (port == OTB_QOS_PORT_QUIC)
        return OTB_QOS_BULK;
    if (port == OTB_QOS_PORT_DNS || payload_len <= OTB_QOS_SMALL_PAYLOAD)
        return OTB_QOS_INTERACTIVE;
    return OTB_QOS_BULK;
}

int otb_qos_answer_tos(int box_tos, enum otb_qos_class answers)
{
    enum otb_qos_class box = OTB_QOS_UNSET;

    if (box_tos >= 0) {
        box = otb_qos_from_tos((uint8_t)box_tos);
        if ((box_tos & 0xfc) != otb_qos_tos(box))
            return box_tos; /* a DSCP otb-qos does not set: the box's own choice */
    }
    return box == OTB_QOS_VOICE || answers <= box ? box_tos : otb_qos_tos(answers);
}

enum otb_qos_class otb_qos_assoc_class(enum otb_qos_class cur, unsigned seen,
                                       enum otb_qos_class pkt)
{
    if (cur == OTB_QOS_VOICE || pkt == OTB_QOS_VOICE)
        return OTB_QOS_VOICE;
    if (seen >= OTB_QOS_DECIDE_PACKETS)
        return cur;
    return pkt > cur ? pkt : cur;
}

enum otb_qos_class otb_qos_classify_tcp(const struct otb_qos_policy *p, uint16_t port)
{
    return otb_qos_voice_port(p, port) ? OTB_QOS_INTERACTIVE : OTB_QOS_DEFAULT;
}

/* What each class puts on the wire (DSCP) and in the qdisc (SO_PRIORITY). */
static const struct otb_qos_marking {
    uint8_t tos;
    int priority;
    const char *name;
} otb_qos_markings[] = {
    [OTB_QOS_UNSET] = { 0, 0, "unset" },
    [OTB_QOS_INTERACTIVE] = { 0x88, 4, "interactive" }, /* AF41, TC_PRIO_INTERACTIVE_BULK */
    [OTB_QOS_DEFAULT] = { 0, 0, "default" },
    [OTB_QOS_BULK] = { 0x20, 2, "bulk" },                /* CS1, TC_PRIO_BULK */
    [OTB_QOS_VOICE] = { 0xb8, 6, "voice" },              /* EF, TC_PRIO_INTERACTIVE */
};

static const struct otb_qos_marking *otb_qos_marking_of(enum otb_qos_class c)
{
    return (size_t)c < OTB_ARRAY_LEN(otb_qos_markings) ? &otb_qos_markings[c]
                                                       : &otb_qos_markings[OTB_QOS_UNSET];
}

uint8_t otb_qos_tos(enum otb_qos_class c)
{
    return otb_qos_marking_of(c)->tos;
}

int otb_qos_priority(enum otb_qos_class c)
{
    return otb_qos_marking_of(c)->priority;
}

enum otb_qos_class otb_qos_from_tos(uint8_t tos)
{
    static const enum otb_qos_class marked[] = { OTB_QOS_VOICE, OTB_QOS_INTERACTIVE,
                                                 OTB_QOS_BULK };

    for (size_t i = 0; i < OTB_ARRAY_LEN(marked); i++)
        if ((tos & 0xfc) == otb_qos_tos(marked[i]))
            return marked[i];
    return OTB_QOS_DEFAULT;
}

const char *otb_qos_name(enum otb_qos_class c)
{
    return otb_qos_marking_of(c)->name;
}

int otb_qos_mark_socket(int fd, int family, enum otb_qos_class c)
{
    int tos = otb_qos_tos(c), prio = otb_qos_priority(c), rc = 0;
    bool v6 = family == AF_INET6;

    if (setsockopt(fd, v6 ? IPPROTO_IPV6 : IPPROTO_IP, v6 ? IPV6_TCLASS : IP_TOS, &tos,
                   sizeof(tos)) < 0)
        rc = -errno;
    /* After IP_TOS, which sets a priority of its own from the TOS bits. */
    if (setsockopt(fd, SOL_SOCKET, SO_PRIORITY, &prio, sizeof(prio)) < 0 && rc == 0)
        rc = -errno;
    return rc;
}
