#include "otb_daemon.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <sodium.h>

long otb_daemon_raise_nofile(long want, const struct otb_logger *lg)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return 1024;
    rlim_t target = want > 0 ? (rlim_t)want : rl.rlim_max;
    if (target > rl.rlim_cur) {
        struct rlimit nrl = { target, OTB_MAX(target, rl.rlim_max) };
        if (setrlimit(RLIMIT_NOFILE, &nrl) == 0 ||
            (nrl.rlim_max = rl.rlim_max, nrl.rlim_cur = OTB_MIN(target, rl.rlim_max),
             setrlimit(RLIMIT_NOFILE, &nrl) == 0))
            rl = nrl;
        else if (want > 0)
            OTB_WARN(lg, "cannot raise the descriptor limit to %ld: %s", want, strerror(errno));
    }
    return (long)rl.rlim_cur;
}

size_t otb_daemon_max_conns(long nofile)
{
    long n = (nofile - 64) / 2;
    return n < 16 ? 16 : (size_t)n;
}

int otb_daemon_write_pidfile(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "w");

    if (!f || fprintf(f, "%ld\n", (long)getpid()) < 0 || fclose(f) != 0) {
        snprintf(err, errlen, "pid_file %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

int otb_daemon_drop_privileges(const char *user, char *err, size_t errlen)
{
    struct passwd *pw = getpwnam(user);

    if (!pw) {
        snprintf(err, errlen, "user %s: no such user", user);
        return -1;
    }
    if (initgroups(pw->pw_name, pw->pw_gid) < 0 || setgid(pw->pw_gid) < 0 ||
        setuid(pw->pw_uid) < 0) {
        snprintf(err, errlen, "user %s: cannot switch: %s", user, strerror(errno));
        return -1;
    }
    return 0;
}

struct otb_daemon_listen_ctx {
    struct otb_relay *r;
    struct otb_listener_set *set;
    const struct otb_sock_opts *opts;
    otb_accept_cb cb;
    void *arg;
};

static int otb_daemon_listen_one(void *arg, const struct sockaddr *sa, socklen_t len,
                                 const char *where)
{
    struct otb_daemon_listen_ctx *x = arg;
    struct otb_relay *r = x->r;
    bool fell_back = false;
    int fd;

    if (x->set->n == OTB_ARRAY_LEN(x->set->l)) {
        OTB_WARN(r->log, "too many listen addresses; ignoring the rest");
        return 1;
    }
    fd = otb_sock_listen(sa, len, x->opts, &fell_back);
    if (fd < 0) {
        OTB_ERR(r->log, "listen on %s: %s", where, strerror(-fd));
        return -1;
    }
    otb_relay_note_fallback(r, fell_back);
    otb_listener_start(r, &x->set->l[x->set->n++], fd, x->cb, x->arg);
    OTB_INFO(r->log, "listening on %s (%s%s)", where,
             otb_sock_is_mptcp(fd) ? "MPTCP and TCP" : "TCP",
             x->opts->transparent ? ", transparent" : "");
    return 0;
}

int otb_daemon_listen(struct otb_relay *r, struct otb_listener_set *set, const char *host,
                      uint16_t port, const struct otb_sock_opts *opts, otb_accept_cb cb,
                      void *arg)
{
    struct otb_daemon_listen_ctx x = { r, set, opts, cb, arg };

    return otb_listen_each(r->log, host, port, SOCK_STREAM, otb_daemon_listen_one, &x);
}

void otb_daemon_close_listeners(struct otb_listener_set *set)
{
    for (size_t i = 0; i < set->n; i++)
        close(set->l[i].fd);
    set->n = 0;
}

/* Settings a running program takes from a new configuration. */
static void otb_daemon_take_reloadable(struct otb_config *dst, const struct otb_config *src)
{
    memcpy(dst->password, src->password, sizeof(dst->password));
    memcpy(dst->key_b64, src->key_b64, sizeof(dst->key_b64));
    memcpy(dst->method, src->method, sizeof(dst->method));
    memcpy(dst->acl, src->acl, sizeof(dst->acl));
    memcpy(dst->public_addrs, src->public_addrs, sizeof(dst->public_addrs));
    dst->n_public_addrs = src->n_public_addrs;
    dst->timeout = src->timeout;
    dst->connect_timeout = src->connect_timeout;
    dst->verbose = src->verbose;
    dst->policy = src->policy;
    dst->qos = src->qos;
}

static void otb_daemon_reload_acl_path(const struct otb_reload *rl, const char *old_path)
{
    if (!rl->acl)
        return;
    if (rl->cur->acl[0]) {
        otb_daemon_reload_acl(rl->acl, rl->cur->acl, rl->log);
    } else if (old_path[0] && *rl->acl) {
        otb_acl_free(*rl->acl);
        *rl->acl = NULL;
        OTB_INFO(rl->log, "SIGHUP: ACL %s no longer configured: removed", old_path);
    }
}

int otb_daemon_reload(const struct otb_reload *rl, bool *key_changed)
{
    struct otb_config *next = calloc(1, sizeof(*next));
    char err[512], old_acl[sizeof(next->acl)];
    struct otb_master m = { 0 };
    int rc = -1;

    *key_changed = false;
    if (!next) {
        OTB_ERR(rl->log, "SIGHUP: out of memory; configuration unchanged");
        return -1;
    }
    if (otb_config_load(next, rl->prog, rl->argc, rl->argv, err, sizeof(err)) != OTB_CONFIG_OK ||
        otb_config_master(next, &m, err, sizeof(err)) != OTB_CONFIG_OK) {
        OTB_ERR(rl->log, "SIGHUP: %s; configuration unchanged", err);
        goto out;
    }
    otb_config_wipe_secrets(next); /* as at start: the key is all that stays */
    if (memcmp(&m, rl->master, sizeof(m)) != 0) {
        if (rl->relay && otb_relay_set_master(rl->relay, &m) < 0) {
            OTB_ERR(rl->log, "SIGHUP: out of memory; configuration unchanged");
            goto out;
        }
        *rl->master = m;
        *key_changed = true;
        OTB_INFO(rl->log, "SIGHUP: new key (%s) for new connections; open ones keep theirs",
                 otb_method_info(m.method)->name);
    }
    memcpy(old_acl, rl->cur->acl, sizeof(old_acl));
    otb_daemon_take_reloadable(rl->cur, next);
    if (rl->relay) {
        rl->relay->idle_timeout = rl->cur->timeout;
        rl->relay->connect_timeout = rl->cur->connect_timeout;
    }
    rl->log->level = rl->cur->verbose ? OTB_LOG_DEBUG : OTB_LOG_INFO;
    otb_daemon_reload_acl_path(rl, old_acl);
    /* Whatever still differs was fixed at start (addresses, ports, modes...). */
    if (memcmp(rl->cur, next, sizeof(*next)) != 0)
        OTB_WARN(rl->log, "SIGHUP: listen addresses, ports, servers, modes and socket options "
                          "take effect at the next restart; the rest is applied");
    OTB_INFO(rl->log, "SIGHUP: configuration reloaded");
    rc = 0;
out:
    otb_master_wipe(&m);
    sodium_memzero(next, sizeof(*next));
    free(next);
    return rc;
}

const char *otb_daemon_congestion(const char *name, const struct otb_logger *lg)
{
    int rc;

    if (name == NULL || name[0] == '\0')
        return NULL;
    if ((rc = otb_sock_congestion_usable(name)) == 0) {
        OTB_INFO(lg, "TCP congestion control: %s", name);
        return name;
    }
    if (rc == -EPERM)
        OTB_WARN(lg, "congestion: %s is not allowed to this process (needs CAP_NET_ADMIN or "
                     "an entry in net.ipv4.tcp_allowed_congestion_control); using the system's",
                 name);
    else
        OTB_WARN(lg, "congestion: %s: %s; using the system's", name, strerror(-rc));
    return NULL;
}

struct otb_acl *otb_daemon_load_acl(const char *path, const struct otb_logger *lg)
{
    char err[512];
    struct otb_acl *acl = otb_acl_new();

    if (!acl || otb_acl_load_file(acl, path, err, sizeof(err)) < 0) {
        OTB_ERR(lg, "acl: %s", acl ? err : "out of memory");
        otb_acl_free(acl);
        return NULL;
    }
    return acl;
}

void otb_daemon_reload_acl(struct otb_acl **slot, const char *path, const struct otb_logger *lg)
{
    struct otb_acl *acl;

    if (!path[0]) {
        OTB_INFO(lg, "SIGHUP: no ACL file to reload");
        return;
    }
    acl = otb_daemon_load_acl(path, lg);
    if (!acl) {
        OTB_WARN(lg, "SIGHUP: keeping the previous ACL");
        return;
    }
    otb_acl_free(*slot);
    *slot = acl;
    OTB_INFO(lg, "SIGHUP: ACL %s reloaded", path);
}
