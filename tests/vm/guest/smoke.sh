#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# smoke: the harness works. The machine has the variant's topology, the
# NVDIMMs are devdax devices; daxctl makes them system-ram (the daemon will
# do it itself later); daxkmemd sees nodes 2 and 3 as kmem nodes, and a
# client on CPU 0 gets memory on node 2, on CPU 1 on node 3.
# shellcheck source=lib.sh
. /usr/lib/dkm-vm/lib.sh

diag "variant $DKM_VARIANT, auto-online policy $(auto_online), kernel $(uname -r)"

# --- The dax devices (nodes 2 and 3 come online with their memory) ---

if variant_is autoonline; then
	expect "the kernel auto-onlines hot-plugged memory as movable" online_movable auto_online
else
	expect "the kernel leaves hot-plugged memory offline" offline auto_online
fi

expect "nodes 0-3 are possible" "0-3" cat /sys/devices/system/node/possible
expect "nodes 0-1 are online before the dax devices are system-ram" "0-1" \
	cat /sys/devices/system/node/online
expect "one dax device per NVDIMM" "$DKM_NVDIMMS" sh -c 'ls /sys/bus/dax/devices | wc -l'
for d in $(dax_devices); do
	expect "$d is devdax" devdax dax_mode "$d"
done
expect "dax devices target nodes 2 and 3" "2 3" \
	sh -c 'cat /sys/bus/dax/devices/*/target_node | sort -n | tr "\n" " "'
check "daxctl lists the devices in devdax mode" \
	sh -c "daxctl list | jq -e 'length == $DKM_NVDIMMS and all(.[]; .mode == \"devdax\")'"

# The system-ram conversion, by hand until the daemon does it (reconfigure=).
if variant_is normal; then
	check "daxctl reconfigure-device -m system-ram --no-movable all" dax_to_system_ram --no-movable all
else
	check "daxctl reconfigure-device -m system-ram all" dax_to_system_ram all
fi
for d in $(dax_devices); do
	expect "$d is system-ram" system-ram dax_mode "$d"
done
for n in $DKM_PMEM_NODES; do
	check "node $n has 896 MiB" test "$(node_mem_mib "$n")" -eq 896
	expect "node $n's memory is in zone $(expected_zone)" "$(expected_zone)" node_zones "$n"
done

# --- The machine, now with nodes 2 and 3 online --------------------------------

expect "nodes 0-3 are online" "0-3" cat /sys/devices/system/node/online
for n in $DKM_CPU_NODES; do
	expect "node $n has CPU $n" "$n" node_cpulist "$n"
done
for n in $DKM_PMEM_NODES; do
	expect "node $n has no CPUs" "" node_cpulist "$n"
done
for n in $DKM_CPU_NODES $DKM_PMEM_NODES; do
	expect "distances of node $n" "$(expected_distances "$n")" node_distances "$n"
done

if has_hmat; then
	expect "HMAT: node 2's best initiator is node 0" "0" hmat_initiators 2
	# the SRAT names one initiator per memory-only node (-numa initiator=),
	# and the kernel then lists only it, even where node 0 is as close (tied)
	expect "HMAT: node 3's best initiator is node 1" "1" hmat_initiators 3
	for n in $DKM_PMEM_NODES; do
		expect "HMAT: read latency of node $n" 170 hmat_attr "$n" read_latency
		expect "HMAT: write latency of node $n" 320 hmat_attr "$n" write_latency
		expect "HMAT: read bandwidth of node $n" 6144 hmat_attr "$n" read_bandwidth
		expect "HMAT: write bandwidth of node $n" 2048 hmat_attr "$n" write_bandwidth
	done
	expect "HMAT: node 0's local read latency" 10 hmat_attr 0 read_latency
else
	for n in $DKM_CPU_NODES $DKM_PMEM_NODES; do
		check "no HMAT attributes for node $n" test ! -e "$(node_dir "$n")/access0"
	done
fi

# --- The daemon's node map ------------------------------------------------------------

topo=$DKM_RUN/topology.json
check "daxkmemd --print-topology --json" \
	sh -c "daxkmemd --print-topology --json --config /dev/null >$topo"
check "print-topology: nodes 0 and 1 are dram" \
	jq_check "$topo" '[.nodes[] | select(.id < 2) | .kind] == ["dram", "dram"]' '.nodes'
check "print-topology: nodes 2 and 3 are kmem" \
	jq_check "$topo" '[.nodes[] | select(.id >= 2) | .kind] == ["kmem", "kmem"]' '.nodes'
check "print-topology: kmem nodes found from the dax devices" jq_check "$topo" '.kmem_source == "dax"'
for c in $DKM_CPU_NODES; do
	check "print-topology: KMEM for CPU node $c is $(expected_kmem "$c")" \
		jq_check "$topo" "(.placement[] | select(.cpu_node == $c) | .kmem.nodes) == $(expected_kmem "$c")" \
		'.placement'
