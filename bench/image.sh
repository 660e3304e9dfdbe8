#!/bin/bash
# `husk image unpack` against umoci, side by side, on one large image: a debootstrap'ed Debian
# bookworm (minbase) packed as an OCI layout of three gzip layers (usr/, var/, the rest).
#   - husk image unpack LAYOUT:bench BUNDLE
#   - umoci unpack --image LAYOUT:bench BUNDLE (umoci's bundle: rootfs, config.json and an mtree
#     manifest of the tree, which umoci always writes)
#   - umoci raw unpack --image LAYOUT:bench ROOTFS (umoci's rootfs alone, no mtree)
#   - husk image unpack --cache (when husk has it): the cache warm, so the bundle is an overlay
#     mount of layers unpacked before.
# Interleaved rounds (the order turns round every round), one warm-up round first, HUSK_BENCH_ROUNDS
# (default 5) timed; every unpack goes to a fresh directory, removed out of the timing. The
# outputs go to a tmpfs unless HUSK_BENCH_DISK=1 puts them on the filesystem that holds the
# image: on ext4, an unpack right after another tree was deleted pays for ext4's inode
# allocator skipping the recently deleted inodes (for 60 s and more; perf shows
# recently_deleted() and find_get_block()), whichever unpacker comes second: husk took 4.8 s
# after an umoci run against 1.4 s after a pause. The tmpfs measures the unpackers. Caches are
# not dropped. The median wall time is reported, with the ratio husk/umoci.
#
# The image is built once and kept in HUSK_BENCH_IMAGE_DIR (default /var/tmp/husk-bench-image).
# debootstrap fetches from the Debian mirror apt is configured with; when it cannot, the image is
# a copy of the host's /usr and /etc instead, and the results say so.
#
# Needs root. Binary: $HUSK, else build/runtime/cli/husk. Writes bench/results/image-latest.md.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
HUSK=${HUSK:-build/runtime/cli/husk}
case $HUSK in /*) ;; *) HUSK=$REPO/$HUSK ;; esac
ROUNDS=${HUSK_BENCH_ROUNDS:-5}
IMAGE_DIR=${HUSK_BENCH_IMAGE_DIR:-/var/tmp/husk-bench-image}
OUT=$REPO/bench/results/image-latest.md

[ "$(id -u)" -eq 0 ] || { echo "bench/image.sh: needs root" >&2; exit 2; }
[ -x "$HUSK" ] || { echo "bench/image.sh: no husk binary at $HUSK (build, or set HUSK)" >&2; exit 2; }
if ! "$HUSK" image unpack --help >/dev/null 2>&1; then
	echo "bench/image.sh: $HUSK has no 'image unpack'" >&2
	exit 2
fi
missing=()
command -v umoci >/dev/null || missing+=(umoci)
command -v debootstrap >/dev/null || missing+=(debootstrap)
command -v jq >/dev/null || missing+=(jq)
if [ ${#missing[@]} -gt 0 ]; then
	apt-get install -y -qq "${missing[@]}" >/dev/null
fi

log() { echo "bench/image.sh: $*" >&2; }

# ---------------------------------------------------------------------------------------------
# The image (built once).

# The Debian mirror apt uses (deb822 .sources or one-line .list), else deb.debian.org.
debian_mirror() {
	local f uri
	for f in /etc/apt/sources.list.d/*.sources /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -f "$f" ] || continue
		uri=$(sed -n -e 's/^URIs:[[:space:]]*\([^[:space:]]*\).*/\1/p' \
			-e 's/^deb[[:space:]]\+\(\[[^]]*\][[:space:]]\+\)\?\([^[:space:]]*\)[[:space:]]\+bookworm[[:space:]].*/\2/p' "$f" |
			grep -E '/debian/?$' | head -n1) || true
		if [ -n "$uri" ]; then
			echo "${uri%/}"
			return
		fi
	done
	echo http://deb.debian.org/debian
}

