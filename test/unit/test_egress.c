/* Unit tests of the egress object's decisions: outbound policy (user ACL
 * over the built-in block list), first permitted address of an answer,
 * source address per family. Addresses are values in memory; nothing is
 * sent. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "otb_egress.h"

static struct sockaddr_storage addr(const char *text)
{
    struct sockaddr_storage ss;
    socklen_t len;

    assert_int_equal(otb_sock_parse_ip(text, 443, &ss, &len), 0);
    return ss;
}

static bool permits(const struct otb_egress *e, const char *text)
{
    struct sockaddr_storage ss = addr(text);
    return otb_egress_permits_addr(e, (const struct sockaddr *)&ss);
}

static void load(struct otb_egress *e, const char *text)
{
    char err[128];

    e->acl = otb_acl_new();
    assert_non_null(e->acl);
    assert_int_equal(otb_acl_load_text(e->acl, text, strlen(text), err, sizeof(err)), 0);
}

/* Nothing configured (the box's egress): everything may leave. */
static void test_empty_permits_all(void **state)
{
    struct otb_egress e = { 0 };

    (void)state;
    assert_true(permits(&e, "127.0.0.1"));
    assert_true(permits(&e, "192.0.2.1"));
    assert_true(otb_egress_permits_host(&e, "anything.test"));
}

static void test_builtin_block(void **state)
{
    struct otb_egress e = { 0 };

    (void)state;
    e.block = otb_acl_builtin_outbound_block();
    assert_non_null(e.block);
    assert_false(permits(&e, "127.0.0.1"));
    assert_false(permits(&e, "10.1.2.3"));
    assert_false(permits(&e, "169.254.169.254"));
    assert_false(permits(&e, "::1"));
    assert_false(permits(&e, "::ffff:192.168.1.1")); /* mapped IPv4 checked as IPv4 */
    assert_true(permits(&e, "203.0.114.1"));
    assert_true(permits(&e, "2a00:1450::1"));
    otb_egress_free(&e);
    assert_null(e.block);
}

/* The user's allow list wins over every block list, its block list over
 * the built-in default. */
static void test_user_acl_order(void **state)
{
    struct otb_egress e = { 0 };

    (void)state;
    e.block = otb_acl_builtin_outbound_block();
    load(&e, "[outbound_allow_list]\n10.9.0.0/16\nallowed\\.test$\n"
             "[outbound_block_list]\n203.0.114.0/24\n10.0.0.0/8\n(^|\\.)blocked\\.test$\n");
    assert_true(permits(&e, "10.9.1.1"));
    assert_false(permits(&e, "10.8.1.1"));
    assert_false(permits(&e, "203.0.114.7"));
    assert_true(permits(&e, "203.0.115.7"));
    assert_false(otb_egress_permits_host(&e, "www.blocked.test"));
    assert_true(otb_egress_permits_host(&e, "allowed.test"));
    assert_true(otb_egress_permits_host(&e, "other.test"));
    otb_egress_free(&e);
}

/* A reload replaces the ACL in the one slot both relays read. */
static void test_acl_swap(void **state)
{
    struct otb_egress e = { 0 };

    (void)state;
    load(&e, "[outbound_block_list]\n198.18.0.0/15\n");
    assert_false(permits(&e, "198.18.0.1"));
    otb_acl_free(e.acl);
    load(&e, "[outbound_block_list]\n198.51.100.0/24\n");
    assert_true(permits(&e, "198.18.0.1"));
    assert_false(permits(&e, "198.51.100.1"));
    otb_egress_free(&e);
}

/* The server's lists: built-in ranges, --public-address and this host's
 * addresses; the allow list still wins over every one of them. */
static void test_public_and_local(void **state)
{
    struct otb_egress e = { 0 };
    struct sockaddr_storage pub[2] = { addr("203.0.114.10"), addr("2a00:1450::10") };

    (void)state;
    assert_int_equal(otb_egress_block_builtin(&e, pub, 2), 0);
    assert_non_null(e.block);
    assert_non_null(e.local);
    assert_false(permits(&e, "203.0.114.10"));
    assert_false(permits(&e, "::ffff:203.0.114.10"));
    assert_false(permits(&e, "::203.0.114.10"));
    assert_false(permits(&e, "2002:cb00:720a::1"));
    assert_false(permits(&e, "2a00:1450::10"));
    assert_true(permits(&e, "203.0.114.11"));
    assert_true(permits(&e, "2a00:1450::11"));
    assert_false(permits(&e, "127.0.0.1")); /* built-in */
    assert_false(permits(&e, "168.63.129.16"));
    /* Rebuilt without the public addresses (SIGHUP). */
    assert_int_equal(otb_egress_block_builtin(&e, NULL, 0), 0);
    assert_true(permits(&e, "203.0.114.10"));
    /* Only this host's addresses, on their own list. */
    otb_acl_free(e.block);
    e.block = NULL;
    assert_false(permits(&e, "127.0.0.1"));
    assert_false(permits(&e, "::ffff:127.0.0.1"));
    assert_false(permits(&e, "::127.0.0.1"));
    assert_false(permits(&e, "2002:7f00:1::"));
    assert_true(permits(&e, "127.0.0.2"));
    assert_int_equal(otb_egress_refresh_local(&e), 0);
    assert_false(permits(&e, "127.0.0.1"));
    load(&e, "[outbound_allow_list]\n127.0.0.1\n");
    assert_true(permits(&e, "127.0.0.1"));
    otb_egress_free(&e);
    assert_null(e.local);
}

