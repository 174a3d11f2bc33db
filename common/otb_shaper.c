#include "otb_shaper.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "otb_common.h"
#include "otb_netlink.h"

extern char **environ;

enum otb_shaper_op { OTB_SHAPER_ADD, OTB_SHAPER_RATE, OTB_SHAPER_DEL };

/* The four classes of otb-qos(8), in minor order 1..4: name, HTB prio, percent of the shaped
 * rate guaranteed (all may borrow up to it). */
static const struct {
    const char *name;
    unsigned prio, pct;
} otb_shaper_classes[] = {
    { "voice", 0, 10 }, { "interactive", 1, 20 }, { "default", 2, 60 }, { "bulk", 3, 10 },
};
/* Voice never gets less than this guaranteed (kbit/s): two G.711 calls with their overhead. */
#define OTB_SHAPER_VOICE_MIN_KBIT 200
/* pfifo leaves hold this much time of the shaped rate, at least OTB_SHAPER_MIN_PACKETS. */
#define OTB_SHAPER_QUEUE_MS 100
#define OTB_SHAPER_MIN_PACKETS 20

/* ------------------------------------------------------------ pure parts */

static bool otb_shaper_ifname_ok(const char *s, size_t n)
{
    if (n == 0 || n >= IFNAMSIZ)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-' || c == '@'))
            return false;
    }
    return true;
}

int otb_shaper_parse_ifaces(const char *list, char out[][IFNAMSIZ], size_t max, size_t *n,
                            char *err, size_t errlen)
{
    const char *p = list;

    *n = 0;
    for (;;) {
        size_t len = strcspn(p, ",");
        if (!otb_shaper_ifname_ok(p, len)) {
            snprintf(err, errlen, "expected interface names separated by commas (1 to 15 of "
                     "A-Z a-z 0-9 _ . - @), got \"%.80s\"", list);
            return -1;
        }
        if (*n == max) {
            snprintf(err, errlen, "at most %zu interfaces", max);
            return -1;
        }
        memcpy(out[*n], p, len);
        out[(*n)++][len] = '\0';
        if (p[len] == '\0')
            return 0;
        p += len + 1;
    }
}

uint32_t otb_shaper_rate(uint32_t kbit, unsigned share_pct)
{
    uint64_t r = (uint64_t)kbit * share_pct / 100;

    return r < 8 ? 8 : (uint32_t)r;
}

struct otb_shaper_out {
    char *buf;
    size_t len, used;
    bool overflow;
};

