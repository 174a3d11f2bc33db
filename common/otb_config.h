/* Configuration: shadowsocks-libev compatible JSON file (-c) plus command-line
 * flags with the same letters. Values given on the command line win over the
 * file's, wherever -c appears. Errors are one line naming the key; the
 * programs exit with code 2 on them. */
#ifndef OTB_CONFIG_H
#define OTB_CONFIG_H

#include <limits.h>
#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include "otb_crypto.h"
#include "otb_policy.h"
#include "otb_qos.h"

#define OTB_MAX_SERVERS 8
#define OTB_HOST_MAX 256
#define OTB_MAX_PUBLIC_ADDRS 16
#define OTB_MAX_LISTENERS 4

/* otb-server: one more port with its own method and secret (a migration
 * between method families serves both at once), on the same addresses. */
struct otb_listen_cfg {
    uint16_t port;      /* "server_port" */
    char method[40];    /* "method" */
    char password[256]; /* "password" */
    char key_b64[128];  /* "key" */
};

enum otb_prog { OTB_PROG_SERVER, OTB_PROG_REDIR, OTB_PROG_TUNNEL };
enum otb_mode { OTB_MODE_TCP_ONLY, OTB_MODE_TCP_AND_UDP, OTB_MODE_UDP_ONLY };

/* "host", "host:port", "[v6]:port" or a bare IPv6 literal; port 0 = use server_port. */
struct otb_hostport {
    char host[OTB_HOST_MAX];
    uint16_t port;
};

struct otb_config {
    enum otb_prog prog;
    /* -s (repeatable) / "server" (string or array of strings) */
    struct otb_hostport servers[OTB_MAX_SERVERS];
    size_t n_servers;
    uint16_t server_port;          /* -p / "server_port" */
    char local_addr[OTB_HOST_MAX]; /* -b / "local_address": outbound source (server), listen address (box) */
    uint16_t local_port;           /* -l / "local_port" */
    char password[256];            /* -k / "password" / --password-file FILE (first line) */
    char key_b64[128];             /* --key / "key" */
    char method[40];               /* -m / "method", default chacha20-ietf-poly1305 */
    int timeout;                   /* -t / "timeout": idle timeout, seconds, default 60 */
    int connect_timeout;           /* --connect-timeout / "connect_timeout", seconds, default 10 */
    int preauth_timeout;           /* --preauth-timeout / "preauth_timeout" (server): seconds from
                                      the accept for the first chunk to authenticate, default 10 */
    long max_preauth_per_source;   /* --max-preauth-per-source / "max_preauth_per_source" (server):
                                      unauthenticated connections per source, default 64, 0 = no cap */
    enum otb_mode mode;            /* -u, -U / "mode" */
    bool mptcp;                    /* --mptcp, --no-mptcp / "mptcp"; default true */
    bool fast_open;                /* --fast-open / "fast_open" */
    bool reuse_port;               /* --reuse-port / "reuse_port" */
    bool no_delay;                 /* --no-delay / "no_delay" */
    char congestion[16];           /* --congestion / "congestion": TCP congestion control of
                                      the MPTCP/TCP sockets, default cubic, "" = the system's */
    bool ipv6_first;               /* -6 / "ipv6_first" */
    char nameserver[OTB_HOST_MAX]; /* -d / "nameserver": comma list of ip[:port] */
    char acl[PATH_MAX];            /* --acl / "acl" */
    /* --public-address (repeatable) / "public_address" (string or array):
     * the server's own public addresses that are on no interface (1:1 NAT),
     * refused as destinations like its local ones */
    struct sockaddr_storage public_addrs[OTB_MAX_PUBLIC_ADDRS];
    size_t n_public_addrs;
    char pidfile[PATH_MAX];        /* -f / "pid_file" */
    char user[64];                 /* -a / "user" */
    char iface[IFNAMSIZ];          /* -i / "interface": outbound interface (SO_BINDTODEVICE) */
    uint32_t mark;                 /* --mark / "mark": SO_MARK on outbound sockets, 0 = none */
    int verbose;                   /* -v (repeatable) / "verbose": 0 info, 1+ debug */
    bool use_syslog;               /* --syslog / "syslog" */
    char status_socket[108];       /* --status-socket / "status_socket": JSON status, unix socket */
    char tunnel_status[108];       /* --tunnel-status-socket / "tunnel_status_socket" (redir):
                                      otb-tunnel's status socket, its flows on the status page */
    struct otb_hostport metrics;   /* --metrics / "metrics_address": HTTP metrics and status
                                      page on IP:PORT; port 0 = off */
    long max_conns;                /* --max-conns / "max_connections": 0 = from RLIMIT_NOFILE */
    long nofile;                   /* -n / "nofile": raise RLIMIT_NOFILE to this, 0 = leave */
    int shutdown_timeout;          /* --shutdown-timeout / "shutdown_timeout", seconds, default 10 */
    bool tproxy;                   /* -T / "tproxy" (redir) */
    struct otb_hostport tunnel_to; /* -L host:port / "tunnel_address" (tunnel); unset = TPROXY */
    long udp_max_assoc;            /* --udp-max-assoc / "udp_max_associations", default 4096 */
    /* "listeners" (server), JSON only: further ports, each with its own key */
    struct otb_listen_cfg listeners[OTB_MAX_LISTENERS];
    size_t n_listeners;
    struct otb_policy policy;      /* "wans" and "pins" (box), JSON only */
    /* --voice-ports / "voice_ports" ("10000-20000,..."; SIP 5060-5061 always) and
     * --voice-hosts / "voice_hosts" (IPs or CIDRs: LAN phones, remote SIP/media
     * servers): traffic classed as voice (otb_qos) */
    struct otb_qos_policy qos;
    /* --voice-duplicate / "voice_duplicate" (tunnel, 2022 methods only):
     * voice datagrams sent by two healthy WANs, default false */
    bool voice_duplicate;
    uint16_t socks5_port;          /* --socks5-port / "socks5_port" (redir), 0 = no SOCKS5 */
    char socks5_user[256];         /* --socks5-user / "socks5_user": RFC 1929 auth when set */
    char socks5_password[256];     /* --socks5-password / "socks5_password" */
    /* --socks5-address / "socks5_address" (redir): SOCKS5 listen address;
     * unset: local_address if one address (not 0.0.0.0 or ::), else loopback
     * only (127.0.0.1 and ::1) */
    char socks5_addr[OTB_HOST_MAX];
    /* --max-pending / "max_pending" and --max-pending-per-source /
     * "max_pending_per_source" (redir): LAN connections in their SOCKS5
     * handshake or being sniffed, in all and from one LAN address */
    long max_pending;
    long max_pending_per_source;
    /* box: WAN health (otb_wanmon) */
    bool wan_health;               /* --no-wan-health / "wan_health", default true */
    long wan_probe_ms;             /* --wan-probe-ms / "wan_probe_ms": healthy WAN's probe
                                      interval, default 1000 */
    long wan_down_ms;              /* --wan-down-ms / "wan_down_ms": silent this long: down,
                                      default 1500 */
    char wan_hook[PATH_MAX];       /* --wan-hook / "wan_hook": run on each transition */
    /* server: download shaping (otb_shaper) */
    char shape_downloads[128];     /* --shape-downloads / "shape_downloads": egress interfaces
                                      ("eth0" or "a,b"), "" = off */
    long shape_share;              /* --shape-share / "shape_share": percent of each WAN's
                                      download_kbit, default 90 */
};

