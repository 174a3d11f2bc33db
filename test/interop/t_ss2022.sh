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
#      key (-k or --key), exit status 2.
# OTB_INTEROP_MIB changes the size of the transfers (default 4 MiB).
set -euo pipefail
OTB_TEST_NAME=ss2022
# shellcheck source=test/interop/lib.sh
. "$(dirname "$0")/lib.sh"

need_cmd b3sum /usr/bin/python3 sha256sum base64 timeout
need_file "$OTB_SERVER_BIN"
REDIR_BIN=$(otb_bin otb-redir)
SS22="$(otb_src)/test/lib/ss2022peer.py"
/usr/bin/python3 -c 'import cryptography' 2>/dev/null ||
    otb_fail "python3-cryptography is not installed (test/packages.sh)"

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

otb_random_file "$UP" "$MIB"
otb_random_file "$DOWN" "$MIB"
UP_REF="$(otb_sha256 "$UP") $(otb_file_size "$UP")"
DOWN_REF="$(otb_sha256 "$DOWN") $(otb_file_size "$DOWN")"
otb_ports PEER_PORT ECHO_PORT
otb_peer_serve peer "$PEER_PORT" cmd
otb_peer_serve echo "$ECHO_PORT" echo

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
    for c in stale future replay type padding empty; do
        otb_expect_eq "$m: request with $c header" "$(ss22_probe "$m" "$psk" "$sport" "$c")" \
            silent
    done
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
done
otb_log "PASS in $((SECONDS - OTB_T0)) s"
