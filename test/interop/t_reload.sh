#!/bin/bash
# shellcheck disable=SC2153 # the ports are assigned by otb_ports
# SIGHUP reloads otb-server's configuration without dropping connections:
#  - a transfer through ss-tunnel runs while the password file and the ACL
#    change and the server gets SIGHUP: it completes, sha256 equal;
#  - new connections with the old password then get nothing back, new ones
#    with the new password work, and a changed ACL applies to them;
#  - a broken configuration on SIGHUP is refused with a log line and the
#    server goes on with the previous one;
#  - a change that needs a restart (the port) is logged as such.
# The server must stop with exit status 0 and a log free of sanitizer
# reports.
set -euo pipefail
OTB_TEST_NAME=reload
# shellcheck source=test/interop/lib.sh
. "$(dirname "$0")/lib.sh"

need_cmd ss-tunnel python3 sha256sum timeout
need_file "$OTB_SERVER_BIN"
trap otb_cleanup EXIT

METHOD=chacha20-ietf-poly1305
OLD_PW="old-$$-$RANDOM"
NEW_PW="new-$$-$RANDOM"
otb_ports PEER_PORT SPORT T_OLD T_OLD2 T_NEW
CFG=$OTB_TMP/server.json
PWFILE=$OTB_TMP/password
ACL=$(otb_loopback_acl)
DENY_ACL=$OTB_TMP/deny.acl
LONG=$OTB_TMP/long.bin
SMALL=$OTB_TMP/small.bin
otb_random_file "$LONG" 6
otb_random_file "$SMALL" 1
LONG_REF="$(otb_sha256 "$LONG") $(otb_file_size "$LONG")"
SMALL_REF="$(otb_sha256 "$SMALL") $(otb_file_size "$SMALL")"
NOTHING="$(sha256sum </dev/null | cut -d' ' -f1) 0"
# Without an allow list the built-in block list refuses loopback: the peer
# becomes unreachable.
printf '[outbound_block_list]\n127.0.0.1/32\n' >"$DENY_ACL"

write_config() { # write_config ACL_FILE PORT
    cat >"$CFG" <<EOF
{
    "server": "127.0.0.1",
    "server_port": $2,
    "password_file": "$PWFILE",
    "method": "$METHOD",
    "timeout": 30,
    "acl": "$1"
}
EOF
}

peer_accepted() { # peer_accepted N: the peer has accepted N connections
    [ "$(otb_peer_accepts peer)" -ge "$1" ]
}

# hup: SIGHUP, then wait for the log line that says how it went.
hup() {
    local log="$OTB_TMP/srv.log" before
    before=$(otb_count_lines "$log" "$1")
    kill -HUP "${OTB_PID[srv]}"
    otb_wait_for "'$1' in the server log" 10 otb_lines_above "$log" "$1" "$before"
}

# echo_through TUNNEL_PORT FILE: "sha256 length" of what came back; a refused
# connection (reset or silence) is "nothing came back" too.
echo_through() {
    otb_peer echo --timeout 3 127.0.0.1 "$1" "$2" 2>/dev/null || echo "$NOTHING"
}

otb_peer_serve peer "$PEER_PORT" cmd
printf '%s\n' "$OLD_PW" >"$PWFILE"
write_config "$ACL" "$SPORT"
otb_start srv "$OTB_SERVER_BIN" -c "$CFG"
otb_wait_listen srv "$SPORT"
otb_ss_start t-old ss-tunnel "$T_OLD" "$SPORT" -m "$METHOD" -k "$OLD_PW" -L "127.0.0.1:$PEER_PORT"
otb_ss_start t-new ss-tunnel "$T_NEW" "$SPORT" -m "$METHOD" -k "$NEW_PW" -L "127.0.0.1:$PEER_PORT"
otb_expect_eq "old password before the reload" "$(echo_through "$T_OLD" "$SMALL")" "$SMALL_REF"
otb_expect_eq "new password before the reload" "$(echo_through "$T_NEW" "$SMALL")" "$NOTHING"

# A 6 MiB echo at 1.5 MiB/s: still running when the key changes.
otb_peer echo --rate 1572864 127.0.0.1 "$T_OLD" "$LONG" >"$OTB_TMP/long.out" 2>&1 &
long_pid=$!
# The key changes only once the server has opened the stream with the old
# one (the peer saw its second connection): a loaded machine may take
# seconds to start the client.
otb_wait_for "the transfer to reach the peer" 20 peer_accepted 2
sleep 0.5
printf '%s\n' "$NEW_PW" >"$PWFILE"
hup "SIGHUP: configuration reloaded"
grep -q "SIGHUP: new key" "$OTB_TMP/srv.log" || otb_fail "no 'new key' line after SIGHUP"
otb_expect_eq "new password after the reload" "$(echo_through "$T_NEW" "$SMALL")" "$SMALL_REF"
otb_expect_eq "old password after the reload" "$(echo_through "$T_OLD" "$SMALL")" "$NOTHING"
wait "$long_pid" || otb_fail "the transfer open across the reload failed: $(cat "$OTB_TMP/long.out")"
otb_expect_eq "transfer open across the reload" "$(cat "$OTB_TMP/long.out")" "$LONG_REF"

# ACL: the peer's address blocked for new connections.
write_config "$DENY_ACL" "$SPORT"
hup "SIGHUP: configuration reloaded"
otb_expect_eq "new ACL blocks the peer" "$(echo_through "$T_NEW" "$SMALL")" "$NOTHING"
write_config "$ACL" "$SPORT"
hup "SIGHUP: configuration reloaded"
otb_expect_eq "ACL allowing it again" "$(echo_through "$T_NEW" "$SMALL")" "$SMALL_REF"

# Broken configuration: refused, the running one stays.
echo '{ "server_port": ' >"$CFG"
hup "configuration unchanged"
grep "configuration unchanged" "$OTB_TMP/srv.log" | tail -n 1 | grep -q "invalid JSON" ||
    otb_fail "the refusal does not say what is wrong: $(grep 'unchanged' "$OTB_TMP/srv.log" | tail -n 1)"
otb_expect_eq "service after a broken reload" "$(echo_through "$T_NEW" "$SMALL")" "$SMALL_REF"

# A setting fixed at start: logged, not applied.
write_config "$ACL" "$(otb_free_port)"
hup "take effect at the next restart"
otb_ss_start t-old2 ss-tunnel "$T_OLD2" "$SPORT" -m "$METHOD" -k "$NEW_PW" -L "127.0.0.1:$PEER_PORT"
otb_expect_eq "still on the port it started with" "$(echo_through "$T_OLD2" "$SMALL")" "$SMALL_REF"

otb_stop t-old || true
otb_stop t-new || true
otb_stop t-old2 || true
otb_server_stop srv
otb_log "PASS"
