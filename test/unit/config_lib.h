/* What the otb_config unit tests share: loading an argument list, text
 * assertions, a private directory of files. */
#ifndef OTB_TEST_CONFIG_LIB_H
#define OTB_TEST_CONFIG_LIB_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "otb_config.h"

#define PW "Sup3r-Secret-Passw0rd"
#define KEY32 "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=" /* bytes 1..32 */
#define KEY16 "AQIDBAUGBwgJCgsMDQ4PEA=="                     /* bytes 1..16 */
#define MAX_ARGS 64
#define MAX_FILES 16

static const char *const prog_names[] = { "otb-server", "otb-redir", "otb-tunnel" };

/* Runs otb_config_load on a NULL-terminated argument list (argv[0] added). */
static inline int load_args(struct otb_config *cfg, enum otb_prog prog, char *err, size_t errlen,
                     const char *const *args)
{
    char *argv[MAX_ARGS + 2];
    int argc = 0;

    argv[argc++] = strdup(prog_names[prog]);
    for (size_t i = 0; args[i] != NULL; i++) {
        assert_true(argc <= MAX_ARGS);
        argv[argc++] = strdup(args[i]);
    }
    argv[argc] = NULL;
    int rc = otb_config_load(cfg, prog, argc, argv, err, errlen);
    for (int i = 0; i < argc; i++)
        free(argv[i]);
    return rc;
}

#define LOAD(cfg, prog, err, ...) \
    load_args(cfg, prog, err, sizeof(err), (const char *const[]){ __VA_ARGS__, NULL })

static inline void assert_contains(const char *text, const char *want)
{
    if (strstr(text, want) == NULL)
        fail_msg("\"%s\" does not contain \"%s\"", text, want);
}

/* The fields a redir config sets in every test that gives them all: ports,
 * local address, method and timeouts, in TCP and UDP mode. */
static inline void assert_endpoints(const struct otb_config *cfg, int server_port, const char *local_addr,
                             int local_port, const char *method, int timeout, int connect_timeout)
{
    assert_int_equal(cfg->server_port, server_port);
    assert_string_equal(cfg->local_addr, local_addr);
    assert_int_equal(cfg->local_port, local_port);
    assert_string_equal(cfg->method, method);
    assert_int_equal(cfg->timeout, timeout);
    assert_int_equal(cfg->connect_timeout, connect_timeout);
    assert_int_equal(cfg->mode, OTB_MODE_TCP_AND_UDP);
}

/* TCP Fast Open, SO_REUSEPORT and TCP_NODELAY on, MPTCP off, and CONGESTION. */
static inline void assert_socket_options(const struct otb_config *cfg, const char *congestion)
{
    assert_true(cfg->fast_open);
    assert_true(cfg->reuse_port);
    assert_true(cfg->no_delay);
    assert_false(cfg->mptcp);
    assert_string_equal(cfg->congestion, congestion);
}

static inline void assert_lacks(const char *text, const char *unwanted)
{
    if (strstr(text, unwanted) != NULL)
        fail_msg("\"%s\" contains \"%s\"", text, unwanted);
}

/* A private directory of files, removed after each test. */
struct tmp {
    char dir[64];
    char paths[MAX_FILES][128];
    size_t n;
};

static inline int tmp_setup(void **state)
{
    struct tmp *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return -1;
    snprintf(t->dir, sizeof(t->dir), "/tmp/otb-test-config.XXXXXX");
    if (mkdtemp(t->dir) == NULL) {
        free(t);
        return -1;
    }
    *state = t;
    return 0;
}

static inline int tmp_teardown(void **state)
{
    struct tmp *t = *state;
    for (size_t i = 0; i < t->n; i++)
        unlink(t->paths[i]);
    rmdir(t->dir);
    free(t);
    return 0;
}

static inline const char *tmp_file(struct tmp *t, const char *name, const char *content)
{
    assert_true(t->n < MAX_FILES);
    char dir[sizeof(t->dir)];
    char *path = t->paths[t->n++];
    memcpy(dir, t->dir, sizeof(dir));
    snprintf(path, sizeof(t->paths[0]), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(content, f);
    assert_int_equal(fclose(f), 0);
    return path;
}

#endif
