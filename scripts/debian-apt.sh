#!/usr/bin/env bash
# The private apt configuration of one Debian suite, in the cache, never /etc/apt: its own sources
# list, package lists (refreshed once a day), archives; no system status, no locking.
#
#   scripts/debian-apt.sh SUITE apt-get|apt-cache ARGS...    run one apt command in it
#   . scripts/debian-apt.sh; use_suite SUITE                 (sourced) sets apt_opts for "${apt_opts[@]}"
#
# Cache: $KLP_CACHE, else ${XDG_CACHE_HOME:-~/.cache}/klp-convert (<cache>/apt/SUITE). Mirror:
# $DEBIAN_MIRROR (default http://deb.debian.org/debian). Used by scripts/debian-kernel.sh and by
# `klp-convert create` (the kernel's linux-source package).
cache=${cache:-${KLP_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/klp-convert}}
mirror=${mirror:-${DEBIAN_MIRROR:-http://deb.debian.org/debian}}
apt_opts=()
use_suite() {
	local suite=$1 dir=$cache/apt/$1
	mkdir -p "$dir/lists/partial" "$dir/archives/partial" "$dir/etc"
	{
		echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror $suite main"
		# bookworm's kernel updates reach the archive through the security suite first.
		[ "$suite" != bookworm ] || echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] ${mirror%/debian}/debian-security bookworm-security main"
	} > "$dir/etc/sources.list"
	apt_opts=(-q -o "Dir::Etc::SourceList=$dir/etc/sources.list" -o Dir::Etc::SourceParts=/dev/null
		-o Dir::Etc::Preferences=/dev/null -o Dir::Etc::PreferencesParts=/dev/null
		-o "Dir::State::Lists=$dir/lists" -o "Dir::Cache=$dir" -o "Dir::Cache::Archives=$dir/archives"
		-o Dir::State::status=/dev/null -o APT::Architecture=amd64 -o APT::Architectures::=amd64
		-o APT::Sandbox::User=root -o Debug::NoLocking=1)
	# The suite's package lists, refreshed once a day.
	if [ -z "$(find "$dir/lists" -maxdepth 1 -name '*Packages*' -mmin -1440 2>/dev/null | head -1)" ]; then
		echo "debian-apt: apt-get update ($suite, private configuration in $dir)" >&2
		apt-get "${apt_opts[@]}" update >&2
	fi
}
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	set -euo pipefail
	[ $# -ge 2 ] && { [ "$2" = apt-get ] || [ "$2" = apt-cache ]; } || { echo "usage: $0 SUITE apt-get|apt-cache ARGS..." >&2; exit 2; }
	use_suite "$1"
	tool=$2
	shift 2
	exec "$tool" "${apt_opts[@]}" "$@"
fi
