#!/bin/bash
# Lock-out without the key: otb-server with a 600-descriptor budget (a cap of
# 268 connections) while one source (127.0.0.2) holds 10x that budget of
# unauthenticated connections: a few zero bytes each, then one byte every
# 2 s, reopening any the server closes. Meanwhile a real client (ss-local,
# from 127.0.0.1) opens 20 connections one after the other.
#
# Phase 1, defaults: the per-source cap (64) refuses the flood's surplus at
# accept, and the fixed pre-authentication deadline (10 s) closes the held
# ones although they keep sending bytes; the client starts after it. Phase
# 2, per-source cap off
# (--max-preauth-per-source 0): the flood fills the connection cap and every
# new connection takes the place of the oldest unauthenticated one instead
# of pausing the listeners.
#
# Checked in both phases: all 20 connections served, each within 1 s; the
# counters (preauth source_cap / timeouts / evicted) show which mechanism
# acted; the server never paused accepting; SIGTERM exits 0, no sanitizer
# report.
set -euo pipefail
OTB_TEST_NAME=lockout
# shellcheck source=test/interop/lib.sh
. "$(dirname "$0")/lib.sh"

need_cmd ss-local python3 timeout
need_file "$OTB_SERVER_BIN"
need_file "$OTB_PROBE_BIN"

NOFILE=600
BUDGET=268      # (600 - 64) / 2: the cap otb-server derives from its descriptor limit
FLOOD=$((10 * BUDGET))
PREAUTH=10      # seconds, the default
CONNS=20
METHOD=aes-256-gcm
PASSWORD=$(otb_password)
ACL=$(otb_loopback_acl)

otb_ports PEER_PORT
otb_peer_serve peer "$PEER_PORT" cmd

# otb_lockout_server NAME PORT ARGS...: otb-server under a descriptor limit.
otb_lockout_server() {
    local name=$1 port=$2
    shift 2
    otb_start "$name" bash -c 'ulimit -n "$1"; shift; exec "$@"' _ "$NOFILE" \
        "$OTB_SERVER_BIN" -s 127.0.0.1 -p "$port" -m "$METHOD" -k "$PASSWORD" --acl "$ACL" \
        -b 127.0.0.1 "$@"
    otb_wait_listen "$name" "$port"
    grep -q "up to $BUDGET connections" "$OTB_TMP/$name.log" ||
        otb_fail "$name: expected a cap of $BUDGET connections: $(grep -m1 'up to' "$OTB_TMP/$name.log")"
}

# otb_lockout_phase NAME SETTLE ARGS...: one server, the flood, then after
# SETTLE seconds the real client.
otb_lockout_phase() {
    local name=$1 settle=$2 sport lport result line served slowest
    shift 2
    otb_ports sport lport
    otb_lockout_server "$name" "$sport" "$@"
    otb_ss_start "ss-$name" ss-local "$lport" "$sport" -m "$METHOD" -k "$PASSWORD"
    otb_start "flood-$name" bash -c 'ulimit -n 8192; exec "$@"' _ "$OTB_PROBE_BIN" \
        -s "127.0.0.1:$sport" -m "$METHOD" -k "$PASSWORD" --from 127.0.0.2 \
        --trickle "$FLOOD" --every 2 --wait $((settle + 15))
    sleep "$settle"
    otb_log "$name: $(otb_fd_count "${OTB_PID[$name]}") descriptors held by the server"
    otb_alive "flood-$name" || otb_fail "the flood ended early"
    result=$(otb_peer conns --timeout 3 --socks5 "$lport" 127.0.0.1 "$PEER_PORT" "$CONNS")
    otb_log "$name: real client during the flood: $result"
    read -r _ served _ _ _ slowest <<<"$result"
    otb_expect_eq "$name: connections served during the flood" "$served" "$CONNS"
    awk -v t="$slowest" 'BEGIN { exit !(t < 1.0) }' ||
        otb_fail "$name: the slowest connection took $slowest s, expected under 1 s"
    otb_log "ok: $name: the slowest of them took $slowest s"
    line=$(otb_server_stats "$name")
    otb_log "$name: $line"
    otb_expect_eq "$name: limit_pauses" "$(otb_stat "$line" limit_pauses)" 0
    LAST_STATS=$line
    otb_stop "flood-$name" || true
    otb_stop "ss-$name" || true
}

# Past the first pre-authentication deadline.
otb_lockout_phase cap $((PREAUTH + 2))
(($(otb_stat "$LAST_STATS" preauth_source_cap) > 0)) ||
    otb_fail "cap: the per-source cap refused nothing"
(($(otb_stat "$LAST_STATS" preauth_timeouts) > 0)) ||
    otb_fail "cap: no connection reached the pre-authentication deadline"
otb_server_stop cap

otb_lockout_phase evict 3 --max-preauth-per-source 0
(($(otb_stat "$LAST_STATS" preauth_evicted) > 0)) ||
    otb_fail "evict: no unauthenticated connection made room at the cap"
otb_server_stop evict
otb_log "PASS in $((SECONDS - OTB_T0)) s"
