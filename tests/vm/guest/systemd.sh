#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# systemd: the project as installed (meson install), under the Debian systemd
# as PID 1. daxkmemd.socket is enabled and listening from boot; the first
# client activates daxkmemd.service (Type=notify, hardened) through it;
# systemctl stops, starts and reloads it; the daemon keeps its placement and,
# inside its sandbox, can still reconfigure dax devices.
# shellcheck source=lib.sh
. /usr/lib/dkm-vm/lib.sh

unit_state() { systemctl show -P "$2" "$1"; }
main_pid() { systemctl show -P MainPID daxkmemd.service; }
journal() { journalctl --no-pager -o cat "$@" 2>&1 | tail -n 40; }
diag_journal() { journal -u daxkmemd.service -u daxkmemd.socket | diag_file; }

[ "$DKM_INIT" = systemd ] || bail "this suite needs the systemd variant (dkm.init=systemd)"
expect "systemd is PID 1" systemd cat /proc/1/comm
diag "system state: $(systemctl is-system-running 2>&1 || true)"
systemctl --failed --no-legend --plain 2>&1 | sed 's/^/# failed unit: /' || true

# --- The installed units ----------------------------------------------------------------

check "the daxkmemd unit files are installed under /usr/local" \
	test -f /usr/local/lib/systemd/system/daxkmemd.service -a -f /usr/local/lib/systemd/system/daxkmemd.socket
check "systemd-sysusers made the group daxkmem" grep -q '^daxkmem:' /etc/group
expect "daxkmemd.socket is enabled" enabled systemctl is-enabled daxkmemd.socket
expect "daxkmemd.socket is active from boot" active systemctl is-active daxkmemd.socket
expect "daxkmemd.service waits for its first client" inactive unit_state daxkmemd.service ActiveState
sock_perms() { test -S "$DKM_SOCKET" && stat -c "%a %G" "$DKM_SOCKET"; }
expect "the socket is $DKM_SOCKET, 0660, group daxkmem" "660 daxkmem" sock_perms

# The memory the daemon brokers (by hand here; the daemon does it below).
check "daxctl reconfigure-device -m system-ram all" dax_to_system_ram all

# --- Socket activation ---------------------------------------------------------------------

check "a client's status request activates daxkmemd" \
	sh -c 'daxkmemctl status --json >/run/dkm-vm/status.json'
expect "daxkmemd.service is active" active unit_state daxkmemd.service ActiveState
expect "daxkmemd.service is Type=notify" notify unit_state daxkmemd.service Type
check "the daemon's STATUS= reached systemd" \
	sh -c 'systemctl show -P StatusText daxkmemd.service | tee /dev/stderr | grep -q serving'
check "status: nodes 2 and 3 are kmem" \
	jq_check /run/dkm-vm/status.json '[.nodes[] | select(.kind == "kmem") | .id] == [2, 3]' '.nodes'
main_exe() { readlink "/proc/$(main_pid)/exe"; }
expect "the service runs /usr/local/sbin/daxkmemd" /usr/local/sbin/daxkmemd main_exe

# --- The sandbox ---------------------------------------------------------------------------

pid=$(main_pid)
diag "daxkmemd is pid $pid"
check "the daemon has no capabilities" grep -Eq '^CapEff:[[:space:]]+0+$' "/proc/$pid/status"
check "the daemon has an empty bounding set" grep -Eq '^CapBnd:[[:space:]]+0+$' "/proc/$pid/status"
check "the daemon runs with no_new_privs" grep -Eq '^NoNewPrivs:[[:space:]]+1$' "/proc/$pid/status"
check "the daemon runs under a seccomp filter" grep -Eq '^Seccomp:[[:space:]]+2$' "/proc/$pid/status"
check "the daemon has its own mount namespace" \
	test "$(readlink "/proc/$pid/ns/mnt")" != "$(readlink /proc/1/ns/mnt)"
# mount_opts PID PATH: the options of the mount PATH is on, as the process
# sees it: the last of the mounts with the longest mount point at or above PATH.
mount_opts() {
	awk -v p="$2" '{ m = $5; if (m == p || m == "/" || index(p, m "/") == 1) if (length(m) >= best) { best = length(m); o = $6 } }
		END { print o }' "/proc/$1/mountinfo"
}
# read_only_for PID DIR: DIR's mount is read-only for the process, and a
# write into DIR from its mount namespace fails with EROFS.
read_only_for() {
	local opts err
	opts=$(mount_opts "$1" "$2")
	echo "$2 is on a mount with options $opts for pid $1"
	case ,$opts, in *,ro,*) ;; *) die "$2 is not mounted read-only"; return 1 ;; esac
	if err=$(nsenter -t "$1" -m -- touch "$2/.dkm-rw-test" 2>&1); then
		die "touch $2/.dkm-rw-test in its mount namespace worked"
		return 1
	fi
	echo "$err"
	case $err in *"Read-only file system"*) ;; *) die "touch failed, but not with EROFS"; return 1 ;; esac
}
for d in /usr /etc /; do
	check "$d is read-only for the daemon (its mount, and a write into it)" read_only_for "$pid" "$d"
