#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# build.sh DIR [MESON OPTIONS...]: configure DIR once (or again when the options
# change), then compile. Warnings are errors.
set -euo pipefail
dir=$1
shift
cd "$(dirname "$0")/.."
want="-Dwerror=true $*"
if [ -f "$dir/build.ninja" ] && [ "$(cat "$dir/.dkm-options" 2>/dev/null)" = "$want" ]; then
	:
else
	rm -rf "$dir"
	# shellcheck disable=SC2086
	meson setup "$dir" $want >"$dir.setup.log" 2>&1 || { cat "$dir.setup.log"; exit 1; }
	echo "$want" >"$dir/.dkm-options"
fi
meson compile -C "$dir" >"$dir.compile.log" 2>&1 || { cat "$dir.compile.log"; exit 1; }
