# otb-state.sh: messages, lock, state file and undo shared by otb-firewall and otb-qos
# (sourced, never run). Each `up` records every object it creates as one item line of a state
# file; `down` undoes exactly those items, last first, whatever the configuration says by then.
#
# The sourcing script sets, before calling anything here:
#   STATE_PROG   its name, prefix of every message
#   STATE_DIR    the state directory (absolute), e.g. /run/otb
#   STATE_NAME   the state file's name, e.g. firewall.otb (".state" and ".lock" are added)
#   STATE_KINDS  the item kinds it writes, e.g. "ip nft_table" (other lines are settings)
# and defines otb_state_undo_kind KIND ARGS... for its own kinds (nft_table is done here), and
# otb_state_item_ok KIND ARGS... (0 when the item names one of its own objects: its table, its
# rules and routes, its devices), checked for every item before anything is undone.

state_old_items=()    # items read from the state file
state_old_settings=() # its other lines (shown by status)
state_new_items=()    # items created by the running `up`
state_left_items=()   # items the last otb_state_undo_items could not remove

otb_note() {
	echo "$STATE_PROG: $*" >&2
}

otb_die() {
	otb_note "$@"
	exit 1
}

otb_usage_error() {
	otb_note "$@"
	exit 2
}

# First line of a failing tool's stderr, so errors stay on one line.
otb_first_line() {
	local text=$1
	text=${text%%$'\n'*}
	echo "${text:-no error message}"
}

otb_in_list() {
	local needle=$1 item
	shift
	for item in "$@"; do [[ $item == "$needle" ]] && return 0; done
	return 1
}

otb_require_root() {
	[[ $EUID -eq 0 ]] || otb_die "must be run as root"
}

# /run is shared with network namespaces entered by `ip netns exec`, so a setup made inside one
# is recorded under that namespace's identity (its name, else its inode when it is not init's)
# and never mistaken for the box's own.
otb_state_netns_tag() {
	local name self init
	name=$(ip netns identify 2>/dev/null) || name=""
	if [[ -n $name ]]; then
		printf '.netns-%s' "$name"
		return 0
	fi
	self=$(stat -L -c %i /proc/self/ns/net 2>/dev/null) || return 0
	init=$(stat -L -c %i /proc/1/ns/net 2>/dev/null) || return 0
	[[ $self == "$init" ]] || printf '.netns%s' "$self"
}

otb_state_path() {
	echo "$STATE_DIR/$STATE_NAME$(otb_state_netns_tag).state"
}

