/* Unit tests for the c-ares/libev resolver. All DNS traffic stays on
 * 127.0.0.1: a dnsmasq started here answers the otb.test names, and a UDP
 * socket that is never read plays a nameserver that never answers. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "otb_dns.h"

/* Upper bound for any single wait on the loop; a hang fails the test. */
#define TEST_WATCHDOG_S 10.0

struct test_env {
    pid_t dnsmasq_pid;
    char dnsmasq_ns[32]; /* "127.0.0.1:PORT" of the dnsmasq */
    int silent_fd;       /* bound, never read: a nameserver that never answers */
    char silent_ns[32];
};

struct test_result {
    int calls;
    int status;
    size_t n;
    struct sockaddr_storage addrs[OTB_DNS_MAX_ADDRS];
};

/* ---- loop helpers ---- */

static void test_watchdog_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)revents;
    *(bool *)w->data = true;
    ev_break(loop, EVBREAK_ALL);
}

/* Runs the loop until *calls reaches want; fails on the watchdog. */
static void test_wait_calls(struct ev_loop *loop, const int *calls, int want)
{
    bool expired = false;
    ev_timer wd;

    ev_timer_init(&wd, test_watchdog_cb, TEST_WATCHDOG_S, 0.);
    wd.data = &expired;
    ev_timer_start(loop, &wd);
    while (*calls < want && !expired)
        ev_run(loop, EVRUN_ONCE);
    ev_timer_stop(loop, &wd);
    if (expired)
        fail_msg("loop watchdog expired waiting for a callback");
}

/* Runs the loop until no watcher is left, i.e. c-ares has finished with every
 * query, cancelled ones included. The watchdog is unref'd so that it does not
 * keep the loop alive itself. */
static void test_drain(struct ev_loop *loop)
{
    bool expired = false;
    ev_timer wd;

    ev_timer_init(&wd, test_watchdog_cb, TEST_WATCHDOG_S, 0.);
    wd.data = &expired;
    ev_timer_start(loop, &wd);
    ev_unref(loop);
    ev_run(loop, 0);
    ev_ref(loop);
    ev_timer_stop(loop, &wd);
    if (expired)
        fail_msg("loop watchdog expired waiting for the resolver to go idle");
}

static double test_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_cb(void *arg, int status, const struct sockaddr_storage *addrs, size_t n)
{
    struct test_result *r = arg;

    r->calls++;
    r->status = status;
    r->n = n;
    assert_true(n <= OTB_DNS_MAX_ADDRS);
    if (n > 0)
        memcpy(r->addrs, addrs, n * sizeof(*addrs));
}

static struct otb_dns *test_dns_new(struct ev_loop *loop, const char *ns, bool ipv6_first)
{
    char err[256] = "";
    struct otb_dns *dns = otb_dns_new(loop, ns, ipv6_first, err, sizeof(err));

    if (dns == NULL)
        fail_msg("otb_dns_new: %s", err);
    return dns;
}

/* Resolves host and waits for the answer; checks the callback did not run
 * inside otb_dns_resolve. */
static void test_resolve(struct ev_loop *loop, struct otb_dns *dns, const char *host,
                         uint16_t port, struct test_result *r)
{
    memset(r, 0, sizeof(*r));
    assert_non_null(otb_dns_resolve(dns, host, port, test_cb, r));
    assert_int_equal(r->calls, 0);
    test_wait_calls(loop, &r->calls, 1);
    assert_int_equal(r->calls, 1);
}

static void test_assert_v4(const struct sockaddr_storage *ss, const char *ip, uint16_t port)
{
    const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;
    struct in_addr want;

    assert_int_equal(ss->ss_family, AF_INET);
    assert_int_equal(inet_pton(AF_INET, ip, &want), 1);
    assert_memory_equal(&sin->sin_addr, &want, sizeof(want));
    assert_int_equal(ntohs(sin->sin_port), port);
}

