#include "otb_mptcp.h"

#include <stdio.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "otb_addr.h"

/* linux/mptcp.h and linux/tcp.h clash with the libc headers: the stable
 * user ABI of MPTCP_TCPINFO / MPTCP_SUBFLOW_ADDRS is restated here. */
#ifndef SOL_MPTCP
#define SOL_MPTCP 284
#endif
#define OTB_MPTCP_TCPINFO 2
#define OTB_MPTCP_SUBFLOW_ADDRS 3
#define OTB_MPTCP_MAX_SUBFLOWS 16

struct otb_mptcp_subflow_data {
    uint32_t size_subflow_data;
    uint32_t num_subflows;
    uint32_t size_kernel;
    uint32_t size_user;
} __attribute__((aligned(8)));

struct otb_mptcp_subflow_addrs {
    struct sockaddr_storage local, remote;
};

/* struct tcp_info up to tcpi_bytes_received (kernel layout, offsets 120/128). */
struct otb_tcp_info_prefix {
    uint8_t head[120];
    uint64_t bytes_acked;
    uint64_t bytes_received;
};

static int otb_mptcp_read_enabled(void)
{
    FILE *f = fopen("/proc/sys/net/mptcp/enabled", "r");
    int v = -1;

    if (f) {
        if (fscanf(f, "%d", &v) != 1)
            v = -1;
        fclose(f);
    }
    return v;
}

static bool otb_mptcp_has_word(const char *line, const char *word)
{
    size_t n = strlen(word);

    for (const char *p = strstr(line, word); p; p = strstr(p + 1, word)) {
        bool start = p == line || p[-1] == ' ';
        bool end = p[n] == '\0' || p[n] == ' ' || p[n] == '\n';
        if (start && end)
            return true;
    }
    return false;
}

void otb_mptcp_count_endpoints(const char *text, struct otb_mptcp_info *info)
{
    info->endpoints = info->subflow_paths = info->backup_paths = 0;
    while (text && *text) {
        const char *eol = strchr(text, '\n');
        size_t len = eol ? (size_t)(eol - text) : strlen(text);
        char line[512];

        snprintf(line, sizeof(line), "%.*s", (int)OTB_MIN(len, sizeof(line) - 1), text);
        if (strstr(line, " id ")) {
            info->endpoints++;
            if (otb_mptcp_has_word(line, "subflow") || otb_mptcp_has_word(line, "fullmesh"))
                info->subflow_paths++;
            if (otb_mptcp_has_word(line, "backup"))
                info->backup_paths++;
        }
        text = eol ? eol + 1 : text + len;
    }
}

/* Runs cmd, logs each output line with a prefix, returns the text (truncated). */
static bool otb_mptcp_run(const struct otb_logger *lg, const char *cmd, const char *what,
                          char *out, size_t cap)
{
    FILE *p = popen(cmd, "r");
    char line[512];
    size_t used = 0;

    out[0] = '\0';
    if (!p)
        return false;
    while (fgets(line, sizeof(line), p)) {
        size_t n = strlen(line);
        if (used + n < cap) {
            memcpy(out + used, line, n + 1);
            used += n;
        }
        line[strcspn(line, "\n")] = '\0';
        OTB_INFO(lg, "mptcp %s: %s", what, line);
    }
    return pclose(p) == 0;
}

void otb_mptcp_report(const struct otb_logger *lg, struct otb_mptcp_info *info)
{
    char text[4096];

    info->enabled = otb_mptcp_read_enabled();
    info->endpoints = info->subflow_paths = info->backup_paths = -1;
    if (info->enabled == 0) {
        OTB_WARN(lg, "MPTCP is disabled (net.mptcp.enabled=0): one path per connection, no "
                 "aggregation; enable it with sysctl -w net.mptcp.enabled=1");
        return;
    }
    if (info->enabled < 0) {
        OTB_WARN(lg, "this kernel has no MPTCP: one path per connection, no aggregation");
        return;
    }
    otb_mptcp_run(lg, "ip mptcp limits show 2>&1", "limits", text, sizeof(text));
    if (!otb_mptcp_run(lg, "ip mptcp endpoint show 2>&1", "endpoint", text, sizeof(text))) {
        OTB_WARN(lg, "cannot list MPTCP endpoints (is iproute2's ip installed?)");
        return;
    }
    otb_mptcp_count_endpoints(text, info);
    OTB_INFO(lg, "MPTCP enabled: %d endpoints, %d usable for extra subflows, %d backup",
             info->endpoints, info->subflow_paths, info->backup_paths);
    if (info->subflow_paths == 0)
        OTB_WARN(lg, "only one path: no MPTCP endpoint has the subflow flag, so connections "
                 "cannot aggregate WANs or survive the loss of one; add one per WAN: "
                 "ip mptcp endpoint add ADDRESS dev IFACE subflow");
}

