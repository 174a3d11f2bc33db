"""HTTP side of the metrics tests: the programs' --metrics listener.

  get URL                      prints the body; fails unless 200
  compare SOCKET URL           every counter of the status document (unix
                               SOCKET) equals its sample in URL's /metrics:
                               prints "compared N"
 tunnel SOCKET URL            the box's /status.json (URL) reports the UDP
                               and voice flows of otb-tunnel's status document
                               (unix SOCKET): prints "flows N voice N"
  hostile HOST PORT N          N bad requests, each on a fresh connection
                               (garbage, huge headers, unknown paths, wrong
                               methods, bodies): every one must be answered
                               4xx; prints "answered N by status"
  page DOM BEFORE AFTER HISTORY CUT [TUN_BEFORE TUN_AFTER]
                               the status page's DOM (chromium --dump-dom)
                               against the status documents read just before
                               and after it (its numbers are those of one of
                               its refreshes in between) and the history: WAN
                               CUT is down, its download at 0, another WAN's
                               not; prints what was checked; with TUN_BEFORE
                               TUN_AFTER (otb-tunnel's documents, read with
                               the others), its UDP and voice flows are
                               otb-tunnel's
  doc SOCKET                   prints the status document of unix SOCKET
  stall HOST PORT N SECONDS    N slow scrapers for SECONDS: half ask for pages
                               (many pipelined requests) and never read, half
                               connect and send nothing; prints "held N"
"""
import html.parser
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
    # The TCP relay's groups are the top-level objects of numbers.
    for group, keys in doc.items():
        if group == "udp" or not isinstance(keys, dict):
            continue
        if all(isinstance(v, int) for v in keys.values()):
            for key, v in keys.items():
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


def tunnel(sock, url):
    udp = otbpeer.status_doc(sock, timeout=5)["udp"]["associations"]
    box = json.loads(get(url)).get("tunnel", {})
    if box.get("associations") != {"active": udp["active"], "voice": udp["voice"]}:
        sys.exit("the box says %s, otb-tunnel %s" % (box, udp))
    print("flows %d voice %d" % (udp["active"], udp["voice"]))


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
            sys.exit("%s request %r: no answer (%s)" % (name, req[:60], e))
        finally:
            s.close()
        parts = head.split(" ")
        if len(parts) < 2 or not parts[1].isdigit() or not 400 <= int(parts[1]) < 500:
            sys.exit("%s request: answered %r, expected a 4xx" % (name, head))
        by_status[parts[1]] = by_status.get(parts[1], 0) + 1
    print("answered %d by status %s" % (sum(by_status.values()),
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


class PageValues(html.parser.HTMLParser):
    """Text of the elements with an id (ids) and, per WAN block, of its
    data-k elements (wans[name][k])."""

    def __init__(self):
        super().__init__()
        self.ids, self.wans, self.stack, self.wan = {}, {}, [], None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "data-wan" in a:
            self.wan = a["data-wan"]
            self.wans[self.wan] = {}
        key = ("id", a["id"]) if "id" in a else ("k", a["data-k"]) if "data-k" in a else None
        self.stack.append((tag, key))

    def handle_endtag(self, tag):
        while self.stack and self.stack.pop()[0] != tag:
            pass

    def handle_data(self, data):
        if not self.stack or not self.stack[-1][1]:
            return
        kind, name = self.stack[-1][1]
        if kind == "id":
            self.ids[name] = self.ids.get(name, "") + data
        elif self.wan is not None:
            self.wans[self.wan][name] = self.wans[self.wan].get(name, "") + data


def between(what, v, a, b, slack=0.0):
    lo, hi = min(a, b) - slack, max(a, b) + slack
    if not lo <= v <= hi:
        sys.exit("page %s = %s, the status documents say %s then %s" % (what, v, a, b))


def page(dom, before, after, history, cut, tun_before=None, tun_after=None):
    p = PageValues()
    p.feed(open(dom).read())
    b, a = json.load(open(before)), json.load(open(after))
    flows = ""
    if tun_before:
        tb = json.load(open(tun_before))["udp"]["associations"]
        ta = json.load(open(tun_after))["udp"]["associations"]
        for k, key in (("udp", "active"), ("voice", "voice")):
            if not p.ids[k].isdigit():
                sys.exit("page %s flows %r, otb-tunnel says %s" % (k, p.ids[k], ta[key]))
            between(k + " flows", int(p.ids[k]), tb[key], ta[key])
        flows = ", %s UDP flows (%s voice) as otb-tunnel" % (p.ids["udp"], p.ids["voice"])
    between("uptime", float(p.ids["uptime"]), b["uptime_s"], a["uptime_s"])
    between("connections", float(p.ids["conns"]), b["connections"]["active"],
            a["connections"]["active"])
    in_use = [s["address"] for s in a["servers"] if s["in_use"]]
    if not in_use or not p.ids["server"].startswith(in_use[0]):
        sys.exit("page server %r, in use: %s" % (p.ids["server"], in_use))
    wb = {w["name"]: w for w in b["wans"]}
    for w in a["wans"]:
        v = p.wans.get(w["name"])
        if v is None:
            sys.exit("WAN %s not on the page" % w["name"])
        if v["state"] not in (w["state"], wb[w["name"]]["state"]):
            sys.exit("WAN %s: page says %s, status %s" % (w["name"], v["state"], w["state"]))
        between(w["name"] + " loss", float(v["loss"]), wb[w["name"]]["loss_pct"], w["loss_pct"])
        # RTT moves with every probe: one refresh may see another sample.
        rb, ra = wb[w["name"]]["rtt_ms"], w["rtt_ms"]
        between(w["name"] + " RTT", float(v["rtt"]), rb, ra, slack=5 + max(rb, ra) / 2)
    if p.wans[cut]["state"] != "down" or not p.wans[cut]["down"].startswith("0 "):
        sys.exit("cut WAN %s on the page: %s" % (cut, p.wans[cut]))
    others = [n for n in p.wans if n != cut and not p.wans[n]["down"].startswith("0 ")]
    if not others:
        sys.exit("no WAN carries the download on the page: %s" % p.wans)
    h = {w["name"]: w for w in json.load(open(history))["wans"]}
    down = h[cut]["down"]
    if max(down[-3:]) != 0 or max(down) == 0:
        sys.exit("history of %s: not a download going to zero: %s" % (cut, down))
    print("page: uptime %s, %s connections%s, server %s, WANs %s; %s went to 0 after %d B/s"
          % (p.ids["uptime"], p.ids["conns"], flows, p.ids["server"],
             ", ".join("%s %s %s ms down %s" % (n, x["state"], x["rtt"], x["down"])
                       for n, x in sorted(p.wans.items())), cut, max(down)))


def main(argv):
    if argv[0] == "get":
        sys.stdout.write(get(argv[1]))
    elif argv[0] == "compare":
        compare(argv[1], argv[2])
    elif argv[0] == "tunnel":
        tunnel(argv[1], argv[2])
    elif argv[0] == "hostile":
        hostile(argv[1], int(argv[2]), int(argv[3]))
    elif argv[0] == "page":
        page(*argv[1:8])
    elif argv[0] == "doc":
        print(json.dumps(otbpeer.status_doc(argv[1], timeout=5)))
    elif argv[0] == "stall":
        stall(argv[1], int(argv[2]), int(argv[3]), float(argv[4]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
