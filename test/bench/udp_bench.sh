#!/usr/bin/env bash
# Benchmark: UDP through otb-tunnel + otb-server against ss-tunnel + ss-server
# (shadowsocks-libev), same machine, same run, loopback only. Not a
# pass/fail test: it prints a table with the targets next to the measurements.
#
#   packets/s : udp_pingpong pps -> tunnel -> server -> udp_pingpong echo,
#               200-byte datagrams, BENCH_WINDOW in flight over BENCH_FLOWS
#               sockets (one association each)
#   latency   : udp_pingpong rtt, one 200-byte datagram in flight, p50/p99
#               over every round trip of every round; "added" subtracts the
#               same percentile of the echo server reached directly
#   CPU       : user+system time of tunnel and server during the packets/s
#               run, per round trip (robust when other load shares the CPUs)
#
# Both chains run side by side and are measured in alternation, one while
# the other idles: packets/s in one-second slices (otb, ss, otb, ...) and
# latency in short batches (direct, otb, ss, direct, ...), so that
# background load on a shared machine hits them alike.
# Packets/s and CPU are medians of BENCH_ROUNDS rounds. Every run is printed.
#
# Usage:
#   bash test/bench/udp_bench.sh
# Environment:
#   OTB_BUILD        build directory with otb-server and otb-tunnel (a Release
#                    build). Unset: one is configured and built in
#                    BENCH_BUILD_DIR (default /tmp/otb-udpbench-build)
#   OTB_SRC          source tree (default: two levels above this script)
#   BENCH_SECONDS    one-second packets/s slices per chain and round (default 5)
#   BENCH_ROUNDS     rounds of (otb, ss); median reported (default 3)
#   BENCH_RTT_COUNT  round trips per chain and round (default 20000), in
#   BENCH_RTT_BATCHES interleaved batches (default 10)
#   BENCH_WINDOW     datagrams in flight for packets/s (default 64)
#   BENCH_FLOWS      sockets sharing them (default 8)
#   BENCH_METHODS    methods (default "chacha20-ietf-poly1305 aes-256-gcm")
#   BENCH_SUMMARY    if set, one tab-separated row per metric is appended to
#                    this file (metric, otb, ss, ratio, target, met yes/no/-),
#                    for test/bench/run-all.sh
set -euo pipefail

BENCH_SECONDS=${BENCH_SECONDS:-5}
BENCH_ROUNDS=${BENCH_ROUNDS:-3}
BENCH_RTT_COUNT=${BENCH_RTT_COUNT:-20000}
BENCH_RTT_BATCHES=${BENCH_RTT_BATCHES:-10}
BENCH_WINDOW=${BENCH_WINDOW:-64}
BENCH_FLOWS=${BENCH_FLOWS:-8}
BENCH_METHODS=${BENCH_METHODS:-"chacha20-ietf-poly1305 aes-256-gcm"}
BENCH_SIZE=200

# Targets of issue 4.
TARGET_PPS_RATIO=1.5 # otb / ss, at least
# and added p99 latency at most ss-libev's

# shellcheck source=test/bench/bench_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/bench_lib.sh"
bench_init udp_bench otb-udpbench
RESULTS=$WORK/results # one line per run: chain method metric value
SAMPLES=$WORK/samples # SAMPLES.CHAIN.METHOD: round trip times, one a line

build() {
    bench_build /tmp/otb-udpbench-build otb-server otb-tunnel
    bench_cc udp_pingpong
    PINGPONG=$WORK/udp_pingpong
}

free_port() {
    local port
    otb_ports udp port
    echo "$port"
}

# start NAME CMD...: background process, logged; waits for UDP PORT if given
# in WAIT_PORT.
start() {
    local name=$1
    shift
    "$@" >"$WORK/$name.log" 2>&1 &
    PIDS+=($!)
    LAST_PID=$!
    otb_wait_port udp "$WAIT_PORT" 5 "$LAST_PID"
}

