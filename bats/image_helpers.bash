# Helpers for the image tests: OCI image layouts built in a test's directory from plain
# directories, with tar, gzip, zstd, jq and sha256sum (no registry, no python).
#
# Building an image:
#
#   image_begin "$LAYOUT"                         # start an image (creates the layout if needed)
#   image_layer_dir "$dir" gzip                   # one layer per directory: gzip | zstd | none
#   image_layer_tar "$TEST_DIR/evil.tar" none     # or a ready-made tar (hostile layers)
#   image_config '.config.Cmd = ["sh"]'           # jq filters on the image config, in order
#   image_commit TAG [OS/ARCH[/VARIANT]]          # config + manifest + index.json entry
#
# image_commit leaves the manifest's digest and size in IMG_MANIFEST_DIGEST and
# IMG_MANIFEST_SIZE, the config's in IMG_CONFIG_DIGEST; the layers' descriptors are in
# IMG_LAYER_DIGESTS. image_nest_index, image_tar and the hostile_* builders are below.
#
# Trees are compared through tree_manifest (paths, types, modes, owners, link targets, device
# numbers, hard link groups, user.* xattrs and content checksums).

# The platform images are built for unless image_commit is told otherwise (husk's default).
IMG_DEFAULT_PLATFORM=linux/amd64
IMG_PATH_ENV="PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# ---------------------------------------------------------------------------------------------
# Per-test setup: like setup_bundle, but $BUNDLE is not created (husk image unpack wants a
# directory that does not exist or is empty).

setup_image_test() {
	setup_test_dir
	LAYOUT="$TEST_DIR/layout"
}

# ---------------------------------------------------------------------------------------------
# Layouts.

# image_layout_init LAYOUT: an empty OCI image layout (no manifests yet).
image_layout_init() {
	local layout=$1
	mkdir -p "$layout/blobs/sha256" || return
	echo '{"imageLayoutVersion":"1.0.0"}' >"$layout/oci-layout"
	jq -cn '{schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json",
		manifests: []}' >"$layout/index.json"
}

# image_put_blob LAYOUT FILE: move FILE into LAYOUT's blob store under its digest. Sets
# BLOB_DIGEST (sha256:HEX) and BLOB_SIZE.
image_put_blob() {
	local layout=$1 file=$2 sum
	sum=$(sha256sum "$file") || return
	sum=${sum%% *}
	BLOB_SIZE=$(stat -c %s "$file") || return
	mv -f "$file" "$layout/blobs/sha256/$sum" || return
	BLOB_DIGEST="sha256:$sum"
}

# image_blob_path LAYOUT DIGEST: the file holding blob DIGEST.
image_blob_path() {
	echo "$1/blobs/sha256/${2#sha256:}"
}

# image_index_add LAYOUT DESCRIPTOR_JSON: append a descriptor to LAYOUT's index.json.
image_index_add() {
	local layout=$1 desc=$2
	jq -c --argjson d "$desc" '.manifests += [$d]' "$layout/index.json" >"$layout/index.json.tmp" &&
		mv "$layout/index.json.tmp" "$layout/index.json"
}

# platform_json OS/ARCH[/VARIANT]: the descriptor's platform object.
platform_json() {
	local os arch variant
	IFS=/ read -r os arch variant <<<"$1"
	jq -cn --arg os "$os" --arg arch "$arch" --arg variant "$variant" \
		'{architecture: $arch, os: $os} + (if $variant == "" then {} else {variant: $variant} end)'
}

# ---------------------------------------------------------------------------------------------
# Building one image.

# image_begin LAYOUT: start a new image in LAYOUT (created if it does not exist).
image_begin() {
	IMG_LAYOUT=$1
	[ -f "$IMG_LAYOUT/index.json" ] || image_layout_init "$IMG_LAYOUT" || return
	IMG_LAYERS=()
	IMG_LAYER_DIGESTS=()
	IMG_DIFF_IDS=()
	IMG_CONFIG_FILTERS=()
}

# layer_tar DIR OUT: DIR's contents as an uncompressed layer tar. Numeric owners, entries in
# name order, names without a leading "./" (as docker writes them; the root directory itself
# is not an entry), user xattrs kept.
layer_tar() {
	local dir=$1 out=$2
	(cd "$dir" && find . -mindepth 1 -maxdepth 1 -printf '%P\0' | LC_ALL=C sort -z |
		tar --null --verbatim-files-from --files-from=- --sort=name --numeric-owner --xattrs --xattrs-include='user.*' \
			-cf "$out")
}

