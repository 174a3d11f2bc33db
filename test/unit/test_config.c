/* Unit tests for otb_config: flags, defaults, --help, keys. */
#include "config_lib.h"

static void test_defaults(void **state)
{
    struct otb_config cfg;
    (void)state;
    otb_config_defaults(&cfg, OTB_PROG_REDIR);
    assert_int_equal(cfg.prog, OTB_PROG_REDIR);
    assert_string_equal(cfg.method, "chacha20-ietf-poly1305");
    assert_int_equal(cfg.timeout, 60);
    assert_int_equal(cfg.connect_timeout, 10);
    assert_int_equal(cfg.shutdown_timeout, 10);
    assert_true(cfg.mptcp);
    assert_string_equal(cfg.congestion, "cubic");
    assert_int_equal(cfg.mode, OTB_MODE_TCP_ONLY);
    assert_int_equal(cfg.n_servers, 0);
    assert_int_equal(cfg.server_port, 0);
    assert_int_equal(cfg.local_port, 0);
    assert_string_equal(cfg.password, "");
    assert_string_equal(cfg.key_b64, "");
    assert_false(cfg.fast_open);
    assert_false(cfg.tproxy);
    assert_int_equal(cfg.verbose, 0);
    assert_int_equal(cfg.mark, 0);
    assert_int_equal(cfg.max_conns, 0);
    assert_int_equal(cfg.nofile, 0);
}

static void test_hostport(void **state)
{
    static const struct {
        const char *text;
        int rc;
        const char *host;
        uint16_t port;
    } cases[] = {
        { "example.com", 0, "example.com", 0 },
        { "example.com:8388", 0, "example.com", 8388 },
        { "192.0.2.1:1", 0, "192.0.2.1", 1 },
        { "192.0.2.1:65535", 0, "192.0.2.1", 65535 },
        { "[2001:db8::1]:443", 0, "2001:db8::1", 443 },
        { "[::1]", 0, "::1", 0 },
        { "::1", 0, "::1", 0 },
        { "::", 0, "::", 0 },
        { "2001:db8::1", 0, "2001:db8::1", 0 },
        { "fe80::1%eth0", 0, "fe80::1%eth0", 0 },
        { "", -1, NULL, 0 },
        { "host:", -1, NULL, 0 },
        { ":80", -1, NULL, 0 },
        { "host:0", -1, NULL, 0 },
        { "host:65536", -1, NULL, 0 },
        { "host:99999999999999999999", -1, NULL, 0 },
        { "host:8a", -1, NULL, 0 },
        { "host:-1", -1, NULL, 0 },
        { "host:+80", -1, NULL, 0 },
        { "host: 80", -1, NULL, 0 },
        { "[::1", -1, NULL, 0 },
        { "[::1]80", -1, NULL, 0 },
        { "[::1]:", -1, NULL, 0 },
        { "[]:80", -1, NULL, 0 },
        { "[::1]:70000", -1, NULL, 0 },
        { "bad host:80", -1, NULL, 0 },
        { "a]b", -1, NULL, 0 },
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct otb_hostport hp = { .host = "untouched", .port = 7 };
        int rc = otb_config_parse_hostport(cases[i].text, &hp);
        if (rc != cases[i].rc)
            fail_msg("\"%s\": rc %d, expected %d", cases[i].text, rc, cases[i].rc);
        if (rc == 0) {
            assert_string_equal(hp.host, cases[i].host);
            assert_int_equal(hp.port, cases[i].port);
        } else {
            assert_string_equal(hp.host, "untouched"); /* no partial write */
            assert_int_equal(hp.port, 7);
        }
    }
    assert_int_equal(otb_config_parse_hostport(NULL, &(struct otb_hostport){ .port = 0 }), -1);

    /* A host of exactly OTB_HOST_MAX - 1 characters fits, one more does not. */
    char longhost[OTB_HOST_MAX + 8];
    struct otb_hostport hp;
    memset(longhost, 'a', OTB_HOST_MAX - 1);
    longhost[OTB_HOST_MAX - 1] = '\0';
    assert_int_equal(otb_config_parse_hostport(longhost, &hp), 0);
    assert_int_equal(strlen(hp.host), OTB_HOST_MAX - 1);
    longhost[OTB_HOST_MAX - 1] = 'a';
    longhost[OTB_HOST_MAX] = '\0';
    assert_int_equal(otb_config_parse_hostport(longhost, &hp), -1);
}

