#!/bin/bash
# shellcheck disable=SC2153 # the ports are assigned by otb_ports
# otb-server's outbound block list, in two network namespaces made here:
# "srv" (the server, 203.0.114.2 and .3 on a veth, its own services on every
# address) and "far" (203.0.114.1, echo servers standing for the Internet).
# In srv, 203.0.114.77/.78, 168.63.129.16, ::127.0.0.1 and 2002:7f00:1::/48
# are routed to the host itself without being interface addresses, as a
# 1:1-NATed public address, Azure's wire server or a sit/6to4 tunnel would
# bring them back to it.
#
#  1. Control: a request to 203.0.114.78 (not listed) reaches the server's
#     own service: the hairpin this test guards against exists.
#  2. Refused at once, nothing reaches the service: the --public-address
#     203.0.114.77, 168.63.129.16, ::ffff:127.0.0.1, ::127.0.0.1 (IPv4-
#     compatible), 2002:7f00:1:: and 2002:7f00:0001::5 (6to4); over UDP too
#     (udp.refused.acl).
#  3. A mapped destination (::ffff:203.0.114.1) leaves over IPv4 from the
#     -b address 203.0.114.3, TCP and UDP, as the far side sees it.
#  4. Addresses added to srv's interface while the server runs (203.0.114.50,
#     2001:db9::50) are refused at once; once .50 moved to "far" it is
#     reached again: the list follows the netlink events.
# The stats' acl_refused counts every refusal; the server stops with exit
# status 0 and a log free of sanitizer reports.
set -euo pipefail
OTB_TEST_NAME=egress-block
# shellcheck source=test/interop/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=test/interop/udp_lib.sh
. "$(dirname "$0")/udp_lib.sh"

need_cmd ip python3 timeout
need_file "$OTB_PROBE_BIN"
otb_need_root

METHOD=aes-256-gcm
PASSWORD=$(otb_password)
SRV=otbeg-s$$
FAR=otbeg-f$$
SOCK=$OTB_TMP/status.sock
otb_ports SPORT SELF_PORT FAR_PORT
otb_ports udp UFAR_PORT

setup_namespaces() {
    otb_netns_add "$SRV"
    otb_netns_add "$FAR"
    ip link add "es$$" netns "$SRV" type veth peer name "ef$$" netns "$FAR"
    ip -n "$SRV" link set "es$$" up
    ip -n "$FAR" link set "ef$$" up
    ip -n "$SRV" addr add 203.0.114.2/24 dev "es$$"
    ip -n "$SRV" addr add 203.0.114.3/24 dev "es$$"
    ip -n "$FAR" addr add 203.0.114.1/24 dev "ef$$"
    ip -n "$SRV" route add local 203.0.114.77/32 dev lo
    ip -n "$SRV" route add local 203.0.114.78/32 dev lo
    ip -n "$SRV" route add local 168.63.129.16/32 dev lo
    ip -n "$SRV" -6 route add local ::127.0.0.1/128 dev lo
    ip -n "$SRV" -6 route add local 2002:7f00:1::/48 dev lo
}

# start_peers: the server's own service (every address of srv) and the far
# side's echo servers, which note their peers' addresses.
start_peers() {
    local d
    for d in self far ufar; do
        mkdir -p "$OTB_TMP/$d"
        : >"$OTB_TMP/$d/accepts"
        : >"$OTB_TMP/$d/sources"
    done
    otb_start self ip netns exec "$SRV" python3 "$OTB_PEER" serve "$SELF_PORT" echo \
        "$OTB_TMP/self" ::
    otb_start far ip netns exec "$FAR" python3 "$OTB_PEER" serve "$FAR_PORT" echo \
        "$OTB_TMP/far" 0.0.0.0
    otb_start ufar ip netns exec "$FAR" python3 "$OTB_UDP_PEER" echo "$UFAR_PORT" \
        "$OTB_TMP/ufar" --bind 0.0.0.0
    otb_wait_port tcp "$SELF_PORT" 15 "${OTB_PID[self]}" "$SRV"
    otb_wait_port tcp "$FAR_PORT" 15 "${OTB_PID[far]}" "$FAR"
    otb_wait_port udp "$UFAR_PORT" 15 "${OTB_PID[ufar]}" "$FAR"
}

