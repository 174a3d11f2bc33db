/* Traffic classes (otb_qos): voice ports and hosts, UDP and TCP
 * classification, association stickiness, marks, the TOS control message of
 * received datagrams, and the "voice_ports"/"voice_hosts" config keys. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "otb_config.h"
#include "otb_qos.h"
#include "otb_udprelay.h"

static struct sockaddr_in v4(const char *ip, uint16_t port)
{
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port) };
    assert_int_equal(inet_pton(AF_INET, ip, &sin.sin_addr), 1);
    return sin;
}

static void test_ports(void **state)
{
    struct otb_qos_policy p = { 0 };

    (void)state;
    assert_true(otb_qos_voice_port(&p, 5060));
    assert_true(otb_qos_voice_port(&p, 5061));
    assert_false(otb_qos_voice_port(&p, 5062));
    assert_true(otb_qos_voice_port(NULL, 5060));
    assert_int_equal(otb_qos_parse_ports(&p, "10000-20000, 5004"), 0);
    assert_int_equal(p.n_ports, 2);
    assert_true(otb_qos_voice_port(&p, 10000));
    assert_true(otb_qos_voice_port(&p, 20000));
    assert_true(otb_qos_voice_port(&p, 5004));
    assert_false(otb_qos_voice_port(&p, 20001));
    assert_int_equal(otb_qos_parse_ports(&p, ""), 0);
    assert_int_equal(p.n_ports, 0);
    assert_int_equal(otb_qos_parse_ports(&p, "5004"), 0);
    /* Errors leave the list as it was. */
    const char *bad[] = { "0", "65536", "20-10", "1-", "-5", "a", "1,", ",1", "1,,2", "1 2",
                          "99999999999999999999" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(otb_qos_parse_ports(&p, bad[i]), -1);
        assert_int_equal(p.n_ports, 1);
    }
}

static void test_hosts(void **state)
{
    struct otb_qos_policy p = { 0 };
    struct sockaddr_in a = v4("192.0.2.77", 1), b = v4("192.0.3.1", 1), c = v4("198.51.100.9", 1);
    struct sockaddr_in6 six = { .sin6_family = AF_INET6 };

    (void)state;
    assert_int_equal(otb_qos_add_host(&p, "192.0.2.0/24"), 0);
    assert_int_equal(otb_qos_add_host(&p, "198.51.100.9"), 0);
    assert_int_equal(otb_qos_add_host(&p, "2001:db8::/32"), 0);
    assert_true(otb_qos_voice_host(&p, (struct sockaddr *)&a));
    assert_false(otb_qos_voice_host(&p, (struct sockaddr *)&b));
    assert_true(otb_qos_voice_host(&p, (struct sockaddr *)&c));
    assert_int_equal(inet_pton(AF_INET6, "2001:db8:5::1", &six.sin6_addr), 1);
    assert_true(otb_qos_voice_host(&p, (struct sockaddr *)&six));
    assert_int_equal(inet_pton(AF_INET6, "2001:db9::1", &six.sin6_addr), 1);
    assert_false(otb_qos_voice_host(&p, (struct sockaddr *)&six));
    assert_false(otb_qos_voice_host(&p, NULL));
    assert_int_equal(otb_qos_add_host(&p, "192.0.2.0/33"), -1);
    assert_int_equal(otb_qos_add_host(&p, "example.test"), -1);
    assert_int_equal(otb_qos_add_host(&p, "10.0.0.1/"), -1);
    assert_int_equal(p.n_hosts, 3);
}

