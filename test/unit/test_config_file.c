/* Unit tests for otb_config: JSON files, precedence of flags over files,
 * password files, validation of file values. */
#include "config_lib.h"

#include <arpa/inet.h>
#include <netinet/in.h>

/* Every JSON error: rc and a message naming the key. */
static void test_json_errors(void **state)
{
    static const struct {
        const char *json;
        const char *want;
    } cases[] = {
        { "{\"server_port\": \"abc\"}", "config key \"server_port\": expected an integer 1-65535" },
        { "{\"server_port\": 0}", "server_port" },
        { "{\"server_port\": 65536}", "server_port" },
        { "{\"server_port\": -1}", "server_port" },
        { "{\"server_port\": 8388.5}", "server_port" },
        { "{\"server_port\": true}", "server_port" },
        { "{\"server_port\": \"8388 \"}", "server_port" },
        { "{\"local_port\": null}", "local_port" },
        { "{\"timeout\": 0}", "timeout" },
        { "{\"timeout\": 100000}", "timeout" },
        { "{\"connect_timeout\": \"\"}", "connect_timeout" },
        { "{\"shutdown_timeout\": 0}", "shutdown_timeout" },
        { "{\"method\": \"rc4-md5\"}", "method" },
        { "{\"method\": [\"aes-128-gcm\"]}", "method" },
        { "{\"mode\": \"tcp\"}", "mode" },
        { "{\"mode\": 1}", "mode" },
        { "{\"fast_open\": \"yes\"}", "fast_open" },
        { "{\"mptcp\": 1}", "mptcp" },
        { "{\"reuse_port\": null}", "reuse_port" },
        { "{\"no_delay\": \"true\"}", "no_delay" },
        { "{\"congestion\": \"cubic; reboot\"}", "congestion" },
        { "{\"congestion\": \"a-name-far-too-long\"}", "congestion" },
        { "{\"ipv6_first\": {}}", "ipv6_first" },
        { "{\"syslog\": 0}", "syslog" },
        { "{\"tproxy\": \"on\"}", "tproxy" },
        { "{\"verbose\": -1}", "verbose" },
        { "{\"verbose\": \"loud\"}", "verbose" },
        { "{\"mark\": 4294967296}", "mark" },
        { "{\"nofile\": -1}", "nofile" },
        { "{\"max_connections\": \"many\"}", "max_connections" },
        { "{\"workers\": \"four\"}", "workers" },
        { "{\"server\": 5.5}", "server" },
        { "{\"server\": {}}", "server" },
        { "{\"server\": [\"a\", 1.5]}", "server" },
        { "{\"server\": [\"a\", \"[::1\"]}", "server" },
        { "{\"server\": \"host:99999\"}", "server" },
        { "{\"server\": [\"a\",\"b\",\"c\",\"d\",\"e\",\"f\",\"g\",\"h\",\"i\"]}",
          "config key \"server\": more than 8 servers" },
        { "{\"tunnel_address\": \"nohostport\"}", "tunnel_address" },
        { "{\"tunnel_address\": 53}", "tunnel_address" },
        { "{\"password\": [\"" PW "\"]}", "password" },
        { "{\"password\": true}", "password" },
        { "{\"key\": false}", "key" },
        { "{\"password_file\": \"/nonexistent/otb/pw\"}", "password_file" },
        { "{\"user\": \"0123456789012345678901234567890123456789012345678901234567890123\"}",
          "config key \"user\": longer than 63 characters" },
        { "{\"interface\": \"0123456789abcdef\"}", "interface" },
        { "{\"local_address\": 1.5}", "local_address" },
        { "{\"nameserver\": []}", "nameserver" },
        { "{\"acl\": \"a\\u0000b\"}", "acl" },
        { "{\"pid_file\": null}", "pid_file" },
        { "{\"foo\": 1}", "unknown config key \"foo\"" },
        { "{\"plugin\": \"\"}", "plugin" },
        { "{\"server_port\": 8388,}x", "invalid JSON" },
        { "{\"server_port\": 8388", "invalid JSON" },
        { "{\n\"server_port\": 8388\n\"timeout\": 5}", "invalid JSON at line 3" },
        { "{} {}", "invalid JSON" },
        { "", "invalid JSON" },
        { "[1, 2]", "expected an object" },
        { "\"server\"", "invalid JSON" },
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct otb_config cfg;
        char err[512] = "";
        otb_config_defaults(&cfg, OTB_PROG_REDIR);
        int rc = otb_config_apply_json(&cfg, cases[i].json, strlen(cases[i].json), err,
                                       sizeof(err));
        if (rc != OTB_CONFIG_ERROR)
            fail_msg("case %zu (%s): rc %d", i, cases[i].json, rc);
        assert_contains(err, cases[i].want);
        assert_null(strchr(err, '\n'));
        assert_lacks(err, PW);
    }
}

