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
# Margins from the noise of the free-memory figures (noise.sh; the figures
# are in tests/vm/README.md): a held region shows in a node's free memory,
# and its release brings the memory back, within TOL MiB. Measured: a 400
# MiB region moved MemFree by 391 to 399 MiB in the movable zone (seed,
# autoonline), 378 to 399 in the normal zone, and the release brought it
# back within -8..+5 and -21..+16 MiB: free pages parked on the per-CPU
# lists are not in MemFree (the diag below shows their bound, the pagesets'
# high marks), and in the normal zone the kernel's own allocations come and
# go there too. TOL is about 1.5 times the worst of those.
tol=16
[ $zone = movable ] || tol=32
# Settled: SETTLE_N readings 0.5 s apart within SETTLE MiB.
settle=2 settle_n=3
# The daemon keeps this much free on each node (reserve=).
reserve=64
export DAXKMEM_SOCKET=$DKM_SOCKET

devices_json() { daxkmemctl devices --json >"$DKM_RUN/devices.json"; }
status_json() { daxkmemctl status --json >"$DKM_RUN/status.json"; }
node_free_mib() { awk '$3 == "MemFree:" { print int($4 / 1024) }' "$(node_dir "$1")/meminfo"; }
node_granted() { daxkmemctl status --json | jq -e ".nodes[] | select(.id == $1) | .granted"; }
granted_is() { [ "$(node_granted "$1")" = "$2" ]; }
granted_total_is() { [ "$(daxkmemctl status --json | jq -e .granted)" = "$1" ]; }
# The per-CPU page lists' high marks of a node's zones, summed, in MiB: how
# much free memory can sit there, outside MemFree.
node_pcp_high_mib() {
	awk -v n="$1" '$1 == "Node" { on = ($2 == n ",") } on && $1 == "high:" { s += $2 } END { print int(s * 4096 / 1048576) }' /proc/zoneinfo
}
# The high watermarks of a node's zones in MiB, as the daemon adds them up.
node_high_mib() {
	awk -v n="$1" '$1 == "Node" { on = ($2 == n ",") } on && $1 == "high" { s += $2 } END { print int(s * 4096 / 1048576) }' /proc/zoneinfo
}
# settled_free_mib NODE: the node's free memory (MiB) once it holds still:
# $settle_n readings 0.5 s apart within $settle MiB of each other, the last
# one; fails after 20 s. A single reading may be taken while a released
# region's pages are still going back.
settled_free_mib() {
	local n=$1 end v lo hi k=0
	end=$(($(date +%s) + 20))
	while :; do
		v=$(node_free_mib "$n")
		if [ $k -gt 0 ] && [ $((v > hi ? v : hi)) -le $(($((v < lo ? v : lo)) + settle)) ]; then
			lo=$((v < lo ? v : lo)) hi=$((v > hi ? v : hi)) k=$((k + 1))
		else
			lo=$v hi=$v k=1
		fi
		[ $k -lt $settle_n ] || { echo "$v"; return 0; }
		[ "$(date +%s)" -lt $end ] || { echo "node $n's free memory did not hold still within $settle MiB for 20 s (last $v MiB)"; return 1; }
		sleep 0.5
	done
}
# settled_avail_mib NODE: what the daemon may grant on the node, settled:
# free memory less the high watermark and the reserve.
settled_avail_mib() {
	local f
	f=$(settled_free_mib "$1") || { echo "$f"; return 1; }
	echo $((f - $(node_high_mib "$1") - reserve))
}
# drop_is NODE BEFORE MIB: the node's free memory is BEFORE - MIB, within tol.
drop_is() {
	local now
	now=$(node_free_mib "$1")
	echo "node $1: $2 MiB free before, $now now: down by $(($2 - now)) MiB"
	if [ $(($2 - now - $3)) -gt $tol ] || [ $(($3 - $2 + now)) -gt $tol ]; then
		die "down by $(($2 - now)) MiB, not $3 within $tol"
	fi
}
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
daemon_config "socket_group =" "reconfigure = all" "online = $zone" "refresh_interval_ms = 60000" \
	"reserve = ${reserve}M"
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

