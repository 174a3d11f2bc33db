/* Voice duplication (otb_udp_dup.c): the server's two addresses of a 2022
 * session (a WAN move, the slower WAN's copies, replays from elsewhere,
 * the credit that bounds what a second address receives), the client's
 * choice (bulk never, SIP004 never, only another WAN not down) and the
 * local address of a received datagram. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "otb_udp_dup.h"

static struct otb_udp_key key4(const char *ip, uint16_t port)
{
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port) };
    struct otb_udp_key k;

    assert_int_equal(inet_pton(AF_INET, ip, &sin.sin_addr), 1);
    assert_int_equal(otb_udp_key_set(&k, (const struct sockaddr *)&sin, 0), 0);
    return k;
}

/* A window that accepted IDs 0..top-1. */
static struct otb_ss22_window window_upto(uint64_t top)
{
    struct otb_ss22_window w = { 0 };

    for (uint64_t i = 0; i < top; i++)
        assert_true(otb_ss22_window_check(&w, i));
    return w;
}

static void test_window_seen(void **state)
{
    struct otb_ss22_window w = window_upto(200);

    (void)state;
    assert_true(otb_udp_dup_window_seen(&w, 199)); /* the top itself */
    assert_true(otb_udp_dup_window_seen(&w, 199 - OTB_SS22_WINDOW));
    assert_false(otb_udp_dup_window_seen(&w, 198 - OTB_SS22_WINDOW)); /* too old: a replay */
    assert_false(otb_udp_dup_window_seen(&w, 200)); /* never refused: not seen */
    assert_false(otb_udp_dup_window_seen(&w, UINT64_MAX));
    w = (struct otb_ss22_window){ 0 };
    assert_false(otb_udp_dup_window_seen(&w, 0)); /* nothing accepted yet */
}

/* Fresh packets: the latest address moves, the former one becomes the second. */
static void test_fresh_moves(void **state)
{
    struct otb_udp_dup d = { 0 };
    struct otb_udp_key wan1 = key4("10.0.1.1", 40000), wan2 = key4("10.0.2.1", 40000);

    (void)state;
    assert_false(otb_udp_dup_fresh(&d, &wan1, &wan1, 100.));
    assert_false(otb_udp_dup_take(&d, 100.)); /* one address: nothing doubled */
    assert_true(otb_udp_dup_fresh(&d, &wan1, &wan2, 101.));
    assert_memory_equal(&d.second, &wan1, sizeof(wan1));
    assert_true(otb_udp_dup_take(&d, 101.));
    /* A box that moved without duplicating: a few copies to the old
     * address, then none. */
    for (int i = 1; i < OTB_UDP_DUP_CREDIT_MAX; i++)
        assert_true(otb_udp_dup_take(&d, 101.5));
    assert_false(otb_udp_dup_take(&d, 101.5));
    /* and none once the old address is silent for OTB_UDP_DUP_HOLD */
    assert_true(otb_udp_dup_fresh(&d, &wan2, &wan1, 102.));
    assert_memory_equal(&d.second, &wan2, sizeof(wan2)); /* last heard at 101 */
    assert_true(otb_udp_dup_take(&d, 101. + OTB_UDP_DUP_HOLD));
    assert_false(otb_udp_dup_take(&d, 101.1 + OTB_UDP_DUP_HOLD));
}

/* WAN1 always faster: its packets are the fresh ones, WAN2's copies teach
 * the server WAN2's address and keep it live. */
static void test_copies_learn_second(void **state)
{
    struct otb_udp_dup d = { 0 };
    struct otb_ss22_window w = window_upto(10);
    struct otb_udp_key wan1 = key4("10.0.1.1", 40000), wan2 = key4("10.0.2.1", 40000);
    struct otb_udp_key other = key4("203.0.113.9", 40000);

    (void)state;
    otb_udp_dup_fresh(&d, &wan1, &wan1, 100.);
    assert_true(otb_udp_dup_copy(&d, &w, 9, &wan1, &wan2, 100.01));
    assert_memory_equal(&d.second, &wan2, sizeof(wan2));
    /* each copy earns two reply copies */
    assert_true(otb_udp_dup_take(&d, 100.02));
    assert_true(otb_udp_dup_take(&d, 100.02));
    assert_false(otb_udp_dup_take(&d, 100.02));
    for (int i = 0; i < 100; i++)
        assert_true(otb_udp_dup_copy(&d, &w, 9, &wan1, &wan2, 100.03));
    assert_int_equal(d.credit, OTB_UDP_DUP_CREDIT_MAX);
    /* a third address cannot take the second's place while it is live */
    assert_false(otb_udp_dup_copy(&d, &w, 9, &wan1, &other, 100.04));
    assert_memory_equal(&d.second, &wan2, sizeof(wan2));
    /* a copy may overtake its original: from the latest address, a copy
     * too while the box uses two */
    assert_true(otb_udp_dup_copy(&d, &w, 8, &wan1, &wan1, 100.05));
    /* too old for the window: a replay, whoever sends it */
    w = window_upto(100);
    assert_false(otb_udp_dup_copy(&d, &w, 2, &wan1, &wan2, 100.06));
}

/* Without a live second address, the same packet again from the same
 * address is a replay (t_ss2022's case), and a replay from elsewhere buys
 * at most what it brings. */
