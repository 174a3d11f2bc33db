/* libFuzzer target for the JSON config parser: arbitrary bytes are applied
 * as a config file over each program's defaults. Checked: the result is
 * OK or an error with a terminated one-line message; every text field of the
 * result is terminated within its array; counts and enums stay in range;
 * and error buffers of size 0 and 1 are not overrun.
 *
 * "password_file" makes the parser open the named path: standard input is
 * pointed at /dev/null first, so that "/dev/stdin" cannot stall a run. */
#include <fcntl.h>
#include <unistd.h>

#include "fuzz.h"
#include "otb_common.h"
#include "otb_config.h"

#define FUZZ_TERMINATED(field) FUZZ_CHECK(memchr((field), '\0', sizeof(field)) != NULL)

int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    int fd = open("/dev/null", O_RDONLY);

    (void)argc;
    (void)argv;
    if (fd >= 0) {
        dup2(fd, STDIN_FILENO);
        if (fd != STDIN_FILENO)
            close(fd);
    }
    return 0;
}

static void check_config(const struct otb_config *cfg, enum otb_prog prog)
{
    FUZZ_CHECK(cfg->prog == prog);
    FUZZ_CHECK(cfg->n_servers <= OTB_MAX_SERVERS);
    for (size_t i = 0; i < cfg->n_servers; i++) {
        FUZZ_TERMINATED(cfg->servers[i].host);
        FUZZ_CHECK(cfg->servers[i].host[0] != '\0');
    }
    FUZZ_CHECK(cfg->mode == OTB_MODE_TCP_ONLY || cfg->mode == OTB_MODE_TCP_AND_UDP ||
               cfg->mode == OTB_MODE_UDP_ONLY);
    FUZZ_CHECK(cfg->timeout >= 1 && cfg->connect_timeout >= 1 && cfg->shutdown_timeout >= 1);
    FUZZ_CHECK(cfg->max_conns >= 0 && cfg->nofile >= 0);
    FUZZ_CHECK(cfg->verbose >= 0);
    FUZZ_TERMINATED(cfg->local_addr);
    FUZZ_TERMINATED(cfg->password);
    FUZZ_TERMINATED(cfg->key_b64);
    FUZZ_TERMINATED(cfg->method);
    FUZZ_TERMINATED(cfg->nameserver);
    FUZZ_TERMINATED(cfg->acl);
    FUZZ_TERMINATED(cfg->pidfile);
    FUZZ_TERMINATED(cfg->user);
    FUZZ_TERMINATED(cfg->iface);
    FUZZ_TERMINATED(cfg->tunnel_to.host);
    FUZZ_TERMINATED(cfg->socks5_user);
    FUZZ_TERMINATED(cfg->socks5_password);
}

static void check_error(const char *err, size_t errlen)
{
    size_t n = strnlen(err, errlen);

    FUZZ_CHECK(n < errlen && n > 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const enum otb_prog progs[] = { OTB_PROG_SERVER, OTB_PROG_REDIR, OTB_PROG_TUNNEL };
    struct otb_config cfg;
    char err[256];

    for (size_t i = 0; i < OTB_ARRAY_LEN(progs); i++) {
        int rc;
        otb_config_defaults(&cfg, progs[i]);
        err[0] = '\0';
        rc = otb_config_apply_json(&cfg, (const char *)data, size, err, sizeof(err));
        FUZZ_CHECK(rc == OTB_CONFIG_OK || rc == OTB_CONFIG_ERROR);
        check_config(&cfg, progs[i]);
        if (rc == OTB_CONFIG_ERROR)
            check_error(err, sizeof(err));
    }

    /* Tiny and absent error buffers: heap-allocated to their exact size. */
    {
        char *one = malloc(1);
        int rc;
        FUZZ_CHECK(one != NULL);
        one[0] = 'Z';
        otb_config_defaults(&cfg, OTB_PROG_REDIR);
        rc = otb_config_apply_json(&cfg, (const char *)data, size, one, 1);
        FUZZ_CHECK(rc != OTB_CONFIG_ERROR || one[0] == '\0');
        free(one);
        otb_config_defaults(&cfg, OTB_PROG_SERVER);
        (void)otb_config_apply_json(&cfg, (const char *)data, size, NULL, 0);
    }
    return 0;
}
