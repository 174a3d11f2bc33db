#!/bin/bash
# Transparent UDP (TPROXY) in three private network namespaces:
#   lan (LAN host) -- box (otb-tunnel / ss-redir, nft TPROXY rules) -- net
#   (otb-server and echo servers at 198.51.100.10 / 2001:db8:100::10)
#  (a) otb-tunnel without -L: 1000 datagrams of mixed sizes up to 8 KiB from
#      the LAN host to the echo server, IPv4 and IPv6; the LAN socket is
#      connected, so every echo must come back from the original destination
#      (the transparent reply socket);
#  (b) full cone: a stranger in "net" sends to the server-side mapping and the
#      LAN host receives it from the stranger's own address and port;
#  (c) datagrams to the box's own addresses (its WAN address in the
#      intercepted range, IPv4 and IPv6): dropped and counted by otb-tunnel
#      (udp.refused.self), nothing reaches the server (its up counter stays);
#  (d) TCP to the box's own addresses through otb-redir, with -T (TPROXY) and
#      with REDIRECT: closed and counted (refused.self), never relayed (the
#      server's accepted counter stays);
#  (e) ss-redir -U -> otb-server -u, every method, 500 datagrams each, up to
#      1400 bytes: ss-redir sends to its server with don't-fragment set, so
#      its datagrams must fit the 1500-byte links (otb-tunnel's 8 KiB ones are
#      fragmented like any UDP).
# Needs root (namespaces, nft); fails, never skips, without it.
set -euo pipefail
OTB_TEST_NAME=udp_tproxy
# shellcheck source=test/interop/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=test/interop/udp_lib.sh
. "$(dirname "$0")/udp_lib.sh"

need_cmd ip nft ss-redir python3 timeout
[[ $(id -u) == 0 ]] || otb_fail "needs root for network namespaces and nft"

METHODS=(aes-128-gcm aes-256-gcm chacha20-ietf-poly1305 xchacha20-ietf-poly1305)
PASSWORD=$(otb_password)
LAN=otbul$$
BOX=otbub$$
NET=otbun$$
REMOTE4=198.51.100.10
REMOTE6=2001:db8:100::10
# The namespaces are private: fixed ports cannot collide with other runs.
ECHO_PORT=7001      # echo for otb-tunnel
ECHO_SS_PORT=7002   # echo for ss-redir
SRV_PORT=8388
TUN_PORT=1081
REDIR_PORT=1082
SELF_TCP_PORT=7003  # LAN TCP intercepted by otb-redir -T
SELF_NAT_PORT=7004  # LAN TCP intercepted by otb-redir (REDIRECT)
REDIR_T_PORT=1083
REDIR_R_PORT=1084

udp_netns_cleanup() {
    local rc=$? name
    for name in "${!OTB_PID[@]}"; do
        kill -KILL "${OTB_PID[$name]}" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    ip netns del "$LAN" 2>/dev/null || true
    ip netns del "$BOX" 2>/dev/null || true
    ip netns del "$NET" 2>/dev/null || true
    return "$rc"
}
trap 'udp_netns_cleanup; otb_cleanup' EXIT

in_ns() {
    local ns=$1
    shift
    ip netns exec "$ns" "$@"
}

ns_udp_bound() {
    [[ -n $(in_ns "$1" ss -Hlun "sport = :$2") ]]
}

# ns_start NAME NS PORT CMD...: a process in NS, waited for on UDP PORT.
ns_start() {
    local name=$1 ns=$2 port=$3
    shift 3
    otb_start "$name" ip netns exec "$ns" "$@"
    otb_wait_for "$name on UDP port $port" 15 ns_udp_bound "$ns" "$port"
}

