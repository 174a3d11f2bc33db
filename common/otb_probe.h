/* WAN health probes: the box asks the server "are you there?" through each
 * WAN, the server answers. A probe is 12 bytes of UDP payload to the
 * server's port: [seq:4][mac:8], the reply [seq:4][mac:8] with another MAC.
 * The MAC is keyed SipHash-2-4 with a key derived from the master key, so a
 * stranger can neither make a dead WAN look healthy (forge a reply) nor use
 * the server to answer anything but a copy of a real probe (no
 * amplification: a reply is the size of its probe). No Shadowsocks datagram
 * is this short (salt + tag alone are 32 bytes or more), so the server tells
 * a probe from relay traffic by its length. Probes cost 40 bytes on the wire
 * each way. */
#ifndef OTB_PROBE_H
#define OTB_PROBE_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "otb_crypto.h"
#include "otb_log.h"

#define OTB_PROBE_LEN 12

/* Pure: the probe with sequence number seq under master's key. */
void otb_probe_request(const struct otb_master *m, uint32_t seq, uint8_t out[OTB_PROBE_LEN]);
/* Pure: whether buf is an authentic probe; its sequence number in *seq. */
bool otb_probe_check_request(const struct otb_master *m, const uint8_t *buf, size_t len,
                             uint32_t *seq);
/* Pure: the reply to probe seq. */
void otb_probe_reply(const struct otb_master *m, uint32_t seq, uint8_t out[OTB_PROBE_LEN]);
/* Pure: whether buf is an authentic reply; its sequence number in *seq. */
bool otb_probe_check_reply(const struct otb_master *m, const uint8_t *buf, size_t len,
                           uint32_t *seq);

/* Server: answers an authentic probe read from fd (sent by from). 1 when
 * answered, -1 when buf has a probe's length but is not authentic, 0 when
 * it is not a probe at all. */
int otb_probe_answer(const struct otb_master *m, int fd, const uint8_t *buf, size_t len,
                      const struct sockaddr *from);

/* Server without a UDP relay: sockets that only answer probes, on the
 * addresses and port the TCP listeners use. */
struct otb_probe_listener {
    ev_io io;
    int fd;
    const struct otb_master *const *master; /* the current key (SIGHUP may replace it) */
    uint64_t *answered, *refused;
    struct otb_probe_listener *next;
};

struct otb_probe_responder {
    struct ev_loop *loop;
    const struct otb_logger *log;
    const struct otb_master *master;
    struct otb_probe_listener *listeners;
    uint64_t answered, refused;
};

/* Binds UDP host:port ("" = both families' any address). 0 or -1 (logged). */
int otb_probe_responder_listen(struct otb_probe_responder *pr, const char *host, uint16_t port);
void otb_probe_responder_close(struct otb_probe_responder *pr);

#endif
