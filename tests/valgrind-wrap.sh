#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Test wrapper of the "valgrind" meson test setup: ELF test programs run under
# valgrind; shell test scripts run as they are; both start the daemon (and the
# programs they test) through $DKM_TEST_WRAPPER, so those run under valgrind too.
vg=(valgrind --quiet --error-exitcode=99 --leak-check=full --show-leak-kinds=definite,indirect
    --errors-for-leak-kinds=definite,indirect --track-origins=yes)
export DKM_TEST_WRAPPER="${vg[*]}"
if [ "$(head -c 2 "$1")" = '#!' ]; then
	exec "$@"
fi
[ "${CK_FORK:-}" = yes ] || export CK_FORK=no
exec "${vg[@]}" "$@"
