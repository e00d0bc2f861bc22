#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# cgroup: memory cgroups under systemd (the systemd variant: cgroup v2 with the
# memory controller, the project as installed, daxkmemd.service in its
# sandbox). A client confined with MemoryMax= gets its regions charged to its
# own cgroup (its memory.current covers them; the daemon's does not grow); a
# request beyond its MemoryMax= is refused with EDQUOT naming its cgroup, and
# nothing is OOM-killed; a [cgroup_quota] line holds across two clients of one
# slice; a client of the root cgroup still gets its regions populated by the
# daemon (daemon_prefault=root-only), and daemon_prefault=always charges a
# confined client's regions to the daemon. The figures (memory.current of
# client and daemon, before and after) are printed as diagnostics.
# shellcheck source=lib.sh
. /usr/lib/dkm-vm/lib.sh

[ "$DKM_INIT" = systemd ] || bail "this suite needs the systemd variant (dkm.init=systemd)"
CG=/sys/fs/cgroup
CONF=/etc/daxkmemd/daxkmemd.conf
MIB=$((1024 * 1024))

# memory.current of a cgroup (path below /sys/fs/cgroup), in bytes. It moves a
# little by itself (the daemon's other pages come and go): a 32 MiB region is
# looked for as 30 MiB of growth.
current() { cat "$CG$1/memory.current"; }
mib() { echo "$(($1 / MIB)).$(((($1 % MIB) * 10) / MIB)) MiB"; }
daemon_cg() { systemctl show -P ControlGroup daxkmemd.service; }
kills() { dmesg | grep -Eci 'oom-kill|killed process|out of memory' || true; }
journal_tail() { journalctl --no-pager -o cat -u daxkmemd.service 2>&1 | tail -n 30 | diag_file; }

# unit_hold NAME [PROPERTY...] -- CMD...: CMD as the transient service NAME
# (systemd-run), standard input on a FIFO this shell holds open, output to
# $DKM_RUN/NAME.out; waits (20 s) for its "holding" line, or for it to end.
# unit_release NAME closes the FIFO (CMD frees its memory and exits) and waits.
# Both at the top level (the FIFO's descriptor is this shell's), not in check.
# There is no D-Bus in the guest: systemd-run without --wait or --pipe.
declare -A UNIT_FD=()
unit_hold() {
	local name=$1 fifo=$DKM_RUN/$1.in out=$DKM_RUN/$1.out fd props=()
	shift
	while [ "$1" != -- ]; do props+=(-p "$1"); shift; done
	shift
	rm -f "$fifo" "$out"
	mkfifo "$fifo"
	exec {fd}<>"$fifo"
	UNIT_FD[$name]=$fd
	systemd-run --quiet --collect --unit="$name" "${props[@]}" \
		-p StandardInput=file:"$fifo" -p StandardOutput=file:"$out" -p StandardError=file:"$out" \
		"$@"
	local end=$(($(date +%s) + 20))
	until grep -q '^holding' "$out" 2>/dev/null; do
		if ! systemctl is-active --quiet "$name" || [ "$(date +%s)" -ge $end ]; then
			return 1
		fi
		sleep 0.1
	done
}
unit_release() {
	local name=$1 fd=${UNIT_FD[$1]:-}
	[ -n "$fd" ] || return 0
	exec {fd}>&-
	unset "UNIT_FD[$name]"
	unit_ended "$name"
}
# unit_ended NAME: wait (10 s) until the service has ended.
unit_ended() {
	for _ in $(seq 100); do
		systemctl is-active --quiet "$1" || return 0
		sleep 0.1
	done
	echo "$1 is still $(systemctl is-active "$1")" >&2
	return 1
}
# unit_run NAME [PROPERTY...] -- CMD...: CMD as the transient service NAME, its
# input /dev/null; waits until it ends and prints its output.
unit_run() {
	local name=$1 out=$DKM_RUN/$1.out props=()
	shift
	while [ "$1" != -- ]; do props+=(-p "$1"); shift; done
	shift
	rm -f "$out"
	systemd-run --quiet --collect --unit="$name" "${props[@]}" \
		-p StandardOutput=file:"$out" -p StandardError=file:"$out" "$@"
	unit_ended "$name"
	cat "$out"
}

# --- The daemon ---------------------------------------------------------------------------

