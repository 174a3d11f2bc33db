#include "otb_mptcp.h"

#include <stdio.h>
#include <string.h>

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
