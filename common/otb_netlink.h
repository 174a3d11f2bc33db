/* The box's view of its WANs through netlink: default routes of the main
 * table (rtnetlink) and the endpoints of the in-kernel MPTCP path manager
 * (generic netlink family "mptcp_pm"), and the endpoint backup flag; and a
 * link's GSO segment limit, which the server's download shaping lowers.
 *
 * The calls are blocking and open a socket each: they are made on state
 * changes (timers, link events), never per packet, and none waits more than
 * OTB_NL_TIMEOUT_MS for the kernel. Building requests and parsing replies are
 * pure functions over byte buffers, so they are unit-tested and fuzzed
 * without a kernel. */
#ifndef OTB_NETLINK_H
#define OTB_NETLINK_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Upper bound of one public call's wait for the kernel's replies. */
#define OTB_NL_TIMEOUT_MS 200
/* Receive buffer: the kernel sizes dump messages to what the reader offers. */
#define OTB_NL_BUF_SIZE 32768

/* One default route of the main table. */
struct otb_nl_route {
    int family;                 /* AF_INET or AF_INET6 */
    int ifindex;
    char ifname[IF_NAMESIZE];
    struct sockaddr_storage gw; /* ss_family 0 when the route has no gateway (point-to-point) */
    uint32_t metric;            /* RTA_PRIORITY, 0 when absent */
    uint32_t nh_flags;          /* RTNH_F_* of the nexthop (RTNH_F_LINKDOWN, RTNH_F_DEAD) */
};
/* Default routes (dst prefix length 0, table RT_TABLE_MAIN, unicast) of family
 * (AF_INET, AF_INET6 or AF_UNSPEC for both), sorted by family then metric;
 * at most cap. Returns the count or -errno. Includes multipath (RTA_MULTIPATH)
 * nexthops as one entry each with the route's metric. */
int otb_nl_default_routes(int family, struct otb_nl_route *out, size_t cap);

/* One MPTCP endpoint of the in-kernel path manager (`ip mptcp endpoint show`). */
struct otb_nl_endpoint {
    uint8_t id;
    struct sockaddr_storage addr; /* port 0 unless the endpoint has one */
    int ifindex;                  /* 0 when none */
    uint32_t flags;               /* MPTCP_PM_ADDR_FLAG_* */
};
/* Endpoints, at most cap. Count, or -errno (-ENOENT when the kernel has no
 * mptcp_pm generic netlink family). */
int otb_nl_mptcp_endpoints(struct otb_nl_endpoint *out, size_t cap);
/* Sets or clears the backup flag of endpoint id (other flags kept), as
 * `ip mptcp endpoint change id ID backup|nobackup`; the kernel then sends
 * MP_PRIO on existing subflows. 0 or -errno (-ENOENT: no such endpoint or
 * no mptcp_pm family). */
int otb_nl_mptcp_set_backup(uint8_t id, bool backup);

/* A link's gso_max_segs (`ip -d link show`): the most segments the stack
 * puts in one packet handed to the link's queues; and its tso_max_segs, the
 * driver's ceiling for it (0 when the kernel does not say). 0, or -errno. */
int otb_nl_link_segs(int ifindex, uint32_t *gso_max_segs, uint32_t *tso_max_segs);
/* Sets it (`ip link set dev IF gso_max_segs N`). 0 or -errno. */
int otb_nl_set_link_gso_max_segs(int ifindex, uint32_t segs);

/* ---- Pure parts: no socket, no global state. ---- */

/* Requests. Each writes one netlink message into buf and returns its length,
 * or 0 when cap is too small. seq is echoed by the kernel in its replies. */
