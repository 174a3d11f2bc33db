#include "otb_http.h"

#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <microhttpd.h>

#include "otb_common.h"

unsigned otb_http_method_status(const char *method)
{
    return strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0 ? 0 : 405;
}

/* ------------------------------------------------------- the head check */

/* RFC 9110 5.6.2: an octet of a method or a field name. */
static bool otb_http_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* An octet of a request-target or a field value: visible, or obs-text. */
static bool otb_http_vchar(unsigned char c)
{
    return (c > 0x20 && c < 0x7f) || c >= 0x80;
}

enum otb_http_head otb_http_head_check(const char *buf, size_t len)
{
    static const char version[] = "HTTP/9.9"; /* 9: any digit */
    enum { START, METHOD, TARGET0, TARGET, VERSION, FIELD, NAME, VALUE } st = START;
    size_t v = 0;    /* octets of version seen */
    bool cr = false; /* the last octet was a CR: a LF must follow */

    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)buf[i];

        if (cr && c != '\n')
            return OTB_HTTP_HEAD_BAD;
        if (c == '\r' || c == '\n') { /* a line ends where one may */
            if (st != START && st != FIELD && st != VALUE &&
                !(st == VERSION && v == sizeof(version) - 1))
                return OTB_HTTP_HEAD_BAD;
            cr = c == '\r';
            if (cr)
                continue;
            if (st == FIELD) /* the empty line */
                return OTB_HTTP_HEAD_OK;
            if (st != START) /* START: an empty line before the request line */
                st = FIELD;
            continue;
        }
        switch (st) {
        case START:
        case METHOD:
            if (otb_http_tchar(c))
                st = METHOD;
            else if (c != ' ' || st == START)
                return OTB_HTTP_HEAD_BAD;
            else
                st = TARGET0;
            break;
        case TARGET0:
        case TARGET:
            if (otb_http_vchar(c))
                st = TARGET;
            else if (c != ' ' || st == TARGET0)
                return OTB_HTTP_HEAD_BAD;
            else
                st = VERSION;
            break;
        case VERSION:
            if (v == sizeof(version) - 1 ||
                !(version[v] == '9' ? c >= '0' && c <= '9' : c == (unsigned char)version[v]))
                return OTB_HTTP_HEAD_BAD;
            v++;
            break;
        case FIELD: /* a name; not SP or HTAB (obs-fold), not ':' (no name) */
        case NAME:
            if (otb_http_tchar(c))
                st = NAME;
            else if (c != ':' || st == FIELD)
                return OTB_HTTP_HEAD_BAD;
            else
                st = VALUE;
            break;
        case VALUE:
            if (!otb_http_vchar(c) && c != ' ' && c != '\t')
                return OTB_HTTP_HEAD_BAD;
            break;
        }
    }
    return OTB_HTTP_HEAD_MORE;
}

__attribute__((format(printf, 2, 0))) static void otb_http_logger(void *cls, const char *fmt,
                                                                   va_list ap)
{
    struct otb_http *h = cls;
    char line[256];

    /* Bad requests are the clients' business: debug only. */
    vsnprintf(line, sizeof(line), fmt, ap);
    line[strcspn(line, "\n")] = '\0';
    OTB_DEBUG(h->log, "http: %s", line);
}

static enum MHD_Result otb_http_queue(struct MHD_Connection *c, struct otb_http_reply *rep)
{
    struct MHD_Response *r;
    enum MHD_Result ret;

    r = MHD_create_response_from_buffer(rep->len, rep->body, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(rep->body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, rep->type);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    /* One request per connection: the next one passes the gate again. */
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
    /* The page only talks to us: no other origin, no framing. */
    MHD_add_response_header(r, "Content-Security-Policy",
                            "default-src 'none'; script-src 'unsafe-inline'; "
                            "style-src 'unsafe-inline'; connect-src 'self'; "
                            "frame-ancestors 'none'");
    if (rep->status == 405)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    ret = MHD_queue_response(c, rep->status, r);
    MHD_destroy_response(r);
    return ret;
}

static void otb_http_text(struct otb_http_reply *rep, unsigned status, const char *text)
{
    rep->status = status;
    rep->type = "text/plain; charset=utf-8";
    rep->body = strdup(text);
    rep->len = rep->body ? strlen(text) : 0;
}

static enum MHD_Result otb_http_request(void *cls, struct MHD_Connection *c, const char *url,
                                        const char *method, const char *version,
                                        const char *upload, size_t *upload_len, void **req)
{
    struct otb_http *h = cls;
    struct otb_http_reply rep = { 0 };
    unsigned status = otb_http_method_status(method);

    /* Answered at the first call, before any body: nothing we serve reads one. */
    if (status)
        otb_http_text(&rep, status, "method not allowed\n");
    else if (strcmp(version, MHD_HTTP_VERSION_1_1) == 0 &&
             !MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST))
        otb_http_text(&rep, 400, "no Host header\n"); /* RFC 9112, 3.2 */
    else if (*upload_len)
        otb_http_text(&rep, 413, "no body expected\n");
    else {
        h->handler(h->arg, url, &rep);
        if (!rep.status) {
            free(rep.body);
            otb_http_text(&rep, 404, "not found\n");
        }
    }
    if (!rep.body)
        return MHD_NO; /* out of memory: the library closes the connection */
    return otb_http_queue(c, &rep);
}

