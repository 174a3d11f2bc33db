#!/bin/bash
# shellcheck disable=SC2153 # the ports are assigned by otb_ports
# --metrics on otb-server, otb-redir and otb-tunnel, on loopback:
#  (a) promtool check metrics passes on each program's /metrics, which has
#      the build info, the process start time and, on the box, the servers;
#      every metric of examples/grafana-dashboard.json is served; the box
#      serves its status page, /status.json and /history.json; its
#      /status.json says why it has no UDP flows while otb-tunnel is not
#      running;
#  (b) after a known transfer (a download and an upload through SOCKS5 ->
#      otb-redir -> otb-server, a UDP burst through otb-tunnel) every counter
#      of each status document equals its sample in /metrics, bytes exact;
#      with that UDP flow and a voice one (EF) open, the box's /status.json
#      (otb-redir, --tunnel-status-socket) reports otb-tunnel's UDP and
#      voice flows;
#  (c) slow scrapers (pipelined requests never read, connections that send
#      nothing, more than the listener's limit) do not slow a download
#      through otb-redir (loose: under twice the time without them, + 2 s);
#  (d) 1000 bad requests (garbage, huge headers, unknown paths, wrong
#      methods, bodies) to otb-redir are each answered 4xx (random bytes
#      too: 400 from the listener's gate); the program
#      stays healthy: /metrics answers, a transfer goes through, no
#      descriptor leaks, and every program stops cleanly (exit 0, no
#      sanitizer report).
set -euo pipefail
OTB_TEST_NAME=metrics
# shellcheck source=test/interop/lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=test/interop/udp_lib.sh
. "$(dirname "$0")/udp_lib.sh"

need_cmd promtool curl python3 timeout
OTB_REDIR_BIN="$OTB_BUILD/otb-redir/otb-redir"
need_file "$OTB_REDIR_BIN"
HTTP_PROBE="$(dirname "$0")/http_probe.py"
http_probe() { timeout 300 python3 "$HTTP_PROBE" "$@"; }
http_get() { curl -sSf --max-time 10 "$1"; }

PASSWORD=$(otb_password)
ACL=$(otb_loopback_acl)
otb_ports PEER_PORT SPORT RPORT SOCKS ECHO_PORT TPORT M_SRV M_REDIR M_TUN
declare -A MPORT=([srv]=$M_SRV [redir]=$M_REDIR [tun]=$M_TUN)
FILE=$OTB_TMP/blob.bin
BIG=$OTB_TMP/big.bin
otb_random_file "$FILE" 3
otb_random_file "$BIG" 32
FILE_REF="$(otb_sha256 "$FILE") $(otb_file_size "$FILE")"
BIG_REF="$(otb_sha256 "$BIG") $(otb_file_size "$BIG")"

otb_peer_serve peer "$PEER_PORT" cmd
udp_echo_start echo "$ECHO_PORT"
otb_server_start srv "$SPORT" -u -k "$PASSWORD" --acl "$ACL" \
    --metrics "127.0.0.1:$M_SRV" --status-socket "$OTB_TMP/srv.sock"
otb_start redir "$OTB_REDIR_BIN" -s 127.0.0.1 -p "$SPORT" -b 127.0.0.1 -l "$RPORT" \
    --socks5-port "$SOCKS" -k "$PASSWORD" --metrics "127.0.0.1:$M_REDIR" \
    --status-socket "$OTB_TMP/redir.sock" --tunnel-status-socket "$OTB_TMP/tun.sock"
otb_wait_listen redir "$SOCKS"
otb_wait_listen redir "$M_REDIR"
# tunnel_error: what the box's page says instead of otb-tunnel's flows.
tunnel_error() {
    http_get "http://127.0.0.1:$M_REDIR/status.json" |
        python3 -c 'import json, sys; print(json.load(sys.stdin).get("tunnel", {}).get("error", ""))'
}
tunnel_down() { [[ $(tunnel_error) == "otb-tunnel is not running ("* ]]; }
otb_wait_for "the box's status to say otb-tunnel is not running" 5 tunnel_down
otb_expect_eq "without otb-tunnel, the box's status" "$(tunnel_error)" \
    "otb-tunnel is not running ($OTB_TMP/tun.sock: No such file or directory)"
