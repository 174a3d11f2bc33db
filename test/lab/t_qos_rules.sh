#!/bin/bash
# Lab test of otb-redir/otb-qos, inside network namespaces made here (lan ── box ── peer, two
# WAN links box─peer):
#  1. up installs on each WAN an HTB root with the four classes (rates from --share), pfifo
#     leaves, the u32 filters, gso_max_segs 1, and the nft table (socket priorities,
#     --reject-quic); up twice
#     leaves the same state as once; up with fewer WANs unshapes the others; down brings every
#     snapshot back; a second down is quiet; status exits 3 when down;
#  2. a root qdisc set by someone else is refused and left alone; bad usage exits 2;
#  3. classification, read from the class counters: DSCP EF and SO_PRIORITY 6 -> voice, CS1 and
#     UDP/443 -> bulk, small packets and DNS -> interactive, large unmarked -> default;
#  4. --reject-quic: LAN UDP to port 443 through the box gets ICMP port unreachable, and gets
#     through again after down.
set -Eeuo pipefail
trap 'echo "FAIL: line $LINENO: \"$BASH_COMMAND\" exited $?" >&2' ERR

: "${OTB_SRC:?OTB_SRC must point to the source tree}"
QOS=$OTB_SRC/otb-redir/otb-qos

# shellcheck source=test/lab/check_lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/check_lib.sh"

check_require ip tc nft python3 timeout
[[ -x $QOS ]] || fail "$QOS is not executable"

ID=$$
NS_BOX=otbqb$ID
NS_LAN=otbql$ID
NS_PEER=otbqp$ID
check_init otbqos "$NS_BOX" "$NS_LAN" "$NS_PEER"

while read -r var; do unset "$var"; done < <(compgen -v OTB_QOS_ || true)
export OTB_QOS_STATE_DIR=$WORK/state

qos() { in_ns "$NS_BOX" "$QOS" "$@"; }

for ns in "$NS_BOX" "$NS_LAN" "$NS_PEER"; do
	ip netns add "$ns"
	in_ns "$ns" ip link set lo up
done
in_ns "$NS_BOX" sysctl -qw net.ipv4.ip_forward=1
ip -n "$NS_BOX" link add lan0 type veth peer name eth0 netns "$NS_LAN"
ip -n "$NS_BOX" addr add 10.204.0.1/24 dev lan0
ip -n "$NS_LAN" addr add 10.204.0.2/24 dev eth0
for n in 1 2; do
	ip -n "$NS_BOX" link add "wan$n" type veth peer name "eth$n" netns "$NS_PEER"
	ip -n "$NS_BOX" addr add "10.204.$n.1/24" dev "wan$n"
	ip -n "$NS_PEER" addr add "10.204.$n.2/24" dev "eth$n"
	ip -n "$NS_PEER" link set "eth$n" up
	ip -n "$NS_BOX" link set "wan$n" up
done
ip -n "$NS_BOX" link set lan0 up
ip -n "$NS_LAN" link set eth0 up
ip -n "$NS_LAN" route add default via 10.204.0.1
ip -n "$NS_BOX" route add default via 10.204.1.2
ip -n "$NS_PEER" route add default via 10.204.1.1

snapshot() {
	local ifc
	{
		for ifc in wan1 wan2 lan0; do
			echo "## $ifc"
			in_ns "$NS_BOX" ip -d link show dev "$ifc" | grep -o 'gso_max_segs [0-9]*'
			in_ns "$NS_BOX" tc qdisc show dev "$ifc"
			in_ns "$NS_BOX" tc class show dev "$ifc"
			in_ns "$NS_BOX" tc filter show dev "$ifc"
		done
		echo "## nft"
		in_ns "$NS_BOX" nft list ruleset
	} >"$1"
}

same_snapshot() {
	diff -u "$1" "$2" >"$WORK/diff" || { cat "$WORK/diff" >&2; fail "$3"; }
}

contains() {
	grep -qF -- "$2" <<<"$1" || { echo "$1" >&2; fail "$3: '$2' missing"; }
}

# --- 1. rules, idempotence, exact teardown -------------------------------------------------

UP=(up --wan wan1:20000 --wan wan2:4000 --share 0.8 --reject-quic --lan lan0)
snapshot "$WORK/before"
qos "${UP[@]}" >/dev/null
snapshot "$WORK/up1"
qos "${UP[@]}" >/dev/null
snapshot "$WORK/up2"
same_snapshot "$WORK/up1" "$WORK/up2" "second up changed the state"
pass "up twice = up once"

