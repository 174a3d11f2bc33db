#!/bin/bash
# Lab test of otb-redir/otb-firewall, run entirely inside network namespaces created here (the
# host's own ruleset, rules and routes are never touched):
#  1. rules, from the box's JSON config (twice, with different settings): `up` twice leaves the
#     same state as once, the expected rules, bypass elements, TPROXY rule, ip rules and routes
#     are present, and `down` brings every snapshot (nft, iptables, ip6tables, ip rules, routes)
#     back to before; a changed config is undone from the state file.
#  2. bad configs and usage exit 2 with one line naming the key and install nothing; a system
#     failure exits 1.
#     With WANs and pins ("wans"/"pins"): per-WAN tables (gateway, fallback, unreachable), fwmark
#     and source-address ip rules, MPTCP endpoints (a foreign one only gets its backup flag, and
#     gets it back on down), pin marks and masquerading, all undone by down.
#  3. end to end, lan <-> box <-> wan: TCP and UDP from the LAN host to a public-like address
#     reach the box's listeners ("INTERCEPTED"); bypassed destinations, the box's own address
#     and the box's own traffic reach the real destination ("DIRECT"); a host pinned "direct"
#     is not intercepted (v4 and v6); after down, all DIRECT. The proxies' ports (otb-redir's,
#     its SOCKS5 one, otb-tunnel's) answer the LAN and the box itself but not the WAN side.
set -Eeuo pipefail
trap 'echo "FAIL: line $LINENO: \"$BASH_COMMAND\" exited $?" >&2' ERR

: "${OTB_SRC:?OTB_SRC must point to the source tree}"
FW=$OTB_SRC/otb-redir/otb-firewall

# shellcheck source=test/lab/check_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/check_lib.sh"

check_require ip nft iptables-save ip6tables-save python3 ss timeout
[[ -x $FW ]] || fail "$FW is not executable"
# The interpreter itself (not a version-manager shim), without site packages: it is started
# some forty times and its start-up time is most of the test's runtime.
PYTHON=$(python3 -c 'import sys; print(sys.executable)')

ID=$$
NS_RULES=otbfw$ID
NS_LAN=otbfwl$ID
NS_BOX=otbfwb$ID
NS_WAN=otbfww$ID
check_init otbfw "$NS_RULES" "$NS_LAN" "$NS_BOX" "$NS_WAN"

# The script must not read the host's configuration nor write the host's /run/otb.
while read -r var; do unset "$var"; done < <(compgen -v OTB_FW_ || true)
export OTB_FW_CONFIG=$WORK/missing.json
export OTB_FW_STATE_DIR=$WORK/state

PORT_BASE=$((20000 + RANDOM % 20000))
RP=$PORT_BASE         # otb-redir's port
TP=$((PORT_BASE + 1)) # otb-tunnel's port
DP=$((PORT_BASE + 2)) # the real destination's port
SP=$((PORT_BASE + 3)) # otb-redir's SOCKS5 port

# --- helpers -----------------------------------------------------------------------------------

# Everything that `up` may change, normalised (no timestamps, no counters).
snapshot() {
	local ns=$1 out=$2
	{
		echo "## nft"
		in_ns "$ns" nft list ruleset 2>/dev/null # iptables-nft rules: see iptables-save
		echo "## iptables"
		in_ns "$ns" iptables-save | sed -E -e '/^#/d' -e 's/\[[0-9]+:[0-9]+\]//'
		echo "## ip6tables"
		in_ns "$ns" ip6tables-save | sed -E -e '/^#/d' -e 's/\[[0-9]+:[0-9]+\]//'
		echo "## ip rule"
		in_ns "$ns" ip -4 rule
		echo "## ip -6 rule"
		in_ns "$ns" ip -6 rule
		echo "## routes"
		in_ns "$ns" ip -4 route show table all
		echo "## ip -6 routes"
		in_ns "$ns" ip -6 route show table all
		echo "## mptcp endpoints"
		in_ns "$ns" ip mptcp endpoint show
	} >"$out"
}

same_snapshot() {
	local a=$1 b=$2 what=$3
	diff -u "$a" "$b" >"$WORK/diff" || { cat "$WORK/diff" >&2; fail "$what"; }
}

contains() {
	local haystack=$1 needle=$2 what=$3
	grep -qF -- "$needle" <<<"$haystack" || { echo "$haystack" >&2; fail "$what: '$needle' missing"; }
}

lacks() {
	local haystack=$1 needle=$2 what=$3
	if grep -qF -- "$needle" <<<"$haystack"; then
		echo "$haystack" >&2
		fail "$what: '$needle' still present"
	fi
}

# box_config FILE MEMBER...: a box config (the JSON otb-redir reads) with these members.
box_config() {
	local file=$1
	shift
	printf '{"server_port": 8388, "password": "lab", %s}\n' "$(IFS=,; echo "$*")" >"$file"
}

