/* Unit tests for the UDP relay: the association table (keys, keyed hash,
 * LRU order, eviction), the voice port list, the TPROXY control message
 * parser, then both roles driven through a private event loop on loopback
 * sockets (full cone, replay, bad datagrams, the association cap). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "otb_udprelay.h"

/* Cipher state re-keyed for every datagram, as the relay keeps one. */
static struct otb_aead codec_aead;

#define PW "otb-udprelay-test"

/* ------------------------------------------------------------ helpers */

static struct sockaddr_in v4(const char *ip, uint16_t port)
{
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port) };
    assert_int_equal(inet_pton(AF_INET, ip, &sin.sin_addr), 1);
    return sin;
}

static struct sockaddr_in6 v6(const char *ip, uint16_t port)
{
    struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6, .sin6_port = htons(port) };
    assert_int_equal(inet_pton(AF_INET6, ip, &sin6.sin6_addr), 1);
    return sin6;
}

struct item {
    struct otb_udp_link link;
    int id;
};

static void item_set(struct otb_udp_table *t, struct item *it, int id)
{
    struct sockaddr_in sin = v4("192.0.2.1", (uint16_t)(1000 + id));
    it->id = id;
    assert_int_equal(otb_udp_key_set(&it->link.key, (struct sockaddr *)&sin, 0), 0);
}

static int oldest_id(const struct otb_udp_table *t)
{
    struct otb_udp_link *l = otb_udp_table_oldest(t);
    return l ? ((struct item *)l)->id : -1;
}

/* -------------------------------------------------------- pure parts */

static void test_key(void **state)
{
    struct otb_udp_key a, b;
    struct sockaddr_in s4 = v4("192.0.2.1", 53);
    struct sockaddr_in6 s6 = v6("2001:db8::1", 53);
    struct sockaddr_un un = { .sun_family = AF_UNIX };
    (void)state;

    assert_int_equal(otb_udp_key_set(&a, (struct sockaddr *)&s4, 0), 0);
    assert_int_equal(a.family, AF_INET);
    assert_int_equal(a.port, htons(53));
    assert_memory_equal(a.addr, &s4.sin_addr, 4);
    /* Padding of the sockaddr must not leak into the key. */
    memset(s4.sin_zero, 0xab, sizeof(s4.sin_zero));
    assert_int_equal(otb_udp_key_set(&b, (struct sockaddr *)&s4, 0), 0);
    assert_memory_equal(&a, &b, sizeof(a));
    assert_int_equal(otb_udp_key_set(&b, (struct sockaddr *)&s4, AF_INET6), 0);
    assert_memory_not_equal(&a, &b, sizeof(a));
    assert_int_equal(otb_udp_key_set(&b, (struct sockaddr *)&s6, 0), 0);
    assert_int_equal(b.family, AF_INET6);
    assert_memory_equal(b.addr, &s6.sin6_addr, 16);
    assert_int_equal(otb_udp_key_set(&b, (struct sockaddr *)&un, 0), -EAFNOSUPPORT);
}

static void test_hash(void **state)
{
    struct otb_udp_table t, u;
    struct otb_udp_key a, b;
    struct sockaddr_in s = v4("192.0.2.1", 4000), s2 = v4("192.0.2.1", 4001);
    (void)state;

    assert_int_equal(otb_udp_table_init(&t, 16), 0);
    assert_int_equal(otb_udp_table_init(&u, 16), 0);
    otb_udp_key_set(&a, (struct sockaddr *)&s, 0);
    otb_udp_key_set(&b, (struct sockaddr *)&s, 0);
    assert_true(otb_udp_table_hash(&t, &a) == otb_udp_table_hash(&t, &b));
    otb_udp_key_set(&b, (struct sockaddr *)&s2, 0);
    assert_true(otb_udp_table_hash(&t, &a) != otb_udp_table_hash(&t, &b));
    otb_udp_key_set(&b, (struct sockaddr *)&s, 1);
    assert_true(otb_udp_table_hash(&t, &a) != otb_udp_table_hash(&t, &b));
    /* A random key per table: peers cannot predict the buckets. */
    assert_true(otb_udp_table_hash(&t, &a) != otb_udp_table_hash(&u, &a));
    otb_udp_table_free(&t);
    otb_udp_table_free(&u);
}