static void test_server_defaults_listen_any(void **state)
{
    struct otb_config cfg;
    char err[256];
    (void)state;
    assert_int_equal(LOAD(&cfg, OTB_PROG_SERVER, err, "-p", "8388", "-k", PW), OTB_CONFIG_OK);
    assert_int_equal(cfg.n_servers, 2);
    assert_string_equal(cfg.servers[0].host, "0.0.0.0");
    assert_string_equal(cfg.servers[1].host, "::");
    assert_int_equal(cfg.servers[0].port, 0);
    assert_int_equal(cfg.servers[1].port, 0);
    assert_int_equal(cfg.server_port, 8388);
    assert_string_equal(cfg.password, PW);

    /* An explicit -s replaces both. */
    assert_int_equal(LOAD(&cfg, OTB_PROG_SERVER, err, "-s", "192.0.2.1", "-p", "8388", "-k", PW),
                     OTB_CONFIG_OK);
    assert_int_equal(cfg.n_servers, 1);
    assert_string_equal(cfg.servers[0].host, "192.0.2.1");
}

static void test_all_flags(void **state)
{
    struct otb_config cfg;
    char err[256];
    (void)state;
    int rc = LOAD(&cfg, OTB_PROG_REDIR, err, "-s", "a.example", "-s", "[2001:db8::2]:9000", "-p",
                  "8388", "-l", "1080", "-b", "127.0.0.1", "-k", PW, "-m", "aes-256-gcm", "-t",
                  "120", "--connect-timeout", "5", "-u", "-v", "-v", "-6", "-d", "1.1.1.1,9.9.9.9",
                  "-f", "/run/otb.pid", "-a", "nobody", "-i", "eth0", "-n", "4096", "-T", "--acl",
                  "/etc/otb.acl", "--fast-open", "--reuse-port", "--no-delay", "--no-mptcp",
                  "--congestion", "bbr", "--mark", "0x10", "--syslog", "--max-conns", "500", "--shutdown-timeout", "3");
    if (rc != OTB_CONFIG_OK)
        fail_msg("rc %d: %s", rc, err);
    assert_int_equal(cfg.n_servers, 2);
    assert_string_equal(cfg.servers[0].host, "a.example");
    assert_int_equal(cfg.servers[0].port, 0);
    assert_string_equal(cfg.servers[1].host, "2001:db8::2");
    assert_int_equal(cfg.servers[1].port, 9000);
    assert_endpoints(&cfg, 8388, "127.0.0.1", 1080, "aes-256-gcm", 120, 5);
    assert_int_equal(cfg.verbose, 2);
    assert_true(cfg.ipv6_first);
    assert_string_equal(cfg.nameserver, "1.1.1.1,9.9.9.9");
    assert_string_equal(cfg.pidfile, "/run/otb.pid");
    assert_string_equal(cfg.user, "nobody");
    assert_string_equal(cfg.iface, "eth0");
    assert_int_equal(cfg.nofile, 4096);
    assert_true(cfg.tproxy);
    assert_string_equal(cfg.acl, "/etc/otb.acl");
    assert_socket_options(&cfg, "bbr");
    assert_int_equal(cfg.mark, 16);
    assert_true(cfg.use_syslog);
    assert_int_equal(cfg.max_conns, 500);
    assert_int_equal(cfg.shutdown_timeout, 3);

    assert_int_equal(LOAD(&cfg, OTB_PROG_REDIR, err, "-s", "a", "-p", "1", "-l", "2", "--key",
                          KEY32, "-U", "--mark", "4294967295"),
                     OTB_CONFIG_OK);
    assert_int_equal(cfg.mode, OTB_MODE_UDP_ONLY);
    assert_int_equal(cfg.mark, 4294967295u);
    assert_string_equal(cfg.key_b64, KEY32);
}

