"""A Shadowsocks 2022 peer written from the specification
(Shadowsocks-NET/shadowsocks-specs, 2022-1-shadowsocks-2022-edition.md), the
other end of otb's 2022 methods in the interop tests. Runs with Debian's
/usr/bin/python3: python3-cryptography (AES-GCM, ChaCha20-Poly1305) and
BLAKE3 derive_key by Debian's b3sum.

  tunnel METHOD PSK LISTEN_PORT SERVER_PORT HOST PORT
        a client: every TCP connection to 127.0.0.1:LISTEN_PORT becomes a
        2022 request for HOST:PORT to the server on 127.0.0.1:SERVER_PORT
        (like ss-tunnel); the first bytes of the connection, if they come
        within 0.2 s, ride in the request header, otherwise random padding.
  server METHOD PSK PORT LOG
        a server on 127.0.0.1:PORT connecting to what requests name; every
        protocol violation of the client is written to LOG.
  probe METHOD PSK SERVER_PORT HOST PORT CASE
        sends one crafted request (CASE: good, stale, future, replay,
        type, padding, empty) for HOST:PORT (an echo server) with the
        payload "probe\\n", and prints "answered" if an authenticated
        response came back within 2 s, else "silent". "replay" sends a
        good request, then the same bytes again on a second connection, and
        reports the second.
Outgoing data is sealed in chunks of up to 0xFFFF bytes, so the peer's big
chunks test what the spec allows, not what otb itself sends.
"""
import base64
import os
import select
import socket
import struct
import subprocess
import sys
import threading
import time

from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import otbpeer  # noqa: E402

METHODS = {
    "2022-blake3-aes-128-gcm": (16, AESGCM),
    "2022-blake3-aes-256-gcm": (32, AESGCM),
    "2022-blake3-chacha20-poly1305": (32, ChaCha20Poly1305),
}
SUBKEY_CONTEXT = "shadowsocks 2022 session subkey"
TAG = 16
CHUNK_MAX = 0xFFFF
PADDING_MAX = 900
TIME_WINDOW = 30
TYPE_CLIENT, TYPE_SERVER = 0, 1


def derive_key(material, length):
    """BLAKE3 derive_key(context, material) by b3sum (not by otb's code)."""
    out = subprocess.run(["b3sum", "--no-names", "--derive-key", SUBKEY_CONTEXT,
                          "--length", str(length)], input=material, capture_output=True,
                         check=True)
    return bytes.fromhex(out.stdout.decode().strip())


class Method:
    def __init__(self, name, psk_b64):
        self.key_len, self.aead = METHODS[name]
        self.psk = base64.b64decode(psk_b64)
        if len(self.psk) != self.key_len:
            raise ValueError("PSK of %d bytes for %s" % (len(self.psk), name))

    def session(self, salt):
        return Session(self.aead(derive_key(self.psk + salt, self.key_len)))


class Session:
    """One direction of a stream: the subkey's AEAD and its nonce counter,
    a 12-byte little-endian integer incremented after every operation."""

    def __init__(self, aead):
        self.aead, self.counter = aead, 0

    def _nonce(self):
        n = self.counter.to_bytes(12, "little")
        self.counter += 1
        return n

    def seal(self, plain):
        return self.aead.encrypt(self._nonce(), plain, None)

    def open(self, sealed):
        return self.aead.decrypt(self._nonce(), sealed, None)


def socks_addr(host, port):
    try:
        a = b"\x01" + socket.inet_aton(host)
    except OSError:
        a = b"\x03" + bytes([len(host)]) + host.encode()
    return a + struct.pack(">H", port)


def parse_socks_addr(buf):
    """(host, port, length) of the address at the start of buf."""
    atyp = buf[0]
    if atyp == 1:
        return socket.inet_ntoa(buf[1:5]), struct.unpack(">H", buf[5:7])[0], 7
    if atyp == 4:
        return socket.inet_ntop(socket.AF_INET6, buf[1:17]), struct.unpack(">H", buf[17:19])[0], 19
    if atyp == 3:
        n = buf[1]
        return buf[2:2 + n].decode(), struct.unpack(">H", buf[2 + n:4 + n])[0], 4 + n
    raise ValueError("unknown ATYP %d" % atyp)


