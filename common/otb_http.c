#include "otb_http.h"

#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
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

    *h = (struct otb_http){ .loop = loop, .log = log, .handler = handler, .arg = arg };
    if (fd < 0)
        return -1;
    /* No thread flag: the library is driven by MHD_run from our loop. */
    h->daemon = MHD_start_daemon(
        MHD_USE_EPOLL | MHD_USE_ERROR_LOG, 0, NULL, NULL, otb_http_request, h,
        MHD_OPTION_EXTERNAL_LOGGER, otb_http_logger, h, /* first: it applies to what follows */
        MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)OTB_HTTP_MAX_CONNS, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)OTB_HTTP_TIMEOUT_S,
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
    ev_io_init(&h->io, otb_http_io_cb, info->epoll_fd, EV_READ);
    ev_io_start(loop, &h->io);
    ev_timer_init(&h->timer, otb_http_timer_cb, 0., 0.);
    otb_http_run(h);
    return 0;
}

void otb_http_stop(struct otb_http *h)
{
    int fd;

    if (!h->daemon)
        return;
    ev_io_stop(h->loop, &h->io);
    ev_timer_stop(h->loop, &h->timer);
    fd = MHD_quiesce_daemon(h->daemon); /* the listening socket is ours to close */
    MHD_stop_daemon(h->daemon);
    if (fd >= 0)
        close(fd);
    h->daemon = NULL;
}
