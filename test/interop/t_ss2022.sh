#!/bin/bash
# The Shadowsocks 2022 methods against a peer written from the 2022 spec
# (test/lib/ss2022peer.py: Debian's python3-cryptography and b3sum, none of
# otb's code), for every 2022 method:
#  (a) peer client -> otb-server -> local peer: a few MiB up and down, sha256
#      checked at the receiving end; the PSK given as the password (-k);
#  (b) crafted requests to otb-server: a good one is answered; a stale or
#      future timestamp, a replayed request (same bytes, second
#      connection), a response-type header, a padding length over 900 and a
#      header with neither payload nor padding get no answer, and the
#      server counts them (auth_fail 5, replay 1);
#  (c) otb-redir (SOCKS5 port, PSK given as --key) -> peer server -> local
#      peer: up and down checked, and the peer saw no protocol violation;
#  (d) a PSK of the wrong length or not base64 is a config error naming the
#      key (-k or --key), exit status 2;
#  (e) UDP: peer client -> otb-server -u -> echo server: a burst of datagrams
#      of mixed sizes comes back intact; crafted packets: a good one is
#      echoed, a replayed one, an ID more than the window old, a stale
#      timestamp and a server-type packet are not (counted: bad 2, replay 2);
#      a session whose second packet comes from another source address is
#      answered there and keeps its outbound socket (the echo server sees
#      one source for it);
#  (f) UDP: otb-tunnel -L -> peer server -> echo server: a burst comes back
#      intact, the peer saw no violation and otb-tunnel refused nothing.
# OTB_INTEROP_MIB changes the size of the TCP transfers (default 4 MiB).
set -euo pipefail
OTB_TEST_NAME=ss2022
# shellcheck source=test/interop/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=test/interop/udp_lib.sh
. "$(dirname "$0")/udp_lib.sh"

need_cmd b3sum /usr/bin/python3 sha256sum base64 timeout
need_file "$OTB_SERVER_BIN"
REDIR_BIN=$(otb_bin otb-redir)
SS22="$(otb_src)/test/lib/ss2022peer.py"
/usr/bin/python3 -c 'import cryptography, nacl' 2>/dev/null ||
    otb_fail "python3-cryptography or python3-nacl is not installed (test/packages.sh)"

METHODS=(2022-blake3-aes-128-gcm 2022-blake3-aes-256-gcm 2022-blake3-chacha20-poly1305)
MIB=${OTB_INTEROP_MIB:-4}
ACL=$(otb_loopback_acl)
UP="$OTB_TMP/up.bin"
DOWN="$OTB_TMP/down.bin"

psk_of() { # psk_of METHOD: a fresh base64 PSK of the method's key length
    local len=32
    [[ $1 == *aes-128* ]] && len=16
    head -c "$len" /dev/urandom | base64 -w0
}

ss22_start() { # ss22_start NAME ARGS...: the spec peer in the background
    local name=$1
    shift
    otb_start "$name" /usr/bin/python3 "$SS22" "$@"
}

ss22_probe() { # ss22_probe METHOD PSK SERVER_PORT CASE: answered or silent
    timeout 30 /usr/bin/python3 "$SS22" probe "$1" "$2" "$3" 127.0.0.1 "$ECHO_PORT" "$4"
}

# expect_silent_probes WHAT PROBE_FN METHOD PSK SERVER_PORT CASE...: every
# CASE unanswered. Each waits out its own timeout, so they run side by side
# (each is a connection or a session of its own).
expect_silent_probes() {
    local what=$1 fn=$2 m=$3 psk=$4 sport=$5 c
    local -a pids=()
    shift 5
    for c in "$@"; do
        "$fn" "$m" "$psk" "$sport" "$c" >"$OTB_TMP/probe.$m.$c" 2>&1 &
        pids+=($!)
    done
    wait "${pids[@]}" || true
    for c in "$@"; do
        otb_expect_eq "$m: $what $c" "$(cat "$OTB_TMP/probe.$m.$c")" silent
    done
}

