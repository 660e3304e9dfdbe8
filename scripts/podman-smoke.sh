#!/usr/bin/env bash
# podman-smoke.sh [RUNTIME]: drive an OCI runtime through podman, the way a user would.
#
#   bash scripts/podman-smoke.sh                        # build/runtime/cli/husk
#   bash scripts/podman-smoke.sh /usr/sbin/runc         # the reference runtime (or RUNTIME=...)
#
# What it does, as root:
#   1. installs podman from Debian's apt if it is missing (it pulls conmon in);
#   2. builds a busybox root file system (scripts/make-rootfs.sh) and turns it into an image
#      with `podman import` (no registry is reachable on our machines);
#   3. with `podman --runtime RUNTIME --cgroup-manager=cgroupfs`, runs a container in the
#      foreground (echo, and its exit code), runs one detached (sleep), execs into it (plain,
#      with an exit code, and with a terminal), stops it and removes it.
# conmon then calls the runtime as in /work/shared/docs/real-calls.txt: create --bundle
# --pid-file [--console-socket], start, exec --process FILE --detach --pid-file, kill, delete
# --force, state.
#
# Everything podman keeps (images, containers, its database, its run directory) lives in one
# temporary directory, removed at the end whatever happened; the runtime keeps its state in its
# default --root, as under podman anywhere. The containers have no network (--network none),
# so the host's network is not touched. Not part of the default test run: installing podman
# takes a while and needs apt (once installed, a run takes a few seconds).
#
# Exit status: 0 when every step worked, 1 when one failed (the failing step is named), 2 when
# the smoke test could not run at all.

set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
RUNTIME=${1:-${RUNTIME:-"$here/../build/runtime/cli/husk"}}
case "$RUNTIME" in
/*) ;;
*/*) RUNTIME="$PWD/$RUNTIME" ;;
*) RUNTIME=$(command -v "$RUNTIME") || RUNTIME=/nonexistent/$RUNTIME ;;
esac

if [ "$(id -u)" -ne 0 ]; then
	echo "podman-smoke: needs root" >&2
	exit 2
fi
if [ ! -x "$RUNTIME" ]; then
	echo "podman-smoke: runtime $RUNTIME not found or not executable (build first, or pass one)" >&2
	exit 2
fi
if ! command -v podman >/dev/null || ! command -v conmon >/dev/null; then
	echo "podman-smoke: installing podman from apt"
	export DEBIAN_FRONTEND=noninteractive
	if ! { apt-get update -qq && apt-get install -y -qq podman >/dev/null; }; then
		echo "podman-smoke: could not install podman" >&2
		exit 2
	fi
fi
for tool in podman conmon tar busybox; do
	command -v "$tool" >/dev/null || { echo "podman-smoke: $tool is missing" >&2; exit 2; }
done

work=$(mktemp -d /tmp/husk-podman.XXXXXX)
chmod 0755 "$work"
mkdir -p "$work"/{root,runroot,tmp,net,conf}
# A containers.conf of our own, so that a host configuration (another default runtime, a
# systemd cgroup manager, journald logging) does not change what we test. As root, podman
# asks for RLIMIT_NOFILE and RLIMIT_NPROC far above the host's hard limits, which needs
# CAP_SYS_RESOURCE (our machines lack it; the runtime then fails with "error setting rlimit
# type 7: operation not permitted"). Modest limits instead: lowering a limit always works.
cat >"$work/conf/containers.conf" <<'EOF'
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]
EOF
export CONTAINERS_CONF="$work/conf/containers.conf"
export TMPDIR="$work/tmp"

P=(podman --root "$work/root" --runroot "$work/runroot" --tmpdir "$work/tmp"
	--network-config-dir "$work/net" --storage-driver vfs --events-backend file
	--cgroup-manager=cgroupfs --runtime "$RUNTIME")
IMAGE=localhost/husk-smoke:latest
NAME=husk-smoke-$$

# With cgroupfs, podman puts containers under libpod_parent/libpod-ID in every hierarchy and
# conmon under libpod_parent/conmon, and leaves the (empty) parents behind. Ours are removed
# at the end; cgroups that were there before the run are not touched.
cgroups_before=$(find /sys/fs/cgroup -maxdepth 3 -path '*libpod_parent*' -type d 2>/dev/null | sort)
podman_cgroups() {
	find /sys/fs/cgroup -maxdepth 3 -path '*libpod_parent*' -type d 2>/dev/null | sort
}

