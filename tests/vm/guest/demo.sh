#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# What tools/run-demo shows on a machine without a kmem node: the seed's
# machine (CPU nodes 0 and 1, NVDIMMs on memory-only nodes 2 and 3) with
# daxkmemd started as a system would start it, reconfiguring the devdax
# devices itself, and clients on each CPU node.
. /usr/lib/dkm-vm/lib.sh

export DAXKMEM_SOCKET=$DKM_SOCKET
show() { echo; echo "== $*"; }

show "guest: $(uname -r), $(nproc) CPUs; the NVDIMMs are devdax devices:"
daxctl list | jq -c '.[] | {chardev, size, target_node, mode}'
daemon_config "socket_group =" "reconfigure = all" "online = movable"
daemon_start || { daemon_log; bail "daxkmemd does not start"; }
show "daxkmemd --config (reconfigure = all): its log"
sed 's/^/  /' "$DKM_DAEMON_LOG"
show "daxkmemctl devices"
daxkmemctl devices
show "daxkmemctl status"
daxkmemctl status
for cpu in 0 1; do
	node=$((cpu + 2))
	show "region-demo on CPU $cpu: one region of each kind"
	rc=0
	taskset -c $cpu region-demo "$DKM_SOCKET" >"$DKM_RUN/region-$cpu.out" || rc=$?
	cat "$DKM_RUN/region-$cpu.out"
	expect "region-demo on CPU $cpu exits 0" 0 echo $rc
	for kind in KMEM KMEM_ALL KMEM_PREFERRED; do
		check "CPU $cpu's $kind region: all 16384 pages on node $node" sh -c "
			grep -EA1 '^  $kind +region' $DKM_RUN/region-$cpu.out | grep -q '^    16384 of 16384 pages on node $node '"
	done
	show "alloc-demo on CPU $cpu: blocks through libdaxkmem-client"
	rc=0
	taskset -c $cpu alloc-demo >"$DKM_RUN/alloc-$cpu.out" || rc=$?
	cat "$DKM_RUN/alloc-$cpu.out"
	expect "alloc-demo on CPU $cpu exits 0" 0 echo $rc
	for kind in KMEM KMEM_ALL KMEM_PREFERRED; do
		check "CPU $cpu's $kind blocks: all 3 on node $node" sh -c "
			[ \"\$(grep -c '^  $kind ' $DKM_RUN/alloc-$cpu.out)\" = 3 ] &&
			[ \"\$(grep -Ec '^  $kind +[0-9]+ bytes at [^ ]+: node $node, kind $kind,' $DKM_RUN/alloc-$cpu.out)\" = 3 ]"
	done
done
echo
check "both devices were brought to system-ram by the daemon" sh -c "
	daxkmemctl devices --json | jq -e '[.devices[] | select(.mode == \"system-ram\")] | length == 2'"
daemon_stop || failed "daxkmemd stopped cleanly"
finish
