/* A small read-only HTTP listener inside the program's event loop, for the
 * metrics and the status page. libmicrohttpd parses the requests and keeps
 * the connections (limit, timeout, header size); it runs without threads:
 * its epoll descriptor is one ev_io of our loop and its timeout one
 * ev_timer, so a slow or hostile HTTP client costs a socket and a few KiB,
 * never a wait in the relay's loop. Only GET and HEAD are answered; other
 * methods get 405, unknown paths 404, malformed requests 400 (by the
 * library), oversized headers 431. */
#ifndef OTB_HTTP_H
#define OTB_HTTP_H

#include <ev.h>
#include <stddef.h>
#include <sys/socket.h>

#include "otb_log.h"

/* Connections served at once, and how long an idle or slow one is kept. */
#define OTB_HTTP_MAX_CONNS 32
#define OTB_HTTP_TIMEOUT_S 10
/* Room for one request's headers. */
#define OTB_HTTP_MEMORY 16384

/* An answer: body is malloc'ed (freed by the listener); status 0 = 404. */
struct otb_http_reply {
    unsigned status;
    const char *type; /* Content-Type */
    char *body;
    size_t len;
};

/* Fills reply for GET path (without the query). */
typedef void (*otb_http_handler)(void *arg, const char *path, struct otb_http_reply *reply);

struct otb_http {
    struct ev_loop *loop;
    const struct otb_logger *log;
    struct MHD_Daemon *daemon; /* NULL: not started */
    ev_io io;
    ev_timer timer;
    otb_http_handler handler;
    void *arg;
};

/* Listens on addr (host:port, numeric). 0, or -1 with err. */
int otb_http_start(struct otb_http *h, struct ev_loop *loop, const struct otb_logger *log,
                   const char *host, unsigned port, otb_http_handler handler, void *arg,
                   char *err, size_t errlen);
void otb_http_stop(struct otb_http *h);

/* Pure: the status of a request before any handler (405 for methods other
 * than GET and HEAD, else 0 = route it). */
unsigned otb_http_method_status(const char *method);

#endif
