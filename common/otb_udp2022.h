/* Shadowsocks 2022 UDP packet codec (SIP022 section 3.2 and 4.1). Pure: the
 * caller gives the time, the session IDs, packet IDs and nonces.
 *
 * AES methods:
 *   [AES-ECB(PSK, session ID 8 || packet ID u64 BE)]
 *   [AEAD(subkey, nonce = separate header[4..16], main header || payload)]
 *   subkey = BLAKE3 derive_key("shadowsocks 2022 session subkey", PSK || session ID)
 * 2022-blake3-chacha20-poly1305:
 *   [nonce 24][XChaCha20-Poly1305(PSK, nonce, session ID || packet ID ||
 *                                main header || payload)]
 * Main header: type (0 client, 1 server), timestamp u64 BE, then for a
 * server's packet the client's session ID, padding length u16 BE, padding,
 * ATYP addr port. Sessions guard against replays with a sliding window of
 * packet IDs (otb_ss22_window). */
#ifndef OTB_UDP2022_H
#define OTB_UDP2022_H

#include <openssl/aes.h>

#include "otb_addr.h"
#include "otb_common.h"
#include "otb_crypto.h"
#include "otb_ss2022.h"

#define OTB_SS22_SID_LEN 8
#define OTB_SS22_XNONCE_LEN 24
/* Bytes a packet adds to ATYP addr port payload at most (chacha, server
 * to client, no padding): nonce, IDs, type, time, client ID, padding
 * length, tag. */
#define OTB_SS22_UDP_OVERHEAD (OTB_SS22_XNONCE_LEN + 8 + 8 + 1 + 8 + 8 + 2 + OTB_TAG_LEN)
/* Packet IDs accepted behind the highest one seen. */
#define OTB_SS22_WINDOW 64

/* The PSK of a relay and, for the AES methods, its block cipher keys. */
struct otb_ss22_udp_key {
    const struct otb_master *master;
    AES_KEY enc, dec;
};

/* A packet's fields besides address and payload. */
struct otb_ss22_udp_msg {
    uint8_t sid[OTB_SS22_SID_LEN];        /* sender's session ID */
    uint64_t pid;                         /* sender's packet ID */
    uint8_t type;                         /* OTB_SS22_TYPE_CLIENT or _SERVER */
    uint64_t time;
    uint8_t client_sid[OTB_SS22_SID_LEN]; /* server's packets: whose session */
    uint16_t padding;
};

/* Sliding window of packet IDs: the highest seen and a bit per ID below it. */
struct otb_ss22_window {
    uint64_t top;  /* highest ID accepted + 1; 0 = none yet */
    uint64_t bits; /* bit i: ID top - 1 - i accepted */
};

/* Why a packet was refused (unit tests, counters). */
enum otb_ss22_udp_err {
    OTB_SS22_UDP_OK,
    OTB_SS22_UDP_SHORT,   /* shorter than any packet */
    OTB_SS22_UDP_AUTH,    /* authentication failed */
    OTB_SS22_UDP_TYPE,    /* not the expected direction */
    OTB_SS22_UDP_TIME,    /* timestamp more than OTB_SS22_TIME_WINDOW away */
    OTB_SS22_UDP_PADDING, /* padding past the packet */
    OTB_SS22_UDP_ADDR,    /* bad address header */
};

/* Keys of m (a 2022 method) for packets; again when the master changes. */
void otb_ss22_udp_key_init(struct otb_ss22_udp_key *k, const struct otb_master *m);
/* AES methods: the session subkey of a session ID (m->key_len bytes). */
void otb_ss22_udp_subkey(const struct otb_master *m, const uint8_t sid[OTB_SS22_SID_LEN],
                         uint8_t *subkey);
bool otb_ss22_udp_is_aes(const struct otb_master *m);

/* Sealed size of addr_len + len bytes with padding. */
size_t otb_ss22_udp_sealed_len(const struct otb_master *m, bool server, size_t padding,
                               size_t addr_len, size_t len);
/* Seals msg, the address (encoded, addr_len bytes) and payload into out
 * (otb_ss22_udp_sealed_len bytes; payload may not overlap out). AES: a is
 * keyed here with subkey (the subkey of msg->sid); chacha: nonce is the
 * packet's random nonce, a and subkey unused. Returns the length, 0 if the
 * cipher could not be set up. */
size_t otb_ss22_udp_seal(const struct otb_ss22_udp_key *k, struct otb_aead *a,
                         const uint8_t *subkey, const uint8_t *nonce,
                         const struct otb_ss22_udp_msg *msg, const uint8_t *addr,
                         size_t addr_len, const uint8_t *payload, size_t len, uint8_t *out);
/* AES methods: the session and packet IDs of a packet, from its separate
 * header (not yet authenticated: only to find the session's subkey).
 * false if too short. */
bool otb_ss22_udp_peek(const struct otb_ss22_udp_key *k, const uint8_t *in, size_t len,
                       uint8_t sid[OTB_SS22_SID_LEN]);
/* Opens a packet sent by a client (from_server false) or a server, at time
 * now: msg, the address, and where the payload is in out (outcap >= len).
 * AES: subkey is the subkey of the packet's session ID (see peek). The
 * window is the caller's (otb_ss22_window_check). OTB_SS22_UDP_OK or why not. */
enum otb_ss22_udp_err otb_ss22_udp_open(const struct otb_ss22_udp_key *k, struct otb_aead *a,
                                        const uint8_t *subkey, const uint8_t *in, size_t len,
                                        bool from_server, uint64_t now,
                                        struct otb_ss22_udp_msg *msg, uint8_t *out,
                                        size_t outcap, struct otb_addr *addr,
                                        size_t *payload_off, size_t *payload_len);

/* true (and recorded) if pid is new and not older than the window. */
bool otb_ss22_window_check(struct otb_ss22_window *w, uint64_t pid);

#endif
