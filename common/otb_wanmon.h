/* WAN health on the box. A WAN that goes silent (modem up, line dead) keeps
 * its link and its routes, so the kernel goes on sending into it: new MPTCP
 * connections start their first subflow there and UDP follows the main
 * table. This module probes each WAN through itself (from its address, on
 * its interface) toward the server in use, with authenticated probes
 * (otb_probe.h), and says which WANs answer:
 *
 *   unknown --answer--> up --silent for down_after, 2 probes lost--> down
 *   down --3 answers in a row--> up
 *
 * A healthy WAN is probed every probe_interval; after a lost probe, and
 * while down, faster, so a silence is confirmed quickly and a return seen
 * quickly. The probe timeout follows the WAN's RTT (srtt + 4 rttvar, 250 ms
 * to 1 s), and probes carry the interactive class, so a saturated WAN
 * whose queues otb-qos orders is not mistaken for a dead one.
 *
 * WANs are the config's "wans" or, without them, the interfaces of the
 * main table's default routes, rescanned every few seconds (hotplug,
 * DHCP). On a transition the module logs one line, tells the program
 * (which moves its UDP associations), flags the WAN's MPTCP endpoints
 * backup (otb-redir; restored on return) and runs the configured hook. */
#ifndef OTB_WANMON_H
#define OTB_WANMON_H

#include <ev.h>
#include <limits.h>
#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include "otb_autorate.h"
#include "otb_crypto.h"
#include "otb_log.h"
#include "otb_policy.h"

enum otb_wan_state { OTB_WAN_UNKNOWN, OTB_WAN_UP, OTB_WAN_DOWN };

/* Probes in flight per WAN: more are sent only while earlier ones may still
 * be answered, never more than this. */
#define OTB_WANMON_INFLIGHT 8
/* MPTCP endpoints flagged backup per WAN. */
#define OTB_WANMON_ENDPOINTS 4

struct otb_wanmon;

struct otb_wanmon_wan {
    struct otb_wanmon *mon;
    char name[OTB_WAN_NAME_MAX];
    char iface[IFNAMSIZ];
    uint32_t mark;  /* from "wans", 0 = none */
    uint32_t download_kbit; /* from "wans": told the server in the probes, 0 = not */
    /* "download_auto": download_kbit follows the estimate (probes 5/s for
     * its RTT samples); auto_start_kbit = the config it started from. */
    bool download_auto;
    struct otb_autorate autorate;
    uint32_t auto_start_kbit, auto_logged_kbit;
    bool present;   /* seen in the last scan (configured, or a default route) */
    struct sockaddr_storage addr; /* source address, family of the server; 0 = none */
    socklen_t addr_len;
    int fd; /* probe socket, bound to addr and iface; -1 = none */
    ev_io io;
    ev_timer timer;
    enum otb_wan_state state;
    uint32_t next_seq;
    struct {
        uint32_t seq;
        ev_tstamp sent; /* 0 = free */
    } inflight[OTB_WANMON_INFLIGHT];
    ev_tstamp last_sent, last_answer, last_change;
    ev_tstamp last_heard;      /* data answered through this WAN (otb_wanmon_traffic) */
    uint64_t rx_at_loss;       /* the interface's rx_packets at the first lost probe */
    ev_tstamp unanswered_since; /* data sent since the last answer, 0 = none */
    ev_tstamp srtt, rttvar; /* seconds; srtt 0 = no sample yet */
    unsigned lost_in_row;   /* probes lost since the last answer */
    unsigned answers_in_row;
    uint32_t recent;        /* one bit per recent probe, 1 = lost (loss %) */
    unsigned recent_n;
    uint64_t probes_sent, probes_lost, answers;
    uint8_t backup_ids[OTB_WANMON_ENDPOINTS]; /* endpoints we flagged backup */
    unsigned n_backup_ids;
};

/* The program's view of a transition: moved = what it re-routed (e.g. UDP
 * associations), for the log line. */
typedef unsigned (*otb_wanmon_change_fn)(void *arg, int wan, enum otb_wan_state state);

