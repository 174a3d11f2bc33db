/* The SOCKS5-style address header of Shadowsocks: [ATYP][addr][port BE].
 * Pure and allocation-free. */
#ifndef OTB_ADDR_H
#define OTB_ADDR_H

#include <netinet/in.h>
#include <sys/socket.h>

#include "otb_common.h"

#define OTB_ATYP_IPV4 1
#define OTB_ATYP_DOMAIN 3
#define OTB_ATYP_IPV6 4
#define OTB_ADDR_MAX_LEN (1 + 1 + 255 + 2)
/* Enough for a formatted, escaped address: 255 bytes as \xNN + brackets + port. */
#define OTB_ADDR_FMT_LEN (255 * 4 + 16)

struct otb_addr {
    uint8_t atyp;
    uint8_t host_len; /* domain only */
    uint16_t port;    /* host order */
    union {
        uint8_t v4[4];
        uint8_t v6[16];
        char host[256]; /* NUL-terminated; never contains NUL itself */
    } u;
};

/* OTB_OK with *consumed set, OTB_NEED_MORE, or OTB_BAD (unknown ATYP, empty
 * domain, NUL byte in the domain). */
int otb_addr_parse(const uint8_t *in, size_t len, struct otb_addr *a, size_t *consumed);
/* out must hold OTB_ADDR_MAX_LEN; returns the encoded length. */
size_t otb_addr_encode(const struct otb_addr *a, uint8_t *out);
/* AF_INET or AF_INET6 only; 0 or -EAFNOSUPPORT. */
int otb_addr_from_sockaddr(struct otb_addr *a, const struct sockaddr *sa);
/* 0, or -EINVAL for a domain (it must be resolved first). */
int otb_addr_to_sockaddr(const struct otb_addr *a, struct sockaddr_storage *ss, socklen_t *len);
/* Domain given as text: 0 or -EINVAL (empty or longer than 255). */
int otb_addr_set_domain(struct otb_addr *a, const char *host, uint16_t port);
/* "1.2.3.4:80", "[2001:db8::1]:443", "example.com:80" with peer bytes escaped. */
void otb_addr_format(const struct otb_addr *a, char *out, size_t cap);
void otb_sockaddr_format(const struct sockaddr *sa, char *out, size_t cap);

#endif