static void test_assert_v6(const struct sockaddr_storage *ss, const char *ip, uint16_t port)
{
    const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;
    struct in6_addr want;

    assert_int_equal(ss->ss_family, AF_INET6);
    assert_int_equal(inet_pton(AF_INET6, ip, &want), 1);
    assert_memory_equal(&sin6->sin6_addr, &want, sizeof(want));
    assert_int_equal(ntohs(sin6->sin6_port), port);
}

/* Drops whatever queries earlier tests sent to the silent nameserver. */
static void test_silent_flush(int fd)
{
    char buf[512];

    while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) >= 0)
        ;
}

static bool test_silent_got_query(int fd)
{
    char buf[512];

    return recv(fd, buf, sizeof(buf), MSG_DONTWAIT) >= 0;
}

/* ---- fixtures: dnsmasq and the silent nameserver ---- */

static int test_udp_bind(uint16_t *port)
{
    struct sockaddr_in sin;
    socklen_t len = sizeof(sin);
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return -1;
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0 ||
        getsockname(fd, (struct sockaddr *)&sin, &len) != 0) {
        close(fd);
        return -1;
    }
    *port = ntohs(sin.sin_port);
    return fd;
}

/* Looks in PATH and the sbin directories, which ctest's PATH may lack. */
static bool test_find_dnsmasq(char *out, size_t outlen)
{
    const char *env = getenv("OTB_TEST_DNSMASQ");
    const char *path = getenv("PATH");
    char dirs[4096];
    char *save = NULL;
    char *dir;

    if (env != NULL && env[0] != '\0') {
        snprintf(out, outlen, "%s", env);
        return access(out, X_OK) == 0;
    }
    snprintf(dirs, sizeof(dirs), "%s:/usr/sbin:/sbin:/usr/local/sbin", path ? path : "");
    for (dir = strtok_r(dirs, ":", &save); dir != NULL; dir = strtok_r(NULL, ":", &save)) {
        snprintf(out, outlen, "%s/dnsmasq", dir);
        if (access(out, X_OK) == 0)
            return true;
    }
    return false;
}

static pid_t test_dnsmasq_spawn(const char *bin, uint16_t port)
{
    char port_arg[32];
    pid_t pid;

    snprintf(port_arg, sizeof(port_arg), "--port=%u", (unsigned)port);
    pid = fork();
    if (pid != 0)
        return pid;
    /* Child: dies with the test process even if teardown never runs. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    {
        int devnull = open("/dev/null", O_RDWR);

        /* Its banner is noise here; a failed start shows as its exit status. */
        if (devnull >= 0) {
            dup2(devnull, STDIN_FILENO);
            dup2(devnull, STDOUT_FILENO);
            dup2(devnull, STDERR_FILENO);
        }
    }
    /* --user=root when root: dropping to another user would clear the parent
     * death signal set above. --local makes unknown otb.test names NXDOMAIN;
     * the sfx.otb.test name is only reachable through a search list (see
     * test_nxdomain). */
    {
        char *argv[32];
        size_t i = 0;

        argv[i++] = (char *)bin;
        argv[i++] = "--no-daemon";
        argv[i++] = "--conf-file=/dev/null";
        argv[i++] = "--pid-file=";
        argv[i++] = "--no-resolv";
        argv[i++] = "--no-hosts";
        argv[i++] = port_arg;
        argv[i++] = "--listen-address=127.0.0.1";
        argv[i++] = "--bind-interfaces";
        argv[i++] = "--log-facility=/dev/null";
        if (geteuid() == 0)
            argv[i++] = "--user=root";
        argv[i++] = "--local=/otb.test/";
        argv[i++] = "--address=/echo.otb.test/127.0.0.7";
        argv[i++] = "--address=/v6.otb.test/::7";
        argv[i++] = "--address=/both.otb.test/127.0.0.8";
        argv[i++] = "--address=/both.otb.test/::8";
        argv[i++] = "--address=/nope.otb.test.sfx.otb.test/127.0.0.9";
        argv[i] = NULL;
        execv(bin, argv);
    }
    _exit(127);
}