/* Paths are compared as sent: "/%00" is not "/" (nothing we serve is escaped). */
static size_t otb_http_no_unescape(void *cls, struct MHD_Connection *c, char *s)
{
    return strlen(s);
}

/* After any event: let the library work, then wait for what it waits for. */
static void otb_http_run(struct otb_http *h)
{
    MHD_UNSIGNED_LONG_LONG ms;

    MHD_run(h->daemon);
    ev_timer_stop(h->loop, &h->timer);
    if (MHD_get_timeout(h->daemon, &ms) == MHD_YES) {
        ev_timer_set(&h->timer, (ev_tstamp)ms / 1000., 0.);
        ev_timer_start(h->loop, &h->timer);
    }
}

static void otb_http_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    otb_http_run(otb_container_of(w, struct otb_http, io));
}

static void otb_http_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    otb_http_run(otb_container_of(w, struct otb_http, timer));
}

/* -------------------------------------------------------------- the gate */

static const char otb_http_bad_request[] = "HTTP/1.1 400 Bad Request\r\n"
                                           "Content-Type: text/plain; charset=utf-8\r\n"
                                           "Content-Length: 12\r\n"
                                           "Connection: close\r\n"
                                           "\r\n"
                                           "bad request\n";

static void otb_http_gate_close(struct otb_http_gate *g)
{
    ev_io_stop(g->h->loop, &g->io);
    ev_timer_stop(g->h->loop, &g->timer);
    if (g->fd >= 0)
        close(g->fd);
    g->fd = -1;
}

/* A well-formed head (or one too big for the gate: the library answers 414
 * or 431): the connection is the library's from now on. */
static void otb_http_gate_pass(struct otb_http_gate *g)
{
    struct otb_http *h = g->h;
    int fd = g->fd, one = 1;

    g->fd = -1;
    otb_http_gate_close(g);
    setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &one, sizeof(one));
    /* The library closes fd itself when it cannot take it (at its limit). */
    if (MHD_add_connection(h->daemon, fd, (struct sockaddr *)&g->addr, g->addrlen) != MHD_YES)
        OTB_DEBUG(h->log, "http: connection not taken: %s", strerror(errno));
    otb_http_run(h);
}

/* Malformed: 400. The head is read first, so that the close sends a FIN
 * after the answer rather than a reset that could overtake it. */
static void otb_http_gate_refuse(struct otb_http_gate *g, size_t n)
{
    if (recv(g->fd, g->h->head, n, 0) < 0 ||
        send(g->fd, otb_http_bad_request, sizeof(otb_http_bad_request) - 1, MSG_NOSIGNAL) < 0)
        OTB_DEBUG(g->h->log, "http: bad request: %s", strerror(errno));
    otb_http_gate_close(g);
}

static void otb_http_gate_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct otb_http_gate *g = otb_container_of(w, struct otb_http_gate, io);
    char *head = g->h->head;
    ssize_t n = recv(g->fd, head, sizeof(g->h->head), MSG_PEEK);
    int lowat;

    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    /* Reset, or closed (readable with no new byte: the end of the stream)
     * before a head was complete: nothing to answer. */
    if (n <= 0 || (size_t)n == g->seen) {
        otb_http_gate_close(g);
        return;
    }
    g->seen = (size_t)n;
    switch (otb_http_head_check(head, g->seen)) {
    case OTB_HTTP_HEAD_BAD:
        otb_http_gate_refuse(g, g->seen);
        return;
    case OTB_HTTP_HEAD_OK:
        otb_http_gate_pass(g);
        return;
    case OTB_HTTP_HEAD_MORE:
        break;
    }
    if (g->seen == sizeof(g->h->head)) {
        otb_http_gate_pass(g);
        return;
    }
    /* The peeked bytes stay readable: be woken when more arrive. */
    lowat = (int)g->seen + 1;
    if (setsockopt(g->fd, SOL_SOCKET, SO_RCVLOWAT, &lowat, sizeof(lowat)) < 0)
        otb_http_gate_close(g);
}

/* No complete head in time. */
static void otb_http_gate_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    otb_http_gate_close(otb_container_of(w, struct otb_http_gate, timer));
}

