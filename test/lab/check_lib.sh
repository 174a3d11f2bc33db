# shellcheck shell=bash
# Helpers of the lab tests that build their own namespaces instead of lib.sh's
# lab (t_firewall, t_qos_rules): failure and progress lines, preconditions,
# the work directory and the namespaces, removed at exit.

# shellcheck source=test/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"

fail() { otb_fail "$@"; }

pass() {
	echo "ok (${SECONDS}s): $*"
}

# check_require TOOL...: root (network namespaces) and every tool.
check_require() {
	otb_need_root
	otb_need_cmd "$@"
}

# check_init PREFIX NS...: WORK, a fresh directory /tmp/PREFIX.*, and PIDS (append what you
# start); at exit the PIDS are killed and reaped, the namespaces NS deleted and WORK removed.
check_init() {
	WORK=$(mktemp -d "/tmp/$1.XXXXXX")
	PIDS=()
	shift
	CHECK_NS=("$@")
	trap check_cleanup EXIT
}

check_cleanup() {
	local pid ns
	for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
	for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
	for ns in "${CHECK_NS[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
	rm -rf "$WORK"
}

# in_ns NS CMD...: CMD inside network namespace NS.
in_ns() {
	local ns=$1
	shift
	ip netns exec "$ns" "$@"
}