stop_chains() {
    kill "${CHAIN_PIDS[@]}" 2>/dev/null || true
    wait "${CHAIN_PIDS[@]}" 2>/dev/null || true
}

# start_chain otb|ss METHOD: sets TUNNEL_PORT, TUNNEL_PID, SERVER_PID.
start_chain() {
    local chain=$1 m=$2 sport
    sport=$(free_port)
    TUNNEL_PORT=$(free_port)
    if [ "$chain" = otb ]; then
        otb_acl_file "$WORK/acl"
        WAIT_PORT=$sport start "otb-server" "$OTB_BUILD/otb-server/otb-server" -s 127.0.0.1 \
            -p "$sport" -k "$PASSWORD" -m "$m" -U --acl "$WORK/acl"
        SERVER_PID=$LAST_PID
        WAIT_PORT=$TUNNEL_PORT start "otb-tunnel" "$OTB_BUILD/otb-tunnel/otb-tunnel" \
            -s 127.0.0.1 -p "$sport" -b 127.0.0.1 -l "$TUNNEL_PORT" -k "$PASSWORD" -m "$m" \
            -L "127.0.0.1:$ECHO_PORT"
    else
        WAIT_PORT=$sport start "ss-server" ss-server -s 127.0.0.1 -p "$sport" -k "$PASSWORD" \
            -m "$m" -U
        SERVER_PID=$LAST_PID
        WAIT_PORT=$TUNNEL_PORT start "ss-tunnel" ss-tunnel -s 127.0.0.1 -p "$sport" \
            -b 127.0.0.1 -l "$TUNNEL_PORT" -k "$PASSWORD" -m "$m" -U -L "127.0.0.1:$ECHO_PORT"
    fi
    TUNNEL_PID=$LAST_PID
    CHAIN_PIDS+=("$SERVER_PID" "$TUNNEL_PID")
}

# cpu_ticks PID...: their user+system clock ticks so far.
cpu_ticks() {
    local pid sum=0
    for pid in "$@"; do
        sum=$((sum + $(awk '{ print $14 + $15 }' "/proc/$pid/stat")))
    done
    echo "$sum"
}

# measure_pps CHAIN METHOD PORT PID...: one packets/s run, appended to
# RESULTS with the CPU the PIDs used during it.
measure_pps() {
    local chain=$1 m=$2 port=$3 pps p lost t0 t1 cpu_us=0
    shift 3
    t0=$(cpu_ticks "$@")
    pps=$("$PINGPONG" pps 127.0.0.1 "$port" "$BENCH_SECONDS" "$BENCH_SIZE" "$BENCH_WINDOW" \
        "$BENCH_FLOWS")
    t1=$(cpu_ticks "$@")
    read -r _ p _ lost <<<"$pps"
    [ "$p" -gt 0 ] && cpu_us=$(echo "($t1 - $t0) / $HZ * 1000000 / ($p * $BENCH_SECONDS)" | bc -l)
    echo "  $chain $m: $pps; relay cpu_us/round trip $(printf %.1f "$cpu_us")" >&2
    printf '%s %s pps %s\n%s %s lost %s\n%s %s cpu %s\n' "$chain" "$m" "$p" "$chain" "$m" \
        "$lost" "$chain" "$m" "$cpu_us" >>"$RESULTS"
}

