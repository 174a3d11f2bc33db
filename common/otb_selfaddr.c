#include "otb_selfaddr.h"

#include <string.h>

/* Always the host's, whatever the interfaces say. */
static const char otb_selfaddr_fixed[] = "[outbound_block_list]\n"
                                         "127.0.0.0/8\n"
                                         "0.0.0.0/32\n"
                                         "::1/128\n"
                                         "::/128\n";

int otb_selfaddr_refresh(struct otb_selfaddr *s, ev_tstamp now)
{
    struct otb_acl *acl = otb_acl_new();

    s->read_at = now; /* a failure is not retried before the TTL either */
    if (!acl ||
        otb_acl_load_text(acl, otb_selfaddr_fixed, sizeof(otb_selfaddr_fixed) - 1, NULL, 0) != 0) {
        otb_acl_free(acl);
        return -1;
    }
    /* Without the interfaces, an older list beats the fixed part alone. */
    if (otb_acl_add_local_addrs(acl, OTB_ACL_OUTBOUND_BLOCK) != 0 && s->acl) {
        otb_acl_free(acl);
        return -1;
    }
    otb_acl_free(s->acl);
    s->acl = acl;
    return 0;
}

bool otb_selfaddr_is_self(struct otb_selfaddr *s, const struct sockaddr *sa, ev_tstamp now)
{
    if (!s->acl || now - s->read_at >= OTB_SELFADDR_TTL || now < s->read_at)
        otb_selfaddr_refresh(s, now);
    return s->acl && otb_acl_match_addr(s->acl, OTB_ACL_OUTBOUND_BLOCK, sa);
}

void otb_selfaddr_free(struct otb_selfaddr *s)
{
    otb_acl_free(s->acl);
    s->acl = NULL;
}
