#!/usr/bin/env bash
# common/otb_netlink.c against the kernel, through otb_nltool, in a network
# namespace of its own: the main table's default routes (two gateways with
# different metrics, a multipath route, a route without gateway, IPv6) read
# exactly as `ip -j route show default` lists the unicast ones, while routes of
# another table, other prefixes and blackholes are left out; the MPTCP
# endpoints read exactly as `ip -j mptcp endpoint show` lists them; setting and
# clearing the backup flag of an endpoint is seen by iproute2 and keeps the
# endpoint's other flags; an unknown endpoint id is an error.
set -euo pipefail
# shellcheck source=test/lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"

otb_need_root
otb_need_cmd ip python3
: "${OTB_BUILD:?OTB_BUILD must point at the build directory}"
NLTOOL="$OTB_BUILD/test/interop/otb_nltool"
[[ -x $NLTOOL ]] || otb_fail "not built: $NLTOOL (build the project first)"

NS="otbnl-$$"
TMP=$(mktemp -d "/tmp/otb-netlink.$$.XXXXXX")
cleanup() {
    ip netns del "$NS" 2>/dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT

say() { echo "[$(date +%T)] $*" >&2; }
in_ns() { ip netns exec "$NS" "$@"; }

ip netns add "$NS"
in_ns ip link set lo up
for i in 0 1; do
    in_ns ip link add "d$i" type veth peer name "p$i"
    in_ns ip link set "p$i" up
    in_ns ip link set "d$i" up
done
in_ns ip addr add 192.0.2.2/24 dev d0
in_ns ip addr add 198.51.100.2/24 dev d1
in_ns ip addr add 2001:db8:1::2/64 dev d0 nodad
in_ns ip addr add 2001:db8:2::2/64 dev d1 nodad
# Listed: two WANs with their metrics, a load-balanced pair, a point-to-point link.
in_ns ip route add default via 198.51.100.1 dev d1 metric 200
in_ns ip route add default via 192.0.2.1 dev d0 metric 100
in_ns ip route add default metric 300 nexthop via 192.0.2.1 dev d0 nexthop via 198.51.100.1 dev d1
in_ns ip route add default dev d1 metric 500
in_ns ip -6 route add default via 2001:db8:2::1 dev d1 metric 200
in_ns ip -6 route add default via 2001:db8:1::1 dev d0 metric 100
# Left out: another table, another prefix, not unicast.
in_ns ip route add default via 198.51.100.1 dev d1 table 100
in_ns ip route add 203.0.113.0/24 via 192.0.2.1 dev d0
in_ns ip route add blackhole default metric 400
ip -n "$NS" mptcp endpoint add 192.0.2.2 dev d0 subflow
ip -n "$NS" mptcp endpoint add 198.51.100.2 dev d1 subflow fullmesh
ip -n "$NS" mptcp endpoint add 2001:db8:1::2 port 10000 signal

# compare.py KIND: otb_nltool's lines (file 1) against iproute2's JSON (the
# other files); prints both views and fails when they differ.
cat >"$TMP/compare.py" <<'EOF'
import json, sys

FLAG_NAMES = {1: "signal", 2: "subflow", 4: "backup", 8: "fullmesh", 16: "implicit"}

def fields(line):
    return dict(kv.split("=", 1) for kv in line.split())

def ours_routes(path):
    out = []
    for line in open(path).read().splitlines():
        f = fields(line)
        out.append((f["family"], f["ifname"], f["gw"], int(f["metric"])))
    return out

def ip_routes(path, family):
    out = []
    for r in json.load(open(path)):
        if r.get("type", "unicast") != "unicast":
            continue
        metric = int(r.get("metric", 0))
        for nh in r.get("nexthops", [r]):
            out.append((family, nh["dev"], nh.get("gateway", "-"), metric))
    # Same order as otb_nl_default_routes: family then metric, else as dumped.
    return sorted(out, key=lambda e: (e[0] != "inet", e[3]))

def ours_endpoints(path):
    out = []
    for line in open(path).read().splitlines():
        f = fields(line)
        flags = {n for bit, n in FLAG_NAMES.items() if int(f["flags"]) & bit}
        out.append((int(f["id"]), f["addr"], int(f["port"]), f["dev"], sorted(flags)))
    return out

def ip_endpoints(path):
    out = []
    for e in json.load(open(path)):
        # iproute2 prints each flag as a key: "subflow": true.
        flags = [n for n in FLAG_NAMES.values() if e.get(n) is True]
        out.append((int(e["id"]), e["address"], int(e.get("port", 0)), e.get("dev", "-"),
                    sorted(flags)))
    return out

kind = sys.argv[1]
if kind == "routes":
    ours = ours_routes(sys.argv[2])
    theirs = ip_routes(sys.argv[3], "inet") + ip_routes(sys.argv[4], "inet6")
elif kind in ("inet", "inet6"):
    ours = ours_routes(sys.argv[2])
    theirs = ip_routes(sys.argv[3], kind)
else:
    ours = ours_endpoints(sys.argv[2])
    theirs = ip_endpoints(sys.argv[3])
for e in ours:
    print("  otb_netlink:", e)
if ours != theirs:
    for e in theirs:
        print("  iproute2:   ", e)
    sys.exit("%s differ from iproute2's" % kind)
EOF

compare() { python3 "$TMP/compare.py" "$@" >&2 || otb_fail "$1: otb_netlink and iproute2 differ"; }

check_routes() {
    in_ns ip -j -4 route show default >"$TMP/ip4.json"
    in_ns ip -j -6 route show default >"$TMP/ip6.json"
    in_ns "$NLTOOL" routes >"$TMP/routes" || otb_fail "otb_nltool routes failed"
    compare routes "$TMP/routes" "$TMP/ip4.json" "$TMP/ip6.json"
    in_ns "$NLTOOL" routes inet >"$TMP/routes4" || otb_fail "otb_nltool routes inet failed"
    compare inet "$TMP/routes4" "$TMP/ip4.json"
    in_ns "$NLTOOL" routes inet6 >"$TMP/routes6" || otb_fail "otb_nltool routes inet6 failed"
    compare inet6 "$TMP/routes6" "$TMP/ip6.json"
}

check_endpoints() {
    ip -n "$NS" -j mptcp endpoint show >"$TMP/ep.json"
    in_ns "$NLTOOL" endpoints >"$TMP/endpoints" || otb_fail "otb_nltool endpoints failed"
    compare endpoints "$TMP/endpoints" "$TMP/ep.json"
}

# The endpoint with address $1 as `ip mptcp endpoint show` prints it.
ip_endpoint() { ip -n "$NS" mptcp endpoint show | grep -F "$1 " || true; }

say "default routes"
check_routes
(($(wc -l <"$TMP/routes") == 7)) || otb_fail "expected 7 default nexthops, got: $(cat "$TMP/routes")"
grep -q "gw=- metric=500" "$TMP/routes" || otb_fail "the route without gateway is missing"

say "MPTCP endpoints"
check_endpoints
(($(wc -l <"$TMP/endpoints") == 3)) || otb_fail "expected 3 endpoints, got: $(cat "$TMP/endpoints")"

id1=$(awk '/addr=192.0.2.2 /{sub("id=", "", $1); print $1}' "$TMP/endpoints")
id2=$(awk '/addr=198.51.100.2 /{sub("id=", "", $1); print $1}' "$TMP/endpoints")
[[ -n $id1 && -n $id2 ]] || otb_fail "endpoint ids not found in: $(cat "$TMP/endpoints")"

say "backup on/off of endpoint $id1 (subflow) and $id2 (subflow fullmesh)"
for id in "$id1" "$id2"; do
    addr=192.0.2.2
    [[ $id == "$id2" ]] && addr=198.51.100.2
    in_ns "$NLTOOL" backup "$id" on || otb_fail "backup $id on failed"
    ip_endpoint "$addr" | grep -qw backup || otb_fail "endpoint $id not backup: $(ip_endpoint "$addr")"
    check_endpoints
    in_ns "$NLTOOL" backup "$id" on || otb_fail "backup $id on (again) failed"
    ip_endpoint "$addr" | grep -qw backup || otb_fail "endpoint $id lost backup: $(ip_endpoint "$addr")"
    in_ns "$NLTOOL" backup "$id" off || otb_fail "backup $id off failed"
    ! ip_endpoint "$addr" | grep -qw backup || otb_fail "endpoint $id still backup: $(ip_endpoint "$addr")"
    check_endpoints
done
ip_endpoint 198.51.100.2 | grep -qw fullmesh || otb_fail "fullmesh lost: $(ip_endpoint 198.51.100.2)"
ip_endpoint 192.0.2.2 | grep -qw subflow || otb_fail "subflow lost: $(ip_endpoint 192.0.2.2)"

say "unknown endpoint id"
if in_ns "$NLTOOL" backup 200 on 2>"$TMP/err"; then
    otb_fail "backup of an unknown endpoint succeeded"
fi
grep -q "No such file or directory" "$TMP/err" || otb_fail "unexpected error: $(cat "$TMP/err")"

say "routes and endpoints gone with their interface"
in_ns ip link del d1
check_routes
check_endpoints
say "PASS"
