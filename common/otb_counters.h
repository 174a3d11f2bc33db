/* Every counter of the suite, declared once. Each list below makes the
 * struct of its group, its keys in the status document (JSON) and its names
 * in the SIGUSR1/exit log line: to add a counter, add one line to its list
 * and increment the field where the event happens.
 *
 * X(field, json_group, json_key, log_name): json_group NULL keeps a value out
 * of the JSON, log_name NULL keeps it out of the log line. Keys of one JSON
 * group must be adjacent: the group is one object. All values are uint64_t. */
#ifndef OTB_COUNTERS_H
#define OTB_COUNTERS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* TCP relay (struct otb_relay.stats). */
#define OTB_TCP_COUNTERS(X)                                                      \
    X(active, "connections", "active", "active")                                 \
    X(accepted, "connections", "accepted", "accepted")                           \
    X(closed, "connections", "closed", "closed")                                 \
    /* times the connection cap paused accepting */                              \
    X(limit_pauses, "connections", "limit_pauses", "limit_pauses")               \
    /* box: streams started over through another WAN, their first one having      \
     * gone silent before the server acknowledged anything */                     \
    X(rerouted, "connections", "rerouted", "rerouted")                           \
    /* server, before authentication: past the fixed deadline, refused by the \
     * per-source cap, closed to make room at the connection cap */            \
    X(preauth_timeouts, "preauth", "timeouts", "preauth_timeouts")               \
    X(preauth_source_cap, "preauth", "source_cap", "preauth_source_cap")         \
    X(preauth_evicted, "preauth", "evicted", "preauth_evicted")                  \
    /* bytes written to plain sockets, to cipher sockets */                      \
    X(bytes_plain_out, "bytes", "to_plain", "bytes_to_plain")                    \
    X(bytes_cipher_out, "bytes", "to_cipher", "bytes_to_cipher")                 \
    X(auth_fail, "refused", "auth_fail", "auth_fail")                            \
    X(replay, "refused", "replay", "replay")                                     \
    X(bad_header, "refused", "bad_header", "bad_header")                         \
    X(acl_refused, "refused", "acl", "acl_refused")                              \
    /* server: boxes refused by the ACL's client lists, closed at accept */      \
    X(client_refused, "refused", "client", "client_refused")                     \
    /* box: original destination is the box itself (a loop through the server) */ \
    X(self_refused, "refused", "self", "self_refused")                           \
    /* box: LAN connections still in their SOCKS5 handshake or being sniffed,   \
     * and those closed because a per-source or global cap was reached */        \
    X(pending, "pending", "active", "pending")                                   \
    X(pending_capped, "pending", "capped", "pending_capped")                     \
    X(dns_fail, "failures", "dns", "dns_fail")                                   \
    X(connect_fail, "failures", "connect", "connect_fail")                       \
    X(timeouts, "failures", "timeouts", "timeouts")                              \
    X(errors, "failures", "errors", "errors")                                    \
    /* snapshot of the buffer pool, filled when the line is written */           \
    X(buffers_in_use, NULL, NULL, "buffers_in_use")

/* UDP relay (struct otb_udprelay.stats), under "udp" in the JSON and after
 * "udp stats:" in the log. */
#define OTB_UDP_COUNTERS(X)                                                      \
    X(assoc_active, "associations", "active", "assoc_active")                    \
    X(assoc_created, "associations", "created", "assoc_created")                 \
    X(assoc_evicted, "associations", "evicted", "assoc_evicted")                 \
    /* table full and nothing another client may take: the new one refused */ \
    X(assoc_refused, "associations", "refused", "assoc_refused")                 \
    X(assoc_expired, "associations", "expired", "assoc_expired")                 \
    /* the table's size, filled when the document is written */                  \
    X(assoc_max, "associations", "max", NULL)                                    \
    /* active ones classed voice (otb_qos), counted when the document is written */ \
    X(assoc_voice, "associations", "voice", NULL)                                \
    /* payloads sent toward the Internet (client: to the server) */              \
    X(up_packets, "up", "packets", "up_packets")                                 \
    X(up_bytes, "up", "bytes", "up_bytes")                                       \
    /* payloads delivered back (server: to boxes) */                             \
    X(down_packets, "down", "packets", "down_packets")                           \
    X(down_bytes, "down", "bytes", "down_bytes")                                 \
    /* short, bad tag, bad header, unexpected source */                          \
    X(bad, "refused", "bad", "bad")                                              \
    /* authentic but replayed salt */                                            \
    X(replay, "refused", "replay", "replay")                                     \
    /* destination refused by the outbound policy */                             \
    X(acl_refused, "refused", "acl", "acl_refused")                              \
    /* server: datagrams of boxes the ACL's client lists refuse */               \
    X(client_refused, "refused", "client", "client_refused")                     \
    /* client (TPROXY): original destination is the box itself */               \
    X(self_refused, "refused", "self", "self_refused")                           \
    /* lookups failed; datagrams dropped while one ran */                        \
    X(dns_fail, "failures", "dns", "dns_fail")                                   \
    X(dns_dropped, "failures", "dns_dropped", "dns_dropped")                     \
    /* datagrams the kernel refused (buffer full, too big...) */                 \
    X(send_errors, "failures", "send", "send_errors")                            \
    /* sockets that could not be made, allocation failures */                    \
    X(errors, "failures", "errors", "errors")                                    \
    /* client: no server to send to */                                           \
    X(no_server, "failures", "no_server", "no_server")                         \
    /* server: WAN health probes answered (otb_probe.h) */                      \
    X(probes, "probes", "answered", "probes_answered")                          \
    /* voice duplication (2022): copies sent (counted in up/down too) and the  \
     * other side's copies dropped by the packet-ID window */                   \
    X(dup_sent, "duplicates", "sent", "dup_sent")                                \
    X(dup_dropped, "duplicates", "dropped", "dup_dropped")

#define OTB_COUNTER_FIELD(field, group, key, log) uint64_t field;

struct otb_counters {
    OTB_TCP_COUNTERS(OTB_COUNTER_FIELD)
};

struct otb_udp_counters {
    OTB_UDP_COUNTERS(OTB_COUNTER_FIELD)
};

/* Where one counter goes; the tables below are made from the lists. */
struct otb_counter_desc {
    size_t offset;
    const char *group, *key; /* JSON, group NULL: not in the document */
    const char *log;         /* log line, NULL: not in the line */
};

struct otb_counter_table {
    const struct otb_counter_desc *desc;
    size_t n;
};

extern const struct otb_counter_table otb_tcp_counter_table;
extern const struct otb_counter_table otb_udp_counter_table;

/* Room for any group's log line. */
#define OTB_COUNTERS_LINE_LEN 1024

/* The value of counter d in the counters c. */
uint64_t otb_counter_get(const struct otb_counter_desc *d, const void *c);
/* "group":{"key":n,...},... for the counters c of table t (no braces around). */
void otb_counters_write_json(const struct otb_counter_table *t, const void *c, FILE *out);
/* "name n name n ..." into line (truncated to len). */
void otb_counters_format_line(const struct otb_counter_table *t, const void *c, char *line,
                              size_t len);

#endif
