#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Socket activation: systemd-socket-activate holds the socket, the first client
# starts daxkmemd, which serves the passed socket (and leaves it in place).
set -u
daxkmemd=$1 daxkmemctl=$2 demo=$3
command -v systemd-socket-activate >/dev/null || { echo "SKIP: no systemd-socket-activate"; exit 77; }
fail=0 pass=0
tmp=$(mktemp -d)
act=
cleanup() { [ -n "$act" ] && kill -9 "$act" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
ok() { pass=$((pass + 1)); }
bad() { echo "FAIL: $*"; fail=$((fail + 1)); }

printf 'kmem_nodes = 0\nsocket_group =\n' >"$tmp/conf"
systemd-socket-activate -l "$tmp/sock" ${DKM_TEST_WRAPPER:-} "$daxkmemd" --config "$tmp/conf" >"$tmp/log" 2>&1 &
act=$!
# the listening socket exists before anything is started
for _ in $(seq 500); do [ -S "$tmp/sock" ] && break; sleep 0.01; done
[ -S "$tmp/sock" ] && ok || bad "systemd-socket-activate did not create the socket"
# systemd-socket-activate execs the daemon in its own process when the first
# connection comes: until then the process is still systemd-socket-activate
# (deterministic, unlike looking for the daemon's log line right away), so the
# status below is a connection queued before daxkmemd existed.
sa_exe=$(readlink "/proc/$act/exe")
case $sa_exe in
*/systemd-socket-activate) ok ;;
*) bad "daxkmemd started before a client came (pid $act is $sa_exe)" ;;
esac
grep -q "Execing" "$tmp/log" && bad "daxkmemd started before a client came: $(cat "$tmp/log")" || ok

"$daxkmemctl" --socket "$tmp/sock" status >"$tmp/status" 2>&1 && ok || bad "status through the activated socket: $(cat "$tmp/status")"
[ "$(readlink "/proc/$act/exe")" != "$sa_exe" ] && ok || bad "the first client did not start daxkmemd"
grep -Eq '^ +0 +kmem ' "$tmp/status" && ok || bad "status shows node 0 as kmem: $(cat "$tmp/status")"
grep -q "serving the socket passed by systemd" "$tmp/log" && ok || bad "daemon did not take the passed socket: $(cat "$tmp/log")"
"$demo" "$tmp/sock" >"$tmp/demo" 2>&1 && ok || bad "region through the activated socket: $(cat "$tmp/demo")"
# the policy the daemon set (on one node, where the pages land is the VM suites' to check)
grep -q "KMEM .*policy BIND to node 0" "$tmp/demo" && ok || bad "region policy: $(cat "$tmp/demo")"

kill -TERM "$act"
wait "$act"
rc=$?
act=
[ $rc -eq 0 ] && ok || bad "daxkmemd exit status $rc on SIGTERM"
# the socket belongs to the service manager: the daemon leaves it
[ -S "$tmp/sock" ] && ok || bad "daxkmemd removed a socket it did not create"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
