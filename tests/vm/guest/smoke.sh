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

# region-demo holds a region of each kind; its pages and numa_maps say where.
# demo_checks CPU: what region-demo pinned to CPU got.
demo_checks() {
	local cpu=$1 name=demo$1 pid out want line
	out=$DKM_RUN/$name.out
	pid=${HOLD_PID[$name]}
	want=$(expected_kmem "$cpu" | tr -d '[]')
	check "region-demo on CPU $cpu runs on node $cpu" grep -q "runs on CPU $cpu, node $cpu\$" "$out"
	if [ "$want" = "${want%,*}" ]; then
		check "CPU $cpu: KMEM region bound to node $want" \
			grep -q "KMEM .*policy BIND to node $want (1 range)" "$out"
		check "CPU $cpu: every KMEM page on node $want" \
			sh -c "grep -A1 '^  KMEM  ' $out | grep -q '16384 of 16384 pages on node $want'"
		line=$(grep ':KMEM\\040' "/proc/$pid/numa_maps" || true)
		expect "CPU $cpu: numa_maps of the KMEM region: bind:$want" "bind:$want" \
			numa_maps_policy "$line"
		expect "CPU $cpu: numa_maps of the KMEM region: 16384 pages on node $want" "$want:16384" \
			numa_maps_pages "$line"
		line=$(grep ':KMEM_PREFERRED\\040' "/proc/$pid/numa_maps" || true)
		expect "CPU $cpu: numa_maps of the KMEM_PREFERRED region: prefer:$want" "prefer:$want" \
			numa_maps_policy "$line"
		line=$(grep ':KMEM_ALL\\040' "/proc/$pid/numa_maps" || true)
		expect "CPU $cpu: numa_maps of the KMEM_ALL region: 16384 pages on node $want" "$want:16384" \
			numa_maps_pages "$line"
	else
		# two kmem nodes equally close: KMEM may use both (the broker binds
		# ranges of the region in turn), PREFERRED is refused
		line=$(grep ':KMEM\\040' "/proc/$pid/numa_maps" || true)
		check "CPU $cpu: numa_maps of the KMEM region: bound to node 2, 3 or both" \
			grep -Eq '^(bind:2|bind:3|bind:2-3)$' <(numa_maps_policy "$line")
		expect "CPU $cpu: every KMEM page on node 2 or 3" 16384 numa_maps_sum "$line" 2 3
		check "CPU $cpu: KMEM_PREFERRED refused" grep -q 'KMEM_PREFERRED  refused' "$out"
	fi
}
for cpu in $DKM_CPU_NODES; do
	if hold_start "demo$cpu" "$cpu" region-demo --hold "$DKM_SOCKET"; then
		pass "region-demo on CPU $cpu holds its regions"
		demo_checks "$cpu"
	else
		failed "region-demo on CPU $cpu holds its regions"
		diag_file "$DKM_RUN/demo$cpu.out"
	fi
done
check "daxkmemctl status --json while region-demo holds" sh -c "daxkmemctl status --json >$status"
if variant_is tied; then
	check "status: 5 regions of 64 MiB granted on nodes 2 and 3" \
		jq_check "$status" '[.nodes[] | select(.id >= 2) | .granted] | add == 5 * 67108864' '.nodes'
else
	for n in $DKM_PMEM_NODES; do
		check "status: 3 regions of 64 MiB granted on node $n" \
			jq_check "$status" ".nodes[] | select(.id == $n) | .granted == 3 * 67108864" '.nodes'
	done
fi
for cpu in $DKM_CPU_NODES; do
	rc=0
	hold_stop "demo$cpu" || rc=$?
	if variant_is tied && [ "$cpu" = 0 ]; then
		expect "region-demo on CPU $cpu exits 1 (KMEM_PREFERRED refused)" 1 echo $rc
	else
		expect "region-demo on CPU $cpu releases and exits 0" 0 echo $rc
	fi
	[ $rc -le 1 ] || diag_file "$DKM_RUN/demo$cpu.out"
done
check "status: nothing granted after the clients left" \
	sh -c "daxkmemctl status --json | jq -e '.granted == 0'"

# The client library, as a memkind user calls it.
for cpu in $DKM_CPU_NODES; do
	want=$(expected_kmem "$cpu" | tr -d '[]' | tr , '|')
	check "alloc-demo on CPU $cpu: KMEM blocks on node $want" \
		sh -c "taskset -c $cpu alloc-demo >$DKM_RUN/alloc$cpu.out 2>&1 || true
		       cat $DKM_RUN/alloc$cpu.out
		       grep '^  KMEM ' $DKM_RUN/alloc$cpu.out | grep -q .
		       ! grep '^  KMEM ' $DKM_RUN/alloc$cpu.out | grep -Evq 'node ($want),'"
	if command -v dkm-probe >/dev/null; then
		check "dkm-probe on CPU $cpu: 100 KMEM blocks of 4 KiB on node $want" \
			sh -c "dkm-probe --cpu $cpu malloc kmem 4K 100 | tee /dev/stderr | grep -Eq '^ok .* nodes=($want):[0-9]+ kind=kmem$'"
	fi
done

if daemon_stop; then
	pass "daxkmemd stops cleanly on SIGTERM"
else
	failed "daxkmemd stops cleanly on SIGTERM"
fi
! any_failed || daemon_log
finish
