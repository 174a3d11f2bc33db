# shellcheck shell=bash
# shellcheck disable=SC2034 # the LAB_* variables are for the sourcing scripts
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
# TCP congestion control is the machine's default: on the development and CI
# machines writing net.ipv4.tcp_congestion_control fails (EPERM), even in a
# new namespace. The figures depend on it; a program can still choose per
# socket (TCP_CONGESTION).
#
# Usage: source this file, call lab_start NAME "20 10 5" [TOOL...] (or lab_up
# NAME "20 10 5" and `trap lab_down EXIT`).
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
# Milliseconds of queue a tbf holds: enough for TCP to keep a link busy without
# turning a slow WAN into a multi-second buffer that stalls MPTCP reordering.
LAB_TBF_LATENCY_MS=${LAB_TBF_LATENCY_MS:-50}

# The Python interpreter itself, found once: a version manager's "python3"
# shim can take seconds to start on a loaded machine, too long for the clients
# and status polls whose timing the tests measure (lab_require checks that
# python3 is there).
LAB_PY=$(python3 -c 'import sys; print(sys.executable)' 2>/dev/null) || LAB_PY=python3

LAB=""
LAB_DIR=""
LAB_RATES=()
LAB_ROLES=()

# shellcheck source=test/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"

lab_say() { printf '[lab %s] %s\n' "$(date +%T)" "$*" >&2; }

# Print the last lines of every log of the lab, then exit non-zero.
lab_fail() { otb_fail "$@"; }

lab_dump_logs() { otb_dump_logs "$LAB_DIR" 25; }

lab_require() {
    otb_need_root
    otb_need_cmd ip tc nft ss sha256sum timeout python3 "$@"
}

# Path of a program built in OTB_BUILD (failing when it is not there).
lab_bin() { otb_bin "$1"; }

lab_src() { otb_src; }

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

# lab_wait_port ROLE PORT [PID]: wait until a TCP or MPTCP listener is up;
# fail at once if PID, the program meant to listen, has exited.
lab_wait_port() { otb_wait_port tcp "$2" 10 "${3:-}" "$(lab_ns "$1")"; }

# lab_wait_udp ROLE PORT [PID]: the same for a bound UDP socket.
lab_wait_udp() { otb_wait_port udp "$2" 10 "${3:-}" "$(lab_ns "$1")"; }

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