/* The hash of l's key in t, as the relay's lookup computes it. */
static uint64_t hash_of(const struct otb_udp_table *t, const struct otb_udp_link *l)
{
    return otb_udp_table_hash(t, &l->key);
}

static void test_table_lru(void **state)
{
    struct otb_udp_table t;
    struct item items[6];
    (void)state;

    assert_int_equal(otb_udp_table_init(&t, 4), 0);
    assert_null(otb_udp_table_oldest(&t));
    for (int i = 0; i < 5; i++) {
        item_set(&t, &items[i], i);
        otb_udp_table_insert(&t, &items[i].link, hash_of(&t, &items[i].link));
    }
    assert_int_equal(t.count, 5);
    assert_int_equal(oldest_id(&t), 0);
    /* Activity moves an entry to the young end. */
    otb_udp_table_touch(&t, &items[0].link);
    assert_int_equal(oldest_id(&t), 1);
    otb_udp_table_touch(&t, &items[0].link); /* already the newest */
    assert_int_equal(oldest_id(&t), 1);
    /* Eviction as the relay does it: the oldest goes when a new one comes. */
    otb_udp_table_remove(&t, otb_udp_table_oldest(&t));
    item_set(&t, &items[5], 5);
    otb_udp_table_insert(&t, &items[5].link, hash_of(&t, &items[5].link));
    assert_int_equal(t.count, 5);
    assert_null(otb_udp_table_find(&t, &items[1].link.key, hash_of(&t, &items[1].link)));
    for (int i = 2; i < 5; i++) {
        assert_int_equal(oldest_id(&t), i);
        assert_ptr_equal(otb_udp_table_find(&t, &items[i].link.key, hash_of(&t, &items[i].link)),
                         &items[i].link);
        otb_udp_table_remove(&t, &items[i].link);
    }
    assert_int_equal(oldest_id(&t), 0);
    otb_udp_table_remove(&t, &items[0].link);
    assert_int_equal(oldest_id(&t), 5);
    otb_udp_table_remove(&t, &items[5].link);
    assert_null(otb_udp_table_oldest(&t));
    assert_int_equal(t.count, 0);
    otb_udp_table_free(&t);
}

/* Many more entries than buckets: long chains, removal from their middle. */
/* Keys of no address family (2022 sessions, keyed by session ID) share one
 * client: no client is allocated per session. */
static void test_table_sessions_one_client(void **state)
{
    struct otb_udp_table t;
    struct otb_udp_link links[3];
    (void)state;

    assert_int_equal(otb_udp_table_init(&t, 4), 0);
    memset(links, 0, sizeof(links));
    for (int i = 0; i < 3; i++) {
        memset(links[i].key.addr, 0x40 + i, 8); /* a session ID */
        links[i].key.family = AF_UNSPEC;
        links[i].key.sub = 0x22;
        assert_int_equal(otb_udp_table_insert(&t, &links[i], hash_of(&t, &links[i])), 0);
    }
    assert_int_equal(otb_udp_table_client_count(&t, &links[0].key), 3);
    assert_ptr_equal(links[0].client, links[2].client);
    for (int i = 0; i < 3; i++)
        otb_udp_table_remove(&t, &links[i]);
    assert_null(t.clients);
    otb_udp_table_free(&t);
}