cleanup() {
	"${P[@]}" rm --force --all --time 0 >/dev/null 2>&1
	local d
	for d in $(comm -13 <(echo "$cgroups_before") <(podman_cgroups) | sort -r); do
		rmdir "$d" 2>/dev/null
	done
	"${P[@]}" rmi --force --all >/dev/null 2>&1
	# podman mounts each container's /dev/shm (and vfs layers may be mounts); nothing of ours
	# may stay mounted, or rm would walk into it.
	local m
	for m in $(awk -v w="$work/" 'index($5, w) == 1 { print $5 }' /proc/self/mountinfo | sort -r); do
		umount -l "$m" 2>/dev/null
	done
	rm -rf --one-file-system "$work"
}
trap cleanup EXIT

failures=0
step() {
	echo "== $*"
}
bad() {
	echo "FAIL: $*" >&2
	failures=$((failures + 1))
}

echo "runtime: $RUNTIME ($("$RUNTIME" --version 2>/dev/null | head -n1))"
echo "podman:  $(podman --version)"

step "import a busybox image"
bash "$here/make-rootfs.sh" "$work/rootfs" || { echo "podman-smoke: make-rootfs.sh failed" >&2; exit 2; }
if ! tar -C "$work/rootfs" -c . | "${P[@]}" import - "$IMAGE" >/dev/null; then
	echo "podman-smoke: podman import failed" >&2
	exit 2
fi

step "run --rm IMAGE echo"
out=$("${P[@]}" run --rm --network none "$IMAGE" echo hello-from-podman 2>&1)
rc=$?
[ "$rc" -eq 0 ] && [ "$out" = hello-from-podman ] || bad "run echo: rc=$rc, output: $out"

step "run --rm IMAGE sh -c 'exit 3' (exit code)"
"${P[@]}" run --rm --network none "$IMAGE" sh -c 'exit 3' >/dev/null 2>&1
rc=$?
[ "$rc" -eq 3 ] || bad "run exit 3: rc=$rc"

step "run -d IMAGE sleep"
cid=$("${P[@]}" run -d --name "$NAME" --network none "$IMAGE" sleep 600 2>"$work/err")
rc=$?
if [ "$rc" -ne 0 ]; then
	bad "run -d: rc=$rc, output: $cid $(tr -d '\0' <"$work/err")"
	cid=
else
	status=$("${P[@]}" inspect --format '{{.State.Status}}' "$NAME" 2>&1)
	[ "$status" = running ] || bad "inspect after run -d: '$status'"

	step "exec"
	out=$("${P[@]}" exec "$NAME" sh -c 'echo exec-ok; cat /proc/1/cmdline | tr "\0" " "' 2>&1)
	rc=$?
	[ "$rc" -eq 0 ] && [ "$out" = "exec-ok"$'\n'"sleep 600 " ] || bad "exec: rc=$rc, output: $out"

	step "exec with an exit code"
	"${P[@]}" exec "$NAME" sh -c 'exit 5' >/dev/null 2>&1
	rc=$?
	[ "$rc" -eq 5 ] || bad "exec exit 5: rc=$rc"

	step "exec -t (a terminal through --console-socket)"
	out=$("${P[@]}" exec -t "$NAME" tty </dev/null 2>&1)
	rc=$?
	out=${out//$'\r'/}
	[ "$rc" -eq 0 ] && [[ "$out" == /dev/pts/* ]] || bad "exec -t: rc=$rc, output: $out"

	step "stop"
	out=$("${P[@]}" stop --time 1 "$NAME" 2>&1)
	rc=$?
	[ "$rc" -eq 0 ] || bad "stop: rc=$rc, output: $out"
	status=$("${P[@]}" inspect --format '{{.State.Status}}' "$NAME" 2>&1)
	[ "$status" = exited ] || bad "inspect after stop: '$status'"

	step "rm"
	out=$("${P[@]}" rm "$NAME" 2>&1)
	rc=$?
	[ "$rc" -eq 0 ] || bad "rm: rc=$rc, output: $out"
fi

step "nothing left"
left=$("${P[@]}" ps --all --quiet 2>&1)
[ -z "$left" ] || bad "containers left: $left"
# podman gives the runtime no --root (its own default, /run/runc or /run/husk, holds the
# state; `--runtime-flag root=...` is no way out: podman 4.3 leaves it off `delete --force`).
if [ -n "${cid:-}" ] && "$RUNTIME" list -q 2>/dev/null | grep -qx "$cid"; then
	bad "the runtime still lists container $cid"
fi
left=$(comm -13 <(echo "$cgroups_before") <(podman_cgroups) | grep '/libpod-')
[ -z "$left" ] || bad "container cgroups left: $(echo $left)"

if [ "$failures" -ne 0 ]; then
	echo "podman smoke test: $failures step(s) failed"
	exit 1
fi
echo "podman smoke test: all steps passed"
exit 0