/* RTM_GETROUTE dump of family (AF_UNSPEC for all). */
size_t otb_nl_build_route_dump(void *buf, size_t cap, int family, uint32_t seq);
/* CTRL_CMD_GETFAMILY for the generic netlink family called name. */
size_t otb_nl_build_family_query(void *buf, size_t cap, const char *name, uint32_t seq);
/* MPTCP_PM_CMD_GET_ADDR dump (all endpoints) to the family id genl_id. */
size_t otb_nl_build_endpoint_dump(void *buf, size_t cap, uint16_t genl_id, uint32_t seq);
/* MPTCP_PM_CMD_SET_FLAGS of endpoint id to flags, acknowledged. */
size_t otb_nl_build_set_flags(void *buf, size_t cap, uint16_t genl_id, uint32_t seq, uint8_t id,
                              uint32_t flags);

/* RTM_GETLINK of one link, acknowledged. */
size_t otb_nl_build_link_get(void *buf, size_t cap, uint32_t seq, int ifindex);
/* RTM_NEWLINK changing only IFLA_GSO_MAX_SEGS of a link, acknowledged. */
size_t otb_nl_build_link_gso_segs(void *buf, size_t cap, uint32_t seq, int ifindex,
                                  uint32_t segs);

/* Walking a received datagram. Calls cb on each message of sequence seq that
 * is neither an error/ack nor a done marker (other sequences are skipped);
 * a negative cb result stops the walk and is returned. Returns
 * OTB_NL_WALK_MORE when the reply goes on in another datagram, 0 on
 * NLMSG_DONE or a zero ack, the negative errno of an NLMSG_ERROR (or of
 * NLMSG_DONE), or -EBADMSG when a message header is malformed. Requests
 * other than dumps therefore ask for an ack (NLM_F_ACK), which ends them. */
#define OTB_NL_WALK_MORE 1
typedef int (*otb_nl_msg_cb)(const void *msg, size_t len, void *ctx);
int otb_nl_walk(const void *buf, size_t len, uint32_t seq, otb_nl_msg_cb cb, void *ctx);

/* Whether a datagram of an rtnetlink socket subscribed to the address
 * groups holds an address event (RTM_NEWADDR, RTM_DELADDR). Events carry
 * the sequence number of whoever made the change, so no sequence is
 * checked; a malformed header ends the walk. */
bool otb_nl_addr_event(const void *buf, size_t len);

/* Parses one RTM_NEWROUTE message (msg: the whole netlink message, len its
 * length). When it is a unicast default route of the main table, writes up
 * to cap entries (one per nexthop; ifname left empty) and returns the
 * number of nexthops, which may exceed cap. Returns 0 for any other message
 * or route, -1 when it is malformed. */
int otb_nl_parse_route(const void *msg, size_t len, struct otb_nl_route *out, size_t cap);
/* Inserts r into out[0..n) kept sorted by family then metric (equal keys
 * keep their arrival order); when full, the last in that order is dropped.
 * Returns the new count. */
size_t otb_nl_route_insert(struct otb_nl_route *out, size_t n, size_t cap,
                           const struct otb_nl_route *r);

/* Parses a generic netlink controller reply (CTRL_CMD_NEWFAMILY): 1 and *id
 * when it carries CTRL_ATTR_FAMILY_ID, 0 when it does not, -1 malformed. */
int otb_nl_parse_family_id(const void *msg, size_t len, uint16_t *id);
/* Parses one MPTCP_PM_CMD_GET_ADDR reply (genl header, then the nested
 * MPTCP_PM_ATTR_ADDR): 1 when an endpoint with an address was parsed,
 * 0 when the message carries none, -1 malformed. */
int otb_nl_parse_endpoint(const void *msg, size_t len, struct otb_nl_endpoint *out);

/* Parses one RTM_NEWLINK message: 1 and *gso when it carries
 * IFLA_GSO_MAX_SEGS (*tso: IFLA_TSO_MAX_SEGS, 0 when absent), 0 when it
 * does not (or is another message), -1 malformed. */
int otb_nl_parse_link_segs(const void *msg, size_t len, uint32_t *gso, uint32_t *tso);

#endif
