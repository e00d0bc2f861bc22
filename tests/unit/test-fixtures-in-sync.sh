#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The committed fixture trees are what make-fixtures.sh writes, and git can hold them
# (no empty directory, which a clone would lose).
set -u
fixtures=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$fixtures/make-fixtures.sh" "$tmp" || exit 1
rc=0
for d in "$tmp"/*/; do
	name=$(basename "$d")
	if ! diff -r --no-dereference "$tmp/$name" "$fixtures/$name"; then
		echo "FAIL: tests/fixtures/$name differs from what make-fixtures.sh writes"
		rc=1
	fi
	if [ -n "$(find "$tmp/$name" -type d -empty)" ]; then
		echo "FAIL: $name has empty directories, which git does not keep"
		rc=1
	fi
done
[ $rc -eq 0 ] && echo "1 passed, 0 failed" || echo "0 passed, 1 failed"
exit $rc
