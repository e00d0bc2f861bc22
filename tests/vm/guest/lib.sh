# SPDX-License-Identifier: GPL-2.0-or-later
# shellcheck shell=bash
#
# lib.sh: what guest suites share (see tests/vm/README.md). A suite is
# tests/vm/guest/NAME.sh, run by bash as root in the guest after init has
# loaded the modules and turned each NVDIMM's namespace into devdax:
#
#   . /usr/lib/dkm-vm/lib.sh
#   check "node 2 has no CPUs" test -z "$(node_cpulist 2)"
#   expect "distances of node 0" "10 21 17 28" node_distances 0
#   finish
#
# Results are TAP lines ("ok N - name", "not ok N - name", "# diagnostics");
# the host counts them. Every helper that can fail returns non-zero with a
# message on stderr, so that check shows why.
#
# The environment (from the kernel command line, through /run/dkm-vm/env):
#   DKM_SUITE    this suite's name
#   DKM_VARIANT  seed, nohmat, normal, autoonline, tied or systemd
#   DKM_NVDIMMS  number of NVDIMMs (each its own memory-only node)
#   DKM_INIT     busybox (init runs the suite) or systemd (a unit runs it)
#   DKM_VERBOSE  1: check shows the output of passing checks too (run-vm.sh -v)
#   DKM_<NAME>   any other dkm.<name>=VALUE (run-vm.sh --append)
set -euo pipefail

if [ -r /run/dkm-vm/env ]; then
	# shellcheck source=/dev/null
	. /run/dkm-vm/env
fi
: "${DKM_SUITE:=unknown}" "${DKM_VARIANT:=seed}" "${DKM_NVDIMMS:=2}" "${DKM_INIT:=busybox}"
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin
DKM_RUN=/run/dkm-vm
DKM_SOCKET=${DKM_SOCKET:-/run/daxkmemd/daxkmemd.sock}
DKM_DAEMON_CONF=$DKM_RUN/daxkmemd.conf
DKM_DAEMON_LOG=$DKM_RUN/daxkmemd.log
DKM_DAEMON_PID=
export DAXKMEM_SOCKET=$DKM_SOCKET
_dkm_n=0
_dkm_failed=0
_dkm_skipped=0

# --- TAP -----------------------------------------------------------------------

diag() { printf '# %s\n' "$*"; }

# Print a file (or stdin) as diagnostics, indented.
diag_file() { sed 's/^/#   /' "${1:--}"; }

pass() {
	_dkm_n=$((_dkm_n + 1))
	echo "ok $_dkm_n - $1"
}

# failed NAME [DETAIL...]: a failed test with its diagnostics.
failed() {
	local name=$1
	shift
	_dkm_n=$((_dkm_n + 1))
	_dkm_failed=$((_dkm_failed + 1))
	echo "not ok $_dkm_n - $name"
	local line
	for line in "$@"; do diag "$line"; done
}

skip() {
	_dkm_n=$((_dkm_n + 1))
	_dkm_skipped=$((_dkm_skipped + 1))
	echo "ok $_dkm_n - $1 # SKIP ${2:-}"
}

# check NAME CMD...: one test; CMD (a program or a function) runs in a
# subshell with errexit, its output shown only when it fails. State a
# check's command sets (variables, background processes) is lost: start the
# daemon and holders with daemon_start and hold_start at the top level.
check() {
	local name=$1 out rc t0=$SECONDS
	shift
	out=$(mktemp)
	set +e
	(
		set -e
		"$@"
	) >"$out" 2>&1
	rc=$?
	set -e
	if [ $rc -eq 0 ]; then
		pass "$name"
		[ -z "${DKM_VERBOSE:-}" ] || diag_file "$out"
	else
		failed "$name" "command: $* (exit $rc)"
		diag_file "$out"
	fi
	_dkm_took $t0
	rm -f "$out"
	return 0
}