setup_namespaces() {
    ip netns add "$LAN"
    ip netns add "$BOX"
    ip netns add "$NET"
    ip link add "l$$" netns "$LAN" type veth peer name "bl$$" netns "$BOX"
    ip link add "n$$" netns "$NET" type veth peer name "bn$$" netns "$BOX"
    in_ns "$LAN" sh -ec "
        ip link set lo up; ip link set l$$ up
        ip addr add 10.77.0.2/24 dev l$$; ip -6 addr add fd77::2/64 dev l$$ nodad
        ip route add default via 10.77.0.1; ip -6 route add default via fd77::1"
    in_ns "$NET" sh -ec "
        ip link set lo up; ip link set n$$ up
        ip addr add $REMOTE4/24 dev n$$; ip -6 addr add $REMOTE6/64 dev n$$ nodad"
    in_ns "$BOX" sh -ec "
        ip link set lo up; ip link set bl$$ up; ip link set bn$$ up
        ip addr add 10.77.0.1/24 dev bl$$; ip -6 addr add fd77::1/64 dev bl$$ nodad
        ip addr add 198.51.100.1/24 dev bn$$; ip -6 addr add 2001:db8:100::1/64 dev bn$$ nodad
        ip rule add fwmark 1 lookup 100; ip route add local 0.0.0.0/0 dev lo table 100
        ip -6 rule add fwmark 1 lookup 100; ip -6 route add local ::/0 dev lo table 100"
    # LAN UDP to the remote network goes to the local listeners, by port.
    in_ns "$BOX" nft -f - <<EOF
table inet otb_tproxy {
    chain pre {
        type filter hook prerouting priority mangle; policy accept;
        iifname "bl$$" udp dport $ECHO_PORT ip daddr 198.51.100.0/24 tproxy ip to :$TUN_PORT meta mark set 1 accept
        iifname "bl$$" udp dport $ECHO_PORT ip6 daddr 2001:db8:100::/64 tproxy ip6 to :$TUN_PORT meta mark set 1 accept
        iifname "bl$$" udp dport $ECHO_SS_PORT ip daddr 198.51.100.0/24 tproxy ip to :$REDIR_PORT meta mark set 1 accept
        iifname "bl$$" meta nfproto ipv4 tcp dport $SELF_TCP_PORT tproxy ip to :$REDIR_T_PORT meta mark set 1 accept
        iifname "bl$$" meta nfproto ipv6 tcp dport $SELF_TCP_PORT tproxy ip6 to :$REDIR_T_PORT meta mark set 1 accept
    }
    chain nat {
        type nat hook prerouting priority dstnat; policy accept;
        iifname "bl$$" tcp dport $SELF_NAT_PORT redirect to :$REDIR_R_PORT
    }
}
EOF
}

start_far_end() {
    printf '[outbound_allow_list]\n198.51.100.0/24\n2001:db8:100::/64\n' >"$OTB_TMP/net.acl"
    mkdir -p "$OTB_TMP/echo4" "$OTB_TMP/echo6" "$OTB_TMP/echoss"
    : >"$OTB_TMP/echo4/sources"
    : >"$OTB_TMP/echo6/sources"
    : >"$OTB_TMP/echoss/sources"
    ns_start echo4 "$NET" "$ECHO_PORT" python3 "$OTB_UDP_PEER" echo "$ECHO_PORT" \
        "$OTB_TMP/echo4" --bind "$REMOTE4"
    otb_start echo6 ip netns exec "$NET" python3 "$OTB_UDP_PEER" echo "$ECHO_PORT" \
        "$OTB_TMP/echo6" --bind "$REMOTE6"
    ns_start echoss "$NET" "$ECHO_SS_PORT" python3 "$OTB_UDP_PEER" echo "$ECHO_SS_PORT" \
        "$OTB_TMP/echoss" --bind "$REMOTE4"
    ns_start srv "$NET" "$SRV_PORT" "$OTB_SERVER_BIN" -s "$REMOTE4" -s "$REMOTE6" \
        -p "$SRV_PORT" -u -k "$PASSWORD" --acl "$OTB_TMP/net.acl" \
        --status-socket "$OTB_TMP/srv.sock"
}

lan_peer() {
    in_ns "$LAN" timeout 120 python3 "$OTB_UDP_PEER" "$@"
}

check_otb_tunnel() {
    local sock="$OTB_TMP/tun.sock"
    ns_start tun "$BOX" "$TUN_PORT" "$OTB_TUNNEL_BIN" -s "$REMOTE4" -p "$SRV_PORT" \
        -l "$TUN_PORT" -k "$PASSWORD" --status-socket "$sock"
    udp_expect_burst "TPROXY IPv4 through otb-tunnel" \
        "$(lan_peer burst "$REMOTE4" "$ECHO_PORT" 1000)" 1000
    udp_expect_burst "TPROXY IPv6 through otb-tunnel" \
        "$(lan_peer burst "$REMOTE6" "$ECHO_PORT" 1000)" 1000
    otb_expect_eq "full cone, peer address kept" \
        "$(lan_peer fullcone "$REMOTE4" "$ECHO_PORT" "$OTB_TMP/echo4" --netns "$NET")" \
        "fullcone ok"
    otb_expect_eq "tunnel bad datagrams" "$(in_ns "$BOX" python3 "$OTB_UDP_PEER" status \
        "$sock" udp.refused.bad)" 0
    check_self_loop "$sock"
    udp_stop tun
}

