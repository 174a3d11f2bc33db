#!/usr/bin/env bash
# Benchmark: aggregation and failover in the network-namespace lab
# (test/lab/lib.sh), otb-redir + otb-server against shadowsocks-libev's
# ss-redir + ss-server forced onto MPTCP with `mptcpize run` (both sides).
# Same lab, same run, the two pairs alternately, behind the same nft REDIRECT
# rule. Not a pass/fail test: it prints a table with the targets.
#
#   aggregation: iperf3 download (-R) and upload between the LAN host and the
#                Internet host, BENCH_SECONDS measured after 3 s omitted;
#                received Mbit/s, % of the sum of the links, coefficient of
#                variation of the per-second received rate (receiver side)
#   failover   : a download of (sum of the rates) MiB; 2 s in, the WAN of the
#                connection's initial subflow goes down; the longest run of
#                100 ms slots in which the LAN host received nothing
#   ceiling    : iperf3 itself over MPTCP (mptcpize) between the box and the
#                server, no proxy: what MPTCP delivers on these links (the tbf
#                counts whole frames, so headers and MPTCP options cost ~6%)
#
# Usage (root):  OTB_BUILD=<build dir> bash test/bench/lab_bench.sh
# Environment:
#   BENCH_SECONDS   measured seconds per iperf3 run (default 15)
#   BENCH_SETS      WAN sets, ';'-separated (default "20 10 5;5 5 5;50 50")
#   BENCH_METHOD    cipher (default chacha20-ietf-poly1305)
#   BENCH_CC        TCP congestion control of every tunnel socket (default cubic,
#                   otb's default; "" = the machine's): otb gets --congestion,
#                   shadowsocks-libev an LD_PRELOAD helper (cc_preload.c), the
#                   ceiling iperf3 -C
#   BENCH_SUMMARY   if set, one tab-separated row per metric is appended to
#                   this file (metric, otb, ss, ratio, target, met yes/no/-),
#                   for test/bench/run-all.sh
set -euo pipefail

BENCH_SECONDS=${BENCH_SECONDS:-15}
BENCH_SETS=${BENCH_SETS:-"20 10 5;5 5 5;50 50"}
# Targets of issue 3.
TARGET_SHARE=95
TARGET_CV=10
TARGET_GAP_MS=1000

# shellcheck source=test/lab/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lab/lib.sh"
# shellcheck source=test/bench/bench_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/bench_lib.sh"
LAB_METHOD=${BENCH_METHOD:-$LAB_METHOD}

lab_require iperf3 mptcpize ss-server ss-redir
lab_bin otb-server >/dev/null
lab_bin otb-redir >/dev/null

ROWS=()
BENCH_CC=${BENCH_CC-cubic}
CC_USED=$(cat /proc/sys/net/ipv4/tcp_congestion_control)
if [[ -n $BENCH_CC ]]; then
    SHIM_DIR=$(mktemp -d /tmp/otb-bench-cc.XXXXXX)
    cc -shared -fPIC -o "$SHIM_DIR/cc_preload.so" "$(dirname "${BASH_SOURCE[0]}")/cc_preload.c" -ldl
    export OTB_BENCH_CC=$BENCH_CC
    LAB_PRELOAD=$SHIM_DIR/cc_preload.so
    CC_USED="$BENCH_CC (set per socket)"
fi

# Start one pair (otb or ss) behind the shared interception rule.
pair_start() {
    if [[ $1 == otb ]]; then
        lab_otb_server "$LAB_SRV_ADDR" "$LAB_SRV_PORT" otb-server --congestion "$BENCH_CC"
        LAB_SERVER_PID=$LAB_PID
        lab_otb_redir --congestion "$BENCH_CC"
    else
        lab_ss_start
    fi
}

pair_stop() {
    lab_stop "$LAB_REDIR_PID"
    lab_stop "$LAB_SERVER_PID"
}

# aggregation IMPL DIR -> "Mbit/s %sum CV%" at the receiver (the per-second
# figures of an upload come from the server: --get-server-output, server in
# JSON mode).
aggregation() {
    local impl=$1 dir=$2 json="$LAB_DIR/$1.$2.json" mbps cv extra=()
    [[ $dir == down ]] && extra=(-R)
    if [[ $impl == ceiling ]]; then
        [[ -z $BENCH_CC ]] || extra+=(-C "$BENCH_CC")
        lab_run box mptcpize run iperf3 -c "$LAB_SRV_ADDR" -p 5202 -t "$BENCH_SECONDS" -O 3 \
            --json --get-server-output "${extra[@]}" >"$json" || true
    else
        lab_run lan iperf3 -c "$LAB_INET_ADDR" -p 5201 -t "$BENCH_SECONDS" -O 3 --json \
            --get-server-output "${extra[@]}" >"$json" || true
    fi
    if ! read -r mbps cv < <(python3 "$(lab_tool)" iperf3 "$json" 2>"$LAB_DIR/summary.err"); then
        echo "iperf3 $impl $dir failed: $(cat "$LAB_DIR/summary.err")" >&2
        echo "- - -"
        return 0
    fi
    awk -v m="$mbps" -v s="$(lab_rate_sum)" -v cv="$cv" \
        'BEGIN { printf "%.1f %.1f %s\n", m, 100 * m / s, cv }'
}