static void otb_shaper_line(struct otb_shaper_out *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void otb_shaper_line(struct otb_shaper_out *o, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (o->overflow)
        return;
    va_start(ap, fmt);
    n = vsnprintf(o->buf + o->used, o->len - o->used, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n + 2 > o->len - o->used) {
        o->overflow = true;
        return;
    }
    o->used += (size_t)n;
    o->buf[o->used++] = '\n';
    o->buf[o->used] = '\0';
}

static void otb_shaper_classes_cmds(struct otb_shaper_out *o, const char *ifc, unsigned p,
                                    uint32_t rate, bool pfifo)
{
    unsigned long qlen = (unsigned long)rate * OTB_SHAPER_QUEUE_MS / 8 / 1500;

    if (qlen < OTB_SHAPER_MIN_PACKETS)
        qlen = OTB_SHAPER_MIN_PACKETS;
    otb_shaper_line(o, "class replace dev %s parent " OTB_SHAPER_HANDLE ": classid "
                    OTB_SHAPER_HANDLE ":%x htb rate %ukbit ceil %ukbit quantum 1514",
                    ifc, p, rate, rate);
    for (unsigned c = 0; c < OTB_ARRAY_LEN(otb_shaper_classes); c++) {
        uint32_t r = otb_shaper_rate(rate, otb_shaper_classes[c].pct);
        if (c == 0 && r < OTB_SHAPER_VOICE_MIN_KBIT)
            r = OTB_SHAPER_VOICE_MIN_KBIT;
        if (r > rate)
            r = rate;
        otb_shaper_line(o, "class replace dev %s parent " OTB_SHAPER_HANDLE ":%x classid "
                        OTB_SHAPER_HANDLE ":%x htb rate %ukbit ceil %ukbit prio %u quantum 1514",
                        ifc, p, p + c + 1, r, rate, otb_shaper_classes[c].prio);
        if (pfifo)
            otb_shaper_line(o, "qdisc replace dev %s parent " OTB_SHAPER_HANDLE ":%x pfifo "
                            "limit %lu", ifc, p + c + 1, qlen);
        else
            otb_shaper_line(o, "qdisc replace dev %s parent " OTB_SHAPER_HANDLE ":%x fq_codel",
                            ifc, p + c + 1);
    }
}

/* What the box's otb-qos does upward, downward: the server's datagrams carry the DSCP of
 * their association (EF for voice), its TCP the class the box gave the connection. First
 * match wins (prio order); the rest is "default". */
static void otb_shaper_filter_cmds(struct otb_shaper_out *o, const char *ifc, unsigned p,
                                   int family)
{
    bool v6 = family == AF_INET6;
    const char *proto = v6 ? "ipv6" : "ip", *l3 = v6 ? "ip6" : "ip";
    const char *tos = v6 ? "ip6 priority" : "ip tos";
    static const struct {
        unsigned prio, cls;
        const char *match; /* %1$s = "ip"/"ip6", %2$s = tos field; lengths differ per family */
    } rules[] = {
        { 10, 1, "%2$s 0xb8 0xfc" },                                  /* EF */
        { 11, 1, "%2$s 0xa0 0xfc" },                                  /* CS5 */
        { 20, 2, "%2$s 0x80 0xe0" },                                  /* CS4, AF41-43 */
        { 21, 2, "%2$s 0xc0 0xc0" },                                  /* CS6, CS7 */
        { 22, 2, "%1$s protocol 17 0xff match %1$s sport 53 0xffff" }, /* DNS answers */
        { 23, 2, "%1$s protocol 6 0xff match %1$s sport 53 0xffff" },
        { 40, 4, "%2$s 0x20 0xfc" },                                  /* CS1 */
        { 41, 4, "%1$s protocol 17 0xff match %1$s sport 443 0xffff" }, /* QUIC */
    };

    for (size_t i = 0; i < OTB_ARRAY_LEN(rules); i++) {
        char match[96];
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
        snprintf(match, sizeof(match), rules[i].match, l3, tos);
#pragma GCC diagnostic pop
        otb_shaper_line(o, "filter add dev %s parent " OTB_SHAPER_HANDLE ":%x protocol %s prio "
                        "%u u32 match %s flowid " OTB_SHAPER_HANDLE ":%x",
                        ifc, p, proto, rules[i].prio, match, p + rules[i].cls);
    }
    /* Small packets (ACKs, signalling): IPv4 total length, IPv6 payload length under 256. */
    otb_shaper_line(o, "filter add dev %s parent " OTB_SHAPER_HANDLE ":%x protocol %s prio 50 "
                    "u32 match u16 0x0000 0xff00 at %d flowid " OTB_SHAPER_HANDLE ":%x",
                    ifc, p, proto, v6 ? 4 : 2, p + 2);
    /* Without a match HTB would send the packet unshaped: the rest is default. */
    otb_shaper_line(o, "filter add dev %s parent " OTB_SHAPER_HANDLE ":%x protocol all prio 90 "
                    "u32 match u32 0 0 flowid " OTB_SHAPER_HANDLE ":%x", ifc, p, p + 3);
}

/* filters false: a new rate for a known WAN, the classes only (its filters stay). */
static int otb_shaper_cmds_op(char *out, size_t len, const char *iface, unsigned id,
                              const struct sockaddr *addr, uint32_t kbit, unsigned share_pct,
                              bool pfifo, bool filters)
{
    struct otb_shaper_out o = { .buf = out, .len = len };
    unsigned p = id << 4; /* the WAN's class; its four classes p+1..p+4 */
    char ip[INET6_ADDRSTRLEN];
    bool v6 = addr->sa_family == AF_INET6;

    if (len == 0 || id == 0 || id > OTB_SHAPER_SLOTS)
        return -1;
    out[0] = '\0';
    if (kbit == 0) {
        otb_shaper_line(&o, "filter del dev %s parent " OTB_SHAPER_HANDLE ": prio %u", iface, id);
        otb_shaper_line(&o, "filter del dev %s parent " OTB_SHAPER_HANDLE ":%x", iface, p);
        for (unsigned c = 1; c <= OTB_ARRAY_LEN(otb_shaper_classes); c++)
            otb_shaper_line(&o, "class del dev %s classid " OTB_SHAPER_HANDLE ":%x", iface,
                            p + c);
        otb_shaper_line(&o, "class del dev %s classid " OTB_SHAPER_HANDLE ":%x", iface, p);
        return o.overflow ? -1 : (int)o.used;
    }
    if (v6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)addr)->sin6_addr, ip, sizeof(ip));
    else if (addr->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)addr)->sin_addr, ip, sizeof(ip));
    else
        return -1;
    otb_shaper_classes_cmds(&o, iface, p, otb_shaper_rate(kbit, share_pct), pfifo);
    if (!filters)
        return o.overflow ? -1 : (int)o.used;
    otb_shaper_filter_cmds(&o, iface, p, addr->sa_family);
    /* Last: traffic reaches the classes only once they are complete. */
    otb_shaper_line(&o, "filter add dev %s parent " OTB_SHAPER_HANDLE ": protocol %s prio %u u32 "
                    "match %s dst %s/%d flowid " OTB_SHAPER_HANDLE ":%x", iface,
                    v6 ? "ipv6" : "ip", id, v6 ? "ip6" : "ip", ip, v6 ? 128 : 32, p);
    return o.overflow ? -1 : (int)o.used;
}

