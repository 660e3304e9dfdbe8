#!/bin/bash
# Runs tests/containerd/containerd.bats against a private containerd.
#
#   tests/containerd/run.sh               every test
#   tests/containerd/run.sh -f 'exec'     bats options pass through (here: a name filter)
#   tests/containerd/run.sh other.bats    these bats files instead of containerd.bats
#
# Environment:
#   HUSK_CTD_RUNTIME   containerd runtime name under test (default io.containerd.husk.v2;
#                      io.containerd.runc.v2 runs the same tests against Debian's runc shim,
#                      which is how we know the tests check the right thing)
#   HUSK_BUILD         build directory (default: build/ at the top of the tree)
#   HUSK_SHIM_DIR      directory put first in containerd's PATH, where it finds
#                      containerd-shim-husk-v2 (default $HUSK_BUILD/shim)
#   HUSK_SHIM_CONFIG   if set, handed to containerd and from there to every shim it starts
#                      (the husk shim reads its runtime binary and root from that file)
#   BATS_TEST_TIMEOUT  seconds one test may take (default 120)
#   HUSK_CTD_KEEP=1    keep the work directory's logs (containerd.log) after the run
#   HUSK_CTD_CMD       a bash command to run instead of bats, with the same environment
#                      (CTR_ADDRESS, CTR_NAMESPACE, HUSK_CTD_IMAGE...): bench/shim.sh
#
# Must run as root. Installs what it needs from Debian's apt when it is missing.
#
# Isolation. Everything happens in a private mount namespace (unshare --mount, propagation
# private), in which:
#   - the work directory $work/fs is a tmpfs: containerd's root, state, sockets, the image;
#   - /run is a fresh tmpfs: shims put their sockets under /run/containerd/s, runc keeps its
#     state under /run/containerd/runc, ctr makes its I/O fifos under /run/containerd/fifo.
#     Those paths are fixed, so without this a system containerd on the same machine would share
#     them with us;
#   - /dev/null is a device node of our own (a broken runtime that chowns or replaces the
#     /dev/null it bind-mounts damages only ours).
# containerd itself also gets a network namespace of its own, made with `unshare --net` rather
# than `ip netns add`: it has no name to leak and the kernel frees it when its last process
# exits; we record its inode and check afterwards that no process is still in it. (`ip netns
# exec` is no good here: it remounts /sys, which hides the cgroup mounts from containerd and the
# shims.) Containers get their own network namespaces from the default ctr spec anyway.
#
# Containers of the run live in a containerd namespace of their own (husk-ctd-<run>), so their
# cgroups are /sys/fs/cgroup/<controller>/husk-ctd-<run>/<id> and their processes, cgroups and
# shims can be told apart from anything else on the machine.
#
# After the run, inside the namespace: no container left in containerd, no mount left under
# its state directory or /run; no process left in the private mount namespace, in containerd's
# network namespace, in a cgroup of the run or naming the work directory (shims, ctr). Then on
# the host: /dev/null intact; no such process, no cgroup directory of the run, no mount under
# the work directory. Anything found is reported, cleaned up, and fails the run.
#
# Exit status: 0 when every test passed and nothing was left behind; 1 otherwise; 2 when the
# tests could not run at all.

set -u

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=$(cd "$HERE/../.." && pwd)
IMAGE_NAME=localhost/husk-busybox
IMAGE_REF=$IMAGE_NAME:latest

log() { echo "# $*"; }

# The containerd of the run: a config with only what ctr needs. CRI is off (it would want CNI
# and starts a streaming server); the snapshotters that cannot work here (aufs, btrfs, zfs,
# devmapper) are off so they do not probe; "opt" is off because it creates /opt/containerd on
# the host; the restart monitor is unused. The v1 runtime stays although no test uses it: the
# tasks service of 1.6 does not load without it. overlayfs stays: it is the
# default snapshotter and gives the shims the overlay rootfs mount real deployments have.
write_config() {
	local fs=$1
	cat >"$fs/config.toml" <<EOF
version = 2
root = "$fs/root"
state = "$fs/state"
disabled_plugins = [
  "io.containerd.grpc.v1.cri",
  "io.containerd.internal.v1.opt",
  "io.containerd.internal.v1.restart",
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.zfs",
]

[grpc]
  # The ttrpc socket (what shims publish events to) is this address plus ".ttrpc".
  address = "$fs/containerd.sock"

[debug]
  level = "debug"
EOF
}