static void test_table_chains(void **state)
{
    enum { N = 2000 };
    struct otb_udp_table t;
    struct item *items = calloc(N, sizeof(*items));
    (void)state;

    assert_non_null(items);
    assert_int_equal(otb_udp_table_init(&t, 16), 0);
    assert_int_equal(t.mask, 15);
    for (int i = 0; i < N; i++) {
        item_set(&t, &items[i], i);
        otb_udp_table_insert(&t, &items[i].link, hash_of(&t, &items[i].link));
    }
    for (int i = 0; i < N; i += 2)
        otb_udp_table_remove(&t, &items[i].link);
    assert_int_equal(t.count, N / 2);
    for (int i = 0; i < N; i++) {
        struct otb_udp_link *l =
            otb_udp_table_find(&t, &items[i].link.key, hash_of(&t, &items[i].link));
        if (i % 2)
            assert_ptr_equal(l, &items[i].link);
        else
            assert_null(l);
    }
    assert_int_equal(oldest_id(&t), 1);
    otb_udp_table_free(&t);
    free(items);
}

static void test_name_cache(void **state)
{
    struct otb_udp_name names[3];
    struct sockaddr_in a = v4("192.0.2.1", 53), b = v4("192.0.2.2", 53), c = v4("192.0.2.3", 53);
    const struct sockaddr *got;
    (void)state;

    memset(names, 0, sizeof(names));
    assert_null(otb_udp_names_find(names, 3, "dns.test", 53, 1.));
    otb_udp_names_put(names, 3, "dns.test", 53, (struct sockaddr *)&a, 100.);
    got = otb_udp_names_find(names, 3, "dns.test", 53, 99.);
    assert_non_null(got);
    assert_memory_equal(got, &a, sizeof(a));
    /* Another port is another entry; expired entries are not answers. */
    assert_null(otb_udp_names_find(names, 3, "dns.test", 54, 99.));
    assert_null(otb_udp_names_find(names, 3, "dns.test", 53, 100.));
    /* The same name is refreshed in place. */
    otb_udp_names_put(names, 3, "dns.test", 53, (struct sockaddr *)&b, 200.);
    assert_memory_equal(otb_udp_names_find(names, 3, "dns.test", 53, 150.), &b, sizeof(b));
    otb_udp_names_put(names, 3, "x.test", 1, (struct sockaddr *)&a, 300.);
    otb_udp_names_put(names, 3, "y.test", 1, (struct sockaddr *)&a, 250.);
    /* Full: the entry that expires first (dns.test, 200) makes room. */
    otb_udp_names_put(names, 3, "z.test", 1, (struct sockaddr *)&c, 400.);
    assert_null(otb_udp_names_find(names, 3, "dns.test", 53, 150.));
    assert_non_null(otb_udp_names_find(names, 3, "x.test", 1, 150.));
    assert_non_null(otb_udp_names_find(names, 3, "y.test", 1, 150.));
    assert_memory_equal(otb_udp_names_find(names, 3, "z.test", 1, 150.), &c, sizeof(c));
}

static void test_voice_ports(void **state)
{
    (void)state;
    assert_true(otb_udp_port_is_voice(5060));
    assert_true(otb_udp_port_is_voice(5061));
    assert_true(otb_udp_port_is_voice(3478));
    assert_false(otb_udp_port_is_voice(53));
    assert_false(otb_udp_port_is_voice(443));
    assert_false(otb_udp_port_is_voice(0));
}

