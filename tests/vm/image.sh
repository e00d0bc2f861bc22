#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# image.sh: the guest image of the VM test harness (see tests/vm/README.md).
#
#   image.sh --build-dir BUILD --out DIR [--systemd DESTDIR]
#
# Writes DIR/vmlinuz and DIR/initrd. The initrd is cpio archives laid end to
# end (the kernel unpacks each in turn):
#   base     cached: Debian's stock kernel modules for KMEM DAX, busybox,
#            bash, ndctl, daxctl, numactl, jq, kmod and their libraries;
#   systemd  cached, with --systemd only: the host's systemd as the guest's
#            PID 1;
#   overlay  built every run: tests/vm/guest (init, lib.sh, the suites), the
#            project's programs from BUILD with their libraries, and with
#            --systemd the tree `meson install --destdir DESTDIR` staged.
# A later archive never holds a path an earlier one has (the kernel would
# write a file through an earlier symlink), except directories.
#
# The cache (${DAXKMEM_VM_CACHE:-$HOME/.cache/daxkmem-vm}) is keyed by the
# kernel package version, this script and every host file copied, so an
# update of any of them builds a new base. The kernel comes from the package
# linux-image-amd64 depends on (apt-get download, dpkg -x), never from /boot.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cache=${DAXKMEM_VM_CACHE:-${HOME:-/root}/.cache/daxkmem-vm}
build='' out='' destdir='' with_systemd=0
# The modules the guest loads (their dependencies come from modules.dep).
modules=(nfit nd_pmem dax_pmem device_dax kmem)
# Host programs in the base image (with their libraries).
base_progs=(/usr/bin/bash /usr/bin/ndctl /usr/bin/daxctl /usr/bin/numactl
	/usr/bin/jq /usr/bin/kmod)
# Packed when the host has them (debugging aids).
base_optional=(/usr/bin/strace)

usage() {
	echo "usage: image.sh --build-dir BUILD --out DIR [--systemd DESTDIR]" >&2
	exit 2
}

while [ $# -gt 0 ]; do
	case $1 in
	--build-dir) build=${2:?}; shift 2 ;;
	--out) out=${2:?}; shift 2 ;;
	--systemd) with_systemd=1; destdir=${2:?}; shift 2 ;;
	*) usage ;;
	esac
done
if [ -z "$build" ] || [ -z "$out" ]; then usage; fi
build=$(cd "$build" && pwd)

log() { echo "image.sh: $*" >&2; }
die() { log "$*"; exit 1; }

for tool in apt-cache apt-get dpkg dpkg-query kmod cpio ldd flock sha256sum; do
	command -v "$tool" >/dev/null || die "$tool is missing (tools/install-deps.sh)"
done
[ -x /usr/bin/busybox ] || die "/usr/bin/busybox is missing (busybox-static; tools/install-deps.sh)"
for p in "${base_progs[@]}"; do
	[ -x "$p" ] || die "$p is missing (tools/install-deps.sh)"
done

