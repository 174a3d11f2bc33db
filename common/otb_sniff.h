/* Destination name sniffed from the first bytes a LAN client sends: the
 * server_name (SNI) of a TLS ClientHello or the Host header of an HTTP/1.x
 * request, so that domain rules can apply to intercepted connections whose
 * only known destination is an IP address. Pure and allocation-free: the
 * caller buffers what it received and calls again when more arrives. */
#ifndef OTB_SNIFF_H
#define OTB_SNIFF_H

#include "otb_common.h"

/* Only this many leading bytes are examined: a client that has not named
 * its destination by then is not waited for. */
#define OTB_SNIFF_MAX_INPUT 4096
/* Longest name returned; a buffer of OTB_SNIFF_HOST_MAX + 1 holds any. */
#define OTB_SNIFF_HOST_MAX 255

enum otb_sniff_kind {
    OTB_SNIFF_NONE = 0, /* nothing recognised (yet) */
    OTB_SNIFF_TLS,      /* starts like a TLS handshake record */
    OTB_SNIFF_HTTP,     /* starts like an HTTP/1.x request line */
};

/* OTB_OK: host holds the name, lowercased, NUL-terminated, 1 to 255 chars
 * of [a-z0-9._-] without empty labels (one trailing dot dropped).
 * OTB_NEED_MORE: in is a valid prefix of a message that may still name its
 * destination within OTB_SNIFF_MAX_INPUT bytes.
 * OTB_BAD: neither TLS nor HTTP/1.x, malformed, no name to find (no SNI,
 * no Host header, a bracketed IPv6 literal as Host: an address, not a
 * name), a name with other characters, a name longer than hostcap - 1, a
 * TLS server_name outside the first record, or nothing found in the first
 * OTB_SNIFF_MAX_INPUT bytes.
 * host is written only on OTB_OK. *kind (when kind is not NULL) is always
 * set to the protocol the bytes were read as. */
int otb_sniff_host(const uint8_t *in, size_t len, char *host, size_t hostcap,
                   enum otb_sniff_kind *kind);

#endif
