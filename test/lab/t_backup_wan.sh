#!/usr/bin/env bash
# A backup WAN (metered 4G) carries traffic only when no other WAN is up.
# Two WANs of 10 Mbit/s, wan2 declared backup in the box config
# ("backup": true), which otb-firewall flags on its MPTCP endpoint:
#   1. a download through otb-redir while both are up: wan1 carries it,
#      wan2 (nearly) nothing;
#   2. a transfer running when wan1 goes down continues over wan2 and
#      completes, sha256 equal;
#   3. wan1 back: a new download is on wan1 again, not on the backup.
set -euo pipefail
# shellcheck source=test/lab/policy_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/policy_lib.sh"

RATE=10
MEASURE_S=5
# Subflow set-up, keepalives and ACKs of the download cross the backup WAN:
# a little, far below the data.
BACKUP_MAX_BYTES=300000

pol_start "otbbw$$" "$RATE $RATE" iperf3
lab_otb_server "$LAB_SRV_ADDR" "$LAB_SRV_PORT" otb-server
LAB_SERVER_PID=$LAB_PID
lab_otb_redir
pol_fw_config '"firewall": {"lan": "lan0"}' \
    '"wans": {"wan1": {"interface": "wan1"}, "wan2": {"interface": "wan2", "backup": true}}'

pol_firewall up >"$LAB_DIR/firewall.log" 2>&1 ||
    lab_fail "otb-firewall up: $(cat "$LAB_DIR/firewall.log")"
lab_run box ip mptcp endpoint show | grep -q "$(lab_wan_addr 2) .*backup" ||
    lab_fail "wan2's MPTCP endpoint is not flagged backup: $(lab_run box ip mptcp endpoint show)"
lab_bg inet iperf3 iperf3 -s -p 5201
lab_wait_port inet 5201

# download_on WHAT: a download of MEASURE_S seconds; prints the received
# bytes of each WAN ("rx1 rx2").
download_on() {
    local a1 a2 b1 b2
    read -r a1 _ <<<"$(lab_wan_bytes 1)"
    read -r a2 _ <<<"$(lab_wan_bytes 2)"
    lab_run lan iperf3 -c "$LAB_INET_ADDR" -p 5201 -t "$MEASURE_S" -R >"$LAB_DIR/iperf-$1.log" 2>&1 ||
        lab_fail "download ($1) failed: $(tail -n 3 "$LAB_DIR/iperf-$1.log")"
    read -r b1 _ <<<"$(lab_wan_bytes 1)"
    read -r b2 _ <<<"$(lab_wan_bytes 2)"
    echo "$((b1 - a1)) $((b2 - a2))"
}

read -r w1 w2 <<<"$(download_on both-up)"
lab_say "both up: wan1 received $w1 bytes, backup wan2 $w2"
((w1 > RATE * 125000 * MEASURE_S / 2)) || lab_fail "wan1 carried only $w1 bytes"
((w2 < BACKUP_MAX_BYTES)) || lab_fail "the backup WAN carried $w2 bytes while wan1 was up"

# A transfer across the loss of wan1: it goes on over the backup.
file=$(lab_random_file 12)
lab_bulk_servers "$file"
want=$(sha256sum "$file" | cut -d' ' -f1)
lab_transfer down "$file" 2 120
[[ $LAB_CUT_WAN == 1 ]] || lab_fail "the transfer started on wan$LAB_CUT_WAN, not wan1"
[[ $LAB_XFER_SHA == "$want" ]] || lab_fail "transfer across wan1's loss: sha256 mismatch"
lab_say "wan1 cut during a 12 MiB download: completed over the backup in $LAB_XFER_SECS s, sha256 equal"

lab_wan_up 1
# The interface hotplug re-runs up, which restores the WAN's table.
pol_firewall up >>"$LAB_DIR/firewall.log" 2>&1 ||
    lab_fail "otb-firewall up (wan1 back): $(cat "$LAB_DIR/firewall.log")"
sleep 1
read -r w1 w2 <<<"$(download_on wan1-back)"
lab_say "wan1 back: wan1 received $w1 bytes, backup wan2 $w2"
((w1 > RATE * 125000 * MEASURE_S / 2)) || lab_fail "wan1 carried only $w1 bytes after its return"
((w2 < BACKUP_MAX_BYTES)) || lab_fail "the backup WAN carried $w2 bytes after wan1's return"
pol_firewall down >>"$LAB_DIR/firewall.log" 2>&1
echo "PASS: backup WAN idle while wan1 is up, carried the transfer without it, idle again after"
