#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# daxkmem-run: its options, its exit statuses (those of env(1)), and the
# library path it gives the program.
set -u
run=$1 dropin_dir=$2
fail=0 pass=0
ok() { pass=$((pass + 1)); }
bad() { echo "FAIL: $*"; fail=$((fail + 1)); }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export DAXKMEM_RUN_LIBDIR=$dropin_dir
unset LD_LIBRARY_PATH

# expect STATUS CMD...: the command's exit status is STATUS; its stdout in $tmp/out, stderr in $tmp/err
expect() {
	local want=$1 got
	shift
	"$@" >"$tmp/out" 2>"$tmp/err"
	got=$?
	[ "$got" -eq "$want" ] && ok || bad "$* exited $got, not $want: $(cat "$tmp/err")"
}

expect 0 "$run" --help
grep -q -- '--memkind' "$tmp/out" && ok || bad "--help does not mention --memkind"
expect 0 "$run" --version
grep -q '^daxkmem-run ' "$tmp/out" && ok || bad "--version: $(cat "$tmp/out")"
expect 125 "$run" --no-such-option -- true
grep -q 'Usage: daxkmem-run' "$tmp/err" && ok || bad "no usage message for an unknown option"
expect 125 "$run" --memkind
grep -q 'no PROGRAM' "$tmp/err" && ok || bad "no PROGRAM: $(cat "$tmp/err")"
expect 125 "$run" true
grep -q -- '--memkind' "$tmp/err" && ok || bad "without a mode: $(cat "$tmp/err")"
expect 127 "$run" --memkind -- "$tmp/no-such-program"
expect 127 "$run" --memkind no-such-program-in-path-$$
printf 'not a program\n' >"$tmp/text"
chmod 644 "$tmp/text"
expect 126 "$run" --memkind "$tmp/text"
expect 126 "$run" --memkind "$tmp"
# the program's status and arguments, its own options included
expect 7 "$run" --memkind sh -c 'exit 7'
expect 0 "$run" --memkind -- sh -c 'printf "%s|" "$@"' sh --memkind -x ''
[ "$(cat "$tmp/out")" = "--memkind|-x||" ] && ok || bad "arguments: $(cat "$tmp/out")"

# LD_LIBRARY_PATH: the drop-in first, what was there after, nothing added twice
expect 0 "$run" --memkind sh -c 'printf "%s" "$LD_LIBRARY_PATH"'
[ "$(cat "$tmp/out")" = "$dropin_dir" ] && ok || bad "LD_LIBRARY_PATH unset before: $(cat "$tmp/out")"
expect 0 env LD_LIBRARY_PATH= "$run" --memkind sh -c 'printf "%s" "$LD_LIBRARY_PATH"'
[ "$(cat "$tmp/out")" = "$dropin_dir" ] && ok || bad "empty before (no current directory added): $(cat "$tmp/out")"
expect 0 env LD_LIBRARY_PATH=/a:/b "$run" --memkind sh -c 'printf "%s" "$LD_LIBRARY_PATH"'
[ "$(cat "$tmp/out")" = "$dropin_dir:/a:/b" ] && ok || bad "kept after: $(cat "$tmp/out")"
expect 0 "$run" --memkind "$run" --memkind sh -c 'printf "%s" "$LD_LIBRARY_PATH"'
[ "$(cat "$tmp/out")" = "$dropin_dir" ] && ok || bad "nested: $(cat "$tmp/out")"
# the loader takes libmemkind.so.0 from there
if [ -e "$dropin_dir/libmemkind.so.0" ] && command -v ldd >/dev/null && [ -n "$(pkg-config --variable=libdir memkind 2>/dev/null)" ] &&
	[ "${DKM_ASAN:-0}" != 1 ]; then
	printf 'int memkind_get_version(void);\nint main(void) { return memkind_get_version() != 1014000; }\n' >"$tmp/v.c"
	if cc -o "$tmp/v" "$tmp/v.c" -L"$(pkg-config --variable=libdir memkind)" -lmemkind 2>/dev/null; then
		expect 0 "$run" --memkind ldd "$tmp/v"
		grep -q "libmemkind.so.0 => $dropin_dir/libmemkind.so.0" "$tmp/out" && ok ||
			bad "ldd under daxkmem-run: $(cat "$tmp/out")"
		expect 0 "$run" --memkind "$tmp/v"
	fi
fi

# where the drop-in is
expect 125 env DAXKMEM_RUN_LIBDIR="$tmp" "$run" --memkind true
grep -q "has no libmemkind.so.0" "$tmp/err" && ok || bad "a DAXKMEM_RUN_LIBDIR without the drop-in: $(cat "$tmp/err")"
if [ ! -e "$(sed -n 's/.*default \(\/[^)]*\)).*/\1/p' <("$run" --help))/libmemkind.so.0" ]; then
	# not installed here: without the override, a clear error rather than the real memkind
	expect 125 env -u DAXKMEM_RUN_LIBDIR "$run" --memkind true
	grep -q "not installed" "$tmp/err" && ok || bad "without an installed drop-in: $(cat "$tmp/err")"
fi
# an installed tree moved elsewhere: found next to the executable
mkdir -p "$tmp/prefix/bin" "$tmp/prefix/lib"
rel=$(strings "$run" | grep -E '^(\.\./)+.*daxkmem$' | head -1)
if [ -n "$rel" ]; then
	cp "$run" "$tmp/prefix/bin/daxkmem-run"
	mkdir -p "$tmp/prefix/bin/$rel"
	cp -P "$dropin_dir/libmemkind.so.0" "$dropin_dir/libmemkind.so" "$(readlink -f "$dropin_dir/libmemkind.so.0")" \
		"$tmp/prefix/bin/$rel/"
	expect 0 env -u DAXKMEM_RUN_LIBDIR "$tmp/prefix/bin/daxkmem-run" --memkind sh -c 'printf "%s" "$LD_LIBRARY_PATH"'
	[ "$(cat "$tmp/out")" = "$(readlink -f "$tmp/prefix/bin/$rel")" ] && ok || bad "relative lookup: $(cat "$tmp/out")"
fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
