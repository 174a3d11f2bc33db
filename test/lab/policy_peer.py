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
import os
import socket
import ssl
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import otbpeer  # noqa: E402


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
    otbpeer.serve_tcp(port, lambda conn, peer: http_client_thread(conn, peer, context),
                      host="0.0.0.0", backlog=128)


def serve_udp(port):
    otbpeer.serve_udp(port, lambda data, peer: ("SRC %s" % peer[0]).encode())


def serve_echo(port):
    otbpeer.serve_udp(port, lambda data, peer: data)


def http_get(host, port, src=None, size=0):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if src:
        s.bind((src, 0))
    s.settimeout(10)
    s.connect((host, port))
    s.sendall(b"GET /%d HTTP/1.0\r\nHost: %s\r\n\r\n" % (size, host.encode()))
    data = otbpeer.read_to_eof(s)
    body = data.split(b"\r\n\r\n", 1)[1]
    first = body.split(b"\n", 1)[0].decode()
    print("%s BYTES %d" % (first, len(body)))


def udp_ask(host, port, src=None):
    s = otbpeer.udp_socket(host, src=src)
    s.settimeout(3)
    s.sendto(b"ping", (host, port))
    print(s.recv(100).decode())


def voice(host, port, seconds, tos, rate, size):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, tos)
    s.connect((host, port))
    s.setblocking(False)
    count = int(seconds * rate)
    sent = {}
    rtts = []

    def send_one(seq):
        sent[seq] = time.monotonic()
        s.send(struct.pack("!Id", seq, sent[seq]).ljust(size, b"v"))

    samples = []
    otbpeer.paced(s, count, rate, send_one, lambda: voice_receive(s, sent, rtts, samples),
                  lambda: len(rtts) >= count)
    trace = os.environ.get("OTB_VOICE_TRACE")
    if trace:
        with open(trace, "w") as f:
            for seq, sent_at, rtt in samples:
                f.write("%d %.6f %.3f\n" % (seq, sent_at, rtt))
    print("sent %d lost %d p50 %.1f p99 %.1f max %.1f" % (
        count, count - len(rtts), otbpeer.percentile(rtts, 50), otbpeer.percentile(rtts, 99),
        max(rtts) if rtts else float("nan")))


def voice_receive(s, sent, rtts, samples):
    try:
        data = s.recv(65535)
    except (BlockingIOError, ConnectionRefusedError):
        return
    seq, _ = struct.unpack("!Id", data[:12])
    if seq in sent:
        sent_at = sent.pop(seq)
        rtts.append((time.monotonic() - sent_at) * 1000.0)
        samples.append((seq, sent_at, rtts[-1]))


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
