#!/bin/bash
# shellcheck disable=SC2153 # the ports are assigned by otb_ports
# A migration between method families: one otb-server process (-u) serves
# SIP004 (aes-256-gcm) on server_port and Shadowsocks 2022
# (2022-blake3-aes-128-gcm, PSK as "key"; 2022-blake3-chacha20-poly1305, PSK
# as "password") on the ports of "listeners", TCP and UDP on each:
#  (a) at the same time: ss-tunnel and ss-local (shadowsocks-libev) upload and
#      download a few MiB through server_port, ss-tunnel -U sends a UDP burst
#      there, and the 2022 spec peer (test/lib/ss2022peer.py) does the same
#      through each 2022 port: every sha256 and every datagram checked;
#  (b) each port speaks its own method only: a 2022 request to server_port
#      and to the other 2022 port gets no answer, a good one to its own port
#      does;
#  (c) a bad "listeners" entry (unknown method, unknown key, a PSK of the
#      wrong length, a port already served, no secret, not an array) is a
#      config error naming the key, exit status 2.
# OTB_INTEROP_MIB changes the size of the TCP transfers (default 4 MiB).
set -euo pipefail
OTB_TEST_NAME=ss_migrate
# shellcheck source=test/interop/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=test/interop/udp_lib.sh
. "$(dirname "$0")/udp_lib.sh"

need_cmd ss-local ss-tunnel b3sum /usr/bin/python3 sha256sum base64 timeout
need_file "$OTB_SERVER_BIN"
SS22="$(otb_src)/test/lib/ss2022peer.py"
/usr/bin/python3 -c 'import cryptography, nacl' 2>/dev/null ||
    otb_fail "python3-cryptography or python3-nacl is not installed (test/packages.sh)"

OLD=aes-256-gcm
NEW=(2022-blake3-aes-128-gcm 2022-blake3-chacha20-poly1305)
MIB=${OTB_INTEROP_MIB:-4}
N=300 # datagrams per UDP burst
PASSWORD=$(otb_password)
PSK=("$(head -c 16 /dev/urandom | base64 -w0)" "$(head -c 32 /dev/urandom | base64 -w0)")
ACL=$(otb_loopback_acl)
UP="$OTB_TMP/up.bin"
DOWN="$OTB_TMP/down.bin"
CONF="$OTB_TMP/server.json"
SOCK="$OTB_TMP/srv.sock"

otb_random_file "$UP" "$MIB"
otb_random_file "$DOWN" "$MIB"
UP_REF="$(otb_sha256 "$UP") $(otb_file_size "$UP")"
DOWN_REF="$(otb_sha256 "$DOWN") $(otb_file_size "$DOWN")"
otb_ports SPORT NPORT0 NPORT1 PEER_PORT ECHO_PORT TPORT LPORT SS22_T0 SS22_T1
otb_ports udp UECHO_PORT UTPORT SS22_U0 SS22_U1
NPORT=("$NPORT0" "$NPORT1")
SS22_T=("$SS22_T0" "$SS22_T1")
SS22_U=("$SS22_U0" "$SS22_U1")
otb_peer_serve peer "$PEER_PORT" cmd
otb_peer_serve echo "$ECHO_PORT" echo
udp_echo_start uecho "$UECHO_PORT"

# server_config LISTENERS_JSON: the server's file with that "listeners" value.
server_config() {
    cat >"$CONF" <<EOF
{"server": "127.0.0.1", "server_port": $SPORT, "method": "$OLD", "password": "$PASSWORD",
 "mode": "tcp_and_udp", "acl": "$ACL", "timeout": 30, "status_socket": "$SOCK",
 "listeners": $1}
EOF
}

