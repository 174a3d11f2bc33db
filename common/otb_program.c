#include "otb_program.h"

#include <signal.h>
#include <sys/prctl.h>

#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* ------------------------------------------------------------------ stop */

/* Everything that accepts new work stops; transfers in flight go on. */
static void otb_program_stop_parts(struct otb_program *p)
{
    if (p->tcp) {
        p->tcp->stopping = true; /* the relay leaves the loop after its last connection */
        otb_relay_stop_listeners(p->tcp);
    }
    if (p->udp)
        otb_udprelay_stop(p->udp);
    if (p->upstreams)
        otb_upstreams_stop(p->upstreams);
    if (p->ops->stop)
        p->ops->stop(p->arg);
}

static void otb_program_deadline_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct otb_program *p = otb_container_of(w, struct otb_program, deadline);

    OTB_INFO(p->log, "stop deadline reached: closing %zu connections", p->tcp->nconns);
    otb_relay_close_all(p->tcp, "stop deadline");
    ev_break(loop, EVBREAK_ALL);
}

/* SIGTERM/SIGINT: TCP transfers get up to shutdown_timeout seconds; a
 * second signal stops at once. */
static void otb_program_stop_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
    struct otb_program *p = w->data;

    if (p->stopping) {
        OTB_INFO(p->log, "second stop signal: stopping now");
        if (p->tcp)
            otb_relay_close_all(p->tcp, "stopped");
        ev_break(loop, EVBREAK_ALL);
        return;
    }
    p->stopping = true;
    otb_program_stop_parts(p);
    if (!p->tcp || p->tcp->nconns == 0) {
        ev_break(loop, EVBREAK_ALL);
        return;
    }
    OTB_INFO(p->log, "stopping: %zu connections get up to %.0f s to finish", p->tcp->nconns,
             (double)p->cfg->shutdown_timeout);
    ev_timer_set(&p->deadline, p->cfg->shutdown_timeout, 0.);
    ev_timer_start(loop, &p->deadline);
}

/* ------------------------------------------------------- reload, stats */

static void otb_program_hup_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
    struct otb_program *p = w->data;
    bool key_changed;

    if (otb_daemon_reload(&p->reload, &key_changed) == 0 && p->ops->reload)
        p->ops->reload(p->arg);
}

static void otb_program_usr1_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
    struct otb_program *p = w->data;

    otb_status_log(&p->status);
}

static void otb_program_signals_start(struct otb_program *p)
{
    ev_signal *const sigs[] = { &p->term, &p->intr, &p->usr1, &p->hup };

    signal(SIGPIPE, SIG_IGN);
    p->stopping = false;
    ev_signal_init(&p->term, otb_program_stop_cb, SIGTERM);
    ev_signal_init(&p->intr, otb_program_stop_cb, SIGINT);
    ev_signal_init(&p->usr1, otb_program_usr1_cb, SIGUSR1);
    ev_signal_init(&p->hup, otb_program_hup_cb, SIGHUP);
    ev_timer_init(&p->deadline, otb_program_deadline_cb, 0., 0.);
    for (size_t i = 0; i < OTB_ARRAY_LEN(sigs); i++) {
        sigs[i]->data = p;
        ev_signal_start(p->loop, sigs[i]);
    }
}

static void otb_program_signals_stop(struct otb_program *p)
{
    ev_signal_stop(p->loop, &p->term);
    ev_signal_stop(p->loop, &p->intr);
    ev_signal_stop(p->loop, &p->usr1);
    ev_signal_stop(p->loop, &p->hup);
    ev_timer_stop(p->loop, &p->deadline);
}

/* ------------------------------------------------------------------- run */

/* Pid file, metrics listener, privileges and status socket, once the program's sockets are
 * bound (privileged ports need root). -1 after logging why. */
