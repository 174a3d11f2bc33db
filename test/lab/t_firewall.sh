#!/bin/bash
# Lab test of otb-redir/otb-firewall, run entirely inside network namespaces created here (the
# host's own ruleset, rules and routes are never touched):
#  1. rules: for the nft and the iptables backends, `up` twice leaves the same state as once,
#     the expected rules, bypass elements, TPROXY rule, ip rules and routes are present, and
#     `down` brings every snapshot (nft, iptables, ip6tables, ip rules, routes) back to before;
#     changed flags and a backend switch are undone from the state file.
#  2. usage errors exit 2 with one line and install nothing; a system failure exits 1.
#     With WANs and pins (--wan/--pin): per-WAN tables (gateway, fallback, unreachable), fwmark
#     and source-address ip rules, MPTCP endpoints (a foreign one only gets its backup flag, and
#     gets it back on down), pin marks and masquerading, all undone by down.
#  3. end to end, lan <-> box <-> wan: TCP and UDP from the LAN host to a public-like address
#     reach the box's listeners ("INTERCEPTED"); bypassed destinations, the box's own address
#     and the box's own traffic reach the real destination ("DIRECT"); a host pinned "direct"
#     is not intercepted (v4 and v6); after down, all DIRECT.
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
: >"$WORK/empty.conf"
export OTB_FW_CONFIG=$WORK/empty.conf
export OTB_FW_STATE_DIR=$WORK/state

PORT_BASE=$((20000 + RANDOM % 20000))
RP=$PORT_BASE         # otb-redir's port
TP=$((PORT_BASE + 1)) # otb-tunnel's port
DP=$((PORT_BASE + 2)) # the real destination's port

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
WAN_ARGS=(--wan fibre=wan1 --wan lte=wan2:backup:gw=10.202.2.2
	--pin 10.201.1.3=fibre:direct:lte --pin 2001:db8:201:1::3=fibre:direct:lte
	--pin 10.201.1.4=fibre:direct --pin "$PIN_MAC=lte:direct" --pin 10.201.1.0/28=lte:tunnel-via)
UP_ARGS=(--lan lan0 --lan lan1 --redir-port "$RP" --tunnel-port "$TP"
	--server 198.18.203.2 --server 2001:db8:203::2 --bypass 198.18.202.0/24
	--bypass-file "$WORK/bypass.list" "${WAN_ARGS[@]}")

check_nft_rules() {
	local mark table
	printf -v mark '0x%08x' "$(($1))" # nft prints marks in full
	table=$(in_ns "$NS_RULES" nft list table inet otb)
	for want in '"lan0"' '"lan1"' "redirect to :$RP" "tproxy to :$TP" "meta mark set $mark" \
		'fib daddr type' 198.18.202.0/24 198.18.203.2 198.18.205.0/24 2001:db8:203::2 \
		2001:db8:205::/48 10.0.0.0/8 100.64.0.0/10 fc00::/7 fe80::/10; do
		contains "$table" "$want" "nft table inet otb"
	done
	lacks "$(in_ns "$NS_RULES" iptables-save)" OTB_ "iptables while on nft"
}

check_iptables_rules() {
	local mark=$1 v4 v6
	v4=$(in_ns "$NS_RULES" iptables-save)
	v6=$(in_ns "$NS_RULES" ip6tables-save)
	for want in "-A PREROUTING -i lan0 -p tcp -j OTB_REDIRECT" "-A PREROUTING -i lan1 -p udp -j OTB_TPROXY" \
		"-j REDIRECT --to-ports $RP" "TPROXY --on-port $TP" "--tproxy-mark $mark/" \
		"-d 198.18.202.0/24 -j RETURN" "-d 198.18.203.2/32 -j RETURN" "-d 198.18.205.0/24 -j RETURN" \
		"-d 10.0.0.0/8 -j RETURN" "--dst-type LOCAL -j RETURN"; do
		contains "$v4" "$want" iptables
	done
	for want in "-j REDIRECT --to-ports $RP" "TPROXY --on-port $TP" "-d 2001:db8:203::2/128 -j RETURN" \
		"-d 2001:db8:205::/48 -j RETURN" "-d fc00::/7 -j RETURN"; do
		contains "$v6" "$want" ip6tables
	done
	in_ns "$NS_RULES" nft list table inet otb >/dev/null 2>&1 && fail "nft table present on iptables"
	return 0
}

