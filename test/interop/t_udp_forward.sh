#!/bin/bash
# otb-tunnel forward mode and otb-server's UDP relay behaviour, on loopback:
#  (a) DNS through forward mode to a dnsmasq: over UDP, and over TCP on the
#      same port with -u; the answers must be the dnsmasq's records;
#  (b) a destination given as a name (-L echo.otb.test:PORT) is resolved by
#      the server: the first datagram is held during the lookup and echoed,
#      then a burst of 500 comes back intact;
#  (c) full cone: a stranger sends to the server-side mapping the echo server
#      saw, and the datagram reaches the LAN client (otb-tunnel and ss-tunnel);
#      the server's outbound sockets are bound to -b 127.0.0.2, which the echo
#      server must see as the source;
#  (d) the built-in outbound block list refuses loopback without an ACL:
#      nothing is echoed and the refusals are counted;
#  (e) association cap and idle timeout: 40 LAN sockets through a tunnel and a
#      server limited to 16 associations evict the oldest, and -t 2 expires
#      the rest; a voice association (to port 5060) outlives -t 2, and an
#      ordinary one newer than it still expires;
#  (f) -U: the server relays UDP and does not listen on TCP.
set -euo pipefail
OTB_TEST_NAME=udp_forward
# shellcheck source=test/interop/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=test/interop/udp_lib.sh
. "$(dirname "$0")/udp_lib.sh"

need_cmd ss-tunnel dnsmasq python3 timeout ss

PASSWORD=$(otb_password)
ACL=$(otb_loopback_acl)
otb_ports ECHO_PORT DNS_PORT SRV_PORT
SRV_SOCK="$OTB_TMP/srv.sock"
udp_echo_start echo "$ECHO_PORT"
otb_dnsmasq_start dns "$DNS_PORT" host.otb.test=198.51.100.7 echo.otb.test=127.0.0.1
udp_server_start srv "$SRV_PORT" -u -k "$PASSWORD" --acl "$ACL" -d "127.0.0.1:$DNS_PORT" \
    -b 127.0.0.2 --status-socket "$SRV_SOCK"

check_dns() {
    local port
    port=$(otb_free_port)
    udp_tunnel_start dnsfwd "$port" "$SRV_PORT" -k "$PASSWORD" -u -L "127.0.0.1:$DNS_PORT"
    otb_wait_listen dnsfwd "$port"
    otb_expect_eq "DNS over UDP through the tunnel" \
        "$(udp_peer dns 127.0.0.1 "$port" host.otb.test)" 198.51.100.7
    otb_expect_eq "DNS over TCP on the same port (-u)" \
        "$(udp_peer dns 127.0.0.1 "$port" host.otb.test --tcp)" 198.51.100.7
    udp_stop dnsfwd
}

check_name_destination() {
    local port before
    port=$(otb_free_port)
    before=$(udp_status "$SRV_SOCK" udp.failures.dns_dropped)
    udp_tunnel_start byname "$port" "$SRV_PORT" -k "$PASSWORD" -L "echo.otb.test:$ECHO_PORT"
    udp_expect_burst "first datagram to a name (held during the lookup)" \
        "$(udp_peer burst 127.0.0.1 "$port" 1 --window 1)" 1
    udp_expect_burst "500 datagrams to a name" "$(udp_peer burst 127.0.0.1 "$port" 500)" 500
    otb_expect_eq "datagrams dropped during lookups" \
        "$(udp_status "$SRV_SOCK" udp.failures.dns_dropped)" "$before"
    udp_stop byname
}

check_full_cone() {
    local port
    port=$(otb_free_port)
    udp_tunnel_start cone "$port" "$SRV_PORT" -k "$PASSWORD" -L "127.0.0.1:$ECHO_PORT"
    otb_expect_eq "full cone through otb-tunnel" \
        "$(udp_peer fullcone 127.0.0.1 "$port" "$OTB_TMP/echo")" "fullcone ok"
    udp_stop cone
    port=$(otb_free_port)
    otb_start sscone ss-tunnel -s 127.0.0.1 -p "$SRV_PORT" -b 127.0.0.1 -l "$port" \
        -k "$PASSWORD" -m chacha20-ietf-poly1305 -U -L "127.0.0.1:$ECHO_PORT"
    otb_wait_for "ss-tunnel on UDP port $port" 15 otb_udp_bound "$port"
    otb_expect_eq "full cone through ss-tunnel" \
        "$(udp_peer fullcone 127.0.0.1 "$port" "$OTB_TMP/echo")" "fullcone ok"
    otb_stop sscone || true
    otb_expect_eq "sources seen by the echo server other than -b 127.0.0.2" \
        "$(grep -vc '^127\.0\.0\.2:' "$OTB_TMP/echo/sources")" 0
}

# A second server without the loopback ACL: the built-in list refuses 127.0.0.1.
check_block_list() {
    local sport tport sock="$OTB_TMP/strict.sock" seen
    otb_ports sport tport
    seen=$(wc -l <"$OTB_TMP/echo/sources")
    udp_server_start strict "$sport" -u -k "$PASSWORD" --status-socket "$sock"
    udp_tunnel_start blocked "$tport" "$sport" -k "$PASSWORD" -L "127.0.0.1:$ECHO_PORT"
    otb_expect_eq "answers to blocked datagrams" "$(udp_peer send 127.0.0.1 "$tport" 5)" \
        "answered 0"
    otb_expect_eq "refusals counted" "$(udp_status "$sock" udp.refused.acl)" 5
    otb_expect_eq "datagrams that reached the echo server" \
        "$(wc -l <"$OTB_TMP/echo/sources")" "$seen"
    udp_stop blocked
    udp_stop strict
}

