#!/usr/bin/env bash
# Connection churn: 5000 short HTTP requests from the LAN host through the box
# (each one a new intercepted connection, a new MPTCP connection with its
# subflows, a new connection from the server), at most 50 at a time. All must
# succeed, and afterwards otb-redir's and otb-server's descriptor counts and
# resident memory must be back near what they were after a warm-up of the
# same shape (so pools and caches are already at their working size).
set -euo pipefail
# shellcheck source=test/lab/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Requests (at most PARALLEL at a time, after WARMUP of them) and what the counts may grow by.
COUNT=5000 PARALLEL=50 WARMUP=500 FD_SLACK=2 RSS_SLACK_KB=2048

lab_start "otbch$$" "20 10 5"
lab_otb_start -n 4096
lab_http_server

load() {
    lab_run lan python3 "$(lab_tool)" http-load "$LAB_INET_ADDR" "$LAB_HTTP_PORT" "$1" \
        --parallel "$PARALLEL" || lab_fail "$1 requests: some failed"
}

# Descriptor counts settle once every relay has closed both of its sides.
settle() {
    local i
    for ((i = 0; i < 100; i++)); do
        read -r redir_fds redir_rss < <(lab_proc_usage "$LAB_REDIR_PID")
        read -r server_fds server_rss < <(lab_proc_usage "$LAB_SERVER_PID")
        ((redir_fds <= base_redir_fds + FD_SLACK && server_fds <= base_server_fds + FD_SLACK)) &&
            return 0
        sleep 0.2
    done
}

load "$WARMUP" >/dev/null
sleep 2
read -r base_redir_fds base_redir_rss < <(lab_proc_usage "$LAB_REDIR_PID")
read -r base_server_fds base_server_rss < <(lab_proc_usage "$LAB_SERVER_PID")

echo "$COUNT requests, $PARALLEL at a time: $(load "$COUNT")"
settle
printf 'otb-redir:  fds %s -> %s, RSS %s -> %s KiB\n' "$base_redir_fds" "$redir_fds" \
    "$base_redir_rss" "$redir_rss"
printf 'otb-server: fds %s -> %s, RSS %s -> %s KiB\n' "$base_server_fds" "$server_fds" \
    "$base_server_rss" "$server_rss"

((redir_fds <= base_redir_fds + FD_SLACK)) || lab_fail "otb-redir leaks descriptors"
((server_fds <= base_server_fds + FD_SLACK)) || lab_fail "otb-server leaks descriptors"
((redir_rss <= base_redir_rss + RSS_SLACK_KB)) || lab_fail "otb-redir memory grew"
((server_rss <= base_server_rss + RSS_SLACK_KB)) || lab_fail "otb-server memory grew"
peers=$(paste -sd' ' "$LAB_DIR/http.peers")
[[ $peers == "$LAB_SRV_INET" ]] || lab_fail "the Internet saw other sources than the server: $peers"
echo "PASS: $COUNT requests, no descriptor or memory growth"
