/* LD_PRELOAD helper of test/bench/lab_bench.sh (BENCH_CC): every IPv4/IPv6
 * stream socket the program creates (TCP or MPTCP) gets the TCP congestion
 * control named by OTB_BENCH_CC. MPTCP hands it down to its subflows. This
 * lets the benchmark compare both proxy pairs under another algorithm than
 * the machine's default, which cannot be changed here (EPERM).
 *
 * Built by the benchmark: cc -shared -fPIC -o cc_preload.so cc_preload.c -ldl */
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

int socket(int domain, int type, int protocol);

int socket(int domain, int type, int protocol)
{
    static int (*real_socket)(int, int, int);
    const char *cc = getenv("OTB_BENCH_CC");
    int fd;

    if (!real_socket)
        real_socket = (int (*)(int, int, int))dlsym(RTLD_NEXT, "socket");
    fd = real_socket(domain, type, protocol);
    /* The mask drops SOCK_NONBLOCK and SOCK_CLOEXEC. */
    if (fd >= 0 && cc && (domain == AF_INET || domain == AF_INET6) &&
        (type & 0xf) == SOCK_STREAM &&
        setsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, cc, (socklen_t)strlen(cc)) < 0) {
        int saved = errno;

        /* Said in the program's log, so a run that kept the default shows. */
        fprintf(stderr, "cc_preload: TCP_CONGESTION %s: %s\n", cc, strerror(saved));
        errno = saved;
    }
    return fd;
}
