#!/bin/bash
# Builds the guest image of husk's VM sandboxes: Debian's kernel and an initramfs whose /init
# is husk-agent.
#
#   sandbox/image/build-image.sh --agent PATH --out DIR [--cache DIR]
#
#   --agent   husk-agent, statically linked (it is the guest's PID 1; there is no libc inside)
#   --out     the image directory (husk.yaml's sandbox.image_dir), written:
#               vmlinux          ELF kernel, booted through PVH (scripts/guest-kernel.sh)
#               initramfs.cpio   newc: /init, /lib/modules/husk/*.ko + order, /dev/console,
#                                empty /proc /sys /dev /run /tmp
#               kernel.release, image.json (kernel, agent sha256, modules, build date)
#   --cache   the kernel cache (default $HUSK_VM_CACHE, else /var/cache/husk-vm: the one
#             tests/vm/run.sh uses, so one download serves both)
#
# The image is built in a temporary directory next to DIR and renamed into place; a run whose
# inputs (kernel package, agent, modules, this script) match DIR/image.json changes nothing.
# Needs root: apt-get for the kernel package and the tools, and mknod for /dev/console (the
# kernel opens it in the initramfs to give PID 1 its stdio).
#
# Exit status: 0 built or up to date, 1 failure, 2 usage.

set -u
set -o pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# Installed, guest-kernel.sh is next to this script (libexec/husk); in the source tree it
# is scripts/guest-kernel.sh.
GUEST_KERNEL_SH=$HERE/guest-kernel.sh
[ -f "$GUEST_KERNEL_SH" ] || GUEST_KERNEL_SH=$(cd "$HERE/../.." && pwd)/scripts/guest-kernel.sh

# The modules the agent loads (/lib/modules/husk/order), with what they depend on.
SANDBOX_MODULES=(virtio_ring virtio virtio_mmio virtio_console virtio_rng netfs fscache 9pnet 9pnet_virtio 9p virtio_net)

say() { echo "build-image: $*"; }
die() {
	echo "build-image: $*" >&2
	exit 1
}
usage() {
	echo "usage: $0 --agent PATH --out DIR [--cache DIR]" >&2
	exit 2
}

agent= out= cache=${HUSK_VM_CACHE:-/var/cache/husk-vm}
while [ $# -gt 0 ]; do
	case "$1" in
	--agent | --out | --cache)
		[ $# -ge 2 ] && [ -n "$2" ] || usage
		case "$1" in
		--agent) agent=$2 ;;
		--out) out=$2 ;;
		--cache) cache=$2 ;;
		esac
		shift 2
		;;
	--agent=* | --out=* | --cache=*)
		v=${1#*=}
		[ -n "$v" ] || usage
		case "$1" in
		--agent=*) agent=$v ;;
		--out=*) out=$v ;;
		--cache=*) cache=$v ;;
		esac
		shift
		;;
	-h | --help)
		sed -n '2,/^$/s/^# \{0,1\}//p' "$0"
		exit 0
		;;
	*)
		echo "build-image: unknown argument: $1" >&2
		usage
		;;
	esac
done
[ -n "$agent" ] && [ -n "$out" ] || usage
[ "$(id -u)" -eq 0 ] || die "needs root (apt-get, mknod)"

[ -f "$agent" ] && [ -x "$agent" ] || die "agent $agent is not an executable file"
agent=$(cd "$(dirname "$agent")" && pwd)/$(basename "$agent")
# A dynamic executable would find no loader and no libc in the initramfs.
if LC_ALL=C ldd "$agent" >/dev/null 2>&1; then
	die "agent $agent is dynamically linked; /init must be a static executable"
fi

