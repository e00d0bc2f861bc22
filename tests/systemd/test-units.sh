#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Usage: test-units.sh DAXKMEMD DOCS_DIR UNIT...
# Runs systemd-analyze verify on the units, with ExecStart= pointing at the
# built daemon DAXKMEMD; fails on any message about our units. Prints the
# exposure score of systemd-analyze security (information only).
# Exit 77 (skip) without systemd-analyze, and without man(1) when nothing
# else failed.
set -u

daxkmemd=$1
docs=$2
shift 2

if ! command -v systemd-analyze >/dev/null 2>&1; then
	echo "SKIP: systemd-analyze is not installed"
	exit 77
fi
if [ ! -x "$daxkmemd" ]; then
	echo "FAIL: $daxkmemd is not an executable" >&2
	exit 1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/daxkmem-units.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM
mkdir "$tmp/units" "$tmp/man" "$tmp/man/man5" "$tmp/man/man8"

status=0
units=
for unit in "$@"; do
	name=$(basename "$unit")
	if grep -n '@[A-Za-z_]*@' "$unit"; then
		echo "FAIL: $name: a template variable was not substituted" >&2
		status=1
	fi
	sed "s|^ExecStart=[^ ]*/daxkmemd\\( \\)|ExecStart=$daxkmemd\\1|" "$unit" >"$tmp/units/$name"
	units="$units $tmp/units/$name"
done
if ! grep -q "^ExecStart=$daxkmemd " "$tmp/units/daxkmemd.service"; then
	echo "FAIL: daxkmemd.service has no ExecStart=.../daxkmemd line to point at the build" >&2
	exit 1
fi

# systemd-analyze verify runs man(1) for each man: page in Documentation=;
# let it find ours in the source tree.
for page in "$docs"/*.[0-9]; do
	section=${page##*.}
	[ -d "$tmp/man/man$section" ] || mkdir "$tmp/man/man$section"
	ln -s "$page" "$tmp/man/man$section/"
done
# Without man(1) the Documentation= pages cannot be checked: the rest is, and
# the test then counts as skipped (exit 77), not passed (tools/install-deps.sh
# installs man-db).
man_opt=--man=yes
no_man=
if ! command -v man >/dev/null 2>&1; then
	no_man="man(1) is not installed (package man-db): Documentation= pages not checked"
	man_opt=--man=no
fi

# No running systemd is needed: verify loads the units in a private manager
# (as it does on build machines and in containers).
# shellcheck disable=SC2086
SYSTEMD_LOG_LEVEL=notice MANPATH="$tmp/man" \
	systemd-analyze verify $man_opt $units >"$tmp/verify.out" 2>&1
rc=$?
cat "$tmp/verify.out"
if [ $rc -ne 0 ]; then
	echo "FAIL: systemd-analyze verify exited with $rc" >&2
	status=1
fi
if grep -i -e daxkmem -e "$tmp" "$tmp/verify.out" >/dev/null; then
	echo "FAIL: systemd-analyze verify has something to say about our units (above)" >&2
	status=1
fi

# The exposure score is information for the reader, not a condition.
# shellcheck disable=SC2086
if SYSTEMD_LOG_LEVEL=err systemd-analyze security --offline=yes --no-pager \
	"$tmp/units/daxkmemd.service" >"$tmp/security.out" 2>&1; then
	echo "systemd-analyze security (offline):"
	grep -E 'Overall exposure level' "$tmp/security.out" ||
		tail -n 3 "$tmp/security.out"
else
	echo "note: systemd-analyze security --offline=yes did not run here:"
	tail -n 3 "$tmp/security.out"
fi

if [ $status -eq 0 ] && [ -n "$no_man" ]; then
	echo "SKIP: $no_man (verify found nothing else to say)"
	exit 77
fi
[ $status -eq 0 ] && echo "PASS: systemd-analyze verify finds nothing to say about the units"
exit $status
