/* libFuzzer target for the ACL parser: arbitrary bytes as an ACL file, then a
 * few lookups so rules that did load are exercised: fixed addresses, and the
 * input's first bytes read as an IPv4 and an IPv6 address (every IPv6 form
 * that carries an IPv4 address comes up), through the client lists and the
 * outbound block list too. */
#include <netinet/in.h>
#include <sys/socket.h>

#include "fuzz.h"
#include "otb_acl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct otb_acl *acl = otb_acl_new();
    struct sockaddr_in sin;
    struct sockaddr_in6 sin6;
    char err[128];

    if (acl == NULL)
        return 0;
    (void)otb_acl_load_text(acl, (const char *)data, size, err, sizeof(err));

    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(0x7f000001);
    memset(&sin6, 0, sizeof(sin6));
    sin6.sin6_family = AF_INET6;
    /* 64:ff9b::a9fe:a9fe, NAT64 of the metadata address. */
    sin6.sin6_addr.s6_addr[1] = 0x64;
    sin6.sin6_addr.s6_addr[2] = 0xff;
    sin6.sin6_addr.s6_addr[3] = 0x9b;
    sin6.sin6_addr.s6_addr[12] = 169;
    sin6.sin6_addr.s6_addr[13] = 254;
    sin6.sin6_addr.s6_addr[14] = 169;
    sin6.sin6_addr.s6_addr[15] = 254;

    for (int l = 0; l < OTB_ACL_NLISTS; l++) {
        (void)otb_acl_match_addr(acl, (enum otb_acl_list)l, (struct sockaddr *)&sin);
        (void)otb_acl_match_addr(acl, (enum otb_acl_list)l, (struct sockaddr *)&sin6);
        (void)otb_acl_match_host(acl, (enum otb_acl_list)l, "www.example.com");
    }
    (void)otb_acl_outbound_permitted(acl, NULL, (struct sockaddr *)&sin);
    if (size >= 16) {
        memcpy(&sin.sin_addr, data, 4);
        memcpy(&sin6.sin6_addr, data, 16);
    }
    /* Without [reject_all], exactly the black_list's IPv4 clients are refused. */
    FUZZ_CHECK(otb_acl_reject_all(acl) || otb_acl_client_permitted(acl, (struct sockaddr *)&sin) ==
                                              !otb_acl_match_addr(acl, OTB_ACL_BLACK,
                                                                  (struct sockaddr *)&sin));
    (void)otb_acl_client_permitted(acl, (struct sockaddr *)&sin6);
    (void)otb_acl_blocks_addr(acl, (struct sockaddr *)&sin);
    (void)otb_acl_blocks_addr(acl, (struct sockaddr *)&sin6);
    (void)otb_acl_outbound_permitted(acl, acl, (struct sockaddr *)&sin6);
    (void)otb_acl_outbound_host_permitted(acl, "a.b.example");
    otb_acl_free(acl);
    return 0;
}