static void test_json_values(void **state)
{
    static const char json[] =
        "{\n"
        "  /* shadowsocks-libev style, with comments */\n"
        "  \"server\": \"198.51.100.7\",\n"
        "  \"server_port\": \"8388\",\n"
        "  \"local_address\": \"0.0.0.0\",\n"
        "  \"local_port\": 1080,\n"
        "  \"password\": 123456,\n"
        "  \"method\": \"xchacha20-ietf-poly1305\",\n"
        "  \"timeout\": \"300\",\n"
        "  \"connect_timeout\": 7,\n"
        "  \"mode\": \"tcp_and_udp\",\n"
        "  \"mptcp\": false,\n"
        "  \"fast_open\": true,\n"
        "  \"reuse_port\": true,\n"
        "  \"no_delay\": true,\n"
        "  \"congestion\": \"\",\n"
        "  \"ipv6_first\": true,\n"
        "  \"nameserver\": \"1.1.1.1\",\n"
        "  \"acl\": \"/etc/otb.acl\",\n"
        "  \"pid_file\": \"/run/otb.pid\",\n"
        "  \"user\": \"nobody\",\n"
        "  \"interface\": \"wan0\",\n"
        "  \"mark\": \"0xff\",\n"
        "  \"verbose\": true,\n"
        "  \"syslog\": true,\n"
        "  \"max_connections\": 1000,\n"
        "  \"nofile\": 65536,\n"
        "  \"shutdown_timeout\": 20,\n"
        "  \"tproxy\": true,\n"
        "  \"tunnel_address\": \"[2001:db8::53]:53\",\n"
        "  \"workers\": 4 // ignored\n"
        "}\n";
    struct otb_config cfg;
    char err[256] = "";
    (void)state;
    otb_config_defaults(&cfg, OTB_PROG_REDIR);
    int rc = otb_config_apply_json(&cfg, json, strlen(json), err, sizeof(err));
    if (rc != OTB_CONFIG_OK)
        fail_msg("rc %d: %s", rc, err);
    assert_int_equal(cfg.n_servers, 1);
    assert_string_equal(cfg.servers[0].host, "198.51.100.7");
    assert_endpoints(&cfg, 8388, "0.0.0.0", 1080, "xchacha20-ietf-poly1305", 300, 7);
    assert_string_equal(cfg.password, "123456");
    assert_socket_options(&cfg, "");
    assert_true(cfg.ipv6_first);
    assert_string_equal(cfg.nameserver, "1.1.1.1");
    assert_string_equal(cfg.acl, "/etc/otb.acl");
    assert_string_equal(cfg.pidfile, "/run/otb.pid");
    assert_string_equal(cfg.user, "nobody");
    assert_string_equal(cfg.iface, "wan0");
    assert_int_equal(cfg.mark, 255);
    assert_int_equal(cfg.verbose, 1);
    assert_true(cfg.use_syslog);
    assert_int_equal(cfg.max_conns, 1000);
    assert_int_equal(cfg.nofile, 65536);
    assert_int_equal(cfg.shutdown_timeout, 20);
    assert_true(cfg.tproxy);
    assert_string_equal(cfg.tunnel_to.host, "2001:db8::53");
    assert_int_equal(cfg.tunnel_to.port, 53);

    /* "server" as an array replaces the list; "verbose" as a number. */
    static const char json2[] = "{\"server\": [\"a.example:443\", \"[::1]\", \"b\"],"
                                " \"verbose\": 3, \"mode\": \"udp_only\"}";
    assert_int_equal(otb_config_apply_json(&cfg, json2, strlen(json2), err, sizeof(err)),
                     OTB_CONFIG_OK);
    assert_int_equal(cfg.n_servers, 3);
    assert_string_equal(cfg.servers[0].host, "a.example");
    assert_int_equal(cfg.servers[0].port, 443);
    assert_string_equal(cfg.servers[1].host, "::1");
    assert_int_equal(cfg.servers[1].port, 0);
    assert_string_equal(cfg.servers[2].host, "b");
    assert_int_equal(cfg.verbose, 3);
    assert_int_equal(cfg.mode, OTB_MODE_UDP_ONLY);

    /* An empty object changes nothing. */
    assert_int_equal(otb_config_apply_json(&cfg, "{}", 2, err, sizeof(err)), OTB_CONFIG_OK);
    assert_int_equal(cfg.n_servers, 3);
}

