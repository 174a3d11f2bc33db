#!/bin/bash
# shellcheck disable=SC2153 # the ports are assigned by otb_ports
# otb-server applies the client lists of its ACL ([black_list], [white_list],
# [reject_all], [accept_all]) to the box's source address, as
# shadowsocks-libev does: a TCP connection from a refused source is closed at
# accept without a byte read or sent, a datagram from one is dropped; both
# are counted (refused.client, udp.refused.client).
#
#  1. [reject_all] + white_list 127.0.0.2: a box on 127.0.0.1 is refused
#     (TCP: closed at once, no echo; UDP: no answer), one on 127.0.0.2 is
#     relayed to the echo servers, TCP and UDP.
#  2. SIGHUP with [accept_all] + black_list 127.0.0.2: now the reverse, for
#     new connections and datagrams.
# The server must stop with exit status 0 and a log free of sanitizer
# reports.
set -euo pipefail
OTB_TEST_NAME=client-acl
# shellcheck source=test/interop/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=test/interop/udp_lib.sh
. "$(dirname "$0")/udp_lib.sh"

need_cmd python3 timeout
need_file "$OTB_PROBE_BIN"

METHOD=chacha20-ietf-poly1305
PASSWORD=$(otb_password)
ACL=$OTB_TMP/clients.acl
SOCK=$OTB_TMP/status.sock
otb_ports SPORT ECHO_PORT
otb_ports udp UECHO_PORT

# write_acl MODE LIST ADDR: the client rule, plus loopback as a destination.
write_acl() {
    printf '[%s]\n[%s]\n%s\n[outbound_allow_list]\n127.0.0.0/8\n' "$1" "$2" "$3" >"$ACL"
}

# probe SRC ARGS...: one otb_probe from source address SRC; prints its line.
probe() {
    local src=$1
    shift
    timeout 30 "$OTB_PROBE_BIN" -s "127.0.0.1:$SPORT" -m "$METHOD" -k "$PASSWORD" --wait 2 \
        --from "$src" --payload "from-$src" "$@" || otb_fail "otb_probe from $src failed"
}

expect_tcp_refused() {
    local line
    line=$(probe "$1" --valid-to "127.0.0.1:$ECHO_PORT")
    otb_probe_closed_at_once "$line" || otb_fail "TCP from $1 should be closed at once, got: $line"
    otb_log "ok: TCP from $1 closed at accept ($line)"
}

expect_tcp_relayed() {
    local line
    line=$(probe "$1" --valid-to "127.0.0.1:$ECHO_PORT" --wait 10)
    [[ $(otb_probe_value "$line" echo) == yes ]] || otb_fail "TCP from $1 should be relayed, got: $line"
    otb_log "ok: TCP from $1 relayed"
}

expect_udp() { # expect_udp SRC yes|no (an answer may take long on a loaded machine)
    local line wait=2
    [[ $2 == no ]] || wait=10
    line=$(probe "$1" --udp --valid-to "127.0.0.1:$UECHO_PORT" --wait "$wait")
    [[ $(otb_probe_value "$line" echo) == "$2" ]] || otb_fail "UDP from $1: expected echo=$2, got: $line"
    otb_log "ok: UDP from $1: echo=$2"
}

expect_counts() { # expect_counts TCP UDP
    otb_expect_eq "refused.client" "$(udp_status "$SOCK" refused.client)" "$1"
    otb_expect_eq "udp.refused.client" "$(udp_status "$SOCK" udp.refused.client)" "$2"
}

# hup: SIGHUP, then wait for the reload's log line.
hup() {
    local log="$OTB_TMP/srv.log" before
    before=$(otb_count_lines "$log" 'SIGHUP: ACL')
    kill -HUP "${OTB_PID[srv]}"
    otb_wait_for "the ACL reload" 10 otb_lines_above "$log" 'SIGHUP: ACL' "$before"
}

otb_peer_serve echo "$ECHO_PORT" echo
udp_echo_start uecho "$UECHO_PORT"
write_acl reject_all white_list 127.0.0.2
udp_server_start srv "$SPORT" -u -m "$METHOD" -k "$PASSWORD" --acl "$ACL" \
    --status-socket "$SOCK"
otb_wait_listen srv "$SPORT"

otb_log "1. [reject_all], white_list 127.0.0.2"
expect_tcp_refused 127.0.0.1
expect_tcp_relayed 127.0.0.2
expect_udp 127.0.0.1 no
expect_udp 127.0.0.2 yes
otb_expect_eq "connections that reached the echo server" "$(otb_peer_accepts echo)" 1
expect_counts 1 1

otb_log "2. SIGHUP: [accept_all], black_list 127.0.0.2"
write_acl accept_all black_list 127.0.0.2
hup
expect_tcp_refused 127.0.0.2
expect_tcp_relayed 127.0.0.1
expect_udp 127.0.0.2 no
expect_udp 127.0.0.1 yes
otb_expect_eq "connections that reached the echo server" "$(otb_peer_accepts echo)" 2
expect_counts 2 2

otb_server_stop srv
otb_log "PASS in $((SECONDS - OTB_T0)) s"