static void test_orig_dst(void **state)
{
    union {
        struct cmsghdr align;
        uint8_t buf[CMSG_SPACE(sizeof(int)) + CMSG_SPACE(sizeof(struct sockaddr_in6))];
    } control;
    struct msghdr msg = { .msg_control = control.buf, .msg_controllen = sizeof(control.buf) };
    struct sockaddr_in s4 = v4("203.0.113.9", 3478);
    struct sockaddr_in6 s6 = v6("2001:db8::9", 5060);
    struct sockaddr_storage out;
    struct cmsghdr *c;
    (void)state;

    /* An unrelated message first, then the destination. */
    memset(&control, 0, sizeof(control));
    c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SO_MARK;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    c = CMSG_NXTHDR(&msg, c);
    c->cmsg_level = SOL_IP;
    c->cmsg_type = IP_ORIGDSTADDR;
    c->cmsg_len = CMSG_LEN(sizeof(s4));
    memcpy(CMSG_DATA(c), &s4, sizeof(s4));
    msg.msg_controllen = CMSG_SPACE(sizeof(int)) + CMSG_SPACE(sizeof(s4));
    assert_int_equal(otb_udp_orig_dst(&msg, &out), 0);
    assert_memory_equal(&out, &s4, sizeof(s4));

    /* Too short for its type. */
    c->cmsg_len = CMSG_LEN(sizeof(s4) - 1);
    assert_int_equal(otb_udp_orig_dst(&msg, &out), -ENOENT);

    memset(&control, 0, sizeof(control));
    msg.msg_controllen = sizeof(control.buf);
    c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_IPV6;
    c->cmsg_type = IPV6_ORIGDSTADDR;
    c->cmsg_len = CMSG_LEN(sizeof(s6));
    memcpy(CMSG_DATA(c), &s6, sizeof(s6));
    msg.msg_controllen = CMSG_SPACE(sizeof(s6));
    assert_int_equal(otb_udp_orig_dst(&msg, &out), 0);
    assert_memory_equal(&out, &s6, sizeof(s6));
    /* The family inside must match the message type. */
    ((struct sockaddr_in6 *)CMSG_DATA(c))->sin6_family = AF_INET;
    assert_int_equal(otb_udp_orig_dst(&msg, &out), -ENOENT);

    msg.msg_controllen = 0;
    assert_int_equal(otb_udp_orig_dst(&msg, &out), -ENOENT);
}

/* ------------------------------------------- relays on loopback sockets */

struct env {
    struct ev_loop *loop;
    struct otb_logger log;
    struct otb_master master;
    struct otb_udprelay relay;
    struct otb_egress egress;
    struct sockaddr_in relay_addr; /* where the relay listens */
};

static int udp_socket(void)
{
    struct sockaddr_in any = v4("127.0.0.1", 0);
    struct timeval tv = { .tv_sec = 0, .tv_usec = 1000 };
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&any, sizeof(any)), 0);
    /* Reads poll: the loop runs between them. */
    assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
    return fd;
}

static struct sockaddr_in sock_addr(int fd)
{
    struct sockaddr_in sin;
    socklen_t len = sizeof(sin);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
    return sin;
}

/* Runs the loop until fd has a datagram (returned, with its source) or about
 * a second passes (-1). */
static ssize_t pump_recv(struct env *e, int fd, uint8_t *buf, size_t cap,
                         struct sockaddr_in *from)
{
    for (int i = 0; i < 500; i++) {
        socklen_t len = sizeof(*from);
        ev_run(e->loop, EVRUN_NOWAIT);
        ssize_t n = recvfrom(fd, buf, cap, 0, (struct sockaddr *)from, &len);
        if (n >= 0)
            return n;
    }
    return -1;
}

static void pump(struct env *e)
{
    for (int i = 0; i < 50; i++) {
        ev_run(e->loop, EVRUN_NOWAIT);
        nanosleep(&(struct timespec){ .tv_nsec = 1000000 }, NULL);
    }
}

static void env_start(struct env *e, enum otb_udp_role role, size_t max_assoc)
{
    struct otb_sock_opts opts = { 0 };
    char err[128];
    static const char acl[] = "[outbound_allow_list]\n127.0.0.0/8\n";

    memset(e, 0, sizeof(*e));
    e->loop = ev_loop_new(EVFLAG_AUTO);
    assert_non_null(e->loop);
    otb_log_open(&e->log, "test", OTB_LOG_ERR, false);
    otb_master_from_password(&e->master, OTB_CHACHA20_IETF_POLY1305, PW);
    assert_int_equal(otb_udprelay_init(&e->relay, e->loop, &e->log, &e->master, role, max_assoc),
                     0);
    e->egress.acl = otb_acl_new();
    assert_int_equal(otb_acl_load_text(e->egress.acl, acl, sizeof(acl) - 1, err, sizeof(err)), 0);
    e->egress.block = otb_acl_builtin_outbound_block();
    e->relay.egress = &e->egress;
    e->relay_addr = v4("127.0.0.1", 0);
    assert_int_equal(otb_udprelay_listen(&e->relay, (struct sockaddr *)&e->relay_addr,
                                         sizeof(e->relay_addr), &opts),
                     0);
    e->relay_addr = sock_addr(e->relay.listeners->fd);
}