def request_bytes(m, host, port, payload, padding=None, ts=None, htype=TYPE_CLIENT,
                  pad_field=None):
    """salt, the fixed header chunk and the variable header chunk."""
    salt = os.urandom(m.key_len)
    enc = m.session(salt)
    if padding is None:
        padding = 0 if payload else 1 + int.from_bytes(os.urandom(2), "big") % PADDING_MAX
    var = socks_addr(host, port)
    var += struct.pack(">H", padding if pad_field is None else pad_field)
    var += bytes(padding) + payload
    fixed = struct.pack(">BQH", htype, int(time.time()) if ts is None else ts, len(var))
    return salt, enc, salt + enc.seal(fixed) + enc.seal(var)


def send_chunks(s, enc, data):
    out = b""
    for i in range(0, len(data), CHUNK_MAX):
        part = data[i:i + CHUNK_MAX]
        out += enc.seal(struct.pack(">H", len(part))) + enc.seal(part)
    s.sendall(out)


def read_chunks(s, dec, first_len, sink):
    """Opens payload chunks (the first of first_len bytes) into sink(data)
    until EOF; raises on a bad chunk."""
    n = first_len
    while True:
        sink(dec.open(otbpeer.recv_exact(s, n + TAG)))
        try:
            head = otbpeer.recv_exact(s, 2 + TAG)
        except EOFError:
            return
        n = struct.unpack(">H", dec.open(head))[0]
        if n == 0:
            raise ValueError("zero-length chunk")


def read_response_header(s, m, req_salt):
    """The response's salt and fixed header, checked as a client must:
    (decoder, first chunk length)."""
    salt = otbpeer.recv_exact(s, m.key_len)
    dec = m.session(salt)
    hdr = dec.open(otbpeer.recv_exact(s, 1 + 8 + m.key_len + 2 + TAG))
    htype, ts = struct.unpack(">BQ", hdr[:9])
    if htype != TYPE_SERVER:
        raise ValueError("response header type %d" % htype)
    if abs(ts - time.time()) > TIME_WINDOW:
        raise ValueError("response timestamp %d is stale" % ts)
    if hdr[9:9 + m.key_len] != req_salt:
        raise ValueError("response names another request salt")
    return dec, struct.unpack(">H", hdr[9 + m.key_len:])[0]


def pump_plain_to_stream(src, dst, enc):
    try:
        while True:
            data = src.recv(CHUNK_MAX)
            if not data:
                break
            send_chunks(dst, enc, data)
        dst.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def tunnel_conn(m, conn, server_port, host, port):
    s = None
    try:
        payload = b""
        if select.select([conn], [], [], 0.2)[0]:
            payload = conn.recv(4096)
        s = socket.create_connection(("127.0.0.1", server_port), timeout=120)
        salt, enc, first = request_bytes(m, host, port, payload)
        s.sendall(first)  # salt and both headers in one write
        up = threading.Thread(target=pump_plain_to_stream, args=(conn, s, enc), daemon=True)
        up.start()
        try:
            dec, n = read_response_header(s, m, salt)
            read_chunks(s, dec, n, conn.sendall)
        except EOFError:
            pass
        conn.shutdown(socket.SHUT_WR)
        up.join()
    except (OSError, ValueError, EOFError) as e:
        sys.stderr.write("tunnel: %s\n" % e)
    finally:
        conn.close()
        if s:
            s.close()


class Violations:
    def __init__(self, path):
        self.path, self.lock = path, threading.Lock()

    def note(self, what):
        with self.lock, open(self.path, "a") as f:
            f.write(what + "\n")


