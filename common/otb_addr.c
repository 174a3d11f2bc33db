#include "otb_addr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdbool.h>
#include <string.h>

#include "otb_log.h"

/* Bytes of an address of type atyp (0: a domain). v4 and v6 share the
 * union's first bytes, so both are copied to and from u.v6. */
static size_t otb_addr_ip_len(uint8_t atyp)
{
    return atyp == OTB_ATYP_IPV4 ? 4 : atyp == OTB_ATYP_IPV6 ? 16 : 0;
}

int otb_addr_parse(const uint8_t *in, size_t len, struct otb_addr *a, size_t *consumed)
{
    size_t need, iplen;

    if (len < 1)
        return OTB_NEED_MORE;
    switch (in[0]) {
    case OTB_ATYP_IPV4:
    case OTB_ATYP_IPV6:
        iplen = otb_addr_ip_len(in[0]);
        need = 1 + iplen + 2;
        if (len < need)
            return OTB_NEED_MORE;
        memcpy(a->u.v6, in + 1, iplen);
        break;
    case OTB_ATYP_DOMAIN:
        if (len < 2)
            return OTB_NEED_MORE;
        if (in[1] == 0)
            return OTB_BAD;
        need = 2 + (size_t)in[1] + 2;
        if (len < need)
            return OTB_NEED_MORE;
        if (memchr(in + 2, 0, in[1]) != NULL)
            return OTB_BAD;
        a->host_len = in[1];
        memcpy(a->u.host, in + 2, in[1]);
        a->u.host[in[1]] = '\0';
        break;
    default:
        return OTB_BAD;
    }
    a->atyp = in[0];
    a->port = otb_get_be16(in + need - 2);
    *consumed = need;
    return OTB_OK;
}

size_t otb_addr_encode(const struct otb_addr *a, uint8_t *out)
{
    size_t n = 1, iplen = otb_addr_ip_len(a->atyp);

    out[0] = a->atyp;
    if (iplen) {
        memcpy(out + 1, a->u.v6, iplen);
        n += iplen;
    } else {
        out[1] = a->host_len;
        memcpy(out + 2, a->u.host, a->host_len);
        n += 1 + a->host_len;
    }
    otb_put_be16(out + n, a->port);
    return n + 2;
}

int otb_addr_from_sockaddr(struct otb_addr *a, const struct sockaddr *sa)
{
    const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
    const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
    bool v6 = sa->sa_family == AF_INET6;

    memset(a, 0, sizeof(*a));
    if (sa->sa_family != AF_INET && !v6)
        return -EAFNOSUPPORT;
    a->atyp = v6 ? OTB_ATYP_IPV6 : OTB_ATYP_IPV4;
    memcpy(a->u.v6, v6 ? (const void *)&sin6->sin6_addr : (const void *)&sin->sin_addr,
           otb_addr_ip_len(a->atyp));
    a->port = ntohs(v6 ? sin6->sin6_port : sin->sin_port);
    return 0;
}

int otb_addr_to_sockaddr(const struct otb_addr *a, struct sockaddr_storage *ss, socklen_t *len)
{
    struct sockaddr_in *sin = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
    bool v6 = a->atyp == OTB_ATYP_IPV6;

    memset(ss, 0, sizeof(*ss));
    if (a->atyp != OTB_ATYP_IPV4 && !v6)
        return -EINVAL;
    /* sin_family and sin6_family, sin_port and sin6_port share their offsets */
    ss->ss_family = v6 ? AF_INET6 : AF_INET;
    sin->sin_port = htons(a->port);
    memcpy(v6 ? (void *)&sin6->sin6_addr : (void *)&sin->sin_addr, a->u.v6,
           otb_addr_ip_len(a->atyp));
    *len = v6 ? sizeof(*sin6) : sizeof(*sin);
    return 0;
}

int otb_addr_set_domain(struct otb_addr *a, const char *host, uint16_t port)
{
    size_t n = strlen(host);

    if (n == 0 || n > 255)
        return -EINVAL;
    memset(a, 0, sizeof(*a));
    a->atyp = OTB_ATYP_DOMAIN;
    a->host_len = (uint8_t)n;
    memcpy(a->u.host, host, n + 1);
    a->port = port;
    return 0;
}

void otb_addr_format(const struct otb_addr *a, char *out, size_t cap)
{
    char host[OTB_ADDR_FMT_LEN];

    if (a->atyp == OTB_ATYP_IPV4) {
        inet_ntop(AF_INET, a->u.v4, host, sizeof(host));
        snprintf(out, cap, "%s:%u", host, a->port);
    } else if (a->atyp == OTB_ATYP_IPV6) {
        inet_ntop(AF_INET6, a->u.v6, host, sizeof(host));
        snprintf(out, cap, "[%s]:%u", host, a->port);
    } else {
        otb_log_escape((const uint8_t *)a->u.host, a->host_len, host, sizeof(host));
        snprintf(out, cap, "%s:%u", host, a->port);
    }
}

void otb_sockaddr_format(const struct sockaddr *sa, char *out, size_t cap)
{
    struct otb_addr a;

    if (otb_addr_from_sockaddr(&a, sa) == 0)
        otb_addr_format(&a, out, cap);
    else
        snprintf(out, cap, "(family %d)", sa->sa_family);
}
