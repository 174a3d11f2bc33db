#include "otb_egress.h"

#include <stdio.h>
#include <string.h>

bool otb_egress_permits_addr(const struct otb_egress *e, const struct sockaddr *sa)
{
    return otb_acl_outbound_permitted(e->acl, e->block, sa);
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

int otb_egress_block_builtin(struct otb_egress *e)
{
    e->block = otb_acl_builtin_outbound_block();
    if (!e->block || otb_acl_add_local_addrs(e->block, OTB_ACL_OUTBOUND_BLOCK) < 0)
        return -1;
    return 0;
}

void otb_egress_free(struct otb_egress *e)
{
    otb_acl_free(e->acl);
    otb_acl_free(e->block);
    if (e->dns)
        otb_dns_free(e->dns);
    e->acl = e->block = NULL;
    e->dns = NULL;
}