# ---------------------------------------------------------------- (a), (b)
server_config "[{\"server_port\": ${NPORT[0]}, \"method\": \"${NEW[0]}\", \"key\": \"${PSK[0]}\"},
 {\"server_port\": ${NPORT[1]}, \"method\": \"${NEW[1]}\", \"password\": \"${PSK[1]}\"}]"
otb_start srv "$OTB_SERVER_BIN" -c "$CONF"
for p in "$SPORT" "${NPORT[@]}"; do
    otb_wait_listen srv "$p"
    otb_wait_for "otb-server on UDP port $p" 15 otb_udp_bound "$p"
done

otb_ss_start ss-tunnel ss-tunnel "$TPORT" "$SPORT" -m "$OLD" -k "$PASSWORD" \
    -L "127.0.0.1:$PEER_PORT"
otb_ss_start ss-local ss-local "$LPORT" "$SPORT" -m "$OLD" -k "$PASSWORD"
otb_start ss-utunnel ss-tunnel -s 127.0.0.1 -p "$SPORT" -b 127.0.0.1 -l "$UTPORT" -t 30 \
    -m "$OLD" -k "$PASSWORD" -U -L "127.0.0.1:$UECHO_PORT" --mtu 9000
otb_wait_for "ss-tunnel on UDP port $UTPORT" 15 otb_udp_bound "$UTPORT"
for i in 0 1; do
    otb_start "ss22-$i" /usr/bin/python3 "$SS22" tunnel "${NEW[$i]}" "${PSK[$i]}" \
        "${SS22_T[$i]}" "${NPORT[$i]}" 127.0.0.1 "$PEER_PORT"
    otb_wait_listen "ss22-$i" "${SS22_T[$i]}"
    otb_start "ss22u-$i" /usr/bin/python3 "$SS22" udp-tunnel "${NEW[$i]}" "${PSK[$i]}" \
        "${SS22_U[$i]}" "${NPORT[$i]}" 127.0.0.1 "$UECHO_PORT"
    otb_wait_for "the peer's UDP port ${SS22_U[$i]}" 15 otb_udp_bound "${SS22_U[$i]}"
done

# transfers TAG ARGS...: an upload then a download with otb_peer ARGS (the
# port to reach, or --socks5 PORT and the peer's address); the download's
# "sha256 length" goes to $OTB_TMP/down.TAG. Run in the background.
transfers() {
    local tag=$1
    shift
    otb_peer upload "$@" "$tag" "$UP"
    otb_peer download "$@" "$DOWN" >"$OTB_TMP/down.$tag"
}

# burst TAG PORT: a UDP burst to the client on PORT, result in $OTB_TMP/burst.TAG.
burst() {
    udp_peer burst 127.0.0.1 "$2" "$N" >"$OTB_TMP/burst.$1"
}

otb_log "all clients at once: TCP through the three ports, a UDP burst on each"
pids=()
transfers sip004-tunnel 127.0.0.1 "$TPORT" & pids+=($!)
transfers sip004-socks5 --socks5 "$LPORT" 127.0.0.1 "$PEER_PORT" & pids+=($!)
burst sip004 "$UTPORT" & pids+=($!)
for i in 0 1; do
    transfers "${NEW[$i]}" 127.0.0.1 "${SS22_T[$i]}" & pids+=($!)
    burst "${NEW[$i]}" "${SS22_U[$i]}" & pids+=($!)
done
for p in "${pids[@]}"; do
    wait "$p" || otb_fail "a client of the concurrent round failed (exit status of pid $p)"
done
for tag in sip004-tunnel sip004-socks5 "${NEW[@]}"; do
    otb_expect_eq "$tag: upload, sha256 at the far end" "$(otb_sink_result peer "$tag")" "$UP_REF"
    otb_expect_eq "$tag: download, sha256 at the client" "$(cat "$OTB_TMP/down.$tag")" \
        "$DOWN_REF"
done
for tag in sip004 "${NEW[@]}"; do
    udp_expect_burst "$tag: UDP burst" "$(cat "$OTB_TMP/burst.$tag")" "$N"
done
otb_expect_eq "UDP refused by the server (bad, replay)" \
    "$(udp_status "$SOCK" udp.refused.bad) $(udp_status "$SOCK" udp.refused.replay)" "0 0"
# One "udp" for the whole server: the bursts of the three ports are all counted, the
# associations of every port's relay too.
up=$(udp_status "$SOCK" udp.up.packets)
((up >= 3 * N)) || otb_fail "status: udp.up.packets $up, expected the three bursts (>= $((3 * N)))"
otb_expect_eq "status: associations created on the three ports" \
    "$(udp_status "$SOCK" udp.associations.created)" 3

ss22_probe() { # ss22_probe METHOD PSK SERVER_PORT: answered or silent
    timeout 30 /usr/bin/python3 "$SS22" probe "$1" "$2" "$3" 127.0.0.1 "$ECHO_PORT" good
}
for i in 0 1; do
    otb_expect_eq "${NEW[$i]}: good request to its own port" \
        "$(ss22_probe "${NEW[$i]}" "${PSK[$i]}" "${NPORT[$i]}")" answered
    otb_expect_eq "${NEW[$i]}: request to server_port ($OLD)" \
        "$(ss22_probe "${NEW[$i]}" "${PSK[$i]}" "$SPORT")" silent
    otb_expect_eq "${NEW[$i]}: request to the other 2022 port" \
        "$(ss22_probe "${NEW[$i]}" "${PSK[$i]}" "${NPORT[$((1 - i))]}")" silent
done
for n in ss-tunnel ss-local ss-utunnel ss22-0 ss22-1 ss22u-0 ss22u-1; do
    otb_stop "$n" || true
done
udp_stop srv

# --------------------------------------------------------------------- (c)
expect_config_error() { # expect_config_error WHAT WANT LISTENERS_JSON
    local rc=0 out
    server_config "$3"
    out=$("$OTB_SERVER_BIN" -c "$CONF" 2>&1) || rc=$?
    ((rc == 2)) || otb_fail "$1: exit status $rc, expected 2 ($out)"
    [[ $out == *"$2"* ]] || otb_fail "$1: message does not name '$2': $out"
    otb_log "ok: $1 refused ($out)"
}
entry() { # entry PORT METHOD SECRET_KEY SECRET: one "listeners" object
    printf '{"server_port": %s, "method": "%s", "%s": "%s"}' "$1" "$2" "$3" "$4"
}
expect_config_error "unknown method" 'listeners[0].method' \
    "[$(entry "${NPORT[0]}" 2022-blake3-aes-512-gcm key "${PSK[0]}")]"
expect_config_error "unknown key in an entry" 'listeners[1].port' \
    "[$(entry "${NPORT[0]}" "${NEW[0]}" key "${PSK[0]}"), {\"port\": ${NPORT[1]}}]"
expect_config_error "PSK of the wrong length" 'listeners[0].key' \
    "[$(entry "${NPORT[0]}" "${NEW[0]}" key "${PSK[1]}")]"
expect_config_error "PSK of the wrong length as password" 'listeners[0].password' \
    "[$(entry "${NPORT[0]}" "${NEW[1]}" password "${PSK[0]}")]"
expect_config_error "port already served" 'listeners[0].server_port' \
    "[$(entry "$SPORT" "${NEW[0]}" key "${PSK[0]}")]"
expect_config_error "no secret" 'listeners[0]' \
    "[{\"server_port\": ${NPORT[0]}, \"method\": \"${NEW[0]}\"}]"
expect_config_error "not an array" 'listeners' "$(entry "${NPORT[0]}" "${NEW[0]}" key "${PSK[0]}")"
otb_log "PASS in $((SECONDS - OTB_T0)) s"