mkdir -p "$cache" "$out"
tmp=$(mktemp -d "$cache/tmp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# Only one image build at a time per cache; held until this script exits.
exec 9>"$cache/lock"
flock 9

# --- Paths and libraries -----------------------------------------------------

# Where a host path lives in the merged-/usr guest (/lib -> usr/lib and so on).
guest_path() {
	case $1 in
	/lib/* | /lib64/* | /bin/* | /sbin/*) echo "/usr$1" ;;
	*) echo "$1" ;;
	esac
}

# The libraries ldd lists for an ELF file, dynamic loader included, one a line.
# A library ldd cannot find is an error. mawk has no \s: fields split on [ \t].
elf_libs() {
	local f=$1 out
	out=$(LC_ALL=C ldd "$f" 2>&1) || {
		case $out in
		*"not a dynamic executable"* | *"statically linked"*) return 0 ;;
		*) die "ldd $f: $out" ;;
		esac
	}
	case $out in *"not found"*) die "ldd $f: $out" ;; esac
	printf '%s\n' "$out" | awk -F'[ \t]+' '
		{ for (i = 1; i <= NF; i++) if ($i == "=>") { if ($(i + 1) ~ /^\//) print $(i + 1); next } }
		{ for (i = 1; i <= NF; i++) if ($i ~ /^\//) { print $i; next } }'
}

is_elf() { [ "$(head -c 4 "$1" 2>/dev/null | od -An -c | tr -d ' ')" = '177ELF' ]; }

# Paths taken by earlier layers (guest paths) and by this one.
declare -A taken=()

# put STAGE SRC GUESTPATH: copy a file's content (symlinks followed) unless
# an earlier layer or this one has the path already.
put() {
	local stage=$1 from=$2 to
	to=$(guest_path "$3")
	[ -z "${taken[$to]:-}" ] || return 0
	taken[$to]=1
	mkdir -p "$stage$(dirname "$to")"
	cp -L --preserve=mode "$from" "$stage$to"
}

# put_elf STAGE SRC GUESTPATH: a program or library and every library it needs.
put_elf() {
	local stage=$1 from=$2 to=$3 lib
	put "$stage" "$from" "$to"
	while read -r lib; do
		[ -n "$lib" ] && put "$stage" "$lib" "$lib"
	done < <(elf_libs "$from")
}

# cpio_of STAGE OUT: a newc archive of the tree, everything owned by root.
cpio_of() {
	(cd "$1" && find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0) >"$2.new"
	mv "$2.new" "$2"
}

# --- Kernel ------------------------------------------------------------------

# The most recently unpacked kernel in the cache, if any.
newest_cached_kernel() {
	local d best=''
	for d in "$cache"/kernel/linux-image-*; do
		[ -f "$d/done" ] || continue
		if [ -z "$best" ] || [ "$d/done" -nt "$best/done" ]; then best=$d; fi
	done
	echo "$best"
}

# The versioned package linux-image-amd64 depends on, and its candidate version.
kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
	awk -F'[ \t]+' '$2 == "Depends:" && $3 ~ /^linux-image-/ { print $3; exit }') || true
kver_deb=
[ -z "$kpkg" ] || kver_deb=$(apt-cache policy "$kpkg" 2>/dev/null | awk -F'[ \t]+' '$2 == "Candidate:" { print $3 }')
if [ -z "$kpkg" ] || [ -z "$kver_deb" ] || [ "$kver_deb" = "(none)" ]; then
	# No package lists: use the newest kernel already cached, if any.
	kdir=$(newest_cached_kernel)
	[ -n "$kdir" ] || die "cannot find the package linux-image-amd64 depends on (apt-get update?)"
	log "no package lists: using the cached $(basename "$kdir")"
else
	kdir=$cache/kernel/${kpkg}_$kver_deb
fi
kname=$(basename "$kdir")
krel=${kname#linux-image-}
krel=${krel%%_*}

# The archive may offer a newer kernel than the cached one while it cannot be
# reached: keep testing with the cached one then.
if [ ! -f "$kdir/done" ]; then
	mkdir -p "$tmp/deb"
	chmod 0777 "$tmp/deb"  # apt-get download as _apt
	if ! (cd "$tmp/deb" && apt-get download -q "$kpkg=$kver_deb") >"$tmp/apt.log" 2>&1; then
		old=$(newest_cached_kernel)
		if [ -z "$old" ]; then
			cat "$tmp/apt.log" >&2
			die "apt-get download $kpkg=$kver_deb failed"
		fi
		log "apt-get download $kpkg=$kver_deb failed: using the cached $(basename "$old")"
		kdir=$old
		kname=$(basename "$kdir")
		krel=${kname#linux-image-}
		krel=${krel%%_*}
	fi
fi
if [ ! -f "$kdir/done" ]; then
	log "unpacking $kpkg $kver_deb"
	mkdir -p "$tmp/bin"
	dpkg -x "$tmp"/deb/*.deb "$tmp/x"
	[ -f "$tmp/x/boot/vmlinuz-$krel" ] || die "no /boot/vmlinuz-$krel in $kpkg"
	# kmod dispatches on argv[0]
	ln -s "$(command -v kmod)" "$tmp/bin/depmod"
	ln -s "$(command -v kmod)" "$tmp/bin/modprobe"
	"$tmp/bin/depmod" -b "$tmp/x" "$krel"
	rm -rf "$kdir.new"
	mkdir -p "$kdir.new/lib/modules/$krel"
	cp "$tmp/x/boot/vmlinuz-$krel" "$kdir.new/vmlinuz"
	cp "$tmp/x/boot/config-$krel" "$kdir.new/config"
	for f in modules.builtin modules.builtin.modinfo modules.order; do
		cp "$tmp/x/lib/modules/$krel/$f" "$kdir.new/lib/modules/$krel/"
	done
	# The modules and what they need, in load order (no host modprobe.d).
	for m in "${modules[@]}"; do
		"$tmp/bin/modprobe" -C /dev/null -d "$tmp/x" -S "$krel" --show-depends "$m" ||
			die "modprobe --show-depends $m failed"
	done | awk '$1 == "insmod" { print $2 }' | while read -r ko; do
		rel=${ko#"$tmp/x"}
		mkdir -p "$kdir.new$(dirname "$rel")"
		cp "$ko" "$kdir.new$rel"
	done
	"$tmp/bin/depmod" -b "$kdir.new" "$krel"
	touch "$kdir.new/done"
	rm -rf "$kdir"
	mv "$kdir.new" "$kdir"
	rm -rf "$tmp/x" "$tmp/deb"
	# Kernels the archive no longer offers.
	for old in "$cache"/kernel/linux-image-*; do
		[ "$old" = "$kdir" ] || rm -rf "$old"
	done
fi

# --- Base image ----------------------------------------------------------------

# The key: kernel, this script, and the content of every host file packed.
base_files() {
	local p
	for p in /usr/bin/busybox "${base_progs[@]}" "${base_optional[@]}"; do
		[ -x "$p" ] || continue
		echo "$p"
		elf_libs "$p"
	done | LC_ALL=C sort -u
}
key=$( {
	echo "$kname"
	sha256sum "$0" | cut -d' ' -f1
	base_files | xargs -r sha256sum
} | sha256sum | cut -c1-16)
base=$cache/base-$key

if [ ! -f "$base.cpio" ]; then
	log "building the base image $(basename "$base") ($kname)"
	st=$tmp/base
	taken=()
	mkdir -p "$st"/{usr/bin,usr/sbin,usr/lib,usr/lib64,etc,proc,sys,dev,run,tmp,root,mnt,var}
	ln -s usr/bin "$st/bin"
	ln -s usr/sbin "$st/sbin"
	ln -s usr/lib "$st/lib"
	ln -s usr/lib64 "$st/lib64"
	ln -s /run "$st/var/run"
	ln -s /tmp "$st/var/tmp"
	chmod 1777 "$st/tmp"
	chmod 0700 "$st/root"
	put "$st" /usr/bin/busybox /usr/bin/busybox
	for p in "${base_progs[@]}" "${base_optional[@]}"; do
		[ ! -x "$p" ] || put_elf "$st" "$p" "$p"
	done
	# kmod's programs are links to it; busybox's applets are linked at boot
	# by init (busybox --install), wherever no real program is.
	for l in modprobe insmod rmmod lsmod depmod modinfo; do
		ln -s ../bin/kmod "$st/usr/sbin/$l"
		taken[/usr/sbin/$l]=1
	done
	cp -a "$kdir/lib/modules" "$st/usr/lib/"
	for m in "${modules[@]}"; do echo "$m"; done >"$st/etc/dkm-vm-modules"
	cat >"$st/etc/passwd" <<-'EOF'
		root:x:0:0:root:/root:/bin/bash
		daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
		nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
	EOF
	cat >"$st/etc/group" <<-'EOF'
		root:x:0:
		daemon:x:1:
		tty:x:5:
		nogroup:x:65534:
	EOF
	printf 'passwd: files\ngroup: files\nshadow: files\nhosts: files\n' >"$st/etc/nsswitch.conf"
	echo dkm-vm >"$st/etc/hostname"
	ln -s ../proc/self/mounts "$st/etc/mtab"
	cp /etc/os-release "$st/etc/os-release" 2>/dev/null || true
	(cd "$st" && find . -mindepth 1 | sed 's/^\.//') | LC_ALL=C sort >"$tmp/base.list"
	cpio_of "$st" "$tmp/base.cpio"
	cp "$kdir/vmlinuz" "$tmp/base.vmlinuz"
	mv "$tmp/base.list" "$base.list"
	mv "$tmp/base.vmlinuz" "$base.vmlinuz"
	mv "$tmp/base.cpio" "$base.cpio"
	rm -rf "$st"
	# Keep the four newest base images.
	# shellcheck disable=SC2012 # our own names, no blanks
	ls -1t "$cache"/base-*.cpio 2>/dev/null | tail -n +5 | while read -r old; do
		rm -f "${old%.cpio}".{cpio,list,vmlinuz}
	done
fi
touch "$base.cpio"  # most recently used

# --- systemd layer -------------------------------------------------------------

# The host's systemd package, with the libraries of every program in it.
sd_layer=
if [ $with_systemd -eq 1 ]; then
	dpkg-query -W -f='${Status}' systemd 2>/dev/null | grep -q 'install ok installed' ||
		die "the systemd package is not installed (tools/install-deps.sh)"
	# Besides the package: util-linux's mount and umount (systemd runs them
	# for mount units; busybox's do not take every option), and agetty-less
	# consoles need nothing more.
	sd_extra=(/usr/bin/mount /usr/bin/umount)
	sd_key=$( {
		echo "$key"
		dpkg-query -W -f='${Version}\n' systemd
		for p in "${sd_extra[@]}"; do sha256sum "$p"; done
	} | sha256sum | cut -c1-16)
	sd_layer=$cache/systemd-$sd_key
	if [ ! -f "$sd_layer.cpio" ]; then
		log "building the systemd layer $(basename "$sd_layer")"
		st=$tmp/systemd
		taken=()
		while read -r p; do taken[$p]=1; done <"$base.list"
		mkdir -p "$st"
		while read -r p; do
			case $p in
			*/share/doc/* | */share/man/* | */share/locale/* | */share/bash-completion/* | \
				*/share/zsh/* | */share/doc | */share/man | */share/locale) continue ;;
			esac
			if [ -L "$p" ]; then
				to=$(guest_path "$p")
				[ -z "${taken[$to]:-}" ] || continue
				taken[$to]=1
				mkdir -p "$st$(dirname "$to")"
				ln -s "$(readlink "$p")" "$st$to"
			elif [ -f "$p" ]; then
				if is_elf "$p"; then put_elf "$st" "$p" "$p"; else put "$st" "$p" "$p"; fi
			fi
		done < <(dpkg -L systemd)
		for p in "${sd_extra[@]}"; do
			# replaces nothing: busybox's links are made at boot, after unpacking
			put_elf "$st" "$p" "$p"
		done
		(cd "$st" && find . -mindepth 1 ! -type d | sed 's/^\.//') | LC_ALL=C sort >"$tmp/sd.list"
		cpio_of "$st" "$tmp/sd.cpio"
		mv "$tmp/sd.list" "$sd_layer.list"
		mv "$tmp/sd.cpio" "$sd_layer.cpio"
		rm -rf "$st"
		# shellcheck disable=SC2012 # our own names, no blanks
		ls -1t "$cache"/systemd-*.cpio 2>/dev/null | tail -n +3 | while read -r old; do
			rm -f "${old%.cpio}".{cpio,list}
		done
	fi
	touch "$sd_layer.cpio"
fi

# --- Overlay: this run's programs and suites -------------------------------------

st=$tmp/overlay
taken=()
while read -r p; do taken[$p]=1; done <"$base.list"
if [ -n "$sd_layer" ]; then
	while read -r p; do taken[$p]=1; done <"$sd_layer.list"
fi
mkdir -p "$st"

need() { [ -e "$build/$1" ] || die "$build/$1 is missing: build it first (meson compile -C $build)"; }
need daemon/daxkmemd
need client/daxkmemctl
need client/region-demo
need client/alloc-demo
need client/libdaxkmem-client.so
put_lib_dir=/usr/lib/x86_64-linux-gnu

# The client library under its names (the real file and its soname links).
for f in "$build"/client/libdaxkmem-client.so*; do
	b=$(basename "$f")
	case $b in *.p) continue ;; esac
	if [ -L "$f" ]; then
		mkdir -p "$st$put_lib_dir"
		ln -s "$(readlink "$f")" "$st$put_lib_dir/$b"
		taken[$put_lib_dir/$b]=1
	else
		put_elf "$st" "$f" "$put_lib_dir/$b"
	fi
