#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# daxkmemd --print-topology on the fixtures: what a user reads, text and JSON.
set -u
daxkmemd_bin=$1 fixtures=$2
daxkmemd() { ${DKM_TEST_WRAPPER:-} "$daxkmemd_bin" "$@"; }
fail=0 pass=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

ok() { pass=$((pass + 1)); }
bad() { echo "FAIL: $*"; fail=$((fail + 1)); }
expect_line() { # FILE REGEX WHAT
	if grep -Eq -- "$2" "$1"; then ok; else bad "$3: no line matching /$2/ in:"; cat "$1"; fi
}
expect_json() { # FILE JQ-EXPR EXPECTED WHAT
	local got
	got=$(jq -c "$2" "$1" 2>&1)
	if [ "$got" = "$3" ]; then ok; else bad "$4: $2 gave $got, expected $3"; fi
}

daxkmemd --print-topology --sysfs-root "$fixtures/seed" --config /dev/null >"$tmp/seed.txt" 2>&1 \
	|| bad "seed: exit status $?"
expect_line "$tmp/seed.txt" '^ +0 +dram +0 +458\.0 MiB +401\.0 MiB +4 +-$' "seed node 0 row"
expect_line "$tmp/seed.txt" '^ +2 +kmem +- +896\.0 MiB +890\.0 MiB +22 +dax0\.0$' "seed node 2 row"
expect_line "$tmp/seed.txt" '^ +0 +2 +2,3 +2 then 0,3,1$' "seed placement from node 0"
expect_line "$tmp/seed.txt" '^ +1 +3 +3,2 +3 then 1,2,0$' "seed placement from node 1"
expect_line "$tmp/seed.txt" '^ +2 +17 +28 +10 +28$' "seed distance row of node 2"
expect_line "$tmp/seed.txt" '^ +dax0\.0 +system-ram +1006\.0 MiB +2 +yes +7/7$' "seed dax0.0"
expect_line "$tmp/seed.txt" '^ +2 +0 +170 +320 +6144 +2048$' "seed HMAT of node 2"
if grep -q Problems "$tmp/seed.txt"; then bad "seed reports problems"; else ok; fi

daxkmemd --print-topology --json --sysfs-root "$fixtures/seed" --config /dev/null >"$tmp/seed.json" \
	|| bad "seed json: exit status $?"
expect_json "$tmp/seed.json" '.format_version' '1' "json version"
expect_json "$tmp/seed.json" '[.nodes[] | .kind]' '["dram","dram","kmem","kmem"]' "json kinds"
expect_json "$tmp/seed.json" '.nodes[2].distances' '{"0":17,"1":28,"2":10,"3":28}' "json distances"
expect_json "$tmp/seed.json" '.nodes[2].hmat.initiators' '[0]' "json hmat"
expect_json "$tmp/seed.json" '.nodes[0].cpus' '[0]' "json cpus"
expect_json "$tmp/seed.json" '.nodes[3].mem_total' '939524096' "json mem_total"
expect_json "$tmp/seed.json" '.nodes[3].memory_tier' '22' "json tier"
expect_json "$tmp/seed.json" '.dax_devices[1]' \
	'{"name":"dax1.0","mode":"system-ram","driver":"kmem","size":1054867456,"target_node":3,"movable":true,"memory_blocks":7,"online_blocks":7}' "json dax"
expect_json "$tmp/seed.json" '.placement[0].kmem.nodes' '[2]' "json KMEM from 0"
expect_json "$tmp/seed.json" '.placement[0].kmem_all.nodes' '[2,3]' "json KMEM_ALL from 0"
expect_json "$tmp/seed.json" '.placement[0].kmem_preferred' '{"status":"ok","nodes":[2,0,3,1],"preferred":2}' "json PREFERRED from 0"
expect_json "$tmp/seed.json" '.problems' '[]' "json problems"

daxkmemd --print-topology --sysfs-root "$fixtures/tie" --config /dev/null >"$tmp/tie.txt" 2>&1 \
	|| bad "tie: exit status $?"