# A datagram to the box itself would go to the server, which would send it
# back to the box: dropped before it leaves.
check_self_loop() {
    local sock=$1 up before
    up() { in_ns "$NET" python3 "$OTB_UDP_PEER" status "$OTB_TMP/srv.sock" udp.up.packets; }
    before=$(up)
    otb_expect_eq "datagrams to the box's IPv4 address" \
        "$(lan_peer send 198.51.100.1 "$ECHO_PORT" 50)" "answered 0"
    otb_expect_eq "datagrams to the box's IPv6 address" \
        "$(lan_peer send 2001:db8:100::1 "$ECHO_PORT" 50)" "answered 0"
    otb_expect_eq "server: datagrams relayed meanwhile" "$(up)" "$before"
    otb_expect_eq "tunnel: refused, addressed to the box" \
        "$(in_ns "$BOX" python3 "$OTB_UDP_PEER" status "$sock" udp.refused.self)" 100
}

ns_tcp_bound() {
    [[ -n $(in_ns "$1" ss -Hltn "sport = :$2") ]]
}

# lan_connect HOST PORT: a LAN connection that sends a request and reads
# until the other side closes; prints how many bytes it read (0 when closed
# or reset).
lan_connect() {
    in_ns "$LAN" timeout 10 python3 -c '
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
try:
    s.sendall(b"GET / HTTP/1.0\r\n\r\n")
    print(len(s.recv(100)))
except (ConnectionResetError, BrokenPipeError):
    print(0)' "$1" "$2"
}

# The same for TCP: otb-redir with -T, then in REDIRECT mode.
check_tcp_self_loop() {
    local before mode port sock
    # What a relayed connection would do on the server: the box's LAN
    # address is refused by its ACL, the WAN one has nothing listening
    # (connections.accepted also counts otb-redir's health probes).
    relayed() {
        echo $(($(in_ns "$NET" python3 "$OTB_UDP_PEER" status "$OTB_TMP/srv.sock" refused.acl) +
            $(in_ns "$NET" python3 "$OTB_UDP_PEER" status "$OTB_TMP/srv.sock" failures.connect)))
    }
    for mode in tproxy redirect; do
        sock="$OTB_TMP/redir-$mode.sock"
        if [[ $mode == tproxy ]]; then
            port=$SELF_TCP_PORT
            otb_start "redir-$mode" ip netns exec "$BOX" "$OTB_BUILD/otb-redir/otb-redir" -T \
                -s "$REMOTE4" -p "$SRV_PORT" -l "$REDIR_T_PORT" -k "$PASSWORD" \
                --status-socket "$sock"
            otb_wait_for "otb-redir -T" 15 ns_tcp_bound "$BOX" "$REDIR_T_PORT"
        else
            port=$SELF_NAT_PORT
            otb_start "redir-$mode" ip netns exec "$BOX" "$OTB_BUILD/otb-redir/otb-redir" \
                -s "$REMOTE4" -p "$SRV_PORT" -l "$REDIR_R_PORT" -k "$PASSWORD" \
                --status-socket "$sock"
            otb_wait_for "otb-redir" 15 ns_tcp_bound "$BOX" "$REDIR_R_PORT"
        fi
        before=$(relayed)
        otb_expect_eq "$mode: TCP to the box's IPv4 address" \
            "$(lan_connect 198.51.100.1 "$port")" 0
        otb_expect_eq "$mode: TCP to the box's LAN address" "$(lan_connect 10.77.0.1 "$port")" 0
        [[ $mode == redirect ]] ||
            otb_expect_eq "$mode: TCP to the box's IPv6 address" \
                "$(lan_connect 2001:db8:100::1 "$port")" 0
        otb_expect_eq "$mode: server connections refused or failed meanwhile" "$(relayed)" \
            "$before"
        otb_expect_eq "$mode: otb-redir refused, addressed to the box" \
            "$(in_ns "$BOX" python3 "$OTB_UDP_PEER" status "$sock" refused.self)" \
            "$([[ $mode == redirect ]] && echo 2 || echo 3)"
        otb_server_stop "redir-$mode"
    done
}

check_ss_redir() {
    local m=$1 port=$((SRV_PORT + 1))
    ns_start srvm "$NET" "$port" "$OTB_SERVER_BIN" -s "$REMOTE4" -p "$port" -u \
        -k "$PASSWORD" -m "$m" --acl "$OTB_TMP/net.acl"
    ns_start redir "$BOX" "$REDIR_PORT" ss-redir -s "$REMOTE4" -p "$port" -b 0.0.0.0 \
        -l "$REDIR_PORT" -k "$PASSWORD" -m "$m" -U
    udp_expect_burst "$m: ss-redir -U -> otb-server -u" \
        "$(lan_peer burst "$REMOTE4" "$ECHO_SS_PORT" 500 --max 1400)" 500
    otb_stop redir || true
    udp_stop srvm
}

setup_namespaces
start_far_end
check_otb_tunnel
check_tcp_self_loop
for m in "${METHODS[@]}"; do
    check_ss_redir "$m"
done
udp_stop srv
otb_log "all TPROXY checks passed in $((SECONDS - OTB_T0)) s"
