/* The box's firewall and routing plan, derived from its config (the same
 * "wans", "pins", "server", "local_port" and "firewall" keys otb-redir reads)
 * and from what the system holds at the moment (WAN addresses, gateways).
 * Pure: the text goes to FILE streams; otb-boxconf gathers the facts and
 * otb-firewall applies the result. */
#ifndef OTB_FWPLAN_H
#define OTB_FWPLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "otb_config.h"
#include "otb_policy.h"

#define OTB_FW_MAX_ADDRS 8
/* Direct pins with a fallback WAN get a mark and table per (WAN, fallback)
 * pair: mark OTB_FW_PAIR_MARK_BASE + k, table OTB_WAN_TABLE_BASE + 16 + k. */
#define OTB_FW_PAIR_MARK_BASE 0x40
#define OTB_FW_MAX_PAIRS (OTB_MAX_WANS * (OTB_MAX_WANS - 1))

/* One WAN as the system shows it now; index 0 is IPv4, 1 IPv6. */
struct otb_fw_wan_facts {
    bool up; /* administratively up with carrier */
    struct otb_cidr addrs[2][OTB_FW_MAX_ADDRS]; /* global addresses (prefix = full) */
    size_t n_addrs[2];
    bool has_default[2];    /* a default route by this interface in the main table */
    struct otb_cidr gw[2];  /* its gateway; family 0 = none (point-to-point) */
    uint32_t metric[2];
};

struct otb_fw_facts {
    bool ipv6; /* the kernel has IPv6 */
    struct otb_fw_wan_facts wans[OTB_MAX_WANS];
};

struct otb_fw_pair {
    int wan, fallback;
    uint32_t mark, table;
};

/* The settings with their defaults applied and every cross-key check done. */
struct otb_fw_plan {
    const struct otb_config *cfg;
    const struct otb_cidr *extra_bypass; /* from "bypass_files", read by the caller */
    size_t n_extra_bypass;
    const char *table;
    uint16_t redir_port, tunnel_port;
    uint16_t socks5_port; /* otb-redir's SOCKS5 port ("socks5_port"), 0 = none */
    uint32_t tproxy_mark, tproxy_table, wan_mask;
    uint32_t wan_table[OTB_MAX_WANS];
    uint32_t pin_mark[OTB_MAX_PINS]; /* direct pins: the mark their packets get */
    struct otb_fw_pair pairs[OTB_FW_MAX_PAIRS];
    size_t n_pairs;
};

/* Resolves defaults and checks what needs several keys (a LAN to intercept,
 * marks and tables that collide, a MAC tunnel-via pin...). 0, or -1 with err
 * naming the key. */
int otb_fwplan_init(struct otb_fw_plan *pl, const struct otb_config *cfg, char *err,
                    size_t errlen);
/* The nft script replacing the table in one transaction, from the template
 * text (share/otb/otb.nft). 0, or -1 with err on a bad template. */
int otb_fwplan_nft(const struct otb_fw_plan *pl, const char *tmpl, FILE *out, char *err,
                   size_t errlen);
/* `ip` argument lines in apply order ("-4 rule add ..."); undo is each line
 * with "del" for "add", last first. */
void otb_fwplan_routes(const struct otb_fw_plan *pl, const struct otb_fw_facts *f, FILE *out);
/* "ADDRESS IFACE backup|nobackup": one MPTCP subflow endpoint per WAN address. */
void otb_fwplan_mptcp(const struct otb_fw_plan *pl, const struct otb_fw_facts *f, FILE *out);
/* "key value" lines for the state file and status ("lan ...", "wan ...", "pin ..."). */
void otb_fwplan_summary(const struct otb_fw_plan *pl, FILE *out);
/* Warnings (a WAN without route, a backup WAN's route before another's). */
void otb_fwplan_notes(const struct otb_fw_plan *pl, const struct otb_fw_facts *f, FILE *out);

#endif