expect_line "$tmp/tie.txt" '^ +0 +1,2 \(tie at 17: bound to all\) +1,2 +refused: tie, see below$' "tie row"
expect_line "$tmp/tie.txt" 'CPU node 0: KMEM_PREFERRED is not possible for CPU node 0: kmem nodes 1,2 are equally close \(distance 17\)' "tie error"
daxkmemd --print-topology --json --sysfs-root "$fixtures/tie" --config /dev/null >"$tmp/tie.json"
expect_json "$tmp/tie.json" '.placement[0].kmem_preferred.status' '"tie"' "json tie"

daxkmemd --print-topology --sysfs-root "$fixtures/no-kmem" --config /dev/null >"$tmp/nokmem.txt" 2>&1 \
	|| bad "no-kmem: exit status $?"
expect_line "$tmp/nokmem.txt" '^ +0 +no KMEM node +no KMEM node +no KMEM node$' "no-kmem row"
expect_line "$tmp/nokmem.txt" '^ +1 +memory-only +- ' "memory-only node"

# kmem_nodes= in a config file overrides detection; a bad one is refused by name.
printf 'kmem_nodes = 1\n' >"$tmp/ok.conf"
daxkmemd --print-topology --sysfs-root "$fixtures/no-kmem" --config "$tmp/ok.conf" >"$tmp/ov.txt" 2>&1 \
	|| bad "override: exit status $?"
expect_line "$tmp/ov.txt" 'kmem nodes named by kmem_nodes=' "override heading"
expect_line "$tmp/ov.txt" '^ +0 +1 +1 +1 then 0$' "override placement"
printf '# nodes\nkmem_nodes = 1,9\n' >"$tmp/bad.conf"
if daxkmemd --print-topology --sysfs-root "$fixtures/no-kmem" --config "$tmp/bad.conf" >"$tmp/badov.txt" 2>&1; then
	bad "override naming node 9 was accepted"
else ok; fi
expect_line "$tmp/badov.txt" '^daxkmemd: kmem_nodes: node 9 is not online \(online nodes: 0-1\)$' "override error"
printf 'kmem_nodes = 1\nsockets = /x\n' >"$tmp/unknown.conf"
daxkmemd --print-topology --sysfs-root "$fixtures/no-kmem" --config "$tmp/unknown.conf" >"$tmp/unk.txt" 2>&1 && bad "unknown key accepted"
expect_line "$tmp/unk.txt" "^daxkmemd: $tmp/unknown.conf:2: unknown key \"sockets\"$" "config line error"

# Bad input: problems listed, exit 0, never a crash.
daxkmemd --print-topology --sysfs-root "$fixtures/bad-distance" --config /dev/null >"$tmp/bd.txt" 2>&1 \
	|| bad "bad-distance: exit status $?"
expect_line "$tmp/bd.txt" '^Problems reading the map \(2\)$' "bad-distance problems"
expect_line "$tmp/bd.txt" '^ +0 +unknown distance' "bad-distance placement"
for f in bad-meminfo missing-node-dir missing-files; do
	daxkmemd --print-topology --sysfs-root "$fixtures/$f" --config /dev/null >"$tmp/$f.txt" 2>&1 \
		|| bad "$f: exit status $?"
	expect_line "$tmp/$f.txt" '^Problems reading the map' "$f problems"
	daxkmemd --print-topology --json --sysfs-root "$fixtures/$f" --config /dev/null >"$tmp/$f.json" \
		|| bad "$f json: exit status $?"
	if jq -e '.problems | length > 0' "$tmp/$f.json" >/dev/null; then ok; else bad "$f json problems"; fi
done
if daxkmemd --print-topology --sysfs-root "$tmp/nothing" --config /dev/null >"$tmp/none.txt" 2>&1; then
	bad "missing root accepted"
else ok; fi
expect_line "$tmp/none.txt" "^daxkmemd: $tmp/nothing/devices/system/node: no NUMA node information$" "missing root"
if daxkmemd --bogus >/dev/null 2>&1; then bad "unknown option accepted"; else ok; fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