otb_random_file "$UP" "$MIB"
otb_random_file "$DOWN" "$MIB"
UP_REF="$(otb_sha256 "$UP") $(otb_file_size "$UP")"
DOWN_REF="$(otb_sha256 "$DOWN") $(otb_file_size "$DOWN")"
N=300 # datagrams per UDP burst
otb_ports PEER_PORT ECHO_PORT
otb_ports udp UECHO_PORT
otb_peer_serve peer "$PEER_PORT" cmd
otb_peer_serve echo "$ECHO_PORT" echo
udp_echo_start uecho "$UECHO_PORT"

# (a) and (b): otb-server with the spec peer as its client.
round_server() {
    local m=$1 psk=$2 sport tport stats c
    otb_ports sport tport
    otb_server_start "srv-$m" "$sport" -m "$m" -k "$psk" --acl "$ACL" -t 30
    ss22_start "client-$m" tunnel "$m" "$psk" "$tport" "$sport" 127.0.0.1 "$PEER_PORT"
    otb_wait_listen "client-$m" "$tport"
    otb_peer upload 127.0.0.1 "$tport" "$m" "$UP"
    otb_expect_eq "$m: upload through otb-server, sha256 at the far end" \
        "$(otb_sink_result peer "$m")" "$UP_REF"
    otb_expect_eq "$m: download through otb-server, sha256 at the client" \
        "$(otb_peer download 127.0.0.1 "$tport" "$DOWN")" "$DOWN_REF"
    otb_expect_eq "$m: good request" "$(ss22_probe "$m" "$psk" "$sport" good)" answered
    expect_silent_probes "request with header:" ss22_probe "$m" "$psk" "$sport" \
        stale future replay type padding empty
    stats=$(otb_server_stats "srv-$m")
    otb_expect_eq "$m: refused requests counted" \
        "$(otb_stat "$stats" auth_fail) $(otb_stat "$stats" replay)" "5 1"
    otb_stop "client-$m" || true
    otb_server_stop "srv-$m"
}

# (c): otb-redir with the spec peer as its server.
round_redir() {
    local m=$1 psk=$2 sport lport socks
    otb_ports sport lport socks
    ss22_start "server-$m" server "$m" "$psk" "$sport" "$OTB_TMP/violations.$m"
    otb_wait_listen "server-$m" "$sport"
    otb_start "redir-$m" "$REDIR_BIN" -s 127.0.0.1 -p "$sport" -b 127.0.0.1 -l "$lport" \
        --socks5-port "$socks" -m "$m" --key "$psk" -t 30
    otb_wait_listen "redir-$m" "$socks"
    otb_peer upload --socks5 "$socks" 127.0.0.1 "$PEER_PORT" "redir-$m" "$UP"
    otb_expect_eq "$m: upload through otb-redir, sha256 at the far end" \
        "$(otb_sink_result peer "redir-$m")" "$UP_REF"
    otb_expect_eq "$m: download through otb-redir, sha256 at the client" \
        "$(otb_peer download --socks5 "$socks" 127.0.0.1 "$PEER_PORT" "$DOWN")" "$DOWN_REF"
    [[ ! -s $OTB_TMP/violations.$m ]] ||
        otb_fail "$m: the spec server saw violations: $(cat "$OTB_TMP/violations.$m")"
    otb_stop "redir-$m" || true
    otb_stop "server-$m" || true
}

# (d): a wrong PSK is refused at start, naming the key it came from.
expect_config_error() { # expect_config_error WHAT WANT ARGS...
    local what=$1 want=$2 rc=0 out
    shift 2
    out=$("$OTB_SERVER_BIN" -s 127.0.0.1 -p 1 "$@" 2>&1) || rc=$?
    ((rc == 2)) || otb_fail "$what: exit status $rc, expected 2 ($out)"
    [[ $out == *"$want"* ]] || otb_fail "$what: message does not name '$want': $out"
    otb_log "ok: $what refused ($out)"
}