# fw NS [VAR=VALUE...] COMMAND ARGS...: runs the script in NS with extra environment.
fw() {
	local ns=$1
	shift
	local -a envs=()
	while [[ $# -gt 0 && $1 == *=* ]]; do envs+=("$1"); shift; done
	in_ns "$ns" env "${envs[@]}" "$FW" "$@"
}

# --- 1. rules, idempotence and exact teardown -------------------------------------------------

printf '# user list\n198.18.205.0/24   # a /24\n\n2001:db8:205::/48\n' >"$WORK/bypass.list"
PIN_MAC=02:00:00:00:20:07
WANS_JSON='"wans": {"fibre": {"interface": "wan1"},
	"lte": {"interface": "wan2", "backup": true, "gateway": "10.202.2.2"}}'
PINS_JSON='"pins": [{"host": "10.201.1.3", "wan": "fibre", "mode": "direct", "fallback": "lte"},
	{"host": "2001:db8:201:1::3", "wan": "fibre", "mode": "direct", "fallback": "lte"},
	{"host": "10.201.1.4", "wan": "fibre", "mode": "direct"},
	{"host": "'$PIN_MAC'", "wan": "lte", "mode": "direct"},
	{"host": "10.201.1.0/28", "wan": "lte", "mode": "tunnel-via"}]'
UP_JSON=("\"local_port\": $RP" '"server": ["198.18.203.2", "2001:db8:203::2"]' "$WANS_JSON"
	"$PINS_JSON")
UP_FW='"firewall": {"lan": ["lan0", "lan1"], "tunnel_port": '$TP',
	"bypass": ["198.18.202.0/24"], "bypass_files": ["'$WORK/bypass.list'"]'
box_config "$WORK/up.json" "${UP_JSON[@]}" "$UP_FW}"
UP_ARGS=(--config "$WORK/up.json")

check_nft_rules() {
	local mark table
	printf -v mark '0x%08x' "$(($1))" # nft prints marks in full
	table=$(in_ns "$NS_RULES" nft list table inet otb)
	for want in '"lan0"' '"lan1"' "redirect to :$RP" "tproxy to :$TP" "meta mark set $mark" \
		'fib daddr type' 198.18.202.0/24 198.18.203.2 198.18.205.0/24 2001:db8:203::2 \
		2001:db8:205::/48 10.0.0.0/8 100.64.0.0/10 fc00::/7 fe80::/10; do
		contains "$table" "$want" "nft table inet otb"
	done
	lacks "$(in_ns "$NS_RULES" iptables-save)" OTB_ "iptables rules"
}

check_routing() {
	local mark=$1 family
	for family in 4 6; do
		contains "$(in_ns "$NS_RULES" ip -$family rule)" "fwmark $mark lookup 100" "ip -$family rule"
		contains "$(in_ns "$NS_RULES" ip -$family route show table 100)" "local default dev lo" \
			"ip -$family route table 100"
	done
}

# WAN tables, rules and endpoints; pin marks and masquerading in the nft table. Direct
# pins to fibre without fallback use fibre's mark and table (0x10, 200), those with fallback
# lte the pair's (0x40, 216).
check_wans() {
	local rules routes want fw
	rules=$(in_ns "$NS_RULES" ip -4 rule)
	for want in "10000:	from all fwmark 0x10/0xff lookup main suppress_prefixlength 0" \
		"10001:	from all fwmark 0x10/0xff lookup 200" "10011:	from all fwmark 0x11/0xff lookup 201" \
		"10002:	from 10.202.1.1 lookup main suppress_prefixlength 0" "10003:	from 10.202.1.1 lookup 200" \
		"10013:	from 10.202.2.1 lookup 201" "10100:	from all fwmark 0x40/0xff lookup main suppress_prefixlength 0" \
		"10101:	from all fwmark 0x40/0xff lookup 216"; do
		contains "$rules" "$want" "ip rule"
	done
	contains "$(in_ns "$NS_RULES" ip -6 rule)" "10011:	from all fwmark 0x11/0xff lookup 201" "ip -6 rule"
	routes=$(in_ns "$NS_RULES" ip -4 route show table 200)
	for want in "default via 10.202.1.2 dev wan1 metric 10" "unreachable default metric 1000000"; do
		contains "$routes" "$want" "table 200 (fibre)"
	done
	lacks "$routes" "wan2" "table 200 (fibre's own table has no fallback)"
	routes=$(in_ns "$NS_RULES" ip -4 route show table 216)
	for want in "default via 10.202.1.2 dev wan1 metric 10" "default via 10.202.2.2 dev wan2 metric 20" \
		"unreachable default metric 1000000"; do
		contains "$routes" "$want" "table 216 (fibre, fallback lte)"
	done
	routes=$(in_ns "$NS_RULES" ip -4 route show table 201)
	contains "$routes" "default via 10.202.2.2 dev wan2 metric 10" "table 201 (lte, gw=)"
	lacks "$routes" "wan1" "table 201 (lte has no fallback)"
	contains "$(in_ns "$NS_RULES" ip -6 route show table 216)" "unreachable default" "ip -6 table 216"
	want=$(in_ns "$NS_RULES" ip mptcp endpoint show)
	contains "$want" "10.202.2.1 id 2 subflow backup dev wan2" "MPTCP endpoint of the backup WAN"
	contains "$want" "10.202.1.1 id 1 subflow dev wan1" "foreign MPTCP endpoint, backup flag removed"
	fw=$(in_ns "$NS_RULES" nft list table inet otb)
	for want in "ip saddr 10.201.1.3 meta mark set meta mark & 0xffffff40 | 0x00000040 return" \
		"ip saddr 10.201.1.4 meta mark set meta mark & 0xffffff10 | 0x00000010 return" \
		"ip6 saddr 2001:db8:201:1::3 meta mark set" "ether saddr $PIN_MAC meta mark set" \
		"ip saddr 10.201.1.0/28 return" \
		"meta mark & 0x000000ff == { 0x00000010, 0x00000011, 0x00000040 } accept" \
		'oifname @wan_ifaces meta nfproto ipv4 fib saddr type != local masquerade' '"wan2"'; do
		contains "$fw" "$want" "nft pins"
	done
}

