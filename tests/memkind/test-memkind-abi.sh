#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The memkind drop-in's interface, measured against Debian's real memkind
# (libmemkind-dev) rather than a list of our own:
#  - the expected symbols are those the real libmemkind.so.0 exports that
#    memkind's public C headers declare (see the filter below); the drop-in
#    exports each of them, as a function or as a data object of the same size
#    as the real one, and nothing the real library does not export;
#  - SONAME libmemkind.so.0 and no symbol versions, like the real one;
#  - a program linked to the real library that references every expected
#    symbol loads with the drop-in on its library path, with immediate binding,
#    and gets its symbols from the drop-in;
#  - the OpenMP runtimes that know memkind (their names read from their own
#    binaries) find every name they dlsym, through libmemkind.so;
#  - the ld.so.conf.d snippet names the installed directory, and ldconfig
#    ranks a directory listed first above the distribution's.
set -u
dropin=$1 dlsym=$2 snippet=$3 pkglibdir=$4 cc=${5:-cc}
fail=0 pass=0
ok() { pass=$((pass + 1)); }
bad() { echo "FAIL: $*"; fail=$((fail + 1)); }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
dropin_dir=$(dirname "$dropin")
# meson puts the build's library directories (the drop-in's too) on the tests' path
unset LD_LIBRARY_PATH

libdir=$(pkg-config --variable=libdir memkind 2>/dev/null)
incdir=$(pkg-config --variable=includedir memkind 2>/dev/null)
real=$libdir/libmemkind.so.0
if [ -z "$libdir" ] || [ ! -e "$real" ] || [ ! -e "$incdir/memkind.h" ]; then
	echo "SKIP: Debian's libmemkind-dev is not installed (apt-get install libmemkind-dev)"
	exit 77
fi

# ---- what the real library exports, and the filter ----
# The real libmemkind.so.0 exports more than memkind's interface:
#  - memkind's internal "ops" interface (memkind_arena_*, memkind_default_*,
#    memkind_hbw_*, memkind_pmem_*, the *_OPS tables ...), declared only in
#    memkind's internal headers, which libmemkind-dev does not ship: no
#    program can be built against them;
#  - libmemtier's interface (memtier_*, <memkind_memtier.h>), a tiering
#    library of its own built into the same file, which the drop-in does not
#    provide (daxkmem-memkind(7));
#  - the toolchain's symbols (_init, _fini ...).
# So the expected symbols are the real exports that <memkind.h> (with
# <memkind_deprecated.h>) and <hbwmalloc.h> declare: the headers are run
# through the preprocessor, which drops their comments, and a symbol is
# declared when its name appears there as a word.
printf '#include <memkind.h>\n#include <hbwmalloc.h>\n' |
	"$cc" -E -P -I"$incdir" -x c - 2>/dev/null | tr -c 'A-Za-z0-9_' '\n' | sort -u >"$tmp/declared"
[ -s "$tmp/declared" ] && ok || bad "cannot preprocess memkind's headers"
nm -D --defined-only -S "$real" | awk 'NF == 4 { print $4, $3, $2 } NF == 3 { print $3, $2, 0 }' |
	sort >"$tmp/real-all"
nm -D --defined-only -S "$dropin" | awk 'NF == 4 { print $4, $3, $2 } NF == 3 { print $3, $2, 0 }' |
	sort >"$tmp/ours-all"
awk 'NR == FNR { d[$1] = 1; next } d[$1]' "$tmp/declared" "$tmp/real-all" >"$tmp/expected"
awk 'NR == FNR { d[$1] = 1; next } !d[$1] { print $1 }' "$tmp/declared" "$tmp/real-all" >"$tmp/filtered"
echo "expected: $(wc -l <"$tmp/expected") of the $(wc -l <"$tmp/real-all") symbols the real library exports"
echo "left out by the filter: $(sed -E 's/^(memkind_arena|memkind_default|memkind_hbw|memtier|memkind_pmem)_.*/\1_*/; s/^MEMKIND_.*_OPS$/MEMKIND_*_OPS/' "$tmp/filtered" | sort -u | tr '\n' ' ')"
[ "$(wc -l <"$tmp/expected")" -ge 60 ] && ok || bad "only $(wc -l <"$tmp/expected") symbols expected: $(cat "$tmp/expected")"
for s in memkind_malloc memkind_check_available memkind_free MEMKIND_DEFAULT MEMKIND_DAX_KMEM_ALL \
	hbw_malloc memkind_get_kind_by_partition; do
	grep -q "^$s " "$tmp/expected" && ok || bad "the filter lost $s"
done

# ---- each expected symbol, as a function or as an object of the real one's size ----
class() { case $1 in T | t | W | i) echo function ;; D | d | B | b | V | R | r) echo object ;; *) echo "$1" ;; esac; }
while read -r name type size; do
	line=$(grep "^$name " "$tmp/ours-all")
	if [ -z "$line" ]; then
		bad "$name ($(class "$type")) is not exported by the drop-in"
		continue
	fi
	read -r _ otype osize <<<"$line"
	[ "$(class "$otype")" = "$(class "$type")" ] && ok ||
		bad "$name: a $(class "$otype") in the drop-in, a $(class "$type") in memkind"
	if [ "$(class "$type")" = object ]; then
		[ "$((16#$osize))" -eq "$((16#$size))" ] && ok ||
			bad "$name: $((16#$osize)) bytes in the drop-in, $((16#$size)) in memkind"
	fi