check "daxctl reconfigure-device -m system-ram all" dax_to_system_ram all
mkdir -p /etc/daxkmemd
printf '%s\n' "[cgroup_quota]" "/dkm.slice = 48M" >"$CONF"
check "a client's status request activates daxkmemd" daxkmemctl status
expect "daxkmemd.service is active" active systemctl is-active daxkmemd.service
expect "the daemon is in its own cgroup" /system.slice/daxkmemd.service daemon_cg
check "the daemon reads the memory cgroups (its log)" \
	sh -c 'journalctl --no-pager -o cat -u daxkmemd.service | grep "memory cgroups: the unified hierarchy at /sys/fs/cgroup"'
expect "the memory controller is on for system.slice" yes \
	sh -c "grep -qw memory $CG/system.slice/cgroup.controllers && echo yes"
check "daxkmemctl status shows this client's cgroup (the suite's service)" \
	sh -c 'daxkmemctl status | tee /dev/stderr | grep -q "This client: memory cgroup /system.slice/dkm-vm-suite.service (v2)"'
kills0=$(kills)

# --- A confined client: its regions charged to its own cgroup --------------------------------

dcg=$(daemon_cg)
d0=$(current "$dcg")
if unit_hold dkm-confined MemoryMax=32M MemorySwapMax=0 -- dkm-probe --cpu 1 --hold region kmem 24M; then
	pass "a client with MemoryMax=32M holds a 24 MiB pre-faulted region"
	c1=$(current /system.slice/dkm-confined.service)
	d1=$(current "$dcg")
	diag "confined client, client-side population: client memory.current $(mib "$c1"), daemon memory.current $(mib "$d0") -> $(mib "$d1")"
	check "its pages are on node 3" grep -q 'nodes=3:24 kind=kmem' "$DKM_RUN/dkm-confined.out"
	check "the client's memory.current covers the region ($(mib "$c1") >= 24 MiB)" \
		test "$c1" -ge $((24 * MIB))
	check "the daemon's memory.current did not grow by it ($(mib "$d0") -> $(mib "$d1"))" \
		test "$d1" -lt $((d0 + 4 * MIB))
	check "daxkmemctl clients: the client's cgroup, charged to the client, its MemoryMax" \
		sh -c 'daxkmemctl clients --json | tee /dev/stderr | jq -e "[.[] | select(.cgroup.path == \"/system.slice/dkm-confined.service\")][0].cgroup | .charged_to == \"client\" and .limit == 33554432 and .version == \"v2\" and .swap_limit == 0"'
	check "daxkmemctl clients (table)" sh -c 'daxkmemctl clients | tee /dev/stderr | grep -E "client +/system.slice/dkm-confined.service +32.0 MiB"'
	if unit_release dkm-confined; then pass "the client frees and exits"; else failed "the client frees and exits"; fi
	d2=$(current "$dcg")
	diag "after it: daemon memory.current $(mib "$d2")"
else
	failed "a client with MemoryMax=32M holds a 24 MiB pre-faulted region"
	diag_file "$DKM_RUN/dkm-confined.out"
	unit_release dkm-confined || true
fi

# --- Beyond its MemoryMax: refused, nothing OOM-killed -------------------------------------------

demo() {
	unit_run dkm-demo MemoryMax=32M MemorySwapMax=0 -- region-demo --hold "$DKM_SOCKET"
	for k in KMEM KMEM_ALL KMEM_PREFERRED; do
		grep -q "^  $k *refused: cgroup /system.slice/dkm-demo.service cannot take 64.0 MiB: memory.max 32.0 MiB, memory.current .*, 0 B granted not yet resident: .* left$" \
			"$DKM_RUN/dkm-demo.out" || die "no EDQUOT for $k naming the cgroup"
	done
}
check "region-demo with MemoryMax=32M: its three 64 MiB regions refused, naming its cgroup" demo
{ grep refused "$DKM_RUN/dkm-demo.out" || true; } | diag_file
check "the daemon logged the refusal" \
	sh -c 'journalctl --no-pager -o cat -u daxkmemd.service | grep -q "refused: cgroup /system.slice/dkm-demo.service cannot take"'
expect "no process was OOM-killed" "$kills0" kills
check "nothing stays granted" sh -c 'daxkmemctl status --json | jq -e ".granted == 0"'

# --- [cgroup_quota] across two clients of one slice ------------------------------------------------

