#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# noise: how much the kmem nodes' free-memory figures move on their own, and
# how exactly they follow a region that is held and given back; the figures
# behind the margins of kmem.sh. Not in the meson suites: run it by hand,
#   tests/vm/run-vm.sh --build-dir build --variant seed --suite noise
# (and normal, autoonline), and read the "# noise:" lines. Every figure is
# in MiB (MemFree of /sys/devices/system/node/nodeN/meminfo, rounded down).
. /usr/lib/dkm-vm/lib.sh

zone=movable
variant_is normal && zone=normal
cycles=${DKM_CYCLES:-5}
HOLD_TIMEOUT=180 # a 600 MiB region under TCG on a loaded host
node_free_mib() { awk '$3 == "MemFree:" { print int($4 / 1024) }' "$(node_dir "$1")/meminfo"; }
node_granted() { daxkmemctl status --json | jq -e ".nodes[] | select(.id == $1) | .granted"; }
granted_is() { [ "$(node_granted "$1")" = "$2" ]; }
# series NODE SECONDS: readings every 0.25 s; prints "min max first last".
series() {
	local n=$1 end v min='' max='' first='' last=''
	end=$(($(ms) + $2 * 1000))
	while [ "$(ms)" -lt "$end" ]; do
		v=$(node_free_mib "$n")
		first=${first:-$v} last=$v
		[ -n "$min" ] && [ "$v" -ge "$min" ] || min=$v
		[ -n "$max" ] && [ "$v" -le "$max" ] || max=$v
		sleep 0.25
	done
	echo "$min $max $first $last"
}
noise() { echo "# noise: $DKM_VARIANT: $*"; }
# milliseconds since boot (busybox date has no %N)
ms() { awk '{ printf "%d\n", $1 * 1000 }' /proc/uptime; }

daemon_config "socket_group =" "reconfigure = all" "online = $zone" "refresh_interval_ms = 60000"
daemon_start || bail "daxkmemd does not start"
pass "daxkmemd serves"

# 1. Idle: nothing granted, nothing running.
for n in 2 3; do
	read -r min max first last < <(series $n 10)
	noise "idle node $n, 10 s: min $min max $max (spread $((max - min))), first $first last $last"
done

# 2. Right after big regions are released (kmem.sh section 4 -> 5).
hold_start big 0 dkm-probe --hold region kmem 600M || bail "no big region"
hold_start big3 1 dkm-probe --hold region kmem 300M || bail "no big region on node 3"
hold_stop big
hold_stop big3
t0=$(ms)
wait_for 10 granted_is 3 0 || true
noise "granted on node 3 back to 0 after $(($(ms) - t0)) ms"
for s in 1 2 3; do
	read -r min max first last < <(series 3 1)
	noise "after the release, second $s, node 3: min $min max $max first $first last $last"
done

# 3. Hold 400 MiB on node 3 and give it back, released and killed.
for i in $(seq "$cycles"); do
	for how in release kill; do
		read -r min max _ before < <(series 3 2)
		hold_start c 1 dkm-probe --hold region kmem 400M || bail "no 400 MiB region"
		held0=$(node_free_mib 3)
		read -r hmin hmax _ _ < <(series 3 1)
		if [ $how = kill ]; then
			kill -KILL "${HOLD_PID[c]}"
			hold_stop c || true
		else
			hold_stop c
		fi
		t0=$(ms)
		after0=$(node_free_mib 3)
		wait_for 10 granted_is 3 0 || true
		dt=$(($(ms) - t0))
		read -r amin amax _ alast < <(series 3 3)
		noise "cycle $i $how: before $before (2 s spread $((max - min))); held $held0, then $hmin..$hmax: drop $((before - held0)) = 400 + $((before - held0 - 400)); after: $after0 at once, grant gone after $dt ms, then $amin..$amax, last $alast: back to before $((alast - before)), lowest $((amin - before))"
	done
done
# 4. What kmem.sh's section 4 meets: node 2's free memory, settled, and
# then right after each of a few 128 MiB regions came and went on it.
read -r min max _ settled < <(series 2 3)
noise "node 2 before the 128 MiB regions: $settled (3 s spread $((max - min)))"
for i in 1 2 3 4; do
	hold_start r 0 dkm-probe --hold region kmem 128M || bail "no 128 MiB region"
	hold_stop r
	wait_for 10 granted_is 2 0 || true
	v=$(node_free_mib 2)
	noise "node 2 after 128 MiB region $i: $v, off by $((v - settled))"
done
daemon_stop || failed "daxkmemd stops"
finish
