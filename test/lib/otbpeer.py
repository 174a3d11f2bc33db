"""The Python peers' shared module (standard library only).

The far ends and clients of the tests and benchmarks are small scripts that
import this module: test/interop/tcp_peer.py and udp_peer.py, test/lab/
labtool.py, policy_peer.py, udp_peer.py and fw_peer.py. What more than one of
them needs lives here:

  sockets       udp_socket, sockaddr, recv_exact, recv_line, drain, read_to_eof
  servers       serve_tcp (a thread per connection), serve_udp (one answer
                per datagram)
  streams       hash_stream (sha256 of a read to EOF), send_file (optionally
                paced), write_atomic
  SOCKS5        socks5_handshake
  timing        paced (a flow of datagrams at a rate, with answers drained
                in between), percentile
  status        status_doc (the JSON document of a program's status socket),
                wan_lines (its WANs); run as a script, "otbpeer.py wans SOCKET"
                prints them for the shell (test/lab/lib.sh: lab_wans)
  DNS           dns_query (an A query), dns_answers (the A records of a response)

A script finds this module with:

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

which also works under "python3 -I -S" (isolated, no site packages), used
where the start-up time of the interpreter matters.
"""
import hashlib
import json
import os
import select
import socket
import struct
import sys
import threading
import time

CHUNK = 1 << 16


def sockaddr(host, port):
    return socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0][4]


def udp_socket(host="127.0.0.1", bind=None, rcvbuf=None, src=None):
    """A UDP socket of HOST's family; bound to port BIND of HOST, or to SRC
    (an address, any port); RCVBUF enlarges its receive buffer."""
    s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    if bind is not None:
        s.bind(sockaddr(host, bind))
    elif src:
        s.bind((src, 0))
    return s


def recv_exact(s, n):
    data = b""
    while len(data) < n:
        more = s.recv(n - len(data))
        if not more:
            raise EOFError("connection closed after %d of %d bytes" % (len(data), n))
        data += more
    return data


def recv_line(s):
    line = b""
    while not line.endswith(b"\n"):
        b = s.recv(1)
        if not b:
            raise EOFError("connection closed inside the command line")
        line += b
    return line.decode().strip()


def drain(s):
    while s.recv(CHUNK):
        pass


def read_to_eof(s):
    data = b""
    while True:
        chunk = s.recv(CHUNK)
        if not chunk:
            return data
        data += chunk


def serve_tcp(port, handler, host="127.0.0.1", family=socket.AF_INET, backlog=512,
              on_accept=None):
    """Accepts forever; handler(conn, peer) runs in a thread of its own."""
    ls = socket.socket(family, socket.SOCK_STREAM)
    if family == socket.AF_INET6:
        ls.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((host, port))
    ls.listen(backlog)
    while True:
        conn, peer = ls.accept()
        if on_accept:
            on_accept(conn, peer)
        threading.Thread(target=handler, args=(conn, peer), daemon=True).start()


def serve_udp(port, answer, host="0.0.0.0", rcvbuf=None):
    """Sends answer(data, peer) back for every datagram (nothing if None)."""
    s = udp_socket(host, bind=port, rcvbuf=rcvbuf)
    while True:
        data, peer = s.recvfrom(65535)
        reply = answer(data, peer)
        if reply is not None:
            s.sendto(reply, peer)


def hash_stream(s, on_data=None, deadline=None):
    """Reads S to EOF: (sha256 hex, bytes). on_data(n) sees every read;
    past DEADLINE (time.monotonic) it raises TimeoutError."""
    h, total = hashlib.sha256(), 0
    while True:
        if deadline is not None:
            s.settimeout(max(0.1, deadline - time.monotonic()))
        data = s.recv(CHUNK)
        if not data:
            return h.hexdigest(), total
        h.update(data)
        total += len(data)
        if on_data:
            on_data(len(data))
        if deadline is not None and time.monotonic() > deadline:
            raise TimeoutError("transfer did not finish in time")


def send_file(s, path, rate=None, hasher=None, until=None):
    """Sends the file at RATE bytes/s at most (None: as fast as it goes);
    returns the byte count. HASHER, if given, sees every byte sent. With
    UNTIL (a path), the file is sent again and again until UNTIL exists."""
    start, sent = time.monotonic(), 0
    with open(path, "rb") as f:
        while True:
            data = f.read(CHUNK)
            if not data and until and not os.path.exists(until):
                f.seek(0)
                continue
            if not data:
                return sent
            if hasher:
                hasher.update(data)
            s.sendall(data)
            sent += len(data)
            if rate:
                ahead = sent / rate - (time.monotonic() - start)
                if ahead > 0:
                    time.sleep(ahead)