done
# The libraries of a program, but those from the build tree: they resolve to
# the copies above.
put_libs() {
	local lib
	while read -r lib; do
		case $lib in
		"$build"/*) ;;
		*) put "$st" "$lib" "$lib" ;;
		esac
	done < <(elf_libs "$1")
}
put_prog() {
	put "$st" "$1" "$2"
	put_libs "$1"
}
put_prog "$build/daemon/daxkmemd" /usr/sbin/daxkmemd
put_prog "$build/client/daxkmemctl" /usr/sbin/daxkmemctl
put_prog "$build/client/region-demo" /usr/bin/region-demo
put_prog "$build/client/alloc-demo" /usr/bin/alloc-demo
# Test tools (tests/tools) and guest programs built from tests/vm/guest.
for d in "$build/tests/tools" "$build/tests/vm/guest"; do
	[ -d "$d" ] || continue
	for f in "$d"/*; do
		if [ ! -f "$f" ] || [ ! -x "$f" ] || ! is_elf "$f"; then continue; fi
		put_prog "$f" "/usr/bin/$(basename "$f")"
	done
done

# The guest side of the harness.
put "$st" "$here/guest/init" /init
chmod 0755 "$st/init"
for f in "$here"/guest/*; do
	[ -f "$f" ] || continue
	case $f in */init) continue ;; esac
	put "$st" "$f" "/usr/lib/dkm-vm/$(basename "$f")"
