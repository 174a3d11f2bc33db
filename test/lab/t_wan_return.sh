#!/usr/bin/env bash
# A WAN that comes back is used again, by the connection that was running
# while it was down and by new connections. Judged by the box's byte counters
# of that WAN: after its return it must carry at least a fifth of its rate
# during a download (an unused WAN receives nothing).
set -euo pipefail
# shellcheck source=test/lab/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# The WAN that goes and comes back, its share of the rate after, and the seconds measured.
WAN=2 MIN_SHARE=0.2 WINDOW=4

lab_start "otbret$$" "20 10 5" iperf3
lab_otb_start
lab_bg inet iperf3 iperf3 -s -p 5201
lab_wait_port inet 5201

rate=${LAB_RATES[WAN - 1]}
want=$(awk -v r="$rate" -v f="$MIN_SHARE" 'BEGIN { printf "%.1f", r * f }')

# Mbit/s received by the box on the WAN during WINDOW seconds.
wan_rx_mbps() {
    local a b
    a=$(lab_wan_bytes "$WAN")
    sleep "$WINDOW"
    b=$(lab_wan_bytes "$WAN")
    lab_mbps $((${b% *} - ${a% *})) "$WINDOW"
}

download() {
    lab_run lan iperf3 -c "$LAB_INET_ADDR" -p 5201 -R -t "$1" >"$LAB_DIR/iperf3.$2.txt" 2>&1
}

download 24 existing &
dl=$!
sleep 3
before=$(wan_rx_mbps)
lab_wan_down "$WAN"
sleep 1
during=$(wan_rx_mbps)
lab_wan_up "$WAN"
sleep 3
after=$(wan_rx_mbps)
echo "existing connection: WAN$WAN ($rate Mbit/s) received $before Mbit/s before the cut," \
    "$during while down, $after after its return (bound $want)"
wait "$dl" || lab_fail "the download running across the cut failed: $(cat "$LAB_DIR/iperf3.existing.txt")"
lab_assert_ge "$after" "$want" "WAN$WAN not used again by the existing connection"

download 8 new &
dl=$!
sleep 3
new=$(wan_rx_mbps)
wait "$dl" || lab_fail "the new download failed: $(cat "$LAB_DIR/iperf3.new.txt")"
echo "new connection: WAN$WAN received $new Mbit/s (bound $want)"
lab_assert_ge "$new" "$want" "WAN$WAN not used by a new connection"
echo "PASS: WAN$WAN used again after its return"
