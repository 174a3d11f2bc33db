/* Access control lists in the shadowsocks-libev ACL format: sections of
 * IP/CIDR lines (libcorkipset) and domain regex lines (pcre2).
 *
 *   [proxy_all] [bypass_all]     default for the box (bypass_list/proxy_list decide)
 *   [accept_all] [reject_all]    default for clients of the server (white_list/black_list)
 *   [bypass_list] [proxy_list] [black_list] [white_list]
 *   [outbound_block_list]        destinations the server refuses
 *   [outbound_allow_list]        otb extension: destinations the server may reach even
 *                                though the built-in block list covers them
 * Lines: "1.2.3.4", "10.0.0.0/8", "2001:db8::/32", or a PCRE2 regex matched
 * against domain names. '#' starts a comment. */
#ifndef OTB_ACL_H
#define OTB_ACL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

enum otb_acl_list {
    OTB_ACL_BYPASS,
    OTB_ACL_PROXY,
    OTB_ACL_BLACK,
    OTB_ACL_WHITE,
    OTB_ACL_OUTBOUND_BLOCK,
    OTB_ACL_OUTBOUND_ALLOW,
    OTB_ACL_NLISTS
};

struct otb_acl;

struct otb_acl *otb_acl_new(void);
void otb_acl_free(struct otb_acl *acl);
/* Parse ACL text into acl (appends). 0, or -1 with "line N: reason" in err. */
int otb_acl_load_text(struct otb_acl *acl, const char *text, size_t len, char *err, size_t errlen);
int otb_acl_load_file(struct otb_acl *acl, const char *path, char *err, size_t errlen);
/* Add one address/prefix to a list (used for the server's own addresses). */
int otb_acl_add_addr(struct otb_acl *acl, enum otb_acl_list list, const struct sockaddr *sa,
                     unsigned prefix);
/* An IPv6 address also matches through the IPv4 address it carries when
 * mapped (::ffff:a.b.c.d) or NAT64 (64:ff9b::a.b.c.d). */
bool otb_acl_match_addr(struct otb_acl *acl, enum otb_acl_list list, const struct sockaddr *sa);
bool otb_acl_match_host(struct otb_acl *acl, enum otb_acl_list list, const char *host);
bool otb_acl_bypass_all(const struct otb_acl *acl);  /* [bypass_all] seen */
bool otb_acl_reject_all(const struct otb_acl *acl);  /* [reject_all] seen */

/* Server: whether a box connecting from sa may use it (shadowsocks-libev's
 * rule): by default ([accept_all]) unless black_list holds it; with
 * [reject_all] only if white_list holds it and black_list does not. A
 * mapped IPv4 source is checked as IPv4. acl NULL: every box. */
bool otb_acl_client_permitted(struct otb_acl *acl, const struct sockaddr *sa);

/* Box policy: should traffic to this destination bypass the server?
 * bypass_list match -> bypass; proxy_list match -> proxy; otherwise the
 * default ([bypass_all] or, by default, [proxy_all]). The host name (may be
 * NULL) is checked before the address (may be NULL). */
bool otb_acl_should_bypass(struct otb_acl *acl, const struct sockaddr *sa, const char *host);
/* Whether the box lists hold domain rules (then names are worth sniffing). */
bool otb_acl_has_host_rules(const struct otb_acl *acl);

/* IPv6 forms that carry an IPv4 address. */
#define OTB_ACL_V4_MAPPED 1u /* ::ffff:0:0/96 */
#define OTB_ACL_V4_NAT64 2u  /* 64:ff9b::/96 */
#define OTB_ACL_V4_COMPAT 4u /* ::/96, IPv4-compatible (sit tunnels) */
#define OTB_ACL_V4_6TO4 8u   /* 2002::/16, the IPv4 in bits 16-47 */
#define OTB_ACL_V4_ALL 15u

/* Whether the outbound_block_list of acl (may be NULL) holds sa, an IPv6
 * address also through the IPv4 address of any form above: the kernel or a
 * relay on the way may deliver it to that IPv4 host. */
bool otb_acl_blocks_addr(struct otb_acl *acl, const struct sockaddr *sa);

/* Built-in outbound block list of the server: loopback, RFC 1918, CGNAT,
 * link-local (incl. 169.254.169.254), Azure's 168.63.129.16, unique-local,
 * multicast, broadcast, unspecified, documentation ranges. */
struct otb_acl *otb_acl_builtin_outbound_block(void);
/* Add every address of this host's interfaces to list (getifaddrs). */
int otb_acl_add_local_addrs(struct otb_acl *acl, enum otb_acl_list list);

/* Server outbound policy for a resolved destination: the user ACL's
 * outbound_allow_list wins, then its outbound_block_list, then the built-in
 * list (both through otb_acl_blocks_addr). user and builtin may be NULL. */
bool otb_acl_outbound_permitted(struct otb_acl *user, struct otb_acl *builtin,
                                const struct sockaddr *sa);
/* Same for a domain name before resolution (domain rules only). */
bool otb_acl_outbound_host_permitted(struct otb_acl *user, const char *host);

#endif