static void env_stop(struct env *e)
{
    otb_udprelay_destroy(&e->relay);
    otb_egress_free(&e->egress);
    ev_loop_destroy(e->loop);
}

/* Seals [header of to][payload] with a fresh salt; returns the length. */
static size_t seal_to(const struct env *e, const struct sockaddr_in *to, const char *payload,
                      uint8_t *out)
{
    uint8_t plain[OTB_ADDR_MAX_LEN + 64], salt[OTB_MAX_SALT_LEN];
    struct otb_addr a;
    size_t n;

    assert_int_equal(otb_addr_from_sockaddr(&a, (const struct sockaddr *)to), 0);
    n = otb_addr_encode(&a, plain);
    memcpy(plain + n, payload, strlen(payload));
    randombytes_buf(salt, sizeof(salt));
    return otb_udp_seal(&codec_aead, &e->master, salt, plain, n + strlen(payload), out);
}

static void send_to(int fd, const void *buf, size_t len, const struct sockaddr_in *to)
{
    assert_int_equal(sendto(fd, buf, len, 0, (const struct sockaddr *)to, sizeof(*to)),
                     (ssize_t)len);
}

/* A sealed reply at the box: its header must name from, its payload want. */
static void expect_sealed(struct env *e, int box, const struct sockaddr_in *from,
                          const char *want)
{
    uint8_t buf[2048], plain[2048];
    struct sockaddr_in src;
    struct otb_addr hdr;
    size_t off, len;
    ssize_t n = pump_recv(e, box, buf, sizeof(buf), &src);

    assert_true(n > 0);
    assert_int_equal(src.sin_port, e->relay_addr.sin_port);
    assert_int_equal(otb_udp_open_addr(&codec_aead, &e->master, buf, (size_t)n, plain,
                                       sizeof(plain), &hdr, &off, &len),
                     OTB_OK);
    assert_int_equal(hdr.atyp, OTB_ATYP_IPV4);
    assert_memory_equal(hdr.u.v4, &from->sin_addr, 4);
    assert_int_equal(hdr.port, ntohs(from->sin_port));
    assert_int_equal(len, strlen(want));
    assert_memory_equal(plain + off, want, len);
}

static void test_server_full_cone(void **state)
{
    struct env e;
    uint8_t pkt[256], buf[256];
    struct sockaddr_in mapping, src;
    int box, target, stranger;
    ssize_t n;
    (void)state;

    env_start(&e, OTB_UDP_SERVER, 0);
    box = udp_socket();
    target = udp_socket();
    stranger = udp_socket();
    struct sockaddr_in target_addr = sock_addr(target), stranger_addr = sock_addr(stranger);

    send_to(box, pkt, seal_to(&e, &target_addr, "hello", pkt), &e.relay_addr);
    n = pump_recv(&e, target, buf, sizeof(buf), &mapping);
    assert_int_equal(n, 5);
    assert_memory_equal(buf, "hello", 5);
    assert_int_equal(e.relay.stats.assoc_active, 1);
    /* Memory per session, measured: one heap chunk (its header counted)
     * within the 512-byte budget. */
    assert_true(malloc_usable_size(e.relay.table.lru.next) + sizeof(size_t) <= 512);

    /* The reply, and a datagram from a host the box never addressed. */
    send_to(target, "world", 5, &mapping);
    expect_sealed(&e, box, &target_addr, "world");
    send_to(stranger, "knock", 5, &mapping);
    expect_sealed(&e, box, &stranger_addr, "knock");

    /* Same association, same mapping, for the box's next datagram. */
    send_to(box, pkt, seal_to(&e, &target_addr, "again", pkt), &e.relay_addr);
    assert_int_equal(pump_recv(&e, target, buf, sizeof(buf), &src), 5);
    assert_int_equal(src.sin_port, mapping.sin_port);
    assert_int_equal(e.relay.stats.up_packets, 2);
    assert_int_equal(e.relay.stats.down_packets, 2);
    assert_int_equal(e.relay.stats.assoc_created, 1);
    close(box);
    close(target);
    close(stranger);
    env_stop(&e);
}