# image_layer_tar TAR [gzip|zstd|none]: add the tar TAR (left in place) as the image's next
# layer, compressed as asked (default gzip).
image_layer_tar() {
	local tar=$1 comp=${2:-gzip} tmp media diff
	tmp=$(mktemp "$IMG_LAYOUT/layer.XXXXXX") || return
	diff=$(sha256sum "$tar") || return
	diff="sha256:${diff%% *}"
	case "$comp" in
	gzip)
		gzip -n -c "$tar" >"$tmp" || return
		media=application/vnd.oci.image.layer.v1.tar+gzip
		;;
	zstd)
		zstd -q -c "$tar" >"$tmp" || return
		media=application/vnd.oci.image.layer.v1.tar+zstd
		;;
	none)
		cp "$tar" "$tmp" || return
		media=application/vnd.oci.image.layer.v1.tar
		;;
	*) fail "image_layer_tar: unknown compression '$comp'" || return ;;
	esac
	image_put_blob "$IMG_LAYOUT" "$tmp" || return
	IMG_LAYERS+=("$(jq -cn --arg m "$media" --arg d "$BLOB_DIGEST" --argjson s "$BLOB_SIZE" \
		'{mediaType: $m, digest: $d, size: $s}')")
	IMG_LAYER_DIGESTS+=("$BLOB_DIGEST")
	IMG_DIFF_IDS+=("$diff")
}

# image_layer_dir DIR [gzip|zstd|none]: add DIR's contents as the image's next layer.
image_layer_dir() {
	local dir=$1 comp=${2:-gzip} tar
	tar=$(mktemp "$IMG_LAYOUT/tar.XXXXXX") || return
	layer_tar "$dir" "$tar" || return
	image_layer_tar "$tar" "$comp" || return
	rm -f "$tar"
}

# image_layer_busybox [COMP]: the suite's busybox root filesystem as a layer.
image_layer_busybox() {
	image_layer_dir "$HUSK_TEST_CACHE/rootfs" "${1:-gzip}"
}

# image_config FILTER...: jq filters applied, in order, to the image config at commit.
image_config() {
	IMG_CONFIG_FILTERS+=("$@")
}