static void test_classify_udp(void **state)
{
    struct otb_qos_policy p = { 0 };
    struct sockaddr_in dst = v4("203.0.113.5", 40000);
    struct sockaddr *d = (struct sockaddr *)&dst;

    (void)state;
    assert_int_equal(otb_qos_classify_udp(&p, 0xb8, NULL, d, 40000, 1200), OTB_QOS_VOICE); /* EF */
    assert_int_equal(otb_qos_classify_udp(&p, 0xb9, NULL, d, 40000, 1200), OTB_QOS_VOICE); /* +ECN */
    assert_int_equal(otb_qos_classify_udp(&p, 0xa0, NULL, d, 40000, 1200), OTB_QOS_VOICE); /* CS5 */
    assert_int_equal(otb_qos_classify_udp(&p, 0, NULL, d, 5060, 900), OTB_QOS_VOICE);
    assert_int_equal(otb_qos_classify_udp(&p, 0, NULL, d, 443, 100), OTB_QOS_BULK);
    assert_int_equal(otb_qos_classify_udp(&p, 0, NULL, d, 53, 900), OTB_QOS_INTERACTIVE);
    assert_int_equal(otb_qos_classify_udp(&p, 0, NULL, d, 40000, 256), OTB_QOS_INTERACTIVE);
    assert_int_equal(otb_qos_classify_udp(&p, 0, NULL, d, 40000, 257), OTB_QOS_BULK);
    assert_int_equal(otb_qos_classify_udp(&p, 0x88, NULL, NULL, 40000, 1200), OTB_QOS_BULK);
    assert_int_equal(otb_qos_parse_ports(&p, "30000-30010"), 0);
    assert_int_equal(otb_qos_add_host(&p, "203.0.113.0/24"), 0);
    assert_int_equal(otb_qos_classify_udp(&p, 0, NULL, NULL, 30005, 1200), OTB_QOS_VOICE);
    assert_int_equal(otb_qos_classify_udp(&p, 0, NULL, d, 443, 1200), OTB_QOS_VOICE);
    /* A LAN phone: every datagram of it is voice. */
    struct sockaddr_in phone = v4("192.168.1.20", 5004), other = v4("192.168.1.21", 5004);
    struct sockaddr_in far = v4("198.51.100.1", 40000);
    assert_int_equal(otb_qos_add_host(&p, "192.168.1.20"), 0);
    assert_int_equal(otb_qos_classify_udp(&p, 0, (struct sockaddr *)&phone,
                                          (struct sockaddr *)&far, 40000, 1200), OTB_QOS_VOICE);
    assert_int_equal(otb_qos_classify_udp(&p, 0, (struct sockaddr *)&other,
                                          (struct sockaddr *)&far, 40000, 1200), OTB_QOS_BULK);
}

/* The server's marking of an association's answers, as its download shaper classes them. */
static void test_answer_tos(void **state)
{
    enum otb_qos_class c = OTB_QOS_UNSET;
    unsigned seen = 0;
    uint8_t ef = otb_qos_tos(OTB_QOS_VOICE), interactive = otb_qos_tos(OTB_QOS_INTERACTIVE);
    uint8_t bulk = otb_qos_tos(OTB_QOS_BULK);

    (void)state;
    assert_int_equal(otb_qos_classify_answer(443, 40), OTB_QOS_BULK);
    assert_int_equal(otb_qos_classify_answer(53, 1200), OTB_QOS_INTERACTIVE);
    assert_int_equal(otb_qos_classify_answer(5201, 4), OTB_QOS_INTERACTIVE);
    assert_int_equal(otb_qos_classify_answer(5201, 1200), OTB_QOS_BULK);
    /* iperf3 -u -R: the box saw a 4-byte request (interactive); the answers: a 4-byte
     * one, then the download. Bulk once they show it. */
    c = otb_qos_assoc_class(c, seen++, otb_qos_classify_answer(5201, 4));
    assert_int_equal(otb_qos_answer_tos(interactive, c), interactive);
    c = otb_qos_assoc_class(c, seen++, otb_qos_classify_answer(5201, 1200));
    assert_int_equal(otb_qos_answer_tos(interactive, c), bulk);
    assert_int_equal(otb_qos_answer_tos(-1, c), bulk);  /* no DSCP from the box */
    assert_int_equal(otb_qos_answer_tos(0, c), bulk);   /* a box without otb-qos */
    assert_int_equal(otb_qos_answer_tos(bulk, c), bulk);
    /* Voice stays voice, whatever its answers. */
    assert_int_equal(otb_qos_answer_tos(ef, c), ef);
    /* A DSCP otb-qos does not set (CS5, AF31) is the box's choice. */
    assert_int_equal(otb_qos_answer_tos(0xa0, c), 0xa0);
    assert_int_equal(otb_qos_answer_tos(0x68, c), 0x68);
    /* Small answers (a game, DNS) do not promote a bulk association, nor mark an unmarked one
     * other than interactive. */
    assert_int_equal(otb_qos_answer_tos(bulk, OTB_QOS_INTERACTIVE), bulk);
    assert_int_equal(otb_qos_answer_tos(interactive, OTB_QOS_INTERACTIVE), interactive);
    assert_int_equal(otb_qos_answer_tos(-1, OTB_QOS_UNSET), -1);
}

