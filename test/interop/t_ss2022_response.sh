#!/bin/bash
# otb-redir's checks of Shadowsocks 2022 responses, against the spec peer
# (test/lib/ss2022peer.py) as its server, for every 2022 method:
#  (a) a server that gives every response the same salt (what a replayed
#      response shows a client: the request salt it names is right, the
#      response salt was seen before): the first connection through
#      otb-redir's SOCKS5 port is echoed, the second gets nothing, and
#      otb-redir counts one replay;
#  (b) a server whose responses are stamped 60 s in the past: nothing
#      reaches the client;
# and in both the peer saw no protocol violation of otb-redir (the
# connections it dropped are not ones).
set -euo pipefail
OTB_TEST_NAME=ss2022_response
# shellcheck source=test/interop/lib.sh
. "$(dirname "$0")/lib.sh"

need_cmd b3sum /usr/bin/python3 sha256sum base64 timeout
REDIR_BIN=$(otb_bin otb-redir)
SS22="$(otb_src)/test/lib/ss2022peer.py"
/usr/bin/python3 -c 'import cryptography' 2>/dev/null ||
    otb_fail "python3-cryptography is not installed (test/packages.sh)"

METHODS=(2022-blake3-aes-128-gcm 2022-blake3-aes-256-gcm 2022-blake3-chacha20-poly1305)
SMALL="$OTB_TMP/small.bin"
otb_random_file "$SMALL" 1
SMALL_REF="$(otb_sha256 "$SMALL") $(otb_file_size "$SMALL")"
NOTHING="$(sha256sum </dev/null | cut -d' ' -f1) 0"
otb_ports ECHO_PORT
otb_peer_serve peer "$ECHO_PORT" cmd

psk_of() { # psk_of METHOD: a fresh base64 PSK of the method's key length
    local len=32
    [[ $1 == *aes-128* ]] && len=16
    head -c "$len" /dev/urandom | base64 -w0
}

echo_via() { # echo_via SOCKS_PORT: "sha256 length" of what came back
    otb_peer echo --socks5 "$1" --timeout 3 127.0.0.1 "$ECHO_PORT" "$SMALL"
}

# round METHOD SPOIL: otb-redir against the peer server spoiling its responses.
round() {
    local m=$1 spoil=$2 psk sport lport socks name="$2-$1" stats
    psk=$(psk_of "$m")
    otb_ports sport lport socks
    otb_start "server-$name" /usr/bin/python3 "$SS22" server "$m" "$psk" "$sport" \
        "$OTB_TMP/violations.$name" "$spoil"
    otb_wait_listen "server-$name" "$sport"
    otb_start "redir-$name" "$REDIR_BIN" -s 127.0.0.1 -p "$sport" -b 127.0.0.1 -l "$lport" \
        --socks5-port "$socks" -m "$m" --key "$psk" -t 30 --no-wan-health
    otb_wait_listen "redir-$name" "$socks"
    if [[ $spoil == same-salt ]]; then
        otb_expect_eq "$m: first response of its salt" "$(echo_via "$socks")" "$SMALL_REF"
        otb_expect_eq "$m: second response with that salt" "$(echo_via "$socks")" "$NOTHING"
        stats=$(otb_server_stats "redir-$name")
        otb_expect_eq "$m: replayed responses counted by otb-redir" \
            "$(otb_stat "$stats" replay)" 1
    else
        otb_expect_eq "$m: response stamped 60 s ago" "$(echo_via "$socks")" "$NOTHING"
    fi
    touch "$OTB_TMP/violations.$name"
    ! grep -v '^connection failed: Connection' "$OTB_TMP/violations.$name" ||
        otb_fail "$m: the spec server saw violations (above)"
    otb_server_stop "redir-$name"
    otb_stop "server-$name" || true
}

for m in "${METHODS[@]}"; do
    otb_log "=== $m"
    round "$m" same-salt
    round "$m" stale
done
otb_log "PASS in $((SECONDS - OTB_T0)) s"