# put_blob FILE: moves FILE into the layout's blob store under its digest; prints the digest.
put_blob() {
	local file=$1 blobs=$2 sum
	sum=$(sha256sum "$file") || return
	sum=${sum%% *}
	mv "$file" "$blobs/$sum" || return
	echo "$sum"
}

# build_image DIR ARCHIVE: a one-layer busybox image as an OCI archive. The layer is built the
# same way every time (sorted, owner 0, mtime 0), so its digest only changes with busybox.
build_image() {
	local dir=$1 archive=$2
	local rootfs="$dir/rootfs" oci="$dir/oci" arch
	local blobs="$oci/blobs/sha256"
	local layer layer_size config config_size manifest manifest_size

	case "$(uname -m)" in
	x86_64) arch=amd64 ;;
	aarch64) arch=arm64 ;;
	*) arch=$(uname -m) ;;
	esac

	mkdir -p "$rootfs"/{bin,sbin,usr/bin,usr/sbin,etc,root,tmp,proc,sys,dev,var/tmp} "$blobs" || return
	chmod 1777 "$rootfs/tmp" "$rootfs/var/tmp"
	chmod 0700 "$rootfs/root"
	cp /bin/busybox "$rootfs/bin/busybox" || return
	# Inside the chroot /proc/self/exe cannot be read, so busybox links its applets to argv[0]:
	# the links point at /bin/busybox as the container will see it.
	chroot "$rootfs" /bin/busybox --install -s || return
	printf '%s\n' 'root:x:0:0:root:/root:/bin/sh' 'nobody:x:65534:65534:nobody:/nonexistent:/bin/false' \
		>"$rootfs/etc/passwd"
	printf '%s\n' 'root:x:0:' 'nogroup:x:65534:' >"$rootfs/etc/group"

	tar --sort=name --numeric-owner --owner=0 --group=0 --mtime=@0 \
		-C "$rootfs" -cf "$dir/layer.tar" . || return
	layer_size=$(stat -c %s "$dir/layer.tar")
	layer=$(put_blob "$dir/layer.tar" "$blobs") || return

	# The layer is stored uncompressed, so its diff_id is its digest.
	jq -cn --arg arch "$arch" --arg diff "sha256:$layer" '{
		architecture: $arch, os: "linux",
		config: {
			Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
			Cmd: ["sh"], WorkingDir: "/"
		},
		rootfs: {type: "layers", diff_ids: [$diff]}
	}' >"$dir/config.json" || return
	config_size=$(stat -c %s "$dir/config.json")
	config=$(put_blob "$dir/config.json" "$blobs") || return

	jq -cn --arg c "sha256:$config" --argjson cs "$config_size" \
		--arg l "sha256:$layer" --argjson ls "$layer_size" '{
		schemaVersion: 2,
		mediaType: "application/vnd.oci.image.manifest.v1+json",
		config: {mediaType: "application/vnd.oci.image.config.v1+json", digest: $c, size: $cs},
		layers: [{mediaType: "application/vnd.oci.image.layer.v1.tar", digest: $l, size: $ls}]
	}' >"$dir/manifest.json" || return
	manifest_size=$(stat -c %s "$dir/manifest.json")
	manifest=$(put_blob "$dir/manifest.json" "$blobs") || return

	# The OCI ref.name annotation holds only the tag; `ctr images import --base-name` supplies
	# the repository part.
	jq -cn --arg m "sha256:$manifest" --argjson ms "$manifest_size" --arg arch "$arch" '{
		schemaVersion: 2,
		manifests: [{
			mediaType: "application/vnd.oci.image.manifest.v1+json", digest: $m, size: $ms,
			platform: {architecture: $arch, os: "linux"},
			annotations: {"org.opencontainers.image.ref.name": "latest"}
		}]
	}' >"$oci/index.json" || return
	echo '{"imageLayoutVersion":"1.0.0"}' >"$oci/oci-layout"
	tar --numeric-owner --owner=0 --group=0 -C "$oci" -cf "$archive" oci-layout index.json blobs
}

