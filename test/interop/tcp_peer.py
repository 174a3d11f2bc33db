"""The far end of the interop tests' tunnels and the tests' own TCP client.

  serve PORT echo DIR [HOST]
                         echoes every connection; each accept adds the peer's
                         address to DIR/accepts; HOST: listen address (default
                         127.0.0.1; "::" takes IPv4 and IPv6)
  serve PORT cmd DIR     the first line of a connection says what to do:
                           "echo"        echo the rest
                           "sink ID"     read to EOF, write "sha256 length" to DIR/sink.ID
                           "source PATH" send the file, then wait for the peer's EOF
  upload   [--socks5 P] HOST PORT ID FILE     client of "sink"
  download [--socks5 P] HOST PORT FILE        client of "source": prints "sha256 length"
  echo     [--socks5 P] [--rate B/S] [--until STOP] HOST PORT FILE   client of
                                              "echo": prints "sha256 length" of what
                                              came back; with --until, FILE is sent
                                              again and again until STOP exists, and
                                              a line "sent sha256 length" follows
  conns    [--socks5 P] HOST PORT N               N connections one after the
                                              other, each a short echo bounded by
                                              --timeout: prints "served K of N max T"
                                              (T: the slowest served one, seconds)
  stall    [--source ADDR] HOST PORT N SECONDS   opens N connections (from ADDR),
                                              sends one byte on each (a SOCKS5
                                              greeting's first), holds them
                                              SECONDS; prints how many opened
--socks5 P reaches HOST:PORT through a SOCKS5 proxy on 127.0.0.1:P (an IPv4
literal is sent as such, anything else as a name, as curl --socks5-hostname
does); --timeout S bounds each read (default 120 s).
"""
import hashlib
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import otbpeer  # noqa: E402
from otbpeer import CHUNK  # noqa: E402


def echo_rest(s):
    while True:
        data = s.recv(CHUNK)
        if not data:
            break
        s.sendall(data)
    s.shutdown(socket.SHUT_WR)


def sink(s, outdir, ident):
    digest, n = otbpeer.hash_stream(s)
    otbpeer.write_atomic(os.path.join(outdir, "sink." + ident), "%s %d\n" % (digest, n))


def source(s, path):
    otbpeer.send_file(s, path)
    # Closing with unread input would reset the connection and lose the tail.
    s.shutdown(socket.SHUT_WR)
    otbpeer.drain(s)


def handle(s, mode, outdir):
    try:
        if mode == "echo":
            echo_rest(s)
            return
        cmd = otbpeer.recv_line(s).split(" ", 1)
        if cmd[0] == "echo":
            echo_rest(s)
        elif cmd[0] == "sink":
            sink(s, outdir, cmd[1])
        elif cmd[0] == "source":
            source(s, cmd[1])
        else:
            sys.stderr.write("unknown command %r\n" % cmd)
    except (OSError, EOFError) as e:
        sys.stderr.write("connection error: %s\n" % e)
    finally:
        s.close()


def serve(port, mode, outdir, host="127.0.0.1"):
    def count(conn, peer):
        with open(os.path.join(outdir, "accepts"), "a") as f:
            f.write("%s\n" % peer[0])

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    otbpeer.serve_tcp(port, lambda conn, peer: handle(conn, mode, outdir), host=host,
                      family=family, on_accept=count)


def connect(host, port, socks5):
    if socks5 is None:
        return socket.create_connection((host, port), timeout=30)
    s = socket.create_connection(("127.0.0.1", socks5), timeout=30)
    try:
        reply = otbpeer.socks5_handshake(s, 1, host, port)
    except EOFError:
        raise EOFError("proxy closed during the SOCKS5 handshake")
    if reply[1] != 0:
        raise OSError("SOCKS5: request failed with code %d" % reply[1])
    otbpeer.recv_exact(s, {1: 4 + 2, 4: 16 + 2}[reply[3]])
    return s


def echo_client(s, path, rate, h, until=None):
    """Echoes PATH (with UNTIL: again and again until that file exists);
    returns the byte count echoed back, H seeing those bytes, and the
    sha256 of what was sent ("sent SHA N", to compare with H)."""
    s.sendall(b"echo\n")
    sent = {"size": None if until else os.path.getsize(path), "hash": hashlib.sha256()}

    def sender():
        sent["size"] = otbpeer.send_file(s, path, rate, sent["hash"], until)

    wait = s.gettimeout()
    if until:
        # The size is known only once the sender stops: wake up to look.
        s.settimeout(0.5)
    t = threading.Thread(target=sender)
    t.start()
    n, last = 0, time.monotonic()
    while sent["size"] is None or n < sent["size"]:
        try:
            data = s.recv(CHUNK)
        except socket.timeout:
            if time.monotonic() - last < wait:
                continue
            break  # reported as a short echo
        if not data:
            break
        h.update(data)
        n += len(data)
        last = time.monotonic()
    t.join()
    return n, "sent %s %d" % (sent["hash"].hexdigest(), sent["size"] or 0)


def conns(host, port, socks5, n, wait):
    served, slowest = 0, 0.0
    for i in range(n):
        start = time.monotonic()
        msg = b"conn %d\n" % i
        try:
            s = connect(host, port, socks5)
            s.settimeout(wait)
            s.sendall(b"echo\n" + msg)
            if otbpeer.recv_exact(s, len(msg)) == msg:
                served += 1
                slowest = max(slowest, time.monotonic() - start)
            s.close()
        except (OSError, EOFError):
            pass
    print("served %d of %d max %.3f" % (served, n, slowest))
def stall(argv):
    source = None
    if argv[0] == "--source":
        source = argv[1]
        del argv[:2]
    host, port, n, secs = argv[0], int(argv[1]), int(argv[2]), float(argv[3])
    held = []
    for _ in range(n):
        try:
            s = socket.create_connection((host, port), timeout=5,
                                         source_address=(source, 0) if source else None)
            s.sendall(b"\x05")
            held.append(s)
        except OSError:
            pass
    print("opened %d" % len(held), flush=True)
    time.sleep(secs)


def client(argv):
    socks5 = rate = None
    wait = 120
    until = None
    while argv[1].startswith("--"):
        if argv[1] == "--socks5":
            socks5 = int(argv[2])
        elif argv[1] == "--rate":
            rate = float(argv[2])
        elif argv[1] == "--timeout":
            wait = float(argv[2])
        elif argv[1] == "--until":
            until = argv[2]
        del argv[1:3]
    what, host, port = argv[0], argv[1], int(argv[2])
    if what == "conns":
        conns(host, port, socks5, int(argv[3]), wait)
        return
    s = connect(host, port, socks5)
    s.settimeout(wait)
    if what == "upload":
        s.sendall(("sink %s\n" % argv[3]).encode())
        otbpeer.send_file(s, argv[4])
        s.shutdown(socket.SHUT_WR)
        otbpeer.drain(s)
        return
    if what == "download":
        s.sendall(("source %s\n" % os.path.abspath(argv[3])).encode())
        digest, n = otbpeer.hash_stream(s)
    else:
        h = hashlib.sha256()
        n, sent = echo_client(s, argv[3], rate, h, until)
        digest = h.hexdigest()
    s.close()
    print("%s %d" % (digest, n))
    if what == "echo" and until:
        print(sent)


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(int(sys.argv[2]), sys.argv[3], sys.argv[4], *sys.argv[5:6])
    elif sys.argv[1] == "stall":
        stall(sys.argv[2:])
    else:
        client(sys.argv[1:])
