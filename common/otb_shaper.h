/* Download shaping on the server: voice first toward the box.
 *
 * A saturating download queues at the ISP's side of each line, beyond the
 * box, where nothing reorders it. The server is the one place that sees the
 * whole download before that queue: it sends each box WAN address a little
 * less than that WAN's download rate, so the queue forms here, where HTB
 * serves voice first and bulk UDP last (otb-qos's four classes).
 *
 * The rates come from the boxes: a WAN with a "download_kbit" says it in its
 * authenticated health probes (otb_probe.h), which leave from the WAN's own
 * address, so the server learns address -> rate from key holders only. An
 * address whose probes stop (WAN lost, address changed) loses its classes
 * after OTB_SHAPER_TIMEOUT; everything goes at exit.
 *
 * On each interface given (the server's egress toward the boxes):
 *   root HTB b7b: (unclassified traffic goes direct, unshaped)
 *   b7b:N0      one per box WAN address, rate = ceil = share x download_kbit,
 *               chosen by a u32 filter on the destination address (pref N)
 *   b7b:N1..N4  voice, interactive, default, bulk UDP (prio 0..3), chosen
 *               by DSCP, ports and size as otb-qos does on the box; leaves
 *               fq_codel, or pfifo where the kernel has no fq_codel.
 * Those interfaces' gso_max_segs is 1 while shaping (restored at stop): HTB
 * must see wire-sized packets, not TCP's bursts of up to 64 KB voice would
 * wait behind.
 * tc(8) does the work (`tc -force -batch -`), once per change: a WAN that
 * appears, changes rate or goes silent. */
#ifndef OTB_SHAPER_H
#define OTB_SHAPER_H

#include <ev.h>
#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "otb_log.h"

#define OTB_SHAPER_IFACES 8
/* Box WAN addresses shaped at once (slot numbers 1..this); more are logged
 * once and left unshaped. */
#define OTB_SHAPER_SLOTS 64
/* An address unheard this long loses its classes: several probe intervals,
 * so a lost probe or two changes nothing. */
#define OTB_SHAPER_TIMEOUT 6.0
#define OTB_SHAPER_HANDLE "b7b"
/* The kernel's gso_max_segs of a new link (GSO_MAX_SEGS), for one whose driver ceiling the
 * kernel does not say. */
#define OTB_SHAPER_GSO_DEFAULT 65535

struct otb_shaper_slot {
    struct sockaddr_storage addr; /* family 0 = free */
    uint32_t kbit;                /* as the box said */
    ev_tstamp last_heard;
};

struct otb_shaper {
    struct ev_loop *loop;
    const struct otb_logger *log;
    char ifaces[OTB_SHAPER_IFACES][IFNAMSIZ];
    size_t n_ifaces;
    unsigned share_pct;
    const char *tc; /* program, default "tc" */
    bool pfifo;     /* no fq_codel here: pfifo leaves */
    bool full_logged;
    /* per interface, the gso_max_segs it had before we set 1 (0: untouched) */
    uint32_t gso_segs_was[OTB_SHAPER_IFACES];
    ev_timer timer;
    struct otb_shaper_slot slots[OTB_SHAPER_SLOTS];
    uint64_t changes, failures;
};

/* Pure: the interfaces of a "shape_downloads" value ("eth0" or
 * "wan1,wan2"). 0, or -1 with the reason in err. */
int otb_shaper_parse_ifaces(const char *list, char out[][IFNAMSIZ], size_t max, size_t *n,
                            char *err, size_t errlen);
/* Pure: the shaped rate of a WAN, kbit/s (at least 8). */
uint32_t otb_shaper_rate(uint32_t kbit, unsigned share_pct);
/* Pure: tc batch lines that add (kbit > 0) or remove (kbit == 0) slot id's
 * classes and filters for addr on iface. Bytes written (without the NUL),
 * or -1 when out is too small. */
int otb_shaper_cmds(char *out, size_t len, const char *iface, unsigned id,
                    const struct sockaddr *addr, uint32_t kbit, unsigned share_pct, bool pfifo);

/* Installs the root qdiscs (replacing a root left by an earlier run, never
 * another one). 0, or -1 (logged): nothing is left installed. */
int otb_shaper_start(struct otb_shaper *s, struct ev_loop *loop, const struct otb_logger *log,
                     const char *ifaces, unsigned share_pct);
/* An authentic probe from addr said its WAN downloads at kbit. */
void otb_shaper_note(struct otb_shaper *s, const struct sockaddr *addr, uint32_t kbit);
/* Removes everything it installed. */
void otb_shaper_stop(struct otb_shaper *s);

#endif