static void test_tunnel(void **state)
{
    static const struct {
        const char *to; /* -L, or NULL */
        const char *host;
        int port; /* -1: not checked */
    } cases[] = {
        { "8.8.8.8:53", "8.8.8.8", 53 },
        { "[2001:4860:4860::8888]:53", "2001:4860:4860::8888", -1 },
        /* Without -L the tunnel is transparent (TPROXY): no destination needed. */
        { NULL, "", -1 },
    };
    struct otb_config cfg;
    char err[256];

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        /* A NULL ends the argument list: no -L at all. */
        assert_int_equal(LOAD(&cfg, OTB_PROG_TUNNEL, err, "-s", "srv", "-p", "8388", "-l", "5353",
                              "-k", PW, cases[i].to ? "-L" : NULL, cases[i].to),
                         OTB_CONFIG_OK);
        assert_string_equal(cfg.tunnel_to.host, cases[i].host);
        if (cases[i].port >= 0)
            assert_int_equal(cfg.tunnel_to.port, cases[i].port);
    }
}

/* UDP association cap: server and tunnel only, flag and JSON key, bounded. */
static void test_udp_max_assoc(void **state)
{
    static const struct {
        enum otb_prog prog;
        const char *flag; /* --udp-max-assoc, or NULL */
        unsigned want;
    } good[] = {
        { OTB_PROG_SERVER, NULL, 4096 },
        { OTB_PROG_SERVER, "100", 100 },
        { OTB_PROG_TUNNEL, "1048576", 1048576 },
    };
    struct otb_config cfg;
    char err[256];
    (void)state;

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        const char *opt = good[i].flag ? "--udp-max-assoc" : NULL;
        int rc = good[i].prog == OTB_PROG_SERVER
                     ? LOAD(&cfg, OTB_PROG_SERVER, err, "-p", "1", "-k", PW, opt, good[i].flag)
                     : LOAD(&cfg, good[i].prog, err, "-s", "a", "-p", "1", "-l", "2", "-k", PW,
                            opt, good[i].flag);

        assert_int_equal(rc, OTB_CONFIG_OK);
        assert_int_equal(cfg.udp_max_assoc, good[i].want);
    }

    otb_config_defaults(&cfg, OTB_PROG_SERVER);
    static const char json[] = "{\"udp_max_associations\": 8192}";
    assert_int_equal(otb_config_apply_json(&cfg, json, sizeof(json) - 1, err, sizeof(err)),
                     OTB_CONFIG_OK);
    assert_int_equal(cfg.udp_max_assoc, 8192);

    static const char *const bad[] = { "15", "1048577", "x", "-1" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(LOAD(&cfg, OTB_PROG_SERVER, err, "-p", "1", "-k", PW, "--udp-max-assoc",
                              bad[i]),
                         OTB_CONFIG_ERROR);
        assert_contains(err, "udp_max_associations");
    }
    assert_int_equal(LOAD(&cfg, OTB_PROG_REDIR, err, "-s", "a", "-p", "1", "-l", "2", "-k", PW,
                          "--udp-max-assoc", "100"),
                     OTB_CONFIG_ERROR);
    assert_contains(err, "does not apply");
}