# image_commit [TAG [OS/ARCH[/VARIANT]]]: write the config, the manifest and an index.json
# entry (with the ref.name annotation TAG unless TAG is empty). Sets IMG_MANIFEST_DIGEST,
# IMG_MANIFEST_SIZE, IMG_CONFIG_DIGEST and IMG_DESCRIPTOR (the index entry).
# IMG_NO_INDEX=1 skips the index entry (for images listed only by a nested index).
image_commit() {
	local tag=${1-} platform=${2:-$IMG_DEFAULT_PLATFORM} plat filter tmp layers diffs f
	plat=$(platform_json "$platform") || return
	filter='.'
	for f in "${IMG_CONFIG_FILTERS[@]}"; do
		filter+=" | ($f)"
	done
	layers=$(printf '%s\n' "${IMG_LAYERS[@]}" | jq -cs .) || return
	diffs=$(printf '%s\n' "${IMG_DIFF_IDS[@]}" | jq -R . | jq -cs .) || return
	[ ${#IMG_LAYERS[@]} -gt 0 ] || { layers='[]'; diffs='[]'; }

	tmp=$(mktemp "$IMG_LAYOUT/config.XXXXXX") || return
	jq -cn --argjson p "$plat" --argjson diffs "$diffs" --arg path "$IMG_PATH_ENV" '
		$p + {
			created: "2024-01-01T00:00:00Z",
			config: {Env: [$path], Cmd: ["sh"]},
			rootfs: {type: "layers", diff_ids: $diffs}
		}' | jq -c "$filter" >"$tmp" || return
	image_put_blob "$IMG_LAYOUT" "$tmp" || return
	IMG_CONFIG_DIGEST=$BLOB_DIGEST
	local config_size=$BLOB_SIZE

	tmp=$(mktemp "$IMG_LAYOUT/manifest.XXXXXX") || return
	jq -cn --arg c "$IMG_CONFIG_DIGEST" --argjson cs "$config_size" --argjson layers "$layers" '{
		schemaVersion: 2,
		mediaType: "application/vnd.oci.image.manifest.v1+json",
		config: {mediaType: "application/vnd.oci.image.config.v1+json", digest: $c, size: $cs},
		layers: $layers
	}' >"$tmp" || return
	image_put_blob "$IMG_LAYOUT" "$tmp" || return
	IMG_MANIFEST_DIGEST=$BLOB_DIGEST
	IMG_MANIFEST_SIZE=$BLOB_SIZE

	IMG_DESCRIPTOR=$(jq -cn --arg d "$IMG_MANIFEST_DIGEST" --argjson s "$IMG_MANIFEST_SIZE" \
		--argjson p "$plat" --arg tag "$tag" '{
		mediaType: "application/vnd.oci.image.manifest.v1+json", digest: $d, size: $s,
		platform: $p
	} + (if $tag == "" then {} else
		{annotations: {"org.opencontainers.image.ref.name": $tag}} end)') || return
	[ -n "${IMG_NO_INDEX:-}" ] || image_index_add "$IMG_LAYOUT" "$IMG_DESCRIPTOR"
}

# image_nest_index LAYOUT TAG: move every entry of LAYOUT's index.json into an index blob, and
# make index.json list only that blob (annotated with TAG unless empty). Sets
# IMG_NESTED_DIGEST.
image_nest_index() {
	local layout=$1 tag=$2 tmp desc
	tmp=$(mktemp "$layout/nested.XXXXXX") || return
	jq -c '.' "$layout/index.json" >"$tmp" || return
	image_put_blob "$layout" "$tmp" || return
	IMG_NESTED_DIGEST=$BLOB_DIGEST
	desc=$(jq -cn --arg d "$BLOB_DIGEST" --argjson s "$BLOB_SIZE" --arg tag "$tag" '{
		mediaType: "application/vnd.oci.image.index.v1+json", digest: $d, size: $s
	} + (if $tag == "" then {} else
		{annotations: {"org.opencontainers.image.ref.name": $tag}} end)') || return
	image_layout_init "$layout" || return
	image_index_add "$layout" "$desc"
}

# image_tar LAYOUT OUT [dot]: a tar of the layout (oci-layout, index.json, blobs/ at the top;
# with "dot" the names start with "./", as `tar -C LAYOUT .` writes them).
image_tar() {
	local layout=$1 out=$2 style=${3-}
	if [ "$style" = dot ]; then
		tar --numeric-owner --owner=0 --group=0 -C "$layout" -cf "$out" .
	else
		tar --numeric-owner --owner=0 --group=0 -C "$layout" -cf "$out" oci-layout index.json blobs
	fi
}

# image_rewrite_manifest LAYOUT DIGEST JQ_FILTER: replace manifest DIGEST by its rewrite
# through JQ_FILTER, and point index.json's entries at the new blob. Sets IMG_MANIFEST_DIGEST.
image_rewrite_manifest() {
	local layout=$1 old=$2 filter=$3 tmp
	tmp=$(mktemp "$layout/manifest.XXXXXX") || return
	jq -c "$filter" "$(image_blob_path "$layout" "$old")" >"$tmp" || return
	image_put_blob "$layout" "$tmp" || return
	IMG_MANIFEST_DIGEST=$BLOB_DIGEST
	jq -c --arg old "$old" --arg new "$BLOB_DIGEST" --argjson size "$BLOB_SIZE" \
		'.manifests |= map(if .digest == $old then .digest = $new | .size = $size else . end)' \
		"$layout/index.json" >"$layout/index.json.tmp" &&
		mv "$layout/index.json.tmp" "$layout/index.json"
}

# ---------------------------------------------------------------------------------------------
# Hostile layers. GNU tar writes "../" and "/" names when told -P (--absolute-names); its
# --transform renames members (flag r), symlink targets (s) and hard link targets (h) as asked.

# escape_path PATH: a relative name that climbs out of any directory to the absolute PATH
# (enough "../" to reach / from anywhere, then PATH): whatever directory a broken unpacker
# joins it to, it lands on PATH.
escape_path() {
	local p=$1 up= _
	for _ in $(seq 1 40); do up+="../"; done
	echo "$up${p#/}"
}

# hostile_file_tar OUT NAME: a tar with one regular file (content "evil") named NAME verbatim.
hostile_file_tar() {
	local out=$1 name=$2 stage
	stage=$(mktemp -d "$TEST_DIR/stage.XXXXXX") || return
	echo evil >"$stage/evil"
	tar -P --numeric-owner --transform "s|^evil\$|$name|r" -C "$stage" -cf "$out" evil || return
	rm -rf "$stage"
}

# hostile_symlink_tar OUT TARGET: a tar with a symlink "link" -> TARGET, then a regular file
# "link/file" (content "evil") written through it.
hostile_symlink_tar() {
	local out=$1 target=$2 s1 s2
	s1=$(mktemp -d "$TEST_DIR/stage.XXXXXX") || return
	s2=$(mktemp -d "$TEST_DIR/stage.XXXXXX") || return
	ln -s "$target" "$s1/link"
	mkdir "$s2/link"
	echo evil >"$s2/link/file"
	tar -P --numeric-owner -cf "$out" -C "$s1" link -C "$s2" link/file || return
	rm -rf "$s1" "$s2"
}

# hostile_hardlink_tar OUT TARGET: a tar with a regular file "a", then "evil" as a hard link
# to TARGET (verbatim), then a regular file "evil" again (content "evil") that an unpacker
# following the link would write into TARGET.
hostile_hardlink_tar() {
	local out=$1 target=$2 s1 s2
	s1=$(mktemp -d "$TEST_DIR/stage.XXXXXX") || return
	s2=$(mktemp -d "$TEST_DIR/stage.XXXXXX") || return
	echo a >"$s1/a"
	ln "$s1/a" "$s1/evil"
	echo evil >"$s2/evil"
	# Only the hard link target (flag h) is renamed, not the member "a" itself (R).
	tar -P --numeric-owner --transform "s|^a\$|$target|RSh" -cf "$out" -C "$s1" a evil || return
	tar -P --numeric-owner -rf "$out" -C "$s2" evil || return
	rm -rf "$s1" "$s2"
}

# ---------------------------------------------------------------------------------------------
# Comparing trees.

# tree_manifest DIR: one line per entry below DIR (DIR itself excluded), sorted:
#   path|type|mode|uid:gid|link target|extra
# extra: sha256 of a regular file's content (plus "hl=FIRST" when it has other hard links in
# the tree, FIRST being the group's first path), major:minor of a device, user.* xattrs.
tree_manifest() {
	local dir=$1
	(
		cd "$dir" || exit 1
		{
			find . -mindepth 1 -printf 'M\t%P\t%y\t%#m\t%U:%G\t%l\t%i\t%n\n'
			find . -type f -print0 | xargs -0r sha256sum | sed 's|^\([0-9a-f]*\)  \./|S\t\1\t|'
			find . \( -type c -o -type b \) -exec stat --printf 'D\t%t:%T\t%n\n' {} + |
				sed 's|\t\./|\t|'
			if command -v getfattr >/dev/null; then
				find . -mindepth 1 ! -type l -print0 |
					xargs -0r getfattr -h -d -m '^user\.' --absolute-names 2>/dev/null |
					sed -n 's|^# file: \./|X\t|p; s|^\(user\.[^=]*=.*\)$|V\t\1|p'
			fi
		} | awk -F'\t' '
			$1 == "M" { t[$2] = $3; m[$2] = $4; o[$2] = $5; l[$2] = $6
				if ($3 == "f" && $8 > 1) { ino[$2] = $7 } next }
			$1 == "S" { s[$3] = $2; next }
			$1 == "D" { d[$3] = $2; next }
			$1 == "X" { cur = $2; next }
			$1 == "V" { x[cur] = x[cur] (x[cur] == "" ? "" : ",") $2; next }
			END {
				n = 0
				for (p in ino) { names[++n] = p }
				# The first path (in byte order) of each hard link group names the group.
				for (i = 1; i <= n; i++) {
					p = names[i]; g = ino[p]
					if (!(g in first) || p < first[g]) first[g] = p
				}
				for (p in t) {
					e = ""
					if (p in s) e = s[p]
					if (p in ino) e = e " hl=" first[ino[p]]
					if (p in d) e = e "dev=" d[p]
					if (p in x) e = e " xattr=" x[p]
					print p "|" t[p] "|" m[p] "|" o[p] "|" l[p] "|" e
				}
			}' | LC_ALL=C sort
	)
}

# dir_snapshot DIR: every entry below DIR with type, mode, owner and (not for directories,
# whose mtime moves when an entry is added and removed again) size, mtime and link target,
# sorted: two equal snapshots mean nothing below DIR was created, removed or written.
dir_snapshot() {
	find "$1" -mindepth 1 \( -type d -printf '%P d %m %U:%G\n' \) -o \
		-printf '%P %y %s %m %U:%G %T@ %l\n' | LC_ALL=C sort
}