struct otb_wanmon {
    struct ev_loop *loop;
    const struct otb_logger *log;
    const struct otb_master *master; /* current key (replaced in place on SIGHUP) */
    const struct otb_policy *policy; /* "wans", may have none */
    struct sockaddr_storage target;  /* the server in use; port = its port */
    socklen_t target_len;
    struct otb_wanmon_wan wans[OTB_MAX_WANS];
    size_t n;
    ev_timer scan;
    ev_child child; /* hooks */
    ev_tstamp probe_interval, down_after;
    char hook[PATH_MAX];
    bool manage_endpoints; /* flag dead WANs' MPTCP endpoints backup */
    bool autorate;         /* otb_wanmon_settings.autorate */
    /* Until some WAN gets an answer, silence says nothing about the WANs
     * (the server may not answer probes): nothing is declared down. */
    bool ever_answered, silence_logged;
    ev_tstamp started;
    otb_wanmon_change_fn on_change;
    void *arg;
};

struct otb_wanmon_settings {
    ev_tstamp probe_interval; /* healthy WAN, seconds */
    ev_tstamp down_after;     /* silent this long (and 2 probes lost): down */
    const char *hook;         /* "" = none */
    bool manage_endpoints;
    /* Estimate the rate of "download_auto" WANs (otb-redir). Without, such
     * WANs' probes carry no rate: one program on the box announces it. */
    bool autorate;
};

/* Starts tracking (first scan at once). target: the server probed. */
void otb_wanmon_start(struct otb_wanmon *m, struct ev_loop *loop, const struct otb_logger *log,
                      const struct otb_master *master, const struct otb_policy *policy,
                      const struct otb_wanmon_settings *s, const struct sockaddr *target,
                      socklen_t target_len);
/* The server to probe changed (failover). */
void otb_wanmon_set_target(struct otb_wanmon *m, const struct sockaddr *target,
                           socklen_t target_len);
/* Stops probing, restores the MPTCP endpoints it flagged. */
void otb_wanmon_stop(struct otb_wanmon *m);

/* The WAN to use, skipping the WANs in the tried bit mask: up ones first
 * (in order, "backup" WANs last), then unknown ones, down ones last (a
 * connection tries each in turn). Its index, or -1 when there is no
 * candidate left (or no WAN known: the routing decides). */
int otb_wanmon_pick(const struct otb_wanmon *m, int family, uint32_t tried);
/* Source address of WAN i for family; false when it has none. */
bool otb_wanmon_source(const struct otb_wanmon *m, int i, int family,
                       struct sockaddr_storage *ss, socklen_t *len);
/* How long a first SYN on WAN i may go unanswered before the next WAN is
 * tried: a few RTTs, 250 ms to 1 s. */
ev_tstamp otb_wanmon_attempt_delay(const struct otb_wanmon *m, int i);
/* A connect through WAN i got no answer: probe it now. */
void otb_wanmon_suspect(struct otb_wanmon *m, int i);
/* Data sent through WAN i (heard false) or an answer from the server
 * through it (true). Sent data that stays unanswered for a few RTTs makes
 * the WAN suspect (fast probes) without waiting for the next probe; answers
 * count as signs of life. Called per datagram: cheap. */
void otb_wanmon_traffic(struct otb_wanmon *m, int i, bool heard);
bool otb_wanmon_is_down(const struct otb_wanmon *m, int i);
/* Index of the WAN named (or whose interface is) name, or -1. */
int otb_wanmon_find(const struct otb_wanmon *m, const char *name);

/* Pure: the state after an event, for unit tests and the timer. */
const char *otb_wanmon_state_name(enum otb_wan_state s);

/* Share of WAN w's recent probes lost, percent. */
unsigned otb_wanmon_loss_pct(const struct otb_wanmon_wan *w);
/* A counter of the interface (/sys/class/net/IFACE/statistics/WHAT), 0 if unknown. */
uint64_t otb_wanmon_ifstat(const char *iface, const char *what);
/* ,"wans":[{...},...] */
void otb_wanmon_write_json(const struct otb_wanmon *m, FILE *out);

#endif