/* Every command-line error: rc and a message naming the key or flag. */
static void test_cli_errors(void **state)
{
    static const struct {
        enum otb_prog prog;
        const char *want;
        const char *args[24];
    } cases[] = {
        { OTB_PROG_SERVER, "server_port", { "-k", PW } },
        { OTB_PROG_SERVER, "missing server_port (-p)", { "-k", PW } },
        { OTB_PROG_REDIR, "server (-s)", { "-p", "8388", "-l", "1080", "-k", PW } },
        { OTB_PROG_REDIR, "local_port (-l)", { "-s", "a", "-p", "8388", "-k", PW } },
        { OTB_PROG_SERVER, "server_port", { "-p", "abc", "-k", PW } },
        { OTB_PROG_SERVER, "server_port", { "-p", "0", "-k", PW } },
        { OTB_PROG_SERVER, "server_port", { "-p", "65536", "-k", PW } },
        { OTB_PROG_SERVER, "server_port", { "-p", "-1", "-k", PW } },
        { OTB_PROG_SERVER, "server_port", { "-p", "", "-k", PW } },
        { OTB_PROG_REDIR, "local_port", { "-s", "a", "-p", "1", "-l", "x1", "-k", PW } },
        { OTB_PROG_SERVER, "timeout", { "-p", "1", "-k", PW, "-t", "0" } },
        { OTB_PROG_SERVER, "timeout", { "-p", "1", "-k", PW, "-t", "86401" } },
        { OTB_PROG_SERVER, "connect_timeout", { "-p", "1", "-k", PW, "--connect-timeout", "0" } },
        { OTB_PROG_SERVER, "shutdown_timeout",
          { "-p", "1", "-k", PW, "--shutdown-timeout", "1e3" } },
        { OTB_PROG_SERVER, "shape_downloads", { "-p", "1", "-k", PW, "--shape-downloads", "a;b" } },
        { OTB_PROG_SERVER, "shape_downloads", { "-p", "1", "-k", PW, "--shape-downloads", "a," } },
        { OTB_PROG_SERVER, "shape_downloads: not with user",
          { "-p", "1", "-k", PW, "--shape-downloads", "eth0", "-a", "nobody" } },
        { OTB_PROG_SERVER, "shape_share", { "-p", "1", "-k", PW, "--shape-share", "49" } },
        { OTB_PROG_SERVER, "shape_share", { "-p", "1", "-k", PW, "--shape-share", "101" } },
        { OTB_PROG_SERVER, "method", { "-p", "1", "-k", PW, "-m", "rc4-md5" } },
        { OTB_PROG_SERVER, "chacha20-ietf-poly1305", { "-p", "1", "-k", PW, "-m", "rc4-md5" } },
        { OTB_PROG_SERVER, "password (-k)", { "-p", "1" } },
        { OTB_PROG_SERVER, "password_file (--password-file)", { "-p", "1" } },
        { OTB_PROG_SERVER, "key (--key)", { "-p", "1" } },
        { OTB_PROG_SERVER, "key", { "-p", "1", "--key", "not*base64" } },
        { OTB_PROG_SERVER, "key", { "-p", "1", "--key", KEY16 } },
        { OTB_PROG_SERVER, "32-byte", { "-p", "1", "--key", KEY16, "-m", "aes-256-gcm" } },
        { OTB_PROG_SERVER, "16-byte", { "-p", "1", "--key", KEY32, "-m", "aes-128-gcm" } },
        { OTB_PROG_SERVER, "more than 8 servers",
          { "-p", "1", "-k", PW, "-s", "a", "-s", "b", "-s", "c", "-s", "d", "-s", "e", "-s", "f",
            "-s", "g", "-s", "h", "-s", "i" } },
        { OTB_PROG_SERVER, "server", { "-p", "1", "-k", PW, "-s", "[::1" } },
        { OTB_PROG_SERVER, "server", { "-p", "1", "-k", PW, "-s", "h:0" } },
        { OTB_PROG_TUNNEL, "tunnel_address",
          { "-s", "a", "-p", "1", "-l", "2", "-k", PW, "-L", "8.8.8.8" } },
        { OTB_PROG_TUNNEL, "tunnel_address",
          { "-s", "a", "-p", "1", "-l", "2", "-k", PW, "-L", "8.8.8.8:x" } },
        { OTB_PROG_SERVER, "user",
          { "-p", "1", "-k", PW, "-a",
            "a-very-long-user-name-that-does-not-fit-in-sixty-four-characters-at-all" } },
        { OTB_PROG_SERVER, "interface", { "-p", "1", "-k", PW, "-i", "interface-name-too-long" } },
        { OTB_PROG_SERVER, "-T", { "-p", "1", "-k", PW, "-T" } },
        { OTB_PROG_SERVER, "tproxy", { "-p", "1", "-k", PW, "-T" } },
        { OTB_PROG_TUNNEL, "-T",
          { "-s", "a", "-p", "1", "-l", "2", "-k", PW, "-L", "h:1", "-T" } },
        { OTB_PROG_SERVER, "tunnel_address", { "-p", "1", "-k", PW, "-L", "h:1" } },
        { OTB_PROG_REDIR, "-L", { "-s", "a", "-p", "1", "-l", "2", "-k", PW, "-L", "h:1" } },
        { OTB_PROG_SERVER, "mark", { "-p", "1", "-k", PW, "--mark", "4294967296" } },
        { OTB_PROG_SERVER, "mark", { "-p", "1", "-k", PW, "--mark", "0x" } },
        { OTB_PROG_SERVER, "nofile", { "-p", "1", "-k", PW, "-n", "lots" } },
        { OTB_PROG_SERVER, "max_connections", { "-p", "1", "-k", PW, "--max-conns", "-5" } },
        { OTB_PROG_SERVER, "-x", { "-p", "1", "-k", PW, "-x" } },
        { OTB_PROG_SERVER, "--bogus", { "-p", "1", "-k", PW, "--bogus" } },
        { OTB_PROG_SERVER, "option -p (server_port) requires an argument", { "-k", PW, "-p" } },
        { OTB_PROG_SERVER, "--mark", { "-p", "1", "-k", PW, "--mark" } },
        { OTB_PROG_SERVER, "--syslog", { "-p", "1", "-k", PW, "--syslog=yes" } },
        { OTB_PROG_SERVER, "stray", { "-p", "1", "-k", PW, "stray" } },
        { OTB_PROG_SERVER, "password_file",
          { "-p", "1", "--password-file", "/nonexistent/otb/password" } },
        { OTB_PROG_SERVER, "config file", { "-p", "1", "-k", PW, "-c", "/nonexistent/otb.json" } },
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct otb_config cfg;
        char err[512] = "";
        int rc = load_args(&cfg, cases[i].prog, err, sizeof(err), cases[i].args);
        if (rc != OTB_CONFIG_ERROR)
            fail_msg("case %zu (want \"%s\"): rc %d", i, cases[i].want, rc);
        assert_contains(err, cases[i].want);
        assert_null(strchr(err, '\n')); /* one line */
        assert_lacks(err, PW);
        assert_lacks(err, KEY32);
        assert_lacks(err, KEY16);
    }
}