# A note on checks that take a while (time budget of a suite under TCG).
_dkm_took() { [ $((SECONDS - $1)) -lt 5 ] || diag "(took $((SECONDS - $1)) s, at $SECONDS s)"; }

# expect NAME WANT CMD...: CMD's standard output (trailing blanks trimmed)
# is WANT.
expect() {
	local name=$1 want=$2 got rc t0=$SECONDS
	shift 2
	set +e
	got=$( (set -e; "$@") 2>&1)
	rc=$?
	set -e
	got=$(printf '%s' "$got" | sed -e 's/[[:space:]]*$//')
	if [ $rc -eq 0 ] && [ "$got" = "$want" ]; then
		pass "$name"
	else
		failed "$name" "command: $* (exit $rc)" "want: $want"
		printf '%s\n' "$got" | sed 's/^/#   got: /'
	fi
	_dkm_took $t0
	return 0
}

# any_failed: whether a test of this suite failed so far.
any_failed() { [ "$_dkm_failed" -gt 0 ]; }

# bail MSG: stop the suite here (the host counts it as a failure).
bail() {
	echo "Bail out! $*"
	daemon_stop >/dev/null 2>&1 || true
	exit 1
}

# finish: the plan line; the exit status says whether every test passed.
finish() {
	echo "1..$_dkm_n"
	diag "$DKM_SUITE ($DKM_VARIANT): $((_dkm_n - _dkm_failed - _dkm_skipped)) passed, $_dkm_failed failed, $_dkm_skipped skipped, ${SECONDS} s"
	[ "$_dkm_failed" -eq 0 ] && [ "$_dkm_n" -gt 0 ]
}

# --- Small assertions for check's functions ------------------------------------

die() { echo "$*" >&2; return 1; }

# assert_eq GOT WANT [WHAT]
assert_eq() {
	[ "$1" = "$2" ] || die "${3:-value}: got \"$1\", want \"$2\""
}

# wait_for SECONDS CMD...: until CMD succeeds (every 0.1 s).
wait_for() {
	local end=$(($(date +%s) + $1))
	shift
	until "$@" >/dev/null 2>&1; do
		[ "$(date +%s)" -lt $end ] || die "timed out after waiting for: $*"
		sleep 0.1
	done
}

# jq_check FILE FILTER: FILTER (jq -e) is true on the JSON in FILE.
jq_check() {
	jq -e "$2" "$1" >/dev/null || die "false on $1: $2 (got: $(jq -c "${3:-.}" "$1" 2>&1 | head -c 2000))"
}

variant_is() {
	local v
	for v in "$@"; do [ "$DKM_VARIANT" = "$v" ] && return 0; done
	return 1
}

# --- The machine's topology, as run-vm.sh builds it for each variant --------------

# The CPU nodes and the memory-only (NVDIMM) nodes.
# shellcheck disable=SC2034 # for the suites
DKM_CPU_NODES="0 1"
# shellcheck disable=SC2034
DKM_PMEM_NODES="2 3"

# expected_distances NODE: the node's row of the distance matrix.
expected_distances() {
	if variant_is tied; then
		case $1 in
		0) echo "10 21 17 17" ;; 1) echo "21 10 28 17" ;;
		2) echo "17 28 10 28" ;; 3) echo "17 17 28 10" ;;
		esac
	else
		case $1 in
		0) echo "10 21 17 28" ;; 1) echo "21 10 28 17" ;;
		2) echo "17 28 10 28" ;; 3) echo "28 17 28 10" ;;
		esac
	fi
}

# expected_kmem CPU_NODE: the KMEM placement (closest kmem nodes), as a jq array.
expected_kmem() {
	if variant_is tied && [ "$1" = 0 ]; then echo "[2,3]"; else echo "[$(($1 + 2))]"; fi
}

# Whether the variant's firmware has an HMAT.
has_hmat() { ! variant_is nohmat; }

