#include "otb_egress.h"

#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "otb_addr.h"

bool otb_egress_permits_addr(const struct otb_egress *e, const struct sockaddr *sa)
{
    if (e->acl && otb_acl_match_addr(e->acl, OTB_ACL_OUTBOUND_ALLOW, sa))
        return true;
    return otb_acl_outbound_permitted(e->acl, e->block, sa) && !otb_acl_blocks_addr(e->local, sa);
}

const struct sockaddr *otb_egress_unmap(const struct sockaddr *sa, struct sockaddr_storage *out)
{
    const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)(const void *)sa;
    struct sockaddr_in *sin = (struct sockaddr_in *)out;

    if (sa->sa_family != AF_INET6 || !IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
        memcpy(out, sa, otb_sockaddr_len(sa));
        return (const struct sockaddr *)out;
    }
    memset(out, 0, sizeof(*out));
    sin->sin_family = AF_INET;
    sin->sin_port = sin6->sin6_port;
    memcpy(&sin->sin_addr, sin6->sin6_addr.s6_addr + 12, 4);
    return (const struct sockaddr *)out;
}

bool otb_egress_permits_host(const struct otb_egress *e, const char *host)
{
    return otb_acl_outbound_host_permitted(e->acl, host);
}

const struct sockaddr *otb_egress_first_permitted(const struct otb_egress *e,
                                                  const struct sockaddr_storage *addrs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (otb_egress_permits_addr(e, (const struct sockaddr *)&addrs[i]))
            return (const struct sockaddr *)&addrs[i];
    return NULL;
}

const struct sockaddr *otb_egress_bind(const struct otb_egress *e, int family, socklen_t *len)
{
    if (family == AF_INET && e->bind4_len) {
        *len = e->bind4_len;
        return (const struct sockaddr *)&e->bind4;
    }
    if (family == AF_INET6 && e->bind6_len) {
        *len = e->bind6_len;
        return (const struct sockaddr *)&e->bind6;
    }
    *len = 0;
    return NULL;
}

int otb_egress_set_bind(struct otb_egress *e, const char *ip, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    socklen_t len;

    if (!ip[0])
        return 0;
    if (otb_sock_parse_ip(ip, 0, &ss, &len) < 0) {
        snprintf(err, errlen, "local_address (-b) %s: not an IP address", ip);
        return -1;
    }
    if (ss.ss_family == AF_INET) {
        e->bind4 = ss;
        e->bind4_len = len;
    } else {
        e->bind6 = ss;
        e->bind6_len = len;
    }
    return 0;
}

int otb_egress_block_builtin(struct otb_egress *e, const struct sockaddr_storage *pub, size_t n)
{
    struct otb_acl *block = otb_acl_builtin_outbound_block();

    for (size_t i = 0; block && i < n; i++) {
        const struct sockaddr *sa = (const struct sockaddr *)&pub[i];

        if (otb_acl_add_addr(block, OTB_ACL_OUTBOUND_BLOCK, sa,
                             sa->sa_family == AF_INET ? 32 : 128) < 0) {
            otb_acl_free(block);
            block = NULL;
        }
    }
    if (!block || otb_egress_refresh_local(e) < 0) {
        otb_acl_free(block);
        return -1;
    }
    otb_acl_free(e->block);
    e->block = block;
    return 0;
}

int otb_egress_refresh_local(struct otb_egress *e)
{
    /* Built anew rather than edited: an address may also lie inside a
     * range the list holds, and removing it must not punch a hole there. */
    struct otb_acl *local = otb_acl_new();

    if (!local || otb_acl_add_local_addrs(local, OTB_ACL_OUTBOUND_BLOCK) < 0) {
        otb_acl_free(local);
        return -1;
    }
    otb_acl_free(e->local);
    e->local = local;
    return 0;
}

void otb_egress_free(struct otb_egress *e)
{
    otb_acl_free(e->acl);
    otb_acl_free(e->block);
    otb_acl_free(e->local);
    if (e->dns)
        otb_dns_free(e->dns);
    e->acl = e->block = e->local = NULL;
    e->dns = NULL;
}
