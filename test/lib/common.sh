# shellcheck shell=bash
# The one shell library of the test scripts (unit, interop, lab, bench and the
# demo), sourced by each folder's own helpers (test/interop/lib.sh,
# ops_lib.sh, test/lab/lib.sh, check_lib.sh, test/bench/bench_lib.sh):
#
#   otb_src                      the source tree (OTB_SRC, or found from here)
#   otb_bin NAME                 path of program NAME built in OTB_BUILD
#   otb_fail MESSAGE             "FAIL: MESSAGE", the logs of OTB_LOG_DIR, exit 1
#   otb_dump_logs DIR LINES      the last LINES of every non-empty DIR/*.log
#   otb_need_cmd CMD...          fails naming the first command not installed
#   otb_need_root                fails unless root (network namespaces)
#   otb_free_port                a free TCP port of 127.0.0.1, new in this run
#   otb_ports [udp] VAR...       a free TCP (UDP) port in each VAR
#   otb_wait_for WHAT SECS CMD.. polls CMD every 0.1 s, fails after SECS
#   otb_port_bound tcp|udp PORT [NS]
#                                true if something listens on PORT (TCP or
#                                MPTCP; a bound socket for UDP), in netns NS
#   otb_wait_port tcp|udp PORT SECS [PID [NS]]
#                                waits for otb_port_bound; fails at once if
#                                PID, the program meant to listen, has exited
#   otb_wait_exit PID SECS       waits for PID (a child) to end by itself and
#                                leaves its status in OTB_STATUS
#   otb_stop_pid PID [SECS]      SIGTERM, SIGKILL after SECS (default 5), reap
#   otb_acl_file PATH [NET...]   an ACL allowing NET (default 127.0.0.0/8),
#                                which otb-server's built-in block list refuses
#   otb_dnsmasq_args NAME=IP...  dnsmasq options answering only these names
#   otb_sha256 FILE              the hex digest of FILE
#   otb_random_file PATH MIB     MIB MiB of random bytes, a transfer's reference
#
# The Python peers share test/lib/otbpeer.py the same way (see its docstring).
# A missing tool is a failure, never a skip: CI must not go green on a machine
# that cannot run the test.

OTB_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OTB_LOG_DIR=${OTB_LOG_DIR:-}    # logs printed by otb_fail (set by each harness)
OTB_LOG_LINES=${OTB_LOG_LINES:-25}
declare -gA OTB_PORTS=()        # ports handed out by otb_free_port in this run

otb_src() { printf '%s\n' "${OTB_SRC:-$(cd "$OTB_LIB_DIR/../.." && pwd)}"; }

# python3 is Debian's: the peers import its packages (python3-cryptography,
# python3-nacl), and a per-user interpreter found first in PATH (e.g. pyenv's
# shims) can cost seconds per start on a loaded machine, hundreds of times.
otb_system_python() {
    local dir=${TMPDIR:-/tmp}/otb-python.$EUID
    [[ -x /usr/bin/python3 && $(command -v python3) != /usr/bin/python3 ]] || return 0
    mkdir -p -m 700 "$dir" 2>/dev/null || true
    [[ -O $dir && ! -L $dir ]] || return 0 # someone else's: keep PATH as it is
    if [[ $(readlink "$dir/python3") != /usr/bin/python3 ]]; then
        ln -sfn /usr/bin/python3 "$dir/python3.$$" && mv -T "$dir/python3.$$" "$dir/python3"
    fi
    PATH=$dir:$PATH
    export PATH
}
otb_system_python