static int otb_program_daemonize(struct otb_program *p)
{
    const struct otb_config *cfg = p->cfg;
    char err[512];

    if (cfg->pidfile[0] && otb_daemon_write_pidfile(cfg->pidfile, err, sizeof(err)) < 0)
        goto fail;
    p->status = (struct otb_status){ .fd = -1, .loop = p->loop, .log = p->log,
                                     .program = p->name, .started = ev_now(p->loop),
                                     .tcp = p->tcp, .udp = p->udp, .upstreams = p->upstreams,
                                     .extra = p->ops->status_extra, .extra_arg = p->arg };
    /* Bound before privileges go, like the program's own sockets. */
    if (cfg->metrics.port && otb_web_start(&p->web, &p->status, cfg->metrics.host,
                                           cfg->metrics.port, err, sizeof(err)) < 0)
        goto fail;
    if (cfg->user[0] && otb_daemon_drop_privileges(cfg->user, err, sizeof(err)) < 0)
        goto fail;
    if (cfg->status_socket[0] &&
        otb_status_start(&p->status, cfg->status_socket, err, sizeof(err)) < 0)
        goto fail;
    return 0;
fail:
    OTB_ERR(p->log, "%s", err);
    return -1;
}

/* Each connection holds two descriptors: the cap follows the limit we get. */
static size_t otb_program_max_conns(const struct otb_program *p)
{
    long nofile = otb_daemon_raise_nofile(p->cfg->nofile, p->log);

    return p->cfg->max_conns ? (size_t)p->cfg->max_conns : otb_daemon_max_conns(nofile);
}

static int otb_program_run(struct otb_program *p, int argc, char **argv)
{
    int rc = 1;

    p->loop = EV_DEFAULT;
    p->status.fd = -1;
    p->max_conns = otb_program_max_conns(p);
    if (p->ops->setup(p->arg, p->loop) < 0 || otb_program_daemonize(p) < 0)
        goto out;
    p->reload = (struct otb_reload){ .prog = p->prog, .argc = argc, .argv = argv,
                                     .cur = p->cfg, .master = p->master, .relay = p->tcp,
                                     .acl = p->acl, .log = p->log };
    otb_program_signals_start(p);
    ev_run(p->loop, 0);
    otb_program_signals_stop(p);
    otb_status_log_counters(&p->status);
    rc = 0;
out:
    otb_web_stop(&p->web);
    otb_status_stop(&p->status);
    otb_program_stop_parts(p);
    if (p->ops->teardown)
        p->ops->teardown(p->arg);
    if (p->cfg->pidfile[0] && rc == 0)
        unlink(p->cfg->pidfile);
    return rc;
}

/* Keeps the key out of core dumps and away from other processes of the
 * same user (ptrace, /proc/PID/mem): the program is made non-dumpable before
 * it reads any secret. The key's page is also locked out of swap and marked
 * MADV_DONTDUMP; best effort, RLIMIT_MEMLOCK may refuse the lock. */
static void otb_program_protect_secrets(struct otb_program *p)
{
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    (void)sodium_mlock(p->master, sizeof(*p->master));
}

int otb_program_main(struct otb_program *p, int argc, char **argv)
{
    char err[512] = "";
    int rc;

    otb_program_protect_secrets(p);
    rc = otb_config_load(p->cfg, p->prog, argc, argv, err, sizeof(err));

    if (rc == OTB_CONFIG_EXIT)
        return 0;
    if (rc != OTB_CONFIG_OK || (p->ops->check && p->ops->check(p->arg, err, sizeof(err)) < 0)) {
        fprintf(stderr, "%s: %s\n", p->name, err);
        return 2;
    }
    otb_log_open(p->log, p->name, p->cfg->verbose ? OTB_LOG_DEBUG : OTB_LOG_INFO,
                 p->cfg->use_syslog);
    err[0] = '\0';
    if (otb_crypto_init() < 0 || otb_config_master(p->cfg, p->master, err, sizeof(err)) < 0 ||
        (p->ops->keys && p->ops->keys(p->arg, err, sizeof(err)) < 0)) {
        OTB_ERR(p->log, "%s", err[0] ? err : "crypto initialisation failed");
        otb_config_wipe_secrets(p->cfg);
        return 2;
    }
    otb_config_wipe_secrets(p->cfg);
    rc = otb_program_run(p, argc, argv);
    otb_master_wipe(p->master);
    otb_log_close(p->log);
    return rc;
}
