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
check "/usr is read-only for the daemon" \
	sh -c "grep -E ' / (ro|rw)' /proc/$pid/mountinfo | head -n 3; awk '\$5 == \"/\" { print \$6 }' /proc/$pid/mountinfo | grep -q '^ro'"

# --- Placement through the activated daemon -------------------------------------------------

for cpu in 0 1; do
	node=$((cpu + 2))
	check "region-demo on CPU $cpu gets KMEM memory on node $node" \
		sh -c "taskset -c $cpu region-demo | tee /dev/stderr |
		       grep -A1 '^  KMEM  ' | grep -q '16384 of 16384 pages on node $node'"
	if command -v dkm-probe >/dev/null; then
		check "dkm-probe on CPU $cpu: KMEM blocks on node $node" \
			sh -c "dkm-probe --cpu $cpu malloc kmem 4K 100 | tee /dev/stderr |
			       grep -Eq '^ok .* nodes=$node:[0-9]+ kind=kmem$'"
	fi
done

# --- systemctl -------------------------------------------------------------------------------

check "systemctl stop daxkmemd.service" systemctl stop daxkmemd.service
expect "the socket stays active without the service" active systemctl is-active daxkmemd.socket
check "systemctl start daxkmemd" systemctl start daxkmemd
expect "daxkmemd.service is active again" active unit_state daxkmemd.service ActiveState
check "daxkmemctl status after the restart" daxkmemctl status
check "systemctl reload daxkmemd" systemctl reload daxkmemd
check "daxkmemctl status after the reload" daxkmemctl status
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