static void otb_http_accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct otb_http *h = otb_container_of(w, struct otb_http, accept_io);

    for (size_t burst = 0; burst < OTB_HTTP_MAX_CONNS; burst++) {
        struct sockaddr_storage addr;
        socklen_t len = sizeof(addr);
        struct otb_http_gate *g = NULL;
        int fd = accept4(h->listen_fd, (struct sockaddr *)&addr, &len,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);

        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                /* The connection stays queued and the socket readable: wait. */
                ev_io_stop(loop, &h->accept_io);
                ev_timer_start(loop, &h->accept_pause);
            }
            return;
        }
        for (size_t i = 0; i < OTB_HTTP_MAX_CONNS && !g; i++)
            g = h->gates[i].fd < 0 ? &h->gates[i] : NULL;
        if (!g) { /* as many heads awaited as clients served: enough */
            close(fd);
            continue;
        }
        g->fd = fd;
        g->seen = 0;
        memcpy(&g->addr, &addr, len);
        g->addrlen = len;
        ev_io_init(&g->io, otb_http_gate_io_cb, fd, EV_READ);
        ev_io_start(loop, &g->io);
        ev_timer_init(&g->timer, otb_http_gate_timer_cb, (ev_tstamp)OTB_HTTP_TIMEOUT_S, 0.);
        ev_timer_start(loop, &g->timer);
    }
}

static void otb_http_accept_pause_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct otb_http *h = otb_container_of(w, struct otb_http, accept_pause);

    ev_io_start(loop, &h->accept_io);
}

static int otb_http_listen(const char *host, unsigned port, char *err, size_t errlen)
{
    struct addrinfo hints = { .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE,
                              .ai_socktype = SOCK_STREAM };
    struct addrinfo *ai = NULL;
    char service[8];
    int fd = -1, one = 1, rc;

    snprintf(service, sizeof(service), "%u", port);
    rc = getaddrinfo(host[0] ? host : NULL, service, &hints, &ai);
    if (rc != 0) {
        snprintf(err, errlen, "metrics_address %s:%u: %s", host, port, gai_strerror(rc));
        return -1;
    }
    fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 16) < 0) {
        snprintf(err, errlen, "metrics_address %s:%u: %s", host, port, strerror(errno));
        if (fd >= 0)
            close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    return fd;
}

int otb_http_start(struct otb_http *h, struct ev_loop *loop, const struct otb_logger *log,
                   const char *host, unsigned port, otb_http_handler handler, void *arg,
                   char *err, size_t errlen)
{
    const union MHD_DaemonInfo *info;
    int fd = otb_http_listen(host, port, err, errlen);

    *h = (struct otb_http){ .loop = loop, .log = log, .handler = handler, .arg = arg,
                            .listen_fd = -1 };
    for (size_t i = 0; i < OTB_HTTP_MAX_CONNS; i++)
        h->gates[i] = (struct otb_http_gate){ .h = h, .fd = -1 };
    if (fd < 0)
        return -1;
    /* No thread flag: the library is driven by MHD_run from our loop. No
     * listening socket: connections come from the gate. */
    h->daemon = MHD_start_daemon(
        MHD_USE_EPOLL | MHD_USE_ERROR_LOG | MHD_USE_NO_LISTEN_SOCKET, 0, NULL, NULL,
        otb_http_request, h,
        MHD_OPTION_EXTERNAL_LOGGER, otb_http_logger, h, /* first: it applies to what follows */
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)OTB_HTTP_MAX_CONNS,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)OTB_HTTP_TIMEOUT_S,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)OTB_HTTP_MEMORY,
        MHD_OPTION_UNESCAPE_CALLBACK, otb_http_no_unescape, NULL, MHD_OPTION_END);
    info = h->daemon ? MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_EPOLL_FD) : NULL;
    if (!info) {
        snprintf(err, errlen, "metrics_address %s:%u: cannot start the HTTP listener", host,
                 port);
        if (h->daemon)
            MHD_stop_daemon(h->daemon);
        h->daemon = NULL;
        close(fd);
        return -1;
    }
    h->listen_fd = fd;
    ev_io_init(&h->accept_io, otb_http_accept_cb, fd, EV_READ);
    ev_io_start(loop, &h->accept_io);
    ev_timer_init(&h->accept_pause, otb_http_accept_pause_cb, 1., 0.);
    ev_io_init(&h->io, otb_http_io_cb, info->epoll_fd, EV_READ);
    ev_io_start(loop, &h->io);
    ev_timer_init(&h->timer, otb_http_timer_cb, 0., 0.);
    otb_http_run(h);
    return 0;
}

void otb_http_stop(struct otb_http *h)
{
    if (!h->daemon)
        return;
    for (size_t i = 0; i < OTB_HTTP_MAX_CONNS; i++)
        otb_http_gate_close(&h->gates[i]);
    ev_io_stop(h->loop, &h->accept_io);
    ev_timer_stop(h->loop, &h->accept_pause);
    close(h->listen_fd);
    h->listen_fd = -1;
    ev_io_stop(h->loop, &h->io);
    ev_timer_stop(h->loop, &h->timer);
    MHD_stop_daemon(h->daemon);
    h->daemon = NULL;
}
