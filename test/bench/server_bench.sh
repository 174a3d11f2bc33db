#!/usr/bin/env bash
# Benchmark: otb-server against ss-server (shadowsocks-libev), same machine,
# same run, loopback only. Not a pass/fail test: it prints a table with the
# targets next to the measurements.
#
#   throughput : iperf3 -> ss-tunnel -> {otb-server | ss-server} -> iperf3 -s,
#                per method, upload and download (iperf3 -R)
#   CPU per GB : utime+stime of the server process (/proc/PID/stat) during
#                one iperf3 run, divided by the GB (1e9 bytes) it carried
#   idle memory: VmRSS of a fresh server before and after N idle proxied
#                connections (idle_conns.c through ss-tunnel), divided by N;
#                also the growth over the second N/2 alone (marginal cost,
#                without one-time costs such as replay-filter pages)
#
# The two servers run alternately (otb, ss, otb, ss...); with several rounds
# the table shows medians. Every run is also printed as it happens.
#
# Usage:
#   bash test/bench/server_bench.sh
# Environment:
#   OTB_BUILD          build directory holding otb-server/otb-server; it should be a
#                      Release build. Unset: configure and build one in
#                      BENCH_BUILD_DIR (default /tmp/otb-bench-build)
#   OTB_SRC            source tree (default: two levels above this script)
#   BENCH_SECONDS      length of each iperf3 run (default 10)
#   BENCH_ROUNDS       rounds of (otb, ss) per measurement; median reported (default 3)
#   BENCH_METHODS      space-separated methods (default "aes-256-gcm chacha20-ietf-poly1305")
#   BENCH_IDLE_CONNS   idle connections for the memory measurement (default 2000)
#   BENCH_IDLE_METHOD  method for the memory measurement (default chacha20-ietf-poly1305)
#   BENCH_SUMMARY      if set, one tab-separated row per metric is appended to
#                      this file (metric, otb, ss, ratio, target, met yes/no/-),
#                      for test/bench/run-all.sh
set -euo pipefail

BENCH_SECONDS=${BENCH_SECONDS:-10}
BENCH_ROUNDS=${BENCH_ROUNDS:-3}
BENCH_METHODS=${BENCH_METHODS:-"aes-256-gcm chacha20-ietf-poly1305"}
BENCH_IDLE_CONNS=${BENCH_IDLE_CONNS:-2000}
BENCH_IDLE_METHOD=${BENCH_IDLE_METHOD:-chacha20-ietf-poly1305}
# Targets of issue 2.
TARGET_THROUGHPUT_RATIO=1.2 # otb / ss, at least
TARGET_CPU_RATIO=0.8        # otb / ss, at most
TARGET_IDLE_BYTES=4096      # otb bytes per idle connection, at most

# shellcheck source=test/bench/bench_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/bench_lib.sh"
bench_init server_bench otb-bench
RESULTS=$WORK/results # one line per run: kind key value...
PASS=$WORK/pass       # the lines of the pass in progress
INTERRUPTED=0

# --- build -----------------------------------------------------------------

prepare_otb_server() {
    bench_build /tmp/otb-bench-build otb-server
    OTB_BIN=$OTB_BUILD/otb-server/otb-server
}

build_idle_helper() {
    bench_cc idle_conns
    IDLE_BIN=$WORK/idle_conns
}

# --- processes -------------------------------------------------------------

port_in_use() {
    [ -n "$(ss -Htan "( sport = :$1 or dport = :$1 )")" ]
}

# A free port at random in 20000-59999 (race with other programs accepted:
# a clash shows as a failed start).
free_port() {
    local p
    for _ in $(seq 100); do
        p=$((20000 + RANDOM % 40000))
        if ! port_in_use "$p" && [[ " ${USED_PORTS:-} " != *" $p "* ]]; then
            USED_PORTS="${USED_PORTS:-} $p"
            echo "$p"
            return 0
        fi
    done
    die "no free port"
}

wait_listen() { otb_wait_port tcp "$1" 10 "$2"; }

stop_pid() {
    local pid=$1 i
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    for i in "${!PIDS[@]}"; do
        [ "${PIDS[$i]}" = "$pid" ] && unset 'PIDS[i]'
    done
    return 0
}

