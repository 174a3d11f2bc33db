#!/bin/bash
# Replay with one captured message, without the key. One otb-server (TCP
# and UDP, aes-128-gcm: 16-byte salts, the cheapest junk) and three attacks:
#
#   udp      a tap between otb-tunnel and the server keeps the server's first
#            reply to the box; sent back to the server from another socket
#            (a spoofed source), it is a valid box datagram under the same
#            key. Nothing may leave the server (no reflection): no answer,
#            no new datagram at the far end, counted as a replay.
#   reflect  the raw bytes of the server's response stream to a valid
#            connection, sent as a new connection: refused as a replay
#            (silent), nothing reaches a destination.
#   flush    a valid first flight is kept, then JUNK connections (default
#            140 000, more than the 131 072 salts the filter used to hold)
#            each send a salt's worth of random bytes (and 2 more, less
#            than a length block) then close; none authenticates, so none
#            may enter the filter: the kept
#            flight, replayed, is still refused.
#
# OTB_REPLAY_PARTS selects the parts (default "udp reflect flush"),
# OTB_REPLAY_JUNK the flood size. The server must stop cleanly.
set -euo pipefail
OTB_TEST_NAME=replay
# shellcheck source=test/interop/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=test/interop/udp_lib.sh
. "$(dirname "$0")/udp_lib.sh"

need_cmd python3 timeout
need_file "$OTB_PROBE_BIN"

METHOD=aes-128-gcm
IDLE=3
PARTS=${OTB_REPLAY_PARTS:-udp reflect flush}
JUNK=${OTB_REPLAY_JUNK:-140000}
PASSWORD=$(otb_password)
ACL=$(otb_loopback_acl)
otb_ports ECHO_PORT SRV_PORT
otb_ports udp UECHO_PORT TAP_PORT TUN_PORT

otb_peer_serve echo "$ECHO_PORT" echo
udp_echo_start uecho "$UECHO_PORT"
udp_server_start srv "$SRV_PORT" -u -m "$METHOD" -k "$PASSWORD" --acl "$ACL" -t "$IDLE" \
    -b 127.0.0.1
otb_wait_listen srv "$SRV_PORT"

probe() {
    timeout 120 "$OTB_PROBE_BIN" -s "127.0.0.1:$SRV_PORT" -m "$METHOD" -k "$PASSWORD" "$@"
}

tcp_replays() {
    otb_stat "$(otb_server_stats srv)" replay
}

# expect_refused WHAT PROBE_OUTPUT: no reply byte, and the connection was held
# (drained) rather than answered.
expect_refused() {
    [[ $2 == *" reply=0 "* ]] || otb_fail "$1: the server answered: $2"
    otb_log "ok: $1: no reply ($2)"
}

part_udp() {
    local before answered line
    mkdir -p "$OTB_TMP/tap"
    otb_start tap python3 "$OTB_UDP_PEER" tap "$TAP_PORT" "$SRV_PORT" "$OTB_TMP/tap"
    otb_wait_for "the tap on port $TAP_PORT" 15 otb_udp_bound "$TAP_PORT"
    udp_tunnel_start tun "$TUN_PORT" "$TAP_PORT" -m "$METHOD" -k "$PASSWORD" \
        -L "127.0.0.1:$UECHO_PORT"
    udp_expect_burst "a genuine datagram through the tap" \
        "$(udp_peer burst 127.0.0.1 "$TUN_PORT" 1)" 1
    [[ -s $OTB_TMP/tap/reply.1 ]] || otb_fail "the tap kept no reply of the server"
    before=$(wc -l <"$OTB_TMP/uecho/sources")
    answered=$(udp_peer resend 127.0.0.1 "$SRV_PORT" "$OTB_TMP/tap/reply.1")
    otb_expect_eq "udp: the server's own reply sent back from another socket" \
        "$answered" "answered 0"
    otb_expect_eq "udp: sources seen by the far end" "$(wc -l <"$OTB_TMP/uecho/sources")" \
        "$before"
    line=$(otb_server_stats srv 'udp stats: ')
    otb_expect_eq "udp: datagrams sent toward the Internet" "$(otb_stat "$line" up_packets)" 1
    otb_expect_eq "udp: datagrams sent to boxes" "$(otb_stat "$line" down_packets)" 1
    otb_expect_eq "udp: replays counted" "$(otb_stat "$line" replay)" 1
    udp_stop tun
}

part_reflect() {
    local out before replays
    before=$(otb_peer_accepts echo)
    replays=$(tcp_replays)
    out=$(probe --valid-to "127.0.0.1:$ECHO_PORT" --payload reflect-me \
        --save-reply "$OTB_TMP/reply" --wait 5)
    [[ $out == *" echo=yes "* ]] || otb_fail "reflect: the valid connection failed: $out"
    out=$(probe --flight "$OTB_TMP/reply" --wait $((IDLE + 2)))
    expect_refused "reflect: the server's response stream as a request" "$out"
    otb_expect_eq "reflect: connections that reached the destination" \
        "$(otb_peer_accepts echo)" "$((before + 1))"
    otb_expect_eq "reflect: replays counted" "$(tcp_replays)" \
        "$((replays + 1))"
}

part_flush() {
    local out before replays junk
    before=$(otb_peer_accepts echo)
    replays=$(tcp_replays)
    out=$(probe --valid-to "127.0.0.1:$ECHO_PORT" --payload captured \
        --save "$OTB_TMP/flight" --wait 5)
    [[ $out == *" echo=yes "* ]] || otb_fail "flush: the captured connection failed: $out"
    # Fewer at a time than the per-source cap, so that most reach the server.
    junk=$(probe --junk "$JUNK" --parallel 48 --wait 10) ||
        otb_fail "flush: the junk flood failed"
    otb_log "flush: $junk"
    [[ $junk == *" established=$JUNK "* ]] || otb_fail "flush: not every junk connection was made"
    out=$(probe --flight "$OTB_TMP/flight" --wait $((IDLE + 2)))
    expect_refused "flush: the captured flight after $JUNK junk connections" "$out"
    otb_expect_eq "flush: connections that reached the destination" \
        "$(otb_peer_accepts echo)" "$((before + 1))"
    otb_expect_eq "flush: replays counted" "$(tcp_replays)" \
        "$((replays + 1))"
}

for part in $PARTS; do
    "part_$part"
done
otb_log "$(otb_server_stats srv)"
udp_stop srv
otb_log "PASS in $((SECONDS - OTB_T0)) s"