classes=$(in_ns "$NS_BOX" tc class show dev wan2)
for want in "class htb 1:1 root rate 3200Kbit ceil 3200Kbit" \
	"class htb 1:10 parent 1:1 leaf 10: prio 0 rate 320Kbit ceil 3200Kbit" \
	"class htb 1:20 parent 1:1 leaf 20: prio 1 rate 640Kbit ceil 3200Kbit" \
	"class htb 1:30 parent 1:1 leaf 30: prio 2 rate 1920Kbit ceil 3200Kbit" \
	"class htb 1:40 parent 1:1 leaf 40: prio 3 rate 320Kbit ceil 3200Kbit"; do
	contains "$classes" "$want" "wan2 classes"
done
contains "$(in_ns "$NS_BOX" tc class show dev wan1)" "class htb 1:1 root rate 16Mbit ceil 16Mbit" "wan1 classes"
contains "$(in_ns "$NS_BOX" tc qdisc show dev wan1)" "qdisc htb 1: root" "wan1 root"
contains "$(in_ns "$NS_BOX" tc qdisc show dev wan1)" "qdisc pfifo 30: parent 1:30 limit 133p" "wan1 leaf"
contains "$(in_ns "$NS_BOX" ip -d link show dev wan2)" "gso_max_segs 1 " "wan2 GSO"
filters=$(in_ns "$NS_BOX" tc filter show dev wan1)
for want in "match 00b80000/00fc0000 at 0" "match 0b800000/0fc00000 at 0" "match 00000035/0000ffff at 20" \
	"match 000001bb/0000ffff at 20" "match 00000000/0000ff00 at 0" "flowid 1:40"; do
	contains "$filters" "$want" "wan1 filters"
done
nftq=$(in_ns "$NS_BOX" nft list table inet otb_qos)
for want in "oifname @wans ip dscp cs0 goto priority_class" "meta priority 0:6 meta priority set 1:10" \
	'iifname "lan0" udp dport 443 reject'; do
	contains "$nftq" "$want" "nft table otb_qos"
done
in_ns "$NS_BOX" "$QOS" status >/dev/null || fail "status exit $? while up"
pass "HTB root, classes at the share, pfifo leaves, u32 filters, GSO off, nft table present"

qos up --wan wan1:20000 >/dev/null
contains "$(in_ns "$NS_BOX" tc qdisc show dev wan2 root)" "noqueue" "wan2 after up without it"
qos "${UP[@]}" >/dev/null
pass "up without a WAN unshapes it"

# The same rates from the box's JSON config ("upload_kbit" per WAN, "firewall" "lan").
cat >"$WORK/box.json" <<EOF
{"local_port": 1234, "firewall": {"lan": "lan0"},
 "wans": {"a": {"interface": "wan1", "upload_kbit": 20000}, "b": {"interface": "wan2", "upload_kbit": 4000}}}
EOF
qos up --config "$WORK/box.json" --share 0.8 --reject-quic >/dev/null
contains "$(in_ns "$NS_BOX" tc class show dev wan2)" "class htb 1:1 root rate 3200Kbit ceil 3200Kbit" \
	"wan2 classes (--config)"
contains "$(in_ns "$NS_BOX" tc class show dev wan1)" "class htb 1:1 root rate 16Mbit ceil 16Mbit" \
	"wan1 classes (--config)"
contains "$(in_ns "$NS_BOX" nft list table inet otb_qos)" 'iifname "lan0" udp dport 443 reject' \
	"nft table otb_qos (--config)"
pass "up --config: the WANs' upload_kbit and the LAN of the box's JSON config"

qos down
snapshot "$WORK/down"
same_snapshot "$WORK/before" "$WORK/down" "down did not restore the state"
out=$(qos down 2>&1) || fail "second down failed"
[[ -z $out ]] || fail "second down not quiet: $out"
rc=0
qos status >/dev/null || rc=$?
[[ $rc -eq 3 ]] || fail "status after down exit $rc, expected 3"
pass "down restores every snapshot, second down is quiet, status 3"

# --- 2. a foreign root qdisc, usage errors -------------------------------------------------

in_ns "$NS_BOX" tc qdisc add dev wan2 root handle 7: tbf rate 1mbit burst 16k latency 50ms
snapshot "$WORK/foreign"
rc=0
qos up --wan wan1:20000 --wan wan2:4000 >/dev/null 2>&1 || rc=$?
[[ $rc -eq 1 ]] || fail "up over a foreign root qdisc exit $rc, expected 1"
snapshot "$WORK/foreign.after"
same_snapshot "$WORK/foreign" "$WORK/foreign.after" "a refused up left something behind"
in_ns "$NS_BOX" tc qdisc del dev wan2 root
for args in "up" "up --wan wan1" "up --wan wan1:fast" "up --wan wan1:20000 --wan wan1:100" \
	"up --wan wan1:20000 --share 2" "up --wan wan1:20000 --reject-quic" "up --wan wan1:20000 --turbo" \
	"up --config $WORK/missing.json" "up --config $WORK/box.json --wan wan1:100" "sideways"; do
	rc=0
	# shellcheck disable=SC2086
	qos $args >/dev/null 2>&1 || rc=$?
	[[ $rc -eq 2 ]] || fail "'$args' exit $rc, expected 2"