# mounts_under DIR: mount points strictly below DIR, deepest first.
mounts_under() {
	awk -v d="$1/" 'index($5, d) == 1 { print $5 }' /proc/self/mountinfo | sort -r
}

# procs_of_run WORK NS NETNS: live processes of the run: naming the work directory's tmpfs
# (containerd's config, its socket as the shims' -address, ctr's --address) on their command line, in a cgroup of the containerd namespace, or in containerd's network namespace.
# Zombies do not count (an exited process whose parent has not reaped it yet).
procs_of_run() {
	local work=$1 ns=$2 netns=$3 f p st
	{
		grep -lzF "$work/fs/" /proc/[0-9]*/cmdline 2>/dev/null
		grep -lE ":/(.*/)?$ns(/|\$)" /proc/[0-9]*/cgroup 2>/dev/null
		if [ -n "$netns" ]; then
			stat -L -c '%i %n' /proc/[0-9]*/ns/net 2>/dev/null | awk -v i="$netns" '$1 == i { print $2 }'
		fi
	} | while read -r f; do
		p=${f#/proc/}
		p=${p%%/*}
		[ "$p" = "$$" ] || [ "$p" = "$BASHPID" ] && continue
		st=$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$p/status" 2>/dev/null)
		[ -n "$st" ] && [ "$st" != Z ] && echo "$p"
	done | sort -un
}

# procs_in_mntns INODE ROOT: live processes in the mount namespace INODE that do not descend
# from process ROOT. Run inside the run's private mount namespace with ROOT = that shell, it
# finds what the run left there (a shim, a background ctr, their children), whatever their
# command line, while passing over the shell's own helpers.
procs_in_mntns() {
	{
		# comm may hold spaces and parentheses: the fields that matter follow the last ')'.
		cat /proc/[0-9]*/stat 2>/dev/null |
			awk '{ s = $0; sub(/.*\) /, "", s); split(s, a, " "); print "P", $1, a[1], a[2] }'
		stat -L -c 'M %n %i' /proc/[0-9]*/ns/mnt 2>/dev/null
	} | awk -v ino="$1" -v root="$2" '
		$1 == "P" { state[$2] = $3; ppid[$2] = $4; next }
		$1 == "M" && $3 == ino { split($2, f, "/"); in_ns[f[3]] = 1 }
		END {
			for (p in in_ns) {
				if (!(p in state) || state[p] == "Z") continue
				ours = 0
				for (q = p; q in ppid; q = ppid[q]) {
					if (q == root) { ours = 1; break }
				}
				if (!ours) print p
			}
		}'
}

describe_proc() {
	echo "pid $1: $(tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | cut -c1-200)"
}

# cgroup_dirs NS: the run's top cgroup directory in every hierarchy (v1 controllers, the
# unified mount of a hybrid host, or a pure v2 root).
cgroup_dirs() {
	local d
	for d in /sys/fs/cgroup/"$1" /sys/fs/cgroup/*/"$1"; do
		[ -d "$d" ] && echo "$d"
	done
}

# ---------------------------------------------------------------------------------------------
# Inside the private mount namespace: $1 = --inner, $2 = work dir, the rest for bats.
if [ "${1:-}" = --inner ]; then
	work=$2
	shift 2
	fs="$work/fs"
	report="$work/report"
	: >"$report/inner"
	complain() { echo "$*" >>"$report/inner"; }

	set -e
	mount -t tmpfs -o mode=0711 husk-ctd "$fs"
	mknod -m 0666 "$fs/null" c 1 3
	mount --bind "$fs/null" /dev/null
	mount -t tmpfs -o mode=0755 husk-ctd-run /run
	mkdir -p "$fs/tmp" "$fs/image"
	set +e
	# /run is a fresh tmpfs from here on: a shim config kept there is out of sight.
	if [ -n "${HUSK_SHIM_CONFIG:-}" ] && [ ! -r "$HUSK_SHIM_CONFIG" ]; then
		echo "run.sh: cannot read HUSK_SHIM_CONFIG=$HUSK_SHIM_CONFIG (the run has a /run of its own: keep it elsewhere)" >&2
		echo finished >"$report/finished"
		exit 2
	fi
	export TMPDIR="$fs/tmp"

	write_config "$fs"
	sock="$fs/containerd.sock"
	ctr_() { timeout -k 5 30 ctr --address "$sock" --namespace "$HUSK_CTD_NAMESPACE" "$@"; }

	# containerd passes its environment on to the shims it starts: PATH (where it also looks the
	# shim binary up) and HUSK_SHIM_CONFIG, if the caller set it, reach the husk shim this way.
	PATH="$HUSK_SHIM_DIR:$PATH" unshare --net containerd --config "$fs/config.toml" \
		</dev/null >"$work/logs/containerd.log" 2>&1 &
	ctd_pid=$!

	up=
	for _ in $(seq 100); do
		if ! kill -0 "$ctd_pid" 2>/dev/null; then
			break
		fi
		if [ -S "$sock" ] && ctr_ version >/dev/null 2>&1; then
			up=1
			break
		fi
		sleep 0.1
	done
	# From here on containerd's network namespace is known by its inode. Only once it is surely
	# a namespace of its own: processes in it are taken for leftovers of the run and killed.
	if [ -n "$up" ]; then
		ctd_netns=$(stat -L -c %i "/proc/$ctd_pid/ns/net" 2>/dev/null)
		if [ -n "$ctd_netns" ] && [ "$ctd_netns" != "$(stat -L -c %i /proc/self/ns/net)" ]; then
			# Holding it open keeps the namespace, and so its inode, from being freed and
			# handed to some other namespace before the check below.
			exec {netns_fd}<"/proc/$ctd_pid/ns/net"
			echo "$ctd_netns" >"$report/netns"
		fi
	fi
	rc=2
	if [ -z "$up" ]; then
		echo "run.sh: containerd did not come up; its log ends with:" >&2
		tail -n 20 "$work/logs/containerd.log" >&2
	elif ! build_image "$fs/image" "$fs/image.tar" >"$work/logs/image.log" 2>&1; then
		echo "run.sh: building the busybox image failed:" >&2
		cat "$work/logs/image.log" >&2
	elif ! ctr_ images import --base-name "$IMAGE_NAME" "$fs/image.tar" >>"$work/logs/image.log" 2>&1 ||
		! ctr_ images ls -q | grep -qxF "$IMAGE_REF"; then
		echo "run.sh: importing the image failed:" >&2
		cat "$work/logs/image.log" >&2
	else
		export CTR_ADDRESS="$sock" CTR_NAMESPACE="$HUSK_CTD_NAMESPACE" HUSK_CTD_IMAGE="$IMAGE_REF"
		export HUSK_CTD_STATE="$fs/state" HUSK_CTD_RUNTIME
		args=("$@")
		have_files=
		for a in "$@"; do
			case "$a" in
			*.bats) have_files=1 ;;
			esac
		done
		[ -n "$have_files" ] || args+=("$HERE/containerd.bats")
		if [ -n "${HUSK_CTD_CMD:-}" ]; then
			# Another program in this containerd's place (bench/shim.sh), same checks after.
			bash -c "$HUSK_CTD_CMD" </dev/null
		else
			bats --tap --print-output-on-failure "${args[@]}" </dev/null
		fi
		rc=$?
	fi

	# What only this namespace sees: containers containerd still knows, mounts of the run.
	if [ -n "$up" ]; then
		left=$(ctr_ containers ls -q 2>/dev/null)
		[ -n "$left" ] && complain "containers left in containerd: $(xargs <<<"$left")"
		# Give leftover tasks a chance to go the orderly way before containerd stops.
		for id in $left; do
			ctr_ task resume "$id" >/dev/null 2>&1
			ctr_ task rm -f "$id" >/dev/null 2>&1
			ctr_ containers rm "$id" >/dev/null 2>&1
		done
	fi
	for m in $(mounts_under "$fs/state") $(mounts_under /run); do
		complain "mount left behind: $m"
	done

	# Stop containerd. Shims outlive it by design, so any left now are leaks.
	kill -TERM "$ctd_pid" 2>/dev/null
	for _ in $(seq 100); do
		kill -0 "$ctd_pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$ctd_pid" 2>/dev/null
	wait "$ctd_pid" 2>/dev/null

	netns=$(cat "$report/netns" 2>/dev/null)
	mntns=$(stat -L -c %i /proc/self/ns/mnt)
	leftovers() {
		{
			procs_of_run "$work" "$HUSK_CTD_NAMESPACE" "$netns"
			procs_in_mntns "$mntns" $$
		} | sort -un
	}
	for p in $(leftovers); do
		complain "process left behind: $(describe_proc "$p")"
		kill -KILL "$p" 2>/dev/null
	done
	for _ in $(seq 50); do
		[ -z "$(leftovers)" ] && break
		sleep 0.1
	done
	[ -n "${netns_fd:-}" ] && exec {netns_fd}<&-

	for m in $(mounts_under "$fs") $(mounts_under /run); do
		umount "$m" 2>/dev/null || umount -l "$m"
	done
	umount /run 2>/dev/null || umount -l /run
	umount /dev/null 2>/dev/null || umount -l /dev/null
	umount "$fs" 2>/dev/null || umount -l "$fs"
	echo finished >"$report/finished"
	exit "$rc"
fi

# ---------------------------------------------------------------------------------------------
# On the host.

if [ "$(id -u)" -ne 0 ]; then
	echo "run.sh: needs root" >&2
	exit 2
fi

# Install what is missing, quietly. The containerd package brings ctr, the runc shim and runc;
# busybox must be the static build, the image has no libc.
missing=()
for pair in containerd:containerd ctr:containerd containerd-shim-runc-v2:containerd \
	bats:bats jq:jq script:bsdutils unshare:util-linux pgrep:procps timeout:coreutils tar:tar; do
	command -v "${pair%%:*}" >/dev/null || missing+=("${pair#*:}")
done
dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'install ok installed' ||
	missing+=(busybox-static)
if [ ${#missing[@]} -gt 0 ]; then
	mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
	log "installing: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	if ! apt-get install -y -qq "${missing[@]}" >/tmp/husk-ctd-apt.log 2>&1; then
		apt-get update -qq >>/tmp/husk-ctd-apt.log 2>&1
		if ! apt-get install -y -qq "${missing[@]}" >>/tmp/husk-ctd-apt.log 2>&1; then
			echo "run.sh: apt-get install ${missing[*]} failed:" >&2
			tail -n 20 /tmp/husk-ctd-apt.log >&2
			exit 2
		fi
	fi
	rm -f /tmp/husk-ctd-apt.log
fi

export HUSK_CTD_RUNTIME=${HUSK_CTD_RUNTIME:-io.containerd.husk.v2}
export BATS_TEST_TIMEOUT=${BATS_TEST_TIMEOUT:-120}
HUSK_BUILD=${HUSK_BUILD:-"$TOP/build"}
HUSK_SHIM_DIR=${HUSK_SHIM_DIR:-"$HUSK_BUILD/shim"}
# containerd resolves the shim through PATH and then makes the result absolute against its own
# working directory; an absolute directory avoids depending on where that is.
case "$HUSK_SHIM_DIR" in
/*) ;;
*) HUSK_SHIM_DIR="$PWD/$HUSK_SHIM_DIR" ;;
esac
export HUSK_SHIM_DIR
# Shims run in their bundle directory, so a relative path would not reach them.
if [ -n "${HUSK_SHIM_CONFIG:-}" ]; then
	case "$HUSK_SHIM_CONFIG" in
	/*) ;;
	*) HUSK_SHIM_CONFIG="$PWD/$HUSK_SHIM_CONFIG" ;;
	esac
	export HUSK_SHIM_CONFIG
fi

work=$(mktemp -d /tmp/husk-ctd.XXXXXX)
chmod 0711 "$work"
mkdir -p "$work/fs" "$work/report" "$work/logs"
run_id=$(basename "$work" | sed 's/^husk-ctd\.//' | tr -dc 'a-zA-Z0-9' | tr '[:upper:]' '[:lower:]')
export HUSK_CTD_NAMESPACE="husk-ctd-$run_id"

shim_name=
case "$HUSK_CTD_RUNTIME" in
*.*.*) shim_name="containerd-shim-$(echo "$HUSK_CTD_RUNTIME" | awk -F. '{ print $(NF-1) "-" $NF }')" ;;
esac
shim_path=$(PATH="$HUSK_SHIM_DIR:$PATH" command -v "$shim_name" 2>/dev/null)
log "containerd: $(containerd --version | awk '{ print $3 }'), namespace $HUSK_CTD_NAMESPACE, work dir $work"
log "runtime: $HUSK_CTD_RUNTIME (shim: ${shim_path:-"$shim_name NOT FOUND in $HUSK_SHIM_DIR or PATH"})"
[ -n "${HUSK_SHIM_CONFIG:-}" ] && log "HUSK_SHIM_CONFIG=$HUSK_SHIM_CONFIG"

devnull_before=$(stat -c '%F %t:%T %a %u:%g' /dev/null)
tap="$work/logs/tap"
unshare --mount --propagation private "$BASH" "${BASH_SOURCE[0]}" --inner "$work" "$@" \
	</dev/null 2>&1 | tee "$tap"
rc=${PIPESTATUS[0]}

total=$(sed -n 's/^1\.\.\([0-9]*\)$/\1/p' "$tap" | head -n1)
failed=$(grep -c '^not ok ' "$tap")
skipped=$(grep -cE '^ok [0-9]+ .* # skip' "$tap")
summary="${total:-0} tests, $failed failures"
[ "$skipped" -gt 0 ] && summary+=", $skipped skipped"
echo
echo "$summary"

host_ok=1
complain() {
	echo "HOST CHECK: $*" >&2
	host_ok=
}

devnull_after=$(stat -c '%F %t:%T %a %u:%g' /dev/null)
if [ "$devnull_after" != "character special file 1:3 666 0:0" ]; then
	complain "/dev/null is now '$devnull_after' (was '$devnull_before')"
fi
if [ ! -e "$work/report/finished" ]; then
	complain "the run did not finish its own checks and cleanup"
fi
while read -r line; do
	complain "$line"
done <"$work/report/inner"

# Not by network namespace here: the run's may be gone by now and its inode reused by another.
for p in $(procs_of_run "$work" "$HUSK_CTD_NAMESPACE" ""); do
	complain "process left behind: $(describe_proc "$p")"
	kill -KILL "$p" 2>/dev/null
done

# Only the top directory of the run, emptied of container cgroups, may be there: the runtime
# creates it as the parent of the container cgroups and does not own it. Anything below it is
# a container cgroup that was not removed.
sleep 0.2
for d in $(cgroup_dirs "$HUSK_CTD_NAMESPACE"); do
	while read -r sub; do
		complain "cgroup left behind: $sub"
	done < <(find "$d" -mindepth 1 -type d 2>/dev/null)
	find "$d" -depth -type d -exec rmdir {} + 2>/dev/null
	[ -d "$d" ] && complain "cannot remove cgroup $d"
done

for m in $(mounts_under "$work"); do
	complain "mount left behind on the host: $m"
	umount -l "$m"
done

if [ "${HUSK_CTD_KEEP:-0}" = 1 ] || { [ "$rc" -ne 0 ] && [ "$rc" -ne 1 ]; }; then
	log "logs kept in $work/logs"
	rm -rf "$work/fs" "$work/report"
else
	if [ "$rc" -ne 0 ] || [ -z "$host_ok" ]; then
		log "containerd's errors and warnings (last 20; HUSK_CTD_KEEP=1 keeps the whole log):"
		grep -E 'level=(error|warning|fatal|panic)' "$work/logs/containerd.log" | tail -n 20 |
			sed 's/^/#   /'
	fi
	rm -rf "$work"
fi

[ -n "$host_ok" ] || exit 1
exit "$rc"
