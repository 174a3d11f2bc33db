/* udp_pingpong: UDP load generator and echo server for test/bench/udp_bench.sh.
 *
 *   udp_pingpong echo PORT
 *       echo server on 127.0.0.1:PORT (batched with recvmmsg/sendmmsg so it
 *       is never the bottleneck of the chain under test)
 *   udp_pingpong rtt HOST PORT COUNT SIZE [SAMPLES]
 *       one datagram in flight: COUNT round trips, prints
 *       "rtt n N lost N p50_us X p99_us X"; appends every round trip time
 *       (microseconds, one a line) to the file SAMPLES if given
 *   udp_pingpong pps HOST PORT SECONDS SIZE WINDOW FLOWS
 *       WINDOW datagrams in flight spread over FLOWS sockets (one association
 *       each), a new one sent for every echo; prints "pps X lost N"
 *
 * A datagram carries a sequence number so that late echoes of datagrams
 * declared lost are not counted as answers. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* recvmmsg, sendmmsg; the CMake build defines it already */
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_SIZE 65507
#define MAX_FLOWS 256
#define ECHO_BATCH 64
#define LOST_AFTER_MS 200

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
    perror(what);
    exit(1);
}

static struct sockaddr_in parse_addr(const char *host, const char *port)
{
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(port)) };
    if (inet_pton(AF_INET, host, &sin.sin_addr) != 1) {
        fprintf(stderr, "bad address %s\n", host);
        exit(2);
    }
    return sin;
}

static int connected_socket(const struct sockaddr_in *to)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    int buf = 4 << 20;

    if (fd < 0)
        die("socket");
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
    if (connect(fd, (const struct sockaddr *)to, sizeof(*to)) < 0)
        die("connect");
    return fd;
}

static _Noreturn void run_echo(const char *port)
{
    static uint8_t bufs[ECHO_BATCH][MAX_SIZE];
    struct sockaddr_in addr = parse_addr("127.0.0.1", port), from[ECHO_BATCH];
    struct mmsghdr msgs[ECHO_BATCH];
    struct iovec iov[ECHO_BATCH];
    int fd = socket(AF_INET, SOCK_DGRAM, 0), buf = 4 << 20;

    if (fd < 0)
        die("socket");
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
    if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
        die("bind");
    for (;;) {
        for (int i = 0; i < ECHO_BATCH; i++) {
            iov[i] = (struct iovec){ .iov_base = bufs[i], .iov_len = MAX_SIZE };
            msgs[i].msg_hdr = (struct msghdr){ .msg_name = &from[i],
                                               .msg_namelen = sizeof(from[i]),
                                               .msg_iov = &iov[i], .msg_iovlen = 1 };
        }
        int n = recvmmsg(fd, msgs, ECHO_BATCH, MSG_WAITFORONE, NULL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            die("recvmmsg");
        }
        for (int i = 0; i < n; i++)
            iov[i].iov_len = msgs[i].msg_len;
        sendmmsg(fd, msgs, (unsigned)n, 0);
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void append_samples(const char *path, const double *rtt, long n)
{
    FILE *f = fopen(path, "a");

    if (!f)
        die(path);
    for (long i = 0; i < n; i++)
        fprintf(f, "%.1f\n", rtt[i]);
    if (fclose(f) != 0)
        die(path);
}

static int run_rtt(const char *host, const char *port, long count, size_t size,
                   const char *samples)
{
    struct sockaddr_in to = parse_addr(host, port);
    int fd = connected_socket(&to);
    double *rtt = calloc((size_t)count, sizeof(*rtt));
    uint8_t *out = calloc(1, size), *in = malloc(MAX_SIZE);
    long got = 0, lost = 0;

    if (!rtt || !out || !in || size < sizeof(uint64_t))
        die("setup");
    for (uint64_t seq = 0; seq < (uint64_t)count; seq++) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        double t0 = now_s();
        memcpy(out, &seq, sizeof(seq));
        if (send(fd, out, size, 0) < 0)
            die("send");
        for (;;) {
            if (poll(&p, 1, LOST_AFTER_MS) <= 0) {
                lost++;
                break;
            }
            uint64_t echoed;
            ssize_t n = recv(fd, in, MAX_SIZE, 0);
            memcpy(&echoed, in, sizeof(echoed));
            if (n == (ssize_t)size && echoed == seq) {
                rtt[got++] = (now_s() - t0) * 1e6;
                break;
            }
        }
    }
    if (samples)
        append_samples(samples, rtt, got);
    qsort(rtt, (size_t)got, sizeof(*rtt), cmp_double);
    printf("rtt n %ld lost %ld p50_us %.1f p99_us %.1f\n", got, lost,
           got ? rtt[got / 2] : 0., got ? rtt[(got * 99) / 100] : 0.);
    return 0;
}

static int run_pps(const char *host, const char *port, double seconds, size_t size, int window,
                   int flows)
{
    struct sockaddr_in to = parse_addr(host, port);
    struct pollfd p[MAX_FLOWS];
    int inflight[MAX_FLOWS] = { 0 };
    uint8_t *buf = calloc(1, MAX_SIZE);
    long answered = 0, lost = 0;
    double start, end;

    if (flows < 1 || flows > MAX_FLOWS || window < flows || !buf)
        die("setup");
    for (int i = 0; i < flows; i++)
        p[i] = (struct pollfd){ .fd = connected_socket(&to), .events = POLLIN };
    start = now_s();
    end = start + seconds;
    while (now_s() < end) {
        for (int i = 0; i < flows; i++) {
            int want = window / flows + (i < window % flows);
            while (inflight[i] < want) {
                if (send(p[i].fd, buf, size, 0) < 0)
                    die("send");
                inflight[i]++;
            }
        }
        int r = poll(p, (nfds_t)flows, LOST_AFTER_MS);
        if (r == 0) { /* everything in flight is gone: count it and refill */
            for (int i = 0; i < flows; i++) {
                lost += inflight[i];
                inflight[i] = 0;
            }
            continue;
        }
        for (int i = 0; i < flows; i++) {
            if (!(p[i].revents & POLLIN))
                continue;
            while (recv(p[i].fd, buf, MAX_SIZE, MSG_DONTWAIT) > 0) {
                answered++;
                if (inflight[i] > 0)
                    inflight[i]--;
            }
        }
    }
    printf("pps %.0f lost %ld\n", (double)answered / (now_s() - start), lost);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "echo") == 0)
        run_echo(argv[2]);
    if ((argc == 6 || argc == 7) && strcmp(argv[1], "rtt") == 0)
        return run_rtt(argv[2], argv[3], atol(argv[4]), (size_t)atol(argv[5]),
                       argc == 7 ? argv[6] : NULL);
    if (argc == 8 && strcmp(argv[1], "pps") == 0)
        return run_pps(argv[2], argv[3], atof(argv[4]), (size_t)atol(argv[5]), atoi(argv[6]),
                       atoi(argv[7]));
    fprintf(stderr, "usage: udp_pingpong echo PORT | rtt HOST PORT COUNT SIZE [SAMPLES] |\n"
                    "       pps HOST PORT SECONDS SIZE WINDOW FLOWS\n");
    return 2;
}
