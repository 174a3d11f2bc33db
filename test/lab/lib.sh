# shellcheck shell=bash
# Network-namespace lab shared by test/lab/t_*.sh, test/demo.sh and test/bench/.
#
#  NAME-lan            NAME-box                       NAME-srv                      NAME-inet
#  eth0 ───────────── lan0   wan1 ═══ tbf ═══════════ wan1   inet0 ──────────────── eth0
#  192.168.50.2   192.168.50.1 10.0.1.1          10.0.1.2   198.18.0.1             198.18.0.2
#                              wan2 ═══ tbf ═══════════ wan2   lo: 10.200.0.1/32 (server)
#                              10.0.2.1          10.0.2.2       10.200.0.2/32 (backup)
#                              ...                ...
#
# The box reaches the server addresses through every WAN (one source-address
# routing table per WAN, one MPTCP endpoint per WAN). The "Internet" only knows
# its own subnet, so LAN traffic can reach it only through otb-server on srv:
# anything routed there directly has no way back.
#
# Usage: source this file, call lab_up NAME "20 10 5" and `trap lab_down EXIT`.
# Ports inside the lab are fixed: every lab has its own namespaces, so two labs
# never share a port space.

LAB_LAN_HOST=192.168.50.2
LAB_LAN_GW=192.168.50.1
LAB_SRV_ADDR=10.200.0.1
LAB_SRV_ADDR2=10.200.0.2
LAB_SRV_INET=198.18.0.1
LAB_INET_ADDR=198.18.0.2
LAB_INET_NET=198.18.0.0/24
LAB_SRV_PORT=8388
LAB_SRV_PORT2=8389
LAB_REDIR_PORT=12345
LAB_SOCKS_PORT=11080
LAB_PASSWORD="lab-secret-$$"
LAB_METHOD=chacha20-ietf-poly1305
# Seconds of queue a tbf holds: enough for TCP to keep a link busy without
# turning a slow WAN into a multi-second buffer that stalls MPTCP reordering.
LAB_TBF_LATENCY_MS=${LAB_TBF_LATENCY_MS:-50}

LAB=""
LAB_DIR=""
LAB_RATES=()

lab_say() { printf '[lab %s] %s\n' "$(date +%T)" "$*" >&2; }

# Print the last lines of every log of the lab, then exit non-zero.
lab_fail() {
    printf 'FAIL: %s\n' "$*" >&2
    lab_dump_logs
    exit 1
}

lab_dump_logs() {
    local f
    [[ -n $LAB_DIR && -d $LAB_DIR ]] || return 0
    for f in "$LAB_DIR"/*.log; do
        [[ -s $f ]] || continue
        printf -- '--- %s (last 25 lines)\n' "${f##*/}" >&2
        tail -n 25 "$f" >&2
    done
}

# A missing prerequisite is a failure, never a skip: CI must not go green on a
# machine that cannot run the lab.
lab_require() {
    local c
    [[ $(id -u) -eq 0 ]] || lab_fail "the lab needs root (network namespaces)"
    for c in ip tc nft ss sha256sum timeout python3 "$@"; do
        command -v "$c" >/dev/null || lab_fail "missing command: $c"
    done
}

# Path of a program built in OTB_BUILD (failing when it is not there).
lab_bin() {
    local p="${OTB_BUILD:?OTB_BUILD must point at the build directory}/$1/$1"
    [[ -x $p ]] || lab_fail "not built: $p"
    printf '%s\n' "$p"
}

lab_src() { printf '%s\n' "${OTB_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"; }

lab_ns() { printf '%s-%s\n' "$LAB" "$1"; }

# lab_run ROLE CMD...: run CMD inside the lan/box/srv/inet namespace.
lab_run() {
    local role=$1
    shift
    ip netns exec "$(lab_ns "$role")" "$@"
}

# lab_bg ROLE LOGNAME CMD...: start CMD in the background inside ROLE, output
# to $LAB_DIR/LOGNAME.log; its pid is left in LAB_PID. lab_down kills it.
lab_bg() {
    local role=$1 name=$2
    shift 2
    ip netns exec "$(lab_ns "$role")" "$@" >"$LAB_DIR/$name.log" 2>&1 &
    LAB_PID=$!
    printf '%s\n' "$LAB_PID" >>"$LAB_DIR/pids"
}