static void test_replays(void **state)
{
    struct otb_udp_dup d = { 0 };
    struct otb_ss22_window w = window_upto(5);
    struct otb_udp_key box = key4("10.0.1.1", 40000), spoofed = key4("198.51.100.7", 9);

    (void)state;
    otb_udp_dup_fresh(&d, &box, &box, 100.);
    assert_false(otb_udp_dup_copy(&d, &w, 4, &box, &box, 100.1));
    assert_int_equal(d.second.family, 0);
    assert_true(otb_udp_dup_copy(&d, &w, 4, &box, &spoofed, 100.2));
    for (int i = 0; i < OTB_UDP_DUP_CREDIT_PER_COPY; i++)
        assert_true(otb_udp_dup_take(&d, 100.3));
    assert_false(otb_udp_dup_take(&d, 100.3));
    /* and it is forgotten once silent */
    assert_false(otb_udp_dup_take(&d, 100.2 + OTB_UDP_DUP_HOLD + 1));
}

static void test_client_choice(void **state)
{
    (void)state;
    assert_true(otb_udp_dup_eligible(true, true, true, 0));
    assert_false(otb_udp_dup_eligible(false, true, true, 0)); /* off */
    assert_false(otb_udp_dup_eligible(true, false, true, 0)); /* SIP004 */
    assert_false(otb_udp_dup_eligible(true, true, false, 0)); /* bulk */
    assert_false(otb_udp_dup_eligible(true, true, true, -1)); /* no WAN known */
    assert_true(otb_udp_dup_second_ok(0, 1, false));
    assert_false(otb_udp_dup_second_ok(0, 1, true)); /* down */
    assert_false(otb_udp_dup_second_ok(0, 0, false)); /* the same WAN */
    assert_false(otb_udp_dup_second_ok(0, -1, false)); /* only one WAN */
}

static void test_sockaddr(void **state)
{
    struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6, .sin6_port = htons(443) };
    struct sockaddr_storage ss;
    struct otb_udp_key k = key4("10.0.2.1", 40000);

    (void)state;
    assert_int_equal(otb_udp_dup_sockaddr(&k, &ss), sizeof(struct sockaddr_in));
    assert_int_equal(((struct sockaddr_in *)&ss)->sin_port, htons(40000));
    assert_int_equal(((struct sockaddr_in *)&ss)->sin_addr.s_addr, inet_addr("10.0.2.1"));
    assert_int_equal(inet_pton(AF_INET6, "2001:db8::5", &sin6.sin6_addr), 1);
    assert_int_equal(otb_udp_key_set(&k, (const struct sockaddr *)&sin6, 0), 0);
    assert_int_equal(otb_udp_dup_sockaddr(&k, &ss), sizeof(sin6));
    assert_memory_equal(&((struct sockaddr_in6 *)&ss)->sin6_addr, &sin6.sin6_addr, 16);
    assert_int_equal(((struct sockaddr_in6 *)&ss)->sin6_port, htons(443));
}

static void test_recv_local(void **state)
{
    union {
        struct cmsghdr align;
        uint8_t buf[CMSG_SPACE(sizeof(int)) + CMSG_SPACE(sizeof(struct in6_pktinfo))];
    } ctl;
    struct msghdr msg = { .msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf) };
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    struct in_pktinfo pi = { .ipi_ifindex = 3 };
    struct in6_pktinfo pi6 = { .ipi6_ifindex = 4 };
    struct sockaddr_storage local;
    int tos = 0xb8;

    (void)state;
    memset(ctl.buf, 0, sizeof(ctl.buf));
    /* a TOS message first, as the kernel may put it */
    c->cmsg_level = SOL_IP;
    c->cmsg_type = IP_TOS;
    c->cmsg_len = CMSG_LEN(sizeof(tos));
    memcpy(CMSG_DATA(c), &tos, sizeof(tos));
    c = CMSG_NXTHDR(&msg, c);
    inet_pton(AF_INET, "10.0.2.1", &pi.ipi_addr);
    c->cmsg_level = SOL_IP;
    c->cmsg_type = IP_PKTINFO;
    c->cmsg_len = CMSG_LEN(sizeof(pi));
    memcpy(CMSG_DATA(c), &pi, sizeof(pi));
    msg.msg_controllen = CMSG_SPACE(sizeof(tos)) + CMSG_SPACE(sizeof(pi));
    assert_true(otb_udp_dup_recv_local(&msg, &local));
    assert_int_equal(local.ss_family, AF_INET);
    assert_int_equal(((struct sockaddr_in *)&local)->sin_addr.s_addr, inet_addr("10.0.2.1"));
    assert_int_equal(((struct sockaddr_in *)&local)->sin_port, 0);

    memset(ctl.buf, 0, sizeof(ctl.buf));
    c = CMSG_FIRSTHDR(&msg);
    inet_pton(AF_INET6, "2001:db8::1", &pi6.ipi6_addr);
    c->cmsg_level = SOL_IPV6;
    c->cmsg_type = IPV6_PKTINFO;
    c->cmsg_len = CMSG_LEN(sizeof(pi6));
    memcpy(CMSG_DATA(c), &pi6, sizeof(pi6));
    msg.msg_controllen = CMSG_SPACE(sizeof(pi6));
    assert_true(otb_udp_dup_recv_local(&msg, &local));
    assert_int_equal(local.ss_family, AF_INET6);
    assert_memory_equal(&((struct sockaddr_in6 *)&local)->sin6_addr, &pi6.ipi6_addr, 16);

    /* none, or a truncated one */
    c->cmsg_len = CMSG_LEN(sizeof(pi6) - 1);
    assert_false(otb_udp_dup_recv_local(&msg, &local));
    msg.msg_controllen = 0;
    assert_false(otb_udp_dup_recv_local(&msg, &local));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_window_seen),
        cmocka_unit_test(test_fresh_moves),
        cmocka_unit_test(test_copies_learn_second),
        cmocka_unit_test(test_replays),
        cmocka_unit_test(test_client_choice),
        cmocka_unit_test(test_sockaddr),
        cmocka_unit_test(test_recv_local),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
