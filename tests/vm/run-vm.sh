#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# run-vm.sh: boot the KMEM DAX test guest under QEMU, run one guest suite,
# print its TAP lines and "N passed, N failed, N skipped" (see
# tests/vm/README.md).
#
#   run-vm.sh [--build-dir BUILD] [--variant VARIANT] [--suite SUITE]
#             [--log-dir DIR] [--timeout SECONDS] [--append ARGS] [--keep] [-v]
#
#   --build-dir  meson build directory with the programs (default: build)
#   --variant    seed (default), nohmat, normal, autoonline, tied, systemd
#   --suite      tests/vm/guest/SUITE.sh (default: smoke; systemd for the
#                systemd variant)
#   --log-dir    where console.log (serial console, kernel and init),
#                tap.log (the suite's output) and qemu.cmd go (default:
#                BUILD/tests/vm/logs/VARIANT-SUITE)
#   --timeout    hard limit on QEMU, in seconds (default 240); the guest
#                gives the suite 50 s less
#   --append     more kernel command line (dkm.NAME=VALUE reaches the suite
#                as DKM_NAME in upper case, see guest/init)
#   --keep       keep the image and NVDIMM files in the log directory
#   -v           stream the serial console while the guest runs, and have
#                the suite show the output of passing checks too
#
# Environment: DAXKMEM_VM_CACHE (image cache, default ~/.cache/daxkmem-vm),
# DAXKMEM_VM_ACCEL=kvm (use KVM instead of TCG).
#
# Exit status: 0 when every test passed or skipped and one at least passed;
# 77 (meson's SKIP) when every test skipped; 1 on a failed test, a suite
# that did not finish, a kernel panic or the timeout; 2 on bad usage. A
# missing QEMU is a failure, not a skip. The last line counts them:
# "N passed, N failed, N skipped" (a skip is never counted as a pass).
#
# The machine (VM-TESTBED.md): 2 CPUs, CPU nodes 0 and 1 with 512 MiB each,
# a 1 GiB NVDIMM (a fresh sparse file each run) on each of the memory-only
# nodes 2 and 3, the seed's distances and, unless nohmat, HMAT latency and
# bandwidth for every initiator/target pair.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
build=$src/build variant=seed suite='' logdir='' timeout_s=240 keep=0 verbose=0 append=''

usage() {
	sed -n '8,24p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
}
while [ $# -gt 0 ]; do
	case $1 in
	--build-dir) build=${2:?}; shift 2 ;;
	--variant) variant=${2:?}; shift 2 ;;
	--suite) suite=${2:?}; shift 2 ;;
	--log-dir) logdir=${2:?}; shift 2 ;;
	--timeout) timeout_s=${2:?}; shift 2 ;;
	--keep) keep=1; shift ;;
	--append) append=${2:?}; shift 2 ;;
	-v) verbose=1; shift ;;
	*) usage ;;
	esac
done
case $variant in
seed | nohmat | normal | autoonline | tied | systemd) ;;
*) echo "run-vm.sh: unknown variant $variant" >&2; usage ;;
esac
if [ -z "$suite" ]; then
	if [ "$variant" = systemd ]; then suite=systemd; else suite=smoke; fi
fi
case $suite in
lib | run-suite | init | *[!a-z0-9_-]*) echo "run-vm.sh: bad suite name $suite" >&2; exit 2 ;;
esac
[ -f "$here/guest/$suite.sh" ] || { echo "run-vm.sh: no suite $here/guest/$suite.sh" >&2; exit 2; }
[ "$timeout_s" -ge 90 ] 2>/dev/null || { echo "run-vm.sh: --timeout must be at least 90" >&2; exit 2; }
build=$(cd "$build" && pwd)
logdir=${logdir:-$build/tests/vm/logs/$variant-$suite}
mkdir -p "$logdir"
logdir=$(cd "$logdir" && pwd)

qemu=$(command -v qemu-system-x86_64) || {
	echo "run-vm.sh: qemu-system-x86_64 is not installed (tools/install-deps.sh)"
	echo "0 passed, 1 failed, 0 skipped"
	exit 1
}

start=$(date +%s)
run=$logdir/run
rm -rf "$run"
mkdir -p "$run"
rm -f "$logdir/console.log" "$logdir/tap.log" "$logdir/qemu.cmd"
qemu_pid=
cleanup() {
	[ -z "$qemu_pid" ] || kill -KILL "$qemu_pid" 2>/dev/null || true
	[ $keep -eq 1 ] || rm -rf "$run"
}
trap cleanup EXIT

# --- The image ---------------------------------------------------------------------

