/* Traffic classes ("voice first"): which class a flow belongs to, and how
 * the programs mark it on the wire (DSCP in IP_TOS / IPV6_TCLASS, plus
 * SO_PRIORITY) so that queues on the path, first of all otb-qos's HTB on the
 * box's WANs, can serve voice first and bulk UDP last.
 *
 *   voice        EF (0xb8),   priority 6: RTP/SIP: LAN DSCP EF or CS5, SIP
 *                ports 5060-5061, configured ports ("voice_ports") and hosts
 *                ("voice_hosts": LAN phones or remote SIP/media servers)
 *   interactive  AF41 (0x88), priority 4: DNS, small datagrams (games), TCP to
 *                a voice port (SIP over TCP)
 *   default      no marking:             TCP and MPTCP bulk
 *   bulk         CS1 (0x20),  priority 2: QUIC (UDP 443) and large datagrams
 *
 * A UDP association takes its class from its first datagrams: the bulkiest
 * of the first OTB_QOS_DECIDE_PACKETS, except that voice wins whenever it
 * shows and never goes (a call's first packets may be small signalling).
 * Everything here is pure except otb_qos_mark_socket. */
#ifndef OTB_QOS_H
#define OTB_QOS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define OTB_QOS_MAX_PORT_RANGES 32
#define OTB_QOS_MAX_HOSTS 32
/* Datagrams after which an association's class no longer changes (but to voice). */
#define OTB_QOS_DECIDE_PACKETS 8
/* Datagrams up to this size (payload) are "small": interactive. */
#define OTB_QOS_SMALL_PAYLOAD 256
/* Built-in voice ports: SIP. */
#define OTB_QOS_SIP_PORT_LO 5060
#define OTB_QOS_SIP_PORT_HI 5061

/* In increasing "bulkiness" after voice, so that max() picks the bulkiest. */
enum otb_qos_class {
    OTB_QOS_UNSET = 0, /* no datagram seen yet */
    OTB_QOS_INTERACTIVE,
    OTB_QOS_DEFAULT,
    OTB_QOS_BULK,
    OTB_QOS_VOICE,
};

struct otb_qos_range {
    uint16_t lo, hi;
};

struct otb_qos_host {
    struct sockaddr_storage net;
    unsigned prefix;
};

/* The configurable part: "voice_ports" and "voice_hosts". */
struct otb_qos_policy {
    struct otb_qos_range ports[OTB_QOS_MAX_PORT_RANGES];
    size_t n_ports;
    struct otb_qos_host hosts[OTB_QOS_MAX_HOSTS];
    size_t n_hosts;
};

/* "5060-5061,10000-20000" (ports or ranges, comma-separated; "" = none)
 * replaces p's ranges. 0, or -1 with p unchanged. */
int otb_qos_parse_ports(struct otb_qos_policy *p, const char *text);
/* Appends "192.0.2.10", "198.51.100.0/24" or an IPv6 one. 0 or -1. */
int otb_qos_add_host(struct otb_qos_policy *p, const char *text);

bool otb_qos_voice_port(const struct otb_qos_policy *p, uint16_t port);
/* sa may be NULL (a name not resolved yet). */
bool otb_qos_voice_host(const struct otb_qos_policy *p, const struct sockaddr *sa);

/* Class of one UDP datagram. tos: the LAN packet's TOS/traffic class byte
 * (0 if unknown); src: the LAN host (a phone may be a voice host), may be
 * NULL; dst may be NULL when the destination is a name. */
enum otb_qos_class otb_qos_classify_udp(const struct otb_qos_policy *p, uint8_t tos,
                                        const struct sockaddr *src, const struct sockaddr *dst,
                                        uint16_t port, size_t payload_len);
/* Class of one datagram that is not voice, by its port (the remote one) and
 * size: what otb_qos_classify_udp says of the box's datagrams, and the
 * server of the answers to them. */
enum otb_qos_class otb_qos_classify_answer(uint16_t port, size_t payload_len);
/* Server: the DSCP+ECN byte for an association's answers (-1 = none), from
 * box_tos (the box's latest datagram's, -1 none) and answers (the class of the
 * answers so far, otb_qos_assoc_class over otb_qos_classify_answer). The box
 * sees only what the LAN sends: a download whose requests are small (QUIC's
 * acknowledgements, iperf3 -u -R) it classes interactive, its answers say
 * bulk. Voice, and a DSCP otb-qos does not set, stay as the box sent them;
 * otherwise the bulkier class of the two. */
int otb_qos_answer_tos(int box_tos, enum otb_qos_class answers);
/* An association's class after one more datagram of class pkt; seen: how
 * many it had before this one. */
enum otb_qos_class otb_qos_assoc_class(enum otb_qos_class cur, unsigned seen,
                                       enum otb_qos_class pkt);
/* Class of a TCP connection to port: interactive for a voice port, else default. */
enum otb_qos_class otb_qos_classify_tcp(const struct otb_qos_policy *p, uint16_t port);

/* DSCP+ECN byte and SO_PRIORITY of a class (0, 0 for default/unset). */
uint8_t otb_qos_tos(enum otb_qos_class c);
int otb_qos_priority(enum otb_qos_class c);
/* Class a received TOS byte asks for when a box marked it: the inverse of
 * otb_qos_tos for the four marks, default otherwise. */
enum otb_qos_class otb_qos_from_tos(uint8_t tos);
const char *otb_qos_name(enum otb_qos_class c);

/* Sets IP_TOS (or IPV6_TCLASS) and SO_PRIORITY of fd for class c (default:
 * both 0). Best effort on sockets that refuse some (MPTCP before 6.x);
 * 0 or the first -errno. */
int otb_qos_mark_socket(int fd, int family, enum otb_qos_class c);

#endif