/* Returns the wait status. */
static int test_dnsmasq_stop(pid_t pid)
{
    int st = 0;

    if (pid <= 0)
        return 0;
    kill(pid, SIGTERM);
    waitpid(pid, &st, 0);
    return st;
}

/* Waits until dnsmasq answers; false if it exited (*st then holds its wait
 * status and *reaped is set) or never answered. */
static bool test_dnsmasq_ready(pid_t pid, const char *ns, int *st, bool *reaped)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct otb_dns *dns = test_dns_new(loop, ns, false);
    struct test_result r;
    bool ok = false;
    int i;

    assert_int_equal(otb_dns_set_timeout_ms(dns, 200, 1), 0);
    *reaped = false;
    for (i = 0; i < 50 && !ok; i++) {
        if (waitpid(pid, st, WNOHANG) == pid) {
            *reaped = true;
            break;
        }
        memset(&r, 0, sizeof(r));
        assert_non_null(otb_dns_resolve(dns, "echo.otb.test", 1, test_cb, &r));
        test_wait_calls(loop, &r.calls, 1);
        ok = r.status == 0;
        if (!ok)
            usleep(100 * 1000);
    }
    otb_dns_free(dns);
    ev_loop_destroy(loop);
    return ok;
}

static int test_group_setup(void **state)
{
    struct test_env *env = calloc(1, sizeof(*env));
    char bin[4096];
    uint16_t port;
    int attempt;
    int st = 0;
    bool reaped;

    assert_non_null(env);
    env->silent_fd = test_udp_bind(&port);
    assert_true(env->silent_fd >= 0);
    snprintf(env->silent_ns, sizeof(env->silent_ns), "127.0.0.1:%u", (unsigned)port);
    *state = env;

    /* A missing dnsmasq is a failure: the name tests would prove nothing. */
    if (!test_find_dnsmasq(bin, sizeof(bin))) {
        print_error("dnsmasq not found (PATH, /usr/sbin, /sbin, OTB_TEST_DNSMASQ)\n");
        return -1;
    }
    /* The port comes from a socket bound and closed just before; if someone
     * takes it meanwhile dnsmasq exits and another port is tried. */
    for (attempt = 0; attempt < 3; attempt++) {
        int fd = test_udp_bind(&port);

        assert_true(fd >= 0);
        close(fd);
        snprintf(env->dnsmasq_ns, sizeof(env->dnsmasq_ns), "127.0.0.1:%u", (unsigned)port);
        env->dnsmasq_pid = test_dnsmasq_spawn(bin, port);
        assert_true(env->dnsmasq_pid > 0);
        if (test_dnsmasq_ready(env->dnsmasq_pid, env->dnsmasq_ns, &st, &reaped))
            return 0;
        if (!reaped)
            st = test_dnsmasq_stop(env->dnsmasq_pid);
        env->dnsmasq_pid = 0;
    }
    /* Exit code 127: exec failed; signal 15: still running, never answered. */
    print_error("dnsmasq (%s) did not start answering (exit %d, signal %d)\n", bin,
                WIFEXITED(st) ? WEXITSTATUS(st) : -1, WIFSIGNALED(st) ? WTERMSIG(st) : 0);
    return -1;
}

static int test_group_teardown(void **state)
{
    struct test_env *env = *state;

    if (env == NULL)
        return 0;
    test_dnsmasq_stop(env->dnsmasq_pid);
    if (env->silent_fd >= 0)
        close(env->silent_fd);
    free(env);
    return 0;
}

/* ---- tests ---- */

/* Literals never reach the network: the only nameserver is the silent one,
 * so a query would time out instead of answering at once, and it would show
 * up on the socket. */
static void test_numeric_ipv4(void **state)
{
    struct test_env *env = *state;
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct otb_dns *dns = test_dns_new(loop, env->silent_ns, false);
    struct test_result r;
    double t0 = test_now();

    test_silent_flush(env->silent_fd);
    test_resolve(loop, dns, "127.0.0.42", 8388, &r);
    assert_int_equal(r.status, 0);
    assert_int_equal(r.n, 1);
    test_assert_v4(&r.addrs[0], "127.0.0.42", 8388);
    assert_true(test_now() - t0 < 1.0);
    assert_false(test_silent_got_query(env->silent_fd));
    otb_dns_free(dns);
    ev_loop_destroy(loop);
}