# The zone the variant onlines kmem memory into: Movable or Normal.
expected_zone() { if variant_is normal; then echo Normal; else echo Movable; fi; }

# --- sysfs ---------------------------------------------------------------------

node_dir() { echo "/sys/devices/system/node/node$1"; }
node_cpulist() { cat "$(node_dir "$1")/cpulist"; }
node_distances() { cat "$(node_dir "$1")/distance"; }
node_online() { [ -d "$(node_dir "$1")" ]; }
# MemTotal of a node in MiB.
node_mem_mib() { awk '$3 == "MemTotal:" { print int($4 / 1024) }' "$(node_dir "$1")/meminfo"; }
# HMAT access class 0: the best initiators of a target node, and an attribute.
hmat_initiators() {
	local d f
	d=$(node_dir "$1")/access0/initiators
	[ -d "$d" ] || die "no $d"
	for f in "$d"/node*; do [ -e "$f" ] && basename "$f" | sed 's/^node//'; done | sort -n | tr '\n' ' ' | sed 's/ $//'
}
hmat_attr() { cat "$(node_dir "$1")/access0/initiators/$2"; }

# The zones the online memory blocks of a node are in, sorted, unique.
node_zones() {
	local b
	for b in "$(node_dir "$1")"/memory*; do
		[ -e "$b/state" ] || continue
		[ "$(cat "$b/state")" = online ] || continue
		cat "$b/valid_zones"
	done | sort -u | tr '\n' ' ' | sed 's/ $//'
}

# Memory hot-plug auto-online policy: offline, online, online_movable ...
auto_online() { cat /sys/devices/system/memory/auto_online_blocks; }

# --- dax devices -------------------------------------------------------------------

dax_devices() { ls /sys/bus/dax/devices; }
dax_target_node() { cat "/sys/bus/dax/devices/$1/target_node"; }
# devdax, system-ram or none (from the bound driver).
dax_mode() {
	local drv
	drv=$(readlink "/sys/bus/dax/devices/$1/driver" 2>/dev/null) || { echo none; return 0; }
	case ${drv##*/} in
	device_dax) echo devdax ;;
	kmem) echo system-ram ;;
	*) echo "${drv##*/}" ;;
	esac
}

