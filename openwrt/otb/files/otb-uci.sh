# shellcheck shell=dash
# UCI (/etc/config/otb) -> the programs' JSON configs, for the procd init
# scripts otb-redir and otb-tunnel. redir.json is also the box config that
# otb-firewall (and otb-qos) read: "firewall", "wans" and "pins" are mapped
# here once, and checked by otb-boxconf with otb-redir's own parser.
# POSIX sh (busybox ash); needs /lib/functions.sh (config_load, config_get,
# config_foreach, ...), which /etc/rc.common has already sourced.
#
# The JSON is written here rather than with jshn so that the values pass
# through one escaping function and the files stay readable; the programs
# check every key and refuse (exit 2) what is wrong.

OTB_RUN_DIR=${OTB_RUN_DIR:-/var/etc/otb}
OTB_STATUS_DIR=${OTB_STATUS_DIR:-/var/run/otb}
OTB_BIN_DIR=${OTB_BIN_DIR:-/usr/bin}
OTB_SBIN_DIR=${OTB_SBIN_DIR:-/usr/sbin}

# Options of section "main" copied as they are: "uci-option:type".
OTB_UCI_COMMON="method:str password:str password_file:str key:str server_port:uint timeout:uint
connect_timeout:uint mptcp:bool fast_open:bool no_delay:bool congestion:str verbose:uint acl:str
nameserver:str"

# Also sets OTB_UCI_FAILED: config_foreach does not pass on a callback's
# failure, so the callers look at the flag (reset by the init scripts only:
# one error fails the whole start).
otb_uci_error() {
	OTB_UCI_FAILED=1
	echo "otb: $*" >&2
	command -v logger >/dev/null 2>&1 && logger -t otb "$*"
	return 1
}

# --- JSON -----------------------------------------------------------------

# A JSON string body: backslash and quote escaped, control characters
# (never meaningful in these values) dropped.
otb_json_escape() {
	printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' | tr -d '\000-\037'
}

otb_json_quote() { printf '"%s"' "$(otb_json_escape "$1")"; }

# The members of the object being built, one per line.
OTB_JSON=""
otb_json_begin() { OTB_JSON=""; }

otb_json_add() { # KEY RAW-JSON-VALUE
	OTB_JSON="${OTB_JSON:+$OTB_JSON,
}    \"$1\": $2"
}

otb_json_str() { otb_json_add "$1" "$(otb_json_quote "$2")"; }

otb_json_uint() {
	case $2 in
	'' | *[!0-9]*) otb_uci_error "$1: \"$2\" is not a number"; return 1 ;;
	esac
	otb_json_add "$1" "$2"
}

otb_json_bool() {
	case $2 in
	1 | on | true | yes | enabled) otb_json_add "$1" true ;;
	0 | off | false | no | disabled) otb_json_add "$1" false ;;
	*) otb_uci_error "$1: \"$2\" is not a boolean"; return 1 ;;
	esac
}

# Written readable by root only: the file may hold the password.
otb_json_write() {
	mkdir -p "${1%/*}" || return 1
	(umask 077 && printf '{\n%s\n}\n' "$OTB_JSON" >"$1")
}

# A JSON array or object body, built item by item.
OTB_LIST=""
otb_list_add() { OTB_LIST="${OTB_LIST:+$OTB_LIST, }$1"; }

# --- UCI reading ----------------------------------------------------------

# otb_uci_copy SECTION "opt:type ...": every set option to the same JSON key.
otb_uci_copy() {
	local section="$1" spec opt type value
	for spec in $2; do
		opt=${spec%%:*}
		type=${spec#*:}
		config_get value "$section" "$opt"
		[ -n "$value" ] || continue
		"otb_json_$type" "$opt" "$value" || return 1
	done
}

otb_uci_server_cb() {
	local host port
	config_get host "$1" host
	config_get port "$1" port
	[ -n "$host" ] || return 0
	case $host in
	*:*) [ -n "$port" ] && host="[$host]" ;; # IPv6 literal
	esac
	otb_list_add "$(otb_json_quote "$host${port:+:$port}")"
}

# "server": every "config server" section, in order (the first healthy one
# takes the traffic).
otb_uci_servers() {
	OTB_LIST=""
	config_foreach otb_uci_server_cb server
	[ -z "$OTB_UCI_FAILED" ] || return 1
	[ -n "$OTB_LIST" ] || { otb_uci_error "no 'config server' section with a host"; return 1; }
	otb_json_add server "[$OTB_LIST]"
}

otb_uci_wan_cb() {
	local iface mark backup upload item
	config_get iface "$1" interface
	config_get mark "$1" mark
	config_get upload "$1" upload_kbit
	config_get_bool backup "$1" backup 0
	[ -n "$iface" ] || { otb_uci_error "wan $1: no interface"; return 1; }
	item="\"interface\": $(otb_json_quote "$iface")"
	# UCI writes marks in hex like the firewall does; JSON wants a number.
	# Checked first: $((...)) would evaluate any text as an expression.
	case $mark in
	'') ;;
	0[xX]*)
		case ${mark#0[xX]} in
		'' | *[!0-9a-fA-F]*) otb_uci_error "wan $1: mark \"$mark\" is not a number"; return 1 ;;
		esac
		item="$item, \"mark\": $((mark))" ;;
	*[!0-9]*) otb_uci_error "wan $1: mark \"$mark\" is not a number"; return 1 ;;
	*) item="$item, \"mark\": $((mark))" ;;
	esac
	[ "$backup" = 1 ] && item="$item, \"backup\": true"
	case $upload in
	'') ;;
	*[!0-9]*) otb_uci_error "wan $1: upload_kbit \"$upload\" is not a number"; return 1 ;;
	*) item="$item, \"upload_kbit\": $upload" ;;
	esac
	otb_list_add "$(otb_json_quote "$1"): {$item}"
}