otb_dump_logs() {
    local dir=$1 lines=$2 f
    [[ -n $dir && -d $dir ]] || return 0
    for f in "$dir"/*.log; do
        [[ -s $f ]] || continue
        printf -- '--- %s (last %s lines)\n' "$f" "$lines" >&2
        tail -n "$lines" "$f" >&2
    done
}

otb_fail() {
    printf 'FAIL: %s\n' "$*" >&2
    otb_dump_logs "$OTB_LOG_DIR" "$OTB_LOG_LINES"
    exit 1
}

otb_need_cmd() {
    local c
    for c in "$@"; do
        command -v "$c" >/dev/null 2>&1 || otb_fail "required command '$c' is not installed"
    done
}

otb_need_root() {
    [[ $(id -u) -eq 0 ]] || otb_fail "this test needs root (network namespaces)"
}

otb_bin() {
    local p="${OTB_BUILD:?OTB_BUILD must point at the build directory}/$1/$1"
    [[ -x $p ]] || otb_fail "not built: $p (build the project first)"
    printf '%s\n' "$p"
}

# otb_ports [udp] VAR...: a free port in each VAR, distinct from the others
# handed out in this shell. Ports come from OTB_PORT_RANGE (LOW-HIGH, default
# 10000-31999): below the kernel's ephemeral range, so an outgoing
# connection never takes a port a test is about to listen on, and disjoint
# ranges let two test runs share the machine. A port is handed out only if
# both TCP and UDP can bind it (servers listen on both).
otb_ports() {
    local _otb_v _otb_p _otb_range=${OTB_PORT_RANGE:-10000-31999}
    [[ ${1:-} != udp ]] || shift
    for _otb_v in "$@"; do
        while :; do
            _otb_p=$(python3 - "${_otb_range%-*}" "${_otb_range#*-}" <<'PY'
import random, socket, sys
lo, hi = int(sys.argv[1]), int(sys.argv[2])
while True:
    port = random.randint(lo, hi)
    socks = []
    try:
        for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
            s = socket.socket(type=kind)
            socks.append(s)
            s.bind(("127.0.0.1", port))
    except OSError:
        continue
    finally:
        for s in socks:
            s.close()
    print(port)
    break
PY
)
            [[ -z ${OTB_PORTS[$_otb_p]:-} ]] && break
        done
        OTB_PORTS[$_otb_p]=1
        printf -v "$_otb_v" '%s' "$_otb_p"
    done
}

otb_free_port() {
    local port
    otb_ports port
    echo "$port"
}

otb_wait_for() {
    local what=$1 secs=$2 i
    shift 2
    for ((i = 0; i < secs * 10; i++)); do
        "$@" && return 0
        sleep 0.1
    done
    otb_fail "timed out after $secs s waiting for $what"
}

otb_port_bound() {
    local proto=$1 port=$2 ns=${3:-}
    local -a in=()
    [[ -z $ns ]] || in=(ip netns exec "$ns")
    if [[ $proto == udp ]]; then
        [[ -n $("${in[@]}" ss -Hlun "sport = :$port") ]]
    else
        [[ -n $("${in[@]}" ss -Hltn "sport = :$port") ]] ||
            [[ -n $("${in[@]}" ss -HlMn "sport = :$port" 2>/dev/null) ]]
    fi
}

otb_wait_port() {
    local proto=$1 port=$2 secs=$3 pid=${4:-} ns=${5:-} i
    for ((i = 0; i < secs * 20; i++)); do
        otb_port_bound "$proto" "$port" "$ns" && return 0
        if [[ -n $pid ]] && ! kill -0 "$pid" 2>/dev/null; then
            otb_fail "the program meant to listen on $proto port $port${ns:+ in $ns} exited"
        fi
        sleep 0.05
    done
    otb_fail "nothing listens on $proto port $port${ns:+ in $ns} after ${secs}s"
}

# shellcheck disable=SC2034 # OTB_STATUS is for the callers
otb_wait_exit() {
    local pid=$1 secs=$2 i
    for ((i = 0; i < secs * 20; i++)); do
        if ! kill -0 "$pid" 2>/dev/null; then
            OTB_STATUS=0
            wait "$pid" || OTB_STATUS=$?
            return 0
        fi
        sleep 0.05
    done
    otb_fail "process $pid still running after ${secs}s"
}

otb_stop_pid() {
    local pid=$1 secs=${2:-5} i
    kill "$pid" 2>/dev/null || return 0
    for ((i = 0; i < secs * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

otb_acl_file() {
    local path=$1
    shift
    (($# > 0)) || set -- 127.0.0.0/8
    printf '[outbound_allow_list]\n' >"$path"
    printf '%s\n' "$@" >>"$path"
}

otb_dnsmasq_args() {
    local rec
    for rec in "$@"; do
        printf -- '--address=/%s/%s\n' "${rec%%=*}" "${rec#*=}"
    done
}

otb_sha256() {
    sha256sum "$1" | cut -d' ' -f1
}

otb_random_file() {
    head -c "$(($2 * 1048576))" /dev/urandom >"$1"
}
