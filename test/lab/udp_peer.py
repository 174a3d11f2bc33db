#!/usr/bin/env python3
"""UDP peers of the lab tests (t_udp, t_wan_health) and wan_bench (standard library only).

  reflect PORT [SEEN]           answer each datagram with "SRC ip port " + the datagram;
                                with SEEN, append the sequence number of each (a flow's first
                                4 bytes) to that file, one line each (losses and copies on the
                                way up; truncate it between flows)
  load HOST PORT COUNT WINDOW   COUNT datagrams of mixed sizes (up to 8 KiB) to an echo
                                server, at most WINDOW unanswered; every echo is compared
                                with what was sent. Prints "sent N echoed N corrupt N lost N"
  cone HOST PORT PORTFILE SECS  one datagram to a reflector; writes the public "ip port" it
                                reports to PORTFILE, then waits up to SECS for a datagram
                                from any other source. Prints "FROM ip port DATA"
  poke SRC HOST PORT TEXT       one datagram from address SRC
  flow HOST PORT SECONDS RATE [TOS [SEEN]]
                                RATE datagrams/s (with TOS byte TOS, e.g. 0xb8 for EF
                                voice) to a reflector for SECONDS; prints
                                "sent N received N lost N gap_ms G ports P1,P2,..." where G is
                                the longest time without an answer (to the last datagram sent
                                when none came back after it) and the ports are the
                                public source ports the reflector saw, in order of appearance;
                                with SEEN, the sequence number of every answer (copies
                                included) is written to that file, one line each
  losses COUNT UP_SEEN DOWN_SEEN
                                from the SEEN files of a reflector and a flow of COUNT:
                                "up_lost N up_copies N down_lost N down_copies N" (lost on
                                the way up, lost on the way back of those that got there,
                                and datagrams delivered more than once each way)
  dns HOST PORT NAME SECONDS RATE
                                RATE queries/s for NAME (type A) for SECONDS, each from a new
                                socket (a new source port, as resolvers do), answered within
                                DNS_TIMEOUT or lost; prints "sent N received N lost N gap_ms G"
                                where G is the longest time without an answer, up to the end
"""
import os
import random
import select
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import otbpeer  # noqa: E402

SIZES = (1, 13, 64, 200, 512, 1000, 1200, 1400, 1472, 2000, 3000, 4096, 6000, 8192)


def reflect(port, seen=None):
    log = open(seen, "a", buffering=1) if seen else None

    def answer(data, peer):
        if log is not None and len(data) >= 4:
            log.write("%d\n" % struct.unpack("!I", data[:4])[0])
        return b"SRC %s %d " % (peer[0].encode(), peer[1]) + data

    otbpeer.serve_udp(port, answer)


def read_seen(path):
    with open(path) as f:
        return [int(line) for line in f if line.strip()]


def losses(count, up_seen, down_seen):
    up, down = read_seen(up_seen), read_seen(down_seen)
    up_set, down_set = set(up), set(down)
    print("up_lost %d up_copies %d down_lost %d down_copies %d" % (
        count - len(up_set & set(range(count))), len(up) - len(up_set),
        len(up_set - down_set), len(down) - len(down_set)))
    return 0


def payload(seq):
    size = SIZES[seq % len(SIZES)]
    head = struct.pack("!I", seq)
    if size <= len(head):
        return head[:size] if size == len(head) else bytes([seq & 0xFF]) * size
    return head + random.Random(seq).randbytes(size - len(head))


def load(host, port, count, window):
    s = otbpeer.udp_socket(host, rcvbuf=4 << 20)
    s.connect((host, port))
    expected = {}  # payload -> seq, for the ones in flight
    sent = echoed = corrupt = 0
    last_progress = time.monotonic()
    while echoed + corrupt < count:
        while sent < count and len(expected) < window:
            p = payload(sent)
            # Tiny payloads repeat; keep them apart by counting copies.
            expected[p] = expected.get(p, 0) + 1
            s.send(p)
            sent += 1
        readable, _, _ = select.select([s], [], [], 0.2)
        if readable:
            data = s.recv(65535)
            n = expected.get(data)
            if n is None:
                corrupt += 1
            elif n == 1:
                del expected[data]
                echoed += 1
            else:
                expected[data] = n - 1
                echoed += 1
            last_progress = time.monotonic()
        elif time.monotonic() - last_progress > 3.0:
            break
    lost = sum(expected.values())
    print("sent %d echoed %d corrupt %d lost %d" % (sent, echoed, corrupt, lost))
    return 0 if echoed == count else 1