udp_tunnel_start tun "$TPORT" "$SPORT" -k "$PASSWORD" -U -L "127.0.0.1:$ECHO_PORT" \
    --metrics "127.0.0.1:$M_TUN" --status-socket "$OTB_TMP/tun.sock"
for p in srv redir tun; do
    otb_wait_listen "$p" "${MPORT[$p]}"
done

# (a) ------------------------------------------------------------ promtool
check_promtool() {
    local p out
    for p in srv redir tun; do
        http_get "http://127.0.0.1:${MPORT[$p]}/metrics" >"$OTB_TMP/$p.metrics"
        out=$(promtool check metrics <"$OTB_TMP/$p.metrics" 2>&1) ||
            otb_fail "promtool check metrics on $p: $out"
        [[ -z $out ]] || otb_fail "promtool check metrics on $p: $out"
        grep -q '^otb_build_info{program="otb-[a-z]*",version="[^"]*"} 1$' "$OTB_TMP/$p.metrics" ||
            otb_fail "$p: no otb_build_info"
        grep -q '^process_start_time_seconds [0-9.]*$' "$OTB_TMP/$p.metrics" ||
            otb_fail "$p: no process_start_time_seconds"
        otb_log "ok: promtool check metrics passes on $p ($(grep -vc '^#' "$OTB_TMP/$p.metrics") samples)"
    done
    grep -q "^otb_server_health{server=\"127.0.0.1:$SPORT\",state=\"up\"} [01]$" \
        "$OTB_TMP/redir.metrics" || otb_fail "redir: no server health"
    grep -q '^otb_udp_bytes_total{direction="up"}' "$OTB_TMP/tun.metrics" ||
        otb_fail "tun: no UDP bytes"
    # Every metric the example Grafana dashboard draws exists.
    local name
    while read -r name; do
        grep -q "^# TYPE $name " "$OTB_TMP"/*.metrics ||
            otb_fail "examples/grafana-dashboard.json: no $name in any /metrics"
    done < <(grep -o 'otb_[a-z_]*\|process_[a-z_]*' "$(otb_src)/examples/grafana-dashboard.json" |
        sort -u)
    otb_log "ok: every metric of examples/grafana-dashboard.json is served"
    # The page and its data, from the box.
    http_get "http://127.0.0.1:$M_REDIR/" >"$OTB_TMP/page.html"
    grep -q '<title>otb status</title>' "$OTB_TMP/page.html" || otb_fail "redir: no status page"
    for p in status.json history.json; do
        http_get "http://127.0.0.1:$M_REDIR/$p" | python3 -m json.tool >/dev/null ||
            otb_fail "redir: /$p is not JSON"
    done
    otb_log "ok: the status page, /status.json and /history.json are served"
}

# (b) ---------------------------------------------------- counters = JSON
tunnel_flows() { # the box's /status.json reports otb-tunnel's flows, 2 of them, 1 voice
    local got
    got=$(http_probe tunnel "$OTB_TMP/tun.sock" "http://127.0.0.1:$M_REDIR/status.json" 2>&1) &&
        [[ $got == "flows 2 voice 1" ]]
}

# The burst's association is open (60 s idle timeout); a voice one joins it.
check_tunnel_flows() {
    local got
    got=$(udp_peer send --tos 0xb8 127.0.0.1 "$TPORT" 5)
    otb_expect_eq "voice datagrams through otb-tunnel" "$got" "answered 5"
    otb_wait_for "the box's status to report otb-tunnel's 2 flows, 1 voice" 5 tunnel_flows
    got=$(http_probe tunnel "$OTB_TMP/tun.sock" "http://127.0.0.1:$M_REDIR/status.json" 2>&1)
    otb_log "ok: the box's /status.json reports otb-tunnel's flows ($got)"
}

idle() { # idle SOCKET: no connection open
    [[ $(udp_status "$1" connections.active) == 0 ]]
}

check_counters() {
    local got p
    got=$(otb_peer download --socks5 "$SOCKS" 127.0.0.1 "$PEER_PORT" "$FILE")
    otb_expect_eq "download through otb-redir" "$got" "$FILE_REF"
    otb_peer upload --socks5 "$SOCKS" 127.0.0.1 "$PEER_PORT" up1 "$FILE"
    otb_expect_eq "upload through otb-redir" "$(otb_sink_result peer up1)" "$FILE_REF"
    got=$(udp_peer burst 127.0.0.1 "$TPORT" 300)
    udp_expect_burst "UDP burst through otb-tunnel" "$got" 300
    check_tunnel_flows
    otb_wait_for "otb-redir's connections to close" 15 idle "$OTB_TMP/redir.sock"
    otb_wait_for "otb-server's connections to close" 15 idle "$OTB_TMP/srv.sock"
    for p in srv redir tun; do
        got=$(http_probe compare "$OTB_TMP/$p.sock" "http://127.0.0.1:${MPORT[$p]}/metrics" 2>&1) ||
            otb_fail "$p: /metrics and the status document differ: $got"
        otb_log "ok: $p: /metrics equals the status document ($got)"
    done
    # The transfer itself is in both: the download's bytes at least.
    got=$(udp_status "$OTB_TMP/redir.sock" bytes.to_plain)
    ((got >= $(otb_file_size "$FILE"))) || otb_fail "redir bytes.to_plain $got: transfer missing"
    grep -q "^otb_tcp_bytes_total{direction=\"to_plain\"} $got\$" \
        <(http_get "http://127.0.0.1:$M_REDIR/metrics") ||
        otb_fail "redir: otb_tcp_bytes_total{direction=\"to_plain\"} is not $got"
    otb_log "ok: redir's bytes to plain: $got in both"
}

# (c) ------------------------------------------------------ slow scrapers
timed_download() { # prints the seconds a download of BIG takes
    local t0 got
    t0=$(date +%s.%N)
    got=$(otb_peer download --socks5 "$SOCKS" 127.0.0.1 "$PEER_PORT" "$BIG")
    [[ $got == "$BIG_REF" ]] || otb_fail "download of the big file: $got"
    awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f\n", b - a }'
}

check_slow_scrapers() {
    local base slow limit
    base=$(timed_download)
    otb_start stall python3 "$HTTP_PROBE" stall 127.0.0.1 "$M_REDIR" 48 60
    otb_wait_for "the slow scrapers" 15 grep -q held "$OTB_TMP/stall.log"
    slow=$(timed_download)
    limit=$(awk -v b="$base" 'BEGIN { printf "%.2f\n", 2 * b + 2 }')
    otb_log "download of 32 MiB: ${base} s alone, ${slow} s with 48 slow scrapers"
    awk -v s="$slow" -v l="$limit" 'BEGIN { exit !(s < l) }' ||
        otb_fail "slow scrapers slowed the transfer: $slow s (limit $limit s)"
    otb_log "ok: slow scrapers do not slow the relay"
    otb_stop stall || true
}

# (d) ---------------------------------------------------- bad requests
check_bad_requests() {
    local fds got
    sleep 0.5 # the scrapers' connections are gone
    fds=$(otb_fd_count "${OTB_PID[redir]}")
    got=$(http_probe hostile 127.0.0.1 "$M_REDIR" 1000 2>&1) || otb_fail "bad requests: $got"
    [[ $got == "answered 1000 by status "* ]] || otb_fail "bad requests: not all answered: $got"
    otb_log "ok: 1000 bad requests: $got"
    otb_alive redir || otb_fail "otb-redir died after the bad requests"
    http_get "http://127.0.0.1:$M_REDIR/metrics" | promtool check metrics ||
        otb_fail "otb-redir's /metrics after the bad requests"
    got=$(otb_peer download --socks5 "$SOCKS" 127.0.0.1 "$PEER_PORT" "$FILE")
    otb_expect_eq "download after the bad requests" "$got" "$FILE_REF"
    otb_wait_for "otb-redir's descriptors back to $fds" 15 \
        test "$(otb_fd_count "${OTB_PID[redir]}")" -le "$fds"
    otb_log "ok: otb-redir healthy after the bad requests"
}

check_promtool
check_counters
check_slow_scrapers
check_bad_requests
otb_server_stop redir
udp_stop tun
otb_server_stop srv
otb_log "PASS ($((SECONDS - OTB_T0)) s)"