check_routing() {
	local mark=$1 family
	for family in 4 6; do
		contains "$(in_ns "$NS_RULES" ip -$family rule)" "fwmark $mark lookup 100" "ip -$family rule"
		contains "$(in_ns "$NS_RULES" ip -$family route show table 100)" "local default dev lo" \
			"ip -$family route table 100"
	done
}

# WAN tables, rules and endpoints; pin marks and masquerading in the backend's rules. Direct
# pins to fibre without fallback use fibre's mark and table (0x10, 200), those with fallback
# lte the pair's (0x40, 216).
check_wans() {
	local backend=$1 rules routes want fw
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
	if [[ $backend == nft ]]; then
		fw=$(in_ns "$NS_RULES" nft list table inet otb)
		for want in "ip saddr 10.201.1.3 meta mark set meta mark & 0xffffff40 | 0x00000040 return" \
			"ip saddr 10.201.1.4 meta mark set meta mark & 0xffffff10 | 0x00000010 return" \
			"ip6 saddr 2001:db8:201:1::3 meta mark set" "ether saddr $PIN_MAC meta mark set" \
			"ip saddr 10.201.1.0/28 return" \
			"meta mark & 0x000000ff == { 0x00000010, 0x00000011, 0x00000040 } accept" \
			'oifname @wan_ifaces meta nfproto ipv4 fib saddr type != local masquerade' '"wan2"'; do
			contains "$fw" "$want" "nft pins"
		done
	else
		fw=$(in_ns "$NS_RULES" iptables-save)
		for want in "-A OTB_PIN -s 10.201.1.3/32 -j MARK --set-xmark 0x40/0xff" \
			"-A OTB_PIN -s 10.201.1.4/32 -j MARK --set-xmark 0x10/0xff" \
			"-A OTB_PIN -m mac --mac-source $PIN_MAC -j MARK --set-xmark 0x11/0xff" \
			"-A OTB_PIN -s 10.201.1.0/28 -j RETURN" "-A OTB_REDIRECT -m mark --mark 0x11/0xff -j RETURN" \
			"-A POSTROUTING -o wan2 -j OTB_SNAT" "-A OTB_SNAT -m addrtype ! --src-type LOCAL -j MASQUERADE"; do
			contains "$fw" "$want" "iptables pins"
		done
		contains "$(in_ns "$NS_RULES" ip6tables-save)" "-A OTB_PIN -s 2001:db8:201:1::3/128 -j MARK" "ip6tables pins"
	fi
}

# rules_pass BACKEND MARK [VAR=VALUE...] -- UP ARGS...
rules_pass() {
	local backend=$1 mark=$2 out rc
	shift 2
	local -a envs=()
	while [[ $1 != -- ]]; do envs+=("$1"); shift; done
	shift
	local s=$WORK/$backend
	snapshot "$NS_RULES" "$s.before"

	fw "$NS_RULES" "${envs[@]}" up "$@" >/dev/null
	snapshot "$NS_RULES" "$s.up1"
	fw "$NS_RULES" "${envs[@]}" up "$@" >/dev/null
	snapshot "$NS_RULES" "$s.up2"
	same_snapshot "$s.up1" "$s.up2" "$backend: second up changed the state"
	pass "$backend: up twice = up once"

	# /run is shared with the namespace: the state must name it, not pose as the host's.
	[[ -n $(compgen -G "$OTB_FW_STATE_DIR/firewall.otb.netns*.state") ]] ||
		fail "$backend: no state file keyed by the network namespace"
	"check_${backend}_rules" "$mark"
	check_routing "$mark"
	check_wans "$backend"
	out=$(fw "$NS_RULES" status)
	contains "$out" "backend $backend" status
	contains "$out" "pin 10.201.1.3/32 wan fibre direct fallback lte mark 0x40" status
	pass "$backend: redirect, tproxy, bypass elements, ip rules and routes present"
	pass "$backend: WAN tables, rules, MPTCP endpoints, pin marks and masquerading present"

	fw "$NS_RULES" down
	snapshot "$NS_RULES" "$s.down"
	same_snapshot "$s.before" "$s.down" "$backend: down did not restore the state"
	[[ -z $(compgen -G "$OTB_FW_STATE_DIR/*.state") ]] || fail "$backend: state file left after down"
	out=$(fw "$NS_RULES" down 2>&1) || fail "$backend: second down failed"
	[[ -z $out ]] || fail "$backend: second down not quiet: $out"
	rc=0
	fw "$NS_RULES" status >/dev/null || rc=$?
	[[ $rc -eq 3 ]] || fail "$backend: status after down exit $rc, expected 3"
	pass "$backend: down restores every snapshot, second down is quiet"
}