# Routes of WAN N in the box: a source-address table so that each MPTCP
# subflow leaves by its WAN, and a default in the main table (WAN1 preferred,
# the others as fallbacks so new connections still leave when WAN1 is gone).
# The main default comes last: as soon as it points at this WAN, connections
# take this WAN's source address, whose table must then be complete (else
# they meet its "unreachable" end and fail at once).
lab_wan_routes() {
    local n=$1 addr peer table=$((100 + $1))
    addr=$(lab_wan_addr "$n")
    peer=$(lab_wan_peer "$n")
    lab_run box ip route replace "10.0.$n.0/24" dev "wan$n" src "$addr" table "$table"
    lab_run box ip route replace default via "$peer" dev "wan$n" table "$table"
    # Without its link, a WAN's address must not leak out of another WAN (the
    # other provider would drop it anyway): the table then ends here.
    lab_run box ip route replace unreachable default metric 4096 table "$table"
    lab_run box ip rule show from "$addr" table "$table" | grep -q . ||
        lab_run box ip rule add from "$addr" table "$table" priority "$table"
    lab_run box ip route replace default via "$peer" dev "wan$n" metric "$((10 * n))"
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

# lab_veth ROLE1 DEV1 ADDR1 ROLE2 DEV2 ADDR2: a link between two namespaces,
# addressed and up.
lab_veth() {
    lab_run "$1" ip link add "$2" type veth peer name "$5" netns "$(lab_ns "$4")"
    lab_run "$1" ip addr add "$3" dev "$2"
    lab_run "$4" ip addr add "$6" dev "$5"
    lab_run "$1" ip link set "$2" up
    lab_run "$4" ip link set "$5" up
}

lab_add_wan() {
    local n=$1 mbit=$2
    lab_veth box "wan$n" "$(lab_wan_addr "$n")/24" srv "wan$n" "$(lab_wan_peer "$n")/24"
    lab_tbf box "wan$n" "$mbit"
    lab_tbf srv "wan$n" "$mbit"
    lab_wan_routes "$n"
    lab_wan_endpoint "$n"
}

lab_add_lan() {
    lab_veth lan eth0 "$LAB_LAN_HOST/24" box lan0 "$LAB_LAN_GW/24"
    lab_run lan ip route add default via "$LAB_LAN_GW"
}

lab_add_inet() {
    lab_veth srv inet0 "$LAB_SRV_INET/24" inet eth0 "$LAB_INET_ADDR/24"
    lab_run srv ip addr add "$LAB_SRV_ADDR/32" dev lo
    lab_run srv ip addr add "$LAB_SRV_ADDR2/32" dev lo
}

# lab_init NAME ROLE...: the lab's work directory and one empty namespace
# (loopback up) per role. lab_up uses it; so does a bench that needs only one.
lab_init() {
    local role
    LAB="$1"
    shift
    LAB_ROLES=("$@")
    LAB_DIR=$(mktemp -d "/tmp/$LAB.XXXXXX")
    OTB_LOG_DIR=$LAB_DIR
    : >"$LAB_DIR/pids"
    for role in "${LAB_ROLES[@]}"; do
        ip netns add "$(lab_ns "$role")"
        lab_run "$role" ip link set lo up
    done
}

# lab_start NAME "R1 R2 ..." [TOOL...]: lab_require TOOLs, lab_up, lab_down at exit.
lab_start() {
    lab_require "${@:3}"
    trap lab_down EXIT
    lab_up "$1" "$2"
}

# lab_up NAME "R1 R2 ...": build the lab with one WAN per rate (Mbit/s).
lab_up() {
    local role n=0 r
    read -r -a LAB_RATES <<<"$2"
    ((${#LAB_RATES[@]} >= 1)) || lab_fail "lab_up: no WAN rate given"
    lab_init "$1" lan box srv inet
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

# lab_ns_del ROLE: kill what still runs in ROLE's namespace, delete it.
lab_ns_del() {
    local ns pids
    ns=$(lab_ns "$1")
    pids=$(ip netns pids "$ns" 2>/dev/null || true)
    # shellcheck disable=SC2086 # one pid per word
    [[ -z $pids ]] || kill -9 $pids 2>/dev/null || true
    ip netns del "$ns" 2>/dev/null || true
}

# Kill what runs in the lab's namespaces (all of it was started by this lab),
# then delete them. Safe to call twice and from an EXIT trap.
lab_down() {
    local role pids i
    [[ -n $LAB ]] || return 0
    # Out of the job table: bash prints no "Killed" notice for what needs SIGKILL below.
    disown -a 2>/dev/null || true
    for role in "${LAB_ROLES[@]}"; do
        pids=$(ip netns pids "$(lab_ns "$role")" 2>/dev/null || true)
        # shellcheck disable=SC2086 # one pid per word
        [[ -z $pids ]] || kill $pids 2>/dev/null || true
    done
    for ((i = 0; i < 30; i++)); do
        pids=""
        for role in "${LAB_ROLES[@]}"; do
            pids+=$(ip netns pids "$(lab_ns "$role")" 2>/dev/null || true)
        done
        [[ -z $pids ]] && break
        sleep 0.1
    done
    for role in "${LAB_ROLES[@]}"; do
        lab_ns_del "$role"
    done
    # Reap our background jobs quietly (no "Killed" notices).
    while read -r pids; do
        wait "$pids" 2>/dev/null || true
    done <"$LAB_DIR/pids"
    if [[ -n ${LAB_KEEP:-} ]]; then
        lab_say "logs kept in $LAB_DIR"
    else
        rm -rf "$LAB_DIR"
    fi
    LAB=""
}

# A WAN failure as the box sees it: the interface loses its link, so its
# routes go and the subflows on it stop. Both ends lose the carrier.
lab_wan_down() {
    lab_run box ip link set "wan$1" down
}

# The WAN comes back: link up and its routes restored (the kernel dropped
# them with the link; on a real box DHCP or the network manager re-adds them).
# The MPTCP endpoint is left as it was: getting subflows back on this WAN is
# up to the kernel and the programs, which is what the tests check.
lab_wan_up() {
    lab_run box ip link set "wan$1" up
    lab_wan_routes "$1"
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
    otb_acl_file "$LAB_DIR/server.acl" "$LAB_INET_NET"
    printf '%s\n' "$LAB_DIR/server.acl"
}

# lab_otb_server ADDR PORT LOGNAME [ARGS...]: start otb-server in srv; its
# pid is left in LAB_PID.
lab_otb_server() {
    local addr=$1 port=$2 name=$3 bin acl
    shift 3
    bin=$(lab_bin otb-server)
    acl=$(lab_acl_file)
    lab_bg srv "$name" "$bin" -s "$addr" -p "$port" -k "$LAB_PASSWORD" -m "$LAB_METHOD" \
        --acl "$acl" -d "$LAB_INET_ADDR" "$@"
    lab_wait_port srv "$port" "$LAB_PID"
}

# lab_otb_redir [ARGS...]: start otb-redir in the box with its transparent
# port on every box address and its SOCKS5 port on the LAN address. Without a -s in ARGS it uses
# the first server. Its pid is left in LAB_REDIR_PID.
lab_otb_redir() {
    local bin
    local -a srv=()
    bin=$(lab_bin otb-redir)
    [[ " $* " == *" -s "* ]] || srv=(-s "$LAB_SRV_ADDR")
    lab_bg box otb-redir "$bin" "${srv[@]}" -p "$LAB_SRV_PORT" -l "$LAB_REDIR_PORT" -b 0.0.0.0 \
        -k "$LAB_PASSWORD" -m "$LAB_METHOD" --socks5-port "$LAB_SOCKS_PORT" \
        --socks5-address "$LAB_LAN_GW" "$@"
    LAB_REDIR_PID=$LAB_PID
    lab_wait_port box "$LAB_REDIR_PORT" "$LAB_PID"
}

# lab_otb_tunnel LOGNAME PORT [ARGS...]: start otb-tunnel in the box on PORT
# (every box address unless ARGS has its own -b) towards the first server,
# and wait for its UDP socket. Its pid is left in LAB_PID.
lab_otb_tunnel() {
    local name=$1 port=$2 bin
    local -a bind=()
    shift 2
    bin=$(lab_bin otb-tunnel)
    [[ " $* " == *" -b "* ]] || bind=(-b 0.0.0.0)
    lab_bg box "$name" "$bin" -s "$LAB_SRV_ADDR" -p "$LAB_SRV_PORT" -k "$LAB_PASSWORD" \
        -m "$LAB_METHOD" "${bind[@]}" -l "$port" "$@"
    lab_wait_udp box "$port" "$LAB_PID"
}

# The usual pair: one otb-server, one otb-redir, LAN TCP intercepted by the
# firewall helper. Pids in LAB_SERVER_PID and LAB_REDIR_PID.
lab_otb_start() {
    lab_otb_server "$LAB_SRV_ADDR" "$LAB_SRV_PORT" otb-server
    LAB_SERVER_PID=$LAB_PID
    lab_otb_redir "$@"
    lab_intercept "$LAB_REDIR_PORT"
}

# The baseline: shadowsocks-libev's ss-server and ss-redir forced onto MPTCP
# with mptcpize, same addresses, ports, password and method. mptcpize replaces
# LD_PRELOAD, so with LAB_PRELOAD (more libraries to preload) its library is
# preloaded directly instead, after them: its socket() does not pass the call
# on to a later library. ARGS go to ss-server (e.g. -u).
lab_ss_start() {
    local -a wrap=(mptcpize run)
    [[ -z ${LAB_PRELOAD:-} ]] ||
        wrap=(env "LD_PRELOAD=$LAB_PRELOAD:$(mptcpize run printenv LD_PRELOAD)")
    lab_bg srv ss-server "${wrap[@]}" ss-server -s "$LAB_SRV_ADDR" -p "$LAB_SRV_PORT" \
        -k "$LAB_PASSWORD" -m "$LAB_METHOD" -t 60 "$@"
    LAB_SERVER_PID=$LAB_PID
    lab_bg box ss-redir "${wrap[@]}" ss-redir -s "$LAB_SRV_ADDR" -p "$LAB_SRV_PORT" \
        -l "$LAB_REDIR_PORT" -b 0.0.0.0 -k "$LAB_PASSWORD" -m "$LAB_METHOD" -t 60
    LAB_REDIR_PID=$LAB_PID
    lab_wait_port srv "$LAB_SRV_PORT" "$LAB_SERVER_PID"
    lab_wait_port box "$LAB_REDIR_PORT" "$LAB_REDIR_PID"
}

# Stop a process started with lab_bg and reap it (SIGTERM, then SIGKILL).
lab_stop() { otb_stop_pid "$1" 5; }

# LAN TCP interception with the project's firewall helper, run in the box,
# with no host configuration file and its state kept in the lab directory
# (its rules go with the box namespace).
lab_intercept() {
    local fw
    fw="$(lab_src)/otb-redir/otb-firewall"
    [[ -f $fw ]] || lab_fail "firewall helper not found: $fw"
    printf '{"server": ["%s", "%s"], "local_port": %s, "firewall": {"lan": "lan0"}}\n' \
        "$LAB_SRV_ADDR" "$LAB_SRV_ADDR2" "$1" >"$LAB_DIR/firewall.json"
    lab_run box env OTB_FW_STATE_DIR="$LAB_DIR/fw-state" \
        bash "$fw" up --config "$LAB_DIR/firewall.json" >"$LAB_DIR/firewall.log" 2>&1 ||
        lab_fail "otb-firewall up failed: $(cat "$LAB_DIR/firewall.log")"
}

# The same interception as a bare nft rule: the benchmarks put otb-redir and
# ss-redir behind exactly the same rule.
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

# lab_counters ROLE TABLE NAME...: an nft table "inet TABLE" in ROLE with the
# named counters (the caller adds the chains that count into them).
lab_counters() {
    local role=$1 table=$2 name rules=""
    shift 2
    for name in "$@"; do rules+="add counter inet $table $name"$'\n'; done
    lab_run "$role" nft -f - <<<"add table inet $table"$'\n'"$rules"
}

# lab_counter ROLE TABLE NAME: the packets counted so far.
lab_counter() {
    lab_run "$1" nft list counter inet "$2" "$3" | awk '$1 == "packets" { print $2 }'
}

# WAN number of the initial (MP_CAPABLE) subflow of the busiest MPTCP
# connection of the box: the subflow a failover test must cut.
lab_initial_wan() {
    lab_run box ss -tniH state established | awk '
        /^[^ \t]/ { local = $(NF - 1); next }
        /tcp-ulp-mptcp/ && /flags:M/ {
            b = 0
            if (match($0, /bytes_acked:[0-9]+/)) b += substr($0, RSTART + 12, RLENGTH - 12)
            if (match($0, /bytes_received:[0-9]+/)) b += substr($0, RSTART + 15, RLENGTH - 15)
            if (b > best && match(local, /^10\.0\.[0-9]+\.1/)) {
                best = b
                split(substr(local, RSTART, RLENGTH), o, ".")
                wan = o[3]
            }
        }
        END { if (wan == "") exit 1; print wan }'
}

# --- traffic on the "Internet" side -------------------------------------------

LAB_SOURCE_PORT=7001
LAB_SINK_PORT=7002
LAB_HTTP_PORT=8080

# lab_bulk_servers FILE: a source sending FILE to every connection and a sink
# recording "sha256 bytes" of every upload in $LAB_DIR/sink.results.
lab_bulk_servers() {
    local tool
    tool=$(lab_tool)
    : >"$LAB_DIR/sink.results"
    lab_bg inet source "$LAB_PY" "$tool" source "$LAB_SOURCE_PORT" "$1"
    lab_bg inet sink "$LAB_PY" "$tool" sink "$LAB_SINK_PORT" "$LAB_DIR/sink.results" \
        --trace "$LAB_DIR/trace.up"
    lab_wait_port inet "$LAB_SOURCE_PORT"
    lab_wait_port inet "$LAB_SINK_PORT"
}

# lab_http_server: the HTTP server of the "Internet" (peers in http.peers).
lab_http_server() {
    lab_bg inet http "$LAB_PY" "$(lab_tool)" http-serve "$LAB_HTTP_PORT" "$LAB_DIR/http.peers"
    lab_wait_port inet "$LAB_HTTP_PORT" "$LAB_PID"
}

# lab_random_file MIB: a file of random bytes in the lab directory.
lab_random_file() {
    head -c "$(($1 * 1048576))" /dev/urandom >"$LAB_DIR/data.$1M"
    printf '%s\n' "$LAB_DIR/data.$1M"
}

# lab_transfer down|up FILE CUT_AFTER TIMEOUT: transfer FILE between the LAN
# host and the Internet host through the box; CUT_AFTER seconds in (0: never)
# the WAN of the initial subflow goes down (its number left in LAB_CUT_WAN).
# Sets LAB_XFER_SHA, LAB_XFER_BYTES (as received at the far end) and
# LAB_XFER_TRACE; fails if the transfer errs or does not finish in time.
lab_transfer() {
    local dir=$1 file=$2 cut=$3 timeout=$4 tool pid out
    tool=$(lab_tool)
    out="$LAB_DIR/xfer.$dir"
    : >"$LAB_DIR/sink.results"
    if [[ $dir == down ]]; then
        LAB_XFER_TRACE="$LAB_DIR/trace.down"
        lab_run lan "$LAB_PY" "$tool" fetch "$LAB_INET_ADDR" "$LAB_SOURCE_PORT" \
            --trace "$LAB_XFER_TRACE" --timeout "$timeout" >"$out" 2>&1 &
    else
        LAB_XFER_TRACE="$LAB_DIR/trace.up"
        lab_run lan "$LAB_PY" "$tool" send "$LAB_INET_ADDR" "$LAB_SINK_PORT" "$file" \
            --timeout "$timeout" >"$out" 2>&1 &
    fi
    pid=$!
    LAB_CUT_WAN=""
    if [[ $cut != 0 ]]; then
        # The cut comes $cut s after the connection is up: starting Python can
        # take seconds on a loaded machine.
        local i
        for ((i = 0; i < 150; i++)); do
            lab_initial_wan >/dev/null && break
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        sleep "$cut"
        kill -0 "$pid" 2>/dev/null || lab_fail "$dir transfer ended before the cut: $(cat "$out")"
        LAB_CUT_WAN=$(lab_initial_wan) || lab_fail "no MPTCP connection with an initial subflow in the box"
        lab_wan_down "$LAB_CUT_WAN"
        lab_say "$dir: WAN$LAB_CUT_WAN (initial subflow) down at ${cut}s"
    fi
    wait "$pid" || lab_fail "$dir transfer failed: $(cat "$out")"
    if [[ $dir == down ]]; then
        read -r LAB_XFER_SHA LAB_XFER_BYTES LAB_XFER_SECS <"$out"
    else
        read -r _ _ LAB_XFER_SECS <"$out"
        lab_wait_file "$LAB_DIR/sink.results" 10
        read -r LAB_XFER_SHA LAB_XFER_BYTES <"$LAB_DIR/sink.results"
    fi
}

# Wait until a file is not empty.
lab_wait_file() {
    local i
    for ((i = 0; i < $2 * 10; i++)); do
        [[ -s $1 ]] && return 0
        sleep 0.1
    done
    lab_fail "nothing in $1 after $2s"
}

# Longest run of 100 ms slots without a received byte in a trace, in ms.
lab_trace_gap() {
    awk '$2 == 0 { run++; if (run > max) max = run; next } { run = 0 }
         END { print (max + 0) * 100 }' "$1"
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

# --- silent WAN failures ------------------------------------------------------
# The common failure in the field: the modem keeps its Ethernet link up while
# its line passes nothing. The box's link, routes, MPTCP endpoint and ARP all
# stay as they were; only IP packets vanish, dropped by nft on the srv end of
# the WAN's veth (ARP is not IP: the inet family never sees it).

# lab_blackhole N on|off: WAN N passes no IP packet, either way.
lab_blackhole() { lab_hole "$1" "$2" "labhole$1" "" ""; }

# lab_blackhole_server N on|off: WAN N drops only what goes between the box
# and the server addresses; ARP, the WAN's own subnet and the rest pass (a
# provider that filters or loses the way to the server).
lab_blackhole_server() {
    lab_hole "$1" "$2" "labsrvhole$1" "ip daddr { $LAB_SRV_ADDR, $LAB_SRV_ADDR2 }" \
        "ip saddr { $LAB_SRV_ADDR, $LAB_SRV_ADDR2 }"
}

# lab_hole N on|off TABLE IN_MATCH OUT_MATCH: the nft table TABLE in srv drops
# the IP packets of WAN N matching IN_MATCH (from the box) and OUT_MATCH (to
# the box); "off" deletes it. Both are idempotent.
lab_hole() {
    local n=$1 state=$2 table=$3
    case $state in
    on)
        lab_run srv nft -f - <<EOF2 || lab_fail "lab_hole: nft refused the rules of wan$n"
add table inet $table
delete table inet $table
table inet $table {
    chain from_box {
        type filter hook prerouting priority -300; policy accept;
        iifname "wan$n" $4 drop
    }
    chain to_box {
        type filter hook postrouting priority 300; policy accept;
        oifname "wan$n" $5 drop
    }
}
EOF2
        ;;
    off) lab_run srv nft delete table inet "$table" 2>/dev/null || true ;;
    *) lab_fail "lab_hole: on or off, not '$state'" ;;
    esac
}

# lab_flap N PERIOD SECONDS: WAN N black-holed and back every PERIOD seconds
# (whole seconds) for SECONDS, starting black-holed; left working at the end.
# Meant to run in the background.
lab_flap() {
    local n=$1 period=$2 secs=$3 t state=on
    for ((t = 0; t < secs; t += period)); do
        lab_blackhole "$n" "$state"
        sleep "$period"
        if [[ $state == on ]]; then state=off; else state=on; fi
    done
    lab_blackhole "$n" off
}

# lab_wans SOCKET: the WANs of a program's status document, one line each:
# "name state rtt_ms loss_pct probes_sent probes_lost tx_bytes rx_bytes".
# Fails (status 1, the reason on stderr) when the program has no WAN tracking.
lab_wans() { "$LAB_PY" -I -S "$(lab_src)/test/lib/otbpeer.py" wans "$1"; }

# lab_wan_state SOCKET N: up, down or unknown ("none" without WAN tracking,
# "absent" when the program does not list wanN).
lab_wan_state() {
    local out
    out=$(lab_wans "$1" 2>/dev/null) || { echo none; return 0; }
    awk -v w="wan$2" '$1 == w { print $2; f = 1 } END { if (!f) print "absent" }' <<<"$out"
}

# lab_wait_wan_state SOCKET N STATE SECS: wait until wanN is in STATE; the
# milliseconds waited are left in LAB_WAITED_MS. Returns 1 after SECS, or at
# once when the program has no WAN tracking (LAB_WAITED_MS is then "never").
lab_wait_wan_state() {
    local sock=$1 n=$2 want=$3 secs=$4 t0 now st
    t0=$(date +%s%N)
    while :; do
        st=$(lab_wan_state "$sock" "$n")
        now=$(date +%s%N)
        LAB_WAITED_MS=$(((now - t0) / 1000000))
        [[ $st == "$want" ]] && return 0
        if [[ $st == none ]] || ((now - t0 > secs * 1000000000)); then
            LAB_WAITED_MS=never
            return 1
        fi
        sleep 0.1
    done
}

# lab_conn_series OUT COUNT INTERVAL [ARGS...]: in the background, COUNT new
# connections from the LAN host to the Internet host's HTTP server
# (lab_http_server), one every INTERVAL s; labtool's http-series line in OUT,
# one line per connection in OUT.log; ARGS go to http-series (--timeout S,
# --start-at TIME: see lab_time_in). Its pid is left in LAB_PID.
lab_conn_series() {
    local out=$1 count=$2 interval=$3
    shift 3
    lab_run lan "$LAB_PY" "$(lab_tool)" http-series "$LAB_INET_ADDR" "$LAB_HTTP_PORT" "$count" \
        "$interval" --log "$out.log" "$@" >"$out" 2>&1 &
    LAB_PID=$!
}

# lab_time_in SECS: the Unix time SECS seconds from now (a start time that a
# client started now will meet however long its start-up takes).
lab_time_in() { awk -v n="$(date +%s.%N)" -v d="$1" 'BEGIN { printf "%.3f\n", n + d }'; }

# lab_sleep_until TIME: sleep until the Unix time TIME (at once if past).
lab_sleep_until() {
    sleep "$(awk -v n="$(date +%s.%N)" -v t="$1" 'BEGIN { d = t - n; printf "%.3f\n", (d > 0 ? d : 0) }')"
}

# lab_udp_peer ROLE ARGS...: test/lab/udp_peer.py in ROLE, bounded.
lab_udp_peer() {
    local role=$1
    shift
    lab_run "$role" timeout 120 "$LAB_PY" -I -S "$(lab_src)/test/lab/udp_peer.py" "$@"
}

# lab_udp_losses COUNT UP_SEEN DOWN_SEEN: a flow of COUNT datagrams from the
# SEEN files of its reflector and of the flow (udp_peer.py reflect / flow):
# "up_lost N up_copies N down_lost N down_copies N".
lab_udp_losses() { "$LAB_PY" -I -S "$(lab_src)/test/lab/udp_peer.py" losses "$@"; }

# lab_flow_ok OUTPUT RATE MAX_GAP_MS: a udp_peer flow or dns line shows a
# flow that came back: something received, no silence over MAX_GAP_MS and no
# more lost than the longest silence explains (answers came back until the
# end). Prints what is wrong and returns 1 otherwise.
lab_flow_ok() {
    local sent received lost gap
    read -r _ sent _ received _ lost _ gap _ <<<"$1"
    [[ $gap =~ ^[0-9]+$ ]] || { echo "no figures: $1"; return 1; }
    ((received > 0)) || { echo "nothing came back"; return 1; }
    ((gap <= $3)) || { echo "${gap} ms without an answer (max $3)"; return 1; }
    ((lost * 1000 <= (gap + 1000) * $2)) ||
        { echo "$lost of $sent lost, more than a ${gap} ms gap explains"; return 1; }
}

# lab_endpoint_flags N: the flags of the box's MPTCP endpoint of WAN N
# ("absent" when it was withdrawn).
lab_endpoint_flags() {
    local line
    line=$(lab_run box ip mptcp endpoint show id "$1" 2>/dev/null) || line=""
    [[ -n $line ]] || { echo absent; return 0; }
    awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^(subflow|signal|backup|fullmesh)$/) f = f " " $i }
         END { print (f == "" ? "none" : substr(f, 2)) }' <<<"$line"
}
