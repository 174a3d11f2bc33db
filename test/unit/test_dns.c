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

/* Starts resolving host into a cleared r; the query is never NULL. */
static struct otb_dns_query *test_start(struct otb_dns *dns, const char *host, uint16_t port,
                                        struct test_result *r)
{
    struct otb_dns_query *q;

    memset(r, 0, sizeof(*r));
    q = otb_dns_resolve(dns, host, port, test_cb, r);
    assert_non_null(q);
    return q;
}

/* Resolves host and waits for the answer; checks the callback did not run
 * inside otb_dns_resolve. */
static void test_resolve(struct ev_loop *loop, struct otb_dns *dns, const char *host,
                         uint16_t port, struct test_result *r)
{
    test_start(dns, host, port, r);
    assert_int_equal(r->calls, 0);
    test_wait_calls(loop, &r->calls, 1);
    assert_int_equal(r->calls, 1);
}

/* ss is FAMILY's address IP, port PORT. */
static void test_assert_addr(const struct sockaddr_storage *ss, int family, const char *ip,
                             uint16_t port)
{
    const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;
    const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;
    uint8_t want[sizeof(struct in6_addr)];

    assert_int_equal(ss->ss_family, family);
    assert_int_equal(inet_pton(family, ip, want), 1);
    if (family == AF_INET) {
        assert_memory_equal(&sin->sin_addr, want, sizeof(struct in_addr));
        assert_int_equal(ntohs(sin->sin_port), port);
    } else {
        assert_memory_equal(&sin6->sin6_addr, want, sizeof(struct in6_addr));
        assert_int_equal(ntohs(sin6->sin6_port), port);
    }
}

/* r is dnsmasq's answer for echo.otb.test, with PORT. */
static void test_assert_echo(const struct test_result *r, uint16_t port)
{
    assert_int_equal(r->status, 0);
    test_assert_addr(&r->addrs[0], AF_INET, "127.0.0.7", port);
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
        test_start(dns, "echo.otb.test", 1, &r);
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

/* A loop and a resolver on the silent nameserver or on dnsmasq. */
struct test_fix {
    const struct test_env *env;
    struct ev_loop *loop;
    struct otb_dns *dns;
};

static void test_fix_open(struct test_fix *f, void **state, bool silent)
{
    f->env = *state;
    f->loop = ev_loop_new(EVFLAG_AUTO);
    f->dns = test_dns_new(f->loop, silent ? f->env->silent_ns : f->env->dnsmasq_ns, false);
}

static void test_fix_close(struct test_fix *f)
{
    otb_dns_free(f->dns);
    ev_loop_destroy(f->loop);
}

/* One lookup and its answer: addresses in order, each AF_INET or AF_INET6. */
struct test_lookup {
    bool literal;    /* silent nameserver; else dnsmasq */
    bool ipv6_first;
    const char *host;
    uint16_t port;
    size_t n;
    struct {
        int family;
        const char *ip;
    } want[2];
};

/* Literals never reach the network: the only nameserver is the silent one,
 * so a query would time out instead of answering at once, and it would show
 * up on the socket. Names are answered by dnsmasq, in the order of the
 * family preference. */
static const struct test_lookup test_lookups[] = {
    { true, false, "127.0.0.42", 8388, 1, { { AF_INET, "127.0.0.42" } } },
    { true, true, "::1", 65535, 1, { { AF_INET6, "::1" } } },
    { true, true, "::ffff:127.0.0.5", 1, 1, { { AF_INET6, "::ffff:127.0.0.5" } } },
    { false, false, "echo.otb.test", 443, 1, { { AF_INET, "127.0.0.7" } } },
    { false, false, "v6.otb.test", 80, 1, { { AF_INET6, "::7" } } },
    { false, false, "both.otb.test", 53000, 2, { { AF_INET, "127.0.0.8" }, { AF_INET6, "::8" } } },
    { false, true, "both.otb.test", 53001, 2, { { AF_INET6, "::8" }, { AF_INET, "127.0.0.8" } } },
};

static void test_lookup_one(const struct test_env *env, const struct test_lookup *l)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct otb_dns *dns = test_dns_new(loop, l->literal ? env->silent_ns : env->dnsmasq_ns,
                                       l->ipv6_first);
    struct test_result r;
    double t0 = test_now();

    print_message("%s port %u\n", l->host, (unsigned)l->port);
    if (l->literal)
        test_silent_flush(env->silent_fd);
    test_resolve(loop, dns, l->host, l->port, &r);
    assert_int_equal(r.status, 0);
    assert_int_equal(r.n, l->n);
    for (size_t i = 0; i < l->n; i++)
        test_assert_addr(&r.addrs[i], l->want[i].family, l->want[i].ip, l->port);
    if (l->literal) {
        /* Half of the former bound of 1 s over the two IPv6 literals. */
        assert_true(test_now() - t0 < 0.5);
        assert_false(test_silent_got_query(env->silent_fd));
    }
    otb_dns_free(dns);
    ev_loop_destroy(loop);
}

