#include "otb_status.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include "otb_upstream.h"

static void otb_status_write_paths(const struct otb_relay *r, FILE *out)
{
    struct otb_mptcp_path paths[OTB_RELAY_MAX_PATHS];
    size_t n = otb_relay_paths(r, paths, OTB_ARRAY_LEN(paths));

    fputs(",\"paths\":[", out);
    for (size_t i = 0; i < n; i++) {
        char addr[OTB_ADDR_FMT_LEN], *colon;
        otb_sockaddr_format((struct sockaddr *)&paths[i].addr, addr, sizeof(addr));
        colon = strrchr(addr, ':'); /* the port of a subflow says nothing about the WAN */
        if (colon)
            *colon = '\0';
        fprintf(out, "%s{\"address\":\"%s\",\"sent\":%llu,\"received\":%llu}", i ? "," : "",
                addr, (unsigned long long)paths[i].sent,
                (unsigned long long)paths[i].received);
    }
    fputc(']', out);
}

static void otb_status_write_servers(const struct otb_upstreams *u, FILE *out)
{
    static const char *const health[] = { "unknown", "up", "down" };

    fputs(",\"servers\":[", out);
    for (size_t i = 0; i < u->n; i++)
        fprintf(out, "%s{\"address\":\"%s\",\"health\":\"%s\",\"failures\":%llu}",
                i ? "," : "", u->srv[i].name, health[u->srv[i].health],
                (unsigned long long)u->srv[i].failures);
    fputc(']', out);
}

static void otb_status_write_doc(const struct otb_status *st, bool counters, FILE *out)
{
    fprintf(out, "{\"program\":\"%s\",\"version\":\"%s\",\"uptime_s\":%.0f", st->program,
            OTB_VERSION, ev_now(st->loop) - st->started);
    if (st->tcp && counters) {
        fputc(',', out);
        otb_counters_write_json(&otb_tcp_counter_table, &st->tcp->stats, out);
    }
    if (st->tcp)
        otb_status_write_paths(st->tcp, out);
    if (st->upstreams)
        otb_status_write_servers(st->upstreams, out);
    if (st->upstreams && st->upstreams->wanmon.loop)
        otb_wanmon_write_json(&st->upstreams->wanmon, out);
    if (st->udp && counters)
        otb_udprelay_write_json(st->udp, out);
    if (st->extra)
        st->extra(st->extra_arg, out);
    fputs("}\n", out);
}

void otb_status_write(const struct otb_status *st, FILE *out)
{
    otb_status_write_doc(st, true, out);
}

void otb_status_log_counters(const struct otb_status *st)
{
    if (st->tcp)
        otb_relay_log_stats(st->tcp);
    if (st->udp)
        otb_udprelay_log_stats(st->udp);
}

void otb_status_log(const struct otb_status *st)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f;

    otb_status_log_counters(st);
    f = open_memstream(&text, &len);
    if (!f)
        return;
    otb_status_write_doc(st, false, f);
    fclose(f);
    if (len && text[len - 1] == '\n')
        text[len - 1] = '\0';
    OTB_INFO(st->log, "status: %s", text);
    free(text);
}

static void otb_status_accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct otb_status *st = otb_container_of(w, struct otb_status, io);
    int fd = accept4(st->fd, NULL, NULL, SOCK_CLOEXEC);
    char *text = NULL;
    size_t len = 0;
    FILE *f;

    if (fd < 0)
        return;
    f = open_memstream(&text, &len);
    if (f) {
        otb_status_write(st, f);
        fclose(f);
        /* A few KiB to a local reader: blocking send keeps it simple. */
        if (send(fd, text, len, MSG_NOSIGNAL) < 0)
            OTB_DEBUG(st->log, "status: %s", strerror(errno));
        free(text);
    }
    close(fd);
}

int otb_status_start(struct otb_status *st, const char *path, char *err, size_t errlen)
{
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    int fd;

    st->fd = -1;
    if (strlen(path) >= sizeof(sun.sun_path)) {
        snprintf(err, errlen, "status_socket %s: path too long", path);
        return -1;
    }
    snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
    snprintf(st->path, sizeof(st->path), "%s", path);
    unlink(path); /* a stale socket from a previous run */
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 || listen(fd, 8) < 0) {
        snprintf(err, errlen, "status_socket %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    st->fd = fd;
    ev_io_init(&st->io, otb_status_accept_cb, fd, EV_READ);
    ev_io_start(st->loop, &st->io);
    return 0;
}

void otb_status_stop(struct otb_status *st)
{
    if (st->fd < 0) /* never started */
        return;
    ev_io_stop(st->loop, &st->io);
    close(st->fd);
    unlink(st->path);
    st->fd = -1;
}