if unit_hold dkm-qa Slice=dkm.slice -- dkm-probe --cpu 0 --hold region kmem 32M; then
	pass "a first client of dkm.slice holds 32 MiB"
	probe_b() { unit_run dkm-qb Slice=dkm.slice -- dkm-probe --cpu 0 region kmem "$1"; }
	probe_b_16() { probe_b 16M | tee /dev/stderr | grep -q '^ok .* nodes=2:16 kind=kmem'; }
	expect "a second client of dkm.slice is refused 32 MiB more (quota 48M)" "error EDQUOT: Disk quota exceeded" \
		probe_b 32M
	check "and given 16 MiB" probe_b_16
	check "the daemon's message names the slice and the figures" \
		sh -c 'journalctl --no-pager -o cat -u daxkmemd.service | grep -q "cgroup /dkm.slice is over its quota of 48.0 MiB: 32.0 MiB granted, 32.0 MiB asked (client in /dkm.slice/dkm-qb.service)"'
	{ journalctl --no-pager -o cat -u daxkmemd.service | grep "over its quota" || true; } | diag_file
	unit_release dkm-qa || failed "the first client of dkm.slice frees and exits"
else
	failed "a first client of dkm.slice holds 32 MiB"
	diag_file "$DKM_RUN/dkm-qa.out"
	unit_release dkm-qa || true
fi

# --- A client of the root cgroup: the daemon populates ------------------------------------------

d0=$(current "$dcg")
if hold_start rootclient 1 sh -c "echo \$\$ >$CG/cgroup.procs && exec dkm-probe --hold region kmem 32M"; then
	pass "a client in the root cgroup holds 32 MiB"
	d1=$(current "$dcg")
	diag "root-cgroup client, daemon-side population: daemon memory.current $(mib "$d0") -> $(mib "$d1")"
	check "daxkmemctl clients: in /, populated by the daemon" \
		sh -c 'daxkmemctl clients --json | tee /dev/stderr | jq -e "[.[] | select(.cgroup.path == \"/\" and .granted > 0)][0].cgroup | .charged_to == \"daemon\" and .root and .daemon_charged == 33554432"'
	check "charged to the daemon's cgroup ($(mib "$d0") -> $(mib "$d1"))" test "$d1" -ge $((d0 + 30 * MIB))
	hold_stop rootclient || failed "the root-cgroup client frees and exits"
else
	failed "a client in the root cgroup holds 32 MiB"
	diag_file "$DKM_RUN/rootclient.out"
fi

# --- daemon_prefault=always: a confined client's region charged to the daemon -----------------------

reloads() { journalctl --no-pager -o cat -u daxkmemd.service | grep -c "configuration reloaded" || true; }
r0=$(reloads)
printf '%s\n' "daemon_prefault = always" >"$CONF"
check "systemctl reload daxkmemd (daemon_prefault = always)" systemctl reload daxkmemd
reloaded() { [ "$(reloads)" -gt "$r0" ]; }
check "the daemon reloaded its configuration" wait_for 10 reloaded
d0=$(current "$dcg")
if unit_hold dkm-always MemoryMax=64M MemorySwapMax=0 -- dkm-probe --cpu 1 --hold region kmem 32M; then
	pass "a client with MemoryMax=64M holds 32 MiB populated by the daemon"
	c1=$(current /system.slice/dkm-always.service)
	d1=$(current "$dcg")
	diag "confined client, daemon_prefault=always: client memory.current $(mib "$c1"), daemon memory.current $(mib "$d0") -> $(mib "$d1")"
	check "the daemon's memory.current grew by it ($(mib "$d0") -> $(mib "$d1"))" test "$d1" -ge $((d0 + 30 * MIB))
	check "the client's memory.current does not cover it ($(mib "$c1"))" test "$c1" -lt $((8 * MIB))
	check "daxkmemctl clients: charged to the daemon" \
		sh -c 'daxkmemctl clients --json | jq -e "[.[] | select(.cgroup.path == \"/system.slice/dkm-always.service\")][0].cgroup.charged_to == \"daemon\""'
	unit_release dkm-always || failed "the client with daemon_prefault=always frees and exits"
else
	failed "a client with MemoryMax=64M holds 32 MiB populated by the daemon"
	diag_file "$DKM_RUN/dkm-always.out"
	unit_release dkm-always || true
fi
expect "still no process OOM-killed" "$kills0" kills

check "systemctl stop daxkmemd.socket daxkmemd.service" systemctl stop daxkmemd.socket daxkmemd.service
! any_failed || { diag "journal of daxkmemd:"; journal_tail; }
finish