case "$out" in
/*) ;;
*) out=$PWD/$out ;;
esac
out=${out%/}
[ -n "$out" ] && [ "$out" != / ] || die "--out must not be /"
parent=$(dirname "$out")
mkdir -p "$parent" || die "cannot create $parent"

# ---------------------------------------------------------------------------------------------
# Tools (Debian's apt only).

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
missing=()
for p in binutils cpio xz-utils zstd util-linux; do
	installed "$p" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	export DEBIAN_FRONTEND=noninteractive
	say "installing ${missing[*]}"
	if ! apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1; then
		apt-get update -qq >/dev/null 2>&1
		apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
			die "apt-get install ${missing[*]} failed"
	fi
fi

# ---------------------------------------------------------------------------------------------
# The kernel (cached with every module husk's guests load: tests/vm shares the cache).

# shellcheck source=../../scripts/guest-kernel.sh
. "$GUEST_KERNEL_SH" || die "cannot read $GUEST_KERNEL_SH"
GK_PREFIX=build-image
gk_setup "$cache" "${GK_DEFAULT_MODULES[@]}" "${SANDBOX_MODULES[@]}" || die "no guest kernel"
kdir=$GK_KDIR
kver=$(cat "$kdir/kernel.release")
kpkg=$(cat "$kdir/package" 2>/dev/null)

agent_sha=$(sha256sum "$agent" | cut -d' ' -f1)
script_sha=$(cat "$0" "$GUEST_KERNEL_SH" | sha256sum | cut -d' ' -f1)
inputs=$(printf '%s\n' "$kpkg" "$kver" "$agent_sha" "${SANDBOX_MODULES[*]}" "$script_sha" | sha256sum | cut -d' ' -f1)

if [ -f "$out/image.json" ] && [ -f "$out/vmlinux" ] && [ -f "$out/initramfs.cpio" ] &&
	grep -q "\"inputs\": \"$inputs\"" "$out/image.json"; then
	say "$out is up to date (kernel $kver, agent sha256 $agent_sha)"
	exit 0
fi

# ---------------------------------------------------------------------------------------------
# The image, built next to OUT (same file system: the renames are atomic).

tmp=$(mktemp -d "$parent/.$(basename "$out").tmp.XXXXXX") || die "cannot create a temporary directory in $parent"
old=
cleanup() {
	rm -rf "$tmp"
	[ -n "$old" ] && rm -rf "$old"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

img="$tmp/image"
root="$tmp/root"
mkdir -p "$img" "$root"/{proc,sys,dev,run,tmp,lib/modules} || die "cannot create the staging tree"
chmod 1777 "$root/tmp"
# Without its symbols: the guest loads the initramfs into memory at every boot.
strip --strip-all -o "$root/init" "$agent" && chmod 0755 "$root/init" || die "cannot copy $agent"
gk_collect_modules "$kdir/modules" "$kdir/modules.builtin" "$root/lib/modules/husk" "${SANDBOX_MODULES[@]}" ||
	die "cannot collect the guest's modules from $kdir"
chmod 0644 "$root"/lib/modules/husk/*
mknod -m 0600 "$root/dev/console" c 5 1 || die "mknod $root/dev/console (needs root)"
# Same inputs, same archive: fixed times; owners are root (-R) whoever owns the staging tree.
find "$root" -exec touch -h -d @0 {} +
(cd "$root" && find . -mindepth 1 | LC_ALL=C sort |
	cpio -o -H newc -R 0:0 --reproducible --quiet) >"$img/initramfs.cpio" ||
	die "cannot build the initramfs"

cp "$kdir/vmlinux" "$img/vmlinux" || die "cannot copy $kdir/vmlinux"
echo "$kver" >"$img/kernel.release"
modules_json=$(sed 's/.*/"&"/' "$root/lib/modules/husk/order" | paste -sd, | sed 's/,/, /g')
cat >"$img/image.json" <<EOF
{
  "kernel_release": "$kver",
  "kernel_package": "$kpkg",
  "agent_sha256": "$agent_sha",
  "modules": [$modules_json],
  "build_date": "$(date -u +%Y-%m-%dT%H:%M:%SZ)",
  "inputs": "$inputs"
}
EOF
chmod 0644 "$img"/*
chmod 0755 "$img"

# Into place: the old image steps aside, the new one takes its name, the old one goes.
if [ -e "$out" ]; then
	old="$tmp/old"
	mv -T "$out" "$old" || die "cannot move the old $out aside"
fi
if ! mv -T "$img" "$out"; then
	[ -n "$old" ] && mv -T "$old" "$out"
	old=
	die "cannot rename the image into $out"
fi
say "built $out: kernel $kver ($kpkg), agent sha256 $agent_sha, $(wc -c <"$out/initramfs.cpio") bytes of initramfs"
