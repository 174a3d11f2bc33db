/* Asynchronous name resolution: c-ares does the DNS work, libev tells it when
 * its sockets are ready and when its retransmit timers expire.
 *
 * User callbacks are never run from inside c-ares. Every completion is first
 * stored in its query and put on a ready list; the list is delivered either
 * right after ares_process_fd() returns or, for lookups finished inside
 * otb_dns_resolve() itself (address literals, hosts file, early c-ares
 * errors), from a zero-delay timer. This keeps two promises: the callback
 * never runs inside otb_dns_resolve(), and a callback may freely call
 * otb_dns_resolve(), otb_dns_cancel() or even otb_dns_free() without
 * re-entering c-ares. */
#include "otb_dns.h"

#include <arpa/inet.h>
#include <ares.h>
#include <ctype.h>
#include <errno.h>
#include <ev.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "otb_common.h"
#include "otb_log.h"

/* A lost UDP answer is retried once; 2 s + 4 s (c-ares doubles the timeout on
 * the second round) bounds a lookup to about 6 s per nameserver. */
#define OTB_DNS_DEFAULT_TIMEOUT_MS 2000
#define OTB_DNS_DEFAULT_TRIES 2

struct otb_dns_query {
    struct otb_dns *dns;
    otb_dns_cb cb;
    void *arg;
    struct otb_dns_query *next; /* link on the ready list */
    uint16_t port;
    bool cancelled;
    int status;
    size_t n;
    struct sockaddr_storage addrs[OTB_DNS_MAX_ADDRS];
};

struct otb_dns {
    struct ev_loop *loop;
    ares_channel channel;
    bool ipv6_first;
    ev_timer timeout_w; /* drives c-ares retransmits and timeouts */
    ev_timer deliver_w; /* zero delay: delivers what completed inside otb_dns_resolve */
    /* One heap-allocated watcher per c-ares socket. Pointers, not an array of
     * watchers, because libev keeps the address of every active watcher and
     * growing the array must not move them. */
    ev_io **socks;
    size_t nsocks;
    size_t capsocks;
    struct otb_dns_query *ready_head;
    struct otb_dns_query **ready_tail;
    size_t inflight;     /* queries whose c-ares callback is still to come */
    unsigned delivering; /* depth of otb_dns_deliver calls running callbacks */
    bool dead;           /* otb_dns_free ran inside a callback */
};

/* ---- timers ---- */

static void otb_dns_rearm(struct otb_dns *dns)
{
    struct timeval tv;
    struct timeval *tvp;

    ev_timer_stop(dns->loop, &dns->timeout_w);
    tvp = ares_timeout(dns->channel, NULL, &tv);
    if (tvp == NULL)
        return; /* nothing outstanding */
    /* One extra millisecond: libev measures from the cached loop time, so a
     * timer set exactly to the c-ares deadline can fire a hair before c-ares
     * considers it due, costing a useless wake-up. */
    ev_timer_set(&dns->timeout_w, (double)tvp->tv_sec + (double)tvp->tv_usec / 1e6 + 0.001, 0.);
    ev_timer_start(dns->loop, &dns->timeout_w);
}

/* ---- delivery ---- */

static void otb_dns_enqueue(struct otb_dns *dns, struct otb_dns_query *q)
{
    q->next = NULL;
    *dns->ready_tail = q;
    dns->ready_tail = &q->next;
    if (!ev_is_active(&dns->deliver_w))
        ev_timer_start(dns->loop, &dns->deliver_w);
}

/* Runs the callbacks of everything on the ready list. A callback may call
 * otb_dns_free: the struct then stays allocated until the loop here is done,
 * but the caller must not touch dns after this returns. */
static void otb_dns_deliver(struct otb_dns *dns)
{
    struct otb_dns_query *q = dns->ready_head;

    ev_timer_stop(dns->loop, &dns->deliver_w);
    /* Detach the list: completions queued by callbacks (a new numeric lookup)
     * wait for the next loop iteration instead of extending this one. */
    dns->ready_head = NULL;
    dns->ready_tail = &dns->ready_head;
    dns->delivering++;
    while (q != NULL) {
        struct otb_dns_query *next = q->next;

        if (!q->cancelled && !dns->dead)
            q->cb(q->arg, q->status, q->addrs, q->n);
        free(q);
        q = next;
    }
    if (--dns->delivering == 0 && dns->dead)
        free(dns);
}

static void otb_dns_deliver_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    otb_dns_deliver(otb_container_of(w, struct otb_dns, deliver_w));
}

static void otb_dns_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct otb_dns *dns = otb_container_of(w, struct otb_dns, timeout_w);

    (void)loop;
    (void)revents;
    ares_process_fd(dns->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
    otb_dns_rearm(dns);
    if (dns->ready_head != NULL)
        otb_dns_deliver(dns);
}