static void test_numeric_ipv6(void **state)
{
    struct test_env *env = *state;
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct otb_dns *dns = test_dns_new(loop, env->silent_ns, true);
    struct test_result r;
    double t0 = test_now();

    test_silent_flush(env->silent_fd);
    test_resolve(loop, dns, "::1", 65535, &r);
    assert_int_equal(r.status, 0);
    assert_int_equal(r.n, 1);
    test_assert_v6(&r.addrs[0], "::1", 65535);
    test_resolve(loop, dns, "::ffff:127.0.0.5", 1, &r);
    assert_int_equal(r.status, 0);
    assert_int_equal(r.n, 1);
    test_assert_v6(&r.addrs[0], "::ffff:127.0.0.5", 1);
    assert_true(test_now() - t0 < 1.0);
    assert_false(test_silent_got_query(env->silent_fd));
    otb_dns_free(dns);
    ev_loop_destroy(loop);
}

static void test_name_ipv4(void **state)
{
    struct test_env *env = *state;
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct otb_dns *dns = test_dns_new(loop, env->dnsmasq_ns, false);
    struct test_result r;

    test_resolve(loop, dns, "echo.otb.test", 443, &r);
    assert_int_equal(r.status, 0);
    assert_int_equal(r.n, 1);
    test_assert_v4(&r.addrs[0], "127.0.0.7", 443);
    otb_dns_free(dns);
    ev_loop_destroy(loop);
}

static void test_name_ipv6(void **state)
{
    struct test_env *env = *state;
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct otb_dns *dns = test_dns_new(loop, env->dnsmasq_ns, false);
    struct test_result r;

    test_resolve(loop, dns, "v6.otb.test", 80, &r);
    assert_int_equal(r.status, 0);
    assert_int_equal(r.n, 1);
    test_assert_v6(&r.addrs[0], "::7", 80);
    otb_dns_free(dns);
    ev_loop_destroy(loop);
}

static void test_family_order(void **state)
{
    struct test_env *env = *state;
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct otb_dns *v4first = test_dns_new(loop, env->dnsmasq_ns, false);
    struct otb_dns *v6first = test_dns_new(loop, env->dnsmasq_ns, true);
    struct test_result r;

    test_resolve(loop, v4first, "both.otb.test", 53000, &r);
    assert_int_equal(r.status, 0);
    assert_int_equal(r.n, 2);
    test_assert_v4(&r.addrs[0], "127.0.0.8", 53000);
    test_assert_v6(&r.addrs[1], "::8", 53000);

    test_resolve(loop, v6first, "both.otb.test", 53001, &r);
    assert_int_equal(r.status, 0);
    assert_int_equal(r.n, 2);
    test_assert_v6(&r.addrs[0], "::8", 53001);
    test_assert_v4(&r.addrs[1], "127.0.0.8", 53001);
    otb_dns_free(v4first);
    otb_dns_free(v6first);
    ev_loop_destroy(loop);
}

/* LOCALDOMAIN sets a c-ares search list; dnsmasq has an address for the name
 * with the suffix, so a resolver that used the list would succeed. */
static void test_nxdomain(void **state)
{
    struct test_env *env = *state;
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct otb_dns *dns;
    struct test_result r;

    setenv("LOCALDOMAIN", "sfx.otb.test", 1);
    dns = test_dns_new(loop, env->dnsmasq_ns, false);
    unsetenv("LOCALDOMAIN");
    test_resolve(loop, dns, "nope.otb.test", 443, &r);
    assert_int_equal(r.status, -ENOENT);
    assert_int_equal(r.n, 0);
    otb_dns_free(dns);
    ev_loop_destroy(loop);
}

