#!/usr/bin/env bash
# WAN health: a WAN that goes silent between a new connection's handshake and
# its first bytes. Two WANs of 10 Mbit/s; WAN1 (the one new connections take
# first) starts to pass the TCP handshake's SYN and SYN-ACK only: the box's
# MPTCP connection is established, its last ACK and its first bytes are lost,
# so the server never has the connection and refuses the subflows the box
# opens through WAN2 (their token is unknown): the stream is stuck in the
# dead WAN. The same happens to a connection whose handshake ends just before
# a line dies (seen in t_wan_health: 8 s and a failed request).
#   - 6 new HTTP connections through otb-redir, one every 0.2 s from the
#     moment WAN1 starts to pass handshakes only: every one succeeds, none
#     waits more than 4 s (WAN1 is declared down within about 1.2 s, then the
#     stream starts over through WAN2);
#   - otb-redir logs the start-over and counts it (connections.rerouted);
#   - a connection through a healthy WAN is not started over.
set -euo pipefail
# shellcheck source=test/lab/policy_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/policy_lib.sh"

COUNT=6
INTERVAL=0.2
MAX_WAIT_MS=4000

pol_start "otbst$$" "10 10"
SOCK=$LAB_DIR/redir.sock
lab_http_server
lab_otb_server "$LAB_SRV_ADDR" "$LAB_SRV_PORT" otb-server
lab_otb_redir --status-socket "$SOCK" -v
lab_intercept "$LAB_REDIR_PORT"
for n in 1 2; do
    lab_wait_wan_state "$SOCK" "$n" up 10 || lab_fail "wan$n not up in otb-redir's status"
done

# handshake_only on|off: WAN1 passes nothing but TCP SYNs (box to server) and SYN-ACKs (back).
handshake_only() {
    if [[ $1 == off ]]; then
        lab_run srv nft delete table inet otbstall
        return
    fi
    lab_run srv nft -f - <<EOF
table inet otbstall {
    chain from_box {
        type filter hook prerouting priority -300; policy accept;
        iifname "wan1" meta l4proto != tcp drop
        iifname "wan1" tcp flags & (syn | ack) != syn drop
    }
    chain to_box {
        type filter hook postrouting priority 300; policy accept;
        oifname "wan1" meta l4proto != tcp drop
        oifname "wan1" tcp flags & (syn | ack) != (syn | ack) drop
    }
}
EOF
}

# rerouted: connections.rerouted in otb-redir's status (0 where the key is missing).
rerouted() {
    "$LAB_PY" -I -S "$(lab_src)/test/interop/udp_peer.py" status "$SOCK" connections.rerouted \
        2>/dev/null || echo 0
}

# Healthy WANs: a few connections, none started over.
lab_conn_series "$LAB_DIR/series.ok" 3 0.2
wait "$LAB_PID" || true
read -r _ ok _ failed _ max _ <"$LAB_DIR/series.ok"
((ok == 3)) || lab_fail "healthy WANs: $(cat "$LAB_DIR/series.ok")"
before=$(rerouted)
((before == 0)) || lab_fail "healthy WANs: $before connections started over"

handshake_only on
lab_say "wan1 passes the TCP handshake's SYN and SYN-ACK only"
lab_conn_series "$LAB_DIR/series.stall" "$COUNT" "$INTERVAL"
series=$LAB_PID
lab_wait_wan_state "$SOCK" 1 down 5 || true
down_ms=$LAB_WAITED_MS
wait "$series" || true
handshake_only off
after=$(rerouted)
starts=$(grep -c "starting it over through WAN" "$LAB_DIR/otb-redir.log" || true)

echo "wan1 passing handshakes only:"
echo "  new connections: $(cat "$LAB_DIR/series.stall")"
echo "  wan1 down after $down_ms ms; streams started over: $after (log lines: $starts)"
read -r _ ok _ failed _ max _ <"$LAB_DIR/series.stall"
[[ $ok =~ ^[0-9]+$ ]] || lab_fail "no figures: $(cat "$LAB_DIR/series.stall")"
((failed == 0)) || lab_fail "$failed of $COUNT new connections failed: $(cat "$LAB_DIR/series.stall.log")"
((max <= MAX_WAIT_MS)) || lab_fail "a new connection waited $max ms (max $MAX_WAIT_MS)"
((after >= 1 && starts == after)) ||
    lab_fail "streams started over: counter $after, log lines $starts (expected at least one, equal)"
echo "PASS: t_wan_stall"
