/* Asynchronous DNS with c-ares driven by the libev loop: never a blocking
 * getaddrinfo on the loop. */
#ifndef OTB_DNS_H
#define OTB_DNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct ev_loop;
struct otb_dns;
struct otb_dns_query;

#define OTB_DNS_MAX_ADDRS 8

/* status: 0 on success (n >= 1), or a negative errno-style code
 * (-ENOENT no such name/no address, -ETIMEDOUT, -EIO other failure).
 * addrs carry the requested port. */
typedef void (*otb_dns_cb)(void *arg, int status, const struct sockaddr_storage *addrs,
                           size_t n);

/* nameservers: NULL/"" for the system resolver configuration, or a comma
 * list "ip", "ip:port", "[v6]:port". ipv6_first orders AAAA results first;
 * otherwise IPv4 first. NULL with err filled on failure. */
struct otb_dns *otb_dns_new(struct ev_loop *loop, const char *nameservers, bool ipv6_first,
                            char *err, size_t errlen);
/* Optional: per-try timeout in milliseconds and number of tries (defaults
 * 2000 ms, 2 tries; c-ares doubles the timeout on later tries). Only while no
 * lookup is running: 0, -EBUSY, -EINVAL, -ENOMEM or -EIO. */
int otb_dns_set_timeout_ms(struct otb_dns *dns, int ms, int tries);
/* Pending queries are dropped: their callbacks are not called. */
void otb_dns_free(struct otb_dns *dns);
/* Starts a lookup; cb runs later from the loop, never from inside this call.
 * Returns a handle valid until cb runs or otb_dns_cancel is called; NULL on
 * allocation failure. */
struct otb_dns_query *otb_dns_resolve(struct otb_dns *dns, const char *host, uint16_t port,
                                      otb_dns_cb cb, void *arg);
/* The callback of q will not be called; q must not be used afterwards. */
void otb_dns_cancel(struct otb_dns_query *q);

#endif