# rules_pass NAME MARK [VAR=VALUE...] -- UP ARGS...
rules_pass() {
	local name=$1 mark=$2 out rc
	shift 2
	local -a envs=()
	while [[ $1 != -- ]]; do envs+=("$1"); shift; done
	shift
	local s=$WORK/$name
	snapshot "$NS_RULES" "$s.before"

	fw "$NS_RULES" "${envs[@]}" up "$@" >/dev/null
	snapshot "$NS_RULES" "$s.up1"
	fw "$NS_RULES" "${envs[@]}" up "$@" >/dev/null
	snapshot "$NS_RULES" "$s.up2"
	same_snapshot "$s.up1" "$s.up2" "$name: second up changed the state"
	pass "$name: up twice = up once"

	# /run is shared with the namespace: the state must name it, not pose as the host's.
	[[ -n $(compgen -G "$OTB_FW_STATE_DIR/firewall.otb.netns*.state") ]] ||
		fail "$name: no state file keyed by the network namespace"
	check_nft_rules "$mark"
	check_routing "$mark"
	check_wans
	out=$(fw "$NS_RULES" "${envs[@]}" status "$@")
	contains "$out" "backend nft" status
	contains "$out" "pin 10.201.1.3/32 wan fibre direct fallback lte mark 0x40" status
	pass "$name: redirect, tproxy, bypass elements, ip rules and routes present"
	pass "$name: WAN tables, rules, MPTCP endpoints, pin marks and masquerading present"

	fw "$NS_RULES" "${envs[@]}" down "$@"
	snapshot "$NS_RULES" "$s.down"
	same_snapshot "$s.before" "$s.down" "$name: down did not restore the state"
	[[ -z $(compgen -G "$OTB_FW_STATE_DIR/*.state") ]] || fail "$name: state file left after down"
	out=$(fw "$NS_RULES" down 2>&1) || fail "$name: second down failed"
	[[ -z $out ]] || fail "$name: second down not quiet: $out"
	rc=0
	fw "$NS_RULES" status >/dev/null || rc=$?
	[[ $rc -eq 3 ]] || fail "$name: status after down exit $rc, expected 3"
	pass "$name: down restores every snapshot, second down is quiet"
}

# A config that changed between up and down is undone from the state file.
state_pass() {
	local s=$WORK/state_pass
	snapshot "$NS_RULES" "$s.before"
	fw "$NS_RULES" up "${UP_ARGS[@]}" >/dev/null
	box_config "$WORK/tcp.json" "\"local_port\": $RP" '"firewall": {"lan": "lan0"}'
	fw "$NS_RULES" up --config "$WORK/tcp.json" >/dev/null
	lacks "$(in_ns "$NS_RULES" ip -4 rule)" "fwmark" "up without tunnel_port"
	lacks "$(in_ns "$NS_RULES" nft list table inet otb)" "tproxy" "up without tunnel_port"
	# A box running otb-tunnel alone: UDP intercepted, TCP left alone.
	box_config "$WORK/udp.json" '"firewall": {"lan": "lan0", "tcp": false, "tunnel_port": '"$TP}"
	fw "$NS_RULES" up --config "$WORK/udp.json" >/dev/null
	lacks "$(in_ns "$NS_RULES" nft list table inet otb)" "redirect" "up with \"tcp\": false"
	contains "$(in_ns "$NS_RULES" nft list table inet otb)" "tproxy" "up with \"tcp\": false"
	fw "$NS_RULES" up "${UP_ARGS[@]}" >/dev/null
	check_nft_rules 0x1
	fw "$NS_RULES" down --table otb
	snapshot "$NS_RULES" "$s.after"
	same_snapshot "$s.before" "$s.after" "down after changed configs"
	pass "changed configs (TCP only, UDP only, back): down restores every snapshot"
}

# A routing rule that existed before `up` is not ours: down must keep it.
foreign_rule_pass() {
	in_ns "$NS_RULES" ip -4 rule add fwmark 0x1 lookup 100
	fw "$NS_RULES" up "${UP_ARGS[@]}" >/dev/null
	fw "$NS_RULES" down "${UP_ARGS[@]}"
	contains "$(in_ns "$NS_RULES" ip -4 rule)" "fwmark 0x1 lookup 100" "pre-existing ip rule"
	in_ns "$NS_RULES" ip -4 rule del fwmark 0x1 lookup 100
	pass "a pre-existing ip rule survives up/down"
}