static void test_assoc_class(void **state)
{
    enum otb_qos_class c = OTB_QOS_UNSET;
    unsigned seen = 0;

    (void)state;
    /* The bulkiest of the first packets... */
    c = otb_qos_assoc_class(c, seen++, OTB_QOS_INTERACTIVE);
    assert_int_equal(c, OTB_QOS_INTERACTIVE);
    c = otb_qos_assoc_class(c, seen++, OTB_QOS_BULK);
    assert_int_equal(c, OTB_QOS_BULK);
    c = otb_qos_assoc_class(c, seen++, OTB_QOS_INTERACTIVE);
    assert_int_equal(c, OTB_QOS_BULK);
    /* ...then fixed... */
    assert_int_equal(otb_qos_assoc_class(OTB_QOS_INTERACTIVE, OTB_QOS_DECIDE_PACKETS,
                                         OTB_QOS_BULK), OTB_QOS_INTERACTIVE);
    /* ...but voice wins at any time and stays. */
    c = otb_qos_assoc_class(OTB_QOS_BULK, 1000, OTB_QOS_VOICE);
    assert_int_equal(c, OTB_QOS_VOICE);
    assert_int_equal(otb_qos_assoc_class(c, 1, OTB_QOS_BULK), OTB_QOS_VOICE);
}

static void test_tcp_and_marks(void **state)
{
    (void)state;
    assert_int_equal(otb_qos_classify_tcp(NULL, 5061), OTB_QOS_INTERACTIVE);
    assert_int_equal(otb_qos_classify_tcp(NULL, 443), OTB_QOS_DEFAULT);
    assert_int_equal(otb_qos_tos(OTB_QOS_VOICE), 0xb8);
    assert_int_equal(otb_qos_tos(OTB_QOS_INTERACTIVE), 0x88);
    assert_int_equal(otb_qos_tos(OTB_QOS_BULK), 0x20);
    assert_int_equal(otb_qos_tos(OTB_QOS_DEFAULT), 0);
    assert_int_equal(otb_qos_priority(OTB_QOS_VOICE), 6);
    assert_int_equal(otb_qos_priority(OTB_QOS_BULK), 2);
    assert_int_equal(otb_qos_from_tos(0xb9), OTB_QOS_VOICE);
    assert_int_equal(otb_qos_from_tos(0x88), OTB_QOS_INTERACTIVE);
    assert_int_equal(otb_qos_from_tos(0x20), OTB_QOS_BULK);
    assert_int_equal(otb_qos_from_tos(0x48), OTB_QOS_DEFAULT);
    assert_string_equal(otb_qos_name(OTB_QOS_VOICE), "voice");
}

/* A real socket gets the class's TOS and priority. */
static void test_mark_socket(void **state)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0), tos = -1, prio = -1;
    socklen_t len = sizeof(int);

    (void)state;
    assert_true(fd >= 0);
    assert_int_equal(otb_qos_mark_socket(fd, AF_INET, OTB_QOS_VOICE), 0);
    assert_int_equal(getsockopt(fd, IPPROTO_IP, IP_TOS, &tos, &len), 0);
    assert_int_equal(tos, 0xb8);
    len = sizeof(int);
    assert_int_equal(getsockopt(fd, SOL_SOCKET, SO_PRIORITY, &prio, &len), 0);
    assert_int_equal(prio, 6);
    assert_int_equal(otb_qos_mark_socket(fd, AF_INET, OTB_QOS_DEFAULT), 0);
    len = sizeof(int);
    assert_int_equal(getsockopt(fd, IPPROTO_IP, IP_TOS, &tos, &len), 0);
    assert_int_equal(tos, 0);
    close(fd);
}