done
if variant_is tied; then
	check "print-topology: KMEM_PREFERRED refused for CPU node 0 (tie)" \
		jq_check "$topo" '(.placement[] | select(.cpu_node == 0) | .kmem_preferred.status) == "tie"' '.placement'
else
	check "print-topology: KMEM_ALL for CPU node 0 is 2, 3" \
		jq_check "$topo" '(.placement[] | select(.cpu_node == 0) | .kmem_all.nodes) == [2, 3]' '.placement'
	check "print-topology: KMEM_PREFERRED for CPU node 0 is 2, 0, 3, 1" \
		jq_check "$topo" '(.placement[] | select(.cpu_node == 0) | .kmem_preferred.nodes) == [2, 0, 3, 1]' '.placement'
fi
if has_hmat; then
	check "print-topology: HMAT of node 2" \
		jq_check "$topo" '.nodes[2].hmat | .initiators == [0] and .read_latency_ns == 170 and .read_bandwidth_mbps == 6144' '.nodes[2]'
fi
check "print-topology: no problems" jq_check "$topo" '.problems == []' '.problems'

# --- The daemon and its clients --------------------------------------------------------

conf=("socket_group =")
variant_is normal && conf+=("online = normal")
daemon_config "${conf[@]}"
# shellcheck disable=SC2119 # no extra options
if daemon_start; then
	pass "daxkmemd serves $DKM_SOCKET"
else
	failed "daxkmemd serves $DKM_SOCKET"
	daemon_log
	bail "no daemon"
fi

status=$DKM_RUN/status.json
check "daxkmemctl status --json" sh -c "daxkmemctl status --json >$status"
check "status: nodes 2 and 3 are kmem" \
	jq_check "$status" '[.nodes[] | select(.kind == "kmem") | .id] == [2, 3]' '.nodes'

# Placement when the nodes have room: from CPU C every kind lands on node
# C+2, the closest kmem node; in the tied variant nodes 2 and 3 are equally
# close to CPU 0, so its KMEM_PREFERRED is refused (EINVAL) and its KMEM and
# KMEM_ALL are planned over nodes 2 then 3, node 2 first (daxkmemd(8)).
tie_msg='KMEM_PREFERRED is not possible for CPU node 0: kmem nodes 2,3 are equally close (distance 17)'
tied_cpu() { variant_is tied && [ "$1" = 0 ]; }
near_node() { echo $(($1 + 2)); }
kind_name() { case $1 in kmem) echo KMEM ;; all) echo KMEM_ALL ;; preferred) echo KMEM_PREFERRED ;; esac; }

# region-demo holds a 64 MiB region (16384 pages) of each kind, straight
# from the daemon; its output (get_mempolicy) and numa_maps say where.
# demo_checks CPU: what region-demo pinned to CPU got.
demo_checks() {
	local cpu=$1 name=demo$1 pid out node kind policy
	out=$DKM_RUN/$name.out
	pid=${HOLD_PID[$name]}
	node=$(near_node "$cpu")
	check "region-demo on CPU $cpu runs on node $cpu" grep -q "runs on CPU $cpu, node $cpu\$" "$out"
	for kind in KMEM KMEM_ALL KMEM_PREFERRED; do
		if [ $kind = KMEM_PREFERRED ] && tied_cpu "$cpu"; then
			check "CPU $cpu: KMEM_PREFERRED region refused: nodes 2 and 3 are equally close" \
				grep -qF "  KMEM_PREFERRED  refused: $tie_msg" "$out"
			check "CPU $cpu: no KMEM_PREFERRED memfd mapped" \
				sh -c "! grep ':KMEM_PREFERRED\\\\040' /proc/$pid/numa_maps"
			continue
		fi
		policy=BIND
		[ $kind != KMEM_PREFERRED ] || policy=PREFERRED
		check "CPU $cpu: $kind region: one range, policy $policy to node $node" \
			grep -Eq "^  $kind +region [0-9]+: [^,]*, policy $policy to node $node \\(1 range\\)" "$out"
		check "CPU $cpu: $kind region: 16384 of 16384 pages on node $node (get_mempolicy)" \
			sh -c "grep -EA1 '^  $kind +region' $out | grep -q '^    16384 of 16384 pages on node $node '"
		policy=bind
		[ $kind != KMEM_PREFERRED ] || policy=prefer
		expect "CPU $cpu: numa_maps of the $kind region: $policy:$node" "$policy:$node" \
			numa_maps_policy "$(grep ":$kind\\\\040" "/proc/$pid/numa_maps" || true)"
		expect "CPU $cpu: numa_maps of the $kind region: 16384 pages, on node $node" "$node:16384" \
			memfd_pages "$pid" $kind
	done
}
for cpu in $DKM_CPU_NODES; do
	if hold_start "demo$cpu" "$cpu" region-demo --hold "$DKM_SOCKET"; then
		pass "region-demo on CPU $cpu holds its regions"
		demo_checks "$cpu"
	else
		failed "region-demo on CPU $cpu holds its regions"
	fi
