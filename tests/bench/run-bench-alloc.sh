#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# bench-alloc driver: starts daxkmemd (node BENCH_KMEM_NODE, default 0, stands
# in for a KMEM node), runs every bench-alloc-* binary once per round for
# REPEAT rounds (default 5), in an order that alternates (forward, reversed)
# and rotates every two rounds, and prints per workload the median ns/op of each allocator and the
# ratio peer/daxkmem of the medians.
#
#   run-bench-alloc.sh BUILD_DIR      (env: REPEAT, BENCH_KMEM_NODE, BENCH_ALLOC_SCALE)
set -euo pipefail

if [ $# -ne 1 ] || [ ! -d "$1" ]; then
	echo "usage: run-bench-alloc.sh BUILD_DIR" >&2
	exit 2
fi
build=$1
repeat=${REPEAT:-5}
node=${BENCH_KMEM_NODE:-0}
scale=${BENCH_ALLOC_SCALE:-1}
bin=$build/tests/bench
daxkmemd=$build/daemon/daxkmemd
peers=(glibc jemalloc mimalloc memkind)
workloads=(pairs workingset prodcons threads1 threads2 threads4)

case $repeat in '' | *[!0-9]* | 0)
	echo "run-bench-alloc: REPEAT must be a positive number" >&2
	exit 2 ;;
esac
for f in "$daxkmemd" "$bin/bench-alloc-daxkmem"; do
	if [ ! -x "$f" ]; then
		echo "run-bench-alloc: $f is missing (build first)" >&2
		exit 1
	fi
done
allocs=(daxkmem)
skipped=()
for p in "${peers[@]}"; do
	if [ -x "$bin/bench-alloc-$p" ]; then
		allocs+=("$p")
	else
		skipped+=("$p (not built: its library was not found)")
	fi
done

run=$(mktemp -d /tmp/bench-alloc.XXXXXX)
pid=
cleanup() {
	if [ -n "$pid" ]; then
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	rm -rf "$run"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

printf 'kmem_nodes = %s\nsocket_group =\n' "$node" >"$run/daxkmemd.conf"
"$daxkmemd" --config "$run/daxkmemd.conf" --socket "$run/daxkmemd.sock" 2>"$run/daxkmemd.log" &
pid=$!
for _ in $(seq 200); do
	[ -S "$run/daxkmemd.sock" ] && break
	if ! kill -0 "$pid" 2>/dev/null; then
		echo "run-bench-alloc: daxkmemd exited:" >&2
		cat "$run/daxkmemd.log" >&2
		exit 1
	fi
	sleep 0.05
done
if [ ! -S "$run/daxkmemd.sock" ]; then
	echo "run-bench-alloc: daxkmemd did not create its socket in 10 s" >&2
	exit 1
fi

# A peer whose binary fails (e.g. memkind finding no usable node) is dropped
# from later rounds and reported, rather than failing the whole benchmark.
declare -A failed=()
n=${#allocs[@]}
echo "bench-alloc: $repeat rounds of ${allocs[*]} (daxkmemd on node $node, scale $scale)"
echo "  load average before: $(cut -d" " -f1-3 /proc/loadavg)"
for ((r = 0; r < repeat; r++)); do
	# the list rotated by r/2, reversed in odd rounds
	order=()
	for ((i = 0; i < n; i++)); do
		if ((r % 2)); then
			order+=("${allocs[$(((r / 2 + n - 1 - i) % n))]}")
		else
			order+=("${allocs[$(((r / 2 + i) % n))]}")
		fi
	done
	echo "  round $((r + 1)): ${order[*]}"
	for a in "${order[@]}"; do
		[ -n "${failed[$a]:-}" ] && continue
		if ! DAXKMEM_SOCKET=$run/daxkmemd.sock MEMKIND_DAX_KMEM_NODES=$node \
			"$bin/bench-alloc-$a" "$scale" >"$run/out" 2>"$run/err"; then
			if [ "$a" = daxkmem ]; then
				echo "run-bench-alloc: bench-alloc-daxkmem failed:" >&2
				cat "$run/err" >&2
				exit 1
			fi
			failed[$a]=$(head -c 300 "$run/err" | tr '\n' ' ')
			continue
		fi
		awk -v r="$r" '$1 == "RESULT" {
			for (i = 2; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
			print r, f["alloc"], f["workload"], f["ns_per_op"]
		}' "$run/out" >>"$run/results"
	done
done
echo "  load average after: $(cut -d" " -f1-3 /proc/loadavg)"

cols=()
for a in "${allocs[@]}"; do
	if [ -n "${failed[$a]:-}" ]; then
		skipped+=("$a (failed: ${failed[$a]})")
	else
		cols+=("$a")
	fi
done

echo
echo "Median ns per operation over $repeat rounds (lower is better); ratio = peer ns / daxkmem ns (>1: daxkmem is faster)."
echo "pairs/workingset/prodcons: one malloc+free; threadsN: wall time / pairs of all N threads (inverse of total throughput)."
awk -v cols="${cols[*]}" -v wls="${workloads[*]}" '
function median(k,   n, i, j, t, v) {
	n = cnt[k]
	for (i = 1; i <= n; i++) v[i] = val[k, i]
	for (i = 2; i <= n; i++) {
		t = v[i]
		for (j = i - 1; j >= 1 && v[j] > t; j--) v[j + 1] = v[j]
		v[j + 1] = t
	}
	lo[k] = v[1]; hi[k] = v[n]
	return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
}
function header(title, ratios,   i) {
	printf "%-11s", title
	for (i = 1; i <= nc; i++) printf " %9s", c[i]
	if (ratios)
		for (i = 2; i <= nc; i++) printf " %12s", c[i] "/dkm"
	printf "\n"
}
{ k = $2 SUBSEP $3; val[k, ++cnt[k]] = $4 }
END {
	nc = split(cols, c, " "); nw = split(wls, w, " ")
	header("workload", 1)
	for (j = 1; j <= nw; j++) {
		printf "%-11s", w[j]
		for (i = 1; i <= nc; i++) {
			k = c[i] SUBSEP w[j]
			if (cnt[k]) {
				m[i] = median(k)
				sp[k] = m[i] > 0 ? (hi[k] - lo[k]) / m[i] * 100 : 0
				printf " %9.2f", m[i]
			} else {
				m[i] = ""
				printf " %9s", "-"
			}
		}
		for (i = 2; i <= nc; i++) {
			if (m[1] != "" && m[i] != "" && m[1] > 0) printf " %12.2f", m[i] / m[1]
			else printf " %12s", "-"
		}
		printf "\n"
	}
	printf "\nSpread of the rounds, (max - min) / median in %%:\n"
	header("workload", 0)
	for (j = 1; j <= nw; j++) {
		printf "%-11s", w[j]
		for (i = 1; i <= nc; i++) {
			k = c[i] SUBSEP w[j]
			if (cnt[k]) printf " %8.0f%%", sp[k]
			else printf " %9s", "-"
		}
		printf "\n"
	}
}' "$run/results"
for s in "${skipped[@]+"${skipped[@]}"}"; do
	echo "skipped: $s"
done