build_rootfs() {
	local dest="$IMAGE_DIR/rootfs" tmp="$IMAGE_DIR/rootfs.tmp" mirror
	[ -f "$IMAGE_DIR/rootfs.source" ] && [ -d "$dest" ] && return 0
	rm -rf --one-file-system "$tmp" "$dest"
	mirror=$(debian_mirror)
	log "debootstrap --variant=minbase bookworm from $mirror (once; about a minute)"
	if debootstrap --variant=minbase bookworm "$tmp" "$mirror" >"$IMAGE_DIR/debootstrap.log" 2>&1; then
		echo "debootstrap --variant=minbase bookworm ($mirror)" >"$IMAGE_DIR/rootfs.source.tmp"
	else
		log "debootstrap failed (see $IMAGE_DIR/debootstrap.log): packing the host's /usr and /etc instead"
		rm -rf --one-file-system "$tmp"
		mkdir -p "$tmp"
		cp -a /usr /etc "$tmp/"
		echo "FALLBACK: a copy of the host's /usr and /etc (debootstrap failed)" >"$IMAGE_DIR/rootfs.source.tmp"
	fi
	mv "$tmp" "$dest"
	mv "$IMAGE_DIR/rootfs.source.tmp" "$IMAGE_DIR/rootfs.source"
}

# put_blob LAYOUT FILE: FILE into the blob store; sets DIGEST and SIZE.
put_blob() {
	local sum
	sum=$(sha256sum "$2")
	sum=${sum%% *}
	SIZE=$(stat -c %s "$2")
	mv "$2" "$1/blobs/sha256/$sum"
	DIGEST=sha256:$sum
}

build_layout() {
	local rootfs="$IMAGE_DIR/rootfs" oci="$IMAGE_DIR/oci" tmp="$IMAGE_DIR/oci.tmp"
	[ -f "$oci/index.json" ] && [ "$oci/index.json" -nt "$IMAGE_DIR/rootfs.source" ] && return 0
	log "packing the rootfs as an OCI layout of three gzip layers (once)"
	rm -rf "$tmp"
	mkdir -p "$tmp/blobs/sha256"
	local rest=() name layers=() diffs=() part
	for name in $(cd "$rootfs" && ls -A); do
		case $name in usr | var) ;; *) rest+=("$name") ;; esac
	done
	for part in usr var rest; do
		local names=("$part")
		[ "$part" = rest ] && names=("${rest[@]}")
		[ -e "$rootfs/${names[0]}" ] || continue
		tar --sort=name --numeric-owner --xattrs -C "$rootfs" -cf "$tmp/layer.tar" "${names[@]}"
		diffs+=("sha256:$(sha256sum "$tmp/layer.tar" | cut -d' ' -f1)")
		gzip -n "$tmp/layer.tar"
		put_blob "$tmp" "$tmp/layer.tar.gz"
		layers+=("$(jq -cn --arg d "$DIGEST" --argjson s "$SIZE" \
			'{mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: $d, size: $s}')")
	done
	jq -cn --argjson diffs "$(printf '%s\n' "${diffs[@]}" | jq -R . | jq -cs .)" '{
		architecture: "amd64", os: "linux",
		config: {Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
			Cmd: ["bash"]},
		rootfs: {type: "layers", diff_ids: $diffs}
	}' >"$tmp/config.json"
	put_blob "$tmp" "$tmp/config.json"
	jq -cn --arg c "$DIGEST" --argjson cs "$SIZE" \
		--argjson layers "$(printf '%s\n' "${layers[@]}" | jq -cs .)" '{
		schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json",
		config: {mediaType: "application/vnd.oci.image.config.v1+json", digest: $c, size: $cs},
		layers: $layers
	}' >"$tmp/manifest.json"
	put_blob "$tmp" "$tmp/manifest.json"
	jq -cn --arg m "$DIGEST" --argjson ms "$SIZE" '{
		schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json",
		manifests: [{mediaType: "application/vnd.oci.image.manifest.v1+json", digest: $m,
			size: $ms, platform: {architecture: "amd64", os: "linux"},
			annotations: {"org.opencontainers.image.ref.name": "bench"}}]
	}' >"$tmp/index.json"
	echo '{"imageLayoutVersion":"1.0.0"}' >"$tmp/oci-layout"
	rm -rf "$oci"
	mv "$tmp" "$oci"
}