# measure_pps_pair METHOD OTB_PORT SS_PORT "OTB_PIDS" "SS_PIDS": one-second
# packets/s slices, alternating; per chain the mean rate and the relays' CPU
# per round trip go to RESULTS.
measure_pps_pair() {
    local m=$1 i c out p lost t0 t1
    local -A ports=([otb]=$2 [ss]=$3) pids=([otb]=$4 [ss]=$5)
    local -A sum=([otb]=0 [ss]=0) ticks=([otb]=0 [ss]=0) lost_sum=([otb]=0 [ss]=0)
    for ((i = 0; i < BENCH_SECONDS; i++)); do
        for c in otb ss; do
            # shellcheck disable=SC2086 # a list of pids
            t0=$(cpu_ticks ${pids[$c]})
            out=$("$PINGPONG" pps 127.0.0.1 "${ports[$c]}" 1 "$BENCH_SIZE" "$BENCH_WINDOW" \
                "$BENCH_FLOWS")
            # shellcheck disable=SC2086
            t1=$(cpu_ticks ${pids[$c]})
            read -r _ p _ lost <<<"$out"
            sum[$c]=$((sum[$c] + p))
            ticks[$c]=$((ticks[$c] + t1 - t0))
            lost_sum[$c]=$((lost_sum[$c] + lost))
        done
    done
    for c in otb ss; do
        p=$((sum[$c] / BENCH_SECONDS))
        cpu=$(echo "${ticks[$c]} / $HZ * 1000000 / ${sum[$c]}" | bc -l)
        echo "  $c $m: pps $p lost ${lost_sum[$c]}; relay cpu_us/round trip $(printf %.1f "$cpu")" >&2
        printf '%s %s pps %s\n%s %s lost %s\n%s %s cpu %s\n' "$c" "$m" "$p" "$c" "$m" \
            "${lost_sum[$c]}" "$c" "$m" "$cpu" >>"$RESULTS"
    done
}

# measure_rtt METHOD DIRECT_PORT OTB_PORT SS_PORT: interleaved latency batches.
measure_rtt() {
    local m=$1 b chain port out lost
    local -A ports=([direct]=$2 [otb]=$3 [ss]=$4)
    for ((b = 0; b < BENCH_RTT_BATCHES; b++)); do
        for chain in direct otb ss; do
            port=${ports[$chain]}
            out=$("$PINGPONG" rtt 127.0.0.1 "$port" "$((BENCH_RTT_COUNT / BENCH_RTT_BATCHES))" \
                "$BENCH_SIZE" "$SAMPLES.$chain.$m")
            read -r _ _ _ _ lost _ <<<"$out"
            echo "$chain $m lost $lost" >>"$RESULTS"
        done
    done
    for chain in otb ss; do
        echo "  $chain $m latency: p50 $(percentile "$chain" "$m" 50) p99" \
            "$(percentile "$chain" "$m" 99) us so far" >&2
    done
}

percentile() { # percentile CHAIN METHOD P: over every sample so far
    sort -g "$SAMPLES.$1.$2" | awk -v p="$3" '{ v[NR] = $1 }
        END { i = int(NR * p / 100); if (i < 1) i = 1; print v[i] }'
}

median() { # median CHAIN METHOD METRIC
    awk -v c="$1" -v m="$2" -v k="$3" '$1 == c && $2 == m && $3 == k { print $4 }' "$RESULTS" |
        bench_median low
}

sum_lost() { # sum_lost CHAIN METHOD
    awk -v c="$1" -v m="$2" '$1 == c && $2 == m && $3 == "lost" { s += $4 } END { print s + 0 }' \
        "$RESULTS"
}

