/* What MPTCP can do on this host, reported once at start so an operator sees
 * why aggregation does or does not happen. */
#ifndef OTB_MPTCP_H
#define OTB_MPTCP_H

#include "otb_common.h"
#include "otb_log.h"

struct otb_mptcp_info {
    int enabled;        /* net.mptcp.enabled: 1, 0, or -1 unknown */
    int endpoints;      /* endpoints listed, -1 unknown */
    int subflow_paths;  /* endpoints flagged subflow or fullmesh */
    int backup_paths;   /* endpoints flagged backup */
};

#include <sys/socket.h>

/* Bytes carried by the subflows of one MPTCP connection, per box-side address. */
struct otb_mptcp_path {
    struct sockaddr_storage addr;
    uint64_t sent, received;
};

/* Subflows of an MPTCP socket: the address of each subflow's end chosen by
 * remote_side (local address on the box, the box's address on the server)
 * with its byte counters. Returns the number filled, 0 for a TCP socket,
 * or -errno. */
int otb_mptcp_subflows(int fd, bool remote_side, struct otb_mptcp_path *out, size_t cap);
/* Adds src's counters into the table acc (same address summed); returns the new count. */
size_t otb_mptcp_paths_add(struct otb_mptcp_path *acc, size_t n, size_t cap,
                           const struct otb_mptcp_path *src, size_t nsrc);

/* Pure: counts endpoints in the text of `ip mptcp endpoint show`. */
void otb_mptcp_count_endpoints(const char *text, struct otb_mptcp_info *info);
/* Reads the sysctl and runs `ip mptcp limits/endpoint show` (startup only),
 * logs every line and warns when there is only one path. */
void otb_mptcp_report(const struct otb_logger *lg, struct otb_mptcp_info *info);

#endif
