#!/usr/bin/env bash
# Failover: a 40 MiB download from the Internet host to the LAN host through
# the box; one second in, the WAN carrying the connection's initial MPTCP
# subflow goes down. The download must complete and its sha256 match. Then the
# WAN comes back and the same is done for an upload. The longest stall (100 ms
# slots without data at the receiver) is printed.
set -euo pipefail
# shellcheck source=test/lab/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

lab_start "otbfo$$" "20 10 5"
lab_otb_start

file=$(lab_random_file 40)
want=$(sha256sum "$file" | cut -d' ' -f1)
lab_bulk_servers "$file"

for dir in down up; do
    lab_transfer "$dir" "$file" 1 120
    printf '%s: WAN%s cut 1 s in; %s bytes in %s s; longest stall %s ms\n' "$dir" \
        "$LAB_CUT_WAN" "$LAB_XFER_BYTES" "$LAB_XFER_SECS" "$(lab_trace_gap "$LAB_XFER_TRACE")"
    [[ $LAB_XFER_BYTES == "$(stat -c %s "$file")" ]] ||
        lab_fail "$dir: $LAB_XFER_BYTES bytes received instead of $(stat -c %s "$file")"
    [[ $LAB_XFER_SHA == "$want" ]] || lab_fail "$dir: sha256 mismatch ($LAB_XFER_SHA)"
    lab_wan_up "$LAB_CUT_WAN"
done
echo "PASS: download and upload survived the loss of their initial subflow's WAN"
