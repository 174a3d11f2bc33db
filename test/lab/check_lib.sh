# shellcheck shell=bash
# Helpers of the lab tests that build their own namespaces instead of lib.sh's
# lab (t_firewall, t_qos_rules): failure and progress lines, preconditions.

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

pass() {
	echo "ok (${SECONDS}s): $*"
}

# check_require TOOL...: root (network namespaces) and every tool.
check_require() {
	local tool
	[[ $EUID -eq 0 ]] || fail "must run as root (network namespaces)"
	for tool in "$@"; do
		command -v "$tool" >/dev/null || fail "missing tool: $tool"
	done
}