enum otb_config_result {
    OTB_CONFIG_OK = 0,
    OTB_CONFIG_EXIT = 1,   /* --help or --version was printed: exit 0 */
    OTB_CONFIG_ERROR = -1, /* err holds one line naming the key: exit 2 */
};

void otb_config_defaults(struct otb_config *cfg, enum otb_prog prog);
/* The whole job: defaults, -c FILE, then flags; checks required keys and
 * values (e.g. a secret must be set, method must be known). */
int otb_config_load(struct otb_config *cfg, enum otb_prog prog, int argc, char **argv,
                    char *err, size_t errlen);
/* Pure: apply a JSON document's keys onto cfg. Unknown keys are errors. */
int otb_config_apply_json(struct otb_config *cfg, const char *text, size_t len, char *err,
                          size_t errlen);
/* Pure: "host", "host:port", "[v6]:port", "v6". 0 or -1. */
int otb_config_parse_hostport(const char *text, struct otb_hostport *out);
/* Master key from key_b64 or password with the configured method. */
int otb_config_master(const struct otb_config *cfg, struct otb_master *m, char *err,
                      size_t errlen);
/* otb-server: the key of listeners[i]. */
int otb_config_listener_master(const struct otb_config *cfg, size_t i, struct otb_master *m,
                               char *err, size_t errlen);
/* Zeroes the password and the key text: once the master key is derived no
 * copy of them is needed (a reload reads them again). */
void otb_config_wipe_secrets(struct otb_config *cfg);
void otb_config_usage(enum otb_prog prog, FILE *out);

#endif
