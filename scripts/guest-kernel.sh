# shellcheck shell=bash
# Debian's kernel for husk's QEMU guests (tests/vm and the sandbox's guest image), cached by
# package version. Source this file; it defines functions and changes nothing by itself.
#
#   gk_setup CACHE [MODULE...]   sets GK_KDIR to CACHE/<package>_<version>, building it when
#                                needed (a lock serialises builders); 1 and a message on failure
#   gk_collect_modules SRC BUILTIN DEST MODULE...   copies MODULE... and what they depend on
#                                from the tree SRC into DEST as NAME.ko with DEST/order
#
# The package is fetched with `apt-get download` and unpacked in the cache, never installed on
# the host. A cache directory holds:
#   vmlinux          the ELF kernel out of the bzImage (booted through PVH: under TCG this saves
#                    the seconds the xz decompressor takes at every boot), else the bzImage
#   kernel.release, package ("PKG VERSION"), config, modules.builtin
#   modules/NAME.ko  decompressed, and modules/order: load order, dependencies first
#
# Environment: HUSK_VM_KERNEL_PKG overrides the package (default: what linux-image-amd64
# depends on; the -cloud flavour has no 9p). GK_PREFIX prefixes messages (default guest-kernel).
# Needs root (apt-get), xz-utils, zstd and util-linux (flock); the caller installs them.

# What the guests load, in any order: dependencies are read from the modules themselves.
# The sandbox needs the virtio ones and 9p; tests/vm also throttles a virtio-blk disk.
GK_DEFAULT_MODULES=(virtio_ring virtio virtio_mmio virtio_console virtio_rng netfs fscache 9pnet 9pnet_virtio 9p
	virtio_blk)

gk_say() { echo "${GK_PREFIX:-guest-kernel}: $*"; }
gk_err() { echo "${GK_PREFIX:-guest-kernel}: $*" >&2; }

gk_resolve_pkg() {
	if [ -n "${HUSK_VM_KERNEL_PKG:-}" ]; then
		echo "$HUSK_VM_KERNEL_PKG"
		return
	fi
	apt-cache depends linux-image-amd64 2>/dev/null |
		sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*-amd64\)$/\1/p' | head -n1
}

gk_candidate_version() {
	apt-cache policy "$1" 2>/dev/null | sed -n 's/^ *Candidate: //p' | grep -v '(none)' | head -n1
}

# gk_modinfo_depends FILE: the depends= field of a decompressed module.
gk_modinfo_depends() {
	tr '\0' '\n' <"$1" | sed -n 's/^depends=//p' | head -n1
}

gk_is_elf() { [ "$(head -c 4 "$1" 2>/dev/null | od -An -tx1 | tr -d ' ')" = 7f454c46 ]; }

# gk_extract_vmlinux BZIMAGE OUT: the ELF kernel inside a bzImage (xz or zstd payload).
gk_extract_vmlinux() {
	local img=$1 dest=$2 off
	for off in $(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$img" | cut -d: -f1); do
		tail -c +$((off + 1)) "$img" | xz -dc --single-stream >"$dest" 2>/dev/null
		gk_is_elf "$dest" && return 0
	done
	for off in $(LC_ALL=C grep -obUaP '\x28\xb5\x2f\xfd' "$img" | cut -d: -f1); do
		tail -c +$((off + 1)) "$img" | zstd -dcq 2>/dev/null >"$dest"
		gk_is_elf "$dest" && return 0
	done
	rm -f "$dest"
	return 1
}

# gk_collect_modules SRC BUILTIN DEST MODULE...: finds the modules (NAME.ko, compressed or
# not; the kernel treats - and _ alike) under SRC, copies each wanted one and, depth first, what
# its depends= names into DEST as NAME.ko, and writes DEST/order (dependencies first). A
# module named in the file BUILTIN (modules.builtin; may be absent) is part of the kernel
# and skipped.
gk_collect_modules() {
	local src=$1 builtin=$2 dest=$3 f name m
	shift 3
	local -A file_of=() seen=()
	local order=()
	while IFS= read -r f; do
		name=$(basename "$f")
		name=${name%%.ko*}
		file_of[${name//-/_}]=$f
	done < <(find "$src" \( -name '*.ko' -o -name '*.ko.xz' -o -name '*.ko.zst' -o -name '*.ko.gz' \) -print)
	mkdir -p "$dest" || return 1
	gk_add_module() {
		local m=${1//-/_} from to d
		[ -n "${seen[$m]:-}" ] && return 0
		seen[$m]=1
		if [ -f "$builtin" ] && grep -qE "/${m//_/[-_]}\.ko(\.[a-z]+)?$" "$builtin"; then
			return 0
		fi
		from=${file_of[$m]:-}
		[ -n "$from" ] || {
			gk_err "no module $m in $src"
			return 1
		}
		to="$dest/$m.ko"
		case "$from" in
		*.xz) xz -dc "$from" >"$to" ;;
		*.zst) zstd -dcq "$from" >"$to" ;;
		*.gz) gzip -dc "$from" >"$to" ;;
		*) cp "$from" "$to" ;;
		esac || return 1
		for d in $(gk_modinfo_depends "$to" | tr ',' ' '); do
			gk_add_module "$d" || return 1
		done
		order+=("$m")
	}
	for m in "$@"; do
		gk_add_module "$m" || return 1
	done
	printf '%s\n' "${order[@]}" >"$dest/order"
}