# --- 4. Capacity: ALL spills, KMEM refuses, PREFERRED falls back -----------------------
# From CPU C (its kmem node NEAR = C+2, the other one FAR): a holder takes
# all of NEAR's room but ROOM MiB, as a grant left untouched (owed to it, so
# that the daemon admits no more, while nothing is written: filling 700 MiB
# for real takes a minute under TCG on a loaded host). Then SPILL MiB of
# KMEM are refused, of KMEM_ALL spill from NEAR to FAR, and of
# KMEM_PREFERRED fall back to DRAM node C (the kernel's order from node 2 is
# 2, 0, 3, 1, from node 3 it is 3, 1, 2, 0), as a region from the daemon and
# as the library's blocks; numa_maps counts the pages per node, against
# what the daemon says it granted where. ROOM is the margin both ways
# (refused: ROOM < SPILL; spilled: 0 < ROOM), SPILL - ROOM the margin of
# the spill itself: 64 MiB, against a free-memory noise of 10 MiB at most
# (noise.sh; the figures are in tests/vm/README.md).
room=64 spill=128
held_mib=0
# pages_match NAME KIND NODES NEAR [exact]: the holder's KIND pages
# (numa_maps) are on the nodes NODES only, each with some, and on each node
# as many as (exact) or at most (blocks: a segment's slack is never touched)
# the daemon granted there, less the big holder's $held_mib MiB on NEAR;
# SPILL MiB in all (and for blocks at most 8 MiB of headers more).
pages_match() {
	local pid=${HOLD_PID[$1]} kind=$2 nodes=$3 near=$4 exact=${5:-} got n g p total=0
	got=$(memfd_pages "$pid" "$kind") || return 1
	status_json
	echo "numa_maps of $1 (pid $pid), $kind: $got; granted: $(jq -c '[.nodes[] | {id, granted}]' "$DKM_RUN/status.json")"
	[ "$(pages_nodes "$got")" = "$nodes" ] || die "pages on nodes \"$(pages_nodes "$got")\", want \"$nodes\""
	for n in $nodes; do
		g=$(jq -e ".nodes[] | select(.id == $n) | .granted" "$DKM_RUN/status.json")
		[ "$n" != "$near" ] || g=$((g - held_mib * MIB))
		g=$((g / 4096))
		p=$(pages_on "$got" "$n")
		total=$((total + p))
		if [ -n "$exact" ]; then
			[ "$p" -eq "$g" ] || die "node $n: $p pages, but the daemon granted $g pages there"
		else
			[ "$p" -le "$g" ] || die "node $n: $p pages, more than the daemon granted there ($g)"
		fi
	done
	[ "$total" -ge $((spill * 256)) ] || die "$total pages in all, less than $spill MiB"
	if [ -n "$exact" ]; then
		[ "$total" -eq $((spill * 256)) ] || die "$total pages in all, not $spill MiB"
	else
		[ "$total" -le $(((spill + 8) * 256)) ] || die "$total pages in all, more than $spill MiB and 8 MiB of headers"
	fi
}
# spill NAME CPU WHAT KIND NODES NEAR ARGS...: hold dkm-probe ARGS on CPU as
# NAME, and check its pages (pages_match).
spill() {
	local name=$1 cpu=$2 what=$3 kind=$4 nodes=$5 near=$6 label
	shift 6
	label="CPU $cpu: $what $kind $spill MiB, node $near full: on nodes ${nodes/ /, }"
	if hold_start "$name" "$cpu" dkm-probe --hold "$@"; then
		check "$label (dkm-probe)" grep -Eq "^ok .* nodes=${nodes/ /:[0-9]+,}:[0-9]+ kind=" "$DKM_RUN/$name.out"
		if [ "$what" = region ]; then
			check "$label, as granted (numa_maps)" pages_match "$name" "$kind" "$nodes" "$near" exact
		else
			check "$label, within the grants (numa_maps)" pages_match "$name" "$kind" "$nodes" "$near"
		fi
		hold_stop "$name" || failed "$name exits 0"
	else
		failed "$label: dkm-probe holds it"
	fi
	check "$name's grants are given back" wait_for 10 granted_total_is $((held_mib * MIB))
}
blocks=$((spill * 16)) # of 64 KiB
for cpu in 0 1; do
	near=$((cpu + 2))
	far=$((5 - near))
	both=$(printf '%s\n' $near $far | sort -n | tr '\n' ' ' | sed 's/ $//')
	pref=$(printf '%s\n' $near "$cpu" | sort -n | tr '\n' ' ' | sed 's/ $//')
	check "nothing granted before node $near is filled" wait_for 10 granted_total_is 0
	if ! avail=$(settled_avail_mib $near); then
		failed "node $near's free memory settles" "$avail"
		continue
	fi
	big=$((avail - room))
	diag "node $near: $avail MiB available to the daemon; a client on CPU $cpu holds $big MiB of it (untouched), leaving $room MiB"
	held_mib=0
	if hold_start big "$cpu" dkm-probe --hold region kmem "${big}M" untouched; then
		held_mib=$big
		check "the big grant: $big MiB on node $near" granted_is $near $((big * MIB))
		check "CPU $cpu: KMEM region of $spill MiB refused with ENOMEM (node $near is full)" \
			probe '^error ENOMEM' --cpu $cpu region kmem ${spill}M
		check "CPU $cpu: KMEM blocks, $spill MiB of them, refused with ENOMEM (node $near is full)" \
			probe '^error ENOMEM' --cpu $cpu malloc kmem 64K $blocks
		check "the refused blocks' grants are given back" wait_for 10 granted_total_is $((held_mib * MIB))
		spill all$cpu $cpu region KMEM_ALL "$both" $near region all ${spill}M
		spill pref$cpu $cpu region KMEM_PREFERRED "$pref" $near region preferred ${spill}M
		spill mall$cpu $cpu blocks KMEM_ALL "$both" $near malloc all 64K $blocks
		spill mpref$cpu $cpu blocks KMEM_PREFERRED "$pref" $near malloc preferred 64K $blocks
		hold_stop big || failed "the big client exited cleanly"
	else
		failed "a client on CPU $cpu holds $big MiB of node $near"
	fi
	held_mib=0
