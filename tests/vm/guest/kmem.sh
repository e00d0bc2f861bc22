#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# The daemon on the real kernel path: it reconfigures the devdax devices
# itself (reconfigure = all), brokers nodes 2 and 3 by kind and capacity,
# gets memory back from released and killed clients, gives a device back to
# devdax only when nothing is granted on its node, and follows kernel events
# (the refresh timer is set to a minute, so only events can explain a
# prompt change).
. /usr/lib/dkm-vm/lib.sh

MIB=1048576
zone=movable
variant_is normal && zone=normal
movable=true
[ $zone = movable ] || movable=false
# Free memory comes back within TOL MiB. In the normal zone the kernel's own
# allocations (page cache, slab) use the kmem nodes too and come and go, so
# the figure is noisier there.
tol=8
[ $zone = movable ] || tol=32
export DAXKMEM_SOCKET=$DKM_SOCKET

devices_json() { daxkmemctl devices --json >"$DKM_RUN/devices.json"; }
status_json() { daxkmemctl status --json >"$DKM_RUN/status.json"; }
node_free_mib() { awk '$3 == "MemFree:" { print int($4 / 1024) }' "$(node_dir "$1")/meminfo"; }
node_granted() { daxkmemctl status --json | jq -e ".nodes[] | select(.id == $1) | .granted"; }
granted_is() { [ "$(node_granted "$1")" = "$2" ]; }
free_at_least() { [ "$(node_free_mib "$1")" -ge "$2" ]; }
dev_on_node() { daxkmemctl devices --json | jq -r ".devices[] | select(.node == $1) | .name"; }
no_oom() {
	if dmesg | grep -Ei 'out of memory|oom-kill|invoked oom-killer'; then
		die "the OOM killer ran"
	fi
}
# probe WANT-REGEX ARGS...: dkm-probe's output line matches
probe() {
	local want=$1 out
	shift
	out=$(dkm-probe "$@" 2>&1) || true
	echo "dkm-probe $*: $out"
	printf '%s\n' "$out" | grep -Eq "$want" || die "want /$want/"
}

# --- 1. Nothing is touched unless the configuration selects it -----------------------
daemon_config "socket_group =" "reconfigure = none" "online = $zone" "refresh_interval_ms = 60000"
daemon_start || bail "daxkmemd does not start"
check "devices: both devdax, none selected" sh -c "
	daxkmemctl devices --json >$DKM_RUN/d0.json &&
	jq -e '.reconfigurable and ([.devices[] | select(.mode == \"devdax\" and .selected == false)] | length == 2)' $DKM_RUN/d0.json"
check "reconfigure with no device named and reconfigure = none: refused" sh -c "
	! daxkmemctl reconfigure 2>$DKM_RUN/err && grep -q 'selects none' $DKM_RUN/err"
check "reconfigure --dry-run says what it would do" sh -c "
	daxkmemctl reconfigure --dry-run $(dax_devices | tr '\n' ' ') | tee /dev/stderr |
	grep -c 'would convert devdax -> system-ram (online $zone' | grep -qx 2"
