/* SOCKS5 (RFC 1928) CONNECT with optional username/password (RFC 1929):
 * pure parsers of the client's messages and the reply encoder. */
#ifndef OTB_SOCKS5_H
#define OTB_SOCKS5_H

#include "otb_addr.h"

#define OTB_SOCKS5_VERSION 5
#define OTB_SOCKS5_NO_AUTH 0x00
#define OTB_SOCKS5_USERPASS 0x02
#define OTB_SOCKS5_NO_METHOD 0xFF

/* Reply codes */
#define OTB_SOCKS5_OK 0x00
#define OTB_SOCKS5_FAILURE 0x01
#define OTB_SOCKS5_NOT_ALLOWED 0x02
#define OTB_SOCKS5_CMD_UNSUPPORTED 0x07
#define OTB_SOCKS5_ATYP_UNSUPPORTED 0x08

#define OTB_SOCKS5_REPLY_LEN 10

/* Greeting [5][n][methods...]: *method is the method to answer with
 * (OTB_SOCKS5_NO_METHOD when the client offers nothing acceptable).
 * OTB_BAD: not version 5 or no methods. */
int otb_socks5_parse_greeting(const uint8_t *in, size_t len, bool want_auth, uint8_t *method,
                              size_t *consumed);
/* RFC 1929 [1][ulen][user][plen][pass]: *ok tells whether they match
 * (compared in constant time). OTB_BAD: wrong version or empty user. */
int otb_socks5_parse_auth(const uint8_t *in, size_t len, const char *user, const char *pass,
                          bool *ok, size_t *consumed);
/* Request [5][cmd][0][ATYP addr port]: OTB_OK with *rep = OTB_SOCKS5_OK and
 * dst for CONNECT, or with *rep set to the refusal to send (other commands,
 * unknown address type). OTB_BAD: not version 5. */
int otb_socks5_parse_request(const uint8_t *in, size_t len, struct otb_addr *dst, uint8_t *rep,
                             size_t *consumed);
/* [5][rep][0][1][0.0.0.0][0]: returns OTB_SOCKS5_REPLY_LEN. */
size_t otb_socks5_reply(uint8_t rep, uint8_t *out);

#endif
