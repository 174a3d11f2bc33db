#!/usr/bin/env bash
# Benchmark: the Shadowsocks 2022 methods against the same build's SIP004
# methods and against shadowsocks-libev, side by side in one run, loopback
# only. Not a pass/fail test: it prints a table with the targets next to the
# measurements. Three chains per method family:
#
#   otb22  iperf3 / udp_pingpong -> otb-tunnel -u -L -> otb-server -u, 2022 method
#   otb    the same chain with the family's SIP004 method
#   ss     ss-tunnel -u -L -> ss-server -u (shadowsocks-libev), SIP004 method
#
#   TCP throughput : iperf3 up and down (-R) through the chain, Mbit/s
#   CPU per GB     : the server process's utime+stime during each iperf3 run
#                    per 1e9 payload bytes
#   UDP packets/s  : udp_pingpong pps, 200-byte datagrams, BENCH_WINDOW in
#                    flight over BENCH_FLOWS sockets
#   UDP session    : the server's VmRSS growth with BENCH_SESSIONS sessions
#                    (one datagram from each of as many sockets, echoed, the
#                    sockets kept open), per session; and sizeof(struct
#                    otb_udp_assoc), the heap a session takes by construction
#
# The chains run in turn within each round (otb22, otb, ss for one family,
# then the next family), so the load of a shared machine hits them alike;
# the table shows medians of BENCH_ROUNDS rounds. Every run is printed.
# Targets (issue 12): 2022 throughput within 5% of SIP004 (ratio >= 0.95),
# at most 512 bytes of server memory per UDP session.
#
# Usage:
#   bash test/bench/ss2022_bench.sh
# Environment:
#   OTB_BUILD        build directory with otb-server and otb-tunnel (a Release
#                    build). Unset: one is configured and built in
#                    BENCH_BUILD_DIR (default /tmp/otb-bench-build)
#   OTB_SRC          source tree (default: two levels above this script)
#   BENCH_SECONDS    length of each iperf3 run (default 5)
#   BENCH_ROUNDS     rounds; median reported (default 3)
#   BENCH_FAMILIES   SIP004:2022 method pairs (default
#                    "aes-256-gcm:2022-blake3-aes-256-gcm
#                     chacha20-ietf-poly1305:2022-blake3-chacha20-poly1305")
#   BENCH_UDP_SECONDS packets/s run per chain and round (default 2)
#   BENCH_WINDOW, BENCH_FLOWS  datagrams in flight, sockets (default 64, 8)
#   BENCH_SESSIONS   UDP sessions for the memory reading (default 2000)
#   BENCH_SUMMARY    if set, one tab-separated row per metric is appended to
#                    this file (metric, 2022, SIP004 or ss, ratio, target,
#                    met yes/no/-), for test/bench/run-all.sh
set -euo pipefail

BENCH_SECONDS=${BENCH_SECONDS:-5}
BENCH_ROUNDS=${BENCH_ROUNDS:-3}
BENCH_FAMILIES=${BENCH_FAMILIES:-"aes-256-gcm:2022-blake3-aes-256-gcm chacha20-ietf-poly1305:2022-blake3-chacha20-poly1305"}
BENCH_UDP_SECONDS=${BENCH_UDP_SECONDS:-2}
BENCH_WINDOW=${BENCH_WINDOW:-64}
BENCH_FLOWS=${BENCH_FLOWS:-8}
BENCH_SESSIONS=${BENCH_SESSIONS:-2000}
BENCH_SIZE=200
TARGET_RATIO=0.95       # 2022 / SIP004 throughput, at least
TARGET_SESSION_BYTES=512 # server memory per UDP session, at most
CHAINS=(otb22 otb ss)

# shellcheck source=test/bench/bench_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/bench_lib.sh"
bench_init ss2022_bench otb-ss22bench
RESULTS=$WORK/results # one line per run: chain family metric value

build() {
    bench_build /tmp/otb-bench-build otb-server otb-tunnel
    bench_cc udp_pingpong
    PINGPONG=$WORK/udp_pingpong
    # The session's size by construction, from the build's own headers.
    printf '#include "otb_udprelay.h"\nint main(void) { printf("%%zu\\n", sizeof(struct otb_udp_assoc)); return 0; }\n' \
        >"$WORK/assoc_size.c"
    cc -std=gnu11 -I"$OTB_SRC/common" -I"$OTB_BUILD/common" -o "$WORK/assoc_size" \
        "$WORK/assoc_size.c" 2>"$WORK/assoc_size.log" || die "cannot build assoc_size"
    ASSOC_BYTES=$("$WORK/assoc_size")
}