ip netns add "$NS_RULES"
in_ns "$NS_RULES" ip link set lo up
# Two WANs with default routes in the main table; wan1 has an MPTCP endpoint made by someone
# else, flagged backup (up clears the flag for this non-backup WAN, down sets it back). No IPv6
# link-local addresses: they would appear between snapshots.
in_ns "$NS_RULES" sysctl -qw net.ipv6.conf.default.addr_gen_mode=1
for n in 1 2; do
	in_ns "$NS_RULES" ip link add "wan$n" type veth peer name "wan${n}p"
	in_ns "$NS_RULES" ip link set "wan$n" up
	in_ns "$NS_RULES" ip link set "wan${n}p" up
	in_ns "$NS_RULES" ip addr add "10.202.$n.1/24" dev "wan$n"
	in_ns "$NS_RULES" ip route add default via "10.202.$n.2" metric "${n}0"
done
in_ns "$NS_RULES" ip mptcp endpoint add 10.202.1.1 dev wan1 id 1 subflow backup
rules_pass defaults 0x1 -- "${UP_ARGS[@]}"
# The second pass names its config in the environment, with another TPROXY mark.
box_config "$WORK/mark.json" "${UP_JSON[@]}" "$UP_FW, \"tproxy_mark\": 42}"
rules_pass mark42 0x2a OTB_FW_CONFIG="$WORK/mark.json" --
state_pass
foreign_rule_pass

# --- 2. bad configs, usage errors and system failures -------------------------------------

expect_exit() {
	local want=$1 rc=0 lines
	shift
	fw "$NS_RULES" "$@" >/dev/null 2>"$WORK/err" || rc=$?
	[[ $rc -eq $want ]] || fail "'$*' exited $rc, expected $want: $(cat "$WORK/err")"
	lines=$(wc -l <"$WORK/err")
	[[ $lines -eq 1 ]] || fail "'$*' printed $lines lines on stderr, expected one"
}

# bad_config NEEDLE MEMBER...: up with this config exits 2 with one line naming NEEDLE.
bad_config() {
	local needle=$1
	shift
	box_config "$WORK/bad.json" "$@"
	expect_exit 2 up --config "$WORK/bad.json"
	grep -qF -- "$needle" "$WORK/err" || fail "error '$(cat "$WORK/err")' does not name $needle"
}

LAN0='"firewall": {"lan": "lan0"}'
WAN_A='"wans": {"a": {"interface": "wan1"}}'
snapshot "$NS_RULES" "$WORK/errors.before"
expect_exit 2 up --config "$WORK/up.json" --frobnicate
bad_config local_port "$LAN0"
bad_config '"lan"' "\"local_port\": $RP"
bad_config '"local_port"' '"local_port": 65536' "$LAN0"
bad_config '"bypass"' "\"local_port\": $RP" '"firewall": {"lan": "lan0", "bypass": "10.0.0.1/33"}'
bad_config '"bypass"' "\"local_port\": $RP" '"firewall": {"lan": "lan0", "bypass": ["10.1.2.3/8"]}'
bad_config '"bypass"' "\"local_port\": $RP" '"firewall": {"lan": "lan0", "bypass": ["2001:db8::1::2"]}'
bad_config '"bypass"' "\"local_port\": $RP" '"firewall": {"lan": "lan0", "bypass": ["300.1.1.1"]}'
bad_config '"tproxy_mark"' "\"local_port\": $RP" '"firewall": {"lan": "lan0", "tproxy_mark": 0}'
bad_config '"frobnicate"' "\"local_port\": $RP" '"firewall": {"lan": "lan0", "frobnicate": 1}'
bad_config '"bypass_files"' "\"local_port\": $RP" \
	'"firewall": {"lan": "lan0", "bypass_files": ["'"$WORK/missing.list"'"]}'
bad_config '"wans"' "\"local_port\": $RP" "$LAN0" '"wans": {"a": "wan1"}'
bad_config '"turbo"' "\"local_port\": $RP" "$LAN0" '"wans": {"a": {"interface": "wan1", "turbo": 1}}'
bad_config 'bits outside' "\"local_port\": $RP" "$LAN0" '"wans": {"a": {"interface": "wan1", "mark": 256}}'
bad_config 'TPROXY mark' "\"local_port\": $RP" '"firewall": {"lan": "lan0", "tunnel_port": 9}' \
	'"wans": {"a": {"interface": "wan1", "mark": 1}}'
bad_config 'same mark' "\"local_port\": $RP" "$LAN0" \
	'"wans": {"a": {"interface": "wan1"}, "b": {"interface": "wan2", "mark": 16}}'
bad_config 'TPROXY table' "\"local_port\": $RP" '"firewall": {"lan": "lan0", "tunnel_port": 9}' \
	'"wans": {"a": {"interface": "wan1", "table": 100}}'
bad_config '"gateway"' "\"local_port\": $RP" "$LAN0" '"wans": {"a": {"interface": "wan1", "gateway": "host.test"}}'
bad_config 'unknown WAN "b"' "\"local_port\": $RP" "$LAN0" "$WAN_A" '"pins": [{"host": "10.0.0.1", "wan": "b"}]'
bad_config 'duplicate pin' "\"local_port\": $RP" "$LAN0" "$WAN_A" \
	'"pins": [{"host": "10.0.0.1", "wan": "a"}, {"host": "10.0.0.1", "wan": "a", "mode": "direct"}]'
bad_config 'sideways' "\"local_port\": $RP" "$LAN0" "$WAN_A" \
	'"pins": [{"host": "10.0.0.1", "wan": "a", "mode": "sideways"}]'