/* err never holds the secret, whatever goes wrong around it. */
static void test_secret_not_in_errors(void **state)
{
    static const char *const cases[][8] = {
        { "-k", PW, "-p", "bad" },
        { "-k", PW, "-m", "nope", "-p", "1" },
        { "-k", PW },
        { "-k", PW PW PW PW PW PW PW PW PW PW PW PW PW, "-p", "1" },
        { "--key", KEY32 "AAAA", "-p", "1" },
        { "--key", KEY32, "-p", "1", "-m", "aes-128-gcm" },
        { "-k", PW, "-p", "1", "-T" },
        { "-k", PW, "-p", "1", "-s", "[::1" },
        { "-k", PW, "-p", "1", "-c", "/nonexistent/otb.json" },
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct otb_config cfg;
        char err[1024] = "";
        assert_int_equal(load_args(&cfg, OTB_PROG_SERVER, err, sizeof(err), cases[i]),
                         OTB_CONFIG_ERROR);
        assert_true(err[0] != '\0');
        assert_lacks(err, PW);
        assert_lacks(err, KEY32);
        assert_string_equal(cfg.password, "");
        assert_string_equal(cfg.key_b64, "");
    }
}

static void test_help_version(void **state)
{
    (void)state;
    for (int p = OTB_PROG_SERVER; p <= OTB_PROG_TUNNEL; p++) {
        struct otb_config cfg;
        char err[256] = "";
        assert_int_equal(LOAD(&cfg, (enum otb_prog)p, err, "-h"), OTB_CONFIG_EXIT);
        assert_int_equal(LOAD(&cfg, (enum otb_prog)p, err, "--help"), OTB_CONFIG_EXIT);
        assert_int_equal(LOAD(&cfg, (enum otb_prog)p, err, "-V"), OTB_CONFIG_EXIT);
        assert_int_equal(LOAD(&cfg, (enum otb_prog)p, err, "--version"), OTB_CONFIG_EXIT);
        /* Before any check of the rest: no config file is read. */
        assert_int_equal(LOAD(&cfg, (enum otb_prog)p, err, "-c", "/nonexistent", "--help"),
                         OTB_CONFIG_EXIT);
    }
}

static char *usage_text(enum otb_prog prog)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    otb_config_usage(prog, f);
    fclose(f);
    return text;
}

static void test_usage(void **state)
{
    (void)state;
    char *server = usage_text(OTB_PROG_SERVER);
    char *redir = usage_text(OTB_PROG_REDIR);
    char *tunnel = usage_text(OTB_PROG_TUNNEL);

    assert_contains(server, "otb-server");
    assert_contains(server, "--password-file");
    assert_contains(server, "(default 60)");
    assert_contains(server, "(default chacha20-ietf-poly1305)");
    assert_contains(server, "0.0.0.0 and ::");
    assert_contains(server, "aes-128-gcm");
    assert_lacks(server, "-T ");
    assert_lacks(server, "-L ");
    assert_contains(redir, "-T ");
    assert_lacks(redir, "-L ");
    assert_contains(tunnel, "-L HOST:PORT");
    assert_lacks(tunnel, "-T ");
    free(server);
    free(redir);
    free(tunnel);
}