# failover FILE -> "gap_ms seconds" ("failed -" when the transfer broke: the
# subshell keeps a failure from ending the benchmark). Every WAN is up again
# afterwards.
failover() {
    local file=$1 want i
    want=$(sha256sum "$file" | cut -d' ' -f1)
    (
        lab_transfer down "$file" 2 180
        [[ $LAB_XFER_SHA == "$want" ]] || lab_fail "sha256 mismatch after the failover"
        printf '%s %s\n' "$(lab_trace_gap "$LAB_XFER_TRACE")" "$LAB_XFER_SECS"
    ) || echo "failed -"
    for i in "${!LAB_RATES[@]}"; do lab_wan_up $((i + 1)); done
    sleep 2
}

# set_summary RATES: summary rows of one WAN set from the figures in FIG.
set_summary() {
    local set=${1// //} k i
    local -a metric=("down, % of link sum" "up, % of link sum" "down CV, %" "up CV, %" "failover gap, ms")
    local -a key=(down.1 up.1 down.2 up.2 fo.0)
    local -a op=(">=" ">=" "<" "<" "<")
    local -a limit=("$TARGET_SHARE" "$TARGET_SHARE" "$TARGET_CV" "$TARGET_CV" "$TARGET_GAP_MS")
    local -a target=(">= ${TARGET_SHARE}%" ">= ${TARGET_SHARE}%" "< ${TARGET_CV}%" "< ${TARGET_CV}%"
        "< ${TARGET_GAP_MS} ms")
    for i in "${!key[@]}"; do
        k=${key[$i]}
        bench_summary "lab $set ${metric[$i]}" "${FIG[otb.$k]}" "${FIG[ss.$k]}" \
            "$(bench_ratio "${FIG[otb.$k]}" "${FIG[ss.$k]}")" "${target[$i]}" \
            "$(bench_met "${FIG[otb.$k]}" "${op[$i]}" "${limit[$i]}")"
    done
}

declare -A FIG
bench_set() {
    local rates=$1 impl file down up fo i
    lab_up "bench$$" "$rates"
    lab_bg inet iperf3 iperf3 -s -J -p 5201
    lab_wait_port inet 5201
    lab_nft_redirect "$LAB_REDIR_PORT"
    file=$(lab_random_file "$(lab_rate_sum)")
    lab_bulk_servers "$file"
    for impl in otb ss; do
        pair_start "$impl"
        down=$(aggregation "$impl" down)
        up=$(aggregation "$impl" up)
        fo=$(failover "$file")
        pair_stop
        read -r -a d <<<"$down"
        read -r -a u <<<"$up"
        read -r -a f <<<"$fo"
        printf '%-9s %-4s down %6s Mbit/s %5s%% CV %5s%% | up %6s Mbit/s %5s%% CV %5s%% | failover gap %5s ms (%s s)\n' \
            "${rates// //}" "$impl" "${d[@]}" "${u[@]}" "${f[@]}"
        ROWS+=("| ${rates// //} | $impl | ${d[0]} | ${d[1]} | ${d[2]} | ${u[0]} | ${u[1]} | ${u[2]} | ${f[0]} |")
        for i in 0 1 2; do
            FIG[$impl.down.$i]=${d[$i]}
            FIG[$impl.up.$i]=${u[$i]}
        done
        FIG[$impl.fo.0]=${f[0]}
    done
    # The ceiling: iperf3 over MPTCP from the box to the server, no proxy.
    lab_bg srv iperf3-mptcp mptcpize run iperf3 -s -J -p 5202 -B "$LAB_SRV_ADDR"
    lab_wait_port srv 5202
    read -r -a d <<<"$(aggregation ceiling down)"
    read -r -a u <<<"$(aggregation ceiling up)"
    printf '%-9s %-4s down %6s Mbit/s %5s%% CV %5s%% | up %6s Mbit/s %5s%% CV %5s%% | (iperf3 over MPTCP, no proxy)\n' \
        "${rates// //}" ceiling "${d[@]}" "${u[@]}"
    ROWS+=("| ${rates// //} | ceiling (raw MPTCP) | ${d[0]} | ${d[1]} | ${d[2]} | ${u[0]} | ${u[1]} | ${u[2]} | - |")
    bench_summary "lab ${rates// //} ceiling down/up (raw MPTCP), % of link sum" "${d[1]}/${u[1]}" \
        "-" "-" "-" "-"
    set_summary "$rates"
    lab_down
}

cleanup() {
    lab_down
    [[ -z ${SHIM_DIR:-} ]] || rm -rf "$SHIM_DIR"
}
trap cleanup EXIT
IFS=';' read -r -a sets <<<"$BENCH_SETS"
for s in "${sets[@]}"; do bench_set "$s"; done

echo
echo "Method $LAB_METHOD, ${BENCH_SECONDS} s per run, tbf queue ${LAB_TBF_LATENCY_MS} ms," \
    "congestion control $CC_USED."
echo "Targets: >= ${TARGET_SHARE}% of the sum, CV < ${TARGET_CV}%, failover gap < ${TARGET_GAP_MS} ms."
echo "| WANs Mbit/s | pair | down Mbit/s | down % sum | down CV % | up Mbit/s | up % sum | up CV % | failover gap ms |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
printf '%s\n' "${ROWS[@]}"