/* ---- c-ares sockets ---- */

static void otb_dns_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct otb_dns *dns = w->data;
    /* Copied first: c-ares may close the socket and so free w. */
    ares_socket_t fd = w->fd;

    (void)loop;
    ares_process_fd(dns->channel, (revents & EV_READ) ? fd : ARES_SOCKET_BAD,
                    (revents & EV_WRITE) ? fd : ARES_SOCKET_BAD);
    otb_dns_rearm(dns);
    if (dns->ready_head != NULL)
        otb_dns_deliver(dns);
}

static size_t otb_dns_sock_find(const struct otb_dns *dns, ares_socket_t fd)
{
    size_t i;

    for (i = 0; i < dns->nsocks; i++)
        if (dns->socks[i]->fd == fd)
            break;
    return i;
}

static ev_io *otb_dns_sock_add(struct otb_dns *dns, ares_socket_t fd)
{
    ev_io *w;

    if (dns->nsocks == dns->capsocks) {
        size_t cap = dns->capsocks ? dns->capsocks * 2 : 4;
        ev_io **socks = realloc(dns->socks, cap * sizeof(*socks));

        if (socks == NULL)
            return NULL;
        dns->socks = socks;
        dns->capsocks = cap;
    }
    w = calloc(1, sizeof(*w));
    if (w == NULL)
        return NULL;
    ev_io_init(w, otb_dns_io_cb, fd, 0);
    w->data = dns;
    dns->socks[dns->nsocks++] = w;
    return w;
}

static void otb_dns_sock_remove(struct otb_dns *dns, size_t i)
{
    ev_io_stop(dns->loop, dns->socks[i]);
    free(dns->socks[i]);
    dns->socks[i] = dns->socks[--dns->nsocks];
}

/* c-ares reports every change of interest in one of its sockets here. */
static void otb_dns_sock_state_cb(void *data, ares_socket_t fd, int readable, int writable)
{
    struct otb_dns *dns = data;
    size_t i = otb_dns_sock_find(dns, fd);
    int events = (readable ? EV_READ : 0) | (writable ? EV_WRITE : 0);
    ev_io *w;

    if (events == 0) {
        if (i < dns->nsocks)
            otb_dns_sock_remove(dns, i);
        return;
    }
    if (i < dns->nsocks) {
        w = dns->socks[i];
        ev_io_stop(dns->loop, w); /* ev_io_set needs a stopped watcher */
    } else {
        w = otb_dns_sock_add(dns, fd);
        /* No way to report this to c-ares; without a watcher the query is
         * still ended by the timeout timer, so it fails rather than hangs. */
        if (w == NULL)
            return;
    }
    ev_io_set(w, fd, events);
    ev_io_start(dns->loop, w);
}

/* ---- results ---- */

static int otb_dns_map_status(int status)
{
    switch (status) {
    case ARES_SUCCESS:
        return 0;
    case ARES_ENOTFOUND:
    case ARES_ENODATA:
        return -ENOENT;
    case ARES_ETIMEOUT:
        return -ETIMEDOUT;
    default:
        return -EIO;
    }
}

/* Copies the addresses of one family, with the requested port, after those
 * already collected. */
static void otb_dns_collect_family(struct otb_dns_query *q, const struct ares_addrinfo *res,
                                   int family)
{
    const struct ares_addrinfo_node *node;

    for (node = res->nodes; node != NULL && q->n < OTB_DNS_MAX_ADDRS; node = node->ai_next) {
        struct sockaddr_storage *ss = &q->addrs[q->n];

        if (node->ai_family != family || node->ai_addr == NULL)
            continue;
        memset(ss, 0, sizeof(*ss));
        if (family == AF_INET && node->ai_addrlen >= sizeof(struct sockaddr_in)) {
            struct sockaddr_in *sin = (struct sockaddr_in *)ss;

            memcpy(sin, node->ai_addr, sizeof(*sin));
            sin->sin_port = htons(q->port);
        } else if (family == AF_INET6 && node->ai_addrlen >= sizeof(struct sockaddr_in6)) {
            struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

            memcpy(sin6, node->ai_addr, sizeof(*sin6));
            sin6->sin6_port = htons(q->port);
        } else {
            continue;
        }
        q->n++;
    }
}

static void otb_dns_collect(struct otb_dns_query *q, int status, const struct ares_addrinfo *res)
{
    int first = q->dns->ipv6_first ? AF_INET6 : AF_INET;
    int second = q->dns->ipv6_first ? AF_INET : AF_INET6;

    q->n = 0;
    q->status = otb_dns_map_status(status);
    if (q->status != 0)
        return;
    if (res != NULL) {
        otb_dns_collect_family(q, res, first);
        otb_dns_collect_family(q, res, second);
    }
    if (q->n == 0)
        q->status = -ENOENT;
}