/* The box's SOCKS5 address and pending caps: defaults, flags, bounds. */
static void test_box_pending(void **state)
{
    struct otb_config cfg;
    char err[256] = "";
    (void)state;

    assert_int_equal(LOAD(&cfg, OTB_PROG_REDIR, err, "-s", "192.0.2.1", "-p", "1", "-l", "2", "-k", PW),
                     OTB_CONFIG_OK);
    assert_int_equal(cfg.max_pending, 1024);
    assert_int_equal(cfg.max_pending_per_source, 64);
    assert_string_equal(cfg.socks5_addr, "");
    assert_int_equal(LOAD(&cfg, OTB_PROG_REDIR, err, "-s", "192.0.2.1", "-p", "1", "-l", "2", "-k", PW,
                          "--max-pending", "10", "--max-pending-per-source", "2",
                          "--socks5-address", "192.168.1.1"),
                     OTB_CONFIG_OK);
    assert_int_equal(cfg.max_pending, 10);
    assert_int_equal(cfg.max_pending_per_source, 2);
    assert_string_equal(cfg.socks5_addr, "192.168.1.1");
    assert_int_equal(LOAD(&cfg, OTB_PROG_REDIR, err, "-s", "192.0.2.1", "-p", "1", "-l", "2", "-k", PW,
                          "--max-pending-per-source", "0"),
                     OTB_CONFIG_ERROR);
    assert_contains(err, "max_pending_per_source");
    /* the server has no such option */
    assert_int_equal(LOAD(&cfg, OTB_PROG_SERVER, err, "-p", "1", "-k", PW, "--max-pending", "9"),
                     OTB_CONFIG_ERROR);
}

/* The password and key text go once the key is derived. */
static void test_wipe_secrets(void **state)
{
    struct otb_config cfg;
    char err[256] = "";
    static const char zero[sizeof(cfg.password)];
    (void)state;

    assert_int_equal(LOAD(&cfg, OTB_PROG_SERVER, err, "-p", "1", "-k", PW), OTB_CONFIG_OK);
    otb_config_wipe_secrets(&cfg);
    assert_memory_equal(cfg.password, zero, sizeof(cfg.password));
    assert_memory_equal(cfg.key_b64, zero, sizeof(cfg.key_b64));
}

static void test_master(void **state)
{
    struct otb_config cfg;
    struct otb_master m, want;
    char err[256] = "";
    (void)state;

    otb_config_defaults(&cfg, OTB_PROG_SERVER);
    assert_int_equal(otb_config_master(&cfg, &m, err, sizeof(err)), OTB_CONFIG_ERROR);
    assert_contains(err, "password");
    assert_contains(err, "key");

    snprintf(cfg.password, sizeof(cfg.password), "%s", PW);
    assert_int_equal(otb_config_master(&cfg, &m, err, sizeof(err)), OTB_CONFIG_OK);
    otb_master_from_password(&want, OTB_CHACHA20_IETF_POLY1305, PW);
    assert_int_equal(m.method, OTB_CHACHA20_IETF_POLY1305);
    assert_int_equal(m.key_len, 32);
    assert_memory_equal(m.key, want.key, 32);

    /* The key wins over the password. */
    snprintf(cfg.key_b64, sizeof(cfg.key_b64), "%s", KEY32);
    assert_int_equal(otb_config_master(&cfg, &m, err, sizeof(err)), OTB_CONFIG_OK);
    for (int i = 0; i < 32; i++)
        assert_int_equal(m.key[i], i + 1);

    snprintf(cfg.method, sizeof(cfg.method), "aes-128-gcm");
    assert_int_equal(otb_config_master(&cfg, &m, err, sizeof(err)), OTB_CONFIG_ERROR);
    assert_contains(err, "key");
    assert_lacks(err, KEY32);
    snprintf(cfg.key_b64, sizeof(cfg.key_b64), "%s", KEY16);
    assert_int_equal(otb_config_master(&cfg, &m, err, sizeof(err)), OTB_CONFIG_OK);
    assert_int_equal(m.key_len, 16);

    snprintf(cfg.method, sizeof(cfg.method), "rc4-md5");
    assert_int_equal(otb_config_master(&cfg, &m, err, sizeof(err)), OTB_CONFIG_ERROR);
    assert_contains(err, "method");
    otb_master_wipe(&m);
    otb_master_wipe(&want);
}

