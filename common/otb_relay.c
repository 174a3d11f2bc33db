/* The TCP relay object: its keys (a reload brings a new one for new
 * connections), buffers, counters and per-path bytes. Connections are
 * handled in otb_pipe.c, otb_conn_server.c and otb_conn_client.c. */
#include "otb_conn.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#define OTB_POOL_KEEP 256

void otb_relay_key_put(struct otb_relay_key *k)
{
    if (k && --k->users == 0) {
        sodium_memzero(k, sizeof(*k));
        free(k);
    }
}

int otb_relay_init(struct otb_relay *r, struct ev_loop *loop, const struct otb_logger *log,
                   const struct otb_master *master, enum otb_relay_role role)
{
    memset(r, 0, sizeof(*r));
    r->loop = loop;
    r->log = log;
    r->role = role;
    r->idle_timeout = 60.;
    r->connect_timeout = 10.;
    otb_pool_init(&r->pool, OTB_POOL_KEEP);
    otb_saltpool_init(&r->salts2022, OTB_SS22_SALT_TTL);
    r->scratch = malloc(OTB_BUF_SIZE);
    if (!r->scratch || otb_relay_set_master(r, master) < 0) {
        free(r->scratch);
        r->scratch = NULL;
        return -ENOMEM;
    }
    ev_check_init(&r->reaper, otb_relay_reap_cb);
    return 0;
}

void otb_relay_close_all(struct otb_relay *r, const char *reason)
{
    while (r->live)
        otb_conn_close(r->live, reason);
}

struct otb_relay_key *otb_relay_key_new(const struct otb_master *master)
{
    struct otb_relay_key *k = calloc(1, sizeof(*k));

    if (k) {
        k->master = *master;
        k->users = 1;
    }
    return k;
}

int otb_relay_set_master(struct otb_relay *r, const struct otb_master *master)
{
    struct otb_relay_key *k = otb_relay_key_new(master);

    if (!k)
        return -ENOMEM;
    otb_relay_key_put(r->key); /* freed now, or by its last connection */
    r->key = k;
    return 0;
}

const struct otb_master *otb_relay_master(const struct otb_relay *r)
{
    return &r->key->master;
}

void otb_relay_destroy(struct otb_relay *r)
{
    otb_relay_stop_listeners(r);
    r->stopping = false; /* no ev_break from the closes below */
    otb_relay_close_all(r, "shutting down");
    otb_relay_reap_cb(r->loop, &r->reaper, 0);
    otb_pool_destroy(&r->pool);
    otb_srccount_free(&r->sources);
    otb_saltpool_free(&r->salts2022);
    free(r->scratch);
    r->scratch = NULL;
    otb_relay_key_put(r->key);
    r->key = NULL;
}

void otb_relay_note_fallback(struct otb_relay *r, bool fell_back)
{
    if (fell_back && !r->mptcp_fallback_logged) {
        r->mptcp_fallback_logged = true;
        OTB_WARN(r->log, "the kernel refused MPTCP (net.mptcp.enabled=0 or no MPTCP support): "
                 "using plain TCP, without aggregation or failover");
    }
}

void otb_relay_log_stats(const struct otb_relay *r)
{
    struct otb_counters s = r->stats;
    char line[OTB_COUNTERS_LINE_LEN];

    s.buffers_in_use = r->pool.in_use;
    otb_counters_format_line(&otb_tcp_counter_table, &s, line, sizeof(line));
    OTB_INFO(r->log, "stats: %s", line);
}

size_t otb_relay_paths(const struct otb_relay *r, struct otb_mptcp_path *out, size_t cap)
{
    size_t n = OTB_MIN(r->npaths, cap);

    memcpy(out, r->paths, n * sizeof(*out));
    for (const struct otb_conn *c = r->live; c; c = c->next) {
        struct otb_mptcp_path sub[OTB_RELAY_MAX_PATHS];
        int k;
        if (!c->cipher_mptcp || c->cipher_fd < 0)
            continue;
        k = otb_mptcp_subflows(c->cipher_fd, r->role == OTB_ROLE_SERVER, sub,
                               OTB_ARRAY_LEN(sub));
        if (k > 0)
            n = otb_mptcp_paths_add(out, n, cap, sub, (size_t)k);
    }
    return n;
}
