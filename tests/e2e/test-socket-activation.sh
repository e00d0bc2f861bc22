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
grep -q "serving" "$tmp/log" && bad "daxkmemd started before a client came" || ok

"$daxkmemctl" --socket "$tmp/sock" status >"$tmp/status" 2>&1 && ok || bad "status through the activated socket: $(cat "$tmp/status")"
grep -Eq '^ +0 +kmem ' "$tmp/status" && ok || bad "status shows node 0 as kmem: $(cat "$tmp/status")"
grep -q "serving the socket passed by systemd" "$tmp/log" && ok || bad "daemon did not take the passed socket: $(cat "$tmp/log")"
"$demo" "$tmp/sock" >"$tmp/demo" 2>&1 && ok || bad "region through the activated socket: $(cat "$tmp/demo")"
grep -q "KMEM .*policy BIND to node 0" "$tmp/demo" && ok || bad "region placement: $(cat "$tmp/demo")"

kill -TERM "$act"
wait "$act"
rc=$?
act=
[ $rc -eq 0 ] && ok || bad "daxkmemd exit status $rc on SIGTERM"
# the socket belongs to the service manager: the daemon leaves it
[ -S "$tmp/sock" ] && ok || bad "daxkmemd removed a socket it did not create"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