static void test_server_refuses(void **state)
{
    struct env e;
    uint8_t pkt[256], buf[256], plain[64], salt[OTB_MAX_SALT_LEN];
    struct sockaddr_in src, blocked = v4("10.1.2.3", 9);
    size_t len;
    int box, target;
    (void)state;

    env_start(&e, OTB_UDP_SERVER, 0);
    box = udp_socket();
    target = udp_socket();
    struct sockaddr_in target_addr = sock_addr(target);

    len = seal_to(&e, &target_addr, "once", pkt);
    send_to(box, pkt, len, &e.relay_addr);
    assert_int_equal(pump_recv(&e, target, buf, sizeof(buf), &src), 4);
    send_to(box, pkt, len, &e.relay_addr); /* replayed */
    pkt[len - 1] ^= 1;                      /* bad tag */
    send_to(box, pkt, len, &e.relay_addr);
    send_to(box, pkt, 10, &e.relay_addr); /* shorter than a salt */
    /* Authentic, but ATYP 9 does not exist. */
    memcpy(plain, "\x09" "abcdef", 7);
    randombytes_buf(salt, sizeof(salt));
    send_to(box, pkt, otb_udp_seal(&codec_aead, &e.master, salt, plain, 7, pkt), &e.relay_addr);
    /* Authentic, to an address the built-in list refuses. */
    send_to(box, pkt, seal_to(&e, &blocked, "no", pkt), &e.relay_addr);
    pump(&e);
    assert_int_equal(recv(target, buf, sizeof(buf), 0), -1);
    assert_int_equal(recv(box, buf, sizeof(buf), 0), -1); /* never answered */
    assert_int_equal(e.relay.stats.replay, 1);
    assert_int_equal(e.relay.stats.bad, 3);
    assert_int_equal(e.relay.stats.acl_refused, 1);
    assert_int_equal(e.relay.stats.up_packets, 1);
    close(box);
    close(target);
    env_stop(&e);
}

static void test_server_eviction(void **state)
{
    enum { CAP = 16, BOXES = 20 };
    struct env e;
    uint8_t pkt[256], buf[256];
    struct sockaddr_in src;
    int boxes[BOXES], target;
    (void)state;

    env_start(&e, OTB_UDP_SERVER, CAP);
    target = udp_socket();
    struct sockaddr_in target_addr = sock_addr(target);
    for (int i = 0; i < BOXES; i++) {
        boxes[i] = udp_socket();
        send_to(boxes[i], pkt, seal_to(&e, &target_addr, "x", pkt), &e.relay_addr);
        assert_int_equal(pump_recv(&e, target, buf, sizeof(buf), &src), 1);
        /* Keep box 0 active: the least recently active goes, not the first. */
        if (i >= CAP - 1) {
            send_to(boxes[0], pkt, seal_to(&e, &target_addr, "y", pkt), &e.relay_addr);
            assert_int_equal(pump_recv(&e, target, buf, sizeof(buf), &src), 1);
        }
    }
    assert_int_equal(e.relay.stats.assoc_active, CAP);
    assert_int_equal(e.relay.stats.assoc_evicted, BOXES - CAP);
    assert_int_equal(e.relay.stats.assoc_created, BOXES);
    for (int i = 0; i < BOXES; i++) {
        struct otb_udp_key k;
        struct sockaddr_in a = sock_addr(boxes[i]);
        otb_udp_key_set(&k, (struct sockaddr *)&a, 0);
        bool kept = otb_udp_table_find(&e.relay.table, &k,
                                       otb_udp_table_hash(&e.relay.table, &k)) != NULL;
        assert_int_equal(kept, i == 0 || i > BOXES - CAP);
        close(boxes[i]);
    }
    close(target);
    env_stop(&e);
}