/* One getsockopt of an MPTCP subflow array: header then n records of size each. */
static int otb_mptcp_get_array(int fd, int name, void *buf, size_t size, size_t n)
{
    struct otb_mptcp_subflow_data *hdr = buf;
    socklen_t len = (socklen_t)(sizeof(*hdr) + size * n);

    memset(buf, 0, len);
    hdr->size_subflow_data = sizeof(*hdr);
    hdr->size_user = (uint32_t)size;
    if (getsockopt(fd, SOL_MPTCP, name, buf, &len) < 0)
        return -errno;
    return (int)OTB_MIN(hdr->num_subflows, n);
}

int otb_mptcp_subflows(int fd, bool remote_side, struct otb_mptcp_path *out, size_t cap)
{
    struct {
        struct otb_mptcp_subflow_data hdr;
        struct otb_mptcp_subflow_addrs a[OTB_MPTCP_MAX_SUBFLOWS];
    } addrs;
    struct {
        struct otb_mptcp_subflow_data hdr;
        struct otb_tcp_info_prefix t[OTB_MPTCP_MAX_SUBFLOWS];
    } info;
    int na, ni;

    na = otb_mptcp_get_array(fd, OTB_MPTCP_SUBFLOW_ADDRS, &addrs, sizeof(addrs.a[0]),
                             OTB_MPTCP_MAX_SUBFLOWS);
    if (na < 0)
        return na == -EOPNOTSUPP || na == -ENOPROTOOPT ? 0 : na;
    ni = otb_mptcp_get_array(fd, OTB_MPTCP_TCPINFO, &info, sizeof(info.t[0]),
                             OTB_MPTCP_MAX_SUBFLOWS);
    if (ni < 0)
        return ni;
    /* Both lists come from the same walk of the subflow list; a subflow
     * may come or go between the calls, so only the common prefix is used. */
    size_t n = OTB_MIN(OTB_MIN((size_t)na, (size_t)ni), cap);
    for (size_t i = 0; i < n; i++) {
        out[i].addr = remote_side ? addrs.a[i].remote : addrs.a[i].local;
        out[i].sent = info.t[i].bytes_acked;
        out[i].received = info.t[i].bytes_received;
    }
    return (int)n;
}

static bool otb_mptcp_same_host(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
    struct otb_addr x, y;

    if (otb_addr_from_sockaddr(&x, (const struct sockaddr *)a) < 0 ||
        otb_addr_from_sockaddr(&y, (const struct sockaddr *)b) < 0 || x.atyp != y.atyp)
        return false;
    return memcmp(&x.u, &y.u, x.atyp == OTB_ATYP_IPV4 ? 4 : 16) == 0;
}

size_t otb_mptcp_paths_add(struct otb_mptcp_path *acc, size_t n, size_t cap,
                           const struct otb_mptcp_path *src, size_t nsrc)
{
    for (size_t i = 0; i < nsrc; i++) {
        size_t j = 0;
        while (j < n && !otb_mptcp_same_host(&acc[j].addr, &src[i].addr))
            j++;
        if (j == n) {
            if (n == cap)
                continue;
            acc[n] = src[i];
            acc[n].sent = acc[n].received = 0;
            n++;
        }
        acc[j].sent += src[i].sent;
        acc[j].received += src[i].received;
    }
    return n;
}