static void test_lookups_all(void **state)
{
    for (size_t i = 0; i < sizeof(test_lookups) / sizeof(test_lookups[0]); i++)
        test_lookup_one(*state, &test_lookups[i]);
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
    struct test_fix f;
    struct test_result r;
    double t0;

    test_fix_open(&f, state, true);
    assert_int_equal(otb_dns_set_timeout_ms(f.dns, 0, 2), -EINVAL);
    assert_int_equal(otb_dns_set_timeout_ms(f.dns, 100, 2), 0);
    test_silent_flush(f.env->silent_fd);
    t0 = test_now();
    test_resolve(f.loop, f.dns, "echo.otb.test", 443, &r);
    assert_int_equal(r.status, -ETIMEDOUT);
    assert_int_equal(r.n, 0);
    /* 100 ms then 200 ms; generous bound for slow machines. */
    assert_true(test_now() - t0 >= 0.25);
    assert_true(test_now() - t0 < 3.0);
    assert_true(test_silent_got_query(f.env->silent_fd));
    test_fix_close(&f);
}

static void test_set_timeout_busy(void **state)
{
    struct test_fix f;
    struct test_result r;

    test_fix_open(&f, state, false);
    test_start(f.dns, "echo.otb.test", 1, &r);
    assert_int_equal(otb_dns_set_timeout_ms(f.dns, 100, 1), -EBUSY);
    test_wait_calls(f.loop, &r.calls, 1);
    assert_int_equal(r.status, 0);
    /* The replacement channel keeps the configured nameserver. */
    assert_int_equal(otb_dns_set_timeout_ms(f.dns, 500, 1), 0);
    test_resolve(f.loop, f.dns, "echo.otb.test", 2, &r);
    test_assert_echo(&r, 2);
    test_fix_close(&f);
}

static void test_cancel(void **state)
{
    struct test_fix f;
    struct test_result net, lit, kept;

    test_fix_open(&f, state, false);
    /* The answer still on its way from dnsmasq. */
    otb_dns_cancel(test_start(f.dns, "echo.otb.test", 443, &net));
    /* Already complete, waiting for delivery. */
    otb_dns_cancel(test_start(f.dns, "127.0.0.1", 443, &lit));
    test_start(f.dns, "echo.otb.test", 444, &kept);
    test_drain(f.loop);
    assert_int_equal(net.calls, 0);
    assert_int_equal(lit.calls, 0);
    assert_int_equal(kept.calls, 1);
    test_assert_echo(&kept, 444);
    test_fix_close(&f);
}

/* Lookups on the silent nameserver stay in flight, the literal one waits for
 * delivery; none may call back, and LeakSanitizer checks the memory. */
static void test_free_pending(void **state)
{
    static const char *const hosts[] = { "echo.otb.test", "v6.otb.test", "127.0.0.3" };
    struct test_result r[3];
    struct test_fix f;

    test_fix_open(&f, state, true);
    for (size_t i = 0; i < 3; i++)
        test_start(f.dns, hosts[i], (uint16_t)(i + 1), &r[i]);
    otb_dns_free(f.dns);
    test_drain(f.loop); /* returns at once: no watcher may be left behind */
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(r[i].calls, 0);
    ev_loop_destroy(f.loop);
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
    struct test_fix f;
    struct test_result r;
    char name[256];

    test_fix_open(&f, state, false);
    /* Never sent: c-ares rejects a 255-byte label and an empty label. */
    memset(name, 'a', 255);
    name[255] = '\0';
    test_resolve(f.loop, f.dns, name, 1, &r);
    assert_true(r.status < 0);
    snprintf(name, sizeof(name), "%s", "a..%s%n.otb.test");
    test_resolve(f.loop, f.dns, name, 1, &r);
    assert_true(r.status < 0);
    /* Sent to dnsmasq, which has no such name. */
    snprintf(name, sizeof(name), "%s", "\x01\xff\x7f%s\".otb.test");
    test_resolve(f.loop, f.dns, name, 1, &r);
    assert_int_equal(r.status, -ENOENT);
    test_fix_close(&f);
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
        cmocka_unit_test(test_lookups_all),
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