/* A UDP socket bound to ip (any port): another box or LAN host on loopback. */
static int udp_socket_at(const char *ip)
{
    struct sockaddr_in at = v4(ip, 0);
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&at, sizeof(at)), 0);
    return fd;
}

static bool relay_has(struct env *e, int fd)
{
    struct otb_udp_key k;
    struct sockaddr_in a = sock_addr(fd);

    otb_udp_key_set(&k, (struct sockaddr *)&a, 0);
    return otb_udp_table_find(&e->relay.table, &k, otb_udp_table_hash(&e->relay.table, &k));
}

/* One datagram from a new socket of ip to `to`, run through the relay; the
 * socket stays open (its association's key). */
static int send_new(struct env *e, const char *ip, const struct sockaddr_in *to)
{
    uint8_t pkt[256];
    int fd = udp_socket_at(ip);
    uint64_t before = e->relay.stats.assoc_created + e->relay.stats.assoc_refused;

    send_to(fd, pkt, seal_to(e, to, "x", pkt), &e->relay_addr);
    /* Until the relay has created (or refused) its association. */
    for (int i = 0; i < 2000; i++) {
        ev_run(e->loop, EVRUN_NOWAIT);
        if (e->relay.stats.assoc_created + e->relay.stats.assoc_refused > before)
            break;
        nanosleep(&(struct timespec){ .tv_nsec = 100000 }, NULL);
    }
    return fd;
}

/* A full table: a box cycling source ports replaces its own associations,
 * never the one of another box (least recently active though it is). */
static void test_server_eviction_per_client(void **state)
{
    enum { CAP = 16, FLOOD = 40 };
    struct env e;
    int other, flood[FLOOD], target;
    (void)state;

    env_start(&e, OTB_UDP_SERVER, CAP);
    target = udp_socket();
    struct sockaddr_in target_addr = sock_addr(target);
    other = send_new(&e, "127.0.0.2", &target_addr);
    for (int i = 0; i < FLOOD; i++)
        flood[i] = send_new(&e, "127.0.0.1", &target_addr);
    assert_int_equal(e.relay.stats.assoc_created, FLOOD + 1);
    assert_int_equal(e.relay.stats.assoc_active, CAP);
    assert_true(relay_has(&e, other));
    assert_int_equal(e.relay.stats.assoc_evicted, FLOOD + 1 - CAP);
    /* The flood keeps its newest associations. */
    assert_true(relay_has(&e, flood[FLOOD - 1]));
    assert_false(relay_has(&e, flood[0]));
    for (int i = 0; i < FLOOD; i++)
        close(flood[i]);
    close(other);
    close(target);
    env_stop(&e);
}

/* A voice association (SIP) survives a flood of new non-voice ones, from
 * its own box as from another; when only voice is left, a new association
 * is refused, not the voice one evicted. */
static void test_server_eviction_voice(void **state)
{
    enum { CAP = 16, FLOOD = 40 };
    struct env e;
    struct sockaddr_in sip = v4("127.0.0.1", 5060);
    int phone, flood[FLOOD], voice[CAP], target, late;
    (void)state;

    env_start(&e, OTB_UDP_SERVER, CAP);
    target = udp_socket();
    struct sockaddr_in target_addr = sock_addr(target);
    phone = send_new(&e, "127.0.0.1", &sip);
    for (int i = 0; i < FLOOD; i++)
        flood[i] = send_new(&e, i % 2 ? "127.0.0.1" : "127.0.0.3", &target_addr);
    assert_true(relay_has(&e, phone));
    assert_int_equal(e.relay.stats.assoc_active, CAP);
    assert_int_equal(e.relay.stats.assoc_refused, 0);
    for (int i = 0; i < FLOOD; i++)
        close(flood[i]);
    close(phone);
    env_stop(&e);

    env_start(&e, OTB_UDP_SERVER, CAP);
    for (int i = 0; i < CAP; i++)
        voice[i] = send_new(&e, "127.0.0.1", &sip);
    late = send_new(&e, "127.0.0.4", &target_addr);
    assert_false(relay_has(&e, late));
    assert_int_equal(e.relay.stats.assoc_refused, 1);
    assert_int_equal(e.relay.stats.assoc_evicted, 0);
    for (int i = 0; i < CAP; i++) {
        assert_true(relay_has(&e, voice[i]));
        close(voice[i]);
    }
    close(late);
    close(target);
    env_stop(&e);
}