# start_server otb|ss METHOD PORT: sets SERVER_PID.
start_server() {
    local kind=$1 method=$2 port=$3
    case $kind in
        otb) "$OTB_BIN" -s 127.0.0.1 -p "$port" -k "$PASSWORD" -m "$method" -t 600 \
                 --acl "$WORK/allow-loopback.acl" >"$WORK/otb-server.log" 2>&1 & ;;
        ss) ss-server -s 127.0.0.1 -p "$port" -k "$PASSWORD" -m "$method" -t 600 \
                >"$WORK/ss-server.log" 2>&1 & ;;
    esac
    SERVER_PID=$!
    PIDS+=("$SERVER_PID")
    wait_listen "$port" "$SERVER_PID"
}

# start_tunnel METHOD SERVER_PORT LOCAL_PORT TARGET_PORT: sets TUNNEL_PID.
start_tunnel() {
    local method=$1 sport=$2 lport=$3 tport=$4
    ss-tunnel -s 127.0.0.1 -p "$sport" -b 127.0.0.1 -l "$lport" -L "127.0.0.1:$tport" \
        -k "$PASSWORD" -m "$method" -t 600 >"$WORK/ss-tunnel.log" 2>&1 &
    TUNNEL_PID=$!
    PIDS+=("$TUNNEL_PID")
    wait_listen "$lport" "$TUNNEL_PID"
}

start_iperf_server() {
    IPERF_PORT=$(free_port)
    iperf3 -s -B 127.0.0.1 -p "$IPERF_PORT" >"$WORK/iperf3-server.log" 2>&1 &
    PIDS+=("$!")
    wait_listen "$IPERF_PORT" "$!"
}

# --- /proc readings ----------------------------------------------------------

# proc_stat PID: sets PROC_TICKS (utime + stime, clock ticks); 1 if PID has
# exited. Read in this shell, not in a command substitution, so that the
# caller can still wait for PID.
proc_stat() {
    local line f
    { read -r line <"/proc/$1/stat"; } 2>/dev/null || return 1
    read -r -a f <<<"${line##*) }" # fields from 3 (state) on
    PROC_TICKS=$((f[11] + f[12]))
    [ "${f[0]}" != Z ]
}

# 0 if PID (one of ours) still runs; PROC_TICKS is then fresh. A crash ends
# the benchmark; any other exit means a concurrent job on this shared machine
# stopped it: the pass is marked INTERRUPTED and run again.
still_up() {
    local pid=$1 st=0
    proc_stat "$pid" && return 0
    wait "$pid" 2>/dev/null || st=$?
    case $st in
        132 | 134 | 135 | 136 | 139) die "$(pid_name "$pid") (pid $pid) crashed: exit status $st" ;;
    esac
    echo "  ($(pid_name "$pid") pid $pid was stopped from outside, status $st: pass repeated)"
    INTERRUPTED=1
    return 1
}

pid_name() {
    case $1 in
        "${SERVER_PID:-}") echo server ;;
        "${TUNNEL_PID:-}") echo ss-tunnel ;;
        *) echo idle_conns ;;
    esac
}

chain_up() {
    still_up "$SERVER_PID" && still_up "$TUNNEL_PID"
}

# chain_ticks: sets SERVER_TICKS and TUNNEL_TICKS; 1 if the chain is broken.
chain_ticks() {
    still_up "$SERVER_PID" || return 1
    SERVER_TICKS=$PROC_TICKS
    still_up "$TUNNEL_PID" || return 1
    TUNNEL_TICKS=$PROC_TICKS
}

# VmRSS in kB, empty if PID is gone.
rss_kb() {
    awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || true
}

# Runs a pass until no outside stop interrupted it. Passes put their result
# lines in $PASS; only a complete pass reaches $RESULTS.
with_retries() {
    for _ in 1 2 3; do
        INTERRUPTED=0
        : >"$PASS"
        "$@"
        if [ "$INTERRUPTED" = 0 ]; then
            cat "$PASS" >>"$RESULTS"
            return 0
        fi
    done
    die "$* was stopped from outside three times"
}

# --- measurements ------------------------------------------------------------

