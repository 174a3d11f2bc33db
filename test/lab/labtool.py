#!/usr/bin/env python3
"""Traffic ends for the otb lab: bulk sources and sinks with sha256, a tiny
HTTP server, a bounded-parallelism HTTP load generator, a paced series of new
connections, a SOCKS5 probe and the summary of an iperf3 JSON report.

Every client prints one machine-readable line and exits non-zero on error, so
the shell tests can assert on it. A "trace" is the received byte count per
100 ms slot, one "slot_index bytes" line per slot, used to measure the longest
stall of a transfer while a WAN goes down.
"""
import argparse
import asyncio
import hashlib
import json
import os
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import otbpeer  # noqa: E402
from otbpeer import CHUNK  # noqa: E402

SLOT = 0.1


class Trace:
    """Received bytes per 100 ms slot since the first byte."""

    def __init__(self):
        self.start = None
        self.slots = []

    def add(self, n):
        now = time.monotonic()
        if self.start is None:
            self.start = now
        i = int((now - self.start) / SLOT)
        while len(self.slots) <= i:
            self.slots.append(0)
        self.slots[i] += n

    def write(self, path):
        with open(path, "w") as f:
            for i, n in enumerate(self.slots):
                f.write(f"{i} {n}\n")


def receive_all(sock, trace, deadline):
    """Read until EOF: returns (sha256 hex, bytes, seconds from first byte)."""
    first = []

    def seen(n):
        if not first:
            first.append(time.monotonic())
        if trace:
            trace.add(n)

    digest, total = otbpeer.hash_stream(sock, seen, deadline)
    secs = time.monotonic() - first[0] if first else 0.0
    return digest, total, secs


def cmd_fetch(a):
    """Connect and read until EOF (a download)."""
    trace = Trace() if a.trace else None
    deadline = time.monotonic() + a.timeout
    with socket.create_connection((a.host, a.port), timeout=a.timeout) as s:
        if a.request:
            s.sendall(a.request.encode())
        digest, total, secs = receive_all(s, trace, deadline)
    if trace:
        trace.write(a.trace)
    print(f"{digest} {total} {secs:.3f}")


def cmd_send(a):
    """Connect, send a file, half-close and wait for the peer's EOF (an upload)."""
    h = hashlib.sha256()
    with socket.create_connection((a.host, a.port), timeout=a.timeout) as s:
        s.settimeout(a.timeout)
        t0 = time.monotonic()
        total = otbpeer.send_file(s, a.file, hasher=h)
        s.shutdown(socket.SHUT_WR)
        otbpeer.drain(s)
        secs = time.monotonic() - t0
    print(f"{h.hexdigest()} {total} {secs:.3f}")


async def serve_forever(handler, port):
    server = await asyncio.start_server(handler, "0.0.0.0", port, backlog=1024)
    async with server:
        await server.serve_forever()


def cmd_source(a):
    """Every connection gets the whole file, then EOF."""
    with open(a.file, "rb") as f:
        payload = f.read()

    async def handle(reader, writer):
        try:
            writer.write(payload)
            await writer.drain()
            writer.write_eof()
            await reader.read()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    asyncio.run(serve_forever(handle, a.port))


def cmd_sink(a):
    """Read every connection to EOF; append "sha256 bytes" to the results file."""

    async def handle(reader, writer):
        h = hashlib.sha256()
        total = 0
        trace = Trace() if a.trace else None
        try:
            while True:
                data = await reader.read(CHUNK)
                if not data:
                    break
                h.update(data)
                total += len(data)
                if trace:
                    trace.add(len(data))
        except (ConnectionError, OSError):
            pass
        if trace:
            trace.write(a.trace)
        with open(a.results, "a") as f:
            f.write(f"{h.hexdigest()} {total}\n")
        writer.close()

    asyncio.run(serve_forever(handle, a.port))