# Flags that differ between up and down, and a backend switch, are undone from the state file.
state_pass() {
	local s=$WORK/state_pass
	snapshot "$NS_RULES" "$s.before"
	fw "$NS_RULES" up "${UP_ARGS[@]}" >/dev/null
	fw "$NS_RULES" up --lan lan0 --redir-port "$RP" >/dev/null
	lacks "$(in_ns "$NS_RULES" ip -4 rule)" "fwmark" "up without --tunnel-port"
	lacks "$(in_ns "$NS_RULES" nft list table inet otb)" "tproxy" "up without --tunnel-port"
	# A box running otb-tunnel alone: UDP intercepted, TCP left alone.
	fw "$NS_RULES" up --lan lan0 --tunnel-port "$TP" >/dev/null
	lacks "$(in_ns "$NS_RULES" nft list table inet otb)" "redirect" "up without --redir-port"
	contains "$(in_ns "$NS_RULES" nft list table inet otb)" "tproxy" "up without --redir-port"
	fw "$NS_RULES" up --lan lan0 --tunnel-port "$TP" --backend iptables >/dev/null
	lacks "$(in_ns "$NS_RULES" iptables-save -t nat)" "REDIRECT" "iptables up without --redir-port"
	contains "$(in_ns "$NS_RULES" iptables-save -t mangle)" "TPROXY" "iptables up without --redir-port"
	fw "$NS_RULES" up "${UP_ARGS[@]}" --backend nft >/dev/null
	fw "$NS_RULES" up "${UP_ARGS[@]}" --backend iptables >/dev/null
	check_iptables_rules 0x1
	fw "$NS_RULES" up "${UP_ARGS[@]}" --backend=iptables >/dev/null
	fw "$NS_RULES" up "${UP_ARGS[@]}" --backend=nft >/dev/null
	check_nft_rules 0x1
	fw "$NS_RULES" down --table otb
	snapshot "$NS_RULES" "$s.after"
	same_snapshot "$s.before" "$s.after" "down after changed flags / backend switch"
	pass "changed flags (UDP only, TCP only), nft -> iptables -> nft switches: down restores every snapshot"
}

