#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# libdaxkmem-client's ABI: it exports daxkmem_* only, all under the version node
# DAXKMEM_0.1, and its public header compiles on its own as strict C99 and C++.
set -u
lib=$1 header_dir=$2 cc=${3:-cc}
fail=0 pass=0
ok() { pass=$((pass + 1)); }
bad() { echo "FAIL: $*"; fail=$((fail + 1)); }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

nm -D --defined-only "$lib" | awk '{ print $3 }' | sed 's/@.*//' | sort >"$tmp/syms"
grep -v -e '^daxkmem_' -e '^DAXKMEM_0\.1$' "$tmp/syms" >"$tmp/extra"
[ -s "$tmp/extra" ] && bad "exported besides daxkmem_*: $(tr '\n' ' ' <"$tmp/extra")" || ok
[ "$(grep -c '^daxkmem_' "$tmp/syms")" -ge 15 ] && ok || bad "fewer than 15 daxkmem_ symbols: $(cat "$tmp/syms")"
objdump -T "$lib" | grep ' daxkmem_' | grep -vq 'DAXKMEM_0.1' && bad "a symbol outside DAXKMEM_0.1" || ok
# every function the header declares is exported
for f in $(grep -o 'daxkmem_[a-z_]*(' "$header_dir/daxkmem.h" | tr -d '(' | sort -u); do
	grep -qx "$f" "$tmp/syms" && ok || bad "$f declared but not exported"
done

printf '#include <daxkmem.h>\nint main(void) { return daxkmem_malloc(DAXKMEM_KIND_KMEM, 1) != 0; }\n' >"$tmp/c99.c"
"$cc" -std=c99 -pedantic -Wall -Wextra -Werror -I"$header_dir" -c "$tmp/c99.c" -o "$tmp/c99.o" && ok || bad "header does not compile as -std=c99 -pedantic"
if command -v g++ >/dev/null; then
	cp "$tmp/c99.c" "$tmp/cxx.cc"
	g++ -std=c++11 -pedantic -Wall -Wextra -Werror -I"$header_dir" -c "$tmp/cxx.cc" -o "$tmp/cxx.o" && ok || bad "header does not compile as C++11"
fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
