"""UDP peer of the interop tests:

  echo PORT DIR          echo server on 127.0.0.1:PORT (--bind ADDR); the first datagram of
                         every new source adds "ip:port first-16-bytes" to DIR/sources
  burst HOST PORT N      N datagrams of mixed sizes (1 B .. --max, default 8 KiB),
                         --window W outstanding; every echo must be byte-exact:
                         prints "sent N ok N bad N missing N"
  dns HOST PORT NAME     A query (--tcp: over TCP); prints the addresses
  fullcone HOST PORT DIR one datagram through the tunnel to the echo server,
                         then a stranger sends to the server-side mapping the
                         echo server saw: prints "fullcone ok" if it reaches us;
                         --netns NS: the stranger runs in network namespace NS
                         and its datagram must come from its own address
                         (TPROXY: the LAN host sees the real peer)
  tap PORT SPORT DIR     relays one client on 127.0.0.1:PORT to 127.0.0.1:SPORT,
                         keeping its first datagrams in DIR/captured.N and the
                         server's first replies in DIR/reply.N
  hostile HOST PORT DIR  random, truncated, bit-flipped and replayed (from
                         DIR/captured.1) datagrams, each from a fresh socket;
                         prints "random N truncated N flipped N replayed N answered N"
  resend HOST PORT FILE  the datagram kept in FILE, from a fresh socket; counts
                         what comes back within half a second: prints "answered N"
  send HOST PORT N       N small datagrams from one socket (--tos T: with TOS
                         byte T, e.g. 0xb8 for EF voice), then counts the
                         answers of the next second: prints "answered N"
  pings HOST PORT N      N sockets one after the other, each sends one datagram
                         and waits up to 2 s for its echo: prints "answered N"
  status SOCKET PATH     one value of the JSON status document ("udp.refused.bad")
"""
import hashlib
import os
import random
import select
import socket
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import otbpeer  # noqa: E402
from otbpeer import sockaddr  # noqa: E402


def udp(host="127.0.0.1"):
    return otbpeer.udp_socket(host)


def echo(port, outdir, host):
    seen = set()

    def answer(data, src):
        if src not in seen:
            seen.add(src)
            with open(os.path.join(outdir, "sources"), "a") as f:
                f.write("%s:%d %s\n" % (src[0], src[1], data[:16].hex()))
        return data

    otbpeer.serve_udp(port, answer, host, rcvbuf=4 << 20)

# Sizes: the edges that matter (1 byte, around a 1500 MTU, 8 KiB) and the rest random.
def sizes(n, maximum):
    edges = [e for e in (1, 2, 200, 1399, 1400, 1472, 1500, 4096) if e < maximum]
    edges += [maximum - 1, maximum]
    rnd = random.Random(n)
    return [edges[i % len(edges)] if i % 3 == 0 else rnd.randint(9, maximum) for i in range(n)]

def burst(host, port, n, maximum, window, wait):
    s = otbpeer.udp_socket(host, rcvbuf=4 << 20)
    # Connected: echoes from any other source than host:port are not received.
    s.connect(sockaddr(host, port))
    want = {}
    todo = sizes(n, maximum)
    sent = ok = bad = 0
    while sent < n or want:
        while sent < n and len(want) < window:
            size = todo[sent]
            data = (struct.pack(">Q", sent) + os.urandom(size))[:size] if size >= 8 else os.urandom(size)
            key = data[:8] if size >= 8 else b"short%d" % size
            want.setdefault(key, []).append(hashlib.sha256(data).digest())
            s.send(data)
            sent += 1
        r, _, _ = select.select([s], [], [], wait)
        if not r:
            break
        data = s.recv(65535)
        key = data[:8] if len(data) >= 8 else b"short%d" % len(data)
        digests = want.get(key)
        if digests and hashlib.sha256(data).digest() in digests:
            digests.remove(hashlib.sha256(data).digest())
            if not digests:
                del want[key]
            ok += 1
        else:
            bad += 1
    print("sent %d ok %d bad %d missing %d" % (sent, ok, bad, sum(len(v) for v in want.values())))

def dns(host, port, name, tcp):
    q = otbpeer.dns_query(name)
    if tcp:
        s = socket.create_connection((host, port), timeout=5)
        s.sendall(struct.pack(">H", len(q)) + q)
        buf = b""
        while len(buf) < 2 or len(buf) < 2 + struct.unpack(">H", buf[:2])[0]:
            more = s.recv(4096)
            if not more:
                break
            buf += more
        msg = buf[2:]
    else:
        s = udp()
        s.settimeout(5)
        s.sendto(q, (host, port))
        msg = s.recv(4096)
    if msg[:2] != q[:2]:
        raise SystemExit("dns: answer to another query")
    print(" ".join(otbpeer.dns_answers(msg)))

