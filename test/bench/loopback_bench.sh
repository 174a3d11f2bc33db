#!/usr/bin/env bash
# Benchmark: throughput of the whole transparent chain on loopback, no link
# limit, so the programs' own cost is what is measured:
#
#   iperf3 -c -> (nft REDIRECT) -> otb-redir -> otb-server -> iperf3 -s
#   iperf3 -c -> (nft REDIRECT) -> ss-redir  -> ss-server  -> iperf3 -s
#
# All in one network namespace. The REDIRECT is in the nat output chain and
# matches only the iperf3 client, which runs as uid 65534: the server's own
# connection to the same destination must not be redirected back. Pairs run
# alternately; BENCH_ROUNDS rounds, the median is reported. Rows: otb-redir as
# shipped (MPTCP upstream, one path here) and with --no-mptcp; ss plain and
# ss under mptcpize. The ratio otb / ss (plain) is printed; target >= 1.2.
#
# Usage (root):  OTB_BUILD=<build dir, ideally Release> bash test/bench/loopback_bench.sh
# Environment:
#   BENCH_SECONDS  length of each iperf3 run (default 10)
#   BENCH_ROUNDS   rounds (default 3)
#   BENCH_METHOD   cipher (default aes-256-gcm)
#   BENCH_SUMMARY  if set, one tab-separated row per metric is appended to this
#                  file (metric, otb, ss, ratio, target, met yes/no/-), for
#                  test/bench/run-all.sh
set -euo pipefail

BENCH_SECONDS=${BENCH_SECONDS:-10}
BENCH_ROUNDS=${BENCH_ROUNDS:-3}
TARGET_RATIO=1.2
CLIENT_UID=65534
TARGET=10.9.0.2

# shellcheck source=test/lab/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lab/lib.sh"
# shellcheck source=test/bench/bench_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/bench_lib.sh"
LAB_METHOD=${BENCH_METHOD:-aes-256-gcm}

lab_require iperf3 setpriv mptcpize ss-server ss-redir
OTB_SERVER=$(lab_bin otb-server)
OTB_REDIR=$(lab_bin otb-redir)

trap lab_down EXIT
lab_init "lbench$$" lo
lab_run lo ip addr add "$TARGET/32" dev lo
otb_acl_file "$LAB_DIR/server.acl" "$TARGET/32"
lab_run lo nft -f - <<EOF
table ip lbredir {
    chain out {
        type nat hook output priority -100; policy accept;
        meta skuid $CLIENT_UID ip daddr $TARGET tcp dport 5201 redirect to :$LAB_REDIR_PORT
    }
}
EOF
lab_bg lo iperf3 iperf3 -s -B "$TARGET" -p 5201
lab_wait_port lo 5201

common=(-k "$LAB_PASSWORD" -m "$LAB_METHOD")
pair_start() {
    local server redir
    case $1 in
    otb | otb-tcp)
        server=("$OTB_SERVER" -s 127.0.0.1 -p "$LAB_SRV_PORT" --acl "$LAB_DIR/server.acl")
        redir=("$OTB_REDIR" -s 127.0.0.1 -p "$LAB_SRV_PORT" -l "$LAB_REDIR_PORT" -b 127.0.0.1)
        [[ $1 == otb-tcp ]] && redir+=(--no-mptcp)
        ;;
    ss | ss-mptcpize)
        server=(ss-server -s 127.0.0.1 -p "$LAB_SRV_PORT")
        redir=(ss-redir -s 127.0.0.1 -p "$LAB_SRV_PORT" -l "$LAB_REDIR_PORT" -b 127.0.0.1)
        if [[ $1 == ss-mptcpize ]]; then
            server=(mptcpize run "${server[@]}")
            redir=(mptcpize run "${redir[@]}")
        fi
        ;;
    esac
    lab_bg lo "$1-server" "${server[@]}" "${common[@]}"
    SERVER_PID=$LAB_PID
    lab_bg lo "$1-redir" "${redir[@]}" "${common[@]}"
    REDIR_PID=$LAB_PID
    lab_wait_port lo "$LAB_SRV_PORT" "$SERVER_PID"
    lab_wait_port lo "$LAB_REDIR_PORT" "$REDIR_PID"
}

# Receiver-side Gbit/s of one run (0 when the run failed).
run_iperf3() {
    local json="$LAB_DIR/run.json"
    local mbps
    lab_run lo setpriv --reuid="$CLIENT_UID" --regid="$CLIENT_UID" --clear-groups \
        iperf3 -c "$TARGET" -p 5201 -t "$BENCH_SECONDS" -O 1 --json "$@" >"$json" || true
    if read -r mbps _ < <(python3 "$(lab_tool)" iperf3 "$json" 2>/dev/null); then
        awk -v m="$mbps" 'BEGIN { printf "%.2f\n", m / 1000 }'
    else
        echo 0
    fi
}

declare -A results
PAIRS=(otb otb-tcp ss ss-mptcpize)
for ((round = 1; round <= BENCH_ROUNDS; round++)); do
    for pair in "${PAIRS[@]}"; do
        pair_start "$pair"
        up=$(run_iperf3)
        down=$(run_iperf3 -R)
        lab_stop "$REDIR_PID"
        lab_stop "$SERVER_PID"
        printf 'round %s %-12s upload %6.2f Gbit/s  download %6.2f Gbit/s\n' "$round" "$pair" "$up" "$down"
        results[$pair.up]+="$up "
        results[$pair.down]+="$down "
    done
done

# shellcheck disable=SC2086 # one figure per word
med() { printf '%s\n' ${results[$1]} | bench_median low; }
ratio() { bench_ratio "$(med "$1")" "$(med "$2")"; }
echo
echo "Method $LAB_METHOD, ${BENCH_SECONDS} s per run, median of $BENCH_ROUNDS rounds, $(nproc) CPUs."
echo "| chain | upload Gbit/s | download Gbit/s |"
echo "| --- | --- | --- |"
for pair in "${PAIRS[@]}"; do
    printf '| %s | %.2f | %.2f |\n' "$pair" "$(med "$pair.up")" "$(med "$pair.down")"
done
echo
echo "otb (as shipped, MPTCP) / ss: upload $(ratio otb.up ss.up)x, download $(ratio otb.down ss.down)x (target >= ${TARGET_RATIO}x)"
echo "otb --no-mptcp / ss:          upload $(ratio otb-tcp.up ss.up)x, download $(ratio otb-tcp.down ss.down)x"
echo "otb / ss under mptcpize:      upload $(ratio otb.up ss-mptcpize.up)x, download $(ratio otb.down ss-mptcpize.down)x"

for dir in up down; do
    label=$([[ $dir == up ]] && echo upload || echo download)
    r=$(ratio "otb.$dir" "ss.$dir")
    bench_summary "redir chain $label, Gbit/s" "$(med "otb.$dir")" "$(med "ss.$dir")" "$r" \
        ">= ${TARGET_RATIO}x ss" "$(bench_met "$r" ">=" "$TARGET_RATIO")"
    bench_summary "redir chain $label vs ss mptcpize, Gbit/s" "$(med "otb.$dir")" \
        "$(med "ss-mptcpize.$dir")" "$(ratio "otb.$dir" "ss-mptcpize.$dir")" - -
done