/* A 2022 method's secret is its base64 PSK, as key or as password; any other
 * length, or text that is not base64, is an error naming the key it came
 * from, at load time (exit 2) and when the master is made. */
static void test_master_2022(void **state)
{
    struct otb_config cfg;
    struct otb_master m;
    char err[256] = "";
    (void)state;

    assert_int_equal(LOAD(&cfg, OTB_PROG_SERVER, err, "-p", "8388", "-m",
                          "2022-blake3-aes-256-gcm", "-k", KEY32),
                     OTB_CONFIG_OK);
    assert_int_equal(otb_config_master(&cfg, &m, err, sizeof(err)), OTB_CONFIG_OK);
    assert_int_equal(m.method, OTB_2022_AES_256_GCM);
    for (int i = 0; i < 32; i++)
        assert_int_equal(m.key[i], i + 1); /* the password is the key, not hashed */
    assert_int_equal(LOAD(&cfg, OTB_PROG_SERVER, err, "-p", "8388", "-m",
                          "2022-blake3-aes-128-gcm", "--key", KEY16),
                     OTB_CONFIG_OK);
    assert_int_equal(otb_config_master(&cfg, &m, err, sizeof(err)), OTB_CONFIG_OK);
    assert_int_equal(m.key_len, 16);

    assert_int_equal(LOAD(&cfg, OTB_PROG_SERVER, err, "-p", "8388", "-m",
                          "2022-blake3-aes-128-gcm", "-k", KEY32),
                     OTB_CONFIG_ERROR);
    assert_contains(err, "password (-k)");
    assert_contains(err, "16-byte");
    assert_lacks(err, KEY32);
    assert_int_equal(LOAD(&cfg, OTB_PROG_SERVER, err, "-p", "8388", "-m",
                          "2022-blake3-chacha20-poly1305", "--key", KEY16),
                     OTB_CONFIG_ERROR);
    assert_contains(err, "key (--key)");
    assert_int_equal(LOAD(&cfg, OTB_PROG_SERVER, err, "-p", "8388", "-m",
                          "2022-blake3-aes-256-gcm", "-k", PW),
                     OTB_CONFIG_ERROR);
    assert_contains(err, "password (-k)");
    assert_lacks(err, PW);

    otb_config_defaults(&cfg, OTB_PROG_SERVER);
    snprintf(cfg.method, sizeof(cfg.method), "2022-blake3-aes-256-gcm");
    snprintf(cfg.password, sizeof(cfg.password), "%s", PW);
    assert_int_equal(otb_config_master(&cfg, &m, err, sizeof(err)), OTB_CONFIG_ERROR);
    assert_contains(err, "password (-k)");
    otb_master_wipe(&m);
}

/* Tiny buffers truncate the message but never overflow. */
static void test_small_err_buffer(void **state)
{
    struct otb_config cfg;
    char err[8];
    (void)state;
    memset(err, 'x', sizeof(err));
    assert_int_equal(load_args(&cfg, OTB_PROG_SERVER, err, 4, (const char *const[]){ "-p", NULL }),
                     OTB_CONFIG_ERROR);
    assert_int_equal(strlen(err), 3);
    assert_int_equal(err[4], 'x');
    assert_int_equal(load_args(&cfg, OTB_PROG_SERVER, NULL, 0, (const char *const[]){ "-p", NULL }),
                     OTB_CONFIG_ERROR);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_hostport),
        cmocka_unit_test(test_server_defaults_listen_any),
        cmocka_unit_test(test_all_flags),
        cmocka_unit_test(test_tunnel),
        cmocka_unit_test(test_udp_max_assoc),
        cmocka_unit_test(test_cli_errors),
        cmocka_unit_test(test_secret_not_in_errors),
        cmocka_unit_test(test_help_version),
        cmocka_unit_test(test_usage),
        cmocka_unit_test(test_master),
        cmocka_unit_test(test_box_pending),
        cmocka_unit_test(test_wipe_secrets),
        cmocka_unit_test(test_master_2022),
        cmocka_unit_test(test_small_err_buffer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