def fullcone(host, port, echo_dir, netns):
    tag = os.urandom(8).hex().encode()
    s = udp(host)
    s.settimeout(3)
    s.sendto(tag, sockaddr(host, port))
    try:
        if s.recv(65535) != tag:
            raise SystemExit("fullcone: wrong echo")
    except socket.timeout:
        raise SystemExit("fullcone: no echo")
    mapping = None
    with open(os.path.join(echo_dir, "sources")) as f:
        for line in f:
            addr, first = line.split()
            if bytes.fromhex(first) == tag[:16]:
                mapping = addr
    if mapping is None:
        raise SystemExit("fullcone: the echo server did not record our mapping")
    ip, mport = mapping.rsplit(":", 1)
    hello = b"stranger-" + os.urandom(8).hex().encode()
    if netns:
        out = subprocess.run(["ip", "netns", "exec", netns, sys.executable, __file__, "poke", ip,
                              mport, hello.decode()], check=True, capture_output=True, text=True)
        want = out.stdout.split()[0]
    else:
        stranger = udp(ip)
        stranger.sendto(hello, sockaddr(ip, int(mport)))
        want = None
    try:
        got, src = s.recvfrom(65535)
    except socket.timeout:
        print("fullcone: the stranger's datagram did not arrive")
        return
    seen = "%s:%d" % (src[0], src[1])
    if got != hello:
        print("fullcone got %r" % got)
    elif want and seen != want:
        print("fullcone from %s, expected %s" % (seen, want))
    else:
        print("fullcone ok")

def poke(ip, port, msg):
    s = udp(ip)
    s.connect(sockaddr(ip, int(port)))  # fixes the source address getsockname reports
    s.send(msg.encode())
    local = s.getsockname()
    print("%s:%d" % (local[0], local[1]))

def tap(port, sport, outdir):
    front = udp()
    front.bind(("127.0.0.1", port))
    back = udp()
    back.connect(("127.0.0.1", sport))
    client = None
    captured = replies = 0
    while True:
        r, _, _ = select.select([front, back], [], [])
        if front in r:
            data, client = front.recvfrom(65535)
            if captured < 3:
                captured += 1
                otbpeer.write_atomic(os.path.join(outdir, "captured.%d" % captured), data, "wb")
            back.send(data)
        if back in r:
            data = back.recv(65535)
            if replies < 3:
                replies += 1
                otbpeer.write_atomic(os.path.join(outdir, "reply.%d" % replies), data, "wb")
            if client:
                front.sendto(data, client)

def fire(host, port, datagrams):
    socks = []
    for d in datagrams:
        s = udp()
        s.sendto(d, (host, port))
        socks.append(s)
    time.sleep(0.5)
    answered = 0
    for s in socks:
        s.setblocking(False)
        try:
            s.recv(65535)
            answered += 1
        except BlockingIOError:
            pass
    return answered

def hostile(host, port, indir):
    with open(os.path.join(indir, "captured.1"), "rb") as f:
        good = f.read()
    rnd = [os.urandom(random.randint(0, 2000)) for _ in range(200)]
    trunc = [good[:n] for n in (0, 1, 15, 16, 31, 32, 33, 47, 48, len(good) - 1)]
    flipped = []
    for pos in (0, 20, 40, len(good) - 1):
        b = bytearray(good)
        b[pos] ^= 0x01
        flipped.append(bytes(b))
    replayed = [good] * 20
    answered = fire(host, port, rnd + trunc + flipped + replayed)
    print("random %d truncated %d flipped %d replayed %d answered %d"
          % (len(rnd), len(trunc), len(flipped), len(replayed), answered))

def resend(host, port, path):
    with open(path, "rb") as f:
        print("answered %d" % fire(host, port, [f.read()]))

def send(host, port, n, tos):
    s = udp(host)
    if tos:
        s.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, tos)
    for i in range(n):
        s.sendto(b"ping %d" % i, (host, port))
    time.sleep(1)
    answered = 0
    s.setblocking(False)
    while True:
        try:
            s.recv(65535)
            answered += 1
        except BlockingIOError:
            break
    print("answered %d" % answered)

def pings(host, port, n):
    answered = 0
    keep = []  # open sockets keep their associations' LAN side distinct
    for i in range(n):
        s = udp()
        s.settimeout(2)
        keep.append(s)
        msg = b"ping %d" % i
        s.sendto(msg, (host, port))
        try:
            answered += s.recv(65535) == msg
        except socket.timeout:
            pass
    print("answered %d" % answered)

def status(path, key):
    doc = otbpeer.status_doc(path)
    for part in key.split("."):
        doc = doc[part]
    print(doc)

def main(argv):
    opts = {"--window": "8", "--max": "8192", "--wait": "3", "--netns": "", "--bind": "127.0.0.1",
            "--tos": "0"}
    flags = set()
    args = []
    i = 0
    while i < len(argv):
        if argv[i] in opts:
            opts[argv[i]] = argv[i + 1]
            i += 2
        elif argv[i].startswith("--"):
            flags.add(argv[i])
            i += 1
        else:
            args.append(argv[i])
            i += 1
    cmd = args[0]
    if cmd == "echo":
        echo(int(args[1]), args[2], opts["--bind"])
    elif cmd == "burst":
        burst(args[1], int(args[2]), int(args[3]), int(opts["--max"]), int(opts["--window"]),
              float(opts["--wait"]))
    elif cmd == "dns":
        dns(args[1], int(args[2]), args[3], "--tcp" in flags)
    elif cmd == "fullcone":
        fullcone(args[1], int(args[2]), args[3], opts["--netns"])
    elif cmd == "poke":
        poke(args[1], args[2], args[3])
    elif cmd == "tap":
        tap(int(args[1]), int(args[2]), args[3])
    elif cmd == "hostile":
        hostile(args[1], int(args[2]), args[3])
    elif cmd == "resend":
        resend(args[1], int(args[2]), args[3])
    elif cmd == "send":
        send(args[1], int(args[2]), int(args[3]), int(opts["--tos"], 0))
    elif cmd == "pings":
        pings(args[1], int(args[2]), int(args[3]))
    elif cmd == "status":
        status(args[1], args[2])
    else:
        raise SystemExit("unknown command " + cmd)

main(sys.argv[1:])