def write_atomic(path, data, mode="w"):
    """Readers polling for PATH never see it half written."""
    tmp = path + ".tmp"
    with open(tmp, mode) as f:
        f.write(data)
    os.rename(tmp, path)


def socks5_handshake(s, cmd, dest, port):
    """No-authentication greeting then request CMD for DEST:PORT (an IPv4
    literal is sent as such, anything else as a name, as curl
    --socks5-hostname does). Returns the reply's 4 first bytes."""
    s.sendall(b"\x05\x01\x00")
    if recv_exact(s, 2) != b"\x05\x00":
        raise OSError("SOCKS5: no-authentication method refused")
    try:
        addr = b"\x01" + socket.inet_aton(dest)
    except OSError:
        addr = b"\x03" + bytes([len(dest)]) + dest.encode()
    s.sendall(bytes([5, cmd, 0]) + addr + port.to_bytes(2, "big"))
    return recv_exact(s, 4)


def paced(s, count, rate, send_one, on_readable, done):
    """Calls send_one(seq) for seq in 0..COUNT-1 at RATE per second and
    on_readable() whenever S is readable in between, then for up to one
    second more until done() says every answer is in."""
    start = time.monotonic()
    for seq in range(count):
        due = start + seq / rate
        while True:
            wait = due - time.monotonic()
            if wait <= 0:
                break
            if select.select([s], [], [], wait)[0]:
                on_readable()
        send_one(seq)
    end = time.monotonic() + 1.0
    while time.monotonic() < end and not done():
        if select.select([s], [], [], 0.05)[0]:
            on_readable()


def percentile(values, p):
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100.0 * (len(values) - 1))))]


def status_doc(path, timeout=None):
    """The JSON document a program writes on its status socket."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    if timeout:
        s.settimeout(timeout)
    s.connect(path)
    return json.loads(read_to_eof(s))


def wan_lines(doc):
    """The WANs of a status document, one line each: "name state rtt_ms
    loss_pct probes_sent probes_lost tx_bytes rx_bytes". KeyError when the
    document has none (a program without WAN health tracking)."""
    return [" ".join(str(w.get(k, "-")) for k in (
        "name", "state", "rtt_ms", "loss_pct", "probes_sent", "probes_lost", "tx_bytes",
        "rx_bytes")) for w in doc["wans"]]


def dns_query(name, qid=0x4F54):
    """A recursive query for NAME's A records, with id QID."""
    q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in name.split("."):
        q += bytes([len(label)]) + label.encode()
    return q + b"\x00" + struct.pack(">HH", 1, 1)


def dns_answers(msg):
    """The IPv4 addresses in the answer section of the response MSG."""
    qd, an = struct.unpack(">HH", msg[4:8])
    pos = 12

    def skip_name(p):
        while msg[p] != 0:
            if msg[p] & 0xC0 == 0xC0:
                return p + 2
            p += msg[p] + 1
        return p + 1

    for _ in range(qd):
        pos = skip_name(pos) + 4
    out = []
    for _ in range(an):
        pos = skip_name(pos)
        rtype, _, _, rdlen = struct.unpack(">HHIH", msg[pos:pos + 10])
        pos += 10
        if rtype == 1 and rdlen == 4:
            out.append(socket.inet_ntoa(msg[pos:pos + 4]))
        pos += rdlen
    return out


def main(argv):
    """wans SOCKET: the WAN lines of a program's status socket; exits 1 when
    it has no WANs. Light on purpose (run with -I -S): the lab polls it."""
    if len(argv) != 3 or argv[1] != "wans":
        sys.exit("usage: otbpeer.py wans SOCKET")
    try:
        doc = status_doc(argv[2], timeout=2)
    except (OSError, ValueError) as e:
        sys.exit(f"status socket {argv[2]}: {e}")
    try:
        print("\n".join(wan_lines(doc)))
    except KeyError:
        sys.exit(f"no \"wans\" in the status document of {doc.get('program', '?')}")


if __name__ == "__main__":
    main(sys.argv)