mkdir -p "$IMAGE_DIR"
build_rootfs
build_layout
LAYOUT="$IMAGE_DIR/oci"
REF="$LAYOUT:bench"

# ---------------------------------------------------------------------------------------------
# The runs.

work=$(mktemp -d "$IMAGE_DIR/run.XXXXXX")
cleanup() {
	local m
	for m in $(awk -v w="$work/" 'index($5, w) == 1 { print $5 }' /proc/self/mountinfo | sort -r); do
		umount -l "$m" 2>/dev/null || true
	done
	rm -rf --one-file-system "$work"
}
trap cleanup EXIT
out=$work
out_fs="$(df -T "$IMAGE_DIR" | awk 'NR == 2 { print $2 }') (HUSK_BENCH_DISK=1)"
if [ "${HUSK_BENCH_DISK:-0}" != 1 ]; then
	out=$work/out
	mkdir "$out"
	mount -t tmpfs -o mode=0755 husk-bench-image "$out"
	out_fs="tmpfs"
fi

have_cache=
if "$HUSK" image unpack --help 2>&1 | grep -q -- --cache; then
	have_cache=1
fi

# unpack_once WHO DEST: one unpack into DEST (fresh), printing its wall time in ms.
unpack_once() {
	local who=$1 dest=$2 t0 t1
	t0=$(date +%s%N)
	case $who in
	husk) "$HUSK" image unpack "$REF" "$dest" >/dev/null ;;
	husk-cache) "$HUSK" image unpack --cache "$work/cache" "$REF" "$dest" >/dev/null ;;
	umoci) umoci unpack --image "$REF" "$dest" >/dev/null 2>&1 ;;
	umoci-raw) umoci raw unpack --image "$REF" "$dest" >/dev/null 2>&1 ;;
	esac
	t1=$(date +%s%N)
	echo $(((t1 - t0) / 1000))
}