/* IP_RECVTOS on loopback: the TOS a sender set comes out of the control message. */
static void test_recv_tos(void **state)
{
    int rx = socket(AF_INET, SOCK_DGRAM, 0), tx = socket(AF_INET, SOCK_DGRAM, 0), one = 1;
    int tos = 0xb8;
    struct sockaddr_in sa = v4("127.0.0.1", 0);
    socklen_t len = sizeof(sa);
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int)) * 2];
    } ctl;
    char data[16];
    struct iovec iov = { .iov_base = data, .iov_len = sizeof(data) };
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
                          .msg_controllen = sizeof(ctl.buf) };

    (void)state;
    assert_int_equal(bind(rx, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(rx, (struct sockaddr *)&sa, &len), 0);
    assert_int_equal(setsockopt(rx, IPPROTO_IP, IP_RECVTOS, &one, sizeof(one)), 0);
    assert_int_equal(setsockopt(tx, IPPROTO_IP, IP_TOS, &tos, sizeof(tos)), 0);
    assert_int_equal(sendto(tx, "x", 1, 0, (struct sockaddr *)&sa, sizeof(sa)), 1);
    assert_int_equal(recvmsg(rx, &msg, 0), 1);
    assert_int_equal(otb_udp_recv_tos(&msg), 0xb8);
    msg.msg_controllen = 0;
    assert_int_equal(otb_udp_recv_tos(&msg), -1);
    close(rx);
    close(tx);
}

static void test_config_keys(void **state)
{
    static struct otb_config cfg;
    char err[256] = "";
    const char *json = "{\"voice_ports\": \"10000-20000,5004\", "
                       "\"voice_hosts\": [\"192.0.2.10\", \"198.51.100.0/24\"]}";
    char *argv[] = { "otb-tunnel", "-s", "192.0.2.1", "-p", "8388", "-k", "x", "-l", "1",
                     "--voice-ports", "7000", "--voice-hosts", "203.0.113.1,2001:db8::/32" };

    (void)state;
    otb_config_defaults(&cfg, OTB_PROG_TUNNEL);
    assert_int_equal(otb_config_apply_json(&cfg, json, strlen(json), err, sizeof(err)),
                     OTB_CONFIG_OK);
    assert_int_equal(cfg.qos.n_ports, 2);
    assert_int_equal(cfg.qos.n_hosts, 2);
    otb_config_defaults(&cfg, OTB_PROG_TUNNEL);
    assert_int_equal(otb_config_load(&cfg, OTB_PROG_TUNNEL, (int)(sizeof(argv) / sizeof(argv[0])),
                                     argv, err, sizeof(err)), OTB_CONFIG_OK);
    assert_int_equal(cfg.qos.n_ports, 1);
    assert_int_equal(cfg.qos.ports[0].lo, 7000);
    assert_int_equal(cfg.qos.n_hosts, 2);
    const char *bad[] = { "{\"voice_ports\": \"5060-\"}", "{\"voice_ports\": [5060]}",
                          "{\"voice_hosts\": [\"a.test\"]}", "{\"voice_hosts\": [\"1.2.3.4,5.6.7.8\"]}",
                          "{\"voice_hosts\": [1]}" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        otb_config_defaults(&cfg, OTB_PROG_TUNNEL);
        err[0] = '\0';
        assert_int_equal(otb_config_apply_json(&cfg, bad[i], strlen(bad[i]), err, sizeof(err)),
                         OTB_CONFIG_ERROR);
        assert_non_null(strstr(err, "voice_"));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ports),         cmocka_unit_test(test_hosts),
        cmocka_unit_test(test_classify_udp),  cmocka_unit_test(test_assoc_class),
        cmocka_unit_test(test_answer_tos),
        cmocka_unit_test(test_tcp_and_marks), cmocka_unit_test(test_mark_socket),
        cmocka_unit_test(test_recv_tos),      cmocka_unit_test(test_config_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
