# shellcheck shell=bash
# UDP helpers of the interop tests (sourced after lib.sh): otb-tunnel and
# ss-server launchers, the status socket reader and udp_peer.py, the UDP peer
# (its commands are described there).

: "${OTB_TMP:?source lib.sh first}"
OTB_TUNNEL_BIN="$OTB_BUILD/otb-tunnel/otb-tunnel"
OTB_UDP_PEER="$(dirname "${BASH_SOURCE[0]}")/udp_peer.py"
need_file "$OTB_SERVER_BIN"
need_file "$OTB_TUNNEL_BIN"

# udp_peer ARGS...: the peer's client side, bounded in time.
udp_peer() {
    timeout 120 python3 "$OTB_UDP_PEER" "$@"
}

# udp_echo_start NAME PORT: UDP echo server with its own data directory.
udp_echo_start() {
    mkdir -p "$OTB_TMP/$1"
    : >"$OTB_TMP/$1/sources"
    otb_start "$1" python3 "$OTB_UDP_PEER" echo "$2" "$OTB_TMP/$1"
    otb_wait_for "udp echo on port $2" 15 otb_udp_bound "$2"
}

# udp_tunnel_start NAME LOCAL_PORT SERVER_PORT ARGS...: otb-tunnel on
# 127.0.0.1:LOCAL_PORT towards the server on 127.0.0.1:SERVER_PORT.
udp_tunnel_start() {
    local name=$1 lport=$2 sport=$3
    shift 3
    otb_start "$name" "$OTB_TUNNEL_BIN" -s 127.0.0.1 -p "$sport" -b 127.0.0.1 -l "$lport" "$@"
    otb_wait_for "$name on UDP port $lport" 15 otb_udp_bound "$lport"
}

# udp_server_start NAME PORT ARGS...: otb-server relaying UDP (add -u or -U).
udp_server_start() {
    local name=$1 port=$2
    shift 2
    otb_start "$name" "$OTB_SERVER_BIN" -s 127.0.0.1 -p "$port" "$@"
    otb_wait_for "$name on UDP port $port" 15 otb_udp_bound "$port"
}

# udp_ss_server_start NAME PORT ARGS...: shadowsocks-libev's server, UDP only.
udp_ss_server_start() {
    local name=$1 port=$2
    shift 2
    otb_start "$name" ss-server -s 127.0.0.1 -p "$port" -U "$@"
    otb_wait_for "$name on UDP port $port" 15 otb_udp_bound "$port"
}

# udp_status SOCKET KEY: one counter of a running program's status document.
udp_status() {
    udp_peer status "$1" "$2"
}

# udp_stop NAME: otb_server_stop, with the final UDP counters.
udp_stop() {
    otb_server_stop "$1" 'udp stats: '
}

# udp_expect_burst WHAT RESULT N: every datagram of a burst came back intact.
udp_expect_burst() {
    otb_expect_eq "$1" "$2" "sent $3 ok $3 bad 0 missing 0"
}
