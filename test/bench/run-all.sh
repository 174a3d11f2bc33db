#!/usr/bin/env bash
# Every benchmark of test/bench/, otb against shadowsocks-libev in the same
# run, then one summary table: one row per metric with the otb figure, the
# shadowsocks-libev figure, the ratio otb / ss, the target and whether it is
# met. Each benchmark still prints its own detailed table as it ends.
#
#   server    server_bench.sh    otb-server vs ss-server on loopback: TCP
#                                throughput, server CPU per GB, idle memory
#                                per connection
#   udp       udp_bench.sh       otb-tunnel+otb-server vs ss-tunnel+ss-server
#                                on loopback: packets/s, p50/p99 round trip
#   ss2022    ss2022_bench.sh    the 2022 methods vs the same build's SIP004
#                                methods vs ss-libev on loopback: TCP
#                                throughput, server CPU per GB, UDP packets/s,
#                                memory per UDP session (its summary rows put
#                                2022 in the otb column, SIP004 in the ss one)
#   loopback  loopback_bench.sh  otb-redir+otb-server vs ss-redir+ss-server
#                                behind an nft REDIRECT: chain throughput (root)
#   lab       lab_bench.sh       network-namespace lab with emulated WANs:
#                                aggregation % of the link sum, CV, failover
#                                gap (root)
#   wan       wan_bench.sh       the same lab, a WAN failing silently: new
#                                connections, UDP gap, return of the WAN,
#                                false alarms under saturation (root)
#   voice     voice_bench.sh     the same lab, a voice flow across a silent
#                                WAN failure: lost datagrams, longest gap,
#                                public ports; otb SIP004, 2022, 2022 with
#                                voice_duplicate against ss-libev (root)
#
# Usage (root for loopback and lab):
#   sudo OTB_BUILD=build test/bench/run-all.sh
# Environment:
#   OTB_BUILD        build directory (a Release build). Unset: one is
#                    configured and built in BENCH_BUILD_DIR (default
#                    /tmp/otb-bench-build) and used by every benchmark
#   BENCH_SKIP       benchmarks not to run, e.g. "lab" or "loopback lab wan voice"
#   BENCH_SUMMARY    also keep the summary rows (tab-separated: metric, otb,
#                    ss, ratio, target, met) in this file
#   BENCH_SECONDS, BENCH_ROUNDS, BENCH_METHOD(S), BENCH_SETS, BENCH_CC...:
#                    passed to the benchmarks, see the header of each; unset,
#                    each uses its own default
# Exit status: 0 when every benchmark that was not skipped ran to its end,
# whatever the figures; 1 otherwise.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export OTB_SRC=${OTB_SRC:-$(cd "$HERE/../.." && pwd)}
BENCHES=(server udp ss2022 loopback lab wan voice)
BENCH_SKIP=${BENCH_SKIP:-}

for b in $BENCH_SKIP; do
    [[ " ${BENCHES[*]} " == *" $b "* ]] || {
        echo "run-all: unknown benchmark in BENCH_SKIP: $b (known: ${BENCHES[*]})" >&2
        exit 1
    }
done

ROWS=$(mktemp "${TMPDIR:-/tmp}/otb-bench-summary.XXXXXX")
trap 'rm -f "$ROWS"' EXIT

if [[ -z ${OTB_BUILD:-} ]]; then
    OTB_BUILD=${BENCH_BUILD_DIR:-/tmp/otb-bench-build}
    echo "building otb (Release) in $OTB_BUILD"
    { cmake -S "$OTB_SRC" -B "$OTB_BUILD" -DCMAKE_BUILD_TYPE=Release -DOTB_TESTS=OFF &&
        cmake --build "$OTB_BUILD" -j"$(nproc)"; } >"$ROWS.cmake.log" 2>&1 || {
        tail -n 30 "$ROWS.cmake.log" >&2
        rm -f "$ROWS.cmake.log"
        echo "run-all: the build failed" >&2
        exit 1
    }
    rm -f "$ROWS.cmake.log"
fi
[[ -d $OTB_BUILD ]] || { echo "run-all: no build directory $OTB_BUILD" >&2; exit 1; }
OTB_BUILD=$(cd "$OTB_BUILD" && pwd) # the lab benchmarks run from elsewhere
export OTB_BUILD

STATUS=()
failed=0
for b in "${BENCHES[@]}"; do
    if [[ " $BENCH_SKIP " == *" $b "* ]]; then
        STATUS+=("$(printf '%-9s skipped' "$b")")
        continue
    fi
    echo
    echo "=== $b: test/bench/${b}_bench.sh ($(date +%T))"
    start=$SECONDS
    BENCH_SUMMARY=$ROWS bash "$HERE/${b}_bench.sh"
    rc=$?
    if [[ $rc -eq 0 ]]; then
        STATUS+=("$(printf '%-9s ran in %d s' "$b" $((SECONDS - start)))")
    else
        STATUS+=("$(printf '%-9s FAILED (exit status %d after %d s)' "$b" "$rc" $((SECONDS - start)))")
        failed=1
    fi
done

echo
echo "=== summary: otb vs shadowsocks-libev ($(ss-server -h 2>&1 | awk 'NF { print $1, $2; exit }'))," \
    "$(nproc) CPUs, load average $(cut -d' ' -f1 /proc/loadavg), build $OTB_BUILD"
printf '%s\n' "${STATUS[@]}"
echo
if [[ -s $ROWS ]]; then
    # Two passes over the rows: column widths, then the table.
    awk -F'\t' 'BEGIN { split("metric\totb\tss\tratio\ttarget\tmet", h, "\t")
                        for (i = 1; i <= 6; i++) w[i] = length(h[i]) }
        NR == FNR { for (i = 1; i <= 6; i++) if (length($i) > w[i]) w[i] = length($i); next }
        FNR == 1 { row(h); line = ""
                   for (i = 1; i <= 6; i++) line = line (i > 1 ? "-+-" : "") dashes(w[i])
                   print line }
        { split($0, f, "\t"); row(f) }
        function dashes(n,  d) { d = ""; while (n-- > 0) d = d "-"; return d }
        function row(f,  i, out) {
            out = sprintf("%-" w[1] "s", f[1])
            for (i = 2; i <= 4; i++) out = out sprintf(" | %" w[i] "s", f[i])
            out = out sprintf(" | %-" w[5] "s | %s", f[5], f[6])
            print out }' "$ROWS" "$ROWS"
    if [[ -n ${BENCH_SUMMARY:-} ]]; then
        cat "$ROWS" >>"$BENCH_SUMMARY"
    fi
    echo
    echo "ratio = otb / ss; met = the otb figure (or the ratio) against the target; '-' = no target"
else
    echo "no summary rows"
fi
exit "$failed"