otb_uci_pin_cb() {
	local host wan mode fallback item
	config_get host "$1" host
	config_get wan "$1" wan
	config_get mode "$1" mode
	config_get fallback "$1" fallback
	if [ -z "$host" ] || [ -z "$wan" ]; then
		otb_uci_error "pin $1: needs host and wan"
		return 1
	fi
	item="\"host\": $(otb_json_quote "$host"), \"wan\": $(otb_json_quote "$wan")"
	[ -n "$mode" ] && item="$item, \"mode\": $(otb_json_quote "$mode")"
	[ -n "$fallback" ] && item="$item, \"fallback\": $(otb_json_quote "$fallback")"
	otb_list_add "{$item}"
}

# "wans" and "pins" from the "config wan" and "config pin" sections.
otb_uci_policy() {
	OTB_LIST=""
	config_foreach otb_uci_wan_cb wan
	[ -n "$OTB_LIST" ] && otb_json_add wans "{$OTB_LIST}"
	OTB_LIST=""
	config_foreach otb_uci_pin_cb pin
	[ -n "$OTB_LIST" ] && otb_json_add pins "[$OTB_LIST]"
	[ -z "$OTB_UCI_FAILED" ]
}

otb_uci_common() {
	otb_uci_servers && otb_uci_copy main "$OTB_UCI_COMMON"
}

# --- redir ----------------------------------------------------------------

otb_uci_redir_enabled() {
	local enabled
	config_get_bool enabled redir enabled 0
	[ "$enabled" = 1 ]
}

otb_uci_write_redir() {
	local address port
	config_get address redir address 0.0.0.0
	config_get port redir port 1234
	otb_json_begin
	otb_uci_common || return 1
	otb_json_str local_address "$address"
	otb_json_uint local_port "$port" || return 1
	otb_uci_copy redir "socks5_port:uint socks5_address:str tproxy:bool socks5_user:str socks5_password:str" ||
		return 1
	otb_json_str status_socket "$OTB_STATUS_DIR/redir.status"
	otb_uci_policy || return 1
	otb_uci_firewall_json || return 1
	# The status page shows the transparent tunnel's UDP and voice flows.
	[ -z "$OTB_TUNNEL_SECTION" ] ||
		otb_json_str tunnel_status_socket "$OTB_STATUS_DIR/tunnel-$OTB_TUNNEL_SECTION.status"
	otb_json_write "$OTB_RUN_DIR/redir.json"
}

# The transparent tunnel's port, for the firewall's UDP rule, and its
# section, for its status socket: the first enabled "config tunnel" without
# a destination.
otb_uci_tunnel_port_cb() {
	local enabled destination port
	[ -n "$OTB_TUNNEL_PORT" ] && return 0
	config_get_bool enabled "$1" enabled 0
	config_get destination "$1" destination
	config_get port "$1" port
	[ "$enabled" = 1 ] && [ -z "$destination" ] || return 0
	# Digits only, as otb_json_uint: the value goes into the JSON unquoted.
	case $port in
	'' | *[!0-9]*) otb_uci_error "tunnel $1: port \"$port\" is not a number"; return 1 ;;
	esac
	OTB_TUNNEL_PORT=$port
	OTB_TUNNEL_SECTION=$1
}

otb_uci_list_cb() { otb_list_add "$(otb_json_quote "$1")"; }

# otb_uci_list SECTION OPTION: a UCI list as a JSON array body in OTB_LIST.
otb_uci_list() {
	OTB_LIST=""
	config_list_foreach "$1" "$2" otb_uci_list_cb
}

# "firewall": the LAN interfaces, otb-tunnel's TPROXY port and the bypass
# list (the servers' addresses are bypassed by otb-firewall itself).
otb_uci_firewall_json() {
	local item
	otb_uci_list redir lan
	item="\"lan\": [$OTB_LIST]"
	OTB_TUNNEL_PORT=""
	OTB_TUNNEL_SECTION=""
	config_foreach otb_uci_tunnel_port_cb tunnel
	[ -z "$OTB_UCI_FAILED" ] || return 1
	[ -n "$OTB_TUNNEL_PORT" ] && item="$item, \"tunnel_port\": $OTB_TUNNEL_PORT"
	otb_uci_list redir bypass
	[ -n "$OTB_LIST" ] && item="$item, \"bypass\": [$OTB_LIST]"
	otb_json_add firewall "{$item}"
}

# otb_uci_firewall up|down
otb_uci_firewall() {
	"$OTB_SBIN_DIR/otb-firewall" "$1" --config "$OTB_RUN_DIR/redir.json"
}

# --- tunnel ---------------------------------------------------------------

# otb_uci_write_tunnel SECTION: $OTB_RUN_DIR/tunnel-SECTION.json.
otb_uci_write_tunnel() {
	local address port destination tcp
	config_get address "$1" address 0.0.0.0
	config_get port "$1" port
	config_get destination "$1" destination
	config_get_bool tcp "$1" tcp 0
	otb_json_begin
	otb_uci_common || return 1
	otb_json_str local_address "$address"
	otb_json_uint local_port "$port" || return 1
	if [ -n "$destination" ]; then
		otb_json_str tunnel_address "$destination"
		[ "$tcp" = 1 ] && otb_json_str mode tcp_and_udp
	fi
	otb_uci_copy "$1" "udp_max_associations:uint" || return 1
	otb_json_str status_socket "$OTB_STATUS_DIR/tunnel-$1.status"
	otb_json_write "$OTB_RUN_DIR/tunnel-$1.json"
}
