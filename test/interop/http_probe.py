"""HTTP side of the metrics tests: the programs' --metrics listener.

  get URL                      prints the body; fails unless 200
  compare SOCKET URL           every counter of the status document (unix
                               SOCKET) equals its sample in URL's /metrics:
                               prints "compared N"
  hostile HOST PORT N          N bad requests, each on a fresh connection
                               (garbage, huge headers, unknown paths, wrong
                               methods, bodies): every one must be answered
                               4xx (random bytes may also be closed without
                               an answer); prints "answered N by status"
  stall HOST PORT N SECONDS    N slow scrapers for SECONDS: half ask for pages
                               (many pipelined requests) and never read, half
                               connect and send nothing; prints "held N"
"""
import json
import os
import random
import re
import socket
import sys
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import otbpeer  # noqa: E402

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$')


def get(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        if r.status != 200:
            sys.exit("%s: HTTP %d" % (url, r.status))
        return r.read().decode()


def parse_metrics(text):
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        if not m:
            sys.exit("not a sample line: %r" % line)
        out[m.group(1) + (m.group(2) or "")] = float(m.group(3))
    return out


# The names otb_metrics.c gives the status document's counters.
KEY_LABELS = {"refused": "reason", "failures": "reason", "bytes": "direction"}
GROUP_LABELS = {"up": "direction", "down": "direction"}
GAUGES = {"active", "max", "voice"}


def metric_of(scope, group, key):
    if key in GAUGES:
        return "otb_%s_%s_%s" % (scope, group, key)
    if group in KEY_LABELS:
        return 'otb_%s_%s_total{%s="%s"}' % (scope, group, KEY_LABELS[group], key)
    if group in GROUP_LABELS:
        return 'otb_%s_%s_total{%s="%s"}' % (scope, key, GROUP_LABELS[group], group)
    return "otb_%s_%s_%s_total" % (scope, group, key)


def counters(doc):
    """(scope, group, key, value) of every counter in the document."""
    tcp_groups = ("connections", "bytes", "refused", "failures")
    for group in tcp_groups:
        for key, v in doc.get(group, {}).items():
            yield "tcp", group, key, v
    for group, keys in doc.get("udp", {}).items():
        for key, v in keys.items():
            yield "udp", group, key, v


def compare(sock, url):
    # The document first: counters only grow between the two reads, and the
    # test reads them once traffic has stopped.
    doc = otbpeer.status_doc(sock, timeout=5)
    metrics = parse_metrics(get(url))
    n = 0
    for scope, group, key, v in counters(doc):
        name = metric_of(scope, group, key)
        if name not in metrics:
            sys.exit("%s.%s.%s: no %s in /metrics" % (scope, group, key, name))
        if metrics[name] != v:
            sys.exit("%s: /metrics says %s, the status document %s" % (name, metrics[name], v))
        n += 1
    for s in doc.get("servers", []):
        name = 'otb_server_failures_total{server="%s"}' % s["address"]
        if metrics.get(name) != s["failures"]:
            sys.exit("%s: %s vs %s" % (name, metrics.get(name), s["failures"]))
        n += 1
    if n == 0:
        sys.exit("no counter compared")
    print("compared %d" % n)


def bad_requests(host, n):
    """Yields n (name, bytes) bad requests, every kind in turn."""
    methods = ["POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "FOO", "get"]
    kinds = [
        lambda i: ("garbage", bytes(random.getrandbits(8) for _ in range(random.randint(1, 300)))
                   + b"\r\n\r\n"),
        lambda i: ("no-version", b"GET /\r\n\r\n"),
        lambda i: ("huge-header", b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: "
                   + b"a" * random.randint(20000, 70000) + b"\r\n\r\n"),
        lambda i: ("many-headers", b"GET /metrics HTTP/1.1\r\nHost: x\r\n"
                   + b"".join(b"X-%d: %d\r\n" % (k, k) for k in range(3000)) + b"\r\n"),
        lambda i: ("unknown-path", ("GET /%s HTTP/1.1\r\nHost: x\r\n\r\n"
                                    % random.choice(["nope", "metrics/x", "..%2f..%2fetc",
                                                     "status.json.bak", "%00"])).encode()),
        lambda i: ("method", ("%s /metrics HTTP/1.1\r\nHost: %s\r\n\r\n"
                              % (methods[i % len(methods)], host)).encode()),
        lambda i: ("body", b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"),
        lambda i: ("bad-length", b"GET /metrics HTTP/1.1\r\nHost: x\r\n"
                   b"Content-Length: -1\r\n\r\n"),
        lambda i: ("no-host", b"GET /metrics HTTP/1.1\r\n\r\n"),
    ]
    for i in range(n):
        yield kinds[i % len(kinds)](i)


def hostile(host, port, n):
    random.seed(14)
    by_status = {}
    for name, req in bad_requests(host, n):
        s = socket.create_connection((host, port), timeout=10)
        try:
            s.sendall(req)
        except OSError:
            pass  # the listener may answer and close before reading it all
        try:
            head = otbpeer.recv_line(s)
        except (EOFError, OSError) as e:
            # libmicrohttpd closes, without a status, a first line it cannot
            # split into method, target and version: random bytes only.
            if name == "garbage":
                by_status["closed"] = by_status.get("closed", 0) + 1
                continue
            sys.exit("%s request %r: no answer (%s)" % (name, req[:60], e))
        finally:
            s.close()
        parts = head.split(" ")
        if len(parts) < 2 or not parts[1].isdigit() or not 400 <= int(parts[1]) < 500:
            sys.exit("%s request: answered %r, expected a 4xx" % (name, head))
        by_status[parts[1]] = by_status.get(parts[1], 0) + 1
    print("answered %d by status %s" % (n - by_status.get("closed", 0),
                                        json.dumps(by_status, sort_keys=True)))


def stall(host, port, n, seconds):
    socks = []
    for i in range(n):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
        s.settimeout(5)
        try:
            s.connect((host, port))
            if i % 2 == 0:
                s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
                          + b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n" * 200)
        except OSError:
            pass  # beyond the listener's limit: refused or closed, also fine
        socks.append(s)
    print("held %d" % len(socks), flush=True)
    time.sleep(seconds)
    for s in socks:
        s.close()


def main(argv):
    if argv[0] == "get":
        sys.stdout.write(get(argv[1]))
    elif argv[0] == "compare":
        compare(argv[1], argv[2])
    elif argv[0] == "hostile":
        hostile(argv[1], int(argv[2]), int(argv[3]))
    elif argv[0] == "stall":
        stall(argv[1], int(argv[2]), int(argv[3]), float(argv[4]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
