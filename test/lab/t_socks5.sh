#!/usr/bin/env bash
# SOCKS5: the LAN host uses otb-redir's SOCKS5 port explicitly. With
# --socks5-hostname the name travels to otb-server, which resolves it with
# the Internet's DNS (dnsmasq on the Internet host, via otb-server -d); the
# LAN host has no resolver at all. Also: an IP literal, a name that does not
# resolve (a quick failure, and otb-redir keeps serving) and an unsupported
# command (reply 7, "command not supported"). Then the WAN side: otb-redir
# started with no address keeps SOCKS5 on loopback, so a host beyond a WAN
# (srv) cannot use it, not even to reach the box's own loopback services
# through a [bypass_all] ACL; on the box itself it serves.
set -euo pipefail
# shellcheck source=test/lab/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

NAME=www.otb.test

lab_start "otbs5$$" "20 10" curl dnsmasq
lab_bg inet dnsmasq dnsmasq --keep-in-foreground --no-resolv --no-hosts --no-poll \
    --user=root --pid-file= --bind-interfaces --listen-address="$LAB_INET_ADDR" \
    --address="/$NAME/$LAB_INET_ADDR" --log-queries --log-facility="$LAB_DIR/dns.queries"
DNS_PID=$LAB_PID
lab_otb_start
lab_http_server
for ((i = 0; i < 50; i++)); do
    lab_run inet ss -Hlun "sport = :53" | grep -q . && break
    kill -0 "$DNS_PID" 2>/dev/null || lab_fail "dnsmasq exited"
    sleep 0.1
done

proxy="$LAB_LAN_GW:$LAB_SOCKS_PORT"
url_path=/socks5-name

out=$(lab_run lan curl -sS --max-time 10 --socks5-hostname "$proxy" \
    "http://$NAME:$LAB_HTTP_PORT$url_path") || lab_fail "curl --socks5-hostname failed"
echo "by name: $out"
[[ $out == "otb-lab $url_path $LAB_SRV_INET" ]] || lab_fail "unexpected answer: $out"
grep -q "query\[A\] $NAME from $LAB_SRV_INET" "$LAB_DIR/dns.queries" ||
    lab_fail "the name was not resolved by the server through the Internet's DNS"

out=$(lab_run lan curl -sS --max-time 10 --socks5 "$proxy" \
    "http://$LAB_INET_ADDR:$LAB_HTTP_PORT/socks5-ip") || lab_fail "curl --socks5 (IP) failed"
echo "by address: $out"
[[ $out == "otb-lab /socks5-ip $LAB_SRV_INET" ]] || lab_fail "unexpected answer: $out"

start=$(date +%s)
rc=0
lab_run lan curl -sS --max-time 20 --socks5-hostname "$proxy" \
    "http://nosuch.otb.test:$LAB_HTTP_PORT/" >/dev/null 2>"$LAB_DIR/curl.err" || rc=$?
took=$(($(date +%s) - start))
echo "unknown name: curl exit $rc after ${took}s: $(cat "$LAB_DIR/curl.err")"
# The server resolves the name and has no way to report a failure in the
# Shadowsocks protocol but closing the stream: the client sees a closed
# connection (curl 52) or a SOCKS5 error (97), quickly, never a timeout (28).
[[ $rc == 52 || $rc == 97 ]] || lab_fail "unknown name: expected curl 52 or 97, got $rc"
((took < 10)) || lab_fail "unknown name: the failure took ${took}s"

code=$(lab_run lan python3 "$(lab_tool)" socks5-cmd "$LAB_LAN_GW" "$LAB_SOCKS_PORT" 2 \
    "$LAB_INET_ADDR" "$LAB_HTTP_PORT") || lab_fail "SOCKS5 BIND probe failed"
echo "BIND request: reply code $code"
[[ $code == 7 ]] || lab_fail "BIND: expected reply 7 (command not supported), got $code"

kill -0 "$LAB_REDIR_PID" 2>/dev/null || lab_fail "otb-redir died"
out=$(lab_run lan curl -sS --max-time 10 --socks5-hostname "$proxy" \
    "http://$NAME:$LAB_HTTP_PORT/again") || lab_fail "SOCKS5 no longer served after the errors"
[[ $out == "otb-lab /again $LAB_SRV_INET" ]] || lab_fail "unexpected answer: $out"

BOX_SOCKS_PORT=11081
BOX_HTTP_PORT=8081
printf '[bypass_all]\n' >"$LAB_DIR/bypass_all.acl"
lab_bg box redir-default "$(lab_bin otb-redir)" -s "$LAB_SRV_ADDR" -p "$LAB_SRV_PORT" -l 12346 \
    -k "$LAB_PASSWORD" -m "$LAB_METHOD" --socks5-port "$BOX_SOCKS_PORT" \
    --acl "$LAB_DIR/bypass_all.acl"
lab_wait_port box "$BOX_SOCKS_PORT" "$LAB_PID"
lab_bg box box-http python3 "$(lab_tool)" http-serve "$BOX_HTTP_PORT" "$LAB_DIR/box-http.peers"
lab_wait_port box "$BOX_HTTP_PORT" "$LAB_PID"
rc=0
out=$(lab_run srv curl -sS --max-time 5 --socks5 "10.0.1.1:$BOX_SOCKS_PORT" \
    "http://127.0.0.1:$BOX_HTTP_PORT/from-wan" 2>&1) || rc=$?
echo "from the WAN side: curl exit $rc: $out"
[[ $rc != 0 && $out != *otb-lab* ]] ||
    lab_fail "the box's loopback is reachable from the WAN side through SOCKS5"
out=$(lab_run box curl -sS --max-time 10 --socks5 "127.0.0.1:$BOX_SOCKS_PORT" \
    "http://127.0.0.1:$BOX_HTTP_PORT/from-box") || lab_fail "SOCKS5 on the box's loopback failed"
[[ $out == "otb-lab /from-box 127.0.0.1" ]] || lab_fail "unexpected answer: $out"
echo "PASS: SOCKS5 by name (resolved by the server) and by address; not from the WAN side"
