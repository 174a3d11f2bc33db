"""Peers of the lab tests that build their own namespaces (t_firewall, t_qos_rules).

  tcp PORT WORD               replies WORD to every TCP connection (IPv4 and IPv6)
  udp PORT WORD [transparent] replies WORD to every datagram (IPv4 and IPv6; "transparent":
                              IP(V6)_TRANSPARENT sockets, which TPROXY needs)
  client-tcp HOST PORT        prints the word a tcp server replies
  client-udp HOST PORT        prints the word a udp server replies to "ping"
  reply PORT WORD             IPv4 only: replies WORD to every datagram
  ask HOST PORT               one datagram "hello": prints the answer, or REFUSED on an ICMP
                              port unreachable
  send HOST PORT SIZE COUNT TOS PRIO
                              COUNT datagrams of SIZE bytes marked TOS, with SO_PRIORITY PRIO
                              (0: not set)

Run with "python3 -I -S": it is started some forty times by t_firewall, and the start-up
time of the interpreter is most of that test's runtime.
"""
import os
import select
import socket
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import otbpeer  # noqa: E402

IP_TRANSPARENT, IPV6_TRANSPARENT, IP_PKTINFO = 19, 75, 8


def serve_tcp(port, word):
    def reply(conn, peer):
        conn.sendall(word + b"\n")
        conn.close()

    otbpeer.serve_tcp(port, reply, host="::", family=socket.AF_INET6, backlog=64)


def serve_udp(port, word, transparent):
    socks = []
    for family, level, opt, any_addr in ((socket.AF_INET, socket.SOL_IP, IP_TRANSPARENT, "0.0.0.0"),
                                         (socket.AF_INET6, socket.IPPROTO_IPV6, IPV6_TRANSPARENT, "::")):
        s = socket.socket(family, socket.SOCK_DGRAM)
        if family == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        if transparent:
            s.setsockopt(level, opt, 1)
        s.bind((any_addr, port))
        socks.append(s)
    if not transparent:
        socks[0].setsockopt(socket.SOL_IP, IP_PKTINFO, 1)
    while True:
        for s in select.select(socks, [], [])[0]:
            _, anc, _, peer = s.recvmsg(65535, 256)
            # IPv4 answers leave from the address asked (a masquerading box matches them).
            anc = [(l, t, d[:4] + d[8:12] + bytes(4)) for l, t, d in anc if (l, t) == (socket.SOL_IP, IP_PKTINFO)]
            s.sendmsg([word], anc, 0, peer)


def client(proto, host, port):
    if proto == "tcp":
        s = socket.create_connection((host, port), timeout=3)
    else:
        s = otbpeer.udp_socket(host)
        s.settimeout(3)
        s.sendto(b"ping", (host, port))
    print(s.recv(100).decode().strip())


def ask(host, port):
    s = otbpeer.udp_socket(host)
    s.settimeout(2)
    s.connect((host, port))
    s.send(b"hello")
    try:
        print(s.recv(100).decode())
    except ConnectionRefusedError:
        print("REFUSED")


def send(host, port, size, count, tos, prio):
    s = otbpeer.udp_socket(host)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, tos)
    if prio:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_PRIORITY, prio)
    for _ in range(count):
        s.sendto(b"q" * size, (host, port))


def main(argv):
    mode = argv[1]
    if mode == "tcp":
        serve_tcp(int(argv[2]), argv[3].encode())
    elif mode == "udp":
        serve_udp(int(argv[2]), argv[3].encode(), len(argv) > 4)
    elif mode in ("client-tcp", "client-udp"):
        client(mode.split("-")[1], argv[2], int(argv[3]))
    elif mode == "reply":
        otbpeer.serve_udp(int(argv[2]), lambda data, peer: argv[3].encode())
    elif mode == "ask":
        ask(argv[2], int(argv[3]))
    elif mode == "send":
        send(argv[2], *(int(a, 0) for a in argv[3:8]))
    else:
        sys.exit("unknown mode " + mode)


if __name__ == "__main__":
    main(sys.argv)
