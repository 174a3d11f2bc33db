#!/usr/bin/env bash
# Benchmark: voice during a saturating download, without and with the server's download
# shaping (otb-server --shape-downloads, the boxes' "download_kbit"). Runs the lab scenario of
# test/lab/t_qos_download.sh (two WANs whose queues sit in modems beyond the box, an EF voice
# flow of 50 datagrams/s through otb-tunnel, an iperf3 -R download through otb-redir, then a
# bulk UDP download, iperf3 -u -R, through otb-tunnel) with
# longer voice runs, and prints the figures side by side with the targets of issue 15.
# Not a pass/fail test: the exit status says only whether the scenario ran.
#
# Usage (root):  OTB_BUILD=<build dir> bash test/bench/qos_download_bench.sh
# Environment:
#   BENCH_SECONDS    voice seconds per run (default 30)
#   BENCH_RATE_MBIT  rate of each of the two WANs (default 10)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export OTB_SRC=${OTB_SRC:-$(cd "$HERE/../.." && pwd)}
FIG=$(mktemp "${TMPDIR:-/tmp}/otb-qosdl.XXXXXX")
LOG=$FIG.log
trap 'rm -f "$FIG" "$LOG"' EXIT

QOSDL_FIGURES=$FIG QOSDL_VOICE_SECONDS=${BENCH_SECONDS:-30} QOSDL_RATE_MBIT=${BENCH_RATE_MBIT:-10} \
    bash "$OTB_SRC/test/lab/t_qos_download.sh" >"$LOG" 2>&1 || true
[[ -s $FIG ]] || { tail -n 20 "$LOG" >&2; echo "qos_download_bench: the scenario did not run" >&2; exit 1; }

fig() { awk -v k="$1" '$1 == k { print $2 }' "$FIG"; }
printf '%-34s %12s %12s %10s\n' "voice during a download" "unshaped" "shaped" "target"
printf '%-34s %12s %12s %10s\n' "p99 RTT rise, ms (idle p99 $(fig p99_idle))" "$(fig rise_noshape)" \
    "$(fig rise_shaped)" "< 15"
printf '%-34s %12s %12s %10s\n' "voice datagrams lost" "$(fig lost_noshape)" "$(fig lost_shaped)" "0"
printf '%-34s %12s %12s %10s\n' "download, % of the links' sum" "$(fig dl_noshape)" \
    "$(fig dl_shaped)" ">= 75"
printf '%-34s %12s %12s %10s\n' "bulk UDP download: p99 rise, ms" "$(fig rise_udp_noshape)" \
    "$(fig rise_udp_shaped)" "< 15"
printf '%-34s %12s %12s %10s\n' "bulk UDP download: voice lost" "$(fig lost_udp_noshape)" \
    "$(fig lost_udp_shaped)" "0"
