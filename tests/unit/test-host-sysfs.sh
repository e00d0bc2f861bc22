#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The real /sys of the machine running the tests, checked against numactl --hardware:
# same nodes, CPUs, sizes and distances.
set -u
daxkmemd_bin=$1
daxkmemd() { ${DKM_TEST_WRAPPER:-} "$daxkmemd_bin" "$@"; }
if [ ! -d /sys/devices/system/node ]; then echo "SKIP: no /sys/devices/system/node"; exit 77; fi
if ! command -v numactl >/dev/null; then echo "SKIP: numactl is not installed"; exit 77; fi
fail=0 pass=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
ok() { pass=$((pass + 1)); }
bad() { echo "FAIL: $*"; fail=$((fail + 1)); }

numactl --hardware >"$tmp/numactl.txt" || { echo "numactl --hardware failed"; exit 1; }
daxkmemd --print-topology --json --config /dev/null >"$tmp/map.json" || bad "daxkmemd exit status $?"
cat "$tmp/numactl.txt"

# numactl lists only nodes with memory; we list every online node.
nodes=$(sed -n 's/^available: [0-9]* nodes (\(.*\))$/\1/p' "$tmp/numactl.txt")
ours=$(jq -r '[.nodes[] | select(.mem_total > 0) | .id] | map(tostring) | join(",")' "$tmp/map.json")
expanded=$(echo "$nodes" | tr ',' '\n' | awk -F- '{ if (NF == 2) for (i = $1; i <= $2; i++) print i; else print $1 }' | paste -sd,)
[ "$ours" = "$expanded" ] && ok || bad "nodes: numactl says $expanded, we say $ours"

for id in $(echo "$expanded" | tr ',' ' '); do
	cpus=$(sed -n "s/^node $id cpus: *//p" "$tmp/numactl.txt" | xargs)
	ourcpus=$(jq -r ".nodes[] | select(.id == $id) | .cpus | map(tostring) | join(\" \")" "$tmp/map.json")
	[ "$cpus" = "$ourcpus" ] && ok || bad "node $id cpus: numactl '$cpus', ours '$ourcpus'"
	size=$(sed -n "s/^node $id size: \([0-9]*\) MB$/\1/p" "$tmp/numactl.txt")
	oursize=$(jq -r ".nodes[] | select(.id == $id) | .mem_total / 1048576 | floor" "$tmp/map.json")
	[ "$size" = "$oursize" ] && ok || bad "node $id size: numactl $size MB, ours $oursize MB"
	free=$(sed -n "s/^node $id free: \([0-9]*\) MB$/\1/p" "$tmp/numactl.txt")
	ourfree=$(jq -r ".nodes[] | select(.id == $id) | .mem_free / 1048576 | floor" "$tmp/map.json")
	# free memory moves between the two reads: allow 5 % of the node
	diff=$((free > ourfree ? free - ourfree : ourfree - free))
	[ "$diff" -le $((size / 20 + 16)) ] && ok || bad "node $id free: numactl $free MB, ours $ourfree MB"
	row=$(sed -n '/^node distances:/,$p' "$tmp/numactl.txt" | sed -n "s/^ *$id: *//p" | xargs)
	ourrow=$(jq -r "[.nodes[] | select(.mem_total > 0) | .id] as \$ids | .nodes[] | select(.id == $id) | .distances as \$d | [\$ids[] | \$d[tostring]] | map(tostring) | join(\" \")" "$tmp/map.json")
	[ "$row" = "$ourrow" ] && ok || bad "node $id distances: numactl '$row', ours '$ourrow'"
done
# the text form reads the same machine without complaint
daxkmemd --print-topology --config /dev/null >"$tmp/map.txt" || bad "text form exit status $?"
grep -q '^Placement by CPU node' "$tmp/map.txt" && ok || bad "text form has no placement table"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
