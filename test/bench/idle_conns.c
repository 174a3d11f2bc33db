/* Benchmark helper: holds N idle proxied connections so a proxy's memory per
 * connection can be measured.
 *
 *   idle_conns CONNECT_PORT SINK_PORT N [TIMEOUT_S]     (N >= 2)
 *
 * Listens on 127.0.0.1:SINK_PORT (the "Internet" end), then opens N TCP
 * connections to 127.0.0.1:CONNECT_PORT (e.g. an ss-tunnel whose -L target is
 * the sink). A connection counts only once the sink has accepted its far end,
 * so "ready N" proves that every connection crossed the whole chain. No byte
 * is ever sent: the connections stay idle.
 *
 * Half way it prints "half N/2" and waits for a line on standard input, so
 * the caller can take a reading there too: the second half then shows the
 * cost of one more connection without the one-time costs the first
 * connections trigger. After "ready", it holds everything until its standard
 * input closes, then exits 0. It exits 1 if the chain did not carry the
 * connections within TIMEOUT_S (default 60) per half.
 *
 * Built by server_bench.sh with plain cc; it needs nothing but libc. */
#define _GNU_SOURCE /* accept4 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Connections whose far end has not been accepted yet. Kept small so no
 * listen backlog on the way (tunnel, server, sink) overflows. */
#define IDLE_MAX_PENDING 64

struct idle_state {
    int sink_fd;
    long want, opened, accepted; /* want: the goal of the current half */
    int *fds; /* every descriptor we hold, both ends */
    long nfds;
};

static void idle_die(const char *what)
{
    fprintf(stderr, "idle_conns: %s: %s\n", what, strerror(errno));
    exit(1);
}

static struct sockaddr_in idle_loopback(int port)
{
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return sa;
}

/* Both ends of N connections live in this process: 2N descriptors. */
static void idle_raise_nofile(long want)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        idle_die("getrlimit");
    if (rl.rlim_cur >= (rlim_t)(2 * want + 16))
        return;
    rl.rlim_cur = (rlim_t)(2 * want + 16);
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_cur > rl.rlim_max)
        rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
        idle_die("setrlimit");
}

static int idle_listen(int port)
{
    struct sockaddr_in sa = idle_loopback(port);
    int one = 1;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);

    if (fd < 0)
        idle_die("socket");
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        idle_die("bind sink");
    if (listen(fd, 4096) < 0)
        idle_die("listen");
    return fd;
}

static void idle_keep(struct idle_state *s, int fd)
{
    s->fds[s->nfds++] = fd;
}

/* Nonblocking connect: the far end is counted when the sink accepts it. */
static void idle_open_one(struct idle_state *s, int port)
{
    struct sockaddr_in sa = idle_loopback(port);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);

    if (fd < 0)
        idle_die("socket");
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS)
        idle_die("connect");
    idle_keep(s, fd);
    s->opened++;
}

static void idle_accept_all(struct idle_state *s)
{
    for (;;) {
        int fd = accept4(s->sink_fd, NULL, NULL, SOCK_NONBLOCK);

        if (fd < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                return;
            idle_die("accept");
        }
        idle_keep(s, fd);
        s->accepted++;
    }
}

static double idle_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int idle_fill(struct idle_state *s, int connect_port, double timeout)
{
    double deadline = idle_now() + timeout;

    while (s->accepted < s->want) {
        struct pollfd p = { .fd = s->sink_fd, .events = POLLIN };

        while (s->opened < s->want && s->opened - s->accepted < IDLE_MAX_PENDING)
            idle_open_one(s, connect_port);
        if (idle_now() > deadline)
            return -1;
        if (poll(&p, 1, 100) < 0 && errno != EINTR)
            idle_die("poll");
        idle_accept_all(s);
    }
    return 0;
}

/* Waits for a line from the controlling script; false once stdin is closed. */
static bool idle_wait_line(void)
{
    char c;

    while (read(STDIN_FILENO, &c, 1) > 0)
        if (c == '\n')
            return true;
    return false;
}

static int idle_reach(struct idle_state *s, long want, int connect_port, double timeout,
                      const char *label)
{
    s->want = want;
    if (idle_fill(s, connect_port, timeout) < 0) {
        fprintf(stderr, "idle_conns: only %ld of %ld connections reached the sink\n", s->accepted,
                want);
        return -1;
    }
    printf("%s %ld\n", label, s->accepted);
    fflush(stdout);
    return 0;
}

int main(int argc, char **argv)
{
    struct idle_state s = { 0 };
    int connect_port, sink_port;
    double timeout = 60;
    long total;

    if (argc < 4 || argc > 5) {
        fprintf(stderr, "usage: idle_conns CONNECT_PORT SINK_PORT N [TIMEOUT_S]\n");
        return 2;
    }
    connect_port = atoi(argv[1]);
    sink_port = atoi(argv[2]);
    total = atol(argv[3]);
    if (argc == 5)
        timeout = atof(argv[4]);
    if (connect_port <= 0 || sink_port <= 0 || total < 2) {
        fprintf(stderr, "idle_conns: bad arguments\n");
        return 2;
    }
    idle_raise_nofile(total);
    s.fds = calloc((size_t)(2 * total + 1), sizeof(*s.fds));
    if (!s.fds)
        idle_die("calloc");
    s.sink_fd = idle_listen(sink_port);
    if (idle_reach(&s, total / 2, connect_port, timeout, "half") < 0)
        return 1;
    if (!idle_wait_line())
        return 0;
    if (idle_reach(&s, total, connect_port, timeout, "ready") < 0)
        return 1;
    while (idle_wait_line())
        ;
    return 0;
}