/* The same file and flags, with -c first and last: the flags win both times. */
static void test_cli_overrides_file(void **state)
{
    struct tmp *t = *state;
    const char *path = tmp_file(t, "config.json",
                                "{\"server\": [\"file-a\", \"file-b\"], \"server_port\": 1000,"
                                " \"local_port\": 1080, \"password\": \"file-password\","
                                " \"method\": \"aes-128-gcm\", \"timeout\": 30, \"mptcp\": false,"
                                " \"mode\": \"udp_only\", \"verbose\": 2, \"user\": \"fileuser\"}");
    for (int order = 0; order < 2; order++) {
        struct otb_config cfg;
        char err[512] = "";
        int rc = order == 0
                     ? LOAD(&cfg, OTB_PROG_REDIR, err, "-c", path, "-p", "2000", "-t", "45", "-s",
                            "cli-a", "--mptcp", "-u", "-v", "-a", "cliuser")
                     : LOAD(&cfg, OTB_PROG_REDIR, err, "-p", "2000", "-t", "45", "-s", "cli-a",
                            "--mptcp", "-u", "-v", "-a", "cliuser", "-c", path);
        if (rc != OTB_CONFIG_OK)
            fail_msg("order %d: rc %d: %s", order, rc, err);
        assert_int_equal(cfg.server_port, 2000);
        assert_int_equal(cfg.timeout, 45);
        assert_int_equal(cfg.n_servers, 1);
        assert_string_equal(cfg.servers[0].host, "cli-a");
        assert_true(cfg.mptcp);
        assert_int_equal(cfg.mode, OTB_MODE_TCP_AND_UDP);
        assert_int_equal(cfg.verbose, 3); /* -v adds to the file's level */
        assert_string_equal(cfg.user, "cliuser");
        /* Keys without a flag keep the file's values. */
        assert_int_equal(cfg.local_port, 1080);
        assert_string_equal(cfg.method, "aes-128-gcm");
        assert_string_equal(cfg.password, "file-password");
    }

    /* Several -s replace the file's list together. */
    struct otb_config cfg;
    char err[512] = "";
    assert_int_equal(LOAD(&cfg, OTB_PROG_REDIR, err, "-s", "x", "-c", path, "-s", "y"),
                     OTB_CONFIG_OK);
    assert_int_equal(cfg.n_servers, 2);
    assert_string_equal(cfg.servers[0].host, "x");
    assert_string_equal(cfg.servers[1].host, "y");

    /* Without flags the file's values stand. */
    assert_int_equal(LOAD(&cfg, OTB_PROG_REDIR, err, "-c", path), OTB_CONFIG_OK);
    assert_int_equal(cfg.server_port, 1000);
    assert_int_equal(cfg.n_servers, 2);
    assert_string_equal(cfg.servers[1].host, "file-b");
    assert_false(cfg.mptcp);
}

/* The n-th public address, as text. */
static const char *public_addr(const struct otb_config *cfg, size_t i, char *buf, size_t len)
{
    const struct sockaddr_storage *ss = &cfg->public_addrs[i];
    const void *a = ss->ss_family == AF_INET
                        ? (const void *)&((const struct sockaddr_in *)ss)->sin_addr
                        : (const void *)&((const struct sockaddr_in6 *)ss)->sin6_addr;

    assert_non_null(inet_ntop(ss->ss_family, a, buf, (socklen_t)len));
    return buf;
}

