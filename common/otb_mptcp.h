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

/* Pure: counts endpoints in the text of `ip mptcp endpoint show`. */
void otb_mptcp_count_endpoints(const char *text, struct otb_mptcp_info *info);
/* Reads the sysctl and runs `ip mptcp limits/endpoint show` (startup only),
 * logs every line and warns when there is only one path. */
void otb_mptcp_report(const struct otb_logger *lg, struct otb_mptcp_info *info);

#endif
