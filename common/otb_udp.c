#include "otb_udp.h"

#include <string.h>

size_t otb_udp_sealed_len(const struct otb_master *m, size_t len)
{
    return m->key_len + len + OTB_TAG_LEN;
}

size_t otb_udp_seal(struct otb_aead *a, const struct otb_master *m, const uint8_t *salt,
                    const uint8_t *plain, size_t len, uint8_t *out)
{
    memcpy(out, salt, m->key_len);
    /* Fails only if OpenSSL cannot allocate the first context of a. */
    if (otb_aead_start(a, m, salt) != 0)
        return 0;
    otb_aead_seal(a, out + m->key_len, plain, len);
    return otb_udp_sealed_len(m, len);
}

int otb_udp_open(struct otb_aead *a, const struct otb_master *m, const uint8_t *in, size_t len,
                 uint8_t *out, size_t outcap, size_t *outlen)
{
    int rc;

    if (len < m->key_len + OTB_TAG_LEN || outcap < len - m->key_len - OTB_TAG_LEN)
        return OTB_BAD;
    if (otb_aead_start(a, m, in) != 0)
        return OTB_BAD;
    rc = otb_aead_open(a, out, in + m->key_len, len - m->key_len);
    if (rc != 0)
        return OTB_BAD;
    *outlen = len - m->key_len - OTB_TAG_LEN;
    return OTB_OK;
}

int otb_udp_open_addr(struct otb_aead *a, const struct otb_master *m, const uint8_t *in, size_t len,
                      uint8_t *out, size_t outcap, struct otb_addr *addr, size_t *payload_off,
                      size_t *payload_len)
{
    size_t plain_len, hdr;

    if (otb_udp_open(a, m, in, len, out, outcap, &plain_len) != OTB_OK)
        return OTB_BAD;
    if (otb_addr_parse(out, plain_len, addr, &hdr) != OTB_OK)
        return OTB_BAD;
    *payload_off = hdr;
    *payload_len = plain_len - hdr;
    return OTB_OK;
}