/* --public-address appends (the first one replaces the file's list); the
 * file's "public_address" is a string or an array; bad values name the key. */
static void test_public_address(void **state)
{
    struct tmp *t = *state;
    const char *arr = tmp_file(t, "arr.json", "{\"public_address\": [\"203.0.114.7\", "
                                              "\"2001:db9::7\"]}");
    const char *one = tmp_file(t, "one.json", "{\"public_address\": \"203.0.114.9\"}");
    const char *bad = tmp_file(t, "bad.json", "{\"public_address\": [\"203.0.114.9/24\"]}");
    const char *num = tmp_file(t, "num.json", "{\"public_address\": [7]}");
    struct otb_config cfg;
    char err[512] = "", buf[64];

    assert_int_equal(LOAD(&cfg, OTB_PROG_SERVER, err, "-p", "1", "-k", PW), OTB_CONFIG_OK);
    assert_int_equal(cfg.n_public_addrs, 0);
    assert_int_equal(LOAD(&cfg, OTB_PROG_SERVER, err, "-p", "1", "-k", PW, "-c", arr),
                     OTB_CONFIG_OK);
    assert_int_equal(cfg.n_public_addrs, 2);
    assert_string_equal(public_addr(&cfg, 0, buf, sizeof(buf)), "203.0.114.7");
    assert_string_equal(public_addr(&cfg, 1, buf, sizeof(buf)), "2001:db9::7");
    assert_int_equal(LOAD(&cfg, OTB_PROG_SERVER, err, "-p", "1", "-k", PW, "-c", one),
                     OTB_CONFIG_OK);
    assert_int_equal(cfg.n_public_addrs, 1);
    assert_string_equal(public_addr(&cfg, 0, buf, sizeof(buf)), "203.0.114.9");
    assert_int_equal(LOAD(&cfg, OTB_PROG_SERVER, err, "--public-address", "198.51.99.1", "-c",
                          arr, "-p", "1", "-k", PW, "--public-address", "::ffff:198.51.99.2"),
                     OTB_CONFIG_OK);
    assert_int_equal(cfg.n_public_addrs, 2);
    assert_string_equal(public_addr(&cfg, 0, buf, sizeof(buf)), "198.51.99.1");
    assert_string_equal(public_addr(&cfg, 1, buf, sizeof(buf)), "::ffff:198.51.99.2");

    assert_int_equal(LOAD(&cfg, OTB_PROG_SERVER, err, "-p", "1", "-k", PW, "--public-address",
                          "host.test"),
                     OTB_CONFIG_ERROR);
    assert_contains(err, "public_address");
    assert_contains(err, "host.test");
    assert_int_equal(LOAD(&cfg, OTB_PROG_SERVER, err, "-p", "1", "-k", PW, "-c", bad),
                     OTB_CONFIG_ERROR);
    assert_contains(err, "config key \"public_address\"");
    assert_int_equal(LOAD(&cfg, OTB_PROG_SERVER, err, "-p", "1", "-k", PW, "-c", num),
                     OTB_CONFIG_ERROR);
    assert_contains(err, "public_address");
    /* A server option only. */
    assert_int_equal(LOAD(&cfg, OTB_PROG_REDIR, err, "-s", "a", "-p", "1", "-l", "2", "-k", PW,
                          "--public-address", "203.0.114.7"),
                     OTB_CONFIG_ERROR);
    assert_contains(err, "does not apply");
    /* At most OTB_MAX_PUBLIC_ADDRS. */
    const char *args[2 * OTB_MAX_PUBLIC_ADDRS + 8] = { "-p", "1", "-k", PW };
    size_t n = 4;
    for (int i = 0; i <= OTB_MAX_PUBLIC_ADDRS; i++) {
        args[n++] = "--public-address";
        args[n++] = "203.0.114.1";
    }
    args[n] = NULL;
    assert_int_equal(load_args(&cfg, OTB_PROG_SERVER, err, sizeof(err), args), OTB_CONFIG_ERROR);
    assert_contains(err, "more than 16 addresses");
}