def cone(host, port, portfile, seconds):
    s = otbpeer.udp_socket(host, src="0.0.0.0")
    s.settimeout(3)
    s.sendto(b"hello", (host, port))
    data, peer = s.recvfrom(65535)
    fields = data.split(b" ")
    otbpeer.write_atomic(portfile, "%s %s\n" % (fields[1].decode(), fields[2].decode()))
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        s.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            data, peer = s.recvfrom(65535)
        except socket.timeout:
            break
        if peer != (host, port):
            print("FROM %s %d %s" % (peer[0], peer[1], data.decode(errors="replace")))
            return 0
    print("NOTHING")
    return 1


def poke(src, host, port, text):
    s = otbpeer.udp_socket(host, src=src)
    s.sendto(text.encode(), (host, port))
    return 0


def flow(host, port, seconds, rate, tos=0, seen=None):
    log = open(seen, "w", buffering=1) if seen else None
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    if tos:
        s.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, tos)
    s.connect((host, port))
    s.setblocking(False)
    count = int(seconds * rate)
    received = set()
    ports = []
    start = last = time.monotonic()
    gap = 0.0

    def drain():
        nonlocal last, gap
        while True:
            try:
                data = s.recv(65535)
            except (BlockingIOError, ConnectionRefusedError):
                return
            fields = data.split(b" ", 3)
            if len(fields) < 4 or fields[0] != b"SRC":
                continue
            now = time.monotonic()
            gap = max(gap, now - last)
            last = now
            seq = struct.unpack("!I", fields[3][:4])[0]
            received.add(seq)
            if log is not None:
                log.write("%d\n" % seq)
            p = int(fields[2])
            if p not in ports:
                ports.append(p)

    def send_one(seq):
        try:
            s.send(struct.pack("!I", seq).ljust(160, b"f"))
        except OSError:
            pass  # no route for a moment while the WAN goes: that is the gap

    otbpeer.paced(s, count, rate, send_one, drain, lambda: len(received) >= count)
    # A flow that never came back: the silence lasted to the last datagram sent.
    gap = max(gap, start + (count - 1) / rate - last)
    print("sent %d received %d lost %d gap_ms %.0f ports %s" % (
        count, len(received), count - len(received), gap * 1000,
        ",".join(str(p) for p in ports) or "-"))
    return 0


DNS_TIMEOUT = 2.0


def dns_answered(data, qid):
    """A response to QID with at least one address."""
    try:
        return struct.unpack("!H", data[:2])[0] == qid and bool(otbpeer.dns_answers(data))
    except (struct.error, IndexError):
        return False


def dns(host, port, name, seconds, rate):
    count = int(seconds * rate)
    pending = {}  # socket -> (query id, time sent)
    sent = received = 0
    start = last = time.monotonic()
    gap = 0.0
    while sent < count or pending:
        now = time.monotonic()
        if sent < count and now >= start + sent / rate:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.setblocking(False)
            qid = random.randrange(1 << 16)
            try:
                s.sendto(otbpeer.dns_query(name, qid), (host, port))
                pending[s] = (qid, now)
            except OSError:
                s.close()  # no route for a moment: a lost query
            sent += 1
            continue
        for s, (_, t) in list(pending.items()):
            if now - t > DNS_TIMEOUT:
                s.close()
                del pending[s]
        due = start + sent / rate if sent < count else now + 0.05
        readable = select.select(list(pending), [], [], max(0.0, min(due - now, 0.05)))[0]
        for s in readable:
            qid, _ = pending.pop(s)
            try:
                ok = dns_answered(s.recv(2048), qid)
            except OSError:
                ok = False
            s.close()
            if ok:
                now = time.monotonic()
                gap = max(gap, now - last)
                last = now
                received += 1
    gap = max(gap, start + count / rate - last)
    print("sent %d received %d lost %d gap_ms %.0f" % (count, received, count - received, gap * 1000))
    return 0


def main(argv):
    mode = argv[1]
    if mode == "reflect":
        reflect(int(argv[2]), argv[3] if len(argv) > 3 else None)
    elif mode == "load":
        return load(argv[2], int(argv[3]), int(argv[4]), int(argv[5]))
    elif mode == "cone":
        return cone(argv[2], int(argv[3]), argv[4], float(argv[5]))
    elif mode == "poke":
        return poke(argv[2], argv[3], int(argv[4]), argv[5])
    elif mode == "flow":
        return flow(argv[2], int(argv[3]), float(argv[4]), float(argv[5]),
                    int(argv[6], 0) if len(argv) > 6 else 0, argv[7] if len(argv) > 7 else None)
    elif mode == "losses":
        return losses(int(argv[2]), argv[3], argv[4])
    elif mode == "dns":
        return dns(argv[2], int(argv[3]), argv[4], float(argv[5]), float(argv[6]))
    sys.exit("unknown mode " + mode)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
