#include "otb_probe.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "otb_common.h"
#include "otb_relay.h"
#include "otb_shaper.h"
#include "otb_udp_inner.h"

/* Domain-separated MAC key: the master key never keys SipHash directly. */
static void otb_probe_key_ctx(const struct otb_master *m, const char *ctx,
                              uint8_t key[crypto_shorthash_KEYBYTES])
{
    crypto_generichash(key, crypto_shorthash_KEYBYTES, (const uint8_t *)ctx, strlen(ctx),
                       m->key, m->key_len);
}

static void otb_probe_key(const struct otb_master *m, uint8_t key[crypto_shorthash_KEYBYTES])
{
    otb_probe_key_ctx(m, "otb wan probe v1", key);
}

/* MAC of (direction, seq): a reply is not a valid probe and vice versa. */
static void otb_probe_mac(const struct otb_master *m, char dir, uint32_t seq, uint8_t mac[8])
{
    uint8_t key[crypto_shorthash_KEYBYTES], msg[5] = { (uint8_t)dir };

    otb_probe_key(m, key);
    memcpy(msg + 1, &seq, sizeof(seq));
    crypto_shorthash(mac, msg, sizeof(msg), key);
    sodium_memzero(key, sizeof(key));
}

static void otb_probe_make(const struct otb_master *m, char dir, uint32_t seq,
                           uint8_t out[OTB_PROBE_LEN])
{
    memcpy(out, &seq, sizeof(seq));
    otb_probe_mac(m, dir, seq, out + 4);
}

static bool otb_probe_check(const struct otb_master *m, char dir, const uint8_t *buf, size_t len,
                            uint32_t *seq)
{
    uint8_t mac[8];

    if (len != OTB_PROBE_LEN)
        return false;
    memcpy(seq, buf, sizeof(*seq));
    otb_probe_mac(m, dir, *seq, mac);
    return sodium_memcmp(mac, buf + 4, sizeof(mac)) == 0;
}

void otb_probe_request(const struct otb_master *m, uint32_t seq, uint8_t out[OTB_PROBE_LEN])
{
    otb_probe_make(m, 'Q', seq, out);
}

bool otb_probe_check_request(const struct otb_master *m, const uint8_t *buf, size_t len,
                             uint32_t *seq)
{
    return otb_probe_check(m, 'Q', buf, len, seq);
}

void otb_probe_reply(const struct otb_master *m, uint32_t seq, uint8_t out[OTB_PROBE_LEN])
{
    otb_probe_make(m, 'R', seq, out);
}

bool otb_probe_check_reply(const struct otb_master *m, const uint8_t *buf, size_t len,
                           uint32_t *seq)
{
    return otb_probe_check(m, 'R', buf, len, seq);
}

/* MAC of a rate probe's first 8 bytes (seq, rate), under a key of its own. */
static void otb_probe_rate_mac(const struct otb_master *m, const uint8_t head[8], uint8_t mac[8])
{
    uint8_t key[crypto_shorthash_KEYBYTES];

    otb_probe_key_ctx(m, "otb wan probe rate v1", key);
    crypto_shorthash(mac, head, 8, key);
    sodium_memzero(key, sizeof(key));
}

void otb_probe_request_rate(const struct otb_master *m, uint32_t seq, uint32_t download_kbit,
                            uint8_t out[OTB_PROBE_RATE_LEN])
{
    memcpy(out, &seq, sizeof(seq));
    out[4] = (uint8_t)(download_kbit >> 24);
    out[5] = (uint8_t)(download_kbit >> 16);
    out[6] = (uint8_t)(download_kbit >> 8);
    out[7] = (uint8_t)download_kbit;
    otb_probe_rate_mac(m, out, out + 8);
}

int otb_probe_parse_request(const struct otb_master *m, const uint8_t *buf, size_t len,
                            uint32_t *seq, uint32_t *download_kbit)
{
    uint8_t mac[8];

    *download_kbit = 0;
    if (len == OTB_PROBE_LEN)
        return otb_probe_check_request(m, buf, len, seq) ? 1 : -1;
    if (len != OTB_PROBE_RATE_LEN)
        return 0;
    otb_probe_rate_mac(m, buf, mac);
    if (sodium_memcmp(mac, buf + 8, sizeof(mac)) != 0)
        return -1;
    memcpy(seq, buf, sizeof(*seq));
    *download_kbit = (uint32_t)buf[4] << 24 | (uint32_t)buf[5] << 16 | (uint32_t)buf[6] << 8 |
                     buf[7];
    return 1;
}

int otb_probe_answer(const struct otb_master *m, int fd, const uint8_t *buf, size_t len,
                     const struct sockaddr *from, uint32_t *download_kbit)
{
    uint8_t reply[OTB_PROBE_LEN];
    uint32_t seq;
    int rc = otb_probe_parse_request(m, buf, len, &seq, download_kbit);

    if (rc <= 0)
        return rc;
    otb_probe_reply(m, seq, reply);
    /* A lost reply is a lost probe: the box sends another. */
    (void)sendto(fd, reply, sizeof(reply), MSG_DONTWAIT, from, otb_sockaddr_len(from));
    return 1;
}

/* ------------------------------------------------- probe-only listeners */

static void otb_probe_listener_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct otb_probe_listener *l = otb_container_of(w, struct otb_probe_listener, io);
    uint8_t buf[64];
    struct sockaddr_storage from;

    for (int i = 0; i < 64; i++) { /* bounded: a flood must not starve TCP */
        socklen_t flen = sizeof(from);
        ssize_t n = recvfrom(l->fd, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&from,
                             &flen);
        if (n < 0)
            return;
        uint32_t kbit;
        if (otb_probe_answer(*l->master, l->fd, buf, (size_t)n, (struct sockaddr *)&from,
                             &kbit) > 0) {
            (*l->answered)++;
            if (kbit && *l->shaper)
                otb_shaper_note(*l->shaper, (struct sockaddr *)&from, kbit);
        } else
            (*l->refused)++;
    }
}

static int otb_probe_listen_one(void *arg, const struct sockaddr *sa, socklen_t len,
                                const char *where)
{
    struct otb_probe_responder *pr = arg;
    struct otb_sock_opts opts = { 0 };
    struct otb_probe_listener *l;
    int fd = otb_udp_listen_socket(sa, len, &opts);

    if (fd < 0) {
        OTB_ERR(pr->log, "health probes on %s: %s", where, strerror(-fd));
        return -1;
    }
    l = calloc(1, sizeof(*l));
    if (!l) {
        close(fd);
        OTB_ERR(pr->log, "out of memory");
        return -1;
    }
    l->fd = fd;
    l->master = &pr->master;
    l->answered = &pr->answered;
    l->refused = &pr->refused;
    l->shaper = &pr->shaper;
    l->next = pr->listeners;
    pr->listeners = l;
    ev_io_init(&l->io, otb_probe_listener_cb, fd, EV_READ);
    ev_io_start(pr->loop, &l->io);
    OTB_INFO(pr->log, "answering WAN health probes on UDP %s", where);
    return 0;
}

int otb_probe_responder_listen(struct otb_probe_responder *pr, const char *host, uint16_t port)
{
    return otb_listen_each(pr->log, host, port, SOCK_DGRAM, otb_probe_listen_one, pr);
}

void otb_probe_responder_close(struct otb_probe_responder *pr)
{
    while (pr->listeners) {
        struct otb_probe_listener *l = pr->listeners;
        pr->listeners = l->next;
        ev_io_stop(pr->loop, &l->io);
        close(l->fd);
        free(l);
    }
}
