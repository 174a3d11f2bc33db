#!/bin/bash
# Hostile input to otb-server's UDP port while a good client is served.
# A tap between otb-tunnel and the server keeps genuine sealed datagrams;
# from them and from nothing, fresh sockets send random datagrams (0 to 2000
# bytes), truncated and bit-flipped copies and 20 replays of one genuine
# datagram, in the middle of a 2000-datagram burst of the good client.
# Expected: the burst comes back intact, no hostile datagram is answered,
# the server counts exactly the bad and replayed ones, stays alive and stops
# cleanly.
set -euo pipefail
OTB_TEST_NAME=udp_hostile
# shellcheck source=test/interop/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=test/interop/udp_lib.sh
. "$(dirname "$0")/udp_lib.sh"

need_cmd python3 timeout

PASSWORD=$(otb_password)
ACL=$(otb_loopback_acl)
otb_ports ECHO_PORT SRV_PORT TAP_PORT TUN_PORT
SOCK="$OTB_TMP/srv.sock"
N=2000

udp_echo_start echo "$ECHO_PORT"
udp_server_start srv "$SRV_PORT" -u -k "$PASSWORD" --acl "$ACL" --status-socket "$SOCK"
mkdir -p "$OTB_TMP/tap"
otb_start tap python3 "$OTB_UDP_PEER" tap "$TAP_PORT" "$SRV_PORT" "$OTB_TMP/tap"
otb_wait_for "the tap on port $TAP_PORT" 15 otb_udp_bound "$TAP_PORT"
udp_tunnel_start tun "$TUN_PORT" "$TAP_PORT" -k "$PASSWORD" -L "127.0.0.1:$ECHO_PORT"

udp_expect_burst "a first good datagram" "$(udp_peer burst 127.0.0.1 "$TUN_PORT" 1)" 1
[[ -s $OTB_TMP/tap/captured.1 ]] || otb_fail "the tap kept no datagram"

udp_peer burst 127.0.0.1 "$TUN_PORT" "$N" --window 4 >"$OTB_TMP/burst.out" &
BURST=$!
hostile=$(udp_peer hostile 127.0.0.1 "$SRV_PORT" "$OTB_TMP/tap")
wait "$BURST" || otb_fail "the good client's burst failed"
udp_expect_burst "good client during the attack" "$(cat "$OTB_TMP/burst.out")" "$N"

read -r _ random _ truncated _ flipped _ replayed _ answered <<<"$hostile"
otb_expect_eq "hostile datagrams answered" "$answered" 0
otb_expect_eq "bad datagrams counted" "$(udp_status "$SOCK" udp.refused.bad)" \
    "$((random + truncated + flipped))"
otb_expect_eq "replays counted" "$(udp_status "$SOCK" udp.refused.replay)" "$replayed"
otb_expect_eq "datagrams relayed" "$(udp_status "$SOCK" udp.up.packets)" "$((N + 1))"
otb_alive srv || otb_fail "the server died"
udp_stop tun
udp_stop srv
otb_log "UDP hostile input check passed in $((SECONDS - OTB_T0)) s"
