#!/bin/bash
# UDP relay interop with shadowsocks-libev, for every method, on loopback:
#  (a) ss-tunnel -U  -> otb-server -u -> echo server
#  (b) otb-tunnel -L -> ss-server -U  -> echo server
#  (c) otb-tunnel -L -> otb-server -u -> echo server
# Each carries 2000 datagrams of mixed sizes up to 8 KiB; every echo must come
# back byte-exact (sha256 per datagram), and the relays' counters must agree.
# ss-redir -U needs TPROXY rules: the network-namespace lab covers it.
# shadowsocks-libev reads datagrams into a buffer of twice its packet size,
# derived from --mtu (about 2.8 KB by default): it gets --mtu 9000 so that
# 8 KiB datagrams fit.
set -euo pipefail
OTB_TEST_NAME=udp_interop
# shellcheck source=test/interop/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=test/interop/udp_lib.sh
. "$(dirname "$0")/udp_lib.sh"

need_cmd ss-server ss-tunnel python3 timeout

METHODS=(aes-128-gcm aes-256-gcm chacha20-ietf-poly1305 xchacha20-ietf-poly1305)
N=${OTB_UDP_DATAGRAMS:-2000}
PASSWORD=$(otb_password)
ACL=$(otb_loopback_acl)
ECHO_PORT=$(otb_free_port)
udp_echo_start echo "$ECHO_PORT"

# ss-tunnel -U to otb-server -u.
check_ss_tunnel() {
    local m=$1 sport lport result sock="$OTB_TMP/srv-$1.sock"
    otb_ports sport lport
    udp_server_start srv "$sport" -u -k "$PASSWORD" -m "$m" --acl "$ACL" --status-socket "$sock"
    otb_start sst ss-tunnel -s 127.0.0.1 -p "$sport" -b 127.0.0.1 -l "$lport" -k "$PASSWORD" \
        -m "$m" -U -L "127.0.0.1:$ECHO_PORT" --mtu 9000
    otb_wait_for "ss-tunnel on UDP port $lport" 15 otb_udp_bound "$lport"
    result=$(udp_peer burst 127.0.0.1 "$lport" "$N")
    udp_expect_burst "$m: ss-tunnel -> otb-server" "$result" "$N"
    otb_expect_eq "$m: otb-server datagrams out" "$(udp_status "$sock" udp.up.packets)" "$N"
    otb_expect_eq "$m: otb-server datagrams back" "$(udp_status "$sock" udp.down.packets)" "$N"
    otb_expect_eq "$m: otb-server bad datagrams" "$(udp_status "$sock" udp.refused.bad)" 0
    otb_stop sst || true
    udp_stop srv
}

# otb-tunnel -L to ss-server.
check_ss_server() {
    local m=$1 sport lport result sock="$OTB_TMP/tun-$1.sock"
    otb_ports sport lport
    udp_ss_server_start sss "$sport" -k "$PASSWORD" -m "$m" --mtu 9000
    udp_tunnel_start tun "$lport" "$sport" -k "$PASSWORD" -m "$m" -L "127.0.0.1:$ECHO_PORT" \
        --status-socket "$sock"
    result=$(udp_peer burst 127.0.0.1 "$lport" "$N")
    udp_expect_burst "$m: otb-tunnel -> ss-server" "$result" "$N"
    otb_expect_eq "$m: otb-tunnel datagrams back" "$(udp_status "$sock" udp.down.packets)" "$N"
    otb_expect_eq "$m: otb-tunnel bad datagrams" "$(udp_status "$sock" udp.refused.bad)" 0
    udp_stop tun
    otb_stop sss || true
}

# otb-tunnel -L to otb-server -u.
check_otb_pair() {
    local m=$1 sport lport result
    otb_ports sport lport
    udp_server_start srv "$sport" -u -k "$PASSWORD" -m "$m" --acl "$ACL"
    udp_tunnel_start tun "$lport" "$sport" -k "$PASSWORD" -m "$m" -L "127.0.0.1:$ECHO_PORT"
    result=$(udp_peer burst 127.0.0.1 "$lport" "$N")
    udp_expect_burst "$m: otb-tunnel -> otb-server" "$result" "$N"
    udp_stop tun
    udp_stop srv
}

for m in "${METHODS[@]}"; do
    check_ss_tunnel "$m"
    check_ss_server "$m"
    check_otb_pair "$m"
done
otb_log "all UDP interop checks passed in $((SECONDS - OTB_T0)) s"