/* Literal addresses are answered here. c-ares 1.18 fakes them only partly:
 * with AF_UNSPEC an IPv4 literal is sent to the nameservers as a name, which
 * costs a round trip (or a full timeout) and leaks the address. */
static bool otb_dns_numeric(struct otb_dns_query *q, const char *host)
{
    struct sockaddr_in *sin = (struct sockaddr_in *)&q->addrs[0];
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&q->addrs[0];

    memset(&q->addrs[0], 0, sizeof(q->addrs[0]));
    if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
        sin->sin_port = htons(q->port);
    } else if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(q->port);
    } else {
        return false;
    }
    q->status = 0;
    q->n = 1;
    return true;
}

/* Called by c-ares, possibly from inside ares_getaddrinfo(): only records the
 * result, delivery happens later from the loop. */
static void otb_dns_ares_cb(void *arg, int status, int timeouts, struct ares_addrinfo *res)
{
    struct otb_dns_query *q = arg;

    (void)timeouts;
    q->dns->inflight--;
    /* EDESTRUCTION comes from ares_destroy in otb_dns_free: the owner is gone
     * and pending callbacks are dropped by contract. */
    if (status == ARES_EDESTRUCTION || q->cancelled) {
        if (res != NULL)
            ares_freeaddrinfo(res);
        free(q);
        return;
    }
    otb_dns_collect(q, status, res);
    if (res != NULL)
        ares_freeaddrinfo(res);
    otb_dns_enqueue(q->dns, q);
}

/* ---- channel ---- */

static int otb_dns_channel_new(struct otb_dns *dns, int timeout_ms, int tries,
                               ares_channel *out)
{
    struct ares_options opts;
    int mask = ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_FLAGS |
               ARES_OPT_DOMAINS;

    memset(&opts, 0, sizeof(opts));
    opts.sock_state_cb = otb_dns_sock_state_cb;
    opts.sock_state_cb_data = dns;
    opts.timeout = timeout_ms;
    opts.tries = tries;
    /* Names come from remote clients and are meant as absolute: appending the
     * local search domains would resolve (and expose) internal names and
     * multiply the queries for every miss. ares_getaddrinfo in c-ares 1.18
     * ignores NOSEARCH, so the search list itself is emptied as well. */
    opts.flags = ARES_FLAG_NOSEARCH;
    opts.domains = NULL;
    opts.ndomains = 0;
    return ares_init_options(out, &opts, mask);
}

/* Copies the nameservers of the current channel into ch. */
static int otb_dns_copy_servers(struct otb_dns *dns, ares_channel ch)
{
    struct ares_addr_port_node *servers = NULL;
    int rc = ares_get_servers_ports(dns->channel, &servers);

    if (rc != ARES_SUCCESS)
        return rc;
    rc = ares_set_servers_ports(ch, servers);
    ares_free_data(servers);
    return rc;
}

/* c-ares 1.18 truncates an out-of-range port ("1.2.3.4:99999") instead of
 * rejecting it; checked here so that a typo is an error, not another port. */
static bool otb_dns_port_ok(const char *p, size_t len)
{
    unsigned long v = 0;
    size_t i;

    if (len == 0 || len > 5)
        return false;
    for (i = 0; i < len; i++) {
        if (!isdigit((unsigned char)p[i]))
            return false;
        v = v * 10 + (unsigned long)(p[i] - '0');
    }
    return v >= 1 && v <= 65535;
}

/* Checks the ports of "ip", "ip:port", "[v6]", "[v6]:port", "v6" elements;
 * the addresses themselves are left to c-ares. */
static bool otb_dns_ports_ok(const char *csv)
{
    while (*csv != '\0') {
        size_t len = strcspn(csv, ",");
        const char *colon = memchr(csv, ':', len);
        const char *port = NULL;

        if (len > 0 && csv[0] == '[') {
            const char *close = memchr(csv, ']', len);

            if (close != NULL && close + 1 < csv + len && close[1] == ':')
                port = close + 2;
        } else if (colon != NULL &&
                   memchr(colon + 1, ':', len - (size_t)(colon + 1 - csv)) == NULL) {
            port = colon + 1; /* exactly one colon: IPv4 with a port */
        }
        if (port != NULL && !otb_dns_port_ok(port, len - (size_t)(port - csv)))
            return false;
        csv += len;
        if (*csv == ',')
            csv++;
    }
    return true;
}