ss22_udp_probe() { # ss22_udp_probe METHOD PSK SERVER_PORT CASE: answered or silent
    timeout 30 /usr/bin/python3 "$SS22" udp-probe "$1" "$2" "$3" 127.0.0.1 "$UECHO_PORT" "$4"
}

udp_sources() { wc -l <"$OTB_TMP/uecho/sources"; }

# (e): otb-server's UDP with the spec peer as its client.
round_udp_server() {
    local m=$1 psk=$2 sport tport sock="$OTB_TMP/usrv-$1.sock" c before
    otb_ports sport
    otb_ports udp tport
    udp_server_start "usrv-$m" "$sport" -u -m "$m" -k "$psk" --acl "$ACL" --status-socket "$sock"
    ss22_start "uclient-$m" udp-tunnel "$m" "$psk" "$tport" "$sport" 127.0.0.1 "$UECHO_PORT"
    otb_wait_for "the peer's UDP port $tport" 15 otb_udp_bound "$tport"
    udp_expect_burst "$m: UDP burst through otb-server" "$(udp_peer burst 127.0.0.1 "$tport" "$N")" \
        "$N"
    otb_expect_eq "$m: UDP good packet" "$(ss22_udp_probe "$m" "$psk" "$sport" good)" answered
    expect_silent_probes "UDP packet:" ss22_udp_probe "$m" "$psk" "$sport" replay old stale type
    before=$(udp_sources)
    otb_expect_eq "$m: UDP session moved to another source address" \
        "$(ss22_udp_probe "$m" "$psk" "$sport" move)" answered
    otb_expect_eq "$m: the moved session kept its outbound socket (new sources at the echo)" \
        "$(($(udp_sources) - before))" 1
    otb_expect_eq "$m: UDP refused packets counted (bad, replay)" \
        "$(udp_status "$sock" udp.refused.bad) $(udp_status "$sock" udp.refused.replay)" "2 2"
    otb_stop "uclient-$m" || true
    udp_stop "usrv-$m"
}

# (f): otb-tunnel with the spec peer as its UDP server.
round_udp_tunnel() {
    local m=$1 psk=$2 sport lport sock="$OTB_TMP/utun-$1.sock"
    otb_ports udp sport lport
    ss22_start "userver-$m" udp-server "$m" "$psk" "$sport" "$OTB_TMP/uviolations.$m"
    otb_wait_for "the peer's UDP port $sport" 15 otb_udp_bound "$sport"
    udp_tunnel_start "utun-$m" "$lport" "$sport" -m "$m" -k "$psk" -L "127.0.0.1:$UECHO_PORT" \
        --status-socket "$sock"
    udp_expect_burst "$m: UDP burst through otb-tunnel" "$(udp_peer burst 127.0.0.1 "$lport" "$N")" \
        "$N"
    otb_expect_eq "$m: otb-tunnel refused nothing" \
        "$(udp_status "$sock" udp.refused.bad) $(udp_status "$sock" udp.refused.replay)" "0 0"
    [[ ! -s $OTB_TMP/uviolations.$m ]] ||
        otb_fail "$m: the spec UDP server saw violations: $(cat "$OTB_TMP/uviolations.$m")"
    udp_stop "utun-$m"
    otb_stop "userver-$m" || true
}

for m in "${METHODS[@]}"; do
    otb_log "=== $m"
    psk=$(psk_of "$m")
    round_server "$m" "$psk"
    round_redir "$m" "$(psk_of "$m")"
    expect_config_error "$m: 8-byte PSK as -k" "password (-k)" -m "$m" \
        -k "$(head -c 8 /dev/urandom | base64 -w0)"
    expect_config_error "$m: 64-byte PSK as --key" "key (--key)" -m "$m" \
        --key "$(head -c 64 /dev/urandom | base64 -w0)"
    expect_config_error "$m: a password, not base64" "password (-k)" -m "$m" -k "not base64!"
    round_udp_server "$m" "$(psk_of "$m")"
    round_udp_tunnel "$m" "$(psk_of "$m")"
done
otb_log "PASS in $((SECONDS - OTB_T0)) s"
