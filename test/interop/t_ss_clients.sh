#!/bin/bash
# otb-server with the shadowsocks-libev clients, for every method:
#  (a) ss-tunnel -> otb-server -> local peer: 64 MiB up (sha256 taken by the
#      receiving peer) and 64 MiB down (sha256 taken by the client);
#  (b) the same through ss-local (SOCKS5), the download by a host name that
#      otb-server resolves through the test's dnsmasq;
#  (c) curl --socks5-hostname through ss-local to a local HTTP server named
#      web.otb.test, body sha256 checked;
#  (d) the secret given to otb-server as --password-file and as --key (base64)
#      interoperates with ss-local given the same password / key, and a wrong
#      password gets nothing back.
# Every server must stop with exit status 0 on SIGTERM and a log free of
# sanitizer reports. OTB_INTEROP_MIB changes the 64 MiB (for quick local runs).
set -euo pipefail
OTB_TEST_NAME=ss_clients
# shellcheck source=test/interop/lib.sh
. "$(dirname "$0")/lib.sh"

need_cmd ss-local ss-tunnel dnsmasq curl python3 sha256sum base64 timeout
need_file "$OTB_SERVER_BIN"

METHODS=(aes-128-gcm aes-256-gcm chacha20-ietf-poly1305 xchacha20-ietf-poly1305)
MIB=${OTB_INTEROP_MIB:-64}
PASSWORD=$(otb_password)
ACL=$(otb_loopback_acl)

UP="$OTB_TMP/up.bin"
DOWN="$OTB_TMP/down.bin"
WEB="$OTB_TMP/www"
SMALL="$OTB_TMP/small.bin"

# Reference data: distinct up and down content, so a crossed or echoed
# stream cannot pass for the right one.
otb_prepare_data() {
    mkdir -p "$WEB"
    otb_random_file "$UP" "$MIB"
    otb_random_file "$DOWN" "$MIB"
    otb_random_file "$WEB/file.bin" 8
    otb_random_file "$SMALL" 1
    UP_REF="$(otb_sha256 "$UP") $(otb_file_size "$UP")"
    DOWN_REF="$(otb_sha256 "$DOWN") $(otb_file_size "$DOWN")"
    WEB_REF=$(otb_sha256 "$WEB/file.bin")
    SMALL_REF="$(otb_sha256 "$SMALL") $(otb_file_size "$SMALL")"
}

otb_start_far_end() {
    otb_ports PEER_PORT HTTP_PORT DNS_PORT
    otb_peer_serve peer "$PEER_PORT" cmd
    otb_start http python3 -m http.server --bind 127.0.0.1 --directory "$WEB" "$HTTP_PORT"
    otb_wait_listen http "$HTTP_PORT"
    otb_dnsmasq_start dns "$DNS_PORT" web.otb.test=127.0.0.1 peer.otb.test=127.0.0.1
}

# otb_check_up_down TAG CLIENT_ARGS...: one upload, one download, both checked.
otb_check_up_down() {
    local tag=$1 up_host=$2 down_host=$3
    shift 3
    otb_peer upload "$@" "$up_host" "$PEER_PORT" "$tag" "$UP"
    otb_expect_eq "$tag: upload sha256 at the far end" "$(otb_sink_result peer "$tag")" "$UP_REF"
    otb_expect_eq "$tag: download sha256 at the client" \
        "$(otb_peer download "$@" "$down_host" "$PEER_PORT" "$DOWN")" "$DOWN_REF"
}

otb_check_curl() {
    local tag=$1 socks=$2 out="$OTB_TMP/curl.out"
    rm -f "$out"
    # --noproxy '': a NO_PROXY of the environment must not bypass ss-local.
    curl -sS --fail --max-time 120 --noproxy '' --socks5-hostname "127.0.0.1:$socks" \
        -o "$out" "http://web.otb.test:$HTTP_PORT/file.bin"
    otb_expect_eq "$tag: curl body sha256" "$(otb_sha256 "$out")" "$WEB_REF"
}

# otb_check_echo TAG SOCKS_PORT WANT: echo of the small file through ss-local.
otb_check_echo() {
    otb_expect_eq "$1: echo through ss-local" \
        "$(otb_peer echo --socks5 "$2" --timeout 3 127.0.0.1 "$PEER_PORT" "$SMALL")" "$3"
}

otb_key_b64() {
    local len=32
    [[ $1 == aes-128-gcm ]] && len=16
    # URL-safe alphabet: the one shadowsocks-libev reads; otb-server takes both.
    head -c "$len" /dev/urandom | base64 -w0 | tr '+/' '-_'
}

# (a), (b), (c) for one method, the password given with -k.
otb_round_transfers() {
    local m=$1 sport tport lport
    otb_ports sport tport lport
    otb_server_start "srv-$m" "$sport" -m "$m" -k "$PASSWORD" --acl "$ACL" \
        -d "127.0.0.1:$DNS_PORT" -t 30
    otb_ss_start "tunnel-$m" ss-tunnel "$tport" "$sport" -m "$m" -k "$PASSWORD" \
        -L "127.0.0.1:$PEER_PORT"
    otb_ss_start "local-$m" ss-local "$lport" "$sport" -m "$m" -k "$PASSWORD"
    otb_check_up_down "$m-tunnel" 127.0.0.1 127.0.0.1
    otb_check_up_down "$m-socks5" 127.0.0.1 peer.otb.test --socks5 "$lport"
    otb_check_curl "$m" "$lport"
    otb_stop "tunnel-$m" || true
    otb_stop "local-$m" || true
    otb_server_stop "srv-$m"
}

# (d) for one method: --password-file and --key on the server side.
otb_round_secrets() {
    local m=$1 key pf="$OTB_TMP/password.$1" p1 p2 l1 l2 l3
    key=$(otb_key_b64 "$m")
    printf '%s\n' "$PASSWORD" >"$pf"
    otb_ports p1 p2 l1 l2 l3
    otb_server_start "srv-pwfile-$m" "$p1" -m "$m" --password-file "$pf" --acl "$ACL" -t 30
    otb_server_start "srv-key-$m" "$p2" -m "$m" --key "$key" --acl "$ACL" -t 30
    otb_ss_start "local-pwfile-$m" ss-local "$l1" "$p1" -m "$m" -k "$PASSWORD"
    otb_ss_start "local-key-$m" ss-local "$l2" "$p2" -m "$m" --key "$key"
    otb_ss_start "local-wrong-$m" ss-local "$l3" "$p1" -m "$m" -k "not-$PASSWORD"
    otb_check_echo "$m --password-file" "$l1" "$SMALL_REF"
    otb_check_echo "$m --key" "$l2" "$SMALL_REF"
    otb_check_echo "$m wrong password" "$l3" \
        "$(sha256sum </dev/null | cut -d' ' -f1) 0"
    otb_stop "local-pwfile-$m" || true
    otb_stop "local-key-$m" || true
    otb_stop "local-wrong-$m" || true
    otb_server_stop "srv-pwfile-$m"
    otb_server_stop "srv-key-$m"
}

otb_prepare_data
otb_start_far_end
for method in "${METHODS[@]}"; do
    otb_log "=== $method"
    otb_round_transfers "$method"
    otb_round_secrets "$method"
done
otb_log "PASS in $((SECONDS - OTB_T0)) s"