static void test_timeout(void **state)
{
    struct test_env *env = *state;
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct otb_dns *dns = test_dns_new(loop, env->silent_ns, false);
    struct test_result r;
    double t0;

    assert_int_equal(otb_dns_set_timeout_ms(dns, 0, 2), -EINVAL);
    assert_int_equal(otb_dns_set_timeout_ms(dns, 100, 2), 0);
    test_silent_flush(env->silent_fd);
    t0 = test_now();
    test_resolve(loop, dns, "echo.otb.test", 443, &r);
    assert_int_equal(r.status, -ETIMEDOUT);
    assert_int_equal(r.n, 0);
    /* 100 ms then 200 ms; generous bound for slow machines. */
    assert_true(test_now() - t0 >= 0.25);
    assert_true(test_now() - t0 < 3.0);
    assert_true(test_silent_got_query(env->silent_fd));
    otb_dns_free(dns);
    ev_loop_destroy(loop);
}

static void test_set_timeout_busy(void **state)
{
    struct test_env *env = *state;
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct otb_dns *dns = test_dns_new(loop, env->dnsmasq_ns, false);
    struct test_result r;

    memset(&r, 0, sizeof(r));
    assert_non_null(otb_dns_resolve(dns, "echo.otb.test", 1, test_cb, &r));
    assert_int_equal(otb_dns_set_timeout_ms(dns, 100, 1), -EBUSY);
    test_wait_calls(loop, &r.calls, 1);
    assert_int_equal(r.status, 0);
    /* The replacement channel keeps the configured nameserver. */
    assert_int_equal(otb_dns_set_timeout_ms(dns, 500, 1), 0);
    test_resolve(loop, dns, "echo.otb.test", 2, &r);
    assert_int_equal(r.status, 0);
    test_assert_v4(&r.addrs[0], "127.0.0.7", 2);
    otb_dns_free(dns);
    ev_loop_destroy(loop);
}

static void test_cancel(void **state)
{
    struct test_env *env = *state;
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct otb_dns *dns = test_dns_new(loop, env->dnsmasq_ns, false);
    struct test_result net, lit, kept;
    struct otb_dns_query *q;

    memset(&net, 0, sizeof(net));
    memset(&lit, 0, sizeof(lit));
    memset(&kept, 0, sizeof(kept));
    q = otb_dns_resolve(dns, "echo.otb.test", 443, test_cb, &net);
    assert_non_null(q);
    otb_dns_cancel(q); /* answer still on its way from dnsmasq */
    q = otb_dns_resolve(dns, "127.0.0.1", 443, test_cb, &lit);
    assert_non_null(q);
    otb_dns_cancel(q); /* already complete, waiting for delivery */
    assert_non_null(otb_dns_resolve(dns, "echo.otb.test", 444, test_cb, &kept));
    test_drain(loop);
    assert_int_equal(net.calls, 0);
    assert_int_equal(lit.calls, 0);
    assert_int_equal(kept.calls, 1);
    assert_int_equal(kept.status, 0);
    test_assert_v4(&kept.addrs[0], "127.0.0.7", 444);
    otb_dns_free(dns);
    ev_loop_destroy(loop);
}

/* Lookups on the silent nameserver stay in flight, the literal one waits for
 * delivery; none may call back, and LeakSanitizer checks the memory. */
static void test_free_pending(void **state)
{
    struct test_env *env = *state;
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct otb_dns *dns = test_dns_new(loop, env->silent_ns, false);
    struct test_result a, b, c;

    memset(&a, 0, sizeof(a));
    memset(&b, 0, sizeof(b));
    memset(&c, 0, sizeof(c));
    assert_non_null(otb_dns_resolve(dns, "echo.otb.test", 1, test_cb, &a));
    assert_non_null(otb_dns_resolve(dns, "v6.otb.test", 2, test_cb, &b));
    assert_non_null(otb_dns_resolve(dns, "127.0.0.3", 3, test_cb, &c));
    otb_dns_free(dns);
    test_drain(loop); /* returns at once: no watcher may be left behind */
    assert_int_equal(a.calls, 0);
    assert_int_equal(b.calls, 0);
    assert_int_equal(c.calls, 0);
    ev_loop_destroy(loop);
}