done
check "more than a node holds: KMEM 2 GiB refused" probe '^error ENOMEM' --cpu 0 region kmem 2G
check "more than all kmem nodes hold: KMEM_ALL 3 GiB refused" probe '^error ENOMEM' --cpu 1 region all 3G
check "no process was killed by the OOM killer" no_oom

# --- 5. Memory comes back: release, and a killed client --------------------------------
# The regions of the section above are still being freed: wait until
# nothing is granted and node 3's free memory holds still.
check "nothing granted before measuring" wait_for 10 granted_total_is 0
if before=$(settled_free_mib 3); then
	diag "node 3: $before MiB free; up to $(node_pcp_high_mib 3) MiB more can sit on the per-CPU lists"
	for how in released killed; do
		if ! hold_start $how 1 dkm-probe --hold region kmem 400M; then
			failed "a client on CPU 1 holds 400 MiB of node 3"
			continue
		fi
		check "$how: node 3 granted 400 MiB" granted_is 3 $((400 * MIB))
		check "$how: node 3's free memory dropped by 400 MiB, within $tol MiB" drop_is 3 "$before" 400
		if [ $how = killed ]; then
			kill -KILL "${HOLD_PID[$how]}"
			hold_stop $how || true
		else
			hold_stop $how || failed "the releasing client exited cleanly"
		fi
		check "$how: nothing granted on node 3" wait_for 10 granted_is 3 0
		check "$how: node 3's free memory is back, within $tol MiB" wait_for 10 free_at_least 3 $((before - tol))
	done
else
	failed "node 3's free memory settles" "$before"
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
