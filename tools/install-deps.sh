#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Installs, as root on Debian 12, every package daxkmem needs to build and test
# (systemd for systemd-analyze and systemd-socket-activate in the tests, man-db for
# the Documentation= check of systemd-analyze verify; jemalloc,
# mimalloc and memkind for the allocator benchmark's peers; QEMU and the guest
# image's tools for the VM suites in tests/vm).
set -euo pipefail
pkgs=(
	gcc pkg-config meson ninja-build
	libnuma-dev libdaxctl-dev libndctl-dev libsystemd-dev libevent-dev
	libjson-c-dev libinih-dev check
	numactl jq valgrind
	systemd man-db
	libjemalloc-dev libmimalloc-dev libmemkind-dev
	qemu-system-x86 ndctl daxctl busybox-static kmod cpio
)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: need root to install: ${missing[*]}" >&2
	exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