# iperf_run KIND METHOD DIR: one iperf3 run through the tunnel; records
# "tput KIND METHOD DIR mbps cpu_s_per_gb server_util tunnel_util".
iperf_run() {
    local kind=$1 method=$2 dir=$3 rflag=() json s0 t0 s1 t1 bytes bps line
    [ "$dir" = down ] && rflag=(-R)
    json=$WORK/iperf3-$kind-$method-$dir.json
    chain_ticks || return 0
    s0=$SERVER_TICKS t0=$TUNNEL_TICKS
    if ! timeout $((BENCH_SECONDS + 60)) iperf3 -c 127.0.0.1 -p "$TUNNEL_PORT" \
        -t "$BENCH_SECONDS" "${rflag[@]}" -J >"$json" 2>"$WORK/iperf3-client.log"; then
        chain_up || return 0
        die "iperf3 failed ($kind $method $dir): $(jq -r '.error // empty' "$json" 2>/dev/null)"
    fi
    chain_ticks || return 0
    s1=$SERVER_TICKS t1=$TUNNEL_TICKS
    bytes=$(jq '.end.sum_received.bytes' "$json")
    bps=$(jq '.end.sum_received.bits_per_second' "$json")
    [ "${bytes%.*}" -gt 0 ] || die "iperf3 moved no data ($kind $method $dir)"
    line=$(awk -v k="$kind" -v m="$method" -v d="$dir" -v b="$bytes" -v bps="$bps" \
        -v s="$((s1 - s0))" -v t="$((t1 - t0))" -v hz="$HZ" -v sec="$BENCH_SECONDS" \
        'BEGIN { printf "tput %s %s %s %.0f %.3f %.0f %.0f", k, m, d, bps / 1e6,
                 (s / hz) / (b / 1e9), 100 * s / hz / sec, 100 * t / hz / sec }')
    echo "$line" >>"$PASS"
    echo "$line" | awk '{ printf "  %-4s %-24s %-4s %6s Mbit/s  %7s CPU s/GB  server %3s%% CPU  ss-tunnel %3s%% CPU\n",
                          $2, $3, $4, $5, $6, $7, $8 }'
}

# start_chain KIND METHOD TARGET_PORT: server and ss-tunnel towards TARGET_PORT.
start_chain() {
    local sport
    sport=$(free_port)
    TUNNEL_PORT=$(free_port)
    start_server "$1" "$2" "$sport"
    start_tunnel "$2" "$sport" "$TUNNEL_PORT" "$3"
}

stop_chain() {
    stop_pid "$TUNNEL_PID"
    stop_pid "$SERVER_PID"
}

throughput_pass() {
    local kind=$1 method=$2
    start_chain "$kind" "$method" "$IPERF_PORT"
    iperf_run "$kind" "$method" up
    if [ "$INTERRUPTED" = 0 ]; then
        iperf_run "$kind" "$method" down
    fi
    stop_chain
}

# idle_reading N SINK: sets READING to the server's VmRSS (kB) with N
# connections held; 1 if the chain broke.
idle_reading() {
    local n=$1 sink=$2 held
    sleep 2 # the server may still be finishing the connects it just made
    READING=$(rss_kb "$SERVER_PID")
    chain_up && [ -n "$READING" ] || return 1
    held=$(ss -Htn state established "( sport = :$sink )" | wc -l)
    [ "$held" -ge "$n" ] || die "the server dropped idle connections: $held of $n still up"
}

# idle_await FD LINE: waits for idle_conns to print LINE; 1 if the chain broke.
idle_await() {
    local reply=""
    read -r -t 150 reply <&"$1" || true
    [ "$reply" = "$2" ] && return 0
    chain_up || return 1
    die "idle_conns did not reach '$2' through the server: $(cat "$WORK/idle_conns.log")"
}

# Records "idle KIND bytes_per_conn marginal_bytes_per_conn": the growth over
# all N connections, and over the second half only (without one-time costs).
idle_record() {
    local kind=$1 n=$2 before=$3 mid=$4 after=$5 per marginal
    per=$(((after - before) * 1024 / n))
    marginal=$(((after - mid) * 1024 / (n - n / 2)))
    echo "idle $kind $per $marginal" >>"$PASS"
    printf "  %-4s idle: VmRSS %s kB -> %s kB (half) -> %s kB with %s connections:" \
        "$kind" "$before" "$mid" "$after" "$n"
    printf " %s B per connection, %s B marginal\n" "$per" "$marginal"
}