/* A secret on the command line beats the file's secret of the other kind. */
/* "listeners": further ports with their own method and secret (server). */
static void test_listeners(void **state)
{
    struct tmp *t = *state;
    struct otb_config cfg;
    struct otb_master m;
    char err[256] = "";
    static const struct {
        const char *listeners, *want;
    } bad[] = {
        { "{}", "config key \"listeners\": expected an array" },
        { "[1]", "listeners[0]\": expected an object" },
        { "[{\"server_port\": 8389, \"method\": \"rot13\", \"key\": \"" KEY16 "\"}]",
          "listeners[0].method\": unknown method" },
        { "[{\"server_port\": 8389, \"method\": \"aes-128-gcm\", \"password\": \"x\"},"
          " {\"server_port\": 8390, \"method\": \"aes-128-gcm\", \"pasword\": \"x\"}]",
          "unknown config key \"listeners[1].pasword\"" },
        { "[{\"server_port\": 0, \"method\": \"aes-128-gcm\", \"password\": \"x\"}]",
          "listeners[0].server_port" },
        { "[{\"method\": \"aes-128-gcm\", \"password\": \"x\"}]", "missing server_port" },
        { "[{\"server_port\": 8389, \"password\": \"x\"}]", "missing method" },
        { "[{\"server_port\": 8389, \"method\": \"aes-128-gcm\"}]", "missing password or key" },
        { "[{\"server_port\": 8388, \"method\": \"aes-128-gcm\", \"password\": \"x\"}]",
          "listeners[0].server_port: port 8388 is already served" },
        { "[{\"server_port\": 8389, \"method\": \"aes-128-gcm\", \"password\": \"x\"},"
          " {\"server_port\": 8389, \"method\": \"aes-128-gcm\", \"password\": \"x\"}]",
          "listeners[1].server_port: port 8389 is already served" },
        { "[{\"server_port\": 8389, \"method\": \"2022-blake3-aes-128-gcm\", \"key\": \"" KEY32
          "\"}]", "listeners[0].key: 2022-blake3-aes-128-gcm needs the base64 of a 16-byte key" },
        { "[{\"server_port\": 8389, \"method\": \"2022-blake3-aes-256-gcm\", \"password\": \""
          PW "\"}]", "listeners[0].password: 2022-blake3-aes-256-gcm needs" },
        { "[{\"server_port\": 8389, \"method\": \"aes-256-gcm\", \"key\": \"" KEY16 "\"}]",
          "listeners[0].key: expected base64 of a 32-byte key" },
        { "[{\"server_port\": 1, \"method\": \"aes-128-gcm\", \"password\": \"x\"},"
          " {\"server_port\": 2, \"method\": \"aes-128-gcm\", \"password\": \"x\"},"
          " {\"server_port\": 3, \"method\": \"aes-128-gcm\", \"password\": \"x\"},"
          " {\"server_port\": 4, \"method\": \"aes-128-gcm\", \"password\": \"x\"},"
          " {\"server_port\": 5, \"method\": \"aes-128-gcm\", \"password\": \"x\"}]",
          "at most 4 entries" },
    };
    char text[1024];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(text, sizeof(text),
                 "{\"server_port\": 8388, \"password\": \"" PW "\", \"listeners\": %s}",
                 bad[i].listeners);
        char name[16];
        snprintf(name, sizeof(name), "bad%zu.json", i);
        const char *path = tmp_file(t, name, text);
        assert_int_equal(LOAD(&cfg, OTB_PROG_SERVER, err, "-c", path), OTB_CONFIG_ERROR);
        assert_contains(err, bad[i].want);
        assert_lacks(err, PW);
        assert_lacks(err, KEY32);
    }

    const char *good = tmp_file(t, "good.json",
        "{\"server_port\": 8388, \"method\": \"aes-256-gcm\", \"password\": \"" PW "\","
        " \"listeners\": [{\"server_port\": 8389, \"method\": \"2022-blake3-aes-128-gcm\","
        " \"key\": \"" KEY16 "\"}, {\"server_port\": 8390, \"method\":"
        " \"2022-blake3-chacha20-poly1305\", \"password\": \"" KEY32 "\"}]}");
    assert_int_equal(LOAD(&cfg, OTB_PROG_SERVER, err, "-c", good), OTB_CONFIG_OK);
    assert_int_equal(cfg.n_listeners, 2);
    assert_int_equal(cfg.listeners[0].port, 8389);
    assert_string_equal(cfg.listeners[1].method, "2022-blake3-chacha20-poly1305");
    assert_int_equal(otb_config_listener_master(&cfg, 0, &m, err, sizeof(err)), OTB_CONFIG_OK);
    assert_int_equal(m.method, OTB_2022_AES_128_GCM);
    for (int i = 0; i < 16; i++)
        assert_int_equal(m.key[i], i + 1);
    assert_int_equal(otb_config_listener_master(&cfg, 1, &m, err, sizeof(err)), OTB_CONFIG_OK);
    assert_int_equal(m.key_len, 32);
    assert_int_equal(otb_config_master(&cfg, &m, err, sizeof(err)), OTB_CONFIG_OK);
    assert_int_equal(m.method, OTB_AES_256_GCM);
    otb_config_wipe_secrets(&cfg);
    assert_string_equal(cfg.listeners[0].key_b64, "");
    assert_string_equal(cfg.listeners[1].password, "");
    /* The box programs share the server's file and ignore the key. */
    const char *box = tmp_file(t, "box.json",
        "{\"server\": \"192.0.2.1\", \"server_port\": 8388, \"local_port\": 1080,"
        " \"password\": \"" PW "\", \"listeners\": [{\"server_port\": 8388, \"method\":"
        " \"aes-128-gcm\", \"password\": \"x\"}]}");
    assert_int_equal(LOAD(&cfg, OTB_PROG_REDIR, err, "-c", box), OTB_CONFIG_OK);
}

