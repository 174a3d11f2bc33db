#!/bin/bash
# Lab test of the box's bypass rules: the Internet host (inet) reports the source address it
# sees, a WAN address (10.0.n.1) for bypassed traffic, the server's (198.18.0.1) otherwise.
#  - ACL IP rule in otb-redir ([bypass_list] 198.18.0.3): redirected TCP leaves directly;
#  - the firewall's bypass set (--bypass 198.18.0.4): forwarded as is, masqueraded on the WAN;
#  - ACL domain rule ((^|\.)bypass\.otb\.test$) for SOCKS5 requests by name (curl
#    --socks5-hostname, names resolved by dnsmasq on inet), for TLS (SNI sniffed from the
#    ClientHello of redirected HTTPS, curl --resolve to a TLS server on inet) and for HTTP (Host
#    sniffed); other names of the same address go through the server;
#  - SIGHUP reloads the ACL (the domain rule removed: the name goes through the server) without
#    dropping a transfer in progress.
set -euo pipefail

# shellcheck source=test/lab/policy_lib.sh
source "$(dirname "$0")/policy_lib.sh"

INET_ACL_BYPASS=198.18.0.3 # bypassed by otb-redir's ACL
INET_FW_BYPASS=198.18.0.4  # bypassed by the firewall's set
SRV_SEEN=$LAB_SRV_INET
WAN_SEEN='10\.0\.[12]\.1'
BYPASS_NAME=bypass.otb.test
PROXY_NAME=proxy.otb.test

pol_start "byp$$" "20 20" openssl curl dnsmasq
for addr in "$INET_ACL_BYPASS" "$INET_FW_BYPASS"; do lab_run inet ip addr add "$addr/24" dev eth0; done
pol_inet_servers
pol_inet_https
pol_dns "$BYPASS_NAME=$LAB_INET_ADDR" "$PROXY_NAME=$LAB_INET_ADDR"

write_acl() {
    {
        printf '[proxy_all]\n[bypass_list]\n%s\n' "$INET_ACL_BYPASS"
        [[ $1 == with-name ]] && printf '(^|\\.)bypass\\.otb\\.test$\n'
        return 0
    } >"$LAB_DIR/box.acl"
}

write_acl with-name
lab_otb_server "$LAB_SRV_ADDR" "$LAB_SRV_PORT" otb-server
lab_otb_redir --acl "$LAB_DIR/box.acl" -d "$LAB_INET_ADDR"
pol_fw_config "\"firewall\": {\"lan\": \"lan0\", \"bypass\": [\"$INET_FW_BYPASS/32\"]}" \
    '"wans": {"wan1": {"interface": "wan1"}, "wan2": {"interface": "wan2"}}'
pol_firewall up >"$LAB_DIR/firewall.log" 2>&1 ||
    lab_fail "otb-firewall up: $(cat "$LAB_DIR/firewall.log")"

get() { pol_peer lan get "$1" "$POL_HTTP_PORT"; }

# curl_src ARGS...: curl from the LAN, printing the SRC line of the answer.
curl_src() {
    lab_run lan curl -sS --max-time 10 "$@" | head -n 1
}

socks() { curl_src --socks5-hostname "$LAB_LAN_GW:$LAB_SOCKS_PORT" "http://$1:$POL_HTTP_PORT/"; }
https() { curl_src --cacert "$LAB_DIR/tls.crt" --resolve "$1:$POL_HTTPS_PORT:$LAB_INET_ADDR" "https://$1:$POL_HTTPS_PORT/"; }
http() { curl_src --resolve "$1:$POL_HTTP_PORT:$LAB_INET_ADDR" "http://$1:$POL_HTTP_PORT/"; }

pol_expect_src "$SRV_SEEN" "no rule, by address" get "$LAB_INET_ADDR"
pol_expect_src "$WAN_SEEN" "ACL IP rule" get "$INET_ACL_BYPASS"
pol_expect_src "$WAN_SEEN" "firewall bypass set (forwarded, masqueraded)" get "$INET_FW_BYPASS"
pol_expect_src "$WAN_SEEN" "SOCKS5, bypassed name" socks "$BYPASS_NAME"
pol_expect_src "$SRV_SEEN" "SOCKS5, other name" socks "$PROXY_NAME"
pol_expect_src "$WAN_SEEN" "HTTPS, bypassed SNI" https "$BYPASS_NAME"
pol_expect_src "$SRV_SEEN" "HTTPS, other SNI" https "$PROXY_NAME"
pol_expect_src "$WAN_SEEN" "HTTP, bypassed Host" http "$BYPASS_NAME"
pol_expect_src "$SRV_SEEN" "HTTP, other Host" http "$PROXY_NAME"

# SIGHUP with a transfer in progress (8 MB at 2 MB/s through the server): the rule goes, the
# transfer goes on to the last byte.
lab_run lan curl -sS --max-time 30 --limit-rate 2M -o "$LAB_DIR/long.out" \
    "http://$LAB_INET_ADDR:$POL_HTTP_PORT/8000000" &
LONG_PID=$!
wait_for() {
    local what=$1 i
    shift
    for ((i = 0; i < 100; i++)); do
        "$@" && return 0
        sleep 0.05
    done
    lab_fail "timed out waiting for $what"
}
wait_for "the transfer to start" test -s "$LAB_DIR/long.out"
write_acl without-name
kill -HUP "$LAB_REDIR_PID"
wait_for "the ACL reload" grep -q "SIGHUP: ACL .* reloaded" "$LAB_DIR/otb-redir.log"
pol_expect_src "$SRV_SEEN" "HTTPS, formerly bypassed SNI, after SIGHUP" https "$BYPASS_NAME"
pol_expect_src "$SRV_SEEN" "SOCKS5, formerly bypassed name, after SIGHUP" socks "$BYPASS_NAME"
pol_expect_src "$WAN_SEEN" "ACL IP rule, after SIGHUP" get "$INET_ACL_BYPASS"
wait "$LONG_PID" || lab_fail "the transfer in progress failed across SIGHUP"
size=$(stat -c %s "$LAB_DIR/long.out")
# The body is the SRC line and the 8 MB.
((size == 8000000 + 15)) || lab_fail "transfer across SIGHUP: $size bytes"
lab_say "ok: transfer across SIGHUP complete ($size bytes)"
kill -0 "$LAB_REDIR_PID" || lab_fail "otb-redir exited"

pol_firewall down
echo "PASS: t_bypass"