# psk_of METHOD: a base64 PSK of the method's key length.
psk_of() {
    local len=32
    [[ $1 == *aes-128* ]] && len=16
    head -c "$len" /dev/urandom | base64 -w0
}

# start NAME PROTO PORT CMD...: background process, logged, until PORT is bound.
start() {
    local name=$1 proto=$2 port=$3
    shift 3
    "$@" >"$WORK/$name.log" 2>&1 &
    PIDS+=($!)
    LAST_PID=$!
    otb_wait_port "$proto" "$port" 10 "$LAST_PID"
}

# start_chain CHAIN METHOD: sets TUNNEL_PORT, SERVER_PID, TUNNEL_PID.
start_chain() {
    local chain=$1 m=$2 sport secret
    otb_ports sport TUNNEL_PORT
    if [ "$chain" = ss ]; then
        start ss-server tcp "$sport" ss-server -s 127.0.0.1 -p "$sport" -k "$PASSWORD" \
            -m "$m" -u -t 600
        SERVER_PID=$LAST_PID
        start ss-tunnel tcp "$TUNNEL_PORT" ss-tunnel -s 127.0.0.1 -p "$sport" -b 127.0.0.1 \
            -l "$TUNNEL_PORT" -k "$PASSWORD" -m "$m" -u -t 600 -L "127.0.0.1:$TARGET_PORT"
    else
        secret=(-k "$PASSWORD")
        [ "$chain" = otb22 ] && secret=(--key "$(psk_of "$m")")
        start otb-server tcp "$sport" "$OTB_BUILD/otb-server/otb-server" -s 127.0.0.1 \
            -p "$sport" "${secret[@]}" -m "$m" -u -t 600 --acl "$WORK/acl"
        SERVER_PID=$LAST_PID
        start otb-tunnel tcp "$TUNNEL_PORT" "$OTB_BUILD/otb-tunnel/otb-tunnel" -s 127.0.0.1 \
            -p "$sport" -b 127.0.0.1 -l "$TUNNEL_PORT" "${secret[@]}" -m "$m" -u -t 600 \
            --no-wan-health -L "127.0.0.1:$TARGET_PORT"
    fi
    TUNNEL_PID=$LAST_PID
    otb_wait_port udp "$TUNNEL_PORT" 10 "$TUNNEL_PID"
}

stop_chain() {
    kill "$TUNNEL_PID" "$SERVER_PID" 2>/dev/null || true
    wait "$TUNNEL_PID" "$SERVER_PID" 2>/dev/null || true
}

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

# tcp_run CHAIN FAMILY DIR: one iperf3 run; records Mbit/s and server s/GB.
tcp_run() {
    local chain=$1 fam=$2 dir=$3 rflag=() json t0 t1 bytes bps
    [ "$dir" = down ] && rflag=(-R)
    json=$WORK/iperf3.json
    t0=$(cpu_ticks "$SERVER_PID")
    timeout $((BENCH_SECONDS + 60)) iperf3 -c 127.0.0.1 -p "$TUNNEL_PORT" -t "$BENCH_SECONDS" \
        "${rflag[@]}" -J >"$json" 2>"$WORK/iperf3-client.log" ||
        die "iperf3 failed ($chain $fam $dir): $(jq -r '.error // empty' "$json" 2>/dev/null)"
    t1=$(cpu_ticks "$SERVER_PID")
    bytes=$(jq '.end.sum_received.bytes' "$json")
    bps=$(jq '.end.sum_received.bits_per_second' "$json")
    awk -v c="$chain" -v f="$fam" -v d="$dir" -v b="$bytes" -v bps="$bps" -v t="$((t1 - t0))" \
        -v hz="$HZ" 'BEGIN { printf "%s %s %s_mbps %.0f\n%s %s %s_sgb %.3f\n", c, f, d,
                     bps / 1e6, c, f, d, (t / hz) / (b / 1e9) }' >>"$RESULTS"
}

