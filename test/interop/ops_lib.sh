# shellcheck shell=bash
# Shared by the operations tests (test/interop/t_examples.sh, t_manpages.sh,
# t_systemd_verify.sh, t_openwrt.sh, test/image/t_image.sh): temporary
# directory, background processes, ports, and a client check through
# shadowsocks-libev's ss-local.
#
# Usage: source this file, call ops_init NAME and `trap ops_cleanup EXIT`.

OPS_DIR=""
OPS_PIDS=()

ops_say() { printf '[%s %s] %s\n' "${OPS_NAME:-ops}" "$(date +%T)" "$*" >&2; }

# Print the end of every log of the test, then exit non-zero.
ops_fail() {
    local f
    printf 'FAIL: %s\n' "$*" >&2
    if [[ -n $OPS_DIR && -d $OPS_DIR ]]; then
        for f in "$OPS_DIR"/*.log; do
            [[ -s $f ]] || continue
            printf -- '--- %s (last 25 lines)\n' "${f##*/}" >&2
            tail -n 25 "$f" >&2
        done
    fi
    exit 1
}

ops_init() {
    OPS_NAME=$1
    OPS_DIR=$(mktemp -d "/tmp/otb-$1.$$.XXXXXX")
}

# A missing tool is a failure, never a skip: CI must not go green on a
# machine that cannot run the test.
ops_require() {
    local c
    for c in "$@"; do
        command -v "$c" >/dev/null || ops_fail "missing command: $c"
    done
}

ops_require_root() {
    [[ $(id -u) -eq 0 ]] || ops_fail "this test needs root"
}

ops_src() { printf '%s\n' "${OTB_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"; }

# Path of a program built in OTB_BUILD (failing when it is not there).
ops_bin() {
    local p="${OTB_BUILD:?OTB_BUILD must point at the build directory}/$1/$1"
    [[ -x $p ]] || ops_fail "not built: $p"
    printf '%s\n' "$p"
}

# ops_bg NAME CMD...: start CMD in the background, output to $OPS_DIR/NAME.log;
# its pid is left in OPS_PID and killed by ops_cleanup.
ops_bg() {
    local name=$1
    shift
    "$@" >"$OPS_DIR/$name.log" 2>&1 &
    OPS_PID=$!
    OPS_PIDS+=("$OPS_PID")
}

# Extra pids to stop at cleanup (processes started on our behalf, e.g. by
# buildah run).
ops_track() { OPS_PIDS+=("$@"); }

ops_cleanup() {
    local pid alive=()
    for pid in "${OPS_PIDS[@]}"; do
        kill "$pid" 2>/dev/null && alive+=("$pid")
    done
    for pid in "${alive[@]}"; do
        timeout 5 tail --pid="$pid" -f /dev/null 2>/dev/null || kill -9 "$pid" 2>/dev/null || true
    done
    if [[ -n ${OPS_KEEP:-} ]]; then
        ops_say "files kept in $OPS_DIR"
    elif [[ -n $OPS_DIR ]]; then
        rm -rf "$OPS_DIR"
    fi
}

# A TCP port of 127.0.0.1 that is free now (the kernel's choice).
ops_free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# ops_listen_pid PORT: pid of the process listening on TCP PORT, or nothing.
ops_listen_pid() {
    ss -Hltnp "sport = :$1" | grep -o 'pid=[0-9]*' | head -n 1 | cut -d= -f2
}

# ops_wait_listen PORT [SECONDS [PID]]: wait for a TCP listener on PORT
# (MPTCP listeners show there too); fail early when PID exits.
ops_wait_listen() {
    local port=$1 secs=${2:-10} pid=${3:-} i
    for ((i = 0; i < secs * 20; i++)); do
        ss -Hltn "sport = :$port" | grep -q . && return 0
        if [[ -n $pid ]] && ! kill -0 "$pid" 2>/dev/null; then
            ops_fail "process $pid exited before listening on port $port"
        fi
        sleep 0.05
    done
    ops_fail "nothing listens on port $port after ${secs}s"
}

