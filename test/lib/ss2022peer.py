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
  server METHOD PSK PORT LOG [RESPONSE]
        a server on 127.0.0.1:PORT connecting to what requests name; every
        protocol violation of the client is written to LOG. RESPONSE spoils
        the responses for the client's checks: "same-salt" gives every
        response one salt (what a replayed response shows a client that
        checks the request salt), "stale" stamps them 60 s in the past.
  probe METHOD PSK SERVER_PORT HOST PORT CASE
        sends one crafted request (CASE: good, stale, future, replay,
        type, padding, empty) for HOST:PORT (an echo server) with the
        payload "probe\\n", and prints "answered" if an authenticated
        response came back within 2 s, else "silent". "replay" sends a
        good request, then the same bytes again on a second connection, and
        reports the second.
  udp-tunnel METHOD PSK LISTEN_PORT SERVER_PORT HOST PORT
        a UDP client: each source on 127.0.0.1:LISTEN_PORT is one session
        (random session ID, packet IDs from 0) to HOST:PORT through the
        server; replies are checked (type, time, our session ID, the
        server session's packet-ID window) and handed back.
  udp-server METHOD PSK PORT LOG
        a UDP server keyed by client session ID, one outbound socket per
        session, answering to the session's latest address; violations
        are written to LOG.
  udp-probe METHOD PSK SERVER_PORT HOST PORT CASE
        crafted packets to HOST:PORT (an echo server) through the server;
        prints "answered" if the echo of the last one came back within 2 s,
        else "silent". CASE: good; replay (the same packet twice); old
        (packet ID 0 after 100); stale (timestamp 60 s old); type (server
        type); move (packet 0 from one socket, packet 1 of the same session
        from another: the echo must reach the second).
Outgoing TCP data is sealed in chunks of up to 0xFFFF bytes, so the peer's
big chunks test what the spec allows, not what otb itself sends. UDP with
2022-blake3-chacha20-poly1305 needs python3-nacl (XChaCha20-Poly1305).
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

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
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


def server_conn(m, conn, log, spoil=None):
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
        rsalt = m.fixed_salt if spoil == "same-salt" else os.urandom(m.key_len)
        rtime = int(time.time()) - (2 * TIME_WINDOW if spoil == "stale" else 0)
        enc = m.session(rsalt)

        def down():
            try:
                first = True
                while True:
                    data = out.recv(CHUNK_MAX)
                    if not data:
                        break
                    if first:  # the header also announces the first chunk
                        hdr = struct.pack(">BQ", TYPE_SERVER, rtime) + salt
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


# ------------------------------------------------------------------- UDP


class UdpCodec:
    """Packets of one method: AES methods seal the separate header with
    AES-ECB under the PSK and the body with the session's subkey (nonce: the
    header's last 12 bytes); chacha seals everything with XChaCha20-Poly1305
    under the PSK and a random 24-byte nonce."""

    def __init__(self, m):
        self.m = m
        self.aes = m.aead is AESGCM
        self.subkeys = {}
        if self.aes:
            self.ecb = Cipher(algorithms.AES(m.psk), modes.ECB())
        else:
            from nacl import bindings  # python3-nacl
            self.xseal = bindings.crypto_aead_xchacha20poly1305_ietf_encrypt
            self.xopen = bindings.crypto_aead_xchacha20poly1305_ietf_decrypt

    def _aead(self, sid):
        if sid not in self.subkeys:
            self.subkeys[sid] = AESGCM(derive_key(self.m.psk + sid, self.m.key_len))
        return self.subkeys[sid]

    def seal(self, sid, pid, htype, addr, payload, client_sid=b"", ts=None, padding=0):
        body = struct.pack(">BQ", htype, int(time.time()) if ts is None else ts) + client_sid
        body += struct.pack(">H", padding) + bytes(padding) + addr + payload
        ids = sid + struct.pack(">Q", pid)
        if self.aes:
            enc = self.ecb.encryptor()
            head = enc.update(ids) + enc.finalize()
            return head + self._aead(sid).encrypt(ids[4:16], body, None)
        nonce = os.urandom(24)
        return nonce + self.xseal(ids + body, None, nonce, self.m.psk)

    def open(self, pkt, from_server):
        """(sid, pid, client_sid, (host, port), payload); raises ValueError."""
        if self.aes:
            dec = self.ecb.decryptor()
            ids = dec.update(pkt[:16]) + dec.finalize()
            body = self._aead(ids[:8]).decrypt(ids[4:16], pkt[16:], None)
        else:
            plain = self.xopen(pkt[24:], None, pkt[:24], self.m.psk)
            ids, body = plain[:16], plain[16:]
        htype, ts = struct.unpack(">BQ", body[:9])
        want = TYPE_SERVER if from_server else TYPE_CLIENT
        if htype != want:
            raise ValueError("packet type %d" % htype)
        if abs(ts - time.time()) > TIME_WINDOW:
            raise ValueError("packet timestamp %d is stale" % ts)
        pos, client_sid = 9, b""
        if from_server:
            client_sid, pos = body[9:17], 17
        pad = struct.unpack(">H", body[pos:pos + 2])[0]
        pos += 2 + pad
        if pos > len(body):
            raise ValueError("padding past the packet")
        host, port, alen = parse_socks_addr(body[pos:])
        return ids[:8], struct.unpack(">Q", ids[8:])[0], client_sid, (host, port), body[pos + alen:]


class Window:
    """Packet IDs seen: the highest and a set of those within 64 below it."""

    def __init__(self):
        self.top, self.seen = -1, set()

    def check(self, pid):
        if pid <= self.top - 64 or pid in self.seen:
            return False
        self.seen.add(pid)
        self.top = max(self.top, pid)
        self.seen = {p for p in self.seen if p > self.top - 64}
        return True


def udp_tunnel(m, listen_port, server_port, host, port):
    codec = UdpCodec(m)
    lan = otbpeer.udp_socket(bind=listen_port)
    server = ("127.0.0.1", server_port)
    addr = socks_addr(host, port)
    sessions = {}  # LAN source -> [socket, sid, next pid, server sid, window]
    by_sock = {}
    while True:
        ready = select.select([lan] + list(by_sock), [], [])[0]
        for s in ready:
            if s is lan:
                data, src = lan.recvfrom(65535)
                if src not in sessions:
                    up = otbpeer.udp_socket()
                    sessions[src] = [up, os.urandom(8), 0, None, None]
                    by_sock[up] = src
                sess = sessions[src]
                sess[0].sendto(codec.seal(sess[1], sess[2], TYPE_CLIENT, addr, data), server)
                sess[2] += 1
                continue
            src = by_sock[s]
            sess = sessions[src]
            pkt, _ = s.recvfrom(65535)
            try:
                sid, pid, client_sid, _, payload = codec.open(pkt, True)
            except Exception as e:  # noqa: BLE001
                sys.stderr.write("udp-tunnel: bad packet: %r\n" % e)
                continue
            if client_sid != sess[1]:
                sys.stderr.write("udp-tunnel: packet for another session\n")
                continue
            if sid != sess[3]:
                sess[3], sess[4] = sid, Window()
            if not sess[4].check(pid):
                sys.stderr.write("udp-tunnel: replayed packet %d\n" % pid)
                continue
            lan.sendto(payload, src)


def udp_server(m, port, log):
    codec = UdpCodec(m)
    ls = otbpeer.udp_socket(bind=port)
    sessions = {}  # client sid -> [out socket, last address, window, server sid, next pid]
    by_sock = {}
    while True:
        for s in select.select([ls] + list(by_sock), [], [])[0]:
            if s is ls:
                pkt, src = ls.recvfrom(65535)
                try:
                    sid, pid, _, dest, payload = codec.open(pkt, False)
                except Exception as e:  # noqa: BLE001
                    log.note("bad client packet: %r" % e)
                    continue
                if sid not in sessions:
                    out = otbpeer.udp_socket()
                    sessions[sid] = [out, src, Window(), os.urandom(8), 0]
                    by_sock[out] = sid
                sess = sessions[sid]
                if not sess[2].check(pid):
                    log.note("replayed packet %d" % pid)
                    continue
                sess[1] = src
                sess[0].sendto(payload, dest)
                continue
            sid = by_sock[s]
            sess = sessions[sid]
            data, frm = s.recvfrom(65535)
            ls.sendto(codec.seal(sess[3], sess[4], TYPE_SERVER, socks_addr(*frm), data,
                                 client_sid=sid), sess[1])
            sess[4] += 1


def udp_probe(m, server_port, host, port, case):
    codec = UdpCodec(m)
    server = ("127.0.0.1", server_port)
    addr = socks_addr(host, port)
    sid = os.urandom(8)
    s = otbpeer.udp_socket()
    s.settimeout(2)

    def echo(sock, pkt):
        sock.sendto(pkt, server)
        try:
            reply = sock.recv(65535)
        except socket.timeout:
            return "silent"
        _, _, client_sid, _, payload = codec.open(reply, True)
        return "answered" if client_sid == sid and payload == b"probe" else "wrong"

    if case in ("replay", "move"):
        first = codec.seal(sid, 0, TYPE_CLIENT, addr, b"probe")
        if echo(s, first) != "answered":
            print("first packet not answered")
            return
        if case == "replay":
            print(echo(s, first))
        else:
            s2 = otbpeer.udp_socket()
            s2.settimeout(2)
            print(echo(s2, codec.seal(sid, 1, TYPE_CLIENT, addr, b"probe")))
        return
    if case == "old":
        if echo(s, codec.seal(sid, 100, TYPE_CLIENT, addr, b"probe")) != "answered":
            print("first packet not answered")
            return
        print(echo(s, codec.seal(sid, 0, TYPE_CLIENT, addr, b"probe")))
        return
    kwargs = {"stale": {"ts": int(time.time()) - 2 * TIME_WINDOW},
              "type": {"htype": TYPE_SERVER, "client_sid": sid}}.get(case, {})
    htype = kwargs.pop("htype", TYPE_CLIENT)
    print(echo(s, codec.seal(sid, 0, htype, addr, b"probe", **kwargs)))


def main(argv):
    cmd, m = argv[0], Method(argv[1], argv[2])
    if cmd == "tunnel":
        server_port, host, port = int(argv[4]), argv[5], int(argv[6])
        otbpeer.serve_tcp(int(argv[3]),
                          lambda conn, peer: tunnel_conn(m, conn, server_port, host, port))
    elif cmd == "server":
        log, spoil = Violations(argv[4]), argv[5] if len(argv) > 5 else None
        m.fixed_salt = os.urandom(m.key_len)
        otbpeer.serve_tcp(int(argv[3]), lambda conn, peer: server_conn(m, conn, log, spoil))
    elif cmd == "probe":
        probe(m, int(argv[3]), argv[4], int(argv[5]), argv[6])
    elif cmd == "udp-tunnel":
        udp_tunnel(m, int(argv[3]), int(argv[4]), argv[5], int(argv[6]))
    elif cmd == "udp-server":
        udp_server(m, int(argv[3]), Violations(argv[4]))
    elif cmd == "udp-probe":
        udp_probe(m, int(argv[3]), argv[4], int(argv[5]), argv[6])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
