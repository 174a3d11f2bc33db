"""Servers and clients of the traffic-policy lab tests (t_pinning, t_bypass, t_qos).

The servers tell every client the source address they see ("SRC a.b.c.d"): that is how the
tests know whether traffic left through the server, a WAN or nowhere.

  http PORT [CERT KEY]        HTTP/1.0 (TLS with CERT/KEY): "GET /N" -> "SRC addr\\n" + N bytes
  udp PORT                    answers every datagram with "SRC addr"
  echo PORT                   sends every datagram back as it is
  get HOST PORT [SRC] [N]     one HTTP GET (from SRC), prints the SRC line and the body size
  ask HOST PORT [SRC]         one UDP question (from SRC), prints the answer
  voice HOST PORT SECONDS TOS RATE SIZE
                              RTP-like flow: RATE datagrams/s of SIZE bytes marked TOS, echoed
                              back; prints "sent N lost N p50 X p99 X max X" (milliseconds)
"""
import select
import socket
import ssl
import struct
import sys
import threading
import time


def http_answer(conn, peer):
    conn.settimeout(5)
    request = b""
    while b"\r\n\r\n" not in request and len(request) < 8192:
        chunk = conn.recv(4096)
        if not chunk:
            break
        request += chunk
    path = request.split(b" ")[1] if request.count(b" ") >= 2 else b"/"
    size = int(path.strip(b"/")) if path.strip(b"/").isdigit() else 0
    head = ("SRC %s\n" % peer[0]).encode()
    conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
                 b"Connection: close\r\n\r\n" % (len(head) + size) + head)
    block = b"x" * 65536
    while size > 0:
        conn.sendall(block[:min(size, len(block))])
        size -= len(block)


def http_client_thread(conn, peer, context):
    try:
        if context:
            conn = context.wrap_socket(conn, server_side=True)
        http_answer(conn, peer)
    except (OSError, ssl.SSLError):
        pass
    finally:
        conn.close()


def serve_http(port, cert=None, key=None):
    context = None
    if cert:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("0.0.0.0", port))
    srv.listen(128)
    while True:
        conn, peer = srv.accept()
        threading.Thread(target=http_client_thread, args=(conn, peer, context), daemon=True).start()


def udp_socket(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", port))
    return s


def serve_udp(port):
    s = udp_socket(port)
    while True:
        _, peer = s.recvfrom(65535)
        s.sendto(("SRC %s" % peer[0]).encode(), peer)


def serve_echo(port):
    s = udp_socket(port)
    while True:
        data, peer = s.recvfrom(65535)
        s.sendto(data, peer)


def client_socket(kind, src):
    s = socket.socket(socket.AF_INET, kind)
    if src:
        s.bind((src, 0))
    return s


def http_get(host, port, src=None, size=0):
    s = client_socket(socket.SOCK_STREAM, src)
    s.settimeout(10)
    s.connect((host, port))
    s.sendall(b"GET /%d HTTP/1.0\r\nHost: %s\r\n\r\n" % (size, host.encode()))
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    body = data.split(b"\r\n\r\n", 1)[1]
    first = body.split(b"\n", 1)[0].decode()
    print("%s BYTES %d" % (first, len(body)))


def udp_ask(host, port, src=None):
    s = client_socket(socket.SOCK_DGRAM, src)
    s.settimeout(3)
    s.sendto(b"ping", (host, port))
    print(s.recv(100).decode())


def percentile(values, p):
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100.0 * (len(values) - 1))))]


def voice(host, port, seconds, tos, rate, size):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, tos)
    s.connect((host, port))
    s.setblocking(False)
    count = int(seconds * rate)
    sent = {}
    rtts = []
    start = time.monotonic()
    for seq in range(count):
        due = start + seq / rate
        while True:
            now = time.monotonic()
            wait = due - now
            if wait <= 0:
                break
            readable, _, _ = select.select([s], [], [], wait)
            if readable:
                voice_receive(s, sent, rtts)
        sent[seq] = time.monotonic()
        s.send(struct.pack("!Id", seq, sent[seq]).ljust(size, b"v"))
    drain_until = time.monotonic() + 1.0
    while time.monotonic() < drain_until and len(rtts) < count:
        readable, _, _ = select.select([s], [], [], 0.05)
        if readable:
            voice_receive(s, sent, rtts)
    print("sent %d lost %d p50 %.1f p99 %.1f max %.1f" % (
        count, count - len(rtts), percentile(rtts, 50), percentile(rtts, 99),
        max(rtts) if rtts else float("nan")))


def voice_receive(s, sent, rtts):
    try:
        data = s.recv(65535)
    except (BlockingIOError, ConnectionRefusedError):
        return
    seq, _ = struct.unpack("!Id", data[:12])
    if seq in sent:
        rtts.append((time.monotonic() - sent.pop(seq)) * 1000.0)


def main(argv):
    mode = argv[1]
    if mode == "http":
        serve_http(int(argv[2]), *(argv[3:5] if len(argv) >= 5 else ()))
    elif mode == "udp":
        serve_udp(int(argv[2]))
    elif mode == "echo":
        serve_echo(int(argv[2]))
    elif mode == "get":
        http_get(argv[2], int(argv[3]), argv[4] if len(argv) > 4 and argv[4] else None,
                 int(argv[5]) if len(argv) > 5 else 0)
    elif mode == "ask":
        udp_ask(argv[2], int(argv[3]), argv[4] if len(argv) > 4 and argv[4] else None)
    elif mode == "voice":
        voice(argv[2], int(argv[3]), float(argv[4]), int(argv[5], 0), float(argv[6]), int(argv[7]))
    else:
        sys.exit("unknown mode " + mode)


if __name__ == "__main__":
    main(sys.argv)
