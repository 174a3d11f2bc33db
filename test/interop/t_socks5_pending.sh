#!/bin/bash
# otb-redir's pending connections (SOCKS5 handshakes not finished) under a
# flood from one LAN address. otb-redir runs with 128 descriptors; one host
# (127.0.0.2) opens 400 SOCKS5 connections that send one byte and stall.
# Checked: meanwhile another host's SOCKS5 request (from 127.0.0.1) is served
# within 10 s (no read waits 5 s), the flood's oldest handshakes were closed
# at the per-source cap (pending.capped), otb-redir keeps no more than the
# cap pending and exits cleanly.
set -euo pipefail
OTB_TEST_NAME=socks5_pending
# shellcheck source=test/interop/lib.sh
. "$(dirname "$0")/lib.sh"

need_cmd prlimit python3 timeout
REDIR_BIN="$OTB_BUILD/otb-redir/otb-redir"
need_file "$OTB_SERVER_BIN"
need_file "$REDIR_BIN"

PASSWORD=$(otb_password)
ACL=$(otb_loopback_acl)
FLOOD=400
PER_SOURCE=64   # the default of max_pending_per_source
otb_ports SPORT RPORT SOCKS PEER_PORT
FILE="$OTB_TMP/small.bin"
otb_random_file "$FILE" 1
REF="$(otb_sha256 "$FILE") 1048576"

otb_peer_serve peer "$PEER_PORT" cmd
otb_server_start srv "$SPORT" -k "$PASSWORD" --acl "$ACL"
otb_start redir prlimit --nofile=128:128 "$REDIR_BIN" -s 127.0.0.1 -p "$SPORT" -l "$RPORT" \
    --socks5-port "$SOCKS" -k "$PASSWORD" \
    --status-socket "$OTB_TMP/redir.sock"
otb_wait_listen redir "$SOCKS"

status() {
    python3 "$(otb_src)/test/interop/udp_peer.py" status "$OTB_TMP/redir.sock" "$1"
}

otb_start flood python3 "$OTB_PEER" stall --source 127.0.0.2 127.0.0.1 "$SOCKS" "$FLOOD" 30
otb_wait_for "the flood's connections" 20 grep -q "^opened" "$OTB_TMP/flood.log"
otb_log "flood: $(cat "$OTB_TMP/flood.log")"
otb_expect_eq "SOCKS5 echo from another host during the flood" \
    "$(timeout 10 python3 "$OTB_PEER" echo --socks5 "$SOCKS" --timeout 5 127.0.0.1 \
        "$PEER_PORT" "$FILE" || true)" "$REF"
otb_alive flood || otb_fail "the flood ended before the request was served: no overlap"
pending=$(status pending.active)
((pending <= PER_SOURCE)) || otb_fail "$pending connections pending, cap $PER_SOURCE"
capped=$(status pending.capped)
((capped >= FLOOD - PER_SOURCE)) || otb_fail "only $capped pending connections closed at the cap"
otb_log "ok: $pending pending, $capped closed at the per-source cap"
otb_stop flood || true
otb_server_stop redir
otb_server_stop srv
otb_log "PASS in $((SECONDS - OTB_T0)) s"
