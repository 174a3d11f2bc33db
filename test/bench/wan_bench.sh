#!/usr/bin/env bash
# Benchmark: a WAN that dies silently (its link stays up, nothing passes:
# lab_blackhole), otb (otb-redir, otb-tunnel -L, otb-server -u) against
# shadowsocks-libev (ss-redir and ss-server forced onto MPTCP with `mptcpize
# run`, ss-tunnel -U, ss-server -u), in the same lab of three WANs (default
# 20, 10, 5 Mbit/s), behind the same nft REDIRECT rule, one pair after the
# other. Not a pass/fail test: it prints a table with the targets.
#
# For each pair, WAN1 (the main table's preferred WAN, where new connections
# and the tunnel's datagrams go) is black-holed while
#   - an iperf3 download (-R) runs through the redir, started before the cut;
#   - a UDP flow of 50 datagrams/s runs through the tunnel (-L to a reflector);
#   - from the cut, one new connection every 0.25 s for 10 s (40 in all,
#     8 s to answer): the share that succeeded, the longest wait, and the time
#     from the cut until new connections were back for good (the end of the
#     first success started after the last failure);
# then WAN1 passes again, and the time until it carries the download again
# (a fifth of its rate over a second on its counters) is taken.
# Finally, with the otb pair, WAN3 is saturated both ways by TCP for 10 s:
# the "wan3 down" transitions logged by otb-redir and otb-tunnel are false
# alarms (shadowsocks-libev tracks nothing: "-").
#
# Usage (root):  OTB_BUILD=<build dir> bash test/bench/wan_bench.sh
# Environment:
#   BENCH_WAN_RATES  the WANs, Mbit/s (default "20 10 5")
#   BENCH_METHOD     cipher (default chacha20-ietf-poly1305)
#   BENCH_SUMMARY    if set, one tab-separated row per metric is appended to
#                    this file (metric, otb, ss, ratio, target, met yes/no/-),
#                    for test/bench/run-all.sh
set -euo pipefail

RATES=${BENCH_WAN_RATES:-"20 10 5"}
# Targets of issue 11.
TARGET_OK_PCT=99
TARGET_WAIT_MS=1500
TARGET_GAP_MS=1000
TARGET_RETURN_MS=3000
SERIES_COUNT=40
SERIES_INTERVAL=0.25
FLOW_RATE=50
FLOW_SECONDS=16
TUNNEL_PORT=12347
REFLECT_PORT=7100
RETURN_MAX_S=15

# shellcheck source=test/lab/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lab/lib.sh"
# shellcheck source=test/bench/bench_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/bench_lib.sh"
LAB_METHOD=${BENCH_METHOD:-$LAB_METHOD}

lab_require iperf3 mptcpize ss-server ss-redir ss-tunnel
for p in otb-server otb-redir otb-tunnel; do lab_bin "$p" >/dev/null; done

pair_start() {
    if [[ $1 == otb ]]; then
        lab_otb_server "$LAB_SRV_ADDR" "$LAB_SRV_PORT" otb-server -u
        LAB_SERVER_PID=$LAB_PID
        lab_otb_redir --status-socket "$LAB_DIR/redir.sock"
        lab_otb_tunnel otb-tunnel "$TUNNEL_PORT" -b "$LAB_LAN_GW" \
            -L "$LAB_INET_ADDR:$REFLECT_PORT"
    else
        lab_ss_start -u
        lab_bg box ss-tunnel ss-tunnel -s "$LAB_SRV_ADDR" -p "$LAB_SRV_PORT" -b "$LAB_LAN_GW" \
            -l "$TUNNEL_PORT" -k "$LAB_PASSWORD" -m "$LAB_METHOD" -U \
            -L "$LAB_INET_ADDR:$REFLECT_PORT"
        lab_wait_udp box "$TUNNEL_PORT" "$LAB_PID"
    fi
    TUNNEL_PID=$LAB_PID
}

pair_stop() {
    lab_stop "$TUNNEL_PID"
    lab_stop "$LAB_REDIR_PID"
    lab_stop "$LAB_SERVER_PID"
}

download_started() { lab_initial_wan >/dev/null; }

# wan1_rx: bytes received by the box on WAN1.
wan1_rx() { lab_run box cat /sys/class/net/wan1/statistics/rx_bytes; }

# return_ms: milliseconds from now until the start of the first second in
# which WAN1 received a fifth of its rate (as t_wan_return.sh asks), sampled
# every 0.2 s (">RETURN_MAX_S*1000" when it did not).
return_ms() {
    local t0 i want
    local -a t b
    want=$((LAB_RATES[0] * 1000000 / 8 / 5))
    t0=$(date +%s%N)
    for ((i = 0; i < RETURN_MAX_S * 5 + 5; i++)); do
        t[i]=$(date +%s%N)
        b[i]=$(wan1_rx)
        if ((i >= 5 && b[i] - b[i - 5] >= want)); then
            echo $(((t[i - 5] - t0) / 1000000))
            return 0
        fi
        sleep 0.2
    done
    echo ">$((RETURN_MAX_S * 1000))"
}