# lab_wait_port ROLE PORT [SECONDS]: wait until a TCP or MPTCP listener is up.
lab_wait_port() {
    local role=$1 port=$2 secs=${3:-10} i
    for ((i = 0; i < secs * 20; i++)); do
        if lab_run "$role" ss -Hltn "sport = :$port" | grep -q . ||
            lab_run "$role" ss -HlMn "sport = :$port" 2>/dev/null | grep -q .; then
            return 0
        fi
        sleep 0.05
    done
    lab_fail "nothing listens on port $port in $role after ${secs}s"
}

lab_sysctl() {
    local role=$1
    shift
    lab_run "$role" sysctl -qw "$@" >/dev/null
}

lab_wan_addr() { printf '10.0.%s.1\n' "$1"; }
lab_wan_peer() { printf '10.0.%s.2\n' "$1"; }

# tbf sized from the rate: a burst of ~10 ms of traffic (at least 16 KB so a
# slow link still passes a few full frames per timer tick) and a queue of
# LAB_TBF_LATENCY_MS. Both ends are shaped: box->srv is the upload, srv->box
# the download.
lab_tbf() {
    local role=$1 dev=$2 mbit=$3 burst
    burst=$((mbit * 1250))
    ((burst < 16384)) && burst=16384
    lab_run "$role" tc qdisc replace dev "$dev" root tbf rate "${mbit}mbit" \
        burst "$burst" latency "${LAB_TBF_LATENCY_MS}ms"
}

# Routes of WAN N in the box: a default in the main table (WAN1 preferred,
# the others as fallbacks so new connections still leave when WAN1 is gone)
# and a source-address table so that each MPTCP subflow leaves by its WAN.
lab_wan_routes() {
    local n=$1 addr peer table=$((100 + $1))
    addr=$(lab_wan_addr "$n")
    peer=$(lab_wan_peer "$n")
    lab_run box ip route replace default via "$peer" dev "wan$n" metric "$((10 * n))"
    lab_run box ip route replace "10.0.$n.0/24" dev "wan$n" src "$addr" table "$table"
    lab_run box ip route replace default via "$peer" dev "wan$n" table "$table"
    lab_run box ip rule del from "$addr" table "$table" 2>/dev/null || true
    lab_run box ip rule add from "$addr" table "$table" priority "$table"
}

# One MPTCP endpoint per WAN. "subflow" makes the box open one subflow from
# each WAN address to the server address the connection was made to: with one
# server address that is one subflow per WAN, which is what aggregates.
# "fullmesh" would only add subflows towards extra addresses the server
# announces (none here), so it buys nothing and multiplies subflows when a
# server does announce.
lab_wan_endpoint() {
    local n=$1
    lab_run box ip mptcp endpoint add "$(lab_wan_addr "$n")" dev "wan$n" id "$n" subflow
}

lab_add_wan() {
    local n=$1 mbit=$2
    lab_run box ip link add "wan$n" type veth peer name "wan$n" netns "$(lab_ns srv)"
    lab_run box ip addr add "$(lab_wan_addr "$n")/24" dev "wan$n"
    lab_run srv ip addr add "$(lab_wan_peer "$n")/24" dev "wan$n"
    lab_run box ip link set "wan$n" up
    lab_run srv ip link set "wan$n" up
    lab_tbf box "wan$n" "$mbit"
    lab_tbf srv "wan$n" "$mbit"
    lab_wan_routes "$n"
    lab_wan_endpoint "$n"
}

lab_add_lan() {
    lab_run lan ip link add eth0 type veth peer name lan0 netns "$(lab_ns box)"
    lab_run lan ip addr add "$LAB_LAN_HOST/24" dev eth0
    lab_run box ip addr add "$LAB_LAN_GW/24" dev lan0
    lab_run lan ip link set eth0 up
    lab_run box ip link set lan0 up
    lab_run lan ip route add default via "$LAB_LAN_GW"
}