image_args=(--build-dir "$build" --out "$run")
if [ "$variant" = systemd ]; then
	# The project as a package would install it (units, sysusers.d, binaries).
	destdir=$build/tests/vm/destdir
	rm -rf "$destdir"
	meson install -C "$build" --destdir "$destdir" --no-rebuild >"$run/install.log" 2>&1 || {
		cat "$run/install.log"
		echo "run-vm.sh: meson install --destdir failed"
		echo "0 passed, 1 failed, 0 skipped"
		exit 1
	}
	if [ -z "$(find "$destdir" -name daxkmemd.socket -print -quit)" ]; then
		echo "run-vm.sh: meson install put no daxkmemd.socket in $destdir (meson option systemd?)"
		echo "0 passed, 1 failed, 0 skipped"
		exit 1
	fi
	image_args+=(--systemd "$destdir")
fi
"$here/image.sh" "${image_args[@]}" || {
	echo "run-vm.sh: the guest image could not be built"
	echo "0 passed, 1 failed, 0 skipped"
	exit 1
}
image_done=$(date +%s)

# --- The machine -------------------------------------------------------------------

# Distances (QEMU mirrors each pair).
declare -A dist=([0,1]=21 [0,2]=17 [0,3]=28 [1,2]=28 [1,3]=17 [2,3]=28)
initiator=([2]=0 [3]=1)
if [ "$variant" = tied ]; then
	# Node 0 has two kmem nodes at the same distance.
	dist[0,3]=17
fi
distance() { if [ "$1" = "$2" ]; then echo 10; elif [ "$1" -lt "$2" ]; then echo "${dist[$1,$2]}"; else echo "${dist[$2,$1]}"; fi; }

hmat=1
[ "$variant" != nohmat ] || hmat=0

machine=pc,nvdimm=on
[ $hmat -eq 0 ] || machine+=,hmat=on
# shellcheck disable=SC2054 # commas inside QEMU's arguments
args=(
	-name "dkm-vm-$variant" -nodefaults -display none -monitor none -no-reboot
	-machine "$machine" -cpu max -smp 2,sockets=2,cores=1,threads=1
	-m 1024M,slots=4,maxmem=16G
)
# TCG unless asked: a /dev/kvm that is there is not always one that works
# (nested virtualisation refuses some of -cpu max's MSRs).
if [ "${DAXKMEM_VM_ACCEL:-tcg}" = kvm ]; then
	args+=(-accel kvm)
else
	args+=(-accel "tcg,thread=multi")
fi
for n in 0 1; do
	args+=(-object "memory-backend-ram,id=mem$n,size=512M" -numa "node,nodeid=$n,memdev=mem$n")
done
for n in 2 3; do
	if [ $hmat -eq 1 ]; then
		args+=(-numa "node,nodeid=$n,initiator=${initiator[$n]}")
	else
		args+=(-numa "node,nodeid=$n")
	fi
done
args+=(-numa "cpu,node-id=0,socket-id=0" -numa "cpu,node-id=1,socket-id=1")
for a in 0 1 2; do
	for ((b = a + 1; b < 4; b++)); do
		args+=(-numa "dist,src=$a,dst=$b,val=$(distance $a $b)")
	done
done
for n in 2 3; do
	truncate -s 1G "$run/nvdimm$n.img"
	args+=(-object "memory-backend-file,id=nv$n,share=on,mem-path=$run/nvdimm$n.img,size=1G"
		-device "nvdimm,id=nvdimm$n,memdev=nv$n,node=$n")
done
# HMAT from the distance class of each pair: local DRAM, remote DRAM, near
# and far NVDIMM (latencies in ns, bandwidths per second; read and write).
if [ $hmat -eq 1 ]; then
	for i in 0 1; do
		for t in 0 1 2 3; do
			case $(distance $i $t) in
			10) lb=(10 10 20G 20G) ;;
			21) lb=(21 21 10G 10G) ;;
			17) lb=(170 320 6G 2G) ;;
			*) lb=(280 480 3G 1G) ;;
			esac
			args+=(
				-numa "hmat-lb,initiator=$i,target=$t,hierarchy=memory,data-type=read-latency,latency=${lb[0]}"
				-numa "hmat-lb,initiator=$i,target=$t,hierarchy=memory,data-type=write-latency,latency=${lb[1]}"
				-numa "hmat-lb,initiator=$i,target=$t,hierarchy=memory,data-type=read-bandwidth,bandwidth=${lb[2]}"
				-numa "hmat-lb,initiator=$i,target=$t,hierarchy=memory,data-type=write-bandwidth,bandwidth=${lb[3]}"
			)
		done
	done
fi

