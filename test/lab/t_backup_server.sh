#!/usr/bin/env bash
# Backup server: otb-redir is given two servers (two sites). Each one leaves to
# the Internet from its own address, so the HTTP server's answer tells which
# one carried a request.
#  1. both up: requests go through the first;
#  2. the first is killed: new connections go to the backup, and none waits
#     longer than the connect timeout;
#  3. the first comes back: it is used again (within a few health probes);
#  4. the first site goes silent (its packets dropped, no RST): new
#     connections again reach the backup within the connect timeout;
#  5. the site answers again: the first server is used again.
set -euo pipefail
# shellcheck source=test/lab/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CONNECT_TIMEOUT=3
RETURN_WITHIN=20
EXIT_A=$LAB_SRV_INET
EXIT_B=198.18.0.3

lab_start "otbbak$$" "20 10" curl
lab_run srv ip addr add "$EXIT_B/24" dev inet0
start_a() {
    lab_otb_server "$LAB_SRV_ADDR" "$LAB_SRV_PORT" server-a -b "$EXIT_A"
    PID_A=$LAB_PID
}
start_a
lab_otb_server "$LAB_SRV_ADDR2" "$LAB_SRV_PORT2" server-b -b "$EXIT_B"
lab_otb_redir -s "$LAB_SRV_ADDR:$LAB_SRV_PORT" -s "$LAB_SRV_ADDR2:$LAB_SRV_PORT2" \
    --connect-timeout "$CONNECT_TIMEOUT"
lab_intercept "$LAB_REDIR_PORT"
lab_http_server

# One request from the LAN host: sets VIA (the exit address seen by the
# Internet host, empty on failure) and TOOK (seconds).
request() {
    local out
    out=$(lab_run lan curl -sS --max-time 15 -w ' %{time_total}' \
        "http://$LAB_INET_ADDR:$LAB_HTTP_PORT/$1" 2>&1) || true
    if [[ $out =~ ^otb-lab\ /[^\ ]+\ ([0-9.]+)$'\n'\ ([0-9.]+)$ ]]; then
        VIA=${BASH_REMATCH[1]} TOOK=${BASH_REMATCH[2]}
    else
        VIA="" TOOK=${out##* }
        echo "  request $1 failed: ${out//$'\n'/ }"
    fi
}

expect_via() {
    request "$1"
    [[ $VIA == "$2" ]] || lab_fail "$1: went through '${VIA:-nothing}', expected $2"
}

# New connections after a failure of the first server: the first must reach
# the backup within the connect timeout (plus the HTTP exchange), the next
# ones too.
expect_failover() {
    local i limit=$((CONNECT_TIMEOUT + 1)) took
    request "$1-first"
    echo "$1: first request after the failure took ${TOOK}s through ${VIA:-nothing}"
    [[ $VIA == "$EXIT_B" ]] || lab_fail "$1: first request did not reach the backup"
    lab_assert_ge "$limit" "$TOOK" "$1: first request waited longer than the connect timeout"
    for i in 1 2 3; do
        expect_via "$1-$i" "$EXIT_B"
        lab_assert_ge "$limit" "$TOOK" "$1: request $i waited longer than the connect timeout"
        took+=" ${TOOK}s"
    done
    echo "$1: the next ones took$took"
}

# The first server is used again within RETURN_WITHIN seconds.
expect_return() {
    local t0 now
    t0=$(date +%s.%N)
    while :; do
        request "$1"
        now=$(date +%s.%N)
        [[ $VIA == "$EXIT_A" ]] && break
        awk -v a="$t0" -v b="$now" -v m="$RETURN_WITHIN" 'BEGIN { exit !(b - a > m) }' &&
            lab_fail "$1: first server not used again after ${RETURN_WITHIN}s"
        sleep 0.5
    done
    echo "$1: first server used again after $(awk -v a="$t0" -v b="$now" 'BEGIN { printf "%.1f", b - a }')s"
}

expect_via both-up "$EXIT_A"
echo "both up: requests through the first server"

kill -9 "$PID_A"
wait "$PID_A" 2>/dev/null || true
expect_failover killed

start_a
expect_return restarted

lab_run srv nft add table ip labdrop
lab_run srv nft add chain ip labdrop in '{ type filter hook input priority 0; }'
lab_run srv nft add rule ip labdrop in ip daddr "$LAB_SRV_ADDR" tcp dport "$LAB_SRV_PORT" drop
expect_failover silent

lab_run srv nft delete table ip labdrop
expect_return answering
echo "PASS: backup used within the connect timeout, first server used again after recovery"