done <"$tmp/expected"
# nothing the real library does not export (the drop-in's own helpers stay inside)
awk 'NR == FNR { r[$1] = 1; next } !r[$1] { print $1 }' "$tmp/real-all" "$tmp/ours-all" >"$tmp/extra"
[ -s "$tmp/extra" ] && bad "exported by the drop-in, not by memkind: $(tr '\n' ' ' <"$tmp/extra")" || ok

# ---- the file ----
objdump -p "$dropin" | grep -Eq 'SONAME +libmemkind\.so\.0$' && ok || bad "SONAME is not libmemkind.so.0"
objdump -p "$real" | grep -q 'Version definitions' && bad "the real memkind has symbol versions now" || ok
objdump -p "$dropin" | grep -q 'Version definitions' && bad "the drop-in defines symbol versions" || ok
objdump -p "$dropin" | grep -q 'NEEDED.*libmemkind' && bad "the drop-in needs a libmemkind" || ok
[ "$(readlink -f "$dropin_dir/libmemkind.so")" = "$(readlink -f "$dropin")" ] && ok ||
	bad "no libmemkind.so beside libmemkind.so.0 in $dropin_dir"

loadable=1
if [ "${DKM_ASAN:-0}" = 1 ]; then
	echo "note: ASan build: the drop-in needs the ASan runtime loaded first, so programs that are"
	echo "      not built with ASan cannot load it; the loading checks are left to the plain build"
	loadable=0
fi

# ---- a program linked to the real library, every expected symbol referenced ----
{
	echo '#define _GNU_SOURCE'
	echo '#include <dlfcn.h>'
	echo '#include <stdio.h>'
	echo '#include <string.h>'
	while read -r name type _; do
		if [ "$(class "$type")" = object ]; then
			echo "extern void *$name;"
		else
			echo "void $name(void);"
		fi
	done <"$tmp/expected"
	echo 'static void *const refs[] = {'
	while read -r name type _; do
		if [ "$(class "$type")" = object ]; then echo "	(void *)&$name,"; else echo "	(void *)$name,"; fi
	done <"$tmp/expected"
	echo '};'
	echo 'int main(void)'
	echo '{'
	echo '	Dl_info info;'
	echo '	if (!dladdr((void *)memkind_malloc, &info)) return 1;'
	echo '	printf("%zu symbols, memkind_malloc from %s\n", sizeof(refs) / sizeof(refs[0]), info.dli_fname);'
	echo '	return !(MEMKIND_DAX_KMEM_ALL && MEMKIND_DEFAULT);'
	echo '}'
} >"$tmp/all-symbols.c"
if "$cc" -w -o "$tmp/all-symbols" "$tmp/all-symbols.c" -L"$libdir" -Wl,--no-as-needed -lmemkind -ldl \
	2>"$tmp/cc.log"; then
	ok
	if [ $loadable = 1 ]; then
		out=$(LD_BIND_NOW=1 LD_LIBRARY_PATH="$dropin_dir" "$tmp/all-symbols" 2>&1) && ok ||
			bad "a program linked to memkind does not load with the drop-in: $out"
		case $out in
		*"from $dropin_dir/libmemkind.so.0"* | *"from $(readlink -f "$dropin_dir")/libmemkind.so.0"*) ok ;;
		*) bad "the symbols did not come from the drop-in: $out" ;;
		esac
		echo "$out"
		out=$(LD_BIND_NOW=1 "$tmp/all-symbols" 2>&1) && ok || bad "the same program with the real memkind: $out"
	fi
else
	bad "cannot link a program to the real memkind: $(cat "$tmp/cc.log")"
fi

# ---- what the OpenMP runtimes dlsym ----
runtimes=0
for rt in /usr/lib/llvm-*/lib/libomp.so.5 /usr/lib/x86_64-linux-gnu/libgomp.so.1; do
	[ -e "$rt" ] || continue
	soname=$(strings "$rt" | grep -E '^libmemkind\.so(\.[0-9]+)?$' | head -1)
	[ -n "$soname" ] || continue
	names=$(strings "$rt" | grep -E '^(memkind_[a-z_]+|MEMKIND_[A-Z_]+)$' | sort -u)
	runtimes=$((runtimes + 1))
	echo "$rt dlopens $soname and looks up: $(echo $names)"
	[ -e "$dropin_dir/$soname" ] && ok || bad "$soname, which $rt dlopens, is not in $dropin_dir"
	if [ $loadable = 1 ]; then
		# shellcheck disable=SC2086
		out=$("$dlsym" "$dropin_dir/$soname" $names 2>&1) && ok || bad "$rt's look-ups: $out"
	fi
done
[ $runtimes -ge 1 ] && ok || echo "note: no OpenMP runtime here dlopens memkind (libomp-14-dev installs one)"

# ---- the ld.so.conf.d snippet ----
[ "$(grep -v '^#' "$snippet" | grep -v '^$')" = "$pkglibdir" ] && ok ||
	bad "the snippet does not name $pkglibdir: $(cat "$snippet")"
ldconfig=$(command -v ldconfig || echo /sbin/ldconfig)
printf '%s\n%s\n' "$(readlink -f "$dropin_dir")" "$libdir" >"$tmp/ld.so.conf"
if "$ldconfig" -X -f "$tmp/ld.so.conf" -C "$tmp/ld.so.cache" 2>"$tmp/ldconfig.log"; then
	for name in libmemkind.so.0 libmemkind.so; do
		first=$("$ldconfig" -p -C "$tmp/ld.so.cache" | grep -E "^[[:space:]]$name " | head -1)
		case $first in
		*"=> $(readlink -f "$dropin_dir")/$name") ok ;;
		*) bad "with the drop-in's directory listed first, $name is: $first" ;;
		esac
	done
else
	bad "ldconfig: $(cat "$tmp/ldconfig.log")"
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