static void test_cli_secret_overrides_file(void **state)
{
    struct tmp *t = *state;
    struct otb_config cfg;
    char err[512] = "";
    const char *with_key = tmp_file(t, "key.json", "{\"server_port\": 1, \"key\": \"" KEY32 "\"}");
    const char *with_pw = tmp_file(t, "pw.json", "{\"server_port\": 1, \"password\": \"filepw\"}");
    const char *pwfile = tmp_file(t, "pw.txt", "from-file\n");

    assert_int_equal(LOAD(&cfg, OTB_PROG_SERVER, err, "-k", PW, "-c", with_key), OTB_CONFIG_OK);
    assert_string_equal(cfg.password, PW);
    assert_string_equal(cfg.key_b64, "");

    assert_int_equal(LOAD(&cfg, OTB_PROG_SERVER, err, "-c", with_key, "--password-file", pwfile),
                     OTB_CONFIG_OK);
    assert_string_equal(cfg.password, "from-file");
    assert_string_equal(cfg.key_b64, "");

    assert_int_equal(LOAD(&cfg, OTB_PROG_SERVER, err, "-c", with_pw, "--key", KEY32),
                     OTB_CONFIG_OK);
    assert_string_equal(cfg.password, "");
    assert_string_equal(cfg.key_b64, KEY32);

    /* Both on the command line: both kept, the key is used (see test_master). */
    assert_int_equal(LOAD(&cfg, OTB_PROG_SERVER, err, "-c", with_pw, "--key", KEY32, "-k", PW),
                     OTB_CONFIG_OK);
    assert_string_equal(cfg.password, PW);
    assert_string_equal(cfg.key_b64, KEY32);
}

