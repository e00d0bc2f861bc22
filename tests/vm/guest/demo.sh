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
	show "region-demo on CPU $cpu: one region of each kind"
	taskset -c $cpu region-demo "$DKM_SOCKET" | tee "$DKM_RUN/region-$cpu.out"
	show "alloc-demo on CPU $cpu: blocks through libdaxkmem-client"
	taskset -c $cpu alloc-demo | tee "$DKM_RUN/alloc-$cpu.out"
done
echo
check "both devices were brought to system-ram by the daemon" sh -c "
	daxkmemctl devices --json | jq -e '[.devices[] | select(.mode == \"system-ram\")] | length == 2'"
check "CPU 0's KMEM blocks are on node 2" grep -q 'KMEM .*node 2' "$DKM_RUN/alloc-0.out"
check "CPU 1's KMEM blocks are on node 3" grep -q 'KMEM .*node 3' "$DKM_RUN/alloc-1.out"
daemon_stop || failed "daxkmemd stopped cleanly"
finish