assoc_active_zero() {
    [[ $(udp_status "$1" udp.associations.active) == 0 ]]
}

check_cap_and_timeout() {
    local sport tport ssock="$OTB_TMP/capsrv.sock" tsock="$OTB_TMP/captun.sock"
    otb_ports sport tport
    udp_server_start capsrv "$sport" -u -k "$PASSWORD" --acl "$ACL" --udp-max-assoc 16 -t 2 \
        --status-socket "$ssock"
    udp_tunnel_start captun "$tport" "$sport" -k "$PASSWORD" -L "127.0.0.1:$ECHO_PORT" \
        --udp-max-assoc 16 -t 2 --status-socket "$tsock"
    otb_expect_eq "echoes to 40 sockets" \
        "$(udp_peer pings 127.0.0.1 "$tport" 40)" "answered 40"
    # Counters only, read after everything expired: no race with the 2 s timeout.
    otb_wait_for "idle associations to expire" 10 assoc_active_zero "$ssock"
    otb_wait_for "idle tunnel associations to expire" 10 assoc_active_zero "$tsock"
    local who sock
    for who in tunnel server; do
        sock=$([[ $who == tunnel ]] && echo "$tsock" || echo "$ssock")
        otb_expect_eq "$who associations created" \
            "$(udp_status "$sock" udp.associations.created)" 40
        otb_expect_eq "$who associations evicted (cap 16)" \
            "$(udp_status "$sock" udp.associations.evicted)" 24
        otb_expect_eq "$who associations expired (-t 2)" \
            "$(udp_status "$sock" udp.associations.expired)" 16
    done
    udp_stop captun
    udp_stop capsrv
}

expired_is() {
    [[ $(udp_status "$1" udp.associations.expired) == "$2" ]]
}

# A voice association (to SIP's port 5060) outlives -t 2 (it has 300 s), and the expiry sweep
# passes over it: an ordinary association newer than it still expires.
check_voice_timeout() {
    local sport vport nport vaddr ssock="$OTB_TMP/vsrv.sock"
    otb_ports sport vport nport
    # SIP's port on a loopback address of this run's own (runs side by side share the ports).
    vaddr="127.0.$((vport / 256 % 256)).$((vport % 256))"
    mkdir -p "$OTB_TMP/vecho"
    : >"$OTB_TMP/vecho/sources"
    otb_start vecho python3 "$OTB_UDP_PEER" echo 5060 "$OTB_TMP/vecho" --bind "$vaddr"
    otb_wait_for "udp echo on $vaddr:5060" 15 bash -c "ss -Hlun 'src = $vaddr:5060' | grep -q ."
    udp_server_start vsrv "$sport" -u -k "$PASSWORD" --acl "$ACL" -t 2 --status-socket "$ssock"
    udp_tunnel_start vtun "$vport" "$sport" -k "$PASSWORD" -L "$vaddr:5060"
    udp_tunnel_start ntun "$nport" "$sport" -k "$PASSWORD" -L "127.0.0.1:$ECHO_PORT"
    # The voice association first: the oldest of the server's table.
    otb_expect_eq "echo from the SIP port" "$(udp_peer send 127.0.0.1 "$vport" 1)" "answered 1"
    otb_expect_eq "echo from an ordinary port" "$(udp_peer send 127.0.0.1 "$nport" 1)" \
        "answered 1"
    otb_wait_for "the ordinary association to expire (-t 2)" 10 expired_is "$ssock" 1
    sleep 1 # a further sweep or two
    otb_expect_eq "associations expired" "$(udp_status "$ssock" udp.associations.expired)" 1
    otb_expect_eq "associations active (the voice one)" \
        "$(udp_status "$ssock" udp.associations.active)" 1
    otb_expect_eq "voice associations" "$(udp_status "$ssock" udp.associations.voice)" 1
    udp_stop vtun
    udp_stop ntun
    udp_stop vsrv
    otb_stop vecho || true
}

check_udp_only() {
    local sport tport
    otb_ports sport tport
    udp_server_start udponly "$sport" -U -k "$PASSWORD" --acl "$ACL"
    [[ -z $(ss -Hltn "sport = :$sport") ]] || otb_fail "-U: the server listens on TCP"
    udp_tunnel_start toudponly "$tport" "$sport" -k "$PASSWORD" -L "127.0.0.1:$ECHO_PORT"
    udp_expect_burst "-U server relays UDP" "$(udp_peer burst 127.0.0.1 "$tport" 100)" 100
    udp_stop toudponly
    udp_stop udponly
}

check_dns
check_name_destination
check_full_cone
check_block_list
check_cap_and_timeout
check_voice_timeout
check_udp_only
otb_expect_eq "server bad datagrams" "$(udp_status "$SRV_SOCK" udp.refused.bad)" 0
udp_stop srv
otb_log "all UDP forward checks passed in $((SECONDS - OTB_T0)) s"