# ops_wait_exit PID SECONDS: wait for PID (a child of this shell) and leave
# its exit status in OPS_STATUS; fail when it outlives SECONDS.
# shellcheck disable=SC2034 # OPS_STATUS is read by the callers too
ops_wait_exit() {
    local pid=$1 secs=$2 i
    for ((i = 0; i < secs * 20; i++)); do
        if ! kill -0 "$pid" 2>/dev/null; then
            OPS_STATUS=0
            wait "$pid" || OPS_STATUS=$?
            return 0
        fi
        sleep 0.05
    done
    ops_fail "process $pid still running after ${secs}s"
}

# Loopback-only ACL: otb-server refuses loopback destinations by default.
ops_loopback_acl() {
    printf '[outbound_allow_list]\n127.0.0.0/8\n' >"$1"
}

# ops_http_start: a python3 http.server on 127.0.0.1 serving $OPS_DIR/www,
# with a random 2 MB file "blob"; sets OPS_HTTP_PORT.
ops_http_start() {
    mkdir -p "$OPS_DIR/www"
    head -c 2000000 /dev/urandom >"$OPS_DIR/www/blob"
    OPS_HTTP_PORT=$(ops_free_port)
    ops_bg http python3 -m http.server "$OPS_HTTP_PORT" --bind 127.0.0.1 --directory "$OPS_DIR/www"
    ops_wait_listen "$OPS_HTTP_PORT" 10 "$OPS_PID"
}

# ops_ss_fetch SERVER_PORT METHOD PASSWORD: ss-local towards 127.0.0.1:SERVER_PORT,
# curl fetches the blob through it; fails unless the bytes are exact.
ops_ss_fetch() {
    local port=$1 method=$2 password=$3 socks want got pid
    socks=$(ops_free_port)
    ops_bg "ss-local-$port" ss-local -s 127.0.0.1 -p "$port" -b 127.0.0.1 -l "$socks" \
        -m "$method" -k "$password"
    pid=$OPS_PID
    ops_wait_listen "$socks" 10 "$pid"
    want=$(sha256sum <"$OPS_DIR/www/blob")
    got=$(curl -sS --max-time 30 --socks5-hostname "127.0.0.1:$socks" \
        "http://127.0.0.1:$OPS_HTTP_PORT/blob" | sha256sum) ||
        ops_fail "curl through ss-local and otb-server (port $port) failed"
    kill "$pid" 2>/dev/null || true
    [[ $got == "$want" ]] || ops_fail "download through otb-server (port $port): sha256 differs"
}

# The JSON config keys, from the programs' key table in common/otb_config.c
# (the first string of each row); fails if the table cannot be found.
ops_config_keys() {
    local keys
    keys=$(awk '/otb_config_keys\[\] = \{/ { on = 1; next } on && /^\};/ { exit } on' \
        "$(ops_src)/common/otb_config.c" | grep -o '^[^"]*"[a-z0-9_]*"' | sed 's/.*"\(.*\)"$/\1/')
    (($(wc -l <<<"$keys") >= 20)) || ops_fail "cannot read the config key table of common/otb_config.c"
    printf '%s\n' "$keys"
}

# ops_wait_udp PORT [SECONDS]: wait for a UDP socket bound to PORT.
ops_wait_udp() {
    local port=$1 secs=${2:-10} i
    for ((i = 0; i < secs * 20; i++)); do
        ss -Hlun "sport = :$port" | grep -q . && return 0
        sleep 0.05
    done
    ops_fail "nothing listens on UDP port $port after ${secs}s"
}

# ops_stop_ok NAME PID: SIGTERM must end PID (a child of this shell) with
# status 0.
ops_stop_ok() {
    kill -TERM "$2"
    ops_wait_exit "$2" 30
    [[ $OPS_STATUS -eq 0 ]] || ops_fail "$1: exit status $OPS_STATUS after SIGTERM (want 0)"
}