# remove DEST: out of the timing, and written back before the next run starts.
remove() {
	local m
	for m in $(awk -v d="$1" '$5 == d || index($5, d "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r); do
		umount "$m"
	done
	rm -rf --one-file-system "$1"
	sync
}

who_all=(husk umoci umoci-raw)
[ -n "$have_cache" ] && who_all+=(husk-cache)
declare -A times
# The cache's first fill, timed apart (it is the cold case of husk-cache).
cache_fill=
if [ -n "$have_cache" ]; then
	cache_fill=$(unpack_once husk-cache "$out/fill")
	remove "$out/fill"
fi
sync
for ((round = 0; round <= ROUNDS; round++)); do
	order=("${who_all[@]}")
	if ((round % 2)); then
		order=()
		for ((i = ${#who_all[@]} - 1; i >= 0; i--)); do order+=("${who_all[$i]}"); done
	fi
	for who in "${order[@]}"; do
		us=$(unpack_once "$who" "$out/$who.$round")
		# Round 0 is the warm-up; its trees are compared below.
		if [ "$round" -gt 0 ]; then
			times[$who]+="$us "
			remove "$out/$who.$round"
		fi
	done
	if [ "$round" -eq 0 ]; then
		# Same tree from husk and umoci (paths, types, modes, owners, link targets, contents).
		bats_require_minimum_version() { :; }
		fail() { echo "$*" >&2; return 1; }
		# shellcheck source=../bats/image_helpers.bash
		source "$REPO/bats/image_helpers.bash"
		want=$(tree_manifest "$out/umoci.0/rootfs")
		same_tree=
		for who in "${who_all[@]}"; do
			case $who in husk | husk-cache) ;; *) continue ;; esac
			got=$(tree_manifest "$out/$who.0/rootfs")
			if [ "$got" = "$want" ]; then
				same_tree+=" $who: yes."
			else
				same_tree+=" $who: NO, $(diff <(echo "$got") <(echo "$want") | grep -c '^[<>]') lines differ."
			fi
		done
		for who in "${who_all[@]}"; do remove "$out/$who.0"; done
	fi
done

# median/min/max of microsecond figures, in ms with one decimal.
stats() {
	local sorted n
	sorted=($(printf '%s\n' $1 | sort -n))
	n=${#sorted[@]}
	printf '%.1f|%.1f|%.1f' "$(bc -l <<<"${sorted[$((n / 2))]} / 1000")" \
		"$(bc -l <<<"${sorted[0]} / 1000")" "$(bc -l <<<"${sorted[$((n - 1))]} / 1000")"
}
median_us() {
	printf '%s\n' $1 | sort -n | sed -n "$(( ($(wc -w <<<"$1") / 2) + 1 ))p"
}
command -v bc >/dev/null || apt-get install -y -qq bc >/dev/null

rootfs="$IMAGE_DIR/rootfs"
size_mb=$(du -sm "$rootfs" | cut -f1)
entries=$(find "$rootfs" | wc -l)
layer_sizes=$(jq -r '.layers[].size' "$LAYOUT/blobs/sha256/$(jq -r '.manifests[0].digest' "$LAYOUT/index.json" | cut -d: -f2)" |
	awk '{ printf "%s%.1f", (NR > 1 ? " + " : ""), $1 / 1048576 }')
fs=$(df -T "$IMAGE_DIR" | awk 'NR == 2 { print $2 }')

mkdir -p "$(dirname "$OUT")"
{
	echo "# image unpack, $(date -u +%Y-%m-%d), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
	echo
	echo "$(nproc) cores, kernel $(uname -r), $fs at $IMAGE_DIR, umoci $(umoci --version | awk '{print $3}')"
	echo
	echo "Image: $(cat "$IMAGE_DIR/rootfs.source"): $size_mb MB in $entries entries;" \
		"3 gzip layers (usr, var, the rest) of $layer_sizes MiB."
	echo "Median of $ROUNDS interleaved rounds after one warm-up round; fresh directory per unpack" \
		"on $out_fs, removed between runs; the layout on $fs, in the page cache."
	echo
	echo "| unpacker | median (ms) | min (ms) | max (ms) |"
	echo "|---|---|---|---|"
	for who in "${who_all[@]}"; do
		case $who in
		husk) label='husk image unpack' ;;
		husk-cache) label='husk image unpack --cache (cache warm: overlay mount)' ;;
		umoci) label='umoci unpack (bundle + mtree)' ;;
		umoci-raw) label='umoci raw unpack (rootfs only)' ;;
		esac
		IFS='|' read -r med mn mx <<<"$(stats "${times[$who]}")"
		echo "| $label | $med | $mn | $mx |"
	done
	[ -z "$cache_fill" ] || printf '| husk image unpack --cache (cache empty: first fill, once) | %.1f | | |\n' \
		"$(bc -l <<<"$cache_fill / 1000")"
	echo
	h=$(median_us "${times[husk]}")
	printf 'husk / umoci unpack: %.2f; husk / umoci raw unpack: %.2f\n' \
		"$(bc -l <<<"$h / $(median_us "${times[umoci]}")")" \
		"$(bc -l <<<"$h / $(median_us "${times[umoci-raw]}")")"
	echo
	echo "Same tree as umoci's (paths, types, modes, owners, link targets, contents, xattrs):$same_tree"
} >"$OUT"
cat "$OUT"
echo "written: ${OUT#"$REPO"/}"