# idle_pass KIND: fresh server and tunnel, then N idle connections through
# them, with a reading half way.
idle_pass() {
    local kind=$1 n=$BENCH_IDLE_CONNS sink before mid
    sink=$(free_port)
    start_chain "$kind" "$BENCH_IDLE_METHOD" "$sink"
    sleep 0.5 # let the fresh server finish its start-up allocations
    before=$(rss_kb "$SERVER_PID")
    if ! chain_up || [ -z "$before" ]; then
        stop_chain
        return 0
    fi
    coproc IDLE { exec "$IDLE_BIN" "$TUNNEL_PORT" "$sink" "$n" 120 2>"$WORK/idle_conns.log"; }
    # shellcheck disable=SC2153 # IDLE_PID is set by coproc
    local idle_pid=$IDLE_PID idle_out=${IDLE[0]} idle_in=${IDLE[1]}
    PIDS+=("$idle_pid")
    if idle_await "$idle_out" "half $((n / 2))" && idle_reading $((n / 2)) "$sink"; then
        mid=$READING
        echo >&"$idle_in" # on to N
        if idle_await "$idle_out" "ready $n" && idle_reading "$n" "$sink"; then
            idle_record "$kind" "$n" "$before" "$mid" "$READING"
        fi
    fi
    exec {idle_in}>&- || true # bash closed it already if idle_conns ended
    stop_pid "$idle_pid"
    stop_chain
}

# --- report ------------------------------------------------------------------

# tput_median KIND METHOD DIR FIELD (4 = Mbit/s, 5 = CPU s/GB, 6/7 = CPU %).
tput_median() {
    awk -v k="$1" -v m="$2" -v d="$3" -v f="$4" \
        '$1 == "tput" && $2 == k && $3 == m && $4 == d { print $(f + 1) }' "$RESULTS" |
        bench_median mean
}

verdict() { # verdict VALUE OP LIMIT
    if [ "$(bench_met "$@")" = yes ]; then echo met; else echo MISSED; fi
}

print_report() {
    local method dir ot st oc sc tr cr ou su tu
    echo
    echo "== otb-server vs ss-server ($(ss-server -h 2>&1 | awk 'NF { print $1, $2; exit }')), loopback," \
        "$BENCH_SECONDS s per run, median of $BENCH_ROUNDS round(s), otb build: ${BUILD_TYPE:-?}"
    echo "   chain: iperf3 -c -> ss-tunnel -> server -> iperf3 -s; up = iperf3, down = iperf3 -R"
    echo "   machine: $(nproc) CPUs, load average $LOAD_START at start, $(load_now) at end"
    printf "%-23s %-4s | %9s %9s %6s %-14s | %8s %8s %6s %-14s | %6s %6s %6s\n" \
        method dir "otb Mb/s" "ss Mb/s" ratio "(target>=$TARGET_THROUGHPUT_RATIO)" \
        "otb s/GB" "ss s/GB" ratio "(target<=$TARGET_CPU_RATIO)" "otb %" "ss %" "tun %"
    for method in $BENCH_METHODS; do
        for dir in up down; do
            ot=$(tput_median otb "$method" "$dir" 4)
            st=$(tput_median ss "$method" "$dir" 4)
            oc=$(tput_median otb "$method" "$dir" 5)
            sc=$(tput_median ss "$method" "$dir" 5)
            ou=$(tput_median otb "$method" "$dir" 6)
            su=$(tput_median ss "$method" "$dir" 6)
            tu=$(awk -v m="$method" -v d="$dir" '$1 == "tput" && $3 == m && $4 == d { print $8 }' \
                "$RESULTS" | bench_median mean)
            tr=$(bench_ratio "$ot" "$st")
            cr=$(bench_ratio "$oc" "$sc")
            printf "%-23s %-4s | %9.0f %9.0f %6s %-14s | %8.2f %8.2f %6s %-14s | %6.0f %6.0f %6.0f\n" \
                "$method" "$dir" "$ot" "$st" "$tr" "$(verdict "$tr" ">=" "$TARGET_THROUGHPUT_RATIO")" \
                "$oc" "$sc" "$cr" "$(verdict "$cr" "<=" "$TARGET_CPU_RATIO")" "$ou" "$su" "$tu"
            bench_summary "server $method $dir throughput, Mbit/s" "$(printf %.0f "$ot")" \
                "$(printf %.0f "$st")" "$tr" ">= ${TARGET_THROUGHPUT_RATIO}x ss" \
                "$(bench_met "$tr" ">=" "$TARGET_THROUGHPUT_RATIO")"
            bench_summary "server $method $dir CPU, s/GB" "$(printf %.2f "$oc")" \
                "$(printf %.2f "$sc")" "$cr" "<= ${TARGET_CPU_RATIO}x ss" \
                "$(bench_met "$cr" "<=" "$TARGET_CPU_RATIO")"
        done
    done
    echo "   s/GB = server CPU seconds (user+system) per 1e9 payload bytes; otb %/ss % = server CPU"
    echo "   use during the run, tun % = ss-tunnel CPU use (both runs): near 100 means it is the bottleneck"
    echo
    echo "idle memory: server VmRSS growth with $BENCH_IDLE_CONNS idle proxied connections ($BENCH_IDLE_METHOD)"
    printf "%-32s | %10s %10s %6s %s\n" "" "otb B/conn" "ss B/conn" ratio "(target otb <= $TARGET_IDLE_BYTES B)"
    idle_row "growth / N" 3 "server idle memory, B/conn" verdict
    idle_row "marginal (second half)" 4 "server idle memory marginal, B/conn"
}