cmdline="console=ttyS0 panic=-1 oops=panic nokaslr"
cmdline+=" dkm.suite=$suite dkm.variant=$variant dkm.nvdimms=2 dkm.timeout=$((timeout_s - 50))"
case $variant in
autoonline) cmdline+=" memhp_default_state=online_movable" ;;
systemd) cmdline+=" dkm.init=systemd" ;;
esac
[ $verbose -eq 0 ] || cmdline+=" dkm.verbose=1"
[ -z "$append" ] || cmdline+=" $append"
args+=(
	-kernel "$run/vmlinuz" -initrd "$run/initrd" -append "$cmdline"
	-serial "file:$logdir/console.log" -serial "file:$logdir/tap.log"
)
printf '%q ' "$qemu" "${args[@]}" >"$logdir/qemu.cmd"
echo >>"$logdir/qemu.cmd"

# --- Run -------------------------------------------------------------------------------

echo "# vm: variant $variant, suite $suite, logs in $logdir"
: >"$logdir/console.log"
tail_pid=
if [ $verbose -eq 1 ]; then
	tail -n +1 -F "$logdir/console.log" 2>/dev/null &
	tail_pid=$!
fi
qemu_rc=0
timeout --foreground --kill-after=10 "$timeout_s" "$qemu" "${args[@]}" </dev/null \
	>"$logdir/qemu.out" 2>&1 &
qemu_pid=$!
wait "$qemu_pid" || qemu_rc=$?
qemu_pid=
if [ -n "$tail_pid" ]; then
	sleep 0.2
	kill "$tail_pid" 2>/dev/null || true
	wait "$tail_pid" 2>/dev/null || true
fi
end=$(date +%s)

# --- Results ---------------------------------------------------------------------------

tr -d '\r' <"$logdir/tap.log" >"$run/tap"
tr -d '\r' <"$logdir/console.log" >"$run/console"
cat "$run/tap"
# TAP: "ok N - name # SKIP reason" is a skip, not a pass
results=$(grep -c -e '^ok ' -e '^not ok' "$run/tap" || true)
skipped=$(grep -Eic '^ok [^#]*# *skip' "$run/tap" || true)
failed=$(grep -c '^not ok' "$run/tap" || true)
passed=$((results - failed - skipped))
problems=()
case $qemu_rc in
0) ;;
124 | 137) problems+=("timeout: QEMU killed after ${timeout_s}s") ;;
*) problems+=("QEMU exited with status $qemu_rc: $(tail -n 5 "$logdir/qemu.out" | tr '\n' ' ')") ;;
esac
if grep -q 'Kernel panic' "$run/console"; then
	problems+=("kernel panic: $(grep -m1 'Kernel panic' "$run/console")")
fi
if grep -q '^DKM-VM-SETUP-FAILED' "$run/console"; then
	problems+=("guest setup failed: see # setup: lines in console.log")
fi
if grep -q '^Bail out!' "$run/tap"; then
	problems+=("$(grep -m1 '^Bail out!' "$run/tap")")
fi
result=$(sed -n 's/^DKM-VM-RESULT: exit=\([0-9]*\)$/\1/p' "$run/tap" | tail -n 1)
if [ -z "$result" ]; then
	problems+=("the suite did not finish (no DKM-VM-RESULT line)")
elif [ "$result" -ne 0 ] && [ "$failed" -eq 0 ]; then
	problems+=("the suite exited with status $result")
fi
plan=$(sed -n 's/^1\.\.\([0-9]*\)$/\1/p' "$run/tap" | tail -n 1)
if [ -n "$result" ] && [ -z "$plan" ]; then
	problems+=("no plan line (1..N): the suite stopped early")
elif [ -n "$plan" ] && [ "$plan" -ne "$results" ]; then
	problems+=("plan 1..$plan but $results results")
fi
if [ "$results" -eq 0 ]; then
	problems+=("no test results")
fi

if [ ${#problems[@]} -gt 0 ] || [ "$failed" -gt 0 ]; then
	echo "# ---- last 60 lines of $logdir/console.log ----"
	tail -n 60 "$run/console" | sed 's/^/# /'
fi
for p in "${problems[@]}"; do echo "# vm: $p"; done
echo "# vm: image $((image_done - start)) s, guest $((end - image_done)) s, total $((end - start)) s"
grep -Ei '^ok [^#]*# *skip' "$run/tap" | sed 's/^/# vm: skipped: /' || true
[ ${#problems[@]} -eq 0 ] || failed=$((failed + 1))
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ] || exit 1
# Everything skipped: nothing was checked, which is not a pass (meson: SKIP).
[ "$passed" -gt 0 ] || exit 77
exit 0
