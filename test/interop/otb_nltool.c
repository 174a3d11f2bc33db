/* otb_nltool: prints what common/otb_netlink.c reads from the kernel, so
 * test/interop/t_netlink.sh can compare it with iproute2's view.
 *   otb_nltool routes [inet|inet6]   one line per default route (nexthop):
 *       family=inet|inet6 ifindex=N ifname=NAME gw=ADDR|- metric=N nh_flags=N
 *   otb_nltool endpoints             one line per MPTCP endpoint:
 *       id=N addr=ADDR port=N ifindex=N dev=NAME|ifN|- flags=N
 *   otb_nltool backup ID on|off      sets or clears endpoint ID's backup flag
 * Exit 0 on success, 1 when a call fails (its errno printed), 2 on usage. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "otb_netlink.h"

#define OTB_NLTOOL_MAX 64

static void otb_nltool_addr(const struct sockaddr_storage *ss, char *buf, size_t cap,
                            unsigned *port)
{
    *port = 0;
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &sin->sin_addr, buf, (socklen_t)cap);
        *port = ntohs(sin->sin_port);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &sin6->sin6_addr, buf, (socklen_t)cap);
        *port = ntohs(sin6->sin6_port);
    } else {
        snprintf(buf, cap, "-");
    }
}

static int otb_nltool_failed(const char *what, int rc)
{
    fprintf(stderr, "otb_nltool: %s: %s\n", what, strerror(-rc));
    return 1;
}

static int otb_nltool_routes(int family)
{
    struct otb_nl_route r[OTB_NLTOOL_MAX];
    int n = otb_nl_default_routes(family, r, OTB_NLTOOL_MAX);

    if (n < 0)
        return otb_nltool_failed("default routes", n);
    for (int i = 0; i < n; i++) {
        char gw[INET6_ADDRSTRLEN];
        unsigned port;
        otb_nltool_addr(&r[i].gw, gw, sizeof(gw), &port);
        printf("family=%s ifindex=%d ifname=%s gw=%s metric=%u nh_flags=%u\n",
               r[i].family == AF_INET ? "inet" : "inet6", r[i].ifindex,
               r[i].ifname[0] ? r[i].ifname : "-", gw, r[i].metric, r[i].nh_flags);
    }
    return 0;
}

static int otb_nltool_endpoints(void)
{
    struct otb_nl_endpoint e[OTB_NLTOOL_MAX];
    int n = otb_nl_mptcp_endpoints(e, OTB_NLTOOL_MAX);

    if (n < 0)
        return otb_nltool_failed("MPTCP endpoints", n);
    for (int i = 0; i < n; i++) {
        char addr[INET6_ADDRSTRLEN];
        unsigned port;
        char dev[IF_NAMESIZE] = "-";
        otb_nltool_addr(&e[i].addr, addr, sizeof(addr), &port);
        /* An interface gone since: its index, as iproute2 prints it. */
        if (e[i].ifindex > 0 && !if_indextoname((unsigned)e[i].ifindex, dev))
            snprintf(dev, sizeof(dev), "if%d", e[i].ifindex);
        printf("id=%u addr=%s port=%u ifindex=%d dev=%s flags=%u\n", e[i].id, addr, port,
               e[i].ifindex, dev, e[i].flags);
    }
    return 0;
}

static int otb_nltool_usage(void)
{
    fprintf(stderr, "usage: otb_nltool routes [inet|inet6] | endpoints | backup ID on|off\n");
    return 2;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "routes") == 0 && argc <= 3) {
        int family = AF_UNSPEC;
        if (argc == 3 && strcmp(argv[2], "inet") == 0)
            family = AF_INET;
        else if (argc == 3 && strcmp(argv[2], "inet6") == 0)
            family = AF_INET6;
        else if (argc == 3)
            return otb_nltool_usage();
        return otb_nltool_routes(family);
    }
    if (argc == 2 && strcmp(argv[1], "endpoints") == 0)
        return otb_nltool_endpoints();
    if (argc == 4 && strcmp(argv[1], "backup") == 0) {
        char *end;
        long id = strtol(argv[2], &end, 10);
        bool on = strcmp(argv[3], "on") == 0;
        int rc;
        if (*argv[2] == '\0' || *end != '\0' || id < 0 || id > 255 ||
            (!on && strcmp(argv[3], "off") != 0))
            return otb_nltool_usage();
        rc = otb_nl_mptcp_set_backup((uint8_t)id, on);
        return rc < 0 ? otb_nltool_failed("set backup", rc) : 0;
    }
    return otb_nltool_usage();
}