# udp_run CHAIN FAMILY: one packets/s run.
udp_run() {
    local out p
    out=$("$PINGPONG" pps 127.0.0.1 "$TUNNEL_PORT" "$BENCH_UDP_SECONDS" "$BENCH_SIZE" \
        "$BENCH_WINDOW" "$BENCH_FLOWS")
    read -r _ p _ _ <<<"$out"
    echo "$1 $2 pps $p" >>"$RESULTS"
}

# round_chain CHAIN FAMILY METHOD: a fresh chain, TCP up and down, UDP.
round_chain() {
    start_chain "$1" "$3"
    tcp_run "$1" "$2" up
    tcp_run "$1" "$2" down
    udp_run "$1" "$2"
    stop_chain
    awk -v c="$1" -v f="$2" '$1 == c && $2 == f { v[$3] = $4 }
        END { printf "  %-5s %-24s up %6s Mbit/s %6s s/GB  down %6s Mbit/s %6s s/GB  udp %7s pkt/s\n",
              c, f, v["up_mbps"], v["up_sgb"], v["down_mbps"], v["down_sgb"], v["pps"] }' \
        <(tac "$RESULTS" | awk '!seen[$1 FS $2 FS $3]++')
}

# sessions_run CHAIN METHOD: the server's VmRSS growth per UDP session.
sessions_run() {
    local chain=$1 before after ready="$WORK/sessions.ready" held
    start_chain "$chain" "$2"
    sleep 0.5
    before=$(rss_kb "$SERVER_PID")
    rm -f "$ready"
    python3 - "$TUNNEL_PORT" "$BENCH_SESSIONS" "$ready" <<'EOF' &
import select, socket, sys, time
port, n, ready = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
socks = []
for _ in range(n):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setblocking(False)
    s.sendto(b"x" * 32, ("127.0.0.1", port))
    socks.append(s)
    time.sleep(0.0005)  # no burst beyond the socket buffers
answered, pending, deadline = 0, set(socks), time.time() + 20
poller = select.epoll()
for s in socks:
    poller.register(s.fileno(), select.EPOLLIN)
by_fd = {s.fileno(): s for s in socks}
while pending and time.time() < deadline:
    for fd, _ in poller.poll(0.5):
        s = by_fd[fd]
        try:
            s.recv(2048)
        except BlockingIOError:
            continue
        if s in pending:
            pending.discard(s)
            answered += 1
with open(ready, "w") as f:
    f.write("%d\n" % answered)
time.sleep(30)  # keep the sessions while the reading is taken
EOF
    local helper=$!
    PIDS+=("$helper")
    otb_wait_for "the UDP sessions of $chain" 60 test -s "$ready"
    held=$(cat "$ready")
    sleep 1
    after=$(rss_kb "$SERVER_PID")
    kill "$helper" 2>/dev/null || true
    wait "$helper" 2>/dev/null || true
    stop_chain
    echo "$chain - session_bytes $(((after - before) * 1024 / BENCH_SESSIONS))" >>"$RESULTS"
    printf "  %-5s UDP sessions: %s of %s echoed; server VmRSS %s kB -> %s kB: %s B per session\n" \
        "$chain" "$held" "$BENCH_SESSIONS" "$before" "$after" \
        "$(((after - before) * 1024 / BENCH_SESSIONS))"
}

med() { # med CHAIN FAMILY METRIC
    awk -v c="$1" -v f="$2" -v k="$3" '$1 == c && $2 == f && $3 == k { print $4 }' "$RESULTS" |
        bench_median mean
}