static struct sockaddr_in fake_server;

static int pick_fake(void *arg, uint32_t exclude, struct sockaddr_storage *sa, socklen_t *len)
{
    memcpy(sa, &fake_server, sizeof(fake_server));
    *len = sizeof(fake_server);
    return 0;
}

/* Forward mode against a stand-in server: sealed out, opened back, and a
 * datagram from anyone but the server is dropped. */
static void test_client_forward(void **state)
{
    struct env e;
    uint8_t buf[512], plain[512];
    struct sockaddr_in from, assoc, target = v4("192.0.2.53", 53);
    struct otb_addr hdr;
    size_t off, len;
    ssize_t n;
    int lan, server, stranger;
    (void)state;

    env_start(&e, OTB_UDP_CLIENT, 0);
    lan = udp_socket();
    server = udp_socket();
    stranger = udp_socket();
    fake_server = sock_addr(server);
    e.relay.upstream = (struct otb_upstream_ops){ .pick = pick_fake };
    e.relay.forward = true;
    otb_addr_from_sockaddr(&e.relay.target, (struct sockaddr *)&target);

    send_to(lan, "query", 5, &e.relay_addr);
    n = pump_recv(&e, server, buf, sizeof(buf), &assoc);
    assert_true(n > 0);
    assert_int_equal(otb_udp_open_addr(&codec_aead, &e.master, buf, (size_t)n, plain, sizeof(plain),
                                       &hdr, &off, &len),
                     OTB_OK);
    assert_int_equal(hdr.port, 53);
    assert_memory_equal(hdr.u.v4, &target.sin_addr, 4);
    assert_int_equal(len, 5);

    /* The server answers with the source as header; the LAN host gets the
     * bare payload from the listening address. */
    send_to(server, buf, seal_to(&e, &target, "answer", buf), &assoc);
    assert_int_equal(pump_recv(&e, lan, buf, sizeof(buf), &from), 6);
    assert_memory_equal(buf, "answer", 6);
    assert_int_equal(from.sin_port, e.relay_addr.sin_port);

    send_to(stranger, buf, seal_to(&e, &target, "forged", buf), &assoc);
    pump(&e);
    assert_int_equal(recv(lan, buf, sizeof(buf), 0), -1);
    assert_int_equal(e.relay.stats.bad, 1);
    assert_int_equal(e.relay.stats.up_packets, 1);
    assert_int_equal(e.relay.stats.down_packets, 1);
    close(lan);
    close(server);
    close(stranger);
    env_stop(&e);
}

static int setup(void **state)
{
    (void)state;
    return otb_crypto_init();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key),
        cmocka_unit_test(test_hash),
        cmocka_unit_test(test_table_lru),
        cmocka_unit_test(test_table_chains),
        cmocka_unit_test(test_table_sessions_one_client),
        cmocka_unit_test(test_name_cache),
        cmocka_unit_test(test_voice_ports),
        cmocka_unit_test(test_orig_dst),
        cmocka_unit_test(test_server_full_cone),
        cmocka_unit_test(test_server_refuses),
        cmocka_unit_test(test_server_eviction),
        cmocka_unit_test(test_server_eviction_per_client),
        cmocka_unit_test(test_server_eviction_voice),
        cmocka_unit_test(test_client_forward),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
