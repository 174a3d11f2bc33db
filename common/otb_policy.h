/* Box traffic policy from the config: named WANs and LAN hosts pinned to one
 * of them ("direct": leave through that WAN without the server;
 * "tunnel-via": through the server but only over that WAN). */
#ifndef OTB_POLICY_H
#define OTB_POLICY_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define OTB_MAX_WANS 8
#define OTB_MAX_PINS 64
#define OTB_WAN_NAME_MAX 32
/* Default fwmark of WAN i (its routing table is OTB_WAN_TABLE_BASE + i):
 * the firewall helper uses the same numbers. Tables start at 200, clear of
 * the firewall's TPROXY table (100). */
#define OTB_WAN_MARK_BASE 0x10
#define OTB_WAN_TABLE_BASE 200
#define OTB_MAX_LANS 8
#define OTB_MAX_BYPASS 256
#define OTB_MAX_BYPASS_FILES 4
#define OTB_FW_TABLE_MAX 17 /* nft table name: [a-z][a-z0-9_]*, at most 16 */

struct json_object;

/* An IPv4 or IPv6 network with no host bits set after the prefix. */
struct otb_cidr {
    int family; /* AF_INET or AF_INET6 */
    uint8_t addr[16];
    unsigned prefix;
};

struct otb_wan {
    char name[OTB_WAN_NAME_MAX];
    char iface[IFNAMSIZ];
    uint32_t mark;
    bool backup;          /* carries traffic only when no other WAN is up */
    uint32_t table;       /* "table": routing table, 0 = OTB_WAN_TABLE_BASE + index */
    struct otb_cidr gw4;  /* "gateway": fixed next hops (family 0 = the main table's) */
    struct otb_cidr gw6;
    uint32_t upload_kbit; /* "upload_kbit": line upload rate for otb-qos, 0 = not shaped */
    uint32_t download_kbit; /* "download_kbit": told the server (rate probes), 0 = not */
    bool download_auto;     /* "download_auto": download_kbit is only where the estimate starts */
    uint32_t download_min_kbit, download_max_kbit; /* its bounds (set when download_auto) */
};

enum otb_pin_mode { OTB_PIN_TUNNEL_VIA, OTB_PIN_DIRECT };

struct otb_pin {
    char host[64]; /* as written: IP, CIDR or MAC */
    int wan;       /* index into wans */
    int fallback;  /* index, or -1: no fallback (traffic fails when the WAN is down) */
    enum otb_pin_mode mode;
    bool is_mac;
    uint8_t mac[6];
    struct sockaddr_storage net;
    unsigned prefix;
};

/* "firewall": what otb-firewall intercepts on the box (zero values = defaults). */
struct otb_fw_settings {
    char lans[OTB_MAX_LANS][IFNAMSIZ]; /* "lan": LAN interfaces to intercept */
    size_t n_lans;
    bool no_tcp;              /* "tcp": false = leave LAN TCP alone (no otb-redir) */
    uint16_t tunnel_port;     /* "tunnel_port": otb-tunnel's TPROXY port, 0 = UDP left alone */
    struct otb_cidr bypass[OTB_MAX_BYPASS]; /* "bypass": destinations never intercepted */
    size_t n_bypass;
    char bypass_files[OTB_MAX_BYPASS_FILES][256]; /* "bypass_files": one CIDR a line */
    size_t n_bypass_files;
    bool no_default_bypass;   /* "default_bypass": false = no built-in private ranges */
    bool no_mptcp_endpoints;  /* "mptcp_endpoints": false = leave MPTCP endpoints alone */
    uint32_t tproxy_mark;     /* "tproxy_mark", 0 = 0x1 */
    uint32_t tproxy_table;    /* "tproxy_table", 0 = 100 */
    uint32_t wan_mask;        /* "wan_mask": fwmark bits of the WAN marks, 0 = 0xff */
    char table[OTB_FW_TABLE_MAX]; /* "table": nft table and state name, "" = "otb" */
};

struct otb_policy {
    struct otb_wan wans[OTB_MAX_WANS];
    size_t n_wans;
    struct otb_pin pins[OTB_MAX_PINS];
    size_t n_pins;
    struct otb_fw_settings fw;
};

/* "wans": {"fibre": {"interface": "eth1", "mark": 16, "backup": false}, ...}
 * 0, or -1 with err naming the key. */
int otb_policy_parse_wans(struct otb_policy *p, struct json_object *jv, char *err, size_t errlen);
/* "pins": [{"host": "192.168.1.50", "wan": "fibre", "mode": "direct",
 *           "fallback": "adsl"}, ...]; wans must be parsed first. */
int otb_policy_parse_pins(struct otb_policy *p, struct json_object *jv, char *err, size_t errlen);
/* Pure: "1.2.3.4", "10.0.0.0/8", "2001:db8::/32" or "aa:bb:cc:dd:ee:ff". 0 or -1. */
int otb_policy_parse_host(const char *text, struct otb_pin *pin);
/* "firewall": {"lan": ["br-lan"], "tunnel_port": 1235, "bypass": ["192.0.2.0/24"], ...} */
int otb_policy_parse_firewall(struct otb_policy *p, struct json_object *jv, char *err,
                              size_t errlen);
/* Pure: "10.0.0.0/8", "2001:db8::1" (a host). Host bits set after the prefix
 * are an error: "10.1.2.3/8" is more likely a typo than 10.0.0.0/8. 0 or -1. */
int otb_policy_parse_cidr(const char *text, struct otb_cidr *out);
/* Pure: what the kernel and nft accept as an interface name, and nothing to
 * quote (no space, quote or control character): LAN and WAN interfaces. */
bool otb_policy_ifname_ok(const char *s);
/* Pure: a routing table we may fill: not 0 nor 253-255 (the kernel's unspec,
 * default, main and local tables). */
bool otb_policy_table_ok(uint32_t t);
/* Pure: an nft table (and state) name, [a-z][a-z0-9_]*, at most 16. */
bool otb_policy_table_name_ok(const char *s);
/* Pure: a WAN name, 1 to 31 of [A-Za-z0-9_-]: it is a word of otb-firewall's
 * state file and of the nft and ip lines made from the config. */
bool otb_policy_wan_name_ok(const char *s);
/* The pin of a LAN source address (IP/CIDR pins; MAC pins are the firewall's). */
const struct otb_pin *otb_policy_pin_for(const struct otb_policy *p, const struct sockaddr *src);
/* First address of family on iface, for source binding. 0, -ENETDOWN when
 * the interface is down or has no carrier, or -errno. */
int otb_policy_iface_addr(const char *iface, int family, struct sockaddr_storage *ss,
                          socklen_t *len);

#endif
