# shellcheck shell=bash
# Shared helpers of the interop tests (sourced): a temporary directory for
# logs and data, background processes with one log each, free ports, waits,
# sha256 helpers, the otb-server and shadowsocks-libev launchers and the
# python3 peer used as the "Internet" side (echo / sink / source).
#
# Every process started here is killed by otb_cleanup (installed as the EXIT
# trap); when the test fails the logs are printed and the directory is kept.

set -euo pipefail

if ! command -v python3 >/dev/null || ! command -v ss >/dev/null; then
    echo "FAIL: python3 and ss (iproute2) are required" >&2
    exit 1
fi
: "${OTB_BUILD:?OTB_BUILD must point at the build directory}"
OTB_SERVER_BIN="$OTB_BUILD/otb-server/otb-server"
# shellcheck disable=SC2034 # used by the tests that source this file
OTB_PROBE_BIN="$OTB_BUILD/test/interop/otb_probe"
OTB_TMP=$(mktemp -d "/tmp/otb-${OTB_TEST_NAME:-interop}.$$.XXXXXX")
OTB_PEER="$OTB_TMP/otb_peer.py"
declare -A OTB_PID=()   # name -> pid of every background process started here
declare -A OTB_PORTS=() # ports handed out by otb_free_port in this run
# shellcheck disable=SC2034 # used by the tests that source this file
OTB_T0=$SECONDS
# Leak reports at exit are part of what the tests check with sanitizer builds.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}

otb_log() { echo "[$(date +%T)] $*" >&2; }

otb_fail() {
    echo "FAIL: $*" >&2
    exit 1
}

# A missing tool is a failure, never a skip: the environment must be complete.
need_cmd() {
    local c
    for c in "$@"; do
        command -v "$c" >/dev/null 2>&1 || otb_fail "required command '$c' is not installed"
    done
}

need_file() {
    [[ -x $1 ]] || otb_fail "$1 is missing (build the project first)"
}

