# shellcheck shell=bash
# Shared helpers of the interop tests (sourced): a temporary directory for
# logs and data, background processes with one log each, free ports, waits,
# sha256 helpers, the otb-server and shadowsocks-libev launchers and the
# python3 peer used as the "Internet" side (echo / sink / source).
#
# Every process started here is killed by otb_cleanup (installed as the EXIT
# trap); when the test fails the logs are printed and the directory is kept.

set -euo pipefail

# shellcheck source=test/lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"

otb_need_cmd python3 ss
: "${OTB_BUILD:?OTB_BUILD must point at the build directory}"
OTB_SERVER_BIN="$OTB_BUILD/otb-server/otb-server"
# shellcheck disable=SC2034 # used by the tests that source this file
OTB_PROBE_BIN="$OTB_BUILD/test/interop/otb_probe"
OTB_TMP=$(mktemp -d "/tmp/otb-${OTB_TEST_NAME:-interop}.$$.XXXXXX")
declare -A OTB_PID=()   # name -> pid of every background process started here
OTB_NETNS=()            # network namespaces made by otb_netns_add, deleted at exit
# shellcheck disable=SC2034 # used by the tests that source this file
OTB_T0=$SECONDS
# Leak reports at exit are part of what the tests check with sanitizer builds.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}

otb_log() { echo "[$(date +%T)] $*" >&2; }

# The logs are printed by otb_cleanup, which every exit goes through.
need_cmd() { otb_need_cmd "$@"; }

need_file() {
    [[ -x $1 ]] || otb_fail "$1 is missing (build the project first)"
}

# A password of this run (the same alphabet as ss-local's base64 keys).
otb_password() {
    echo "otb-$$-$(head -c 9 /dev/urandom | base64 | tr '+/' '-_')"
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
    for name in "${OTB_NETNS[@]}"; do
        ip netns del "$name" 2>/dev/null || true
    done
    if ((rc != 0)); then
        otb_dump_logs "$OTB_TMP" 40
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

# otb_start NAME CMD...: runs CMD in the background, output to NAME.log.
otb_start() {
    local name=$1
    shift
    "$@" >"$OTB_TMP/$name.log" 2>&1 &
    OTB_PID[$name]=$!
}

# otb_netns_add NAME: a network namespace with its loopback up, deleted by
# otb_cleanup (after the processes running in it are killed).
otb_netns_add() {
    otb_need_root
    ip netns add "$1" || otb_fail "cannot create network namespace $1"
    OTB_NETNS+=("$1")
    ip -n "$1" link set lo up
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
    otb_wait_port tcp "$2" 15 "${OTB_PID[$1]}"
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

# An ACL letting the server reach this machine's loopback.
otb_loopback_acl() {
    otb_acl_file "$OTB_TMP/loopback.acl"
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

# The TCP counters' log line (the UDP relay's is "udp stats: ").
OTB_TCP_STATS='INFO: stats: '

# otb_server_stats NAME [STATS]: asks for the stats lines (SIGUSR1) and
# prints the STATS one (default: the TCP counters; 'udp stats: ' the UDP ones).
otb_server_stats() {
    local name=$1 stats=${2:-$OTB_TCP_STATS} log="$OTB_TMP/$1.log" before
    before=$(otb_count_lines "$log" "$stats")
    kill -USR1 "${OTB_PID[$name]}"
    otb_wait_for "the stats line of $name" 10 otb_lines_above "$log" "$stats" "$before"
    grep -F "$stats" "$log" | tail -n 1
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
# the test) that ends with its final STATS line (default: the TCP counters).
otb_server_stop() {
    local name=$1 stats=${2:-$OTB_TCP_STATS} rc=0
    otb_stop "$name" TERM || rc=$?
    if grep -q 'Sanitizer' "$OTB_TMP/$name.log"; then
        grep -A 30 'Sanitizer' "$OTB_TMP/$name.log" | head -n 60 >&2
        otb_fail "$name: sanitizer report in its log"
    fi
    ((rc == 0)) || otb_fail "$name exited with status $rc after SIGTERM"
    grep -qF "$stats" "$OTB_TMP/$name.log" || otb_fail "$name: no final '${stats% }' line"
    otb_log "ok: $name stopped cleanly"
}

# otb_probe_value LINE NAME: the value of NAME in a result line of otb_probe.
otb_probe_value() {
    grep -oE "(^| )$2=[^ ]+" <<<"$1" | cut -d= -f2
}

# otb_probe_closed_at_once LINE: the server closed the probe's connection
# within 1.5 s without sending a byte.
otb_probe_closed_at_once() {
    [[ $(otb_probe_value "$1" reply) == 0 && $(otb_probe_value "$1" closed) != no ]] || return 1
    awk -v e="$(otb_probe_value "$1" elapsed)" 'BEGIN { exit !(e < 1.5) }'
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

otb_udp_bound() { otb_port_bound udp "$1"; }

# otb_dnsmasq_start NAME PORT NAME=IP...: answers only the given .test names.
otb_dnsmasq_start() {
    local name=$1 port=$2 args=()
    shift 2
    mapfile -t args < <(otb_dnsmasq_args "$@")
    otb_start "$name" dnsmasq --keep-in-foreground --log-facility=- --conf-file=/dev/null \
        --no-resolv --no-hosts --bind-interfaces --listen-address=127.0.0.1 --port="$port" \
        --user=root --pid-file="$OTB_TMP/$name.pid" "${args[@]}"
    otb_wait_for "dnsmasq on port $port" 15 otb_udp_bound "$port"
}

# --------------------------------------------------------------- python peer

# The far end of the tunnels and the test's own client: tcp_peer.py (its
# commands are described there).
OTB_PEER="$(dirname "${BASH_SOURCE[0]}")/tcp_peer.py"

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