def cmd_http_serve(a):
    """HTTP/1.0 answers "otb-lab <path> <peer address>": the peer tells which
    server a request came through. Each new peer is also logged once."""
    seen = set()

    async def handle(reader, writer):
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
            path = head.split(b" ", 2)[1].decode("ascii", "replace")
            peer = writer.get_extra_info("peername")[0]
            if peer not in seen:
                seen.add(peer)
                with open(a.peers, "a") as f:
                    f.write(peer + "\n")
            body = f"otb-lab {path} {peer}\n".encode()
            writer.write(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n"
                         b"Content-Length: %d\r\nConnection: close\r\n\r\n%s"
                         % (len(body), body))
            await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.TimeoutError,
                asyncio.LimitOverrunError, ConnectionError, OSError, IndexError):
            pass
        finally:
            writer.close()

    asyncio.run(serve_forever(handle, a.port))


async def http_get(host, port, path, timeout):
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    try:
        writer.write(f"GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
        await writer.drain()
        return await asyncio.wait_for(reader.read(), timeout)
    finally:
        writer.close()


async def http_check(host, port, path, timeout):
    """One request of http-serve's kind: None when answered as expected,
    else what went wrong."""
    try:
        resp = await http_get(host, port, path, timeout)
    except (asyncio.TimeoutError, ConnectionError, OSError) as e:
        return f"{path}: {type(e).__name__} {e}"
    if resp.startswith(b"HTTP/1.0 200") and f"\r\n\r\notb-lab {path} ".encode() in resp:
        return None
    return f"{path}: bad answer {resp[:60]!r}"


def cmd_http_load(a):
    """N requests, each on its own connection, at most P at a time."""

    async def run():
        sem = asyncio.Semaphore(a.parallel)
        failures = []

        async def one(i):
            async with sem:
                err = await http_check(a.host, a.port, f"/r{i}", a.timeout)
                if err:
                    failures.append(err)

        t0 = time.monotonic()
        await asyncio.gather(*(one(i) for i in range(a.count)))
        return failures, time.monotonic() - t0

    failures, secs = asyncio.run(run())
    for f in failures[:10]:
        print("error", f, file=sys.stderr)
    print(f"ok {a.count - len(failures)} failed {len(failures)} seconds {secs:.1f}")
    sys.exit(1 if failures else 0)


def cmd_http_series(a):
    """N requests, each on its own connection, the i-th started i * INTERVAL
    seconds in, whatever became of the others: how new connections fare while
    a WAN fails. Prints "ok N failed N max_ms M p50_ms P first_ok_s F
    last_fail_s L recovered_s R": the longest and median time to a full
    answer (a failure counts as the time it took to fail), the start of the
    first request that succeeded and of the last one that failed (-1: none),
    and the end of the first success started after the last failure, when new
    connections were back for good (-1: never); times in seconds from the
    start of the series (--start-at: a Unix time to start at). With --log, one line per request: "index start_s
    ok|fail ms error"."""

    async def run():
        # --start-at: the series starts at this wall-clock time, so that the
        # caller can make it start with a cut whatever Python's start-up took.
        t0 = time.monotonic() + max(0.0, (a.start_at or 0) - time.time())
        results = []

        async def one(i):
            await asyncio.sleep(max(0.0, t0 + i * a.interval - time.monotonic()))
            start = time.monotonic()
            err = await http_check(a.host, a.port, f"/s{i}", a.timeout)
            results.append((i, start - t0, err, time.monotonic() - start))

        await asyncio.gather(*(one(i) for i in range(a.count)))
        return sorted(results)

    results = asyncio.run(run())
    times = sorted(r[3] * 1000 for r in results)
    ok = [r for r in results if r[2] is None]
    failed = [r for r in results if r[2] is not None]
    if a.log:
        with open(a.log, "w") as f:
            for i, start, err, secs in results:
                f.write(f"{i} {start:.2f} {'fail' if err else 'ok'} {secs * 1000:.0f} {err or ''}\n")
    # Back for good: the end of the first success started after the last failure.
    after = [r for r in ok if not failed or r[0] > failed[-1][0]]
    print(f"ok {len(ok)} failed {len(failed)} max_ms {times[-1]:.0f} "
          f"p50_ms {otbpeer.percentile(times, 50):.0f} "
          f"first_ok_s {ok[0][1] if ok else -1:.2f} last_fail_s {failed[-1][1] if failed else -1:.2f} "
          f"recovered_s {after[0][1] + after[0][3] if after else -1:.2f}")


def cmd_socks5_cmd(a):
    """Send a SOCKS5 no-auth greeting then a request with command CMD for
    IPv4 HOST:PORT; print the reply code (the second byte of the reply)."""
    with socket.create_connection((a.host, a.port), timeout=a.timeout) as s:
        try:
            reply = otbpeer.socks5_handshake(s, a.cmd, a.dst_host, a.dst_port)
        except EOFError as e:
            sys.exit(f"bad SOCKS5 reply: {e}")
        except OSError:
            sys.exit("no SOCKS5 no-auth method selected")
    if len(reply) < 2 or reply[0] != 5:
        sys.exit(f"bad SOCKS5 reply {reply!r}")
    print(reply[1])


def cmd_iperf3(a):
    """Summary of an iperf3 --json report: "Mbit/s CV%" at the receiver.
    With -R the client is the receiver; otherwise the server is, and its
    per-second report is there only with --get-server-output and a server
    in JSON mode (else the CV is printed as "-"). The last, partial second
    is left out of the CV."""
    with open(a.json) as f:
        rep = json.load(f)
    if "error" in rep:
        sys.exit(f"iperf3: {rep['error']}")
    mbps = rep["end"]["sum_received"]["bits_per_second"] / 1e6
    if rep["start"]["test_start"].get("reverse"):
        intervals = rep.get("intervals", [])
    else:
        intervals = (rep.get("server_output_json") or {}).get("intervals", [])
    rates = [i["sum"]["bits_per_second"] for i in intervals
             if not i["sum"].get("omitted") and i["sum"]["seconds"] > 0.5]
    cv = "-"
    if len(rates) > 1:
        mean = sum(rates) / len(rates)
        var = sum((r - mean) ** 2 for r in rates) / len(rates)
        cv = f"{100 * var ** 0.5 / mean:.1f}"
    print(f"{mbps:.1f} {cv}")


# The subcommands: name, function, then their arguments as (name, options).
HOST_PORT = (("host", {}), ("port", {"type": int}))
COMMANDS = (
    ("fetch", cmd_fetch, HOST_PORT + (("--trace", {}), ("--request", {"help": "bytes to send first"}),
                                      ("--timeout", {"type": float, "default": 120}))),
    ("send", cmd_send, HOST_PORT + (("file", {}), ("--timeout", {"type": float, "default": 120}))),
    ("source", cmd_source, (("port", {"type": int}), ("file", {}))),
    ("sink", cmd_sink, (("port", {"type": int}), ("results", {}), ("--trace", {}))),
    ("http-serve", cmd_http_serve, (("port", {"type": int}), ("peers", {}))),
    ("http-load", cmd_http_load, HOST_PORT + (("count", {"type": int}),
                                              ("--parallel", {"type": int, "default": 20}),
                                              ("--timeout", {"type": float, "default": 20}))),
    ("http-series", cmd_http_series, HOST_PORT + (("count", {"type": int}),
                                                  ("interval", {"type": float}),
                                                  ("--timeout", {"type": float, "default": 8}),
                                                  ("--start-at", {"type": float}),
                                                  ("--log", {}))),
    ("socks5-cmd", cmd_socks5_cmd, HOST_PORT + (("cmd", {"type": int}), ("dst_host", {}),
                                                ("dst_port", {"type": int}),
                                                ("--timeout", {"type": float, "default": 10}))),
    ("iperf3", cmd_iperf3, (("json", {}),)),
)


def main():
    p = argparse.ArgumentParser(description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)
    for name, func, args in COMMANDS:
        s = sub.add_parser(name)
        for arg, opts in args:
            s.add_argument(arg, **opts)
        s.set_defaults(func=func)
    a = p.parse_args()
    a.func(a)


if __name__ == "__main__":
    main()
