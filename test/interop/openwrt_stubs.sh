# shellcheck shell=dash
# Stand-ins for what OpenWrt gives an init script, for test/interop/t_openwrt.sh:
# the UCI part of /lib/functions.sh (config_load reads $UCI_CONFIG_DIR/NAME
# and stores values in CONFIG_<section>_<option> variables, as OpenWrt does)
# and procd's shell API, whose calls are appended to $PROCD_LOG one per line.
# POSIX sh: the init scripts run under dash here, busybox ash on a router.

CONFIG_SECTIONS=""

# The UCI file as shell assignments. Anonymous sections are named cfgN.
otb_stub_uci_parse() {
	awk '
	function value(s) {
		sub(/^[ \t]*[^ \t]+[ \t]+[^ \t]+[ \t]*/, "", s)
		if (s ~ /^\047.*\047$/ || s ~ /^".*"$/) s = substr(s, 2, length(s) - 2)
		gsub(/\047/, "\047\\\047\047", s)
		return "\047" s "\047"
	}
	$1 == "config" {
		n++
		sec = (NF >= 3) ? $3 : "cfg" n
		gsub(/[\047"]/, "", sec)
		print "CONFIG_SECTIONS=\"$CONFIG_SECTIONS " sec "\""
		print "CONFIG_" sec "_TYPE=\047" $2 "\047"
		delete len
	}
	$1 == "option" { print "CONFIG_" sec "_" $2 "=" value($0) }
	$1 == "list" {
		len[$2]++
		print "CONFIG_" sec "_" $2 "_ITEM" len[$2] "=" value($0)
		print "CONFIG_" sec "_" $2 "_LENGTH=" len[$2]
	}' "$1"
}

config_load() {
	local file="${UCI_CONFIG_DIR:?}/$1"
	[ -r "$file" ] || return 1
	CONFIG_SECTIONS=""
	eval "$(otb_stub_uci_parse "$file")"
}

config_get() {
	eval "$1=\${CONFIG_${2}_${3}:-\${4:-}}"
}

config_get_bool() {
	local _v
	config_get _v "$2" "$3" "$4"
	case $_v in
	1 | on | true | yes | enabled) _v=1 ;;
	0 | off | false | no | disabled) _v=0 ;;
	*) _v=$4 ;;
	esac
	eval "$1=\$_v"
}

config_foreach() {
	local _fn="$1" _type="${2:-}" _s _t
	shift
	[ "$#" -ge 1 ] && shift
	for _s in $CONFIG_SECTIONS; do
		config_get _t "$_s" TYPE
		[ -n "$_type" ] && [ "$_t" != "$_type" ] && continue
		"$_fn" "$_s" "$@"
	done
}

config_list_foreach() {
	local _s="$1" _o="$2" _fn="$3" _len _i=1 _v
	shift 3
	config_get _len "$_s" "${_o}_LENGTH"
	[ -n "$_len" ] || return 0
	while [ "$_i" -le "$_len" ]; do
		config_get _v "$_s" "${_o}_ITEM$_i"
		"$_fn" "$_v" "$@"
		_i=$((_i + 1))
	done
}

otb_stub_procd() { echo "$*" >>"${PROCD_LOG:?}"; }
procd_open_instance() { otb_stub_procd open_instance "$@"; }
procd_set_param() { otb_stub_procd set_param "$@"; }
procd_append_param() { otb_stub_procd append_param "$@"; }
procd_close_instance() { otb_stub_procd close_instance "$@"; }
procd_add_reload_trigger() { otb_stub_procd reload_trigger "$@"; }
procd_add_interface_trigger() { otb_stub_procd interface_trigger "$@"; }
