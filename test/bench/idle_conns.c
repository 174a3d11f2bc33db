/* Benchmark helper: holds N idle proxied connections so a proxy's memory per
 * connection can be measured.
 *
 *   idle_conns CONNECT_PORT SINK_PORT N [TIMEOUT_S]
 *
 * Listens on 127.0.0.1:SINK_PORT (the "Internet" end), then opens N TCP
 * connections to 127.0.0.1:CONNECT_PORT (e.g. an ss-tunnel whose -L target is
 * the sink). A connection counts only once the sink has accepted its far end,
 * so "ready N" proves that every connection crossed the whole chain. No byte
 * is ever sent: the connections stay idle. After "ready", the program holds
 * everything until its standard input closes, then exits 0. It exits 1 if the
 * chain did not carry N connections within TIMEOUT_S (default 60).
 *
 * Built by server_bench.sh with plain cc; it needs nothing but libc. */
#define _GNU_SOURCE /* accept4 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
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
    long want, opened, accepted;
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

/* Holds until the controlling script closes our stdin. */
static void idle_hold(void)
{
    char c;

    while (read(STDIN_FILENO, &c, 1) > 0)
        ;
}

int main(int argc, char **argv)
{
    struct idle_state s = { 0 };
    int connect_port, sink_port;
    double timeout = 60;

    if (argc < 4 || argc > 5) {
        fprintf(stderr, "usage: idle_conns CONNECT_PORT SINK_PORT N [TIMEOUT_S]\n");
        return 2;
    }
    connect_port = atoi(argv[1]);
    sink_port = atoi(argv[2]);
    s.want = atol(argv[3]);
    if (argc == 5)
        timeout = atof(argv[4]);
    if (connect_port <= 0 || sink_port <= 0 || s.want <= 0) {
        fprintf(stderr, "idle_conns: bad arguments\n");
        return 2;
    }
    idle_raise_nofile(s.want);
    s.fds = calloc((size_t)(2 * s.want + 1), sizeof(*s.fds));
    if (!s.fds)
        idle_die("calloc");
    s.sink_fd = idle_listen(sink_port);
    if (idle_fill(&s, connect_port, timeout) < 0) {
        fprintf(stderr, "idle_conns: only %ld of %ld connections reached the sink\n", s.accepted,
                s.want);
        return 1;
    }
    printf("ready %ld\n", s.accepted);
    fflush(stdout);
    idle_hold();
    return 0;
}