static void test_unmap(void **state)
{
    struct sockaddr_storage in, out;
    const struct sockaddr *sa;
    const struct sockaddr_in *sin;
    const struct sockaddr_in6 *sin6;

    (void)state;
    in = addr("::ffff:192.0.2.9");
    sa = otb_egress_unmap((const struct sockaddr *)&in, &out);
    assert_ptr_equal(sa, (const struct sockaddr *)&out);
    sin = (const struct sockaddr_in *)sa;
    assert_int_equal(sin->sin_family, AF_INET);
    assert_int_equal(ntohs(sin->sin_port), 443);
    assert_int_equal(ntohl(sin->sin_addr.s_addr), 0xc0000209);
    /* Other IPv6 forms stay IPv6 (they are refused or routed as such). */
    in = addr("::192.0.2.9");
    sin6 = (const struct sockaddr_in6 *)otb_egress_unmap((const struct sockaddr *)&in, &out);
    assert_int_equal(sin6->sin6_family, AF_INET6);
    assert_memory_equal(&sin6->sin6_addr, &((struct sockaddr_in6 *)&in)->sin6_addr, 16);
    in = addr("2001:db8::1");
    sin6 = (const struct sockaddr_in6 *)otb_egress_unmap((const struct sockaddr *)&in, &out);
    assert_int_equal(sin6->sin6_family, AF_INET6);
    assert_int_equal(ntohs(sin6->sin6_port), 443);
    in = addr("198.51.100.1");
    sin = (const struct sockaddr_in *)otb_egress_unmap((const struct sockaddr *)&in, &out);
    assert_int_equal(sin->sin_family, AF_INET);
    assert_int_equal(ntohl(sin->sin_addr.s_addr), 0xc6336401);
}

static void test_first_permitted(void **state)
{
    struct otb_egress e = { 0 };
    struct sockaddr_storage answer[3] = { addr("127.0.0.1"), addr("10.0.0.1"),
                                          addr("203.0.114.9") };
    const struct sockaddr *got;

    (void)state;
    e.block = otb_acl_builtin_outbound_block();
    got = otb_egress_first_permitted(&e, answer, 3);
    assert_ptr_equal(got, (const struct sockaddr *)&answer[2]);
    /* A name that only leads inside. */
    assert_null(otb_egress_first_permitted(&e, answer, 2));
    assert_null(otb_egress_first_permitted(&e, answer, 0));
    otb_egress_free(&e);
}

static void test_bind_choice(void **state)
{
    struct otb_egress e = { 0 };
    const struct sockaddr *sa;
    char err[128];
    socklen_t len = 99;

    (void)state;
    assert_null(otb_egress_bind(&e, AF_INET, &len));
    assert_int_equal(len, 0);
    assert_int_equal(otb_egress_set_bind(&e, "", err, sizeof(err)), 0);
    assert_null(otb_egress_bind(&e, AF_INET6, &len));
    assert_int_equal(otb_egress_set_bind(&e, "192.0.2.7", err, sizeof(err)), 0);
    sa = otb_egress_bind(&e, AF_INET, &len);
    assert_non_null(sa);
    assert_int_equal(len, sizeof(struct sockaddr_in));
    assert_int_equal(((const struct sockaddr_in *)sa)->sin_port, 0);
    assert_null(otb_egress_bind(&e, AF_INET6, &len)); /* no IPv6 source given */
    assert_int_equal(otb_egress_set_bind(&e, "2001:db8::7", err, sizeof(err)), 0);
    sa = otb_egress_bind(&e, AF_INET6, &len);
    assert_non_null(sa);
    assert_int_equal(sa->sa_family, AF_INET6);
    assert_non_null(otb_egress_bind(&e, AF_INET, &len)); /* both kept */
    assert_int_equal(otb_egress_set_bind(&e, "not-an-ip.test", err, sizeof(err)), -1);
    assert_non_null(strstr(err, "not-an-ip.test"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_permits_all), cmocka_unit_test(test_builtin_block),
        cmocka_unit_test(test_user_acl_order),    cmocka_unit_test(test_acl_swap),
        cmocka_unit_test(test_first_permitted),   cmocka_unit_test(test_bind_choice),
        cmocka_unit_test(test_public_and_local),  cmocka_unit_test(test_unmap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