struct test_freeing {
    struct otb_dns *dns;
    int calls;
};

static void test_free_in_cb(void *arg, int status, const struct sockaddr_storage *addrs, size_t n)
{
    struct test_freeing *f = arg;

    (void)status;
    (void)addrs;
    (void)n;
    f->calls++;
    otb_dns_free(f->dns);
}

/* A callback may free the resolver while other results wait for delivery. */
static void test_free_from_callback(void **state)
{
    struct test_env *env = *state;
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct test_freeing f1, f2;

    memset(&f1, 0, sizeof(f1));
    f1.dns = test_dns_new(loop, env->silent_ns, false);
    f2 = f1;
    assert_non_null(otb_dns_resolve(f1.dns, "127.0.0.1", 1, test_free_in_cb, &f1));
    assert_non_null(otb_dns_resolve(f1.dns, "127.0.0.2", 2, test_free_in_cb, &f2));
    assert_non_null(otb_dns_resolve(f1.dns, "echo.otb.test", 3, test_free_in_cb, &f2));
    test_wait_calls(loop, &f1.calls, 1);
    test_drain(loop);
    assert_int_equal(f1.calls, 1);
    assert_int_equal(f2.calls, 0);
    ev_loop_destroy(loop);
}

/* Long and odd host names are passed through; the answer is an error, not a
 * crash or a hang. */
static void test_odd_names(void **state)
{
    struct test_env *env = *state;
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct otb_dns *dns = test_dns_new(loop, env->dnsmasq_ns, false);
    struct test_result r;
    char name[256];

    /* Never sent: c-ares rejects a 255-byte label and an empty label. */
    memset(name, 'a', 255);
    name[255] = '\0';
    test_resolve(loop, dns, name, 1, &r);
    assert_true(r.status < 0);
    snprintf(name, sizeof(name), "%s", "a..%s%n.otb.test");
    test_resolve(loop, dns, name, 1, &r);
    assert_true(r.status < 0);
    /* Sent to dnsmasq, which has no such name. */
    snprintf(name, sizeof(name), "%s", "\x01\xff\x7f%s\".otb.test");
    test_resolve(loop, dns, name, 1, &r);
    assert_int_equal(r.status, -ENOENT);
    otb_dns_free(dns);
    ev_loop_destroy(loop);
}

static void test_bad_nameserver(void **state)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    char err[256] = "";

    (void)state;
    assert_null(otb_dns_new(loop, "not-an-address", false, err, sizeof(err)));
    assert_non_null(strstr(err, "not-an-address"));
    assert_null(otb_dns_new(loop, "127.0.0.1:99999", false, err, sizeof(err)));
    assert_non_null(strstr(err, "127.0.0.1:99999"));
    assert_null(otb_dns_new(loop, "127.0.0.1,[::1]:0", false, err, sizeof(err)));
    assert_non_null(strstr(err, "[::1]:0"));
    assert_null(otb_dns_new(loop, "127.0.0.1:53x", false, err, sizeof(err)));
    /* Accepted forms, not used for any query. */
    otb_dns_free(test_dns_new(loop, "127.0.0.1", false));
    otb_dns_free(test_dns_new(loop, "127.0.0.1:5353,[::1]:53,::1", false));
    ev_loop_destroy(loop);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_numeric_ipv4),
        cmocka_unit_test(test_numeric_ipv6),
        cmocka_unit_test(test_name_ipv4),
        cmocka_unit_test(test_name_ipv6),
        cmocka_unit_test(test_family_order),
        cmocka_unit_test(test_nxdomain),
        cmocka_unit_test(test_timeout),
        cmocka_unit_test(test_set_timeout_busy),
        cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_free_pending),
        cmocka_unit_test(test_free_from_callback),
        cmocka_unit_test(test_odd_names),
        cmocka_unit_test(test_bad_nameserver),
    };

    return cmocka_run_group_tests(tests, test_group_setup, test_group_teardown);
}