report() {
    local pair fam m22 m04 k o22 o04 s r1 r2 met
    echo
    echo "== Shadowsocks 2022 vs SIP004 (same otb build, ${BUILD_TYPE:-?}) vs shadowsocks-libev" \
        "($(ss-server -h 2>&1 | awk 'NF { print $1, $2; exit }')), loopback"
    echo "   $BENCH_SECONDS s per iperf3 run, median of $BENCH_ROUNDS rounds, $(nproc) CPUs," \
        "load average $LOAD_START at start, $(cut -d' ' -f1 /proc/loadavg) at end"
    echo "   otb-SIP004 and ss-libev: the SIP004 method of the 2022 method's family (aes-256-gcm"
    echo "   for the AES methods, chacha20-ietf-poly1305 for the ChaCha one)"
    printf '%-52s | %9s %10s %9s | %-8s %-8s | %s\n' metric otb-2022 otb-SIP004 ss-libev \
        "2022/004" "2022/ss" "target 2022/004 >= $TARGET_RATIO"
    for pair in $BENCH_FAMILIES; do
        m04=${pair%%:*}
        m22=${pair#*:}
        fam=$m04
        for k in up_mbps down_mbps up_sgb down_sgb pps; do
            o22=$(med otb22 "$fam" "$k")
            o04=$(med otb "$fam" "$k")
            s=$(med ss "$fam" "$k")
            r1=$(bench_ratio "$o22" "$o04")
            r2=$(bench_ratio "$o22" "$s")
            case $k in
            up_mbps | down_mbps)
                met=$(bench_met "$r1" ">=" "$TARGET_RATIO") ;;
            *) met=- ;;
            esac
            printf '%-52s | %9s %10s %9s | %-8s %-8s | %s\n' \
                "$m22 $(label "$k")" "$o22" "$o04" "$s" "$r1" "$r2" "$met"
            bench_summary "2022 $m22 $(label "$k") (vs otb $m04)" "$o22" "$o04" "$r1" \
                "$([ "$met" = - ] && echo - || echo ">= ${TARGET_RATIO}x SIP004")" "$met"
        done
    done
    o22=$(med otb22 - session_bytes)
    o04=$(med otb - session_bytes)
    s=$(med ss - session_bytes)
    printf '%-52s | %9s %10s %9s | %-8s %-8s | %s\n' "UDP session, server VmRSS growth, B" \
        "$o22" "$o04" "$s" "$(bench_ratio "$o22" "$o04")" "$(bench_ratio "$o22" "$s")" \
        "(target <= $TARGET_SESSION_BYTES: $(bench_met "$o22" "<=" "$TARGET_SESSION_BYTES"))"
    printf '%-52s | %9s %10s %9s |\n' "UDP session, sizeof(struct otb_udp_assoc), B" \
        "$ASSOC_BYTES" "$ASSOC_BYTES" -
    bench_summary "UDP session server memory, B (2022 vs SIP004)" "$o22" "$o04" \
        "$(bench_ratio "$o22" "$o04")" "<= $TARGET_SESSION_BYTES B" \
        "$(bench_met "$o22" "<=" "$TARGET_SESSION_BYTES")"
    echo "   s/GB = server CPU seconds (user+system) per 1e9 payload bytes; pkt/s: $BENCH_SIZE-byte"
    echo "   datagrams, $BENCH_WINDOW in flight over $BENCH_FLOWS sockets; VmRSS growth: $BENCH_SESSIONS"
    echo "   sessions, each with its outbound socket (kernel memory not included)"
}

label() {
    case $1 in
    up_mbps) echo "TCP up, Mbit/s" ;;
    down_mbps) echo "TCP down, Mbit/s" ;;
    up_sgb) echo "TCP up, server CPU s/GB" ;;
    down_sgb) echo "TCP down, server CPU s/GB" ;;
    pps) echo "UDP, packets/s" ;;
    esac
}

main() {
    local round pair chain
    need_tools iperf3 jq ss-server ss-tunnel cc cmake python3 base64
    LOAD_START=$(cut -d' ' -f1 /proc/loadavg)
    ulimit -n "$(ulimit -Hn)" || die "cannot raise the open-file limit"
    build
    otb_acl_file "$WORK/acl"
    otb_ports TARGET_PORT
    # iperf3 (TCP) and the UDP echo share the port number: -L names one target.
    start iperf3 tcp "$TARGET_PORT" iperf3 -s -B 127.0.0.1 -p "$TARGET_PORT"
    start echo udp "$TARGET_PORT" "$PINGPONG" echo "$TARGET_PORT"
    : >"$RESULTS"
    for round in $(seq "$BENCH_ROUNDS"); do
        echo "round $round/$BENCH_ROUNDS"
        for pair in $BENCH_FAMILIES; do
            for chain in "${CHAINS[@]}"; do
                if [ "$chain" = otb22 ]; then
                    round_chain "$chain" "${pair%%:*}" "${pair#*:}"
                else
                    round_chain "$chain" "${pair%%:*}" "${pair%%:*}"
                fi
            done
        done
    done
    pair=${BENCH_FAMILIES%% *}
    echo "UDP sessions"
    sessions_run otb22 "${pair#*:}"
    sessions_run otb "${pair%%:*}"
    sessions_run ss "${pair%%:*}"
    report
}

main "$@"