int otb_shaper_cmds(char *out, size_t len, const char *iface, unsigned id,
                    const struct sockaddr *addr, uint32_t kbit, unsigned share_pct, bool pfifo)
{
    return otb_shaper_cmds_op(out, len, iface, id, addr, kbit, share_pct, pfifo, true);
}

/* ---------------------------------------------------------------- tc runs */

/* Runs `tc [-force] -batch -` on the lines in cmds and waits for it (a few ms, on a change
 * only). quiet: its messages are expected failures. 0 when every line succeeded. */
static int otb_shaper_tc(const struct otb_shaper *s, const char *cmds, bool force, bool quiet)
{
    char *argv_force[] = { (char *)s->tc, "-force", "-batch", "-", NULL };
    char *argv_plain[] = { (char *)s->tc, "-batch", "-", NULL };
    posix_spawn_file_actions_t fa;
    int pfd[2], status = 0, devnull;
    pid_t pid;
    size_t left = strlen(cmds);
    int rc;

    if (pipe2(pfd, O_CLOEXEC) < 0)
        return -1;
    devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, pfd[0], 0);
    if (devnull >= 0) {
        posix_spawn_file_actions_adddup2(&fa, devnull, 1);
        if (quiet)
            posix_spawn_file_actions_adddup2(&fa, devnull, 2);
    }
    rc = posix_spawnp(&pid, s->tc, &fa, NULL, force ? argv_force : argv_plain, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(pfd[0]);
    if (devnull >= 0)
        close(devnull);
    if (rc != 0) {
        close(pfd[1]);
        OTB_ERR(s->log, "download shaping: cannot run %s: %s", s->tc, strerror(rc));
        return -1;
    }
    while (left > 0) { /* a few KB: within the pipe's buffer */
        ssize_t n = write(pfd[1], cmds, left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        cmds += n;
        left -= (size_t)n;
    }
    close(pfd[1]);
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

static int otb_shaper_tcf(const struct otb_shaper *s, bool force, bool quiet, const char *fmt,
                          ...) __attribute__((format(printf, 4, 5)));

static int otb_shaper_tcf(const struct otb_shaper *s, bool force, bool quiet, const char *fmt,
                          ...)
{
    char line[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    return otb_shaper_tc(s, line, force, quiet);
}

static unsigned otb_shaper_id(const struct otb_shaper *s, const struct otb_shaper_slot *sl)
{
    return (unsigned)(sl - s->slots) + 1;
}

static void otb_shaper_apply(struct otb_shaper *s, struct otb_shaper_slot *sl, uint32_t kbit,
                             bool filters)
{
    char cmds[8192];

    for (size_t i = 0; i < s->n_ifaces; i++) {
        if (otb_shaper_cmds_op(cmds, sizeof(cmds), s->ifaces[i], otb_shaper_id(s, sl),
                               (struct sockaddr *)&sl->addr, kbit, s->share_pct, s->pfifo,
                               filters) < 0)
            continue;
        s->changes++;
        if (otb_shaper_tc(s, cmds, true, kbit == 0) < 0 && kbit) {
            s->failures++;
            OTB_WARN(s->log, "download shaping on %s: tc refused part of the setup", s->ifaces[i]);
        }
    }
}

static void otb_shaper_format(const struct otb_shaper_slot *sl, char *out, size_t cap)
{
    const void *a = sl->addr.ss_family == AF_INET6
                        ? (const void *)&((const struct sockaddr_in6 *)&sl->addr)->sin6_addr
                        : (const void *)&((const struct sockaddr_in *)&sl->addr)->sin_addr;

    if (!inet_ntop(sl->addr.ss_family, a, out, (socklen_t)cap))
        snprintf(out, cap, "?");
}

/* The box WAN address of a probe's source: the port does not count (otb-redir and otb-tunnel
 * probe from the same address), an IPv4-mapped IPv6 source is IPv4. */
static bool otb_shaper_key(const struct sockaddr *sa, struct sockaddr_storage *key)
{
    memset(key, 0, sizeof(*key));
    if (sa->sa_family == AF_INET) {
        struct sockaddr_in *k = (struct sockaddr_in *)key;
        k->sin_family = AF_INET;
        k->sin_addr = ((const struct sockaddr_in *)sa)->sin_addr;
        return true;
    }
    if (sa->sa_family != AF_INET6)
        return false;
    const struct in6_addr *a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
    if (IN6_IS_ADDR_V4MAPPED(a6)) {
        struct sockaddr_in *k = (struct sockaddr_in *)key;
        k->sin_family = AF_INET;
        memcpy(&k->sin_addr, a6->s6_addr + 12, 4);
        return true;
    }
    struct sockaddr_in6 *k6 = (struct sockaddr_in6 *)key;
    k6->sin6_family = AF_INET6;
    k6->sin6_addr = *a6;
    return true;
}

void otb_shaper_note(struct otb_shaper *s, const struct sockaddr *addr, uint32_t kbit)
{
    struct sockaddr_storage key;
    struct otb_shaper_slot *sl = NULL, *free_sl = NULL;
    char ip[INET6_ADDRSTRLEN];

    if (!s->loop || !otb_shaper_key(addr, &key))
        return;
    for (size_t i = 0; i < OTB_SHAPER_SLOTS && !sl; i++) {
        if (s->slots[i].addr.ss_family == 0) {
            if (!free_sl)
                free_sl = &s->slots[i];
        } else if (memcmp(&s->slots[i].addr, &key, sizeof(key)) == 0) {
            sl = &s->slots[i];
        }
    }
    if (sl) {
        sl->last_heard = ev_now(s->loop);
        if (sl->kbit == kbit)
            return;
        otb_shaper_format(sl, ip, sizeof(ip));
        OTB_INFO(s->log, "download shaping: %s now %u kbit/s (shaped at %u)", ip, kbit,
                 otb_shaper_rate(kbit, s->share_pct));
        sl->kbit = kbit;
        otb_shaper_apply(s, sl, kbit, false);
        return;
    }
    if (!free_sl) {
        if (!s->full_logged)
            OTB_WARN(s->log, "download shaping: %d box WAN addresses already shaped, more are "
                     "not", OTB_SHAPER_SLOTS);
        s->full_logged = true;
        return;
    }
    sl = free_sl;
    sl->addr = key;
    sl->kbit = kbit;
    sl->last_heard = ev_now(s->loop);
    otb_shaper_format(sl, ip, sizeof(ip));
    OTB_INFO(s->log, "download shaping: %s at %u kbit/s (shaped at %u, voice first)", ip, kbit,
             otb_shaper_rate(kbit, s->share_pct));
    otb_shaper_apply(s, sl, kbit, true);
}

static void otb_shaper_remove(struct otb_shaper *s, struct otb_shaper_slot *sl)
{
    otb_shaper_apply(s, sl, 0, false);
    memset(sl, 0, sizeof(*sl));
}

/* Addresses whose probes stopped lose their classes: a lost WAN leaves nothing shaped. */
static void otb_shaper_timer_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct otb_shaper *s = otb_container_of(t, struct otb_shaper, timer);
    char ip[INET6_ADDRSTRLEN];

    (void)revents;
    for (size_t i = 0; i < OTB_SHAPER_SLOTS; i++) {
        struct otb_shaper_slot *sl = &s->slots[i];
        if (sl->addr.ss_family == 0 || ev_now(loop) - sl->last_heard < OTB_SHAPER_TIMEOUT)
            continue;
        otb_shaper_format(sl, ip, sizeof(ip));
        OTB_INFO(s->log, "download shaping: %s silent for %.0f s, its classes removed", ip,
                 OTB_SHAPER_TIMEOUT);
        otb_shaper_remove(s, sl);
    }
}

/* ------------------------------------------------------ segmentation */

/* TCP hands the queues super-packets of up to its pacing rate's millisecond, whatever the
 * interface's TSO/GSO features say (it segments late, after the qdisc), and HTB dequeues each
 * as one: voice then waits behind tens of KB of bulk, and the line's modem gets them as one
 * burst (measured: voice p99 +16 to +41 ms at 10 Mbit/s). The kernel caps a socket's packets
 * at its route's link's gso_max_segs: 1 on the shaped interfaces while we shape, so that the
 * queues see wire-sized packets (the CPU cost is small at box download rates), and back to
 * what it was at stop. Sockets take the cap when they connect, so this comes before any
 * box connects. A 1 found where a run that did not stop cleanly left its root qdisc was
 * that run's: the driver's ceiling (the kernel's default) goes back at stop. Failure is
 * logged, not fatal: shaping works, with coarser voice latency. */
static void otb_shaper_gso_limit(struct otb_shaper *s, size_t i, bool left_by_earlier_run)
{
    const char *ifc = s->ifaces[i];
    int ifindex = (int)if_nametoindex(ifc), rc;
    uint32_t segs = 0, ceiling = 0;

    s->gso_segs_was[i] = 0;
    if (ifindex == 0)
        rc = -errno;
    else if ((rc = otb_nl_link_segs(ifindex, &segs, &ceiling)) == 0 && segs > 1)
        rc = otb_nl_set_link_gso_max_segs(ifindex, 1);
    if (rc < 0) {
        OTB_WARN(s->log, "download shaping: cannot set gso_max_segs 1 on %s (%s): voice may "
                 "wait behind TCP bursts of up to 64 KB (ip link set dev %s gso_max_segs 1)",
                 ifc, strerror(-rc), ifc);
        return;
    }
    if (segs > 1) {
        s->gso_segs_was[i] = segs;
        OTB_INFO(s->log, "download shaping: gso_max_segs 1 on %s while shaping (was %" PRIu32
                 "): wire-sized packets through the queues", ifc, segs);
    } else if (left_by_earlier_run) {
        s->gso_segs_was[i] = ceiling > 1 ? ceiling : OTB_SHAPER_GSO_DEFAULT;
        OTB_INFO(s->log, "download shaping: gso_max_segs 1 on %s left by an earlier run, %"
                 PRIu32 " at stop", ifc, s->gso_segs_was[i]);
    }
}

static void otb_shaper_gso_restore(struct otb_shaper *s, size_t i)
{
    int ifindex, rc;

    if (s->gso_segs_was[i] == 0)
        return;
    ifindex = (int)if_nametoindex(s->ifaces[i]);
    rc = ifindex ? otb_nl_set_link_gso_max_segs(ifindex, s->gso_segs_was[i]) : -errno;
    if (rc < 0)
        OTB_WARN(s->log, "download shaping: cannot set gso_max_segs of %s back to %" PRIu32
                 ": %s", s->ifaces[i], s->gso_segs_was[i], strerror(-rc));
    s->gso_segs_was[i] = 0;
}

/* Removes our root qdisc of interface i (with the handle: never someone else's); whether
 * there was one. */
static bool otb_shaper_del_root(const struct otb_shaper *s, size_t i)
{
    return otb_shaper_tcf(s, false, true, "qdisc del dev %s root handle " OTB_SHAPER_HANDLE ":",
                          s->ifaces[i]) == 0;
}

static void otb_shaper_del_roots(struct otb_shaper *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        (void)otb_shaper_del_root(s, i);
        otb_shaper_gso_restore(s, i);
    }
}

int otb_shaper_start(struct otb_shaper *s, struct ev_loop *loop, const struct otb_logger *log,
                     const char *ifaces, unsigned share_pct)
{
    char err[160];

    s->log = log;
    if (!s->tc)
        s->tc = "tc";
    s->share_pct = share_pct;
    if (otb_shaper_parse_ifaces(ifaces, s->ifaces, OTB_SHAPER_IFACES, &s->n_ifaces, err,
                                sizeof(err)) < 0) {
        OTB_ERR(log, "shape_downloads: %s", err);
        return -1;
    }
    for (size_t i = 0; i < s->n_ifaces; i++) {
        bool left = otb_shaper_del_root(s, i); /* by a run that did not stop cleanly */
        if (otb_shaper_tcf(s, false, false, "qdisc add dev %s root handle " OTB_SHAPER_HANDLE
                           ": htb", s->ifaces[i]) < 0) {
            OTB_ERR(log, "download shaping: cannot install HTB on %s (no such interface, no "
                    "CAP_NET_ADMIN, or another root qdisc there: tc qdisc show dev %s)",
                    s->ifaces[i], s->ifaces[i]);
            otb_shaper_del_roots(s, i);
            return -1;
        }
        otb_shaper_gso_limit(s, i, left);
    }
    /* fq_codel leaves where the kernel has it, pfifo otherwise. */
    s->pfifo = otb_shaper_tcf(s, false, true, "class add dev %s parent " OTB_SHAPER_HANDLE
                              ": classid " OTB_SHAPER_HANDLE ":ffff htb rate 8kbit\n"
                              "qdisc add dev %s parent " OTB_SHAPER_HANDLE ":ffff fq_codel",
                              s->ifaces[0], s->ifaces[0]) < 0;
    (void)otb_shaper_tcf(s, true, true, "class del dev %s classid " OTB_SHAPER_HANDLE ":ffff",
                         s->ifaces[0]);
    s->loop = loop;
    ev_timer_init(&s->timer, otb_shaper_timer_cb, 1., 1.);
    ev_timer_start(loop, &s->timer);
    OTB_INFO(log, "download shaping on %s: each box WAN that sends its download_kbit is shaped "
             "at %u%% of it, voice first (%s leaves)", ifaces, share_pct,
             s->pfifo ? "pfifo" : "fq_codel");
    return 0;
}

void otb_shaper_stop(struct otb_shaper *s)
{
    if (!s->loop)
        return;
    ev_timer_stop(s->loop, &s->timer);
    otb_shaper_del_roots(s, s->n_ifaces);
    s->loop = NULL;
}