check "reconfigure --dry-run changed nothing" sh -c "
	[ \"\$(daxkmemctl devices --json | jq '[.devices[] | select(.mode == \"devdax\")] | length')\" = 2 ]"
check "reconfigure dax9.9: no such device, nothing changed" sh -c "
	! daxkmemctl reconfigure dax9.9 2>$DKM_RUN/err && grep -q 'nothing was changed' $DKM_RUN/err"
daemon_stop || failed "daxkmemd stopped cleanly"

# --- 2. reconfigure = all at start-up --------------------------------------------------
daemon_config "socket_group =" "reconfigure = all" "online = $zone" "refresh_interval_ms = 60000"
daemon_start || { daemon_log; bail "daxkmemd does not start with reconfigure = all"; }
check "daemon log: both devices converted" sh -c "grep -c 'converting devdax -> system-ram' $DKM_DAEMON_LOG | grep -qx 2"
if variant_is autoonline; then
	check "daemon log: the kernel's auto-online reported" grep -q 'the kernel onlined 7 blocks itself' "$DKM_DAEMON_LOG"
fi
check "daxkmemctl devices --json" devices_json
check "devices: both system-ram, 7 of 7 blocks online, $zone, selected" jq_check "$DKM_RUN/devices.json" \
	"[.devices[] | select(.mode == \"system-ram\" and .blocks == 7 and .online_blocks == 7 and .movable == $movable and .selected)] | length == 2" '.devices'
check "devices: on nodes 2 and 3" jq_check "$DKM_RUN/devices.json" '[.devices[].node] | sort == [2, 3]' '.devices'
check "daxkmemctl devices (table)" sh -c "daxkmemctl devices | tee /dev/stderr | grep -c 'system-ram .* 7/7  $zone' | grep -qx 2"
check "daxkmemctl status --json" status_json
check "status: nodes 2 and 3 are kmem, 896 MiB each" jq_check "$DKM_RUN/status.json" \
	'[.nodes[] | select(.kind == "kmem") | .id] == [2, 3] and ([.nodes[] | select(.kind == "kmem") | .mem_total | select(. > 890 * 1048576 and . <= 896 * 1048576)] | length == 2)' '.nodes'
check "status: distances of the seed" jq_check "$DKM_RUN/status.json" \
	'[.nodes[] | [.distances["0"], .distances["1"], .distances["2"], .distances["3"]]] == [[10,21,17,28],[21,10,28,17],[17,28,10,28],[28,17,28,10]]' '.nodes'
check "a second reconfigure has nothing to do" sh -c "daxkmemctl reconfigure | tee /dev/stderr | grep -c 'nothing to do' | grep -qx 2"
uuid0=$(daxkmemctl devices --json | jq -r '.devices[] | select(.name == "dax0.0") | .uuid')
check "devices: dax0.0 has its namespace's uuid" sh -c "ndctl list -N | jq -e --arg u '$uuid0' 'map(.uuid) | index(\$u) != null'"
check "reconfigure selects a device by its namespace uuid" sh -c "
	daxkmemctl reconfigure --dry-run $uuid0 | tee /dev/stderr | grep -q '^dax0.0: nothing to do'"

# --- 3. Placement by CPU node, seen from the client and from outside -------------------
check "CPU 0: KMEM blocks on node 2" probe '^ok .* nodes=2:[0-9]+ kind=kmem$' --cpu 0 malloc kmem 4K 256
check "CPU 1: KMEM blocks on node 3" probe '^ok .* nodes=3:[0-9]+ kind=kmem$' --cpu 1 malloc kmem 4K 256
check "CPU 0: KMEM_ALL blocks on node 2" probe '^ok .* nodes=2:[0-9]+ kind=all$' --cpu 0 malloc all 64K 64
check "CPU 1: KMEM_PREFERRED blocks on node 3" probe '^ok .* nodes=3:[0-9]+ kind=preferred$' --cpu 1 malloc preferred 1K 64
if hold_start cpu1 1 dkm-probe --hold malloc kmem 1M 32; then
	pid=${HOLD_PID[cpu1]}
	check "numa_maps of the CPU 1 client: its memfd mappings are bound to node 3, pages on node 3 only" sh -c "
		grep memfd: /proc/$pid/numa_maps | tee /dev/stderr > $DKM_RUN/nm &&
		[ -s $DKM_RUN/nm ] && ! grep -v ' bind:3 ' $DKM_RUN/nm && grep -q ' N3=' $DKM_RUN/nm &&
		! grep -E ' N[0-2]=' $DKM_RUN/nm"
	hold_stop cpu1 || failed "the CPU 1 client exited cleanly"
else
	failed "a client on CPU 1 holds 32 blocks of 1 MiB"
fi

# --- 4. Capacity: ALL spills, KMEM refuses, PREFERRED falls back to DRAM ----------------
free2=$(node_free_mib 2)
big=$((free2 - 250))
diag "node 2: $free2 MiB free; a client on CPU 0 holds $big MiB of it"
if hold_start big 0 dkm-probe --hold region kmem "${big}M"; then
	check "the big region is on node 2" grep -Eq "^ok .* nodes=2:$big kind=kmem$" "$DKM_RUN/big.out"
	check "CPU 0: KMEM 200 MiB refused with ENOMEM (node 2 is full)" probe '^error ENOMEM' --cpu 0 region kmem 200M
	check "CPU 0: KMEM_ALL 200 MiB spills from node 2 to node 3" probe '^ok .* nodes=2:[0-9]+,3:[0-9]+ kind=all$' --cpu 0 region all 200M
	check "CPU 0: KMEM_PREFERRED 200 MiB falls back to DRAM node 0" probe '^ok .* nodes=0:[0-9]+,2:[0-9]+ kind=preferred$' --cpu 0 region preferred 200M
	hold_stop big || failed "the big client exited cleanly"
else
	failed "a client on CPU 0 holds $big MiB of node 2"
	diag_file "$DKM_RUN/big.out"
fi
check "more than a node holds: KMEM 2 GiB refused" probe '^error ENOMEM' --cpu 0 region kmem 2G
check "more than all kmem nodes hold: KMEM_ALL 3 GiB refused" probe '^error ENOMEM' --cpu 1 region all 3G
check "no process was killed by the OOM killer" no_oom

# --- 5. Memory comes back: release, and a killed client --------------------------------
# settle first: the regions of the section above are still being freed
check "nothing granted on node 3 before measuring" wait_for 10 granted_is 3 0
sleep 1
before=$(node_free_mib 3)
if hold_start rel 1 dkm-probe --hold region kmem 400M; then
	check "node 3 free dropped by 400 MiB while held" test "$(node_free_mib 3)" -le $((before - 400 + tol * 3))
	hold_stop rel || failed "the releasing client exited cleanly"
	check "released: node 3 free memory back within $tol MiB" wait_for 10 free_at_least 3 $((before - tol))
fi
if hold_start kill 1 dkm-probe --hold region kmem 400M; then
	check "node 3 granted 400 MiB" granted_is 3 $((400 * MIB))
	kill -KILL "${HOLD_PID[kill]}"
	hold_stop kill || true
	check "killed: nothing granted on node 3" wait_for 10 granted_is 3 0
	check "killed: node 3 free memory back within $tol MiB" wait_for 10 free_at_least 3 $((before - tol))
fi

# --- 6. Back to devdax, refused while a grant remains -----------------------------------
dev3=$(dev_on_node 3)
diag "node 3's device: $dev3"
if hold_start g3 1 dkm-probe --hold region kmem 64M; then
	check "devdax refused while node 3 has a grant" sh -c "
		! daxkmemctl reconfigure --mode devdax $dev3 2>$DKM_RUN/err; cat $DKM_RUN/err;
		grep -q 'node 3 has 64.0 MiB granted to clients' $DKM_RUN/err"
	check "still system-ram, 7 blocks online" sh -c "
		daxkmemctl devices --json | jq -e '.devices[] | select(.name == \"$dev3\") | .mode == \"system-ram\" and .online_blocks == 7'"
	hold_stop g3 || failed "the node 3 client exited cleanly"
fi
check "no grant left on node 3" wait_for 10 granted_is 3 0
check "devdax works once no grant remains" sh -c "daxkmemctl reconfigure --mode devdax $dev3 | tee /dev/stderr | grep -q 'now devdax'"
check "devices: $dev3 devdax" sh -c "
	daxkmemctl devices --json | jq -e '.devices[] | select(.name == \"$dev3\") | .mode == \"devdax\"'"
check "status: node 3 is no longer a kmem node" sh -c "
	daxkmemctl status --json | jq -e '[.nodes[] | select(.kind == \"kmem\") | .id] == [2]'"
check "CPU 1: KMEM now on node 2, the only kmem node" probe '^ok .* nodes=2:[0-9]+ kind=kmem$' --cpu 1 malloc kmem 4K 16

# --- 7. Kernel events: a change made behind the daemon's back shows at once -------------
opts=()
[ $zone = normal ] && opts=(--no-movable)
check "daxctl (not the daemon) brings $dev3 back to system-ram" dax_to_system_ram "${opts[@]}" "$dev3"
check "the daemon sees node 3 as kmem again within 3 s (events; the timer is 60 s)" wait_for 3 sh -c "
	daxkmemctl status --json | jq -e '[.nodes[] | select(.kind == \"kmem\") | .id] == [2, 3]'"
check "CPU 1: KMEM on node 3 again" probe '^ok .* nodes=3:[0-9]+ kind=kmem$' --cpu 1 malloc kmem 4K 16
check "no process was killed by the OOM killer" no_oom

if ! daemon_stop; then
	failed "daxkmemd stopped cleanly"
fi
any_failed && daemon_log
finish