static void test_password_file(void **state)
{
    struct tmp *t = *state;
    struct otb_config cfg;
    char err[512] = "";
    const char *crlf = tmp_file(t, "crlf.txt", "secret-one\r\n");
    const char *lines = tmp_file(t, "lines.txt", "first line\nsecond line\n");
    const char *nonl = tmp_file(t, "nonl.txt", "no newline");
    const char *empty = tmp_file(t, "empty.txt", "");
    const char *blank = tmp_file(t, "blank.txt", "\r\nsecond\n");
    char big[400];
    memset(big, 'p', 300);
    strcpy(big + 300, "\n");
    const char *toolong = tmp_file(t, "long.txt", big);

    assert_int_equal(LOAD(&cfg, OTB_PROG_SERVER, err, "-p", "1", "--password-file", crlf),
                     OTB_CONFIG_OK);
    assert_string_equal(cfg.password, "secret-one");
    assert_int_equal(LOAD(&cfg, OTB_PROG_SERVER, err, "-p", "1", "--password-file", lines),
                     OTB_CONFIG_OK);
    assert_string_equal(cfg.password, "first line");
    assert_int_equal(LOAD(&cfg, OTB_PROG_SERVER, err, "-p", "1", "--password-file", nonl),
                     OTB_CONFIG_OK);
    assert_string_equal(cfg.password, "no newline");

    const char *bad[] = { empty, blank, toolong, "/nonexistent/otb/pw", t->dir };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        assert_int_equal(LOAD(&cfg, OTB_PROG_SERVER, err, "-p", "1", "--password-file", bad[i]),
                         OTB_CONFIG_ERROR);
        assert_contains(err, "password_file");
        assert_lacks(err, "ppppppppppppppppppppp");
    }

    /* The file's "password_file" key. */
    char json[512];
    snprintf(json, sizeof(json), "{\"server_port\": 1, \"password_file\": \"%s\"}", crlf);
    const char *conf = tmp_file(t, "pwfile.json", json);
    assert_int_equal(LOAD(&cfg, OTB_PROG_SERVER, err, "-c", conf), OTB_CONFIG_OK);
    assert_string_equal(cfg.password, "secret-one");
    /* ...overridden by -k. */
    assert_int_equal(LOAD(&cfg, OTB_PROG_SERVER, err, "-c", conf, "-k", PW), OTB_CONFIG_OK);
    assert_string_equal(cfg.password, PW);
}

static void test_config_file_errors(void **state)
{
    struct tmp *t = *state;
    static const struct {
        const char *name, *json, *want;
    } cases[] = {
        { "syntax.json", "{\n  \"server_port\": 8388,\n  \"password\" \"" PW "\"\n}\n",
          "invalid JSON at line 3" },
        { "unknown.json", "{\"server_port\": 8388, \"password\": \"" PW "\", \"foo\": 1}",
          "unknown config key \"foo\"" },
        { "type.json", "{\"server_port\": \"abc\", \"password\": \"" PW "\"}",
          "config key \"server_port\": expected an integer 1-65535" },
        { "long.json",
          "{\"server_port\": 1, \"password\": \"" PW PW PW PW PW PW PW PW PW PW PW PW PW "\"}",
          "config key \"password\": longer than 255 characters" },
        { "method.json", "{\"server_port\": 1, \"password\": \"" PW "\", \"method\": \"" PW "x\"}",
          "method" },
        { "empty.json", "", "invalid JSON" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct otb_config cfg;
        char err[512] = "";
        const char *path = tmp_file(t, cases[i].name, cases[i].json);
        assert_int_equal(LOAD(&cfg, OTB_PROG_SERVER, err, "-c", path), OTB_CONFIG_ERROR);
        assert_contains(err, path);
        assert_contains(err, cases[i].want);
        if (i != 4) /* the bad method is echoed: it is a method, whatever it looks like */
            assert_lacks(err, PW);
        /* Nothing secret remains once load fails. */
        assert_string_equal(cfg.password, "");
    }

    struct otb_config cfg;
    char err[512] = "";
    assert_int_equal(LOAD(&cfg, OTB_PROG_SERVER, err, "-c", t->dir), OTB_CONFIG_ERROR);
    assert_contains(err, "config file");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_errors),
        cmocka_unit_test(test_json_values),
        cmocka_unit_test_setup_teardown(test_cli_overrides_file, tmp_setup, tmp_teardown),
        cmocka_unit_test_setup_teardown(test_cli_secret_overrides_file, tmp_setup, tmp_teardown),
        cmocka_unit_test_setup_teardown(test_password_file, tmp_setup, tmp_teardown),
        cmocka_unit_test_setup_teardown(test_config_file_errors, tmp_setup, tmp_teardown),
        cmocka_unit_test_setup_teardown(test_public_address, tmp_setup, tmp_teardown),
        cmocka_unit_test_setup_teardown(test_listeners, tmp_setup, tmp_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
