#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# libdaxkmem-client's ABI: it exports daxkmem_* only, all under the version node
# DAXKMEM_0.1, and its public header compiles on its own as strict C99 and C++.
# Every tool it needs must be there (tools/install-deps.sh installs them): a
# missing one fails the test, no check is left out quietly.
set -u
lib=$1 header_dir=$2 cc=${3:-cc}
fail=0 pass=0
ok() { pass=$((pass + 1)); }
bad() { echo "FAIL: $*"; fail=$((fail + 1)); }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

for tool in nm objdump "$cc" g++; do
	if ! command -v "$tool" >/dev/null; then
		echo "FAIL: $tool is not installed: the checks that need it cannot run (tools/install-deps.sh installs it)"
		exit 1
	fi
done

nm -D --defined-only "$lib" >"$tmp/nm" || bad "nm -D $lib failed"
awk '{ print $3 }' "$tmp/nm" | sed 's/@.*//' | sort >"$tmp/syms"
grep -v -e '^daxkmem_' -e '^DAXKMEM_0\.1$' "$tmp/syms" >"$tmp/extra"
[ -s "$tmp/extra" ] && bad "exported besides daxkmem_*: $(tr '\n' ' ' <"$tmp/extra")" || ok
nsyms=$(grep -c '^daxkmem_' "$tmp/syms")
[ "$nsyms" -ge 15 ] && ok || bad "fewer than 15 daxkmem_ symbols: $(cat "$tmp/syms")"
grep -qx 'DAXKMEM_0\.1' "$tmp/syms" && ok || bad "no version node DAXKMEM_0.1"
# every daxkmem_ symbol in the dynamic symbol table, each under DAXKMEM_0.1
objdump -T "$lib" >"$tmp/objdump" || bad "objdump -T $lib failed"
grep ' daxkmem_' "$tmp/objdump" >"$tmp/dynsyms"
[ "$(wc -l <"$tmp/dynsyms")" -eq "$nsyms" ] && ok ||
	bad "objdump -T lists $(wc -l <"$tmp/dynsyms") daxkmem_ symbols, nm $nsyms"
grep -v ' DAXKMEM_0\.1 *daxkmem_' "$tmp/dynsyms" >"$tmp/unversioned"
[ -s "$tmp/unversioned" ] && bad "outside DAXKMEM_0.1: $(cat "$tmp/unversioned")" || ok
# every function the header declares is exported
grep -o 'daxkmem_[a-z_]*(' "$header_dir/daxkmem.h" | tr -d '(' | sort -u >"$tmp/declared"
[ "$(wc -l <"$tmp/declared")" -ge 15 ] && ok || bad "fewer than 15 functions found in daxkmem.h"
while read -r f; do
	grep -qx "$f" "$tmp/syms" && ok || bad "$f declared but not exported"
done <"$tmp/declared"

printf '#include <daxkmem.h>\nint main(void) { return daxkmem_malloc(DAXKMEM_KIND_KMEM, 1) != 0; }\n' >"$tmp/c99.c"
"$cc" -std=c99 -pedantic -Wall -Wextra -Werror -I"$header_dir" -c "$tmp/c99.c" -o "$tmp/c99.o" && ok || bad "header does not compile as -std=c99 -pedantic"
cp "$tmp/c99.c" "$tmp/cxx.cc"
g++ -std=c++11 -pedantic -Wall -Wextra -Werror -I"$header_dir" -c "$tmp/cxx.cc" -o "$tmp/cxx.o" && ok || bad "header does not compile as C++11"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
