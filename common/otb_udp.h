/* Shadowsocks AEAD UDP packet codec: [salt][seal(ATYP addr port payload)][tag],
 * a fresh salt per packet and an all-zero nonce. Pure: the caller supplies
 * the salt. */
#ifndef OTB_UDP_H
#define OTB_UDP_H

#include "otb_addr.h"
#include "otb_crypto.h"

/* Largest datagram we carry (IPv4/IPv6 UDP payload limit). */
#define OTB_UDP_MAX 65535

/* Sealed size of a plaintext of len bytes. */
size_t otb_udp_sealed_len(const struct otb_master *m, size_t len);
/* Every datagram has its own salt, hence its own subkey: a is the caller's
 * long-lived cipher state (zeroed at first, otb_aead_end when done), re-keyed
 * for each packet so that no packet allocates. */

/* out must hold otb_udp_sealed_len(m, len); returns the packet length, or 0
 * if the cipher state could not be set up (out of memory). */
size_t otb_udp_seal(struct otb_aead *a, const struct otb_master *m, const uint8_t *salt,
                    const uint8_t *plain, size_t len, uint8_t *out);
/* Opens a packet into out (outcap >= len). OTB_OK with *outlen, or OTB_BAD
 * (too short, authentication failure). The salt is left at in[0..key_len). */
int otb_udp_open(struct otb_aead *a, const struct otb_master *m, const uint8_t *in, size_t len,
                 uint8_t *out, size_t outcap, size_t *outlen);
/* Open then parse the address header: OTB_OK with addr, payload offset and
 * length within out; OTB_BAD otherwise. */
int otb_udp_open_addr(struct otb_aead *a, const struct otb_master *m, const uint8_t *in, size_t len,
                      uint8_t *out, size_t outcap, struct otb_addr *addr, size_t *payload_off,
                      size_t *payload_len);

#endif