report() {
    local m c otb_pps ss_pps ratio cpu_ratio direct50 direct99 o50 o99 s50 s99 ok_pps ok_lat
    printf '\nUDP, %d-byte datagrams, loopback; %d in flight over %d sockets for packets/s;\n' \
        "$BENCH_SIZE" "$BENCH_WINDOW" "$BENCH_FLOWS"
    printf 'packets/s and CPU: medians of %d rounds; latency (us): percentiles of %d interleaved\n' \
        "$BENCH_ROUNDS" "$((BENCH_ROUNDS * BENCH_RTT_COUNT))"
    printf 'round trips per chain, added = minus the same percentile of the direct echo\n\n'
    printf '%-24s %-16s %10s %8s %8s %9s %9s %9s %6s\n' method chain pkts/s p50 p99 "added50" \
        "added99" "cpu_us/rt" lost
    for m in $BENCH_METHODS; do
        direct50=$(percentile direct "$m" 50)
        direct99=$(percentile direct "$m" 99)
        for c in otb ss; do
            printf '%-24s %-16s %10s %8s %8s %9.1f %9.1f %9.1f %6s\n' "$m" \
                "$([ $c = otb ] && echo otb-tunnel+server || echo ss-tunnel+server)" \
                "$(median $c "$m" pps)" "$(percentile $c "$m" 50)" "$(percentile $c "$m" 99)" \
                "$(echo "$(percentile $c "$m" 50) - $direct50" | bc -l)" \
                "$(echo "$(percentile $c "$m" 99) - $direct99" | bc -l)" \
                "$(median $c "$m" cpu)" "$(sum_lost $c "$m")"
        done
        otb_pps=$(median otb "$m" pps)
        ss_pps=$(median ss "$m" pps)
        ratio=$(echo "scale=2; $otb_pps / $ss_pps" | bc -l)
        cpu_ratio=$(echo "scale=2; $(median ss "$m" cpu) / $(median otb "$m" cpu)" | bc -l)
        o99=$(percentile otb "$m" 99)
        s99=$(percentile ss "$m" 99)
        o50=$(percentile otb "$m" 50)
        s50=$(percentile ss "$m" 50)
        ok_pps=$(echo "$ratio >= $TARGET_PPS_RATIO" | bc -l)
        ok_lat=$(echo "$o99 <= $s99" | bc -l)
        printf '%-24s packets/s ratio otb/ss = %s (target >= %s: %s); CPU per round trip ss/otb = %s; added p99 otb %.1f vs ss %.1f (target <=: %s); p50 %s vs %s\n' \
            "$m" "$ratio" "$TARGET_PPS_RATIO" "$([ "$ok_pps" = 1 ] && echo met || echo NOT met)" \
            "$cpu_ratio" \
            "$(echo "$o99 - $direct99" | bc -l)" "$(echo "$s99 - $direct99" | bc -l)" \
            "$([ "$ok_lat" = 1 ] && echo met || echo NOT met)" "$o50" "$s50"
        bench_summary "udp $m packets/s" "$otb_pps" "$ss_pps" "$(printf %.2f "$ratio")" \
            ">= ${TARGET_PPS_RATIO}x ss" "$([ "$ok_pps" = 1 ] && echo yes || echo no)"
        bench_summary "udp $m latency p50, us" "$o50" "$s50" "$(bench_ratio "$o50" "$s50")" - -
        bench_summary "udp $m latency p99, us" "$o99" "$s99" "$(bench_ratio "$o99" "$s99")" \
            "otb <= ss" "$([ "$ok_lat" = 1 ] && echo yes || echo no)"
    done
    for m in $BENCH_METHODS; do
        printf '%-24s %-16s %10s %8s %8s\n' "$m" "direct echo" "$(median direct - pps)" \
            "$(percentile direct "$m" 50)" "$(percentile direct "$m" 99)"
    done
}

main() {
    need_tools ss-server ss-tunnel ss cc cmake python3 bc
    build
    ECHO_PORT=$(free_port)
    WAIT_PORT=$ECHO_PORT start echo "$PINGPONG" echo "$ECHO_PORT"
    : >"$RESULTS"
    echo "runs:" >&2
    for ((r = 0; r < BENCH_ROUNDS; r++)); do
        measure_pps direct - "$ECHO_PORT"
        for m in $BENCH_METHODS; do
            CHAIN_PIDS=()
            start_chain otb "$m"
            local otb_port=$TUNNEL_PORT otb_pids="$TUNNEL_PID $SERVER_PID"
            start_chain ss "$m"
            local ss_port=$TUNNEL_PORT ss_pids="$TUNNEL_PID $SERVER_PID"
            measure_pps_pair "$m" "$otb_port" "$ss_port" "$otb_pids" "$ss_pids"
            measure_rtt "$m" "$ECHO_PORT" "$otb_port" "$ss_port"
            stop_chains
        done
    done
    report
}

main "$@"