otb_cleanup() {
    local rc=$? name
    trap - EXIT
    for name in "${!OTB_PID[@]}"; do
        kill -TERM "${OTB_PID[$name]}" 2>/dev/null || true
    done
    sleep 0.2
    for name in "${!OTB_PID[@]}"; do
        kill -KILL "${OTB_PID[$name]}" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    if ((rc != 0)); then
        for name in "$OTB_TMP"/*.log; do
            [[ -e $name ]] || continue
            echo "----- $name (last 40 lines)" >&2
            tail -n 40 "$name" >&2
        done
        echo "logs and data kept in $OTB_TMP" >&2
    else
        rm -rf "$OTB_TMP"
    fi
    exit "$rc"
}
trap otb_cleanup EXIT
# A test stopped by a signal still cleans up (through the EXIT trap).
trap 'exit 143' TERM
trap 'exit 130' INT

# A port nobody listens on, distinct from the others of this run.
otb_free_port() {
    local port
    while :; do
        port=$(python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])')
        [[ -z ${OTB_PORTS[$port]:-} ]] && break
    done
    OTB_PORTS[$port]=1
    echo "$port"
}

# otb_start NAME CMD...: runs CMD in the background, output to NAME.log.
otb_start() {
    local name=$1
    shift
    "$@" >"$OTB_TMP/$name.log" 2>&1 &
    OTB_PID[$name]=$!
}

otb_alive() {
    kill -0 "${OTB_PID[$1]}" 2>/dev/null
}

# otb_wait NAME: waits for NAME to end by itself; returns its exit status.
otb_wait() {
    local rc=0
    wait "${OTB_PID[$1]}" || rc=$?
    unset "OTB_PID[$1]"
    return "$rc"
}

# otb_stop NAME [SIGNAL]: signals the process and returns its exit status.
otb_stop() {
    local name=$1 sig=${2:-TERM} rc=0
    kill "-$sig" "${OTB_PID[$name]}" 2>/dev/null || true
    wait "${OTB_PID[$name]}" || rc=$?
    unset "OTB_PID[$name]"
    return "$rc"
}

# otb_wait_listen NAME PORT: until NAME listens on 127.0.0.1:PORT (checked
# with ss, so no connection is made), failing if NAME dies or 15 s pass.
otb_wait_listen() {
    local name=$1 port=$2 i
    for ((i = 0; i < 150; i++)); do
        if [[ -n $(ss -Hltn "sport = :$port") ]]; then
            return 0
        fi
        otb_alive "$name" || otb_fail "$name exited before listening on port $port"
        sleep 0.1
    done
    otb_fail "$name does not listen on port $port after 15 s"
}

# otb_wait_for DESCRIPTION SECONDS CMD...: polls CMD every 0.1 s.
otb_wait_for() {
    local what=$1 secs=$2 i
    shift 2
    for ((i = 0; i < secs * 10; i++)); do
        "$@" && return 0
        sleep 0.1
    done
    otb_fail "timed out after $secs s waiting for $what"
}

otb_sha256() {
    sha256sum "$1" | cut -d' ' -f1
}

# otb_random_file PATH MIB: random content, the reference of a transfer.
otb_random_file() {
    head -c "$(($2 * 1048576))" /dev/urandom >"$1"
}

otb_file_size() {
    stat -c %s "$1"
}

otb_expect_eq() {
    local what=$1 got=$2 want=$3
    [[ $got == "$want" ]] || otb_fail "$what: got '$got', expected '$want'"
    otb_log "ok: $what ($got)"
}

# ------------------------------------------------------------------ otb-server

# An ACL letting the server reach this machine's loopback, which its built-in
# outbound block list refuses otherwise.
otb_loopback_acl() {
    printf '[outbound_allow_list]\n127.0.0.0/8\n' >"$OTB_TMP/loopback.acl"
    echo "$OTB_TMP/loopback.acl"
}

# otb_server_start NAME PORT ARGS...: otb-server on 127.0.0.1:PORT.
otb_server_start() {
    local name=$1 port=$2
    shift 2
    otb_start "$name" "$OTB_SERVER_BIN" -s 127.0.0.1 -p "$port" "$@"
    otb_wait_listen "$name" "$port"
}

otb_count_lines() {
    local n
    n=$(grep -c -- "$2" "$1" 2>/dev/null) || true
    echo "${n:-0}"
}

# otb_lines_above FILE PATTERN N: true once FILE has more than N such lines.
otb_lines_above() {
    (($(otb_count_lines "$1" "$2") > $3))
}

# otb_server_stats NAME: asks for the stats line (SIGUSR1) and prints it.
otb_server_stats() {
    local name=$1 log="$OTB_TMP/$1.log" before
    before=$(otb_count_lines "$log" 'stats: ')
    kill -USR1 "${OTB_PID[$name]}"
    otb_wait_for "the stats line of $name" 10 otb_lines_above "$log" 'stats: ' "$before"
    grep 'stats: ' "$log" | tail -n 1
}

# otb_stat LINE FIELD: the number after FIELD in a stats line.
otb_stat() {
    local v
    v=$(grep -oE "(^| )$2 [0-9]+" <<<"$1" | awk '{print $2}')
    [[ -n $v ]] || otb_fail "no field '$2' in stats line: $1"
    echo "$v"
}

# otb_server_stop NAME [STATS]: SIGTERM; the program must exit 0 with a
# clean log (a sanitizer report, e.g. a LeakSanitizer report at exit, fails
# the test) that ends with its final STATS line (default "stats: ").
otb_server_stop() {
    local name=$1 stats=${2:-stats: } rc=0
    otb_stop "$name" TERM || rc=$?
    if grep -q 'Sanitizer' "$OTB_TMP/$name.log"; then
        grep -A 30 'Sanitizer' "$OTB_TMP/$name.log" | head -n 60 >&2
        otb_fail "$name: sanitizer report in its log"
    fi
    ((rc == 0)) || otb_fail "$name exited with status $rc after SIGTERM"
    grep -qF "$stats" "$OTB_TMP/$name.log" || otb_fail "$name: no final '${stats% }' line"
    otb_log "ok: $name stopped cleanly"
}

otb_fd_count() {
    find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l
}

# ---------------------------------------------------------- shadowsocks-libev

# otb_ss_start NAME PROG LOCAL_PORT SERVER_PORT SECRET_ARGS... [-- EXTRA...]
# runs ss-local or ss-tunnel on 127.0.0.1:LOCAL_PORT towards the server.
otb_ss_start() {
    local name=$1 prog=$2 lport=$3 sport=$4
    shift 4
    otb_start "$name" "$prog" -s 127.0.0.1 -p "$sport" -b 127.0.0.1 -l "$lport" -t 30 "$@"
    otb_wait_listen "$name" "$lport"
}

# ----------------------------------------------------------------- dnsmasq

otb_udp_bound() {
    [[ -n $(ss -Hlun "sport = :$1") ]]
}

# otb_dnsmasq_start NAME PORT NAME=IP...: answers only the given .test names.
otb_dnsmasq_start() {
    local name=$1 port=$2 rec args=()
    shift 2
    for rec in "$@"; do
        args+=("--address=/${rec%%=*}/${rec#*=}")
    done
    otb_start "$name" dnsmasq --keep-in-foreground --log-facility=- --conf-file=/dev/null \
        --no-resolv --no-hosts --bind-interfaces --listen-address=127.0.0.1 --port="$port" \
        --user=root --pid-file="$OTB_TMP/$name.pid" "${args[@]}"
    otb_wait_for "dnsmasq on port $port" 15 otb_udp_bound "$port"
}

# --------------------------------------------------------------- python peer

# The far end of the tunnels and the test's own client, in one script:
#   serve PORT echo DIR    echoes every connection (accepts counted in DIR/accepts)
#   serve PORT cmd DIR     the first line of a connection says what to do:
#                            "echo"        echo the rest
#                            "sink ID"     read to EOF, write "sha256 length" to DIR/sink.ID
#                            "source PATH" send the file, then wait for the peer's EOF
#   upload   [--socks5 P] HOST PORT ID FILE     client of "sink"
#   download [--socks5 P] HOST PORT FILE        client of "source": prints "sha256 length"
#   echo     [--socks5 P] [--rate B/S] HOST PORT FILE   client of "echo": prints
#                                                "sha256 length" of what came back
# --socks5 P reaches HOST:PORT through a SOCKS5 proxy on 127.0.0.1:P (an
# IPv4 literal is sent as such, anything else as a name, as curl
# --socks5-hostname does); --timeout S bounds each read (default 120 s).
cat >"$OTB_PEER" <<'PEER'
import hashlib, os, socket, struct, sys, threading, time

CHUNK = 1 << 16

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

def echo_rest(s):
    while True:
        data = s.recv(CHUNK)
        if not data:
            break
        s.sendall(data)
    s.shutdown(socket.SHUT_WR)

def sink(s, outdir, ident):
    h, n = hashlib.sha256(), 0
    while True:
        data = s.recv(CHUNK)
        if not data:
            break
        h.update(data)
        n += len(data)
    tmp = os.path.join(outdir, "sink.%s.tmp" % ident)
    with open(tmp, "w") as f:
        f.write("%s %d\n" % (h.hexdigest(), n))
    os.rename(tmp, os.path.join(outdir, "sink." + ident))

def source(s, path):
    with open(path, "rb") as f:
        while True:
            data = f.read(CHUNK)
            if not data:
                break
            s.sendall(data)
    # Closing with unread input would reset the connection and lose the tail.
    s.shutdown(socket.SHUT_WR)
    drain(s)

def handle(s, mode, outdir):
    try:
        if mode == "echo":
            echo_rest(s)
            return
        cmd = recv_line(s).split(" ", 1)
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

def serve(port, mode, outdir):
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", port))
    ls.listen(512)
    while True:
        s, _ = ls.accept()
        with open(os.path.join(outdir, "accepts"), "a") as f:
            f.write("1\n")
        threading.Thread(target=handle, args=(s, mode, outdir), daemon=True).start()

def recv_exact(s, n):
    data = b""
    while len(data) < n:
        more = s.recv(n - len(data))
        if not more:
            raise EOFError("proxy closed during the SOCKS5 handshake")
        data += more
    return data

def connect(host, port, socks5):
    if socks5 is None:
        s = socket.create_connection((host, port), timeout=30)
    else:
        s = socket.create_connection(("127.0.0.1", socks5), timeout=30)
        s.sendall(b"\x05\x01\x00")
        if recv_exact(s, 2) != b"\x05\x00":
            raise OSError("SOCKS5: no-authentication method refused")
        try:
            dest = b"\x01" + socket.inet_aton(host)
        except OSError:
            dest = b"\x03" + bytes([len(host)]) + host.encode()
        s.sendall(b"\x05\x01\x00" + dest + struct.pack(">H", port))
        reply = recv_exact(s, 4)
        if reply[1] != 0:
            raise OSError("SOCKS5: request failed with code %d" % reply[1])
        recv_exact(s, {1: 4 + 2, 4: 16 + 2}[reply[3]])
    return s

def read_all(s, h):
    n = 0
    while True:
        data = s.recv(CHUNK)
        if not data:
            return n
        h.update(data)
        n += len(data)

def send_file(s, path, rate):
    start, sent = time.monotonic(), 0
    with open(path, "rb") as f:
        while True:
            data = f.read(CHUNK)
            if not data:
                break
            s.sendall(data)
            sent += len(data)
            if rate:
                ahead = sent / rate - (time.monotonic() - start)
                if ahead > 0:
                    time.sleep(ahead)

def client(argv):
    socks5 = rate = None
    wait = 120
    while argv[1].startswith("--"):
        if argv[1] == "--socks5":
            socks5 = int(argv[2])
        elif argv[1] == "--rate":
            rate = float(argv[2])
        elif argv[1] == "--timeout":
            wait = float(argv[2])
        del argv[1:3]
    what, host, port = argv[0], argv[1], int(argv[2])
    s = connect(host, port, socks5)
    s.settimeout(wait)
    h = hashlib.sha256()
    if what == "upload":
        s.sendall(("sink %s\n" % argv[3]).encode())
        send_file(s, argv[4], None)
        s.shutdown(socket.SHUT_WR)
        drain(s)
        return
    if what == "download":
        s.sendall(("source %s\n" % os.path.abspath(argv[3])).encode())
        n = read_all(s, h)
    else:
        s.sendall(b"echo\n")
        size = os.path.getsize(argv[3])
        t = threading.Thread(target=send_file, args=(s, argv[3], rate))
        t.start()
        n = 0
        try:
            while n < size:
                data = s.recv(CHUNK)
                if not data:
                    break
                h.update(data)
                n += len(data)
        except socket.timeout:
            pass  # reported as a short echo
        t.join()
    s.close()
    print("%s %d" % (h.hexdigest(), n))

if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(int(sys.argv[2]), sys.argv[3], sys.argv[4])
    else:
        client(sys.argv[1:])
PEER

# otb_peer_serve NAME PORT MODE: a peer server with its own data directory.
otb_peer_serve() {
    mkdir -p "$OTB_TMP/$1"
    : >"$OTB_TMP/$1/accepts"
    otb_start "$1" python3 "$OTB_PEER" serve "$2" "$3" "$OTB_TMP/$1"
    otb_wait_listen "$1" "$2"
}

otb_peer_accepts() {
    wc -l <"$OTB_TMP/$1/accepts"
}

# otb_peer ARGS...: the peer's client side, bounded in time.
otb_peer() {
    timeout 180 python3 "$OTB_PEER" "$@"
}

# otb_sink_result PEER ID: waits for the sink's "sha256 length" of upload ID.
otb_sink_result() {
    local f="$OTB_TMP/$1/sink.$2"
    otb_wait_for "upload $2 to reach the sink" 120 test -e "$f"
    cat "$f"
}
