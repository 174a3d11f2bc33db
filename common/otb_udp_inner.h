/* Inside the UDP relay: what its files share. Programs use otb_udprelay.h.
 *   otb_udp_table.c   association table and names cache (pure)
 *   otb_udp_io.c      sockets, batch I/O (recvmmsg/sendmmsg slots), control messages
 *   otb_udprelay.c    the relay object: associations, listeners, salts, counters
 *   otb_udp_server.c  server role: open, replay, egress policy, names, replies to boxes
 *   otb_udp_client.c  client role: server pick, classes, TPROXY reply sockets */
#ifndef OTB_UDP_INNER_H
#define OTB_UDP_INNER_H

#include "otb_udp_dup.h"
#include "otb_udprelay.h"

/* Datagrams taken per readiness event: bounded so one busy socket cannot
 * starve the others, large enough to save most epoll round trips under load. */
#define OTB_UDP_BURST 64
/* Datagrams per recvmmsg() call. */
#define OTB_UDP_BATCH 16
/* Listener socket buffers: bursts from many LAN hosts or boxes arrive at once. */
#define OTB_UDP_SOCKBUF (1 << 20)
#define OTB_UDP_PLAIN_CAP (OTB_ADDR_MAX_LEN + OTB_UDP_MAX)
/* A 2022 packet's headers are the largest (OTB_SS22_UDP_OVERHEAD covers a
 * SIP004 salt and tag too). */
#define OTB_UDP_TX_CAP (OTB_SS22_UDP_OVERHEAD + OTB_ADDR_MAX_LEN + OTB_UDP_MAX)
/* Received datagrams start this far into their slot, leaving room to put
 * the address header right before a payload without moving it. */
#define OTB_UDP_PAYLOAD_OFF OTB_ADDR_MAX_LEN

struct otb_udp_batch {
    struct mmsghdr msgs[OTB_UDP_BATCH];
    struct iovec iov[OTB_UDP_BATCH];
    struct sockaddr_storage from[OTB_UDP_BATCH];
    union {
        struct cmsghdr align;
        /* TPROXY original destination and the packet's TOS / traffic class */
        uint8_t buf[CMSG_SPACE(sizeof(struct sockaddr_in6)) + CMSG_SPACE(sizeof(int))];
    } control[OTB_UDP_BATCH];
    uint8_t slots[OTB_UDP_BATCH][OTB_UDP_PAYLOAD_OFF + OTB_UDP_MAX];
};

enum otb_udp_dir { OTB_UDP_UP, OTB_UDP_DOWN };

/* Datagrams for one socket, sent with one sendmmsg(); message i uses slot i. */
struct otb_udp_txbatch {
    struct mmsghdr msgs[OTB_UDP_BATCH];
    struct iovec iov[OTB_UDP_BATCH];
    struct sockaddr_storage to[OTB_UDP_BATCH];
    uint32_t payload[OTB_UDP_BATCH]; /* payload bytes, for the counters */
    uint8_t dir[OTB_UDP_BATCH];
    union {
        struct cmsghdr align;
        uint8_t buf[CMSG_SPACE(sizeof(int)) + CMSG_SPACE(sizeof(struct in6_pktinfo))];
    } control[OTB_UDP_BATCH]; /* server: the DSCP of datagrams to a box; client: the WAN */
    int fd;
    unsigned n;
    uint8_t slots[OTB_UDP_BATCH][OTB_UDP_TX_CAP];
};

/* Handles one received datagram: data has OTB_UDP_PAYLOAD_OFF free bytes before it. */
typedef void (*otb_udp_rx_fn)(void *ctx, uint8_t *data, size_t len, const struct sockaddr *from,
                              struct msghdr *msg);

/* otb_udp_io.c */
int otb_udp_transparent_socket(const struct sockaddr *as);
int otb_udp_listen_socket(const struct sockaddr *sa, socklen_t len, const struct otb_sock_opts *o);
void otb_udp_tx_flush(struct otb_udprelay *r);
uint8_t *otb_udp_tx_slot(struct otb_udprelay *r, int fd);
void otb_udp_tx_commit(struct otb_udprelay *r, size_t len, const struct sockaddr *to,
                       enum otb_udp_dir dir, size_t payload, int tos);
/* The same, leaving from source address src (NULL: the routing's choice):
 * an unbound socket sends each datagram by the WAN it is told. */
void otb_udp_tx_commit_from(struct otb_udprelay *r, size_t len, const struct sockaddr *to,
                            enum otb_udp_dir dir, size_t payload, int tos,
                            const struct sockaddr *src);
void otb_udp_tx_queue(struct otb_udprelay *r, int fd, const uint8_t *buf, size_t len,
                      const struct sockaddr *to, enum otb_udp_dir dir);
void otb_udp_drain(struct otb_udprelay *r, int fd, bool control, otb_udp_rx_fn fn, void *ctx);
uint16_t otb_udp_sockaddr_port(const struct sockaddr *sa);
bool otb_udp_same_sockaddr(const struct sockaddr *a, const struct sockaddr *b);

/* otb_udprelay.c */
void otb_udp_assoc_touch(struct otb_udp_assoc *a);
/* Voice by any classification the relay has (port, class, the box's DSCP). */
bool otb_udp_assoc_is_voice(const struct otb_udp_assoc *a);
void otb_udp_assoc_note_port(struct otb_udp_assoc *a, uint16_t port);
void otb_udp_sock_close(struct otb_udprelay *r, struct otb_udp_sock *s);
void otb_udp_sock_start(struct otb_udprelay *r, struct otb_udp_sock *s, int fd);
void otb_udp_assoc_close(struct otb_udp_assoc *a, uint64_t *counter);
struct otb_udp_assoc *otb_udp_assoc_get(struct otb_udprelay *r, struct otb_udp_listener *via,
                                        const struct sockaddr *peer, uint8_t sub);
/* Server, 2022: the association of a client session ID, created if needed
 * (*created says so); NULL if none can be made (counted). */
struct otb_udp_assoc *otb_udp_assoc_session(struct otb_udprelay *r, struct otb_udp_listener *via,
                                            const struct sockaddr *peer, const uint8_t *sid,
                                            bool *created);
struct otb_udp_assoc *otb_udp_assoc_find_session(struct otb_udprelay *r, const uint8_t *sid);
/* 2022: the relay's packet keys, for its current master. */
const struct otb_ss22_udp_key *otb_udp_ss22_key(struct otb_udprelay *r);
/* 2022: seals addr and payload as a's next packet into out; the length. */
size_t otb_udp_ss22_seal(struct otb_udp_assoc *a, const struct otb_addr *addr,
                         const uint8_t *payload, size_t len, uint8_t *out);
const uint8_t *otb_udp_salt(struct otb_udprelay *r);
size_t otb_udp_seal_with(struct otb_udprelay *r, const struct otb_addr *addr, uint8_t *payload,
                         size_t len, uint8_t *out);

/* otb_udp_server.c, otb_udp_client.c: datagrams from a listener (peers)
 * and from an association's own socket (replies) */
void otb_udp_server_datagram(void *ctx, uint8_t *data, size_t n, const struct sockaddr *from,
                             struct msghdr *msg);
void otb_udp_server_reply(void *ctx, uint8_t *data, size_t n, const struct sockaddr *from,
                          struct msghdr *msg);
void otb_udp_client_datagram(void *ctx, uint8_t *data, size_t n, const struct sockaddr *from,
                             struct msghdr *msg);
void otb_udp_client_deliver(void *ctx, uint8_t *data, size_t n, const struct sockaddr *sender,
                            struct msghdr *msg);

#endif
