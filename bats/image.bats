#!/usr/bin/env bats
# husk image unpack and husk run --image: OCI image layouts (built here from directories, see
# image_helpers.bash) turned into bundles. Layers are applied in order (whiteouts, opaque
# directories, hard links, symlinks, fifos, devices, owners, modes, xattrs); blobs are checked
# against their digests and sizes; hostile layers are refused without a trace. umoci, unpacking
# the same layouts, is the reference for the trees. husk only: runc has no image verbs.

load helpers
load image_helpers

setup() {
	setup_image_test
}

teardown() {
	teardown_bundle
}

# unpack ARGS...: `husk image unpack ARGS`, stdout and stderr apart (bats' $output, $stderr).
unpack() {
	run --separate-stderr runtime image unpack "$@"
}

# assert_unpacked [BUNDLE]: the last unpack succeeded and left a bundle.
assert_unpacked() {
	local b=${1:-$BUNDLE}
	if [ "$status" -ne 0 ]; then
		echo "unpack failed with $status; stderr:" >&2
		printf '%s\n' "$stderr" >&2
		return 1
	fi
	[ -d "$b/rootfs" ] || fail "no $b/rootfs"
	[ -f "$b/config.json" ] || fail "no $b/config.json"
	jq -e . "$b/config.json" >/dev/null || fail "$b/config.json is not JSON"
}

# assert_stderr_names TEXT...: the last command failed saying each TEXT on stderr.
assert_stderr_names() {
	local want
	[ -n "$stderr" ] || fail "refused without a message on stderr (stdout: $output)" || return
	for want in "$@"; do
		grep -qF -- "$want" <<<"$stderr" ||
			fail "stderr does not name '$want': $stderr" || return
	done
}

# expect_refused [--platform P] REF TEXT...: `image unpack [--platform P] REF $BUNDLE` fails,
# names each TEXT on stderr, and leaves $TEST_DIR as it was (so nothing was written outside the
# bundle, whose own fate follows: gone if husk made it, there and empty if it existed empty).
expect_refused() {
	local flags=() ref before after existed=
	if [ "$1" = --platform ]; then
		flags=(--platform "$2")
		shift 2
	fi
	ref=$1
	shift
	[ -d "$BUNDLE" ] && existed=1
	before=$(dir_snapshot "$TEST_DIR")
	unpack "${flags[@]}" "$ref" "$BUNDLE"
	assert_failure
	assert_stderr_names "$@"
	if [ -n "$existed" ]; then
		[ -d "$BUNDLE" ] || fail "the empty bundle directory given was removed"
		[ -z "$(ls -A "$BUNDLE")" ] || fail "left in the bundle: $(find "$BUNDLE" -mindepth 1 | head)"
	else
		[ ! -e "$BUNDLE" ] && [ ! -L "$BUNDLE" ] ||
			fail "bundle left behind: $(find "$BUNDLE" | head)"
	fi
	after=$(dir_snapshot "$TEST_DIR")
	if [ "$before" != "$after" ]; then
		echo "the test directory changed:" >&2
		diff <(echo "$before") <(echo "$after") >&2
		return 1
	fi
	[ -z "$(mounts_under "$TEST_DIR")" ] || fail "mounts left: $(mounts_under "$TEST_DIR")"
}