lab_add_inet() {
    lab_run srv ip link add inet0 type veth peer name eth0 netns "$(lab_ns inet)"
    lab_run srv ip addr add "$LAB_SRV_INET/24" dev inet0
    lab_run inet ip addr add "$LAB_INET_ADDR/24" dev eth0
    lab_run srv ip link set inet0 up
    lab_run inet ip link set eth0 up
    lab_run srv ip addr add "$LAB_SRV_ADDR/32" dev lo
    lab_run srv ip addr add "$LAB_SRV_ADDR2/32" dev lo
}

# lab_up NAME "R1 R2 ...": build the lab with one WAN per rate (Mbit/s).
lab_up() {
    local role n=0 r
    LAB="$1"
    read -r -a LAB_RATES <<<"$2"
    ((${#LAB_RATES[@]} >= 1)) || lab_fail "lab_up: no WAN rate given"
    LAB_DIR=$(mktemp -d "/tmp/$LAB.XXXXXX")
    : >"$LAB_DIR/pids"
    for role in lan box srv inet; do
        ip netns add "$(lab_ns "$role")"
        lab_run "$role" ip link set lo up
    done
    for role in box srv; do
        lab_sysctl "$role" net.ipv4.ip_forward=1
        # Replies of a subflow come back on its own WAN while the main table
        # points at WAN1: strict reverse-path filtering would drop them.
        lab_sysctl "$role" net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
        lab_sysctl "$role" net.mptcp.enabled=1
        lab_run "$role" ip mptcp limits set subflow 8 add_addr_accepted 8
    done
    lab_add_lan
    lab_add_inet
    for r in "${LAB_RATES[@]}"; do
        n=$((n + 1))
        lab_add_wan "$n" "$r"
    done
    lab_say "up: $LAB, WANs ${LAB_RATES[*]} Mbit/s, logs in $LAB_DIR"
}

# Kill what runs in the lab's namespaces (all of it was started by this lab),
# then delete them. Safe to call twice and from an EXIT trap.
lab_down() {
    local role ns pids
    [[ -n $LAB ]] || return 0
    for role in lan box srv inet; do
        ns=$(lab_ns "$role")
        pids=$(ip netns pids "$ns" 2>/dev/null || true)
        [[ -n $pids ]] && kill $pids 2>/dev/null || true
    done
    sleep 0.3
    for role in lan box srv inet; do
        ns=$(lab_ns "$role")
        pids=$(ip netns pids "$ns" 2>/dev/null || true)
        [[ -n $pids ]] && kill -9 $pids 2>/dev/null || true
        ip netns del "$ns" 2>/dev/null || true
    done
    if [[ -n ${LAB_KEEP:-} ]]; then
        lab_say "logs kept in $LAB_DIR"
    else
        rm -rf "$LAB_DIR"
    fi
    LAB=""
}

# A WAN failure as the box sees it: the interface loses its link, so its
# routes go and the subflows on it stop.
lab_wan_down() {
    lab_run box ip link set "wan$1" down
}

# The WAN comes back: link up, routes restored (the kernel dropped them with
# the link) and the MPTCP endpoint re-announced, which is what the box's
# interface hotplug does; re-adding the endpoint is what makes the kernel open
# a subflow on this WAN for connections that are already established.
lab_wan_up() {
    local n=$1
    lab_run box ip link set "wan$n" up
    lab_wan_routes "$n"
    lab_run box ip mptcp endpoint delete id "$n" 2>/dev/null || true
    lab_wan_endpoint "$n"
}

lab_wan_rate() {
    lab_tbf box "wan$1" "$2"
    lab_tbf srv "wan$1" "$2"
}

# Bytes received and sent by the box on WAN N: "RX TX".
lab_wan_bytes() {
    lab_run box cat "/sys/class/net/wan$1/statistics/rx_bytes" \
        "/sys/class/net/wan$1/statistics/tx_bytes" | paste -sd' '
}

lab_rate_sum() {
    local r s=0
    for r in "${LAB_RATES[@]}"; do s=$((s + r)); done
    printf '%s\n' "$s"
}

# ACL for otb-server: the lab's "Internet" is a benchmark range that the
# server refuses by default.
lab_acl_file() {
    printf '[outbound_allow_list]\n%s\n' "$LAB_INET_NET" >"$LAB_DIR/server.acl"
    printf '%s\n' "$LAB_DIR/server.acl"
}

# lab_otb_server ADDR PORT LOGNAME [ARGS...]: start otb-server in srv.
lab_otb_server() {
    local addr=$1 port=$2 name=$3 bin acl
    shift 3
    bin=$(lab_bin otb-server)
    acl=$(lab_acl_file)
    lab_bg srv "$name" "$bin" -s "$addr" -p "$port" -k "$LAB_PASSWORD" -m "$LAB_METHOD" \
        --acl "$acl" -d "$LAB_INET_ADDR" "$@"
    lab_wait_port srv "$port"
}

# lab_otb_redir [ARGS...]: start otb-redir in the box towards the first server,
# with its transparent port and its SOCKS5 port on every box address.
lab_otb_redir() {
    local bin
    bin=$(lab_bin otb-redir)
    lab_bg box otb-redir "$bin" -s "$LAB_SRV_ADDR" -p "$LAB_SRV_PORT" -l "$LAB_REDIR_PORT" \
        -b 0.0.0.0 -k "$LAB_PASSWORD" -m "$LAB_METHOD" --socks5-port "$LAB_SOCKS_PORT" "$@"
    LAB_REDIR_PID=$LAB_PID
    lab_wait_port box "$LAB_REDIR_PORT"
}

# The usual pair: one otb-server, one otb-redir, LAN TCP intercepted.
lab_otb_start() {
    lab_otb_server "$LAB_SRV_ADDR" "$LAB_SRV_PORT" otb-server
    LAB_SERVER_PID=$LAB_PID
    lab_otb_redir "$@"
    lab_intercept "$LAB_REDIR_PORT"
}

# LAN TCP interception with the project's firewall helper, run in the box.
lab_intercept() {
    local fw src
    src=$(lab_src)
    fw="$src/otb-redir/otb-firewall"
    [[ -x ${OTB_BUILD:-}/otb-redir/otb-firewall ]] && fw="$OTB_BUILD/otb-redir/otb-firewall"
    [[ -f $fw ]] || lab_fail "firewall helper not found: $fw"
    lab_run box bash "$fw" up --lan lan0 --redir-port "$1" --server "$LAB_SRV_ADDR" \
        --bypass "$LAB_SRV_ADDR2/32" >"$LAB_DIR/firewall.log" 2>&1 ||
        lab_fail "otb-firewall up failed: $(cat "$LAB_DIR/firewall.log")"
}

# The same interception as a bare nft rule: used by the benchmarks so that
# otb-redir and ss-redir are measured behind exactly the same rule.
lab_nft_redirect() {
    lab_run box nft -f - <<EOF
table ip labredir {
    chain pre {
        type nat hook prerouting priority dstnat; policy accept;
        iifname "lan0" ip daddr $LAB_INET_NET meta l4proto tcp redirect to :$1
    }
}
EOF
}

lab_nft_redirect_off() {
    lab_run box nft delete table ip labredir 2>/dev/null || true
}

# The lab helper program (servers and clients for the "Internet" side).
lab_tool() { printf '%s\n' "$(lab_src)/test/lab/labtool.py"; }

# lab_mbps BYTES SECONDS -> Mbit/s with one decimal.
lab_mbps() { awk -v b="$1" -v s="$2" 'BEGIN { printf "%.1f\n", b * 8 / s / 1e6 }'; }

# Fail unless A >= B (floating point).
lab_assert_ge() {
    awk -v a="$1" -v b="$2" 'BEGIN { exit !(a >= b) }' || lab_fail "$3: $1 < $2"
}

# Open descriptors and resident KiB of a process: "FDS RSS_KB".
lab_proc_usage() {
    local fds rss
    fds=$(find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
    rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$1/status")
    printf '%s %s\n' "$fds" "$rss"
}