def server_conn(m, conn, log):
    out = None
    try:
        first = conn.recv(m.key_len, socket.MSG_PEEK)
        if not first:  # a connect-only health check of the client: not a violation
            return
        salt = otbpeer.recv_exact(conn, m.key_len)
        dec = m.session(salt)
        htype, ts, var_len = struct.unpack(">BQH", dec.open(otbpeer.recv_exact(conn, 11 + TAG)))
        if htype != TYPE_CLIENT or abs(ts - time.time()) > TIME_WINDOW:
            log.note("bad fixed header: type %d timestamp %d" % (htype, ts))
            return
        var = dec.open(otbpeer.recv_exact(conn, var_len + TAG))
        host, port, alen = parse_socks_addr(var)
        pad = struct.unpack(">H", var[alen:alen + 2])[0]
        if pad > PADDING_MAX or alen + 2 + pad > var_len:
            log.note("bad padding length %d" % pad)
            return
        payload = var[alen + 2 + pad:]
        if not payload and pad == 0:
            log.note("request with neither payload nor padding")
            return
        out = socket.create_connection((host, port), timeout=120)
        out.sendall(payload)
        rsalt = os.urandom(m.key_len)
        enc = m.session(rsalt)

        def down():
            try:
                first = True
                while True:
                    data = out.recv(CHUNK_MAX)
                    if not data:
                        break
                    if first:  # the header also announces the first chunk
                        hdr = struct.pack(">BQ", TYPE_SERVER, int(time.time())) + salt
                        hdr += struct.pack(">H", len(data))
                        conn.sendall(rsalt + enc.seal(hdr) + enc.seal(data))
                        first = False
                    else:
                        send_chunks(conn, enc, data)
                conn.shutdown(socket.SHUT_WR)
            except OSError:
                pass

        t = threading.Thread(target=down, daemon=True)
        t.start()
        try:
            n = struct.unpack(">H", dec.open(otbpeer.recv_exact(conn, 2 + TAG)))[0]
            read_chunks(conn, dec, n, out.sendall)
        except EOFError:
            pass
        out.shutdown(socket.SHUT_WR)
        t.join()
    except Exception as e:  # noqa: BLE001 - every failure is the client's to answer for
        log.note("connection failed: %r" % e)
    finally:
        conn.close()
        if out:
            out.close()


def probe(m, server_port, host, port, case):
    payload = b"probe\n"
    now = int(time.time())
    kwargs = {
        "stale": {"ts": now - 2 * TIME_WINDOW},
        "future": {"ts": now + 2 * TIME_WINDOW},
        "type": {"htype": TYPE_SERVER},
        "padding": {"padding": 0, "pad_field": PADDING_MAX + 1},
        "empty": {"padding": 0},
    }.get(case, {})
    salt, enc, first = request_bytes(m, host, port, b"" if case == "empty" else payload,
                                     **kwargs)
    if case == "replay":
        probe_once(m, server_port, salt, first)
    print(probe_once(m, server_port, salt, first))


def probe_once(m, server_port, salt, first):
    s = socket.create_connection(("127.0.0.1", server_port), timeout=5)
    s.settimeout(2)
    try:
        s.sendall(first)
        dec, n = read_response_header(s, m, salt)
        dec.open(otbpeer.recv_exact(s, n + TAG))
        return "answered"
    except (socket.timeout, EOFError, ConnectionResetError):
        return "silent"
    finally:
        s.close()


def main(argv):
    cmd, m = argv[0], Method(argv[1], argv[2])
    if cmd == "tunnel":
        server_port, host, port = int(argv[4]), argv[5], int(argv[6])
        otbpeer.serve_tcp(int(argv[3]),
                          lambda conn, peer: tunnel_conn(m, conn, server_port, host, port))
    elif cmd == "server":
        log = Violations(argv[4])
        otbpeer.serve_tcp(int(argv[3]), lambda conn, peer: server_conn(m, conn, log))
    elif cmd == "probe":
        probe(m, int(argv[3]), argv[4], int(argv[5]), argv[6])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
