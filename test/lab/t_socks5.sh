#!/usr/bin/env bash
# SOCKS5: the LAN host uses otb-redir's SOCKS5 port explicitly. With
# --socks5-hostname the name travels to otb-server, which resolves it with
# the Internet's DNS (dnsmasq on the Internet host, via otb-server -d); the
# LAN host has no resolver at all. Also: an IP literal, a name that does not
# resolve (a quick failure, and otb-redir keeps serving) and an unsupported
# command (reply 7, "command not supported").
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
echo "PASS: SOCKS5 by name (resolved by the server) and by address"
