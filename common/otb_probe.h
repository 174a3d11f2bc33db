/* WAN health probes: the box asks the server "are you there?" through each
 * WAN, the server answers. A probe is 12 bytes of UDP payload to the
 * server's port: [seq:4][mac:8], the reply [seq:4][mac:8] with another MAC.
 * The MAC is keyed SipHash-2-4 with a key derived from the master key, so a
 * stranger can neither make a dead WAN look healthy (forge a reply) nor use
 * the server to answer anything but a copy of a real probe (no
 * amplification: a reply is the size of its probe). No Shadowsocks datagram
 * is this short (salt + tag alone are 32 bytes or more), so the server tells
 * a probe from relay traffic by its length. Probes cost 40 bytes on the wire
 * each way.
 *
 * A box may say its WAN's download rate in the probe: 16 bytes,
 * [seq:4][download_kbit:4][mac:8], the MAC also covering the rate (and
 * keyed apart from the 12-byte one, so neither passes for the other). The
 * server answers it with the plain 12-byte reply (never bigger than the
 * probe) and learns the rate of the address the probe came from, which is
 * the WAN's own (otb_shaper.h: download shaping). A server that predates it
 * leaves it unanswered, so a box sends it only for WANs with a
 * "download_kbit". */
#ifndef OTB_PROBE_H
#define OTB_PROBE_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "otb_crypto.h"
#include "otb_log.h"

struct otb_shaper;

#define OTB_PROBE_LEN 12
#define OTB_PROBE_RATE_LEN 16

/* Pure: the probe with sequence number seq under master's key. */
void otb_probe_request(const struct otb_master *m, uint32_t seq, uint8_t out[OTB_PROBE_LEN]);
/* Pure: whether buf is an authentic probe; its sequence number in *seq. */
bool otb_probe_check_request(const struct otb_master *m, const uint8_t *buf, size_t len,
                             uint32_t *seq);
/* Pure: the probe carrying a download rate (kbit/s, > 0). */
void otb_probe_request_rate(const struct otb_master *m, uint32_t seq, uint32_t download_kbit,
                            uint8_t out[OTB_PROBE_RATE_LEN]);
/* Pure: either kind of probe. 1 when authentic (its sequence number in
 * *seq, its rate in *download_kbit, 0 for a 12-byte probe), 0 when buf has
 * neither probe length, -1 when it has one but is not authentic. */
int otb_probe_parse_request(const struct otb_master *m, const uint8_t *buf, size_t len,
                            uint32_t *seq, uint32_t *download_kbit);
/* Pure: the reply to probe seq. */
void otb_probe_reply(const struct otb_master *m, uint32_t seq, uint8_t out[OTB_PROBE_LEN]);
/* Pure: whether buf is an authentic reply; its sequence number in *seq. */
bool otb_probe_check_reply(const struct otb_master *m, const uint8_t *buf, size_t len,
                           uint32_t *seq);

/* Server: answers an authentic probe read from fd (sent by from). 1 when
 * answered (the rate it carried in *download_kbit, 0 = none), -1 when buf
 * has a probe's length but is not authentic, 0 when it is not a probe. */
int otb_probe_answer(const struct otb_master *m, int fd, const uint8_t *buf, size_t len,
                     const struct sockaddr *from, uint32_t *download_kbit);

/* Server without a UDP relay: sockets that only answer probes, on the
 * addresses and port the TCP listeners use. */
struct otb_probe_listener {
    ev_io io;
    int fd;
    const struct otb_master *const *master; /* the current key (SIGHUP may replace it) */
    uint64_t *answered, *refused;
    struct otb_shaper *const *shaper; /* learns the rates probes carry; NULL = none */
    struct otb_probe_listener *next;
};

struct otb_probe_responder {
    struct ev_loop *loop;
    const struct otb_logger *log;
    const struct otb_master *master;
    struct otb_probe_listener *listeners;
    struct otb_shaper *shaper; /* download shaping (otb_shaper.h), NULL = off */
    uint64_t answered, refused;
};

/* Binds UDP host:port ("" = both families' any address). 0 or -1 (logged). */
int otb_probe_responder_listen(struct otb_probe_responder *pr, const char *host, uint16_t port);
void otb_probe_responder_close(struct otb_probe_responder *pr);

#endif