bad_config '"pins"' "\"local_port\": $RP" "$LAN0" "$WAN_A" '"pins": [{"host": "10.0.0.1/33", "wan": "a"}]'
bad_config 'tunnel-via' "\"local_port\": $RP" "$LAN0" "$WAN_A" "\"pins\": [{\"host\": \"$PIN_MAC\", \"wan\": \"a\"}]"
bad_config 'fallback' "\"local_port\": $RP" "$LAN0" "$WAN_A" \
	'"pins": [{"host": "10.0.0.1", "wan": "a", "mode": "direct", "fallback": "a"}]'
bad_config 'same mark' "\"local_port\": $RP" "$LAN0" \
	'"wans": {"a": {"interface": "wan1"}, "b": {"interface": "wan2", "mark": 64}}' \
	'"pins": [{"host": "10.0.0.1", "wan": "a", "mode": "direct", "fallback": "b"}]'
expect_exit 2 up --config "$WORK/missing.json"
expect_exit 2 frobnicate
expect_exit 1 OTB_FW_STATE_DIR=/proc/otb-nowhere up "${UP_ARGS[@]}"
snapshot "$NS_RULES" "$WORK/errors.after"
same_snapshot "$WORK/errors.before" "$WORK/errors.after" "a failed up left something behind"
pass "bad configs and usage exit 2 naming the key, system failure exits 1, one line each, nothing installed"

# --- 2b. the state file: only its items are undone, whatever the config or the file say ---------

state_file() {
	local f
	for f in "$OTB_FW_STATE_DIR"/firewall.otb.netns*.state; do echo "$f"; return 0; done
	fail "no state file in $OTB_FW_STATE_DIR"
}

# A name from the config can never become an item: a line like an item above the items line
# (a setting) is not undone.
state_items_pass() {
	local st
	bad_config 'bad WAN name' "\"local_port\": $RP" "$LAN0" \
		'"wans": {"a\nip -4 rule add pref 7777 blackhole": {"interface": "wan1"}}'
	bad_config '"interface"' "\"local_port\": $RP" "$LAN0" '"wans": {"a": {"interface": "wan1\nip"}}'
	fw "$NS_RULES" up "${UP_ARGS[@]}" >/dev/null
	st=$(state_file)
	grep -qx -- '--- items' "$st" || fail "no items line in $st"
	sed -i '1a ip -4 rule add pref 7777 blackhole' "$st"
	in_ns "$NS_RULES" ip -4 rule add pref 7777 blackhole
	fw "$NS_RULES" down "${UP_ARGS[@]}"
	contains "$(in_ns "$NS_RULES" ip -4 rule)" "7777:" "a setting line undone as an item"
	in_ns "$NS_RULES" ip -4 rule del pref 7777
	pass "WAN names and interfaces are checked; only lines after the items line are undone"
}

# down needs neither a config that still parses nor the same "table": the state file that
# records the config is found; without a state file the table goes by name.
down_broken_pass() {
	local s=$WORK/down_broken
	snapshot "$NS_RULES" "$s.before"
	cp "$WORK/up.json" "$WORK/edit.json"
	fw "$NS_RULES" up --config "$WORK/edit.json" >/dev/null
	echo '{"wans": ' >"$WORK/edit.json"
	expect_exit 2 up --config "$WORK/edit.json"
	fw "$NS_RULES" down --config "$WORK/edit.json"
	snapshot "$NS_RULES" "$s.after"
	same_snapshot "$s.before" "$s.after" "down after the config was broken"
	cp "$WORK/up.json" "$WORK/edit.json"
	fw "$NS_RULES" up --config "$WORK/edit.json" >/dev/null
	box_config "$WORK/edit.json" "${UP_JSON[@]}" "$UP_FW, \"table\": \"other\"}"
	fw "$NS_RULES" down --config "$WORK/edit.json"
	snapshot "$NS_RULES" "$s.after"
	same_snapshot "$s.before" "$s.after" "down after \"table\" was changed"
	box_config "$WORK/tcp.json" "\"local_port\": $RP" '"firewall": {"lan": "lan0"}'
	fw "$NS_RULES" up --config "$WORK/tcp.json" >/dev/null
	rm -f "$(state_file)"
	fw "$NS_RULES" down --config "$WORK/tcp.json"
	in_ns "$NS_RULES" nft list table inet otb >/dev/null 2>&1 && fail "table left without a state file"
	pass "down works after the config was broken or its table changed, and without a state file"
}