# cut IMPL: the silent failure of WAN1 under the download, the flow and the
# series; figures in FIG[IMPL.*].
cut() {
    local impl=$1 dl flow series ok failed max rec at
    lab_run lan iperf3 -c "$LAB_INET_ADDR" -p 5201 -R -t 50 >"$LAB_DIR/$impl.iperf3" 2>&1 &
    dl=$!
    lab_udp_peer lan flow "$LAB_LAN_GW" "$TUNNEL_PORT" "$FLOW_SECONDS" "$FLOW_RATE" \
        >"$LAB_DIR/$impl.flow" 2>&1 &
    flow=$!
    otb_wait_for "the download" 20 download_started
    # The series starts with the cut, 3 s after the download.
    at=$(lab_time_in 3)
    lab_conn_series "$LAB_DIR/$impl.series" "$SERIES_COUNT" "$SERIES_INTERVAL" --start-at "$at"
    series=$LAB_PID
    lab_sleep_until "$at"
    lab_blackhole 1 on
    lab_say "$impl: wan1 black-holed"
    sleep 4
    FIG[$impl.state]=$(lab_wan_state "$LAB_DIR/redir.sock" 1)
    wait "$series" "$flow" || true
    lab_blackhole 1 off
    lab_say "$impl: wan1 passes again"
    FIG[$impl.return]=$(return_ms)
    kill "$dl" 2>/dev/null || true
    wait "$dl" 2>/dev/null || true
    read -r _ ok _ failed _ max _ _ _ _ _ _ _ rec <"$LAB_DIR/$impl.series" || true
    FIG[$impl.ok]=$(awk -v o="${ok:-0}" -v f="${failed:-0}" \
        'BEGIN { printf "%.0f", (o + f) ? 100 * o / (o + f) : 0 }')
    FIG[$impl.wait]=${max:--}
    FIG[$impl.back]=$(awk -v r="${rec:--1}" 'BEGIN { print (r < 0) ? "never" : int(r * 1000) }')
    read -r _ _ _ _ _ lost _ gap _ <"$LAB_DIR/$impl.flow" || true
    FIG[$impl.gap]=${gap:--}
    FIG[$impl.lost]=${lost:--}
    printf '%-4s new connections %s; UDP %s; wan1 used %s ms after its return; status %s\n' \
        "$impl" "$(cat "$LAB_DIR/$impl.series")" "$(cat "$LAB_DIR/$impl.flow")" \
        "${FIG[$impl.return]}" "${FIG[$impl.state]}"
}

# saturate: WAN3 saturated both ways by TCP for 10 s (otb pair running);
# FIG[otb.false] = "wan3 down" lines logged meanwhile.
saturate() {
    local before after p extra pids=()
    lab_bg srv iperf3-up iperf3 -s -p 5203
    lab_bg srv iperf3-down iperf3 -s -p 5204
    lab_wait_port srv 5203
    lab_wait_port srv 5204
    before=$(cat "$LAB_DIR/otb-redir.log" "$LAB_DIR/otb-tunnel.log" | grep -c "wan3 down" || true)
    for p in 5203 5204; do
        extra=()
        [[ $p == 5204 ]] && extra=(-R)
        lab_run box iperf3 -c "$(lab_wan_peer 3)" -B "$(lab_wan_addr 3)" -p "$p" -t 10 \
            "${extra[@]}" >"$LAB_DIR/sat.$p" 2>&1 &
        pids+=($!)
    done
    sleep 5
    lab_say "wan3 under load: $(lab_wans "$LAB_DIR/redir.sock" 2>&1 | awk '$1 == "wan3" || !/^wan/')"
    wait "${pids[@]}" || true
    after=$(cat "$LAB_DIR/otb-redir.log" "$LAB_DIR/otb-tunnel.log" | grep -c "wan3 down" || true)
    FIG[otb.false]=$((after - before))
    printf 'otb  wan3 saturated for 10 s: %s "wan3 down" logged, state %s\n' "${FIG[otb.false]}" \
        "$(lab_wan_state "$LAB_DIR/redir.sock" 3)"
}

declare -A FIG
trap lab_down EXIT
lab_up "wanb$$" "$RATES"
lab_bg inet iperf3 iperf3 -s -p 5201
lab_wait_port inet 5201
lab_http_server
lab_bg inet reflect "$LAB_PY" -I -S "$(lab_src)/test/lab/udp_peer.py" reflect "$REFLECT_PORT"
lab_wait_udp inet "$REFLECT_PORT"
lab_nft_redirect "$LAB_REDIR_PORT"
for impl in otb ss; do
    pair_start "$impl"
    cut "$impl"
    [[ $impl == ss ]] || saturate
    pair_stop
    sleep 2
done
FIG[ss.false]="-"

echo
echo "Silent failure of WAN1 (of ${RATES// /, } Mbit/s), method $LAB_METHOD: $SERIES_COUNT new" \
    "connections from the cut, one every $SERIES_INTERVAL s; a $FLOW_RATE datagrams/s UDP flow."
echo "| metric | otb | ss-libev + mptcpize | target | met |"
echo "| --- | --- | --- | --- | --- |"
row() { # row METRIC KEY TARGET [OP LIMIT]
    local met=-
    [[ -z ${4:-} ]] || met=$(bench_met "${FIG[otb.$2]}" "$4" "$5")
    printf '| %s | %s | %s | %s | %s |\n' "$1" "${FIG[otb.$2]}" "${FIG[ss.$2]}" "$3" "$met"
    bench_summary "wan1 silent: $1" "${FIG[otb.$2]}" "${FIG[ss.$2]}" \
        "$(bench_ratio "${FIG[otb.$2]}" "${FIG[ss.$2]}")" "$3" "$met"
}
row "new connections ok in the 10 s after the cut, %" ok ">= ${TARGET_OK_PCT}%" ">=" "$TARGET_OK_PCT"
row "longest wait of a new connection, ms" wait "<= $TARGET_WAIT_MS ms" "<=" "$TARGET_WAIT_MS"
row "new connections back for good after, ms" back "-"
row "UDP gap, ms" gap "<= $TARGET_GAP_MS ms" "<=" "$TARGET_GAP_MS"
row "UDP datagrams lost" lost "-"
row "returning WAN carries traffic after, ms" return "<= $TARGET_RETURN_MS ms" "<=" "$TARGET_RETURN_MS"
row "false down under saturation (wan3)" false "0" "<=" 0