# A routing rule that existed before `up` is not ours: down must keep it.
foreign_rule_pass() {
	in_ns "$NS_RULES" ip -4 rule add fwmark 0x1 lookup 100
	fw "$NS_RULES" up "${UP_ARGS[@]}" >/dev/null
	fw "$NS_RULES" down
	contains "$(in_ns "$NS_RULES" ip -4 rule)" "fwmark 0x1 lookup 100" "pre-existing ip rule"
	in_ns "$NS_RULES" ip -4 rule del fwmark 0x1 lookup 100
	pass "a pre-existing identical ip rule survives up/down"
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
rules_pass nft 0x1 -- "${UP_ARGS[@]}"
# The iptables pass takes its settings from a config file, the mark from the environment
# (which beats the file) and the backend from the command line (which beats both).
cat >"$WORK/fw.conf" <<EOF
# firewall settings
OTB_FW_LAN="lan0 lan1"
OTB_FW_REDIR_PORT=$RP
OTB_FW_TUNNEL_PORT='$TP'
OTB_FW_SERVER="198.18.203.2 2001:db8:203::2"
OTB_FW_BYPASS=198.18.202.0/24
OTB_FW_BYPASS_FILE=$WORK/bypass.list
OTB_FW_WAN="fibre=wan1 lte=wan2:backup:gw=10.202.2.2"
OTB_FW_PIN="10.201.1.3=fibre:direct:lte 2001:db8:201:1::3=fibre:direct:lte 10.201.1.4=fibre:direct $PIN_MAC=lte:direct 10.201.1.0/28=lte:tunnel-via"
OTB_FW_MARK=0x7
OTB_FW_BACKEND=nft
EOF
rules_pass iptables 0x2a OTB_FW_CONFIG="$WORK/fw.conf" OTB_FW_MARK=42 -- --backend iptables
state_pass
foreign_rule_pass

# --- 2. usage errors and system failures ------------------------------------------------------

expect_exit() {
	local want=$1 rc=0 lines
	shift
	fw "$NS_RULES" "$@" >/dev/null 2>"$WORK/err" || rc=$?
	[[ $rc -eq $want ]] || fail "'$*' exited $rc, expected $want: $(cat "$WORK/err")"
	lines=$(wc -l <"$WORK/err")
	[[ $lines -eq 1 ]] || fail "'$*' printed $lines lines on stderr, expected one"
}

snapshot "$NS_RULES" "$WORK/errors.before"
expect_exit 2 up --lan lan0 --redir-port "$RP" --frobnicate
expect_exit 2 up --lan lan0
expect_exit 2 up --redir-port "$RP"
expect_exit 2 up --lan lan0 --redir-port 65536
expect_exit 2 up --lan lan0 --redir-port "$RP" --bypass 10.0.0.1/33
expect_exit 2 up --lan lan0 --redir-port "$RP" --bypass 10.1.2.3/8
expect_exit 2 up --lan lan0 --redir-port "$RP" --bypass 2001:db8::1::2
expect_exit 2 up --lan lan0 --redir-port "$RP" --bypass 300.1.1.1
expect_exit 2 up --lan lan0 --redir-port "$RP" --server server.test
expect_exit 2 up --lan lan0 --redir-port "$RP" --mark 0
expect_exit 2 up --lan lan0 --redir-port "$RP" --backend pf
expect_exit 2 up --lan lan0 --redir-port "$RP" --bypass-file "$WORK/missing.list"
expect_exit 2 up --lan lan0 --redir-port "$RP" --wan wan1
expect_exit 2 up --lan lan0 --redir-port "$RP" --wan a=wan1:turbo
expect_exit 2 up --lan lan0 --redir-port "$RP" --wan a=wan1 --wan a=wan2
expect_exit 2 up --lan lan0 --redir-port "$RP" --wan a=wan1:mark=0x100
expect_exit 2 up --lan lan0 --redir-port "$RP" --wan a=wan1:mark=0x1
expect_exit 2 up --lan lan0 --redir-port "$RP" --wan a=wan1 --wan b=wan2:mark=0x10
expect_exit 2 up --lan lan0 --redir-port "$RP" --wan a=wan1:table=100
expect_exit 2 up --lan lan0 --redir-port "$RP" --wan a=wan1:gw=host.test
expect_exit 2 up --lan lan0 --redir-port "$RP" --wan a=wan1 --pin 10.0.0.1=b:direct
expect_exit 2 up --lan lan0 --redir-port "$RP" --wan a=wan1 --pin 10.0.0.1=a:sideways
expect_exit 2 up --lan lan0 --redir-port "$RP" --wan a=wan1 --pin 10.0.0.1/33=a:direct
expect_exit 2 up --lan lan0 --redir-port "$RP" --wan a=wan1 --pin "$PIN_MAC=a:tunnel-via"
expect_exit 2 up --lan lan0 --redir-port "$RP" --wan a=wan1 --pin 10.0.0.1=a:direct:a
expect_exit 2 up --lan lan0 --redir-port "$RP" --wan a=wan1 --wan b=wan2:mark=0x40 \
	--pin 10.0.0.1=a:direct:b
expect_exit 2 up --lan lan0 --redir-port "$RP" --config "$WORK/missing.conf"
expect_exit 2 frobnicate
expect_exit 1 OTB_FW_STATE_DIR=/proc/otb-nowhere up --lan lan0 --redir-port "$RP"
snapshot "$NS_RULES" "$WORK/errors.after"
same_snapshot "$WORK/errors.before" "$WORK/errors.after" "a failed up left something behind"
pass "bad usage exits 2, system failure exits 1, one line each, nothing installed"

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
	otb_wait_port tcp "$DP" 5 "" "$NS_WAN"
	otb_wait_port udp "$DP" 5 "" "$NS_WAN"
	otb_wait_port tcp "$RP" 5 "" "$NS_BOX"
	otb_wait_port udp "$TP" 5 "" "$NS_BOX"
	otb_wait_port tcp "$DP" 5 "" "$NS_BOX"
}