# A plan nft rejects is refused before anything is touched: the previous setup stays whole.
nft_check_pass() {
	local s=$WORK/nft_check
	cat >"$WORK/badboxconf" <<EOF
#!/bin/bash
"${OTB_BOXCONF:-$OTB_BUILD/otb-redir/otb-boxconf}" "\$@" || exit
while [[ \$# -gt 1 ]]; do [[ \$1 == --out ]] && echo 'add frobnicate' >>"\$2/firewall.nft"; shift; done
exit 0
EOF
	chmod +x "$WORK/badboxconf"
	fw "$NS_RULES" up "${UP_ARGS[@]}" >/dev/null
	snapshot "$NS_RULES" "$s.before"
	expect_exit 1 OTB_BOXCONF="$WORK/badboxconf" up "${UP_ARGS[@]}"
	grep -qF "nothing changed" "$WORK/err" || fail "nft rejection: $(cat "$WORK/err")"
	snapshot "$NS_RULES" "$s.after"
	same_snapshot "$s.before" "$s.after" "up with a plan nft rejects changed the setup"
	fw "$NS_RULES" down "${UP_ARGS[@]}"
	pass "a plan nft rejects leaves the previous setup intact"
}

# A state file that cannot be written undoes the up: nothing is left that no state records.
state_write_pass() {
	local s=$WORK/state_write st=$OTB_FW_STATE_DIR/firewall.otb.netns-$NS_RULES.state
	snapshot "$NS_RULES" "$s.before"
	mkdir -p "$st"
	expect_exit 1 up "${UP_ARGS[@]}"
	grep -qF "cannot write state file" "$WORK/err" || fail "state write: $(cat "$WORK/err")"
	rmdir "$st"
	snapshot "$NS_RULES" "$s.after"
	same_snapshot "$s.before" "$s.after" "up that could not write its state left objects"
	pass "up that cannot write its state file removes what it added"
}

# A bypass file line longer than any buffer (a comment) is one line, not a false "bad CIDR".
long_line_pass() {
	{ printf '198.18.206.0/24 # %0300d\n' 0; echo 198.18.209.0/24; } >"$WORK/long.list"
	box_config "$WORK/long.json" "\"local_port\": $RP" \
		'"firewall": {"lan": "lan0", "bypass_files": ["'"$WORK/long.list"'"]}'
	fw "$NS_RULES" up --config "$WORK/long.json" >/dev/null
	contains "$(in_ns "$NS_RULES" nft list set inet otb bypass4)" "198.18.209.0/24" "long line"
	fw "$NS_RULES" down --config "$WORK/long.json"
	pass "a bypass file line of 300 characters is read whole"
}

# --table is part of a path; a state directory others may write to is refused.
state_dir_pass() {
	expect_exit 2 down --table '../x'
	grep -qF -- "--table" "$WORK/err" || fail "bad --table: $(cat "$WORK/err")"
	mkdir -p "$WORK/opendir"
	chmod 777 "$WORK/opendir"
	expect_exit 1 OTB_FW_STATE_DIR="$WORK/opendir" up "${UP_ARGS[@]}"
	grep -qF "writable by no one else" "$WORK/err" || fail "open state dir: $(cat "$WORK/err")"
	pass "a bad --table and a state directory writable by others are refused"
}

# A state file of the version 1 script is refused, by up and down alike, naming what to do.
state_v1_pass() {
	local s=$WORK/state_v1 st=$OTB_FW_STATE_DIR/firewall.otb.netns-$NS_RULES.state
	snapshot "$NS_RULES" "$s.before"
	printf '%s\n' "# otb-firewall state" "version 1" "backend nft" "lan lan0" \
		"rule 4 fwmark 0x1 lookup 100 pref 9000" "nft_created inet otb" >"$st"
	expect_exit 1 down --table otb
	grep -qF "version 1" "$WORK/err" || fail "version 1 state: $(cat "$WORK/err")"
	expect_exit 1 up "${UP_ARGS[@]}"
	grep -qF "version 1" "$WORK/err" || fail "version 1 state on up: $(cat "$WORK/err")"
	[[ -f $st ]] || fail "the version 1 state file was removed"
	rm -f "$st"
	snapshot "$NS_RULES" "$s.after"
	same_snapshot "$s.before" "$s.after" "a version 1 state file was acted on"
	pass "a version 1 state file is refused with a message, nothing touched"
}

# Items are checked before anything is undone: an altered state file naming someone else's
# table, rule or route, or words a shell would expand, is refused whole.
state_foreign_pass() {
	local st item
	fw "$NS_RULES" up "${UP_ARGS[@]}" >/dev/null
	in_ns "$NS_RULES" nft add table inet victim
	in_ns "$NS_RULES" ip -4 rule add pref 7777 blackhole
	in_ns "$NS_RULES" ip -4 route add blackhole 198.18.250.0/24
	st=$(state_file)
	cp "$st" "$WORK/state.good"
	for item in 'nft_table inet victim' 'ip -4 rule add pref 7777 blackhole' \
		'ip -4 route add blackhole 198.18.250.0/24' 'ip -4 route add blackhole 198.18.250.0/24 table main' \
		'ip -4 rule add fwmark 0x1 lookup 100 pref 9000 *' 'mptcp_endpoint -h'; do
		cp "$WORK/state.good" "$st"
		echo "$item" >>"$st"
		expect_exit 1 down "${UP_ARGS[@]}"
		grep -qF "is not an object of otb-firewall" "$WORK/err" || fail "foreign item '$item': $(cat "$WORK/err")"
	done
	in_ns "$NS_RULES" nft list table inet victim >/dev/null || fail "a foreign table was deleted"
	contains "$(in_ns "$NS_RULES" ip -4 rule)" "7777:" "a foreign rule was deleted"
	contains "$(in_ns "$NS_RULES" ip -4 route)" "198.18.250.0/24" "a foreign route was deleted"
	in_ns "$NS_RULES" nft list table inet otb >/dev/null || fail "a refused state file was acted on"
	in_ns "$NS_RULES" nft delete table inet victim
	in_ns "$NS_RULES" ip -4 rule del pref 7777
	in_ns "$NS_RULES" ip -4 route del blackhole 198.18.250.0/24
	cp "$WORK/state.good" "$st"
	fw "$NS_RULES" down "${UP_ARGS[@]}"
	pass "a state file naming foreign objects is refused whole; nothing foreign is deleted"
}

# The lock and temporary files never write through a symbolic link.
state_link_pass() {
	local st=$OTB_FW_STATE_DIR/firewall.otb.netns-$NS_RULES
	echo precious >"$WORK/victim"
	ln -sfn "$WORK/victim" "$st.lock"
	expect_exit 1 up "${UP_ARGS[@]}"
	[[ $(cat "$WORK/victim") == precious ]] || fail "the lock file wrote through a symbolic link"
	grep -qF "symbolic link" "$WORK/err" || fail "linked lock: $(cat "$WORK/err")"
	rm -f "$st.lock"
	ln -s "$WORK/victim" "$st.state.tmp"
	fw "$NS_RULES" up "${UP_ARGS[@]}" >/dev/null
	[[ $(cat "$WORK/victim") == precious ]] || fail "the state file was written through a symbolic link"
	[[ -f $st.state && ! -L $st.state ]] || fail "the state file is not a plain file"
	rm -f "$st.state.tmp"
	fw "$NS_RULES" down "${UP_ARGS[@]}"
	pass "symbolic links as lock or temporary file are never written through"
}

state_items_pass
state_foreign_pass
state_link_pass
down_broken_pass
state_v1_pass
state_dir_pass
long_line_pass
nft_check_pass
state_write_pass

# --- 3. end to end: lan <-> box <-> wan --------------------------------------------------------

# Replies a word to every TCP connection / UDP datagram, or asks for one (client modes).
PEER=$(dirname "${BASH_SOURCE[0]}")/ns_peer.py

start_peer() {
	local ns=$1
	shift
	# Not through in_ns: $! must be the listener itself (ip netns exec execs it) to be killed.
	ip netns exec "$ns" "$PYTHON" -I -S "$PEER" "$@" &
	PIDS+=($!)
}

setup_topology() {
	local ns
	for ns in "$NS_LAN" "$NS_BOX" "$NS_WAN"; do
		ip netns add "$ns"
		in_ns "$ns" ip link set lo up
	done
	ip -n "$NS_BOX" link add b0 type veth peer name l0 netns "$NS_LAN"
	ip -n "$NS_BOX" link add b1 type veth peer name w0 netns "$NS_WAN"
	in_ns "$NS_BOX" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1

	ip -n "$NS_LAN" addr add 10.201.1.2/24 dev l0
	ip -n "$NS_LAN" addr add 2001:db8:201:1::2/64 dev l0 nodad
	ip -n "$NS_BOX" addr add 10.201.1.1/24 dev b0
	ip -n "$NS_BOX" addr add 2001:db8:201:1::1/64 dev b0 nodad
	ip -n "$NS_BOX" addr add 10.201.2.1/24 dev b1
	ip -n "$NS_BOX" addr add 2001:db8:201:2::1/64 dev b1 nodad
	ip -n "$NS_BOX" addr add 198.18.210.1/32 dev lo # one of the box's own, public-like
	ip -n "$NS_WAN" addr add 10.201.2.2/24 dev w0
	ip -n "$NS_WAN" addr add 2001:db8:201:2::2/64 dev w0 nodad
	# "Internet" hosts: intercepted, user-bypassed and server addresses.
	for addr in 198.18.201.2/32 198.18.202.2/32 198.18.203.2/32 \
		2001:db8:202::2/128 2001:db8:202:1::2/128 2001:db8:202::3/128; do
		ip -n "$NS_WAN" addr add "$addr" dev lo
	done
	ip -n "$NS_LAN" link set l0 up
	ip -n "$NS_BOX" link set b0 up
	ip -n "$NS_BOX" link set b1 up
	ip -n "$NS_WAN" link set w0 up
	ip -n "$NS_LAN" route add default via 10.201.1.1
	ip -n "$NS_LAN" -6 route add default via 2001:db8:201:1::1
	ip -n "$NS_BOX" route add default via 10.201.2.2
	ip -n "$NS_BOX" -6 route add default via 2001:db8:201:2::2
	ip -n "$NS_WAN" route add default via 10.201.2.1
	ip -n "$NS_WAN" -6 route add default via 2001:db8:201:2::1
}

start_peers() {
	start_peer "$NS_WAN" tcp "$DP" DIRECT
	start_peer "$NS_WAN" udp "$DP" DIRECT
	start_peer "$NS_BOX" tcp "$RP" INTERCEPTED
	start_peer "$NS_BOX" udp "$TP" INTERCEPTED transparent
	start_peer "$NS_BOX" tcp "$DP" BOX
	start_peer "$NS_BOX" tcp "$SP" SOCKS
	otb_wait_port tcp "$SP" 5 "" "$NS_BOX"
	otb_wait_port tcp "$DP" 5 "" "$NS_WAN"
	otb_wait_port udp "$DP" 5 "" "$NS_WAN"
	otb_wait_port tcp "$RP" 5 "" "$NS_BOX"
	otb_wait_port udp "$TP" 5 "" "$NS_BOX"
	otb_wait_port tcp "$DP" 5 "" "$NS_BOX"
}

# expect NS PROTO HOST WANT [PORT]: WANT "timed out" for a dropped connection or datagram.
expect() {
	local ns=$1 proto=$2 host=$3 want=$4 port=${5:-$DP} got
	got=$(in_ns "$ns" timeout 8 "$PYTHON" -I -S "$PEER" "client-$proto" "$host" "$port" 2>&1 |
		tail -1) || true
	[[ $want != "timed out" || $got != *"timed out" ]] || got="timed out"
	[[ $got == "$want" ]] || fail "$proto to $host:$port from $ns: got '$got', expected '$want' ($context)"
}

# otb-redir's and otb-tunnel's own ports: from the LAN and the box, not from the WAN side.
expect_ports_guarded() {
	expect "$NS_LAN" tcp 10.201.1.1 SOCKS "$SP"
	expect "$NS_LAN" tcp 2001:db8:201:1::1 SOCKS "$SP"
	expect "$NS_BOX" tcp 127.0.0.1 SOCKS "$SP"
	expect "$NS_BOX" tcp 10.201.2.1 SOCKS "$SP"
	expect "$NS_WAN" tcp 10.201.2.1 "timed out" "$SP"
	expect "$NS_WAN" tcp 10.201.1.1 "timed out" "$SP" # the LAN address, from the WAN
	expect "$NS_WAN" tcp 2001:db8:201:2::1 "timed out" "$SP"
	expect "$NS_WAN" tcp 10.201.2.1 "timed out" "$RP"
	expect "$NS_WAN" udp 10.201.2.1 "timed out" "$TP"
	expect "$NS_WAN" tcp 10.201.2.1 BOX # other services of the box are not the firewall's
}

expect_all_direct() {
	expect "$NS_LAN" tcp 198.18.201.2 DIRECT
	expect "$NS_LAN" tcp 2001:db8:202::2 DIRECT
	expect "$NS_LAN" udp 198.18.201.2 DIRECT
	expect "$NS_LAN" udp 2001:db8:202::2 DIRECT
}

functional_pass() {
	local backend=nft
	context="$backend up"
	box_config "$WORK/e2e.json" "\"local_port\": $RP" '"server": ["198.18.203.2", "2001:db8:202::3"]' \
		'"firewall": {"lan": "b0", "tunnel_port": '"$TP"', "bypass": ["198.18.202.0/24", "2001:db8:202:1::/64"]}' \
		"\"socks5_port\": $SP"
	fw "$NS_BOX" up --config "$WORK/e2e.json" >/dev/null
	expect "$NS_LAN" tcp 198.18.201.2 INTERCEPTED
	expect "$NS_LAN" tcp 2001:db8:202::2 INTERCEPTED
	expect "$NS_LAN" udp 198.18.201.2 INTERCEPTED
	expect "$NS_LAN" udp 2001:db8:202::2 INTERCEPTED
	expect "$NS_LAN" tcp 198.18.202.2 DIRECT      # "bypass"
	expect "$NS_LAN" tcp 2001:db8:202:1::2 DIRECT # "bypass", IPv6
	expect "$NS_LAN" udp 198.18.202.2 DIRECT
	expect "$NS_LAN" tcp 198.18.203.2 DIRECT # "server"
	expect "$NS_LAN" tcp 2001:db8:202::3 DIRECT
	expect "$NS_LAN" udp 2001:db8:202::3 DIRECT
	expect "$NS_LAN" tcp 10.201.2.2 DIRECT       # built-in private range
	expect "$NS_LAN" tcp 198.18.210.1 BOX        # the box's own address
	expect "$NS_BOX" tcp 198.18.201.2 DIRECT     # the box's own traffic
	expect "$NS_BOX" udp 198.18.201.2 DIRECT
	pass "$backend: LAN TCP/UDP v4/v6 intercepted; bypass, server, private, box address and box traffic direct"
	expect_ports_guarded
	pass "$backend: SOCKS5, redir and tunnel ports answer the LAN and the box, not the WAN side"
	# The named set takes new entries live.
	in_ns "$NS_BOX" nft add element inet otb bypass4 '{ 198.18.201.0/24 }'
	context="nft, bypass4 extended live"
	expect "$NS_LAN" tcp 198.18.201.2 DIRECT
	pass "nft: an element added to bypass4 takes effect at once"
	box_config "$WORK/e2e-pin.json" "\"local_port\": $RP" "\"firewall\": {\"lan\": \"b0\", \"tunnel_port\": $TP}" \
		'"wans": {"w": {"interface": "b1"}}' '"pins": [{"host": "10.201.1.2", "wan": "w", "mode": "direct"},
		{"host": "2001:db8:201:1::2", "wan": "w", "mode": "direct"}]'
	fw "$NS_BOX" up --config "$WORK/e2e-pin.json" >/dev/null
	context="$backend, LAN host pinned direct"
	expect_all_direct
	pass "$backend: a host pinned direct is not intercepted (v4 and v6)"
	fw "$NS_BOX" down
	context="$backend down"
	expect_all_direct
	pass "$backend: after down, everything direct"
}

context="no firewall"
setup_topology
start_peers
expect_all_direct
functional_pass
echo "PASS: t_firewall"
