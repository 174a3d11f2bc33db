/* The pieces every program uses around its loop: descriptor limits, pid
 * file, dropping privileges, listeners, ACL loading, configuration reload.
 * otb_program.c puts them together. */
#ifndef OTB_DAEMON_H
#define OTB_DAEMON_H

#include <ev.h>
#include <stddef.h>

#include "otb_config.h"
#include "otb_relay.h"

/* Raise RLIMIT_NOFILE to want (0: to the hard limit). Returns the new soft limit. */
long otb_daemon_raise_nofile(long want, const struct otb_logger *lg);
/* Default connection cap: each connection holds two descriptors, keep a reserve. */
size_t otb_daemon_max_conns(long nofile);
int otb_daemon_write_pidfile(const char *path, char *err, size_t errlen);
/* setgroups/setgid/setuid to user; 0 or -1 with err. */
int otb_daemon_drop_privileges(const char *user, char *err, size_t errlen);

/* Listeners on every address host resolves to ("" = any, both families),
 * started on relay r; set->n grows. Startup only (blocking resolution).
 * 0, or -1 after logging why. */
struct otb_listener_set {
    struct otb_listener l[16];
    size_t n;
};
int otb_daemon_listen(struct otb_relay *r, struct otb_listener_set *set, const char *host,
                      uint16_t port, const struct otb_sock_opts *opts, otb_accept_cb cb,
                      void *arg);
void otb_daemon_close_listeners(struct otb_listener_set *set);

/* The congestion control the tunnel's sockets get: name, or NULL (the
 * system's) after logging why name cannot be used. */
const char *otb_daemon_congestion(const char *name, const struct otb_logger *lg);

/* Loads an ACL file; NULL after logging why. */
struct otb_acl *otb_daemon_load_acl(const char *path, const struct otb_logger *lg);
/* SIGHUP: replaces *slot with a fresh load of path; keeps the old one if the
 * new file is bad. Connections in flight are not affected. */
void otb_daemon_reload_acl(struct otb_acl **slot, const char *path, const struct otb_logger *lg);

/* SIGHUP for a whole program: the configuration is read again (the same
 * command line, hence the same file) and what can change while running is
 * applied to new connections: key and method, timeouts, ACL, log level, WAN
 * pins and voice lists (copied into *cur, which the programs read per
 * connection). Other changed settings are logged as needing a restart. A bad
 * configuration changes nothing. Established connections are not touched. */
struct otb_reload {
    enum otb_prog prog;
    int argc;
    char **argv;
    struct otb_config *cur;
    struct otb_master *master; /* the program's key, replaced in place */
    struct otb_relay *relay;   /* its key and timeouts; NULL: no TCP relay */
    struct otb_acl **acl;    /* the ACL slot, NULL: the program has none */
    struct otb_logger *log;
};
/* 0 when the new configuration was applied (*key_changed tells whether the
 * key did), -1 after logging why not. */
int otb_daemon_reload(const struct otb_reload *rl, bool *key_changed);

#endif
