/* One program's life, written once for otb-server, otb-redir and
 * otb-tunnel: configuration (exit 2 when bad), logger, key, the program's
 * own setup, pid file, privileges, status socket, metrics listener, signals (SIGTERM/SIGINT
 * graceful stop, SIGUSR1 counters, SIGHUP reload), the loop, counters at
 * exit and teardown. A main fills a struct otb_program with its parts and
 * hooks and returns otb_program_main(). */
#ifndef OTB_PROGRAM_H
#define OTB_PROGRAM_H

#include <ev.h>
#include <stdbool.h>

#include "otb_config.h"
#include "otb_daemon.h"
#include "otb_relay.h"
#include "otb_status.h"
#include "otb_udprelay.h"
#include "otb_upstream.h"
#include "otb_web.h"

/* What a program adds to the skeleton; arg is otb_program.arg. Only setup is
 * required. */
struct otb_program_ops {
    /* After the configuration is read: refuse what this program cannot do
     * (one line in err, exit 2). */
    int (*check)(void *arg, char *err, size_t errlen);
    /* After the program's key: further keys from cfg, read before its
     * secrets are wiped (one line in err, exit 2). */
    int (*keys)(void *arg, char *err, size_t errlen);
    /* Builds the relays and listeners and declares the parts; -1 after
     * logging why. teardown runs even after a failed setup. */
    int (*setup)(void *arg, struct ev_loop *loop);
    /* SIGTERM/SIGINT and exit: stop what else accepts work (e.g. connections
     * still being sniffed); the parts are stopped by the skeleton. */
    void (*stop)(void *arg);
    /* SIGHUP, after a new configuration was applied to cfg, the key and
     * the TCP relay: pass on what the program's other parts read. */
    void (*reload)(void *arg);
    /* Frees what setup made. */
    void (*teardown)(void *arg);
    otb_status_extra status_extra; /* program-specific status keys */
};

struct otb_program {
    /* Filled by main. */
    const char *name; /* "otb-server": log ident, status, messages */
    enum otb_prog prog;
    struct otb_config *cfg;
    struct otb_logger *log;
    struct otb_master *master; /* the current key; SIGHUP replaces it in place */
    const struct otb_program_ops *ops;
    void *arg;
    size_t max_conns; /* for setup: max_conns, or what the raised descriptor limit allows */
    /* Parts, declared by setup; NULL: the program has none. */
    struct otb_relay *tcp;        /* drained on stop; its counters, paths and key */
    struct otb_udprelay *udp;     /* stopped on stop; its counters */
    struct otb_upstreams *upstreams; /* health checks stopped on stop; in the status */
    struct otb_acl **acl;         /* the ACL slot SIGHUP reloads */
    /* The skeleton's own. */
    struct ev_loop *loop;
    struct otb_status status;
    struct otb_web web; /* --metrics: HTTP metrics and status page */
    struct otb_reload reload;
    ev_signal term, intr, usr1, hup;
    ev_timer deadline;
    bool stopping;
};

/* What a main fills in: self is the program's one static object, holding
 * cfg, log, master and prog (the struct otb_program) as members. */
#define OTB_PROGRAM_INIT(self, NAME, PROG, OPS)                                                    \
    {                                                                                              \
        .name = (NAME), .prog = (PROG), .cfg = &(self).cfg, .log = &(self).log,                    \
        .master = &(self).master, .ops = (OPS), .arg = &(self)                                     \
    }

/* The whole program: returns its exit status (0, 1 when it could not start,
 * 2 for a bad configuration). */
int otb_program_main(struct otb_program *p, int argc, char **argv);

#endif