done

# --- Placement through the activated daemon -------------------------------------------------

for cpu in 0 1; do
	node=$((cpu + 2))
	check "region-demo on CPU $cpu gets KMEM memory on node $node, and exits 0" \
		sh -c "taskset -c $cpu region-demo >$DKM_RUN/region$cpu.out; rc=\$?; cat $DKM_RUN/region$cpu.out; [ \$rc = 0 ] &&
		       grep -A1 '^  KMEM  ' $DKM_RUN/region$cpu.out | grep -q '^    16384 of 16384 pages on node $node '"
	check "dkm-probe on CPU $cpu: KMEM blocks on node $node" \
		sh -c "dkm-probe --cpu $cpu malloc kmem 4K 100 | tee /dev/stderr |
		       grep -Eq '^ok .* nodes=$node:[0-9]+ kind=kmem$'"
done

# --- systemctl -------------------------------------------------------------------------------

check "systemctl stop daxkmemd.service" systemctl stop daxkmemd.service
expect "the socket stays active without the service" active systemctl is-active daxkmemd.socket
check "systemctl start daxkmemd" systemctl start daxkmemd
expect "daxkmemd.service is active again" active unit_state daxkmemd.service ActiveState
check "daxkmemctl status after the restart" daxkmemctl status
# A reload re-reads daxkmemd.conf: a smaller max_region_size takes effect
# (64 MiB regions refused, EFBIG, which the library reports as ENOMEM), in
# the same process, and the daemon says so in the journal; taking it out
# again brings the default (64G) back.
conf=/etc/daxkmemd/daxkmemd.conf
pid=$(main_pid)
# how many times the daemon logged a reload
reloads() { journalctl --no-pager -o cat -u daxkmemd.service | grep -c "configuration reloaded from $conf" || true; }
reloads_above() { [ "$(reloads)" -gt "$1" ]; }
region_64m() { DAXKMEM_LOG=1 dkm-probe --cpu 0 region kmem 64M 2>&1 || true; } # (pipefail: the refusal exits 1)
refused_64m() { region_64m | tee /dev/stderr | grep -q 'larger than max_region_size 32'; }
granted_64m() { region_64m | tee /dev/stderr | grep -Eq '^ok .* nodes=2:64 kind=kmem$'; }
check "a 64 MiB region is granted before the reload" granted_64m
n0=$(reloads)
mkdir -p /etc/daxkmemd
echo "max_region_size = 32M" >"$conf"
check "systemctl reload daxkmemd (max_region_size = 32M)" systemctl reload daxkmemd
check "the daemon logs the reload" wait_for 10 reloads_above "$n0"
check "after the reload a 64 MiB region is refused: larger than max_region_size 32 MiB" wait_for 10 refused_64m
expect "the same process reloaded (MainPID $pid)" "$pid" main_pid
rm -f "$conf"
check "systemctl reload daxkmemd (no daxkmemd.conf: the defaults)" systemctl reload daxkmemd
check "the daemon logs the second reload" wait_for 10 reloads_above $((n0 + 1))
check "after the second reload a 64 MiB region is granted again" wait_for 10 granted_64m
check "daxkmemctl status after the reloads" daxkmemctl status
expect "daxkmemd.service is still active" active unit_state daxkmemd.service ActiveState
check "no restarts so far" test "$(unit_state daxkmemd.service NRestarts)" -eq 0

# --- Reconfiguration from inside the sandbox ---------------------------------------------------

# The unit's ProtectKernelTunables=yes with /sys/bus/dax and
# /sys/devices/system/memory nested back read-write: enough to give a device
# back to devdax and to bring it to system-ram again.
check "daxkmemctl reconfigure --mode devdax dax1.0 (through the hardened daemon)" \
	daxkmemctl reconfigure --mode devdax dax1.0
expect "dax1.0 is devdax" devdax dax_mode dax1.0
check "daxkmemctl reconfigure dax1.0 (back to system-ram)" daxkmemctl reconfigure dax1.0
expect "dax1.0 is system-ram" system-ram dax_mode dax1.0
expect "node 3's memory is online again, movable" Movable node_zones 3
check "daxkmemctl devices --json lists both in system-ram mode" \
	sh -c 'daxkmemctl devices --json | tee /dev/stderr |
	       jq -e "[.devices[] | .mode] == [\"system-ram\", \"system-ram\"]"'

# --- Stop ------------------------------------------------------------------------------------------

check "systemctl stop daxkmemd.socket daxkmemd.service" systemctl stop daxkmemd.socket daxkmemd.service
check "the socket is gone (RemoveOnStop=yes)" test ! -e /run/daxkmemd/daxkmemd.sock
states() { echo "$(unit_state "$1" ActiveState) $(unit_state "$1" SubState) $(unit_state "$1" Result)"; }
expect "daxkmemd.service stopped cleanly" "inactive dead success" states daxkmemd.service

! any_failed || { diag "journal of daxkmemd:"; diag_journal; }
finish