# probe ARGS...: one otb_probe in srv toward the server; prints its line.
probe() {
    ip netns exec "$SRV" timeout 30 "$OTB_PROBE_BIN" -s "127.0.0.1:$SPORT" -m "$METHOD" \
        -k "$PASSWORD" --wait 2 "$@" || otb_fail "otb_probe $* failed"
}

accepts() { # accepts PEER: connections PEER accepted
    otb_peer_accepts "$1"
}

expect_reached() { # expect_reached TARGET
    local line
    line=$(probe --valid-to "$1" --payload "to-$1" --wait 10)
    [[ $(otb_probe_value "$line" echo) == yes ]] || otb_fail "$1 should be reached, got: $line"
    otb_log "ok: $1 reached"
}

expect_refused() { # expect_refused TARGET: closed at once, no reply
    local line before
    before=$(accepts self)
    line=$(probe --valid-to "$1" --payload "to-$1" --wait 1)
    otb_probe_closed_at_once "$line" || otb_fail "$1 should be refused at once, got: $line"
    otb_expect_eq "connections to the server's own service after $1" "$(accepts self)" "$before"
}

expect_udp_unanswered() { # expect_udp_unanswered TARGET (refusals are counted at the end)
    [[ $(otb_probe_value "$(probe --udp --valid-to "$1" --wait 1)" echo) == no ]] ||
        otb_fail "UDP to $1 was answered"
}

setup_namespaces
start_peers
otb_start srv ip netns exec "$SRV" "$OTB_SERVER_BIN" -s 127.0.0.1 -p "$SPORT" -u -m "$METHOD" \
    -k "$PASSWORD" -b 203.0.114.3 --public-address 203.0.114.77 --status-socket "$SOCK"
otb_wait_port tcp "$SPORT" 15 "${OTB_PID[srv]}" "$SRV"
otb_wait_port udp "$SPORT" 15 "${OTB_PID[srv]}" "$SRV"

otb_log "1. control: an address routed to this host, not listed"
expect_reached "203.0.114.78:$SELF_PORT"
otb_expect_eq "connections to the server's own service" "$(accepts self)" 1

otb_log "2. public address, Azure wire server, IPv4 in IPv6"
REFUSED=(203.0.114.77 168.63.129.16 "[::ffff:127.0.0.1]" "[::127.0.0.1]" "[2002:7f00:1::]"
    "[2002:7f00:0001::5]")
for t in "${REFUSED[@]}"; do
    expect_refused "$t:$SELF_PORT"
done
UDP_REFUSED=(203.0.114.77 "[::127.0.0.1]" "[2002:7f00:1::]")
for t in "${UDP_REFUSED[@]}"; do
    expect_udp_unanswered "$t:$SELF_PORT"
done
otb_expect_eq "UDP datagrams refused (udp.refused.acl)" "$(udp_status "$SOCK" udp.refused.acl)" \
    "${#UDP_REFUSED[@]}"

otb_log "3. a mapped destination leaves over IPv4 from -b"
expect_reached "[::ffff:203.0.114.1]:$FAR_PORT"
otb_expect_eq "source address the far side saw (TCP)" "$(tail -n 1 "$OTB_TMP/far/accepts")" \
    203.0.114.3
[[ $(otb_probe_value "$(probe --udp --valid-to "[::ffff:203.0.114.1]:$UFAR_PORT" --wait 10)" echo) == yes ]] ||
    otb_fail "UDP to ::ffff:203.0.114.1 got no echo"
otb_expect_eq "source address the far side saw (UDP)" \
    "$(cut -d: -f1 "$OTB_TMP/ufar/sources" | tail -n 1)" 203.0.114.3

otb_log "4. addresses added while the server runs"
ip -n "$SRV" addr add 203.0.114.50/32 dev "es$$"
ip -n "$SRV" addr add 2001:db9::50/128 dev "es$$" nodad
expect_refused "203.0.114.50:$SELF_PORT"
expect_refused "[2001:db9::50]:$SELF_PORT"
ip -n "$SRV" addr del 203.0.114.50/32 dev "es$$"
ip -n "$FAR" addr add 203.0.114.50/32 dev "ef$$"
expect_reached "203.0.114.50:$FAR_PORT"

otb_expect_eq "acl_refused" "$(udp_status "$SOCK" refused.acl)" $((${#REFUSED[@]} + 2))
otb_server_stop srv
otb_log "PASS in $((SECONDS - OTB_T0)) s"