done
snapshot "$WORK/errors"
same_snapshot "$WORK/before" "$WORK/errors" "a failed up left something behind"
pass "a foreign root qdisc is refused and kept; bad usage exits 2; nothing installed"

# A state file naming someone else's table, or words a shell would expand, is refused whole.
qos up --wan wan1:20000 >/dev/null
in_ns "$NS_BOX" nft add table inet victim
st=$(echo "$WORK"/state/qos*.state)
cp "$st" "$WORK/qos.state.good"
for item in 'nft_table inet victim' 'tc_root *' 'gso_segs wan1 x'; do
	cp "$WORK/qos.state.good" "$st"
	echo "$item" >>"$st"
	rc=0
	out=$(qos down 2>&1) || rc=$?
	[[ $rc -eq 1 && $out == *"is not an object of otb-qos"* ]] ||
		fail "foreign state item '$item': exit $rc: $out"
done
in_ns "$NS_BOX" nft list table inet victim >/dev/null || fail "a foreign table was deleted"
in_ns "$NS_BOX" nft delete table inet victim
cp "$WORK/qos.state.good" "$st"
qos down
pass "a state file naming foreign objects is refused whole; nothing foreign is deleted"

# --- 3. classification ------------------------------------------------------------------------

# Sends datagrams to 10.204.1.2, with TOS and priority (see ns_peer.py), or answers them.
PEER=$(dirname "${BASH_SOURCE[0]}")/ns_peer.py

class_packets() {
	in_ns "$NS_BOX" tc -s class show dev wan1 classid "1:$1" | awk '$1 == "Sent" { print $4 }'
}

# expect_class CLASS WHAT PORT SIZE TOS PRIO: 20 such packets land in 1:CLASS.
expect_class() {
	local class=$1 what=$2 before after
	shift 2
	before=$(class_packets "$class")
	in_ns "$NS_BOX" timeout 10 python3 "$PEER" send 10.204.1.2 "$1" "$2" 20 "$3" "$4"
	# "Sent" counts dequeued packets: the last ones may still wait for the
	# class's rate for a few milliseconds.
	for _ in $(seq 20); do
		after=$(class_packets "$class")
		((after - before >= 20)) && break
		sleep 0.05
	done
	((after - before >= 20)) || fail "$what: class 1:$class got $((after - before)) of 20 packets"
}

qos "${UP[@]}" >/dev/null
expect_class 10 "EF, 200 bytes" 40000 200 0xb8 0
expect_class 10 "CS5" 40000 1200 0xa0 0
expect_class 10 "SO_PRIORITY 6, unmarked" 40000 1200 0 6
expect_class 20 "AF41 (socket priority 2 from IP_TOS)" 40000 1200 0x88 0
expect_class 20 "AF42 (socket priority 6 from IP_TOS)" 40000 1200 0x90 0
expect_class 20 "unmarked, SO_PRIORITY 4" 40000 1200 0 4
expect_class 40 "unmarked, SO_PRIORITY 2" 40000 1200 0 2
expect_class 20 "small, unmarked" 40000 100 0 0
expect_class 20 "DNS" 53 600 0 0
expect_class 40 "CS1" 40000 1200 0x20 0
expect_class 40 "UDP 443, small" 443 100 0 0
expect_class 30 "large, unmarked" 40000 1200 0 0
pass "EF/CS5/priority 6 -> voice, AF41/small/DNS -> interactive, CS1/QUIC -> bulk, rest -> default"

# --- 4. --reject-quic -------------------------------------------------------------------------

ip netns exec "$NS_PEER" python3 "$PEER" reply 443 ANSWER &
PIDS+=($!)
otb_wait_port udp 443 5 "" "$NS_PEER"
got=$(in_ns "$NS_LAN" timeout 10 python3 "$PEER" ask 10.204.1.2 443)
[[ $got == REFUSED ]] || fail "QUIC with --reject-quic: got '$got', expected REFUSED"
qos down
got=$(in_ns "$NS_LAN" timeout 10 python3 "$PEER" ask 10.204.1.2 443)
[[ $got == ANSWER ]] || fail "QUIC after down: got '$got', expected ANSWER"
pass "--reject-quic: LAN UDP/443 refused (ICMP port unreachable), answered again after down"
echo "PASS: t_qos_rules"