# gk_build_cache PKG VERSION DIR CACHE MODULE...: download, unpack, keep vmlinux + modules,
# in DIR (built under CACHE/tmp.* and renamed into place). Other kernels in CACHE go.
gk_build_cache() {
	local pkg=$1 ver=$2 dir=$3 cache=$4 tmp deb x kver old
	shift 4
	tmp=$(mktemp -d "$cache/tmp.XXXXXX") || return 1
	gk_say "downloading $pkg $ver (apt-get download; not installed on the host)"
	if ! (cd "$tmp" && apt-get download -qq -o APT::Sandbox::User=root "$pkg=$ver" >/dev/null); then
		rm -rf "$tmp"
		gk_err "apt-get download $pkg=$ver failed"
		return 1
	fi
	deb=$(ls "$tmp"/*.deb)
	x="$tmp/x"
	kver=
	dpkg-deb -x "$deb" "$x" && kver=$(ls "$x/lib/modules" | head -n1)
	if [ -z "$kver" ] || [ ! -f "$x/boot/vmlinuz-$kver" ]; then
		gk_err "$deb has no kernel"
		rm -rf "$tmp"
		return 1
	fi
	mkdir -p "$tmp/out"
	if ! gk_extract_vmlinux "$x/boot/vmlinuz-$kver" "$tmp/out/vmlinux"; then
		# No ELF found: boot the bzImage itself (slower: it decompresses at every boot).
		gk_say "no ELF kernel found in the bzImage; booting the bzImage"
		cp "$x/boot/vmlinuz-$kver" "$tmp/out/vmlinux"
	fi
	cp "$x/boot/config-$kver" "$tmp/out/config" 2>/dev/null
	cp "$x/lib/modules/$kver/modules.builtin" "$tmp/out/modules.builtin" 2>/dev/null
	echo "$kver" >"$tmp/out/kernel.release"
	echo "$pkg $ver" >"$tmp/out/package"
	if ! gk_collect_modules "$x/lib/modules/$kver" "$x/lib/modules/$kver/modules.builtin" "$tmp/out/modules" "$@"; then
		rm -rf "$tmp"
		return 1
	fi
	rm -rf "$dir"
	if ! mv "$tmp/out" "$dir"; then
		rm -rf "$tmp"
		return 1
	fi
	rm -rf "$tmp"
	# Kernels of earlier versions are not needed any more.
	for old in "$cache"/linux-image-*; do
		[ "$old" = "$dir" ] || rm -rf "$old"
	done
}

# gk_cache_has DIR MODULE...: DIR is a complete cache with every MODULE (a .ko, or built in).
gk_cache_has() {
	local dir=$1 m
	shift
	[ -f "$dir/vmlinux" ] && [ -f "$dir/kernel.release" ] && [ -f "$dir/modules/order" ] || return 1
	for m in "$@"; do
		m=${m//-/_}
		[ -f "$dir/modules/$m.ko" ] && continue
		[ -f "$dir/modules.builtin" ] && grep -qE "/${m//_/[-_]}\.ko(\.[a-z]+)?$" "$dir/modules.builtin" && continue
		return 1
	done
}

# gk_setup CACHE [MODULE...]: sets GK_KDIR (see the top). Without apt lists or a mirror, the
# newest kernel cached before does.
gk_setup() {
	local cache=$1 pkg ver dir lock t0
	shift
	local want=("$@")
	[ ${#want[@]} -gt 0 ] || want=("${GK_DEFAULT_MODULES[@]}")
	GK_KDIR=
	mkdir -p "$cache" || {
		gk_err "cannot create the cache $cache"
		return 1
	}
	pkg=$(gk_resolve_pkg)
	if [ -z "$pkg" ]; then
		apt-get update -qq >/dev/null 2>&1
		pkg=$(gk_resolve_pkg)
	fi
	ver=
	[ -n "$pkg" ] && ver=$(gk_candidate_version "$pkg")
	if [ -z "$ver" ]; then
		dir=$(ls -d "$cache"/linux-image-*/ 2>/dev/null | sort -V | tail -n1)
		dir=${dir%/}
		if [ -z "$dir" ] || ! gk_cache_has "$dir" "${want[@]}"; then
			gk_err "cannot resolve the kernel package (linux-image-amd64) and nothing usable is cached in $cache"
			return 1
		fi
		GK_KDIR=$dir
		return 0
	fi
	dir="$cache/${pkg}_$ver"
	if ! gk_cache_has "$dir" "${want[@]}"; then
		# One builder at a time; a second one waits and then finds the cache.
		exec {lock}>"$cache/.lock" || return 1
		if ! flock -w 600 "$lock"; then
			exec {lock}>&-
			gk_err "cannot lock $cache/.lock"
			return 1
		fi
		if ! gk_cache_has "$dir" "${want[@]}"; then
			rm -rf "$cache"/tmp.* # what an interrupted build left
			t0=${EPOCHREALTIME/./}
			if ! gk_build_cache "$pkg" "$ver" "$dir" "$cache" "${want[@]}"; then
				exec {lock}>&-
				gk_err "could not prepare the kernel $pkg $ver"
				return 1
			fi
			t0=$(((${EPOCHREALTIME/./} - t0) / 100000))
			gk_say "kernel cache ready in $((t0 / 10)).$((t0 % 10)) s: $dir"
		fi
		exec {lock}>&-
	fi
	GK_KDIR=$dir
}
