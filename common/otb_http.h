/* A small read-only HTTP listener inside the program's event loop, for the
 * metrics and the status page. libmicrohttpd parses the requests and keeps
 * the connections (limit, timeout, header size); it runs without threads:
 * its epoll descriptor is one ev_io of our loop and its timeout one
 * ev_timer, so a slow or hostile HTTP client costs a socket and a few KiB,
 * never a wait in the relay's loop. Only GET and HEAD are answered; other
 * methods get 405, unknown paths 404, malformed requests 400, oversized
 * headers 431.
 *
 * The listening socket is ours: each new connection waits at a gate until
 * its request head is complete, reading it with MSG_PEEK (the bytes stay for
 * the library), and goes to the library only if the head is well-formed.
 * libmicrohttpd 0.9.75 closes without any answer a request line it cannot
 * split (random bytes, TLS on the wrong port), so the gate answers those
 * 400 itself. One request per connection (Connection: close): every
 * request passes the gate. */
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

/* Room for one request's head at the gate: what the library takes too. */
#define OTB_HTTP_HEAD_MAX OTB_HTTP_MEMORY

struct otb_http;

/* A connection at the gate. fd -1: slot free. */
struct otb_http_gate {
    struct otb_http *h;
    int fd;
    size_t seen; /* bytes of head peeked so far */
    struct sockaddr_storage addr;
    socklen_t addrlen;
    ev_io io;
    ev_timer timer;
};

struct otb_http {
    struct ev_loop *loop;
    const struct otb_logger *log;
    struct MHD_Daemon *daemon; /* NULL: not started */
    ev_io io;
    ev_timer timer;
    otb_http_handler handler;
    void *arg;
    int listen_fd;
    ev_io accept_io;
    ev_timer accept_pause; /* out of descriptors: accept again a second later */
    struct otb_http_gate gates[OTB_HTTP_MAX_CONNS];
    char head[OTB_HTTP_HEAD_MAX]; /* scratch for a peek */
};

/* Listens on addr (host:port, numeric). 0, or -1 with err. */
int otb_http_start(struct otb_http *h, struct ev_loop *loop, const struct otb_logger *log,
                   const char *host, unsigned port, otb_http_handler handler, void *arg,
                   char *err, size_t errlen);
void otb_http_stop(struct otb_http *h);

/* Pure: the status of a request before any handler (405 for methods other
 * than GET and HEAD, else 0 = route it). */
unsigned otb_http_method_status(const char *method);

enum otb_http_head {
    OTB_HTTP_HEAD_MORE, /* well-formed so far, not complete */
    OTB_HTTP_HEAD_OK,   /* a complete, well-formed head */
    OTB_HTTP_HEAD_BAD,  /* malformed whatever follows: 400 */
};
/* Pure: the first len bytes received on a connection against RFC 9112's
 * request-line and field-line grammar (one SP between the request line's
 * three parts, HTTP/D.D, token names, no control octets, no obs-fold),
 * accepting CRLF or a bare LF as line end and empty lines before the
 * request line (RFC 9112 2.2). A head that stays well-formed is MORE until
 * its empty line. */
enum otb_http_head otb_http_head_check(const char *buf, size_t len);

#endif
