# shellcheck shell=bash
# Shared by the operations tests (test/interop/t_examples.sh, t_manpages.sh,
# t_systemd_verify.sh, t_openwrt.sh, test/image/t_image.sh): temporary
# directory, background processes, ports, and a client check through
# shadowsocks-libev's ss-local.
#
# Usage: source this file, call ops_init NAME and `trap ops_cleanup EXIT`.

# shellcheck source=test/lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"

OPS_DIR=""
OPS_PIDS=()

ops_say() { printf '[%s %s] %s\n' "${OPS_NAME:-ops}" "$(date +%T)" "$*" >&2; }

# Print the end of every log of the test, then exit non-zero.
ops_fail() { otb_fail "$@"; }

ops_init() {
    OPS_NAME=$1
    OPS_DIR=$(mktemp -d "/tmp/otb-$1.$$.XXXXXX")
    OTB_LOG_DIR=$OPS_DIR
}

ops_require() { otb_need_cmd "$@"; }

ops_require_root() { otb_need_root; }

ops_src() { otb_src; }

# Path of a program built in OTB_BUILD (failing when it is not there).
ops_bin() { otb_bin "$1"; }

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
    local pid
    for pid in "${OPS_PIDS[@]}"; do
        otb_stop_pid "$pid"
    done
    if [[ -n ${OPS_KEEP:-} ]]; then
        ops_say "files kept in $OPS_DIR"
    elif [[ -n $OPS_DIR ]]; then
        rm -rf "$OPS_DIR"
    fi
}

# A TCP port of 127.0.0.1 that is free now (the kernel's choice).
ops_free_port() { otb_free_port; }

# ops_listen_pid PORT: pid of the process listening on TCP PORT, or nothing.
ops_listen_pid() {
    ss -Hltnp "sport = :$1" | grep -o 'pid=[0-9]*' | head -n 1 | cut -d= -f2
}

# ops_wait_listen PORT [SECONDS [PID]]: wait for a TCP listener on PORT
# (MPTCP listeners too); fail early when PID exits.
ops_wait_listen() { otb_wait_port tcp "$1" "${2:-10}" "${3:-}"; }

# ops_wait_exit PID SECONDS: wait for PID (a child of this shell) and leave
# its exit status in OPS_STATUS; fail when it outlives SECONDS.
# shellcheck disable=SC2034 # OPS_STATUS is read by the callers too
ops_wait_exit() {
    otb_wait_exit "$1" "$2"
    OPS_STATUS=$OTB_STATUS
}

# Loopback-only ACL: otb-server refuses loopback destinations by default.
ops_loopback_acl() { otb_acl_file "$1"; }

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
        "$(ops_src)/common/otb_config_keys.c" | grep -o '^[^"]*"[a-z0-9_]*"' | sed 's/.*"\(.*\)"$/\1/')
    (($(wc -l <<<"$keys") >= 20)) || ops_fail "cannot read the config key table of common/otb_config_keys.c"
    printf '%s\n' "$keys"
}

# ops_wait_udp PORT [SECONDS]: wait for a UDP socket bound to PORT.
ops_wait_udp() { otb_wait_port udp "$1" "${2:-10}"; }

# ops_stop_ok NAME PID: SIGTERM must end PID (a child of this shell) with
# status 0.
ops_stop_ok() {
    kill -TERM "$2"
    ops_wait_exit "$2" 30
    [[ $OPS_STATUS -eq 0 ]] || ops_fail "$1: exit status $OPS_STATUS after SIGTERM (want 0)"
}