# idle_row LABEL FIELD SUMMARY_METRIC [verdict]
idle_row() {
    local o s r v="" target=- met=-
    o=$(awk -v f="$2" '$1 == "idle" && $2 == "otb" { print $f }' "$RESULTS" | bench_median mean)
    s=$(awk -v f="$2" '$1 == "idle" && $2 == "ss" { print $f }' "$RESULTS" | bench_median mean)
    r=$(bench_ratio "$o" "$s")
    if [ -n "${4:-}" ]; then
        v=$(verdict "$o" "<=" "$TARGET_IDLE_BYTES")
        target="otb <= $TARGET_IDLE_BYTES B"
        met=$(bench_met "$o" "<=" "$TARGET_IDLE_BYTES")
    fi
    printf "%-32s | %10.0f %10.0f %6s %s\n" "$1" "$o" "$s" "$r" "$v"
    bench_summary "$3" "$(printf %.0f "$o")" "$(printf %.0f "$s")" "$r" "$target" "$met"
}

# --- main --------------------------------------------------------------------

# 1-minute load average: other work on a shared machine skews throughput most.
load_now() {
    cut -d' ' -f1 /proc/loadavg
}

main() {
    local round method kind
    need_tools iperf3 jq ss-server ss-tunnel ss cc cmake getconf
    [ "$BENCH_IDLE_CONNS" -ge 2 ] || die "BENCH_IDLE_CONNS must be at least 2"
    LOAD_START=$(load_now)
    # Server, tunnel and helper each hold two descriptors per idle connection.
    ulimit -n "$(ulimit -Hn)" ||
        die "cannot raise the open-file limit"
    [ "$(ulimit -n)" = unlimited ] || [ "$(ulimit -n)" -ge $((2 * BENCH_IDLE_CONNS + 256)) ] ||
        die "open-file limit $(ulimit -n) too low for $BENCH_IDLE_CONNS connections"
    prepare_otb_server
    build_idle_helper
    otb_acl_file "$WORK/allow-loopback.acl"
    : >"$RESULTS"
    start_iperf_server
    for round in $(seq "$BENCH_ROUNDS"); do
        echo "round $round/$BENCH_ROUNDS"
        for method in $BENCH_METHODS; do
            for kind in otb ss; do
                with_retries throughput_pass "$kind" "$method"
            done
        done
        for kind in otb ss; do
            with_retries idle_pass "$kind"
        done
    done
    print_report
}

main "$@"
