#!/usr/bin/env bash
# The box's status page in a browser (headless Chromium on the LAN host)
# during a download through otb-redir over two WANs of 8 Mbit/s, wan2 cut
# after 5 s:
#   - the page's numbers (chromium --dump-dom) are those of the status
#     document read just before and after it, within one refresh: uptime,
#     connections, server in use, each WAN's state, RTT and loss;
#   - with a UDP flow and a voice (EF) flow from the LAN through otb-tunnel,
#     the page's UDP flows and voice flows are those of otb-tunnel's status
#     document (otb-redir reads it: --tunnel-status-socket);
#   - wan2 is shown down with its download at 0 while wan1 carries on, and
#     the graphs' history has wan2's download going to zero;
#   - the screenshot is kept as $OTB_BUILD/artifacts/status-page.png.
set -euo pipefail
# shellcheck source=test/lab/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

RATE=8
PORT=9100
TUNNEL_PORT=12346
REFLECT_PORT=7001
URL="http://$LAB_LAN_GW:$PORT"
PROBE="$(lab_src)/test/interop/http_probe.py"
SHOT="${OTB_BUILD:?}/artifacts/status-page.png"

lab_start "otbsp$$" "$RATE $RATE" chromium curl python3
lab_otb_server "$LAB_SRV_ADDR" "$LAB_SRV_PORT" otb-server -u
lab_bg inet reflect python3 -I -S "$(lab_src)/test/lab/udp_peer.py" reflect "$REFLECT_PORT"
lab_wait_udp inet "$REFLECT_PORT"
lab_otb_tunnel otb-tunnel "$TUNNEL_PORT" -L "$LAB_INET_ADDR:$REFLECT_PORT" \
    --status-socket "$LAB_DIR/tun.sock"
lab_otb_redir --metrics "$LAB_LAN_GW:$PORT" --tunnel-status-socket "$LAB_DIR/tun.sock"
lab_intercept "$LAB_REDIR_PORT"
lab_wait_port box "$PORT"

get() { lab_run lan curl -sSf --max-time 5 "$URL/$1"; }
# browser URL ARGS...: headless Chromium on the LAN host, 2.5 s of page time.
browser() {
    local url=$1
    shift
    lab_run lan timeout 90 chromium --headless --no-sandbox --disable-gpu --disable-quic \
        --no-first-run --disable-background-networking --disable-component-update \
        --disable-sync --disable-dev-shm-usage --user-data-dir="$(mktemp -d -p "$LAB_DIR")" \
        --window-size=420,1000 --virtual-time-budget=2500 "$@" "$url" 2>>"$LAB_DIR/chromium.log"
}

# A UDP flow and a voice one (EF) through otb-tunnel for the whole test.
for tos in 0 0xb8; do
    lab_udp_peer lan flow "$LAB_LAN_GW" "$TUNNEL_PORT" 110 20 "$tos" >"$LAB_DIR/flow-$tos.out" 2>&1 &
done

file=$(lab_random_file 64)
lab_bulk_servers "$file"
lab_run lan python3 "$(lab_tool)" fetch "$LAB_INET_ADDR" "$LAB_SOURCE_PORT" --timeout 120 \
    >"$LAB_DIR/xfer.down" 2>&1 &
xfer=$!
# both_busy: each WAN's latest second carried a third of its rate.
both_busy() {
    get history.json | python3 -c 'import json, sys
h = json.load(sys.stdin)["wans"]
sys.exit(not (len(h) == 2 and all(w["down"] and w["down"][-1] > int(sys.argv[1]) for w in h)))' \
        "$((RATE * 125000 / 3))"
}
t0=$SECONDS
until both_busy; do
    ((SECONDS - t0 < 30)) || lab_fail "the download is not on both WANs: $(get history.json)"
    sleep 0.5
done
sleep 3
lab_wan_down 2
lab_say "wan2 down, the download on both WANs for 3 s"
sleep 6 # wan2 declared down, several samples at zero

tunnel_doc() { python3 "$PROBE" doc "$LAB_DIR/tun.sock"; }
tunnel_doc >"$LAB_DIR/tun-before.json"
get status.json >"$LAB_DIR/before.json"
browser "$URL/" --screenshot="$LAB_DIR/page.png" --dump-dom >"$LAB_DIR/page.html" ||
    lab_fail "chromium failed: $(tail -n 5 "$LAB_DIR/chromium.log")"
get status.json >"$LAB_DIR/after.json"
tunnel_doc >"$LAB_DIR/tun-after.json"
get history.json >"$LAB_DIR/history.json"
kill -0 "$xfer" 2>/dev/null || lab_fail "the download ended before the page was read"
mkdir -p "$(dirname "$SHOT")"
cp "$LAB_DIR/page.png" "$SHOT"
[[ $(stat -c %s "$SHOT") -gt 10000 ]] || lab_fail "screenshot too small: $SHOT"
lab_say "screenshot in $SHOT"

got=$(python3 "$PROBE" page "$LAB_DIR/page.html" "$LAB_DIR/before.json" "$LAB_DIR/after.json" \
    "$LAB_DIR/history.json" wan2 "$LAB_DIR/tun-before.json" "$LAB_DIR/tun-after.json" 2>&1) ||
    lab_fail "$got"
# Both flows are in otb-tunnel's document, one of them voice.
python3 -c 'import json, sys
a = json.load(open(sys.argv[1]))["udp"]["associations"]
sys.exit(not (a["active"] == 2 and a["voice"] == 1))' "$LAB_DIR/tun-after.json" ||
    lab_fail "otb-tunnel does not have the 2 flows, 1 voice: $(cat "$LAB_DIR/tun-after.json")"
lab_say "$got"
kill "$xfer" 2>/dev/null || true
echo "PASS: the status page matches the status documents and shows wan2's cut"