struct otb_dns *otb_dns_new(struct ev_loop *loop, const char *nameservers, bool ipv6_first,
                            char *err, size_t errlen)
{
    struct otb_dns *dns;
    int rc;

    rc = ares_library_init(ARES_LIB_INIT_ALL);
    if (rc != ARES_SUCCESS) {
        otb_log_seterr(err, errlen, "dns: c-ares init failed: %s", ares_strerror(rc));
        return NULL;
    }
    dns = calloc(1, sizeof(*dns));
    if (dns == NULL) {
        otb_log_seterr(err, errlen, "dns: out of memory");
        ares_library_cleanup();
        return NULL;
    }
    dns->loop = loop;
    dns->ipv6_first = ipv6_first;
    dns->ready_tail = &dns->ready_head;
    ev_timer_init(&dns->timeout_w, otb_dns_timeout_cb, 0., 0.);
    ev_timer_init(&dns->deliver_w, otb_dns_deliver_cb, 0., 0.);
    rc = otb_dns_channel_new(dns, OTB_DNS_DEFAULT_TIMEOUT_MS, OTB_DNS_DEFAULT_TRIES,
                             &dns->channel);
    if (rc != ARES_SUCCESS) {
        otb_log_seterr(err, errlen, "dns: resolver setup failed: %s", ares_strerror(rc));
        free(dns);
        ares_library_cleanup();
        return NULL;
    }
    if (nameservers != NULL && nameservers[0] != '\0') {
        rc = otb_dns_ports_ok(nameservers) ? ares_set_servers_ports_csv(dns->channel, nameservers)
                                           : ARES_EBADSTR;
        if (rc != ARES_SUCCESS) {
            otb_log_seterr(err, errlen, "dns: invalid nameserver list \"%s\": %s", nameservers,
                           ares_strerror(rc));
            otb_dns_free(dns);
            return NULL;
        }
    }
    return dns;
}

int otb_dns_set_timeout_ms(struct otb_dns *dns, int ms, int tries)
{
    ares_channel ch;
    int rc;

    if (ms <= 0 || tries <= 0)
        return -EINVAL;
    /* Options are fixed at channel creation, so a new channel replaces the
     * old one; destroying a channel with queries would drop them silently. */
    if (dns->inflight != 0)
        return -EBUSY;
    rc = otb_dns_channel_new(dns, ms, tries, &ch);
    if (rc != ARES_SUCCESS)
        return rc == ARES_ENOMEM ? -ENOMEM : -EIO;
    rc = otb_dns_copy_servers(dns, ch);
    if (rc != ARES_SUCCESS) {
        ares_destroy(ch);
        return rc == ARES_ENOMEM ? -ENOMEM : -EIO;
    }
    ares_destroy(dns->channel);
    dns->channel = ch;
    otb_dns_rearm(dns);
    return 0;
}

void otb_dns_free(struct otb_dns *dns)
{
    struct otb_dns_query *q;

    if (dns == NULL || dns->dead)
        return;
    /* Frees in-flight queries through ARES_EDESTRUCTION callbacks and closes
     * the sockets, which removes their watchers through otb_dns_sock_state_cb. */
    ares_destroy(dns->channel);
    ev_timer_stop(dns->loop, &dns->timeout_w);
    ev_timer_stop(dns->loop, &dns->deliver_w);
    while (dns->nsocks > 0)
        otb_dns_sock_remove(dns, dns->nsocks - 1);
    free(dns->socks);
    while ((q = dns->ready_head) != NULL) {
        dns->ready_head = q->next;
        free(q);
    }
    ares_library_cleanup();
    /* Called from a callback: otb_dns_deliver still walks its detached list
     * and frees the struct when it is done. */
    if (dns->delivering > 0) {
        dns->dead = true;
        return;
    }
    free(dns);
}

/* ---- queries ---- */

struct otb_dns_query *otb_dns_resolve(struct otb_dns *dns, const char *host, uint16_t port,
                                      otb_dns_cb cb, void *arg)
{
    struct ares_addrinfo_hints hints;
    struct otb_dns_query *q;
    char service[8];

    q = calloc(1, sizeof(*q));
    if (q == NULL)
        return NULL;
    q->dns = dns;
    q->cb = cb;
    q->arg = arg;
    q->port = port;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    /* NUMERICSERV: the service is always a number, skip getservbyname.
     * NOSORT: results are reordered by family here anyway, and the RFC 6724
     * sort costs a socket and a connect() per address. */
    hints.ai_flags = ARES_AI_NUMERICSERV | ARES_AI_NOSORT;
    snprintf(service, sizeof(service), "%u", (unsigned)port);

    if (otb_dns_numeric(q, host)) {
        otb_dns_enqueue(dns, q);
        return q;
    }
    /* Counted before the call: the callback may run inside it. */
    dns->inflight++;
    ares_getaddrinfo(dns->channel, host, service, &hints, otb_dns_ares_cb, q);
    otb_dns_rearm(dns);
    return q;
}

void otb_dns_cancel(struct otb_dns_query *q)
{
    /* Freed later by whoever holds it: the c-ares callback while the lookup
     * is running, the delivery loop once it is on the ready list. */
    if (q != NULL)
        q->cancelled = true;
}
