#include "otb_tunnelstat.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <json-c/json.h>

#include "otb_common.h"

/* ---------------------------------------------------------------- parse */

static bool otb_tunnelstat_count(struct json_object *assoc, const char *key, uint64_t *out)
{
    struct json_object *v;

    if (!json_object_object_get_ex(assoc, key, &v) || !json_object_is_type(v, json_type_int) ||
        json_object_get_int64(v) < 0)
        return false;
    *out = (uint64_t)json_object_get_int64(v);
    return true;
}

int otb_tunnelstat_parse(const char *doc, size_t len, uint64_t *flows, uint64_t *voice,
                         char *why, size_t whylen)
{
    struct json_tokener *tok;
    struct json_object *root = NULL, *udp, *assoc;
    int rc = -1;

    if (len > INT_MAX || !(tok = json_tokener_new())) {
        snprintf(why, whylen, "unreadable status from otb-tunnel");
        return -1;
    }
    root = json_tokener_parse_ex(tok, doc, (int)len);
    if (!root || json_tokener_get_parse_end(tok) < len - (len && doc[len - 1] == '\n'))
        snprintf(why, whylen, "otb-tunnel's status is not one JSON document");
    else if (!json_object_object_get_ex(root, "udp", &udp) ||
             !json_object_object_get_ex(udp, "associations", &assoc) ||
             !otb_tunnelstat_count(assoc, "active", flows) ||
             !otb_tunnelstat_count(assoc, "voice", voice))
        snprintf(why, whylen, "otb-tunnel's status has no udp.associations");
    else
        rc = 0;
    json_object_put(root);
    json_tokener_free(tok);
    return rc;
}

/* ----------------------------------------------------------------- read */

/* Ends the read under way; why: NULL = the document is complete. */
static void otb_tunnelstat_done(struct otb_tunnelstat *t, const char *why)
{
    uint64_t flows = 0, voice = 0;
    char before[sizeof(t->why)];

    memcpy(before, t->why, sizeof(before));
    ev_io_stop(t->loop, &t->io);
    ev_timer_stop(t->loop, &t->deadline);
    if (t->fd >= 0)
        close(t->fd);
    t->fd = -1;
    if (why)
        snprintf(t->why, sizeof(t->why), "%s", why);
    else if (otb_tunnelstat_parse(t->doc, t->len, &flows, &voice, t->why, sizeof(t->why)) == 0)
        t->why[0] = '\0';
    if (strcmp(before, t->why) != 0) /* a change, not every second */
        OTB_INFO(t->log, "otb-tunnel's status %s%s", t->why[0] ? "unavailable: " : "read",
                 t->why);
    t->ok = !t->why[0];
    t->flows = flows;
    t->voice = voice;
    free(t->doc);
    t->doc = NULL;
    t->len = 0;
}

/* The socket failed with err: no socket file or no listener on it is
 * otb-tunnel not running. */
static void otb_tunnelstat_fail(struct otb_tunnelstat *t, int err)
{
    char why[sizeof(t->why)];

    snprintf(why, sizeof(why), "%s (%s: %s)",
             err == ENOENT || err == ECONNREFUSED ? "otb-tunnel is not running"
                                                  : "cannot read otb-tunnel's status",
             t->path, strerror(err));
    otb_tunnelstat_done(t, why);
}

static void otb_tunnelstat_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct otb_tunnelstat *t = otb_container_of(w, struct otb_tunnelstat, io);
    char chunk[4096], *grown;
    ssize_t n = recv(t->fd, chunk, sizeof(chunk), 0);

    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (n < 0) {
        otb_tunnelstat_fail(t, errno);
        return;
    }
    if (n == 0) { /* the document ends with the connection */
        otb_tunnelstat_done(t, NULL);
        return;
    }
    if (t->len + (size_t)n > OTB_TUNNELSTAT_MAX || !(grown = realloc(t->doc, t->len + (size_t)n))) {
        otb_tunnelstat_done(t, "otb-tunnel's status is too large");
        return;
    }
    t->doc = grown;
    memcpy(t->doc + t->len, chunk, (size_t)n);
    t->len += (size_t)n;
}

static void otb_tunnelstat_deadline_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    otb_tunnelstat_done(otb_container_of(w, struct otb_tunnelstat, deadline),
                        "no answer from otb-tunnel in time");
}

static void otb_tunnelstat_poll_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct otb_tunnelstat *t = otb_container_of(w, struct otb_tunnelstat, poll);
    struct sockaddr_un sun = { .sun_family = AF_UNIX };

    if (t->fd >= 0) /* the previous read is still under way */
        return;
    snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", t->path);
    t->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    /* A non-blocking unix connect completes at once or fails (EAGAIN:
     * otb-tunnel's backlog is full; tried again at the next poll). */
    if (t->fd < 0 || connect(t->fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
        otb_tunnelstat_fail(t, errno);
        return;
    }
    ev_io_set(&t->io, t->fd, EV_READ);
    ev_io_start(loop, &t->io);
    ev_timer_set(&t->deadline, OTB_TUNNELSTAT_DEADLINE, 0.);
    ev_timer_start(loop, &t->deadline);
}

void otb_tunnelstat_start(struct otb_tunnelstat *t, struct ev_loop *loop,
                          const struct otb_logger *log, const char *path)
{
    *t = (struct otb_tunnelstat){ .loop = loop, .log = log, .fd = -1 };
    snprintf(t->path, sizeof(t->path), "%s", path);
    snprintf(t->why, sizeof(t->why), "otb-tunnel's status not read yet");
    ev_init(&t->io, otb_tunnelstat_io_cb);
    ev_init(&t->deadline, otb_tunnelstat_deadline_cb);
    ev_timer_init(&t->poll, otb_tunnelstat_poll_cb, 0., OTB_TUNNELSTAT_INTERVAL);
    ev_timer_start(loop, &t->poll);
}

void otb_tunnelstat_stop(struct otb_tunnelstat *t)
{
    if (!t->loop)
        return;
    ev_timer_stop(t->loop, &t->poll);
    ev_io_stop(t->loop, &t->io);
    ev_timer_stop(t->loop, &t->deadline);
    if (t->fd >= 0)
        close(t->fd);
    t->fd = -1;
    free(t->doc);
    t->doc = NULL;
    t->loop = NULL;
}

void otb_tunnelstat_write_json(const struct otb_tunnelstat *t, FILE *out)
{
    struct json_object *why;

    if (t->ok) {
        fprintf(out, ",\"tunnel\":{\"associations\":{\"active\":%llu,\"voice\":%llu}}",
                (unsigned long long)t->flows, (unsigned long long)t->voice);
        return;
    }
    why = json_object_new_string(t->why); /* the path may hold any character */
    fprintf(out, ",\"tunnel\":{\"error\":%s}",
            why ? json_object_to_json_string_ext(why, JSON_C_TO_STRING_PLAIN) : "\"\"");
    json_object_put(why);
}