done
check "daxkmemctl status --json while region-demo holds" sh -c "daxkmemctl status --json >$status"
for n in $DKM_PMEM_NODES; do
	# CPU 0's regions on node 2, CPU 1's on node 3; tied: no PREFERRED from CPU 0
	regions=3
	variant_is tied && [ "$n" = 2 ] && regions=2
	check "status: $regions regions of 64 MiB granted on node $n" \
		jq_check "$status" ".nodes[] | select(.id == $n) | .granted == $regions * 67108864" '.nodes'
done
for cpu in $DKM_CPU_NODES; do
	rc=0
	hold_stop "demo$cpu" || rc=$?
	if tied_cpu "$cpu"; then
		expect "region-demo on CPU $cpu exits 1 (KMEM_PREFERRED refused)" 1 echo $rc
	else
		expect "region-demo on CPU $cpu releases and exits 0" 0 echo $rc
	fi
	[ $rc -le 1 ] || diag_file "$DKM_RUN/demo$cpu.out"
done
check "status: nothing granted after the clients left" \
	sh -c "daxkmemctl status --json | jq -e '.granted == 0'"

# The client library, as a memkind user calls it: alloc-demo asks
# daxkmem_check_available for each kind, then allocates 64, 4000 and 1 MiB
# bytes of it (DAXKMEM_LOG=1: the library says why on stderr).
for cpu in $DKM_CPU_NODES; do
	node=$(near_node "$cpu")
	out=$DKM_RUN/alloc$cpu.out
	rc=0
	DAXKMEM_LOG=1 taskset -c "$cpu" alloc-demo >"$out" 2>"$DKM_RUN/alloc$cpu.err" || rc=$?
	for kind in KMEM KMEM_ALL KMEM_PREFERRED; do
		if [ $kind = KMEM_PREFERRED ] && tied_cpu "$cpu"; then
			check "alloc-demo on CPU $cpu: daxkmem_check_available(KMEM_PREFERRED) is EINVAL" \
				grep -qx '  KMEM_PREFERRED  not available: Invalid argument' "$out"
			check "alloc-demo on CPU $cpu: the library says nodes 2 and 3 are equally close" \
				grep -qF "$tie_msg" "$DKM_RUN/alloc$cpu.err"
		else
			check "alloc-demo on CPU $cpu: 3 $kind blocks, each on node $node" sh -c "
				grep '^  $kind ' $out; [ \"\$(grep -c '^  $kind ' $out)\" = 3 ] &&
				[ \"\$(grep -Ec '^  $kind +[0-9]+ bytes at 0x[0-9a-f]+: node $node, kind $kind, usable' $out)\" = 3 ]"
		fi
	done
	want=0
	tied_cpu "$cpu" && want=1
	expect "alloc-demo on CPU $cpu exits $want" $want echo $rc
	[ $rc = $want ] || { diag_file "$out"; diag_file "$DKM_RUN/alloc$cpu.err"; }
done

# The library's blocks, held: 64 blocks of 64 KiB of each kind from each CPU,
# where daxkmem_node_of and numa_maps see them.
for cpu in $DKM_CPU_NODES; do
	node=$(near_node "$cpu")
	for kind in kmem all preferred; do
		K=$(kind_name $kind)
		if [ $kind = preferred ] && tied_cpu "$cpu"; then
			for what in "malloc preferred 64K 1" "region preferred 64M"; do
				check "dkm-probe on CPU $cpu: $what refused with EINVAL: nodes 2 and 3 are equally close" sh -c "
					out=\$(DAXKMEM_LOG=1 dkm-probe --cpu $cpu $what 2>&1); echo \"\$out\"
					echo \"\$out\" | grep -q '^error EINVAL: ' && echo \"\$out\" | grep -qF '$tie_msg'"
			done
			continue
		fi
		name=probe$cpu$kind
		if hold_start "$name" "$cpu" dkm-probe --hold malloc $kind 64K 64; then
			check "dkm-probe on CPU $cpu: 64 $K blocks of 64 KiB on node $node (daxkmem_node_of)" \
				grep -Eq "^ok .* nodes=$node:4 kind=$kind\$" "$DKM_RUN/$name.out"
			check "dkm-probe on CPU $cpu: numa_maps: its $K pages on node $node" \
				pages_are "${HOLD_PID[$name]}" "$K" "$node" 1024 2048
			hold_stop "$name" || failed "dkm-probe on CPU $cpu ($K) exits 0"
		else
			failed "dkm-probe on CPU $cpu holds 64 $K blocks of 64 KiB"
		fi
	done
done

if daemon_stop; then
	pass "daxkmemd stops cleanly on SIGTERM"
else
	failed "daxkmemd stops cleanly on SIGTERM"
fi
! any_failed || daemon_log
finish