# Lock, temporary and state files are opened by root with '>': in a directory someone else may
# write to, a symlink there would make root overwrite any file.
otb_state_dir_safe() {
	local owner mode
	read -r owner mode < <(stat -L -c '%u %a' "$STATE_DIR" 2>/dev/null) || otb_die "cannot read $STATE_DIR"
	[[ $owner == "$EUID" ]] && (((8#$mode & 8#022) == 0)) ||
		otb_die "state directory $STATE_DIR must be owned by this user (uid $EUID) and writable by no one else (mode $mode, owner $owner)"
}

# A file of the state directory that is a symbolic link was not made by us: writing through it
# would overwrite its target.
otb_state_no_link() {
	[[ ! -L $1 ]] || otb_die "$1 is a symbolic link: refused (remove it)"
}

otb_state_lock() {
	local lock
	[[ $STATE_DIR == /* ]] || otb_usage_error "state directory must be absolute"
	mkdir -p "$STATE_DIR" 2>/dev/null || otb_die "cannot create $STATE_DIR"
	otb_state_dir_safe
	command -v flock >/dev/null 2>&1 || return 0
	lock=${STATE_DIR}/$STATE_NAME$(otb_state_netns_tag).lock
	otb_state_no_link "$lock"
	# Appending never truncates; the directory is ours alone, so the check above still holds.
	exec 9>>"$lock" || otb_die "cannot open lock file"
	flock -w 30 9 || otb_die "another $STATE_PROG is running ($STATE_NAME)"
}

otb_state_is_item() {
	[[ " $STATE_KINDS " == *" ${1%% *} "* ]]
}

# Items come only after this line: a setting (a name from the config) can never become one.
readonly STATE_ITEMS_MARK="--- items"

# A state file without the items line was written by an older version: its lines cannot be
# told apart, so nothing is undone from it.
otb_state_refuse_old() {
	otb_die "$1 was written by an older $STATE_PROG (no '$STATE_ITEMS_MARK' line): take it down with that version, or remove what it lists by hand and delete the file"
}

# Shapes of item words, for the tools' otb_state_item_ok.
otb_state_ifname_ok() {
	[[ $1 =~ ^[A-Za-z0-9_.-]{1,15}$ ]]
}

otb_state_ip_ok() {
	[[ $1 =~ ^[0-9a-fA-F:.]+$ && $1 == *[.:]* ]]
}

# Items are split into words and passed to nft, ip and tc as root: each must be one of the
# tool's own objects, in words of a plain alphabet (no globbing, no options in disguise).
otb_state_check_items() {
	local item kind word
	local -a words
	for item in "${state_old_items[@]}"; do
		read -r -a words <<<"$item"
		kind=${words[0]}
		for word in "${words[@]}"; do
			[[ $word =~ ^[A-Za-z0-9_.:/-]+$ ]] || kind=""
		done
		[[ -n $kind ]] && otb_state_item_ok "${words[@]}" && continue
		otb_die "$1: '${item//[[:cntrl:]]/?}' is not an object of $STATE_PROG: nothing removed; the file was altered: check what it lists, then delete it"
	done
}

otb_state_read() {
	local path line marked=0
	path=$(otb_state_path)
	state_old_items=()
	state_old_settings=()
	otb_state_no_link "$path"
	[[ -f $path ]] || return 1
	while IFS= read -r line; do
		[[ -z $line || $line == \#* ]] && continue
		if [[ $line == "$STATE_ITEMS_MARK" ]]; then
			marked=1
		elif ((marked)) && otb_state_is_item "$line"; then
			state_old_items+=("$line")
		else
			state_old_settings+=("$line")
		fi
	done <"$path"
	if ((marked)); then
		otb_state_check_items "$path"
		return 0
	fi
	# Version 1 (the script before otb-boxconf) wrote "rule 4 ...", "route 4 ...",
	# "ipt_chain ..." items: not ours to translate.
	otb_in_list "version 1" "${state_old_settings[@]}" &&
		otb_die "$path was written by $STATE_PROG version 1: nothing removed; run 'down' with that version, or delete what its rule, route, ipt_chain and nft_created lines list by hand, then the file"
	otb_state_refuse_old "$path"
}

# otb_state_save SETTING_LINE...: the settings, then state_new_items; 1 if it could not. The
# temporary file is a new one (mktemp: never an existing file or link); the rename replaces
# the state file itself, never what a link there points to.
otb_state_save() {
	local path item tmp
	path=$(otb_state_path)
	tmp=$(mktemp "$path.XXXXXX" 2>/dev/null) || return 1
	{
		echo "# $STATE_PROG state: what 'up' installed, undone by 'down' from the bottom up"
		for item in "$@"; do echo "${item//[[:cntrl:]]/?}"; done
		echo "$STATE_ITEMS_MARK"
		for item in "${state_new_items[@]}"; do echo "$item"; done
	} 2>/dev/null >"$tmp" && mv -fT "$tmp" "$path" 2>/dev/null && return 0
	rm -f "$tmp"
	return 1
}

# otb_state_write SETTING_LINE...: a state that cannot be written undoes this up.
otb_state_write() {
	otb_state_save "$@" || otb_state_fail "cannot write state file $(otb_state_path)"
}

# After a partial undo, the state lists what is left (state_left_items), so that the next
# down or up still removes it.
otb_state_keep_left() {
	state_new_items=("${state_left_items[@]}")
	otb_state_save "${state_old_settings[@]}" ||
		otb_note "cannot write state file $(otb_state_path): remove by hand: ${state_left_items[*]}"
}

otb_state_undo_nft_table() {
	nft list table "$1" "$2" >/dev/null 2>&1 || return 0
	nft delete table "$1" "$2"
}

otb_state_undo_item() {
	local kind rest
	read -r kind rest <<<"$1"
	# shellcheck disable=SC2086
	case $kind in
	nft_table) otb_state_undo_nft_table $rest ;;
	*) otb_state_undo_kind "$kind" $rest ;;
	esac
}

# Undoes items last-first (firewall before the routes it relies on); 1 if any failed.
otb_state_undo_items() {
	local i rc=0 err
	state_left_items=()
	for ((i = $#; i >= 1; i--)); do
		err=$(otb_state_undo_item "${!i}" 2>&1) && continue
		otb_note "could not remove ${!i}: $(otb_first_line "$err")"
		state_left_items=("${!i}" "${state_left_items[@]}")
		rc=1
	done
	return $rc
}

# Old items that the new setup no longer wants (WANT... the new items) go first.
otb_state_undo_stale() {
	local item
	local -a stale=()
	for item in "${state_old_items[@]}"; do
		otb_in_list "$item" "$@" || stale+=("$item")
	done
	otb_state_undo_items "${stale[@]}" || otb_state_fail "could not remove the previous setup"
}

# A failure during `up` removes everything, old and new, rather than leave a half setup.
otb_state_fail() {
	local item
	local -a all=("${state_old_items[@]}")
	for item in "${state_new_items[@]}"; do
		otb_in_list "$item" "${all[@]}" || all+=("$item")
	done
	otb_note "$*"
	if otb_state_undo_items "${all[@]}"; then
		rm -f "$(otb_state_path)" 2>/dev/null || true # the reason was given above
	else
		otb_state_keep_left
	fi
	exit 1
}

# down: quiet when nothing is up.
otb_state_down() {
	otb_state_lock
	otb_state_read || return 0
	if ! otb_state_undo_items "${state_old_items[@]}"; then
		otb_state_keep_left
		otb_die "some objects could not be removed; they stay listed in $(otb_state_path)"
	fi
	rm -f "$(otb_state_path)"
}

# otb-boxconf, which reads the box's JSON config for both scripts: $OTB_BOXCONF, else beside
# the script (DIR), else in a build tree ($OTB_BUILD), else on the PATH.
otb_boxconf_path() {
	local p
	for p in "${OTB_BOXCONF:-}" "$1/otb-boxconf" "${OTB_BUILD:+$OTB_BUILD/otb-redir/otb-boxconf}"; do
		[[ -n $p && -x $p ]] && { echo "$p"; return 0; }
	done
	command -v otb-boxconf 2>/dev/null || otb_die "otb-boxconf not found (set OTB_BOXCONF)"
}