# hex12 DIGEST: the first 12 hex digits of a sha256 digest (what any message naming a blob,
# abbreviated or not, contains).
hex12() {
	local h=${1#sha256:}
	echo "${h:0:12}"
}

# assert_stat PATH FORMAT WANT: stat -c FORMAT PATH (not following symlinks) prints WANT.
assert_stat() {
	local got
	got=$(stat -c "$2" "$1") || return
	[ "$got" = "$3" ] || fail "$1: expected '$3' ($2), got '$got'"
}

# cache_layer_entries CACHE: the cache's entries named after a layer of the last image built
# (by its blob digest or its diff_id, whichever husk keys on), with inode and ctime: equal
# listings mean none was re-created.
cache_layer_entries() {
	local i
	for i in "${!IMG_LAYER_DIGESTS[@]}"; do
		find "$1" -maxdepth 3 \( -name "*${IMG_LAYER_DIGESTS[$i]#sha256:}*" -o \
			-name "*${IMG_DIFF_IDS[$i]#sha256:}*" \) -printf '%P %y %i %C@\n'
	done | LC_ALL=C sort -u
}

# cache_has_layer CACHE I: the cache has an entry for layer I of the last image built.
cache_has_layer() {
	[ -n "$(find "$1" -maxdepth 3 \( -name "*${IMG_LAYER_DIGESTS[$2]#sha256:}*" -o \
		-name "*${IMG_DIFF_IDS[$2]#sha256:}*" \) -print -quit)" ]
}

has_cache_flag() {
	runtime image unpack --help 2>&1 | grep -q -- --cache
}

# overlay_mounted DIR: DIR is an overlay mount point in our mount namespace.
overlay_mounted() {
	awk -v d="$1" '$5 == d { for (i = 7; $i != "-"; i++) {} if ($(i + 1) == "overlay") f = 1 }
		END { exit !f }' /proc/self/mountinfo
}

# A small layer (no busybox): for images that are never run.
small_layer_dir() {
	local d="$TEST_DIR/small"
	mkdir -p "$d/etc" "$d/data"
	echo base >"$d/data/base"
	printf '%s\n' 'root:x:0:0:root:/root:/bin/sh' >"$d/etc/passwd"
	echo "$d"
}

# small_image TAG [PLATFORM] [MARK]: a one-layer image whose /data/mark holds MARK.
small_image() {
	local tag=$1 platform=${2:-$IMG_DEFAULT_PLATFORM} mark=${3:-$1} d
	d=$(mktemp -d "$TEST_DIR/mark.XXXXXX")
	mkdir -p "$d/data"
	echo "$mark" >"$d/data/mark"
	image_begin "$LAYOUT"
	image_layer_dir "$d" gzip
	image_commit "$tag" "$platform"
	rm -rf "$d"
}

# ---------------------------------------------------------------------------------------------
# The features image: busybox, then layers that remove, hide, replace and add.

FEATURE_SCRIPT='echo "cwd=$(pwd) greeting=$GREETING"; id; cat /data/rel-link'

# build_features_image [COMP1]: $LAYOUT:features, four layers:
#   0 (gzip)  busybox
#   1 (zstd, or COMP1: umoci 0.4.7 knows no zstd)  files the later layers remove or hide:
#             etc/remove-me, olddir/, opq/{old1,sub/old2}, swap/becomes-dir (a file),
#             swap/becomes-file/ (a directory)
#   2 (none)  whiteouts: etc/.wh.remove-me, .wh.olddir; opaque opq/ with -first (sorts before
#             the marker: same-layer entries survive), new1, newsub/f; etc/passwd with "app"
#   3 (gzip)  hard links, symlinks, a fifo, a device, owners and modes, an xattr, type swaps
# Sets XATTR=1 when the test filesystem keeps user xattrs (then data/xattr carries one).
build_features_image() {
	local comp1=${1:-zstd} l1="$TEST_DIR/l1" l2="$TEST_DIR/l2" l3="$TEST_DIR/l3"
	mkdir -p "$l1"/etc "$l1"/olddir/sub "$l1"/opq/sub "$l1"/data "$l1"/swap/becomes-file
	echo remove >"$l1/etc/remove-me"
	echo keep >"$l1/etc/keep-me"
	echo a >"$l1/olddir/a"
	echo b >"$l1/olddir/sub/b"
	echo old1 >"$l1/opq/old1"
	echo old2 >"$l1/opq/sub/old2"
	echo file >"$l1/swap/becomes-dir"
	echo inner >"$l1/swap/becomes-file/inner"

	mkdir -p "$l2"/etc "$l2"/opq/newsub
	: >"$l2/etc/.wh.remove-me"
	: >"$l2/.wh.olddir"
	: >"$l2/opq/.wh..wh..opq"
	echo first >"$l2/opq/-first"
	echo new1 >"$l2/opq/new1"
	echo f >"$l2/opq/newsub/f"
	chmod 0711 "$l2/opq"
	cat "$HUSK_TEST_CACHE/rootfs/etc/passwd" >"$l2/etc/passwd"
	echo 'app:x:1001:1002:app:/work:/bin/sh' >>"$l2/etc/passwd"
	cat "$HUSK_TEST_CACHE/rootfs/etc/group" >"$l2/etc/group"
	echo 'appgrp:x:1002:' >>"$l2/etc/group"

	mkdir -p "$l3"/data "$l3"/dev "$l3"/work "$l3"/swap/becomes-dir
	echo hl >"$l3/data/hl-a"
	chmod 0640 "$l3/data/hl-a"
	ln "$l3/data/hl-a" "$l3/data/hl-b"
	ln -s ../etc/keep-me "$l3/data/rel-link"
	ln -s /etc/keep-me "$l3/data/abs-link"
	ln -s /nonexistent/target "$l3/data/dangling"
	mkfifo -m 0640 "$l3/data/fifo"
	mknod -m 0620 "$l3/dev/husk-null" c 1 3
	echo owned >"$l3/data/owned"
	chown 1234:5678 "$l3/data/owned"
	chmod 4754 "$l3/data/owned"
	mkdir "$l3/data/private"
	chown 1001:1002 "$l3/data/private"
	chmod 0700 "$l3/data/private"
	mkdir "$l3/data/sticky"
	chmod 1777 "$l3/data/sticky"
	chown 1001:1002 "$l3/work"
	echo inner >"$l3/swap/becomes-dir/inner"
	echo now-a-file >"$l3/swap/becomes-file"
	echo x >"$l3/data/xattr"
	XATTR=
	if command -v setfattr >/dev/null &&
		setfattr -n user.husk -v hello "$l3/data/xattr" 2>/dev/null; then
		XATTR=1
	fi

	image_begin "$LAYOUT"
	image_layer_busybox gzip
	image_layer_dir "$l1" "$comp1"
	image_layer_dir "$l2" none
	image_layer_dir "$l3" gzip
	image_config '.config.Entrypoint = ["/bin/sh", "-c"]' \
		".config.Cmd = [$(jq -Rn --arg s "$FEATURE_SCRIPT" '$s')]" \
		'.config.Env += ["GREETING=hello world"]' \
		'.config.User = "app"' \
		'.config.WorkingDir = "/work"' \
		'.config.Labels = {"org.example.label": "label value", "org.example.empty": ""}'
	image_commit features
	rm -rf "$l1" "$l2" "$l3"
}

# assert_features_tree ROOTFS: the features image's layers applied exactly.
assert_features_tree() {
	local r=$1
	# busybox, from layer 0.
	cmp "$r/bin/busybox" "$HUSK_TEST_CACHE/rootfs/bin/busybox" || fail "bin/busybox differs"
	assert_stat "$r/bin/sh" '%F' 'symbolic link'
	# Whiteouts: the file and the whole directory are gone, their neighbours are not.
	[ ! -e "$r/etc/remove-me" ] && [ ! -L "$r/etc/remove-me" ] || fail "etc/remove-me not whited out"
	[ ! -e "$r/olddir" ] || fail "olddir not whited out: $(find "$r/olddir")"
	[ "$(cat "$r/etc/keep-me")" = keep ] || fail "etc/keep-me lost"
	# The opaque directory holds only layer 2's entries, with layer 2's mode.
	[ "$(cd "$r/opq" && find . -mindepth 1 | LC_ALL=C sort | tr '\n' ' ')" = "./-first ./new1 ./newsub ./newsub/f " ] ||
		fail "opq holds: $(cd "$r/opq" && find . -mindepth 1 | LC_ALL=C sort | tr '\n' ' ')"
	assert_stat "$r/opq" '%F %a' 'directory 711'
	# No whiteout marker survives.
	[ -z "$(find "$r" -name '.wh.*')" ] || fail "whiteout files in the tree: $(find "$r" -name '.wh.*')"
	# A later layer's file replaces the lower one.
	grep -qx 'app:x:1001:1002:app:/work:/bin/sh' "$r/etc/passwd" || fail "etc/passwd not replaced"
	# Hard links: one inode, two names.
	assert_stat "$r/data/hl-a" '%F %a %h' 'regular file 640 2'
	[ "$(stat -c %i "$r/data/hl-a")" = "$(stat -c %i "$r/data/hl-b")" ] || fail "data/hl-b is not a hard link of data/hl-a"
	[ "$(cat "$r/data/hl-b")" = hl ]
	# Symlinks keep their targets verbatim.
	[ "$(readlink "$r/data/rel-link")" = ../etc/keep-me ] || fail "data/rel-link -> $(readlink "$r/data/rel-link")"
	[ "$(readlink "$r/data/abs-link")" = /etc/keep-me ] || fail "data/abs-link -> $(readlink "$r/data/abs-link")"
	[ "$(readlink "$r/data/dangling")" = /nonexistent/target ] || fail "data/dangling -> $(readlink "$r/data/dangling")"
	# A fifo and a device.
	assert_stat "$r/data/fifo" '%F %a' 'fifo 640'
	assert_stat "$r/dev/husk-null" '%F %t:%T %a' 'character special file 1:3 620'
	# Owners and modes, setuid kept across the chown.
	assert_stat "$r/data/owned" '%F %a %u:%g' 'regular file 4754 1234:5678'
	assert_stat "$r/data/private" '%F %a %u:%g' 'directory 700 1001:1002'
	assert_stat "$r/data/sticky" '%F %a %u:%g' 'directory 1777 0:0'
	assert_stat "$r/work" '%F %u:%g' 'directory 1001:1002'
	# Type changes across layers.
	assert_stat "$r/swap/becomes-dir" '%F' directory
	[ "$(cat "$r/swap/becomes-dir/inner")" = inner ]
	assert_stat "$r/swap/becomes-file" '%F' 'regular file'
	[ "$(cat "$r/swap/becomes-file")" = now-a-file ]
	if [ -n "$XATTR" ]; then
		[ "$(getfattr -h --absolute-names --only-values -n user.husk "$r/data/xattr")" = hello ] ||
			fail "data/xattr lost its user.husk xattr"
	fi
}

@test "image unpack applies layers: whiteouts, opaque dirs, links, fifo, device, owners, modes, xattrs" {
	[ -z "${IS_RUNC:-}" ] || skip "husk only: image"
	build_features_image
	unpack "$LAYOUT:features" "$BUNDLE"
	assert_unpacked
	assert_features_tree "$BUNDLE/rootfs"
	[ -n "$XATTR" ] || echo "# the test filesystem drops user xattrs: xattr not checked" >&3
}

@test "image unpack writes config.json from the image config" {
	[ -z "${IS_RUNC:-}" ] || skip "husk only: image"
	build_features_image
	unpack "$LAYOUT:features" "$BUNDLE"
	assert_unpacked
	local c="$BUNDLE/config.json"
	# process.args = Entrypoint + Cmd.
	[ "$(jq -c .process.args "$c")" = "$(jq -cn --arg s "$FEATURE_SCRIPT" '["/bin/sh", "-c", $s]')" ] ||
		fail "process.args: $(jq -c .process.args "$c")"
	jq -e --arg p "$IMG_PATH_ENV" '.process.env | index($p) != null' "$c" >/dev/null ||
		fail "PATH missing from env: $(jq -c .process.env "$c")"
	jq -e '.process.env | index("GREETING=hello world") != null' "$c" >/dev/null ||
		fail "GREETING missing from env: $(jq -c .process.env "$c")"
	[ "$(jq -r .process.cwd "$c")" = /work ]
	# User "app" resolved through the image's /etc/passwd.
	[ "$(jq -r .process.user.uid "$c")" = 1001 ] || fail "uid $(jq -r .process.user.uid "$c")"
	[ "$(jq -r .process.user.gid "$c")" = 1002 ] || fail "gid $(jq -r .process.user.gid "$c")"
	[ "$(jq -r .process.terminal "$c")" = false ]
	[ "$(jq -r .root.path "$c")" = rootfs ]
	[ "$(jq -r '.annotations["org.example.label"]' "$c")" = "label value" ] ||
		fail "labels not in annotations: $(jq -c .annotations "$c")"
	[ "$(jq -r '.annotations | has("org.example.empty")' "$c")" = true ]
}

@test "image unpack resolves User forms: name, name:group, uid, uid:gid" {
	[ -z "${IS_RUNC:-}" ] || skip "husk only: image"
	local d="$TEST_DIR/users"
	mkdir -p "$d/etc"
	printf '%s\n' 'root:x:0:0:root:/root:/bin/sh' 'app:x:1001:1002:app:/:/bin/sh' >"$d/etc/passwd"
	printf '%s\n' 'root:x:0:' 'appgrp:x:1002:' 'other:x:3003:' >"$d/etc/group"
	# (Not "i": bats 1.8's `run --separate-stderr` sets a global i.)
	local user want n=0
	for user in "app=1001:1002" "app:other=1001:3003" "1001=1001:1002" "4242:4343=4242:4343" "=0:0"; do
		image_begin "$LAYOUT"
		image_layer_dir "$d" gzip
		image_config ".config.User = \"${user%%=*}\""
		image_commit "u$n"
		unpack "$LAYOUT:u$n" "$TEST_DIR/b$n"
		assert_unpacked "$TEST_DIR/b$n"
		want=${user#*=}
		[ "$(jq -r '"\(.process.user.uid):\(.process.user.gid)"' "$TEST_DIR/b$n/config.json")" = "$want" ] ||
			fail "User '${user%%=*}': expected $want, got $(jq -c .process.user "$TEST_DIR/b$n/config.json")"
		n=$((n + 1))
	done
}

@test "image unpack: the same tree and process as umoci unpack" {
	[ -z "${IS_RUNC:-}" ] || skip "husk only: image"
	command -v umoci >/dev/null || skip "umoci is not installed"
	build_features_image gzip
	unpack "$LAYOUT:features" "$BUNDLE"
	assert_unpacked
	run umoci unpack --image "$LAYOUT:features" "$TEST_DIR/umoci"
	assert_success
	local husk_tree umoci_tree
	husk_tree=$(tree_manifest "$BUNDLE/rootfs")
	umoci_tree=$(tree_manifest "$TEST_DIR/umoci/rootfs")
	[ "$(wc -l <<<"$husk_tree")" -gt 250 ] || fail "husk's tree is too small: $husk_tree"
	if [ "$husk_tree" != "$umoci_tree" ]; then
		echo "trees differ (< husk, > umoci):" >&2
		diff <(echo "$husk_tree") <(echo "$umoci_tree") >&2
		return 1
	fi
	# The root directory itself too.
	[ "$(stat -c '%a %u:%g' "$BUNDLE/rootfs")" = "$(stat -c '%a %u:%g' "$TEST_DIR/umoci/rootfs")" ] ||
		fail "rootfs: husk $(stat -c '%a %u:%g' "$BUNDLE/rootfs"), umoci $(stat -c '%a %u:%g' "$TEST_DIR/umoci/rootfs")"
	# The process both derive from the image config (umoci adds TERM and HOME to the env: only
	# the image's own variables are compared, in their order).
	local f
	for f in .process.args .process.cwd .process.user.uid .process.user.gid \
		'[.process.env[] | select(startswith("PATH=") or startswith("GREETING="))]'; do
		[ "$(jq -c "$f" "$BUNDLE/config.json")" = "$(jq -c "$f" "$TEST_DIR/umoci/config.json")" ] ||
			fail "$f: husk $(jq -c "$f" "$BUNDLE/config.json"), umoci $(jq -c "$f" "$TEST_DIR/umoci/config.json")"
	done
}

@test "image unpack: gzip, zstd and uncompressed layers" {
	[ -z "${IS_RUNC:-}" ] || skip "husk only: image"
	local comp d
	image_begin "$LAYOUT"
	for comp in gzip zstd none; do
		d="$TEST_DIR/$comp"
		mkdir -p "$d/data"
		echo "$comp" >"$d/data/$comp"
		# Each layer also rewrites the same file: the order of application shows.
		echo "$comp" >"$d/data/last"
		head -c 300000 /bin/busybox >"$d/data/big-$comp"
		image_layer_dir "$d" "$comp"
	done
	image_commit mixed
	jq -r '.layers[].mediaType' "$(image_blob_path "$LAYOUT" "$IMG_MANIFEST_DIGEST")" | tr '\n' ' ' |
		grep -qx 'application/vnd.oci.image.layer.v1.tar+gzip application/vnd.oci.image.layer.v1.tar+zstd application/vnd.oci.image.layer.v1.tar ' ||
		fail "the test image does not have the three layer types"
	unpack "$LAYOUT:mixed" "$BUNDLE"
	assert_unpacked
	for comp in gzip zstd none; do
		[ "$(cat "$BUNDLE/rootfs/data/$comp")" = "$comp" ] || fail "data/$comp"
		cmp "$BUNDLE/rootfs/data/big-$comp" "$TEST_DIR/$comp/data/big-$comp" || fail "data/big-$comp differs"
	done
	[ "$(cat "$BUNDLE/rootfs/data/last")" = none ] || fail "layers applied out of order: data/last = $(cat "$BUNDLE/rootfs/data/last")"
}

@test "image unpack from a tar of the layout" {
	[ -z "${IS_RUNC:-}" ] || skip "husk only: image"
	small_image latest
	image_tar "$LAYOUT" "$TEST_DIR/image.tar"
	image_tar "$LAYOUT" "$TEST_DIR/image-dot.tar" dot
	rm -rf "$LAYOUT"
	unpack "$TEST_DIR/image.tar:latest" "$BUNDLE"
	assert_unpacked
	[ "$(cat "$BUNDLE/rootfs/data/mark")" = latest ]
	unpack "$TEST_DIR/image-dot.tar:latest" "$TEST_DIR/b2"
	assert_unpacked "$TEST_DIR/b2"
	[ "$(cat "$TEST_DIR/b2/rootfs/data/mark")" = latest ]
	# Without a ref: the only manifest.
	unpack "$TEST_DIR/image.tar" "$TEST_DIR/b3"
	assert_unpacked "$TEST_DIR/b3"
	# Nothing beside the tar and the bundles (no extracted copy of the layout left around).
	[ "$(ls "$TEST_DIR" | tr '\n' ' ')" = "b2 b3 bundle image-dot.tar image.tar state " ] ||
		fail "left in the test directory: $(ls "$TEST_DIR" | tr '\n' ' ')"
}

@test "image unpack picks the manifest by tag, by digest, or the only one" {
	[ -z "${IS_RUNC:-}" ] || skip "husk only: image"
	small_image one
	local one=$IMG_MANIFEST_DIGEST
	small_image two
	local two=$IMG_MANIFEST_DIGEST
	unpack "$LAYOUT:two" "$TEST_DIR/b-two"
	assert_unpacked "$TEST_DIR/b-two"
	[ "$(cat "$TEST_DIR/b-two/rootfs/data/mark")" = two ]
	unpack "$LAYOUT:one" "$TEST_DIR/b-one"
	assert_unpacked "$TEST_DIR/b-one"
	[ "$(cat "$TEST_DIR/b-one/rootfs/data/mark")" = one ]
	unpack "$LAYOUT:$two" "$TEST_DIR/b-d2"
	assert_unpacked "$TEST_DIR/b-d2"
	[ "$(cat "$TEST_DIR/b-d2/rootfs/data/mark")" = two ]
	unpack "$LAYOUT:$one" "$TEST_DIR/b-d1"
	assert_unpacked "$TEST_DIR/b-d1"
	[ "$(cat "$TEST_DIR/b-d1/rootfs/data/mark")" = one ]
	# Two manifests for linux/amd64 and no ref: ambiguous.
	expect_refused "$LAYOUT"
	# An empty directory as the bundle is fine.
	mkdir "$TEST_DIR/empty"
	unpack "$LAYOUT:one" "$TEST_DIR/empty"
	assert_unpacked "$TEST_DIR/empty"
}

@test "image unpack selects by platform, variant included" {
	[ -z "${IS_RUNC:-}" ] || skip "husk only: image"
	small_image multi linux/arm/v6 arm-v6
	small_image multi linux/amd64 amd64
	small_image multi linux/arm/v7 arm-v7
	small_image multi linux/arm64 arm64
	unpack "$LAYOUT:multi" "$TEST_DIR/b-default"
	assert_unpacked "$TEST_DIR/b-default"
	[ "$(cat "$TEST_DIR/b-default/rootfs/data/mark")" = amd64 ]
	local p
	for p in linux/arm/v6:arm-v6 linux/arm/v7:arm-v7 linux/arm64:arm64 linux/amd64:amd64; do
		unpack --platform "${p%%:*}" "$LAYOUT:multi" "$TEST_DIR/b-${p##*:}"
		assert_unpacked "$TEST_DIR/b-${p##*:}"
		[ "$(cat "$TEST_DIR/b-${p##*:}/rootfs/data/mark")" = "${p##*:}" ] ||
			fail "--platform ${p%%:*} unpacked $(cat "$TEST_DIR/b-${p##*:}/rootfs/data/mark")"
	done
	# Without a ref: the one linux/amd64 manifest.
	unpack "$LAYOUT" "$TEST_DIR/b-noref"
	assert_unpacked "$TEST_DIR/b-noref"
	[ "$(cat "$TEST_DIR/b-noref/rootfs/data/mark")" = amd64 ]
	# No manifest for the platform asked.
	expect_refused --platform linux/s390x "$LAYOUT:multi" linux/s390x
	expect_refused --platform linux/arm/v5 "$LAYOUT:multi" linux/arm/v5
}

@test "image unpack refuses an image only for another platform" {
	[ -z "${IS_RUNC:-}" ] || skip "husk only: image"
	small_image armonly linux/arm64
	expect_refused "$LAYOUT:armonly" linux/amd64
	expect_refused "$LAYOUT"
	unpack --platform linux/arm64 "$LAYOUT:armonly" "$BUNDLE"
	assert_unpacked
	[ "$(cat "$BUNDLE/rootfs/data/mark")" = armonly ]
}

@test "image unpack follows a nested index" {
	[ -z "${IS_RUNC:-}" ] || skip "husk only: image"
	small_image "" linux/amd64 amd64
	small_image "" linux/arm64 arm64
	image_nest_index "$LAYOUT" nested
	[ "$(jq -r '.manifests[0].mediaType' "$LAYOUT/index.json")" = application/vnd.oci.image.index.v1+json ]
	unpack "$LAYOUT:nested" "$BUNDLE"
	assert_unpacked
	[ "$(cat "$BUNDLE/rootfs/data/mark")" = amd64 ]
	unpack --platform linux/arm64 "$LAYOUT:nested" "$TEST_DIR/b-arm"
	assert_unpacked "$TEST_DIR/b-arm"
	[ "$(cat "$TEST_DIR/b-arm/rootfs/data/mark")" = arm64 ]
	unpack "$LAYOUT" "$TEST_DIR/b-noref"
	assert_unpacked "$TEST_DIR/b-noref"
	[ "$(cat "$TEST_DIR/b-noref/rootfs/data/mark")" = amd64 ]
}

@test "image unpack: an absolute symlink to a directory of the image is followed inside the root" {
	[ -z "${IS_RUNC:-}" ] || skip "husk only: image"
	# Debian's var/run -> /run: a later layer writing var/run/x writes the image's run/x.
	local l1="$TEST_DIR/l1" l2="$TEST_DIR/l2" name="husk-test-$HUSK_TEST_RUN-run"
	mkdir -p "$l1/run" "$l1/var" "$l2/var/run"
	ln -s /run "$l1/var/run"
	echo inside >"$l2/var/run/$name"
	image_begin "$LAYOUT"
	image_layer_dir "$l1" gzip
	# The second layer's var/run is an entry for the symlink's path; only the file goes in.
	rm -rf "$l2.tar"
	tar --numeric-owner -C "$l2" -cf "$l2.tar" "var/run/$name"
	image_layer_tar "$l2.tar" gzip
	image_commit varrun
	unpack "$LAYOUT:varrun" "$BUNDLE"
	[ ! -e "/run/$name" ] || { rm -f "/run/$name"; fail "written to the host's /run/$name"; }
	assert_unpacked
	[ "$(readlink "$BUNDLE/rootfs/var/run")" = /run ] || fail "var/run is no longer the symlink"
	[ "$(cat "$BUNDLE/rootfs/run/$name")" = inside ] || fail "run/$name not written inside the root"
}

@test "image unpack --rootless by an unprivileged user: files the caller's, root mapped to it" {
	[ -z "${IS_RUNC:-}" ] || skip "husk only: image"
	requires root userns
	local d="$TEST_DIR/r" nb="$TEST_DIR/nb"
	mkdir -p "$d/data"
	echo owned >"$d/data/owned"
	chown 1234:5678 "$d/data/owned"
	chmod 0750 "$d/data/owned"
	mkdir "$d/data/private"
	chown 1001:1002 "$d/data/private"
	ln -s /etc/passwd "$d/data/link"
	mknod "$d/data/null" c 1 3
	image_begin "$LAYOUT"
	image_layer_dir "$d" gzip
	image_commit rootless
	# The layout readable by nobody (blobs are written 0600), a directory of nobody's for the
	# bundle.
	chmod -R a+rX "$LAYOUT"
	mkdir "$nb"
	chown 65534:65534 "$nb"
	run --separate-stderr timeout -k 10 "$HUSK_TEST_TIMEOUT" \
		setpriv --reuid=65534 --regid=65534 --clear-groups \
		"$RUNTIME" --root "$nb/state" image unpack --rootless "$LAYOUT:rootless" "$nb/bundle" </dev/null
	assert_unpacked "$nb/bundle"
	local r="$nb/bundle/rootfs"
	[ "$(cat "$r/data/owned")" = owned ]
	[ "$(readlink "$r/data/link")" = /etc/passwd ]
	# Everything the caller's; modes kept.
	[ -z "$(find "$nb/bundle" ! -user 65534 -o ! -group 65534)" ] ||
		fail "not owned by the caller: $(find "$nb/bundle" \( ! -user 65534 -o ! -group 65534 \) -printf '%P %U:%G\n')"
	assert_stat "$r/data/owned" '%F %a' 'regular file 750'
	assert_stat "$r/data/private" '%F' directory
	# An unprivileged user cannot make the device: not silently.
	[ ! -c "$r/data/null" ] || fail "a device node made by an unprivileged user?"
	grep -qF data/null <<<"$stderr" || fail "the device entry skipped without a word: $stderr"
	# The bundle runs in a user namespace where root is the caller.
	local c="$nb/bundle/config.json"
	jq -e '.linux.namespaces | map(.type) | index("user") != null' "$c" >/dev/null ||
		fail "no user namespace: $(jq -c .linux.namespaces "$c")"
	[ "$(jq -c '.linux.uidMappings' "$c")" = '[{"containerID":0,"hostID":65534,"size":1}]' ] ||
		fail "uidMappings: $(jq -c .linux.uidMappings "$c")"
	[ "$(jq -c '.linux.gidMappings' "$c")" = '[{"containerID":0,"hostID":65534,"size":1}]' ] ||
		fail "gidMappings: $(jq -c .linux.gidMappings "$c")"
}

# ---------------------------------------------------------------------------------------------
# Hostile layers: refused, named, and nothing written anywhere.

# hostile_image TAR: $LAYOUT:hostile, a small benign layer then TAR.
hostile_image() {
	image_begin "$LAYOUT"
	image_layer_dir "$(small_layer_dir)" gzip
	image_layer_tar "$1" gzip
	image_commit hostile
}

@test "image unpack refuses a layer entry climbing out with ../" {
	[ -z "${IS_RUNC:-}" ] || skip "husk only: image"
	local name
	name=$(escape_path "$TEST_DIR/evil-dotdot")
	hostile_file_tar "$TEST_DIR/evil.tar" "$name"
	hostile_image "$TEST_DIR/evil.tar"
	expect_refused "$LAYOUT:hostile" evil-dotdot
	[ ! -e "$TEST_DIR/evil-dotdot" ]
}

@test "image unpack refuses ../evil into a bundle directory that existed empty" {
	[ -z "${IS_RUNC:-}" ] || skip "husk only: image"
	hostile_file_tar "$TEST_DIR/evil.tar" ../evil
	hostile_image "$TEST_DIR/evil.tar"
	mkdir "$BUNDLE"
	expect_refused "$LAYOUT:hostile" ../evil
	[ ! -e "$BUNDLE/evil" ]
	# Again through a deeper ../../evil, which lands next to the bundle.
	rm -rf "$LAYOUT"
	hostile_file_tar "$TEST_DIR/evil2.tar" ../../evil2
	hostile_image "$TEST_DIR/evil2.tar"
	rm -f "$TEST_DIR/evil2.tar" "$TEST_DIR/evil.tar"
	expect_refused "$LAYOUT:hostile" ../../evil2
	[ ! -e "$TEST_DIR/evil2" ]
}

@test "image unpack refuses an absolute layer entry" {
	[ -z "${IS_RUNC:-}" ] || skip "husk only: image"
	hostile_file_tar "$TEST_DIR/evil.tar" "$TEST_DIR/evil-abs"
	hostile_image "$TEST_DIR/evil.tar"
	expect_refused "$LAYOUT:hostile" "$TEST_DIR/evil-abs"
	[ ! -e "$TEST_DIR/evil-abs" ]
}

@test "image unpack refuses an entry written through a symlink to an absolute outside path" {
	[ -z "${IS_RUNC:-}" ] || skip "husk only: image"
	mkdir "$TEST_DIR/outside"
	hostile_symlink_tar "$TEST_DIR/evil.tar" "$TEST_DIR/outside"
	hostile_image "$TEST_DIR/evil.tar"
	expect_refused "$LAYOUT:hostile" link/file
	[ -z "$(ls -A "$TEST_DIR/outside")" ] || fail "written outside: $(ls -A "$TEST_DIR/outside")"
}

@test "image unpack refuses an entry written through a symlink climbing out with ../" {
	[ -z "${IS_RUNC:-}" ] || skip "husk only: image"
	mkdir "$TEST_DIR/outside"
	hostile_symlink_tar "$TEST_DIR/evil.tar" "$(escape_path "$TEST_DIR/outside")"
	hostile_image "$TEST_DIR/evil.tar"
	expect_refused "$LAYOUT:hostile" link/file
	[ -z "$(ls -A "$TEST_DIR/outside")" ] || fail "written outside: $(ls -A "$TEST_DIR/outside")"
}

@test "image unpack refuses a hard link to a file outside through ../" {
	[ -z "${IS_RUNC:-}" ] || skip "husk only: image"
	mkdir "$TEST_DIR/outside"
	echo precious >"$TEST_DIR/outside/file"
	hostile_hardlink_tar "$TEST_DIR/evil.tar" "$(escape_path "$TEST_DIR/outside/file")"
	hostile_image "$TEST_DIR/evil.tar"
	expect_refused "$LAYOUT:hostile" evil
	[ "$(cat "$TEST_DIR/outside/file")" = precious ]
	assert_stat "$TEST_DIR/outside/file" %h 1
}

@test "image unpack refuses a hard link to an absolute path" {
	[ -z "${IS_RUNC:-}" ] || skip "husk only: image"
	mkdir "$TEST_DIR/outside"
	echo precious >"$TEST_DIR/outside/file"
	hostile_hardlink_tar "$TEST_DIR/evil.tar" "$TEST_DIR/outside/file"
	hostile_image "$TEST_DIR/evil.tar"
	expect_refused "$LAYOUT:hostile" evil
	[ "$(cat "$TEST_DIR/outside/file")" = precious ]
	assert_stat "$TEST_DIR/outside/file" %h 1
}

# ---------------------------------------------------------------------------------------------
# Bad blobs and bad layouts.

# zero_blob LAYOUT DIGEST: overwrite the blob with zeros of the same size.
zero_blob() {
	local f
	f=$(image_blob_path "$1" "$2")
	head -c "$(stat -c %s "$f")" /dev/zero >"$f.tmp" && mv "$f.tmp" "$f"
}

# fresh_small_image_blob WHAT: a new $LAYOUT:bad; prints the digest of its layer, config or
# manifest (in $(...): the layout is on disk, the IMG_* variables stay in the subshell).
fresh_small_image_blob() {
	rm -rf "$LAYOUT"
	small_image bad
	case $1 in
	layer) echo "${IMG_LAYER_DIGESTS[0]}" ;;
	config) echo "$IMG_CONFIG_DIGEST" ;;
	manifest) echo "$IMG_MANIFEST_DIGEST" ;;
	esac
}

@test "image unpack refuses a blob whose content does not match its digest" {
	[ -z "${IS_RUNC:-}" ] || skip "husk only: image"
	local what digest
	for what in layer config manifest; do
		digest=$(fresh_small_image_blob "$what")
		zero_blob "$LAYOUT" "$digest"
		expect_refused "$LAYOUT:bad" "$(hex12 "$digest")"
	done
}

@test "image unpack refuses a blob whose size does not match its descriptor" {
	[ -z "${IS_RUNC:-}" ] || skip "husk only: image"
	local delta layer
	for delta in 1 -1; do
		rm -rf "$LAYOUT"
		small_image bad
		layer=${IMG_LAYER_DIGESTS[0]}
		image_rewrite_manifest "$LAYOUT" "$IMG_MANIFEST_DIGEST" ".layers[0].size += $delta"
		expect_refused "$LAYOUT:bad" "$(hex12 "$layer")"
		# The manifest's own size in the index.
		rm -rf "$LAYOUT"
		small_image bad
		jq -c ".manifests[0].size += $delta" "$LAYOUT/index.json" >"$TEST_DIR/index.json"
		mv "$TEST_DIR/index.json" "$LAYOUT/index.json"
		expect_refused "$LAYOUT:bad" "$(hex12 "$IMG_MANIFEST_DIGEST")"
	done
}

@test "image unpack refuses a missing blob" {
	[ -z "${IS_RUNC:-}" ] || skip "husk only: image"
	local what digest
	for what in layer config manifest; do
		digest=$(fresh_small_image_blob "$what")
		rm "$(image_blob_path "$LAYOUT" "$digest")"
		expect_refused "$LAYOUT:bad" "$(hex12 "$digest")"
	done
}

@test "image unpack refuses a malformed or missing index.json" {
	[ -z "${IS_RUNC:-}" ] || skip "husk only: image"
	small_image bad
	echo '{"schemaVersion": 2, "manifests": [' >"$LAYOUT/index.json"
	expect_refused "$LAYOUT:bad" index.json
	echo '{"schemaVersion": 2, "manifests": "nope"}' >"$LAYOUT/index.json"
	expect_refused "$LAYOUT:bad" index.json
	rm "$LAYOUT/index.json"
	expect_refused "$LAYOUT:bad" index.json
	# Not a layout at all.
	expect_refused "$TEST_DIR/nonexistent:bad" "$TEST_DIR/nonexistent"
}

@test "image unpack refuses a malformed manifest" {
	[ -z "${IS_RUNC:-}" ] || skip "husk only: image"
	# Not JSON: a blob with the right digest (jq cannot write it, so it goes in by hand).
	small_image bad
	echo 'not json' >"$TEST_DIR/m"
	image_put_blob "$LAYOUT" "$TEST_DIR/m"
	jq -c --arg d "$BLOB_DIGEST" --argjson s "$BLOB_SIZE" \
		'.manifests[0].digest = $d | .manifests[0].size = $s' "$LAYOUT/index.json" >"$TEST_DIR/index.json"
	mv "$TEST_DIR/index.json" "$LAYOUT/index.json"
	expect_refused "$LAYOUT:bad" "$(hex12 "$BLOB_DIGEST")"
	# JSON, but layers is not an array.
	rm -rf "$LAYOUT"
	small_image bad
	image_rewrite_manifest "$LAYOUT" "$IMG_MANIFEST_DIGEST" '.layers = "nope"'
	expect_refused "$LAYOUT:bad" "$(hex12 "$IMG_MANIFEST_DIGEST")"
	# A layer of a media type no unpacker knows.
	rm -rf "$LAYOUT"
	small_image bad
	image_rewrite_manifest "$LAYOUT" "$IMG_MANIFEST_DIGEST" \
		'.layers[0].mediaType = "application/x-husk-test-unknown"'
	expect_refused "$LAYOUT:bad" application/x-husk-test-unknown
}

@test "image unpack refuses an unknown tag or digest" {
	[ -z "${IS_RUNC:-}" ] || skip "husk only: image"
	small_image present
	expect_refused "$LAYOUT:absent-tag" absent-tag
	local zero=sha256:0000000000000000000000000000000000000000000000000000000000000000
	expect_refused "$LAYOUT:$zero" 000000000000
}

@test "image unpack refuses a bundle directory that is not empty, and leaves it alone" {
	[ -z "${IS_RUNC:-}" ] || skip "husk only: image"
	small_image latest
	mkdir -p "$BUNDLE"
	echo mine >"$BUNDLE/keep"
	local before
	before=$(dir_snapshot "$TEST_DIR")
	unpack "$LAYOUT:latest" "$BUNDLE"
	assert_failure
	assert_stderr_names "$BUNDLE"
	[ "$(dir_snapshot "$TEST_DIR")" = "$before" ] || fail "the test directory changed"
	[ "$(cat "$BUNDLE/keep")" = mine ]
}

# ---------------------------------------------------------------------------------------------
# husk run --image.

@test "run --image --bundle runs Entrypoint+Cmd with the image's env, cwd and user; the bundle stays" {
	[ -z "${IS_RUNC:-}" ] || skip "husk only: image"
	build_features_image
	run --separate-stderr runtime run --image "$LAYOUT:features" --bundle "$BUNDLE" "$CID"
	assert_success
	[ "${lines[0]}" = "cwd=/work greeting=hello world" ] || fail "line 1: ${lines[0]}"
	[[ "${lines[1]}" =~ ^uid=1001\(app\)\ gid=1002\(appgrp\) ]] || fail "id: ${lines[1]}"
	[ "${lines[2]}" = keep ] || fail "line 3: ${lines[2]}"
	# Foreground run deletes the container, not the bundle it was given.
	run runtime state "$CID"
	assert_failure
	[ -x "$BUNDLE/rootfs/bin/busybox" ] && [ -f "$BUNDLE/config.json" ] || fail "the bundle was removed"
	assert_root_empty
	check_no_leftovers "$CID"
}

@test "run --image without --bundle runs and leaves nothing behind" {
	[ -z "${IS_RUNC:-}" ] || skip "husk only: image"
	build_features_image
	local before
	before=$(dir_snapshot "$TEST_DIR")
	run --separate-stderr runtime run --image "$LAYOUT:features" "$CID"
	assert_success
	[ "${lines[0]}" = "cwd=/work greeting=hello world" ] || fail "line 1: ${lines[0]}"
	[[ "${lines[1]}" =~ ^uid=1001\(app\)\ gid=1002\(appgrp\) ]] || fail "id: ${lines[1]}"
	assert_root_empty
	check_no_leftovers "$CID"
	# The bundle husk made for the container went with it.
	[ ! -e "/var/lib/husk/bundles/$CID" ] || fail "/var/lib/husk/bundles/$CID is left behind"
	# Nothing written next to the layout.
	[ "$(dir_snapshot "$TEST_DIR")" = "$before" ] || fail "the test directory changed"
}

# sleeper_image: $LAYOUT:sleeper, busybox running sleep 600.
sleeper_image() {
	image_begin "$LAYOUT"
	image_layer_busybox gzip
	image_config '.config.Entrypoint = ["sleep"]' '.config.Cmd = ["600"]'
	image_commit sleeper
}

@test "run -d --image: husk owns the bundle and delete removes it" {
	[ -z "${IS_RUNC:-}" ] || skip "husk only: image"
	sleeper_image
	runtime_detached run -d --image "$LAYOUT:sleeper" "$CID"
	assert_success
	wait_for_status "$CID" running
	local bundle pid
	bundle=$(state_field "$CID" bundle)
	pid=$(state_field "$CID" pid)
	[ -n "$bundle" ] && [ "$bundle" != null ] || fail "state has no bundle"
	[ -x "$bundle/rootfs/bin/busybox" ] && [ -f "$bundle/config.json" ] ||
		fail "state's bundle $bundle holds no unpacked image"
	[ "$(tr '\0' ' ' <"/proc/$pid/cmdline")" = "sleep 600 " ]
	run runtime kill "$CID" KILL
	assert_success
	wait_for_status "$CID" stopped
	# Still there while the container exists.
	[ -d "$bundle" ] || fail "the bundle went away before delete"
	run runtime delete "$CID"
	assert_success
	[ ! -e "$bundle" ] || fail "delete left the husk-owned bundle $bundle"
	check_no_leftovers "$CID"
}

@test "run -d --image --bundle: delete leaves the given bundle" {
	[ -z "${IS_RUNC:-}" ] || skip "husk only: image"
	sleeper_image
	runtime_detached run -d --image "$LAYOUT:sleeper" --bundle "$BUNDLE" "$CID"
	assert_success
	wait_for_status "$CID" running
	[ "$(state_field "$CID" bundle)" = "$BUNDLE" ]
	run runtime delete --force "$CID"
	assert_success
	[ -x "$BUNDLE/rootfs/bin/busybox" ] && [ -f "$BUNDLE/config.json" ] || fail "delete removed the given bundle"
	check_no_leftovers "$CID"
}

@test "run --image refuses a hostile image and leaves no container, bundle or file" {
	[ -z "${IS_RUNC:-}" ] || skip "husk only: image"
	hostile_file_tar "$TEST_DIR/evil.tar" "$(escape_path "$TEST_DIR/evil-run")"
	hostile_image "$TEST_DIR/evil.tar"
	local before
	before=$(dir_snapshot "$TEST_DIR")
	run --separate-stderr runtime run --image "$LAYOUT:hostile" --bundle "$BUNDLE" "$CID"
	assert_failure
	assert_stderr_names evil-run
	[ ! -e "$BUNDLE" ] || fail "bundle left behind"
	[ "$(dir_snapshot "$TEST_DIR")" = "$before" ] || fail "the test directory changed"
	run --separate-stderr runtime run --image "$LAYOUT:hostile" "$CID"
	assert_failure
	assert_stderr_names evil-run
	[ "$(dir_snapshot "$TEST_DIR")" = "$before" ] || fail "the test directory changed"
	run --separate-stderr runtime run --image "$LAYOUT:no-such-tag" "$CID"
	assert_failure
	assert_stderr_names no-such-tag
	assert_root_empty
	check_no_leftovers "$CID"
}

# ---------------------------------------------------------------------------------------------
# --cache: layers unpacked once, bundles as overlay mounts of them.

@test "image unpack --cache: an overlay of cached layers, the same tree, layers unpacked once" {
	[ -z "${IS_RUNC:-}" ] || skip "husk only: image"
	requires root
	has_cache_flag || skip "husk image unpack has no --cache yet"
	build_features_image
	local cache="$TEST_DIR/cache"
	unpack "$LAYOUT:features" "$TEST_DIR/plain"
	assert_unpacked "$TEST_DIR/plain"
	unpack --cache "$cache" "$LAYOUT:features" "$TEST_DIR/c1"
	assert_unpacked "$TEST_DIR/c1"
	overlay_mounted "$TEST_DIR/c1/rootfs" || fail "c1/rootfs is not an overlay mount"
	assert_features_tree "$TEST_DIR/c1/rootfs"
	local want got
	want=$(tree_manifest "$TEST_DIR/plain/rootfs")
	got=$(tree_manifest "$TEST_DIR/c1/rootfs")
	[ "$want" = "$got" ] || { diff <(echo "$want") <(echo "$got") >&2; fail "cached tree differs (< plain, > cache)"; }
	# One cache entry per layer, named by its digest.
	local i entries
	for i in "${!IMG_LAYER_DIGESTS[@]}"; do
		cache_has_layer "$cache" "$i" ||
			fail "no cache entry for layer ${IMG_LAYER_DIGESTS[$i]}: $(find "$cache" -maxdepth 3 | head -20)"
	done
	entries=$(cache_layer_entries "$cache")
	# The second bundle reuses them: no layer's cache entry re-created or rewritten.
	unpack --cache "$cache" "$LAYOUT:features" "$TEST_DIR/c2"
	assert_unpacked "$TEST_DIR/c2"
	overlay_mounted "$TEST_DIR/c2/rootfs" || fail "c2/rootfs is not an overlay mount"
	[ "$(tree_manifest "$TEST_DIR/c2/rootfs")" = "$want" ] || fail "second cached tree differs"
	[ "$(cache_layer_entries "$cache")" = "$entries" ] || {
		diff <(echo "$entries") <(cache_layer_entries "$cache") >&2
		fail "the second unpack rewrote the cache"
	}
	# Bundles are independent: a write in one shows neither in the other nor (so) in the
	# cached layers below both.
	echo private >"$TEST_DIR/c1/rootfs/etc/keep-me"
	[ "$(cat "$TEST_DIR/c2/rootfs/etc/keep-me")" = keep ] || fail "a write in c1 shows in c2"
}

@test "image unpack --cache: a hostile layer is refused and not cached" {
	[ -z "${IS_RUNC:-}" ] || skip "husk only: image"
	requires root
	has_cache_flag || skip "husk image unpack has no --cache yet"
	mkdir "$TEST_DIR/outside"
	hostile_symlink_tar "$TEST_DIR/evil.tar" "$TEST_DIR/outside"
	hostile_image "$TEST_DIR/evil.tar"
	local cache="$TEST_DIR/cache"
	unpack --cache "$cache" "$LAYOUT:hostile" "$BUNDLE"
	assert_failure
	assert_stderr_names link/file
	[ ! -e "$BUNDLE" ] || fail "bundle left behind"
	[ -z "$(ls -A "$TEST_DIR/outside")" ] || fail "written outside"
	[ -z "$(mounts_under "$TEST_DIR")" ] || fail "mounts left: $(mounts_under "$TEST_DIR")"
	if [ -d "$cache" ]; then
		! cache_has_layer "$cache" 1 || fail "the refused layer is in the cache: $(find "$cache" -maxdepth 3)"
	fi
}

# ---------------------------------------------------------------------------------------------
# Bad arguments, and image remove.

@test "image unpack refuses a malformed --platform" {
	[ -z "${IS_RUNC:-}" ] || skip "husk only: image"
	small_image ok
	local p
	for p in linux linux/ /amd64 linux/arm/v7/x; do
		expect_refused --platform "$p" "$LAYOUT:ok" "platform" "$p"
	done
}

@test "run --image refuses a hostile container id before making any bundle" {
	[ -z "${IS_RUNC:-}" ] || skip "husk only: image"
	small_image ok
	local id
	for id in ../husk-escape "a/b" ..; do
		run --separate-stderr runtime run --image "$LAYOUT:ok" "$id"
		assert_failure
		[ ! -e "/var/lib/husk/husk-escape" ] || { rm -rf /var/lib/husk/husk-escape; fail "a bundle was made outside the bundles directory"; }
		[ ! -e "/var/lib/husk/bundles/a" ] || fail "a bundle directory was made for id $id"
	done
	assert_root_empty
}

@test "image remove removes a bundle it made, overlay and all, and refuses any other directory" {
	[ -z "${IS_RUNC:-}" ] || skip "husk only: image"
	small_image ok
	unpack "$LAYOUT:ok" "$BUNDLE"
	assert_unpacked
	run --separate-stderr runtime image remove "$BUNDLE"
	assert_success
	[ ! -e "$BUNDLE" ] || fail "the bundle is still there"

	# A directory husk did not make (no husk-image.json) is left as it is.
	mkdir -p "$TEST_DIR/mine/rootfs"
	echo precious >"$TEST_DIR/mine/rootfs/file"
	run --separate-stderr runtime image remove "$TEST_DIR/mine"
	assert_failure
	assert_stderr_names husk-image.json
	[ "$(cat "$TEST_DIR/mine/rootfs/file")" = precious ] || fail "the directory was touched"

	requires root
	has_cache_flag || skip "husk image unpack has no --cache"
	unpack --cache "$TEST_DIR/cache" "$LAYOUT:ok" "$TEST_DIR/c1"
	assert_unpacked "$TEST_DIR/c1"
	overlay_mounted "$TEST_DIR/c1/rootfs" || fail "c1/rootfs is not an overlay mount"
	run --separate-stderr runtime image rm "$TEST_DIR/c1"
	assert_success
	[ ! -e "$TEST_DIR/c1" ] || fail "the cached bundle is still there"
	[ -z "$(mounts_under "$TEST_DIR")" ] || fail "mounts left: $(mounts_under "$TEST_DIR")"
	cache_has_layer "$TEST_DIR/cache" 0 || fail "removing a bundle took its layer out of the cache"
}