done

# A `meson install --destdir` tree, as a package would install it, with
# its socket enabled (as a package's preset would); the guest's own units.
if [ -n "$destdir" ]; then
	for f in "$here"/guest/units/*; do
		put "$st" "$f" "/etc/systemd/system/$(basename "$f")"
	done
	sock=$(cd "$destdir" && find . -name daxkmemd.socket -print -quit)
	[ -n "$sock" ] || die "no daxkmemd.socket in $destdir"
	mkdir -p "$st/etc/systemd/system/sockets.target.wants"
	ln -s "${sock#.}" "$st/etc/systemd/system/sockets.target.wants/daxkmemd.socket"
	[ -d "$destdir" ] || die "no staged install at $destdir"
	while read -r rel; do
		p=/${rel#./}
		to=$(guest_path "$p")
		[ -z "${taken[$to]:-}" ] || continue
		taken[$to]=1
		mkdir -p "$st$(dirname "$to")"
		if [ -L "$destdir$p" ]; then
			ln -s "$(readlink "$destdir$p")" "$st$to"
		else
			cp --preserve=mode "$destdir$p" "$st$to"
			! is_elf "$destdir$p" || put_libs "$destdir$p"
		fi
	done < <(cd "$destdir" && find . ! -type d)
fi
cpio_of "$st" "$tmp/overlay.cpio"

cp "$base.vmlinuz" "$out/vmlinuz"
cat "$base.cpio" ${sd_layer:+"$sd_layer.cpio"} "$tmp/overlay.cpio" >"$out/initrd"