# expect NS PROTO HOST WANT
expect() {
	local ns=$1 proto=$2 host=$3 want=$4 got
	got=$(in_ns "$ns" timeout 8 "$PYTHON" -I -S "$PEER" "client-$proto" "$host" "$DP" 2>&1 |
		tail -1) || true
	[[ $got == "$want" ]] || fail "$proto to $host:$DP from $ns: got '$got', expected '$want' ($context)"
}

expect_all_direct() {
	expect "$NS_LAN" tcp 198.18.201.2 DIRECT
	expect "$NS_LAN" tcp 2001:db8:202::2 DIRECT
	expect "$NS_LAN" udp 198.18.201.2 DIRECT
	expect "$NS_LAN" udp 2001:db8:202::2 DIRECT
}

functional_pass() {
	local backend=$1
	context="$backend up"
	fw "$NS_BOX" up --backend "$backend" --lan b0 --redir-port "$RP" --tunnel-port "$TP" \
		--server 198.18.203.2 --server 2001:db8:202::3 \
		--bypass 198.18.202.0/24 --bypass 2001:db8:202:1::/64 >/dev/null
	expect "$NS_LAN" tcp 198.18.201.2 INTERCEPTED
	expect "$NS_LAN" tcp 2001:db8:202::2 INTERCEPTED
	expect "$NS_LAN" udp 198.18.201.2 INTERCEPTED
	expect "$NS_LAN" udp 2001:db8:202::2 INTERCEPTED
	expect "$NS_LAN" tcp 198.18.202.2 DIRECT      # --bypass
	expect "$NS_LAN" tcp 2001:db8:202:1::2 DIRECT # --bypass, IPv6
	expect "$NS_LAN" udp 198.18.202.2 DIRECT
	expect "$NS_LAN" tcp 198.18.203.2 DIRECT # --server
	expect "$NS_LAN" tcp 2001:db8:202::3 DIRECT
	expect "$NS_LAN" udp 2001:db8:202::3 DIRECT
	expect "$NS_LAN" tcp 10.201.2.2 DIRECT       # built-in private range
	expect "$NS_LAN" tcp 198.18.210.1 BOX        # the box's own address
	expect "$NS_BOX" tcp 198.18.201.2 DIRECT     # the box's own traffic
	expect "$NS_BOX" udp 198.18.201.2 DIRECT
	pass "$backend: LAN TCP/UDP v4/v6 intercepted; bypass, server, private, box address and box traffic direct"
	if [[ $backend == nft ]]; then
		# The named set takes new entries live.
		in_ns "$NS_BOX" nft add element inet otb bypass4 '{ 198.18.201.0/24 }'
		context="nft, bypass4 extended live"
		expect "$NS_LAN" tcp 198.18.201.2 DIRECT
		pass "nft: an element added to bypass4 takes effect at once"
	fi
	fw "$NS_BOX" up --backend "$backend" --lan b0 --redir-port "$RP" --tunnel-port "$TP" \
		--wan w=b1 --pin 10.201.1.2=w:direct --pin 2001:db8:201:1::2=w:direct >/dev/null
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
functional_pass nft
functional_pass iptables
echo "PASS: t_firewall"
