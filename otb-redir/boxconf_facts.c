/* What the system holds now for each WAN: addresses, link state and the
 * main table's default route (gateway, metric), read with getifaddrs and one
 * rtnetlink route dump per family. */
#include "boxconf.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Addresses a WAN's traffic can be bound to: not loopback nor link-local. */
static bool otb_boxconf_global(int family, const uint8_t *a)
{
    if (family == AF_INET)
        return a[0] != 127 && !(a[0] == 169 && a[1] == 254);
    static const uint8_t loop[16] = { [15] = 1 };
    return !(a[0] == 0xfe && (a[1] & 0xc0) == 0x80) && memcmp(a, loop, 16) != 0;
}

static void otb_boxconf_add_addr(struct otb_fw_wan_facts *wf, const struct sockaddr *sa)
{
    int fam = sa->sa_family == AF_INET ? 0 : 1;
    struct otb_cidr *c;

    if (wf->n_addrs[fam] == OTB_FW_MAX_ADDRS)
        return;
    c = &wf->addrs[fam][wf->n_addrs[fam]];
    memset(c, 0, sizeof(*c));
    c->family = sa->sa_family;
    if (fam == 0)
        memcpy(c->addr, &((const struct sockaddr_in *)sa)->sin_addr, 4);
    else
        memcpy(c->addr, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
    c->prefix = fam == 0 ? 32 : 128;
    if (otb_boxconf_global(c->family, c->addr))
        wf->n_addrs[fam]++;
}

static int otb_boxconf_addrs(const struct otb_policy *p, struct otb_fw_facts *f)
{
    struct ifaddrs *ifa;

    if (getifaddrs(&ifa) < 0)
        return -errno;
    for (struct ifaddrs *it = ifa; it; it = it->ifa_next)
        for (size_t i = 0; i < p->n_wans; i++) {
            if (strcmp(it->ifa_name, p->wans[i].iface) != 0)
                continue;
            /* Administratively up, as `ip link` shows UP: a WAN without
             * carrier keeps its routes ("linkdown") and its table. */
            f->wans[i].up = (it->ifa_flags & IFF_UP) != 0;
            if (it->ifa_addr && (it->ifa_addr->sa_family == AF_INET ||
                                 (f->ipv6 && it->ifa_addr->sa_family == AF_INET6)))
                otb_boxconf_add_addr(&f->wans[i], it->ifa_addr);
        }
    freeifaddrs(ifa);
    return 0;
}

/* One main-table default route: the first per interface wins, as the kernel
 * lists them (lowest metric first). */
static void otb_boxconf_route(const struct otb_policy *p, struct otb_fw_facts *f,
                              struct nlmsghdr *nh)
{
    struct rtmsg *rt = NLMSG_DATA(nh);
    int len = (int)RTM_PAYLOAD(nh), fam = rt->rtm_family == AF_INET ? 0 : 1;
    uint32_t table = rt->rtm_table, oif = 0, metric = 0;
    const void *gw = NULL;

    if (rt->rtm_dst_len != 0 || rt->rtm_type != RTN_UNICAST)
        return;
    for (struct rtattr *a = RTM_RTA(rt); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
        if (a->rta_type == RTA_TABLE)
            table = *(uint32_t *)RTA_DATA(a);
        else if (a->rta_type == RTA_OIF)
            oif = *(uint32_t *)RTA_DATA(a);
        else if (a->rta_type == RTA_PRIORITY)
            metric = *(uint32_t *)RTA_DATA(a);
        else if (a->rta_type == RTA_GATEWAY)
            gw = RTA_DATA(a);
    }
    if (table != RT_TABLE_MAIN || oif == 0)
        return;
    for (size_t i = 0; i < p->n_wans; i++) {
        struct otb_fw_wan_facts *wf = &f->wans[i];
        if (if_nametoindex(p->wans[i].iface) != oif || wf->has_default[fam])
            continue;
        wf->has_default[fam] = true;
        wf->metric[fam] = metric;
        if (gw) {
            wf->gw[fam].family = rt->rtm_family;
            wf->gw[fam].prefix = fam == 0 ? 32 : 128;
            memcpy(wf->gw[fam].addr, gw, fam == 0 ? 4 : 16);
        }
    }
}

static int otb_boxconf_routes(const struct otb_policy *p, struct otb_fw_facts *f, int family)
{
    struct {
        struct nlmsghdr nh;
        struct rtmsg rt;
    } req = {
        .nh = { .nlmsg_len = sizeof(req), .nlmsg_type = RTM_GETROUTE,
                .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP, .nlmsg_seq = 1 },
        .rt = { .rtm_family = (unsigned char)family },
    };
    static char buf[32768];
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE), rc = 0;

    if (fd < 0)
        return -errno;
    if (send(fd, &req, sizeof(req), 0) < 0)
        rc = -errno;
    for (bool done = false; rc == 0 && !done;) {
        ssize_t n = recv(fd, buf, sizeof(buf), 0);
        if (n < 0) {
            rc = -errno;
            break;
        }
        for (struct nlmsghdr *nh = (struct nlmsghdr *)buf; NLMSG_OK(nh, (size_t)n);
             nh = NLMSG_NEXT(nh, n)) {
            /* An error reply ends the dump short: not a complete list of routes. */
            if (nh->nlmsg_type == NLMSG_ERROR) {
                const struct nlmsgerr *e = NLMSG_DATA(nh);
                rc = e->error; /* 0: an acknowledgement, the end */
                done = true;
                break;
            }
            if (nh->nlmsg_type == NLMSG_DONE) {
                done = true;
                break;
            }
            if (nh->nlmsg_type == RTM_NEWROUTE)
                otb_boxconf_route(p, f, nh);
        }
    }
    close(fd);
    return rc;
}

int otb_boxconf_facts(const struct otb_policy *p, struct otb_fw_facts *f)
{
    int rc;

    memset(f, 0, sizeof(*f));
    f->ipv6 = access("/proc/net/if_inet6", F_OK) == 0;
    if ((rc = otb_boxconf_addrs(p, f)) < 0 || (rc = otb_boxconf_routes(p, f, AF_INET)) < 0)
        return rc;
    return f->ipv6 ? otb_boxconf_routes(p, f, AF_INET6) : 0;
}