# dax_to_system_ram [--no-movable] [DEVICE...|all]: daxctl's system-ram
# conversion. Under an auto-online kernel policy daxctl 76 refuses unless
# --force (the kernel onlines the blocks itself, see VM-TESTBED.md).
dax_to_system_ram() {
	local opts=()
	[ "${1:-}" != --no-movable ] || { opts+=(--no-movable); shift; }
	[ "$(auto_online)" = offline ] || opts+=(--force)
	[ $# -gt 0 ] || set -- all
	daxctl reconfigure-device -m system-ram "${opts[@]}" "$@"
}

# --- The daemon -------------------------------------------------------------------

# daemon_config LINE...: the configuration file daemon_start uses.
daemon_config() {
	mkdir -p "$DKM_RUN"
	printf '%s\n' "$@" >"$DKM_DAEMON_CONF"
}

# The socket answers a status request.
daemon_serving() { daxkmemctl --socket "$DKM_SOCKET" status >/dev/null 2>&1; }

# daemon_start [DAXKMEMD OPTIONS...]: start daxkmemd in the background on
# $DKM_SOCKET with $DKM_DAEMON_CONF (an empty one unless daemon_config
# wrote it), and wait until it serves. At the top level, not in check.
daemon_start() {
	[ -e "$DKM_DAEMON_CONF" ] || daemon_config ""
	mkdir -p "$(dirname "$DKM_SOCKET")"
	daxkmemd --foreground --config "$DKM_DAEMON_CONF" --socket "$DKM_SOCKET" "$@" \
		>"$DKM_DAEMON_LOG" 2>&1 </dev/null &
	DKM_DAEMON_PID=$!
	local end=$(($(date +%s) + 20))
	until daemon_serving; do
		if ! kill -0 "$DKM_DAEMON_PID" 2>/dev/null; then
			wait "$DKM_DAEMON_PID" || true
			DKM_DAEMON_PID=
			echo "daxkmemd exited; its log:" >&2
			cat "$DKM_DAEMON_LOG" >&2
			return 1
		fi
		if [ "$(date +%s)" -ge $end ]; then
			echo "daxkmemd does not serve $DKM_SOCKET after 20 s; its log:" >&2
			cat "$DKM_DAEMON_LOG" >&2
			return 1
		fi
		sleep 0.1
	done
}

# daemon_stop: SIGTERM, and its exit status (0 for a clean stop).
daemon_stop() {
	local pid=$DKM_DAEMON_PID rc=0
	[ -n "$pid" ] || return 0
	DKM_DAEMON_PID=
	kill -TERM "$pid" 2>/dev/null || true
	for _ in $(seq 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$pid" 2>/dev/null && { kill -KILL "$pid"; echo "daxkmemd ignored SIGTERM for 10 s" >&2; }
	wait "$pid" || rc=$?
	return $rc
}

# The daemon's log as diagnostics.
daemon_log() { [ ! -e "$DKM_DAEMON_LOG" ] || diag_file "$DKM_DAEMON_LOG"; }

# --- Clients that hold memory ---------------------------------------------------------

# hold_start NAME CPU CMD...: run CMD pinned to CPU with its standard input
# on a pipe, and wait (HOLD_TIMEOUT seconds, 60 unless set) until it
# prints a line starting with "holding". Pre-faulting is slow under TCG on a
# loaded host: region-demo's three 64 MiB regions once took more than 20 s.
# Its output goes to $DKM_RUN/NAME.out, its pid to HOLD_PID[NAME]. At the
# top level, not in check. hold_stop NAME closes the pipe and waits. A
# holder that does not get to hold in time is killed.
declare -A HOLD_PID=() HOLD_FD=()
hold_start() {
	local name=$1 cpu=$2 fifo=$DKM_RUN/$1.in out=$DKM_RUN/$1.out fd
	shift 2
	rm -f "$fifo"
	mkfifo "$fifo"
	: >"$out" # no "holding" line left from an earlier holder of this name
	# the child must not hold the write end of another holder's pipe
	(
		for fd in "${HOLD_FD[@]}"; do exec {fd}>&-; done
		exec taskset -c "$cpu" "$@" <"$fifo" >"$out" 2>&1
	) &
	HOLD_PID[$name]=$!
	exec {fd}>"$fifo"
	HOLD_FD[$name]=$fd
	local end=$(($(date +%s) + ${HOLD_TIMEOUT:-60})) t0=$SECONDS
	until grep -q '^holding' "$out"; do
		if ! kill -0 "${HOLD_PID[$name]}" 2>/dev/null || [ "$(date +%s)" -ge $end ]; then
			diag "$name did not get to hold its memory (exited, or ${HOLD_TIMEOUT:-60} s passed):"
			diag_file "$out"
			# gone, so that it holds nothing the next checks would count
			kill -KILL "${HOLD_PID[$name]}" 2>/dev/null || true
			hold_stop "$name" || true
			return 1
		fi
		sleep 0.1
	done
	[ $((SECONDS - t0)) -lt 5 ] || diag "$name took $((SECONDS - t0)) s to hold its memory, at $SECONDS s"
}
hold_stop() {
	local name=$1 rc=0 fd
	fd=${HOLD_FD[$name]:-}
	[ -n "$fd" ] || return 0
	exec {fd}>&-
	# (no "Killed" job notice from bash for a holder a suite killed)
	wait "${HOLD_PID[$name]}" 2>/dev/null || rc=$?
	unset "HOLD_FD[$name]" "HOLD_PID[$name]"
	return $rc
}

# numa_maps_line PID PATTERN: the process's numa_maps lines matching PATTERN.
numa_maps_line() { grep -- "$2" "/proc/$1/numa_maps" || die "no numa_maps line of pid $1 matches $2"; }

# numa_maps_pages LINE: the per-node page counts of a numa_maps line: "2:16384 3:0".
numa_maps_pages() { printf '%s\n' "$1" | tr ' ' '\n' | sed -n 's/^N\([0-9]*\)=\([0-9]*\)$/\1:\2/p' | tr '\n' ' ' | sed 's/ $//'; }

# numa_maps_policy LINE: the policy field of a numa_maps line: "bind:2".
numa_maps_policy() { printf '%s\n' "$1" | awk '{ print $2 }'; }

# memfd_pages PID [KIND]: the pages of the process's daxkmem memfd mappings
# (regions from daxkmemd, memfd:daxkmem:CLIENT:ID:KIND), or of those of one
# kind (KMEM, KMEM_ALL, KMEM_PREFERRED), summed per node from numa_maps:
# "2:25600 3:1024", ascending, only nodes with pages. Fails if the process
# maps no such memfd.
memfd_pages() {
	local pid=$1 kind=${2:-} lines
	lines=$(grep -E "file=/memfd:daxkmem:[^ ]*:${kind:-[A-Z_]+}\\\\040" "/proc/$pid/numa_maps") ||
		{ die "pid $pid maps no daxkmem memfd${kind:+ of kind $kind}"; return 1; }
	printf '%s\n' "$lines" | tr ' ' '\n' | sed -n 's/^N\([0-9]*\)=\([0-9]*\)$/\1 \2/p' |
		awk '{ p[$1] += $2 } END { for (n in p) if (p[n]) print n ":" p[n] }' |
		sort -n | tr '\n' ' ' | sed 's/ $//'
}

# pages_total "2:25600 3:1024": 26624.
pages_total() { printf '%s\n' "$1" | tr ' ' '\n' | awk -F: '{ s += $2 } END { print s + 0 }'; }

# pages_nodes "2:25600 3:1024": the nodes, "2 3".
pages_nodes() { printf '%s\n' "$1" | tr ' ' '\n' | sed -n 's/^\([0-9]*\):.*/\1/p' | tr '\n' ' ' | sed 's/ $//'; }

# pages_on "2:25600 3:1024" NODE: 25600 (0 for a node not listed).
pages_on() { printf '%s\n' "$1" | tr ' ' '\n' | awk -F: -v n="$2" '$1 == n { print $2; f = 1 } END { if (!f) print 0 }'; }

# pages_are PID KIND NODES MIN [MAX]: the process's memfd pages of KIND
# (memfd_pages) are on exactly the nodes NODES ("2", or "2 3": each has
# some), MIN to MAX pages in all (MAX defaults to MIN).
pages_are() {
	local pid=$1 kind=$2 nodes=$3 min=$4 max=${5:-$4} got total
	got=$(memfd_pages "$pid" "$kind") || return 1
	echo "numa_maps of pid $pid, $kind memfds: $got"
	total=$(pages_total "$got")
	[ "$(pages_nodes "$got")" = "$nodes" ] || { die "pages on nodes \"$(pages_nodes "$got")\", want \"$nodes\""; return 1; }
	if [ "$total" -lt "$min" ] || [ "$total" -gt "$max" ]; then
		die "$total pages, want $min$([ "$max" = "$min" ] || echo " to $max")"
		return 1
	fi
}

# numa_maps_sum LINE NODE...: the pages of a numa_maps line on these nodes.
numa_maps_sum() {
	local line=$1 n sum=0 count
	shift
	for n in "$@"; do
		count=$(printf '%s\n' "$line" | tr ' ' '\n' | sed -n "s/^N$n=//p")
		sum=$((sum + ${count:-0}))
	done
	echo $sum
}
