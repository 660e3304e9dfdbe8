#!/bin/bash
# Runs the husk integration suite.
#
#   bats/run.sh                      every bats/*.bats file
#   bats/run.sh bats/kill.bats       only these files
#   bats/run.sh -f 'kill'            bats options pass through (here: a name filter)
#
# Environment: RUNTIME (binary under test; default $HUSK_BUILD/runtime/cli/husk, HUSK_BUILD
# defaulting to build/), BATS_JOBS (parallel jobs, needs GNU parallel; default 1). The packages
# the suite needs are listed in bats/deps.txt.
#
# A broken runtime can damage the machine it runs on (a chown through a bind mount of /dev/null
# has happened in the wild). So the suite runs in a private mount namespace in which /dev/null
# is a device node of our own, and afterwards the host is checked: /dev/null still the 1:3
# character device with mode 0666 owned by root, and no container state, process, cgroup or
# mount of the suite left behind. The per-test directories live on a tmpfs private to that
# namespace (bundles are copied for every test; a disk makes that the slowest part of the run).
#
# Exit status: 0 when every test passed and the host is clean; 1 otherwise; 2 when the suite
# could not run at all.

set -u

BATS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# ---------------------------------------------------------------------------------------------
# Inside the private mount namespace: $1 = --inner, $2 = work dir, the rest for bats.
if [ "${1:-}" = --inner ]; then
	shift
	work=$1
	shift
	fs="$work/fs"
	report="$work/report"
	set -e
	mount -t tmpfs -o mode=0755 husk-bats "$fs"
	mknod -m 0666 "$fs/null" c 1 3
	mount --bind "$fs/null" /dev/null
	mkdir -p "$fs/cache" "$fs/tests" "$fs/tmp"
	set +e
	export HUSK_TEST_CACHE="$fs/cache" HUSK_TEST_TMP="$fs/tests" TMPDIR="$fs/tmp"
	# husk's compiled seccomp filters go to the suite's tmpfs, not the host's cache.
	export HUSK_SECCOMP_CACHE="$fs/seccomp-cache"

	args=("$@")
	have_files=
	for a in "$@"; do
		case "$a" in
		*.bats | */) have_files=1 ;;
		esac
	done
	[ -n "$have_files" ] || args+=("$BATS_DIR"/*.bats)
	jobs=()
	if [ "${BATS_JOBS:-1}" -gt 1 ]; then
		jobs=(--jobs "$BATS_JOBS")
	fi

	bats --tap --print-output-on-failure "${jobs[@]}" "${args[@]}" </dev/null
	rc=$?

	# What only this namespace can see: state directories and mounts under the test tree.
	: >"$report/inner"
	for d in "$HUSK_TEST_TMP"/*/state/*; do
		[ -e "$d" ] && echo "container state left behind: $d" >>"$report/inner"
	done
	awk -v t="$HUSK_TEST_TMP/" 'index($5, t) == 1 { print "mount left behind: " $5 }' \
		/proc/self/mountinfo >>"$report/inner"
	exit "$rc"
fi

# ---------------------------------------------------------------------------------------------
# On the host.

for tool in bats jq unshare mknod mount; do
	if ! command -v "$tool" >/dev/null; then
		echo "run.sh: $tool is missing (see bats/deps.txt)" >&2
		exit 2
	fi
done
if [ "$(id -u)" -ne 0 ]; then
	echo "run.sh: the integration suite needs root" >&2
	exit 2
fi

export HUSK_BUILD=${HUSK_BUILD:-"$BATS_DIR/../build"}
export RUNTIME=${RUNTIME:-"$HUSK_BUILD/runtime/cli/husk"}
# Absolute, but not through readlink -f: the tests look at the binary's name (IS_RUNC).
case "$RUNTIME" in
/*) ;;
*/*) RUNTIME="$PWD/$RUNTIME" ;;
*) RUNTIME=$(command -v "$RUNTIME") || RUNTIME=/nonexistent/$RUNTIME ;;
esac
if [ ! -x "$RUNTIME" ]; then
	echo "run.sh: runtime binary $RUNTIME not found or not executable (build first, or set RUNTIME)" >&2
	exit 2
fi
if [ ! -x /bin/busybox ] || ! /bin/busybox --list >/dev/null 2>&1; then
	echo "run.sh: /bin/busybox is missing (install busybox-static)" >&2
	exit 2
fi

work=$(mktemp -d /tmp/husk-bats.XXXXXX)
chmod 0755 "$work"
# Container ids of this run start with husk-test-$HUSK_TEST_RUN- (see helpers.bash).
HUSK_TEST_RUN=$(basename "$work" | sed 's/^husk-bats\.//' | tr -dc 'a-zA-Z0-9' | tr 'A-Z' 'a-z')
export HUSK_TEST_RUN
mkdir -p "$work/fs" "$work/report"

devnull_before=$(stat -c '%F %t:%T %a %u:%g' /dev/null)
echo "# runtime: $RUNTIME ($("$RUNTIME" --version </dev/null 2>/dev/null | head -n1))"

tap="$work/report/tap"
unshare --mount --propagation private "$BASH" "${BASH_SOURCE[0]}" --inner "$work" "$@" \
	</dev/null 2>&1 | tee "$tap"
rc=${PIPESTATUS[0]}

# bats' pretty formatter prints this line; TAP does not, so count it from the TAP stream.
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

if [ ! -e "$work/report/inner" ]; then
	complain "the suite did not finish its own checks"
elif [ -s "$work/report/inner" ]; then
	while read -r line; do complain "$line"; done <"$work/report/inner"
fi

# Processes of the suite still alive: in a container cgroup of the suite, or naming its
# directories. Zombies do not count (an exited container process whose reaper has not run yet).
# Two greps over all processes rather than three commands per process (slow in the TCG
# guest of tests/vm); the globs expand before grep starts, so grep never sees itself.
in_cgroup=$(grep -lE ":/(.*/)?husk-test-$HUSK_TEST_RUN-[^/]*(/|\$)" /proc/[0-9]*/cgroup 2>/dev/null)
naming_work=$(grep -lzF "$work/" /proc/[0-9]*/cmdline 2>/dev/null)
for f in $in_cgroup $naming_work; do
	p=${f%/*}
	st=$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "$p/status" 2>/dev/null)
	[ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ] || continue
	if [ "${f##*/}" = cgroup ]; then
		complain "process ${p#/proc/} still in a suite cgroup: $(tr '\0' ' ' <"$p/cmdline")"
	else
		complain "process ${p#/proc/} still running: $(tr '\0' ' ' <"$p/cmdline")"
	fi
done

leftover_cgroups=$(find /sys/fs/cgroup/ -maxdepth 5 -type d -name "husk-test-$HUSK_TEST_RUN-*" 2>/dev/null)
[ -z "$leftover_cgroups" ] || complain "cgroups left behind: $(echo $leftover_cgroups)"

leftover_mounts=$(awk -v w="$work" 'index($5, w) == 1 { print $5 }' /proc/self/mountinfo)
[ -z "$leftover_mounts" ] || complain "mounts left behind on the host: $(echo $leftover_mounts)"

if [ -n "$host_ok" ]; then
	rm -rf --one-file-system "$work"
else
	# Reported above; now undo what the suite left, so the next run starts clean. Only this
	# run's processes and cgroups (their names carry its id) are touched.
	for p in /proc/[0-9]*; do
		if grep -qE ":/(.*/)?husk-test-$HUSK_TEST_RUN-[^/]*(/|\$)" "$p/cgroup" 2>/dev/null ||
			tr '\0' ' ' <"$p/cmdline" 2>/dev/null | grep -qF "$work/"; then
			kill -9 "${p#/proc/}" 2>/dev/null
		fi
	done
	for d in $(find /sys/fs/cgroup/ -maxdepth 5 -type d -name "husk-test-$HUSK_TEST_RUN-*" 2>/dev/null | sort -r); do
		for _ in 1 2 3 4 5 6 7 8 9 10; do
			rmdir "$d" 2>/dev/null && break
			sleep 0.1
		done
	done
	echo "run.sh: the host check failed; the TAP log is in $work/report/tap" >&2
	exit 1
fi
[ "$failed" -eq 0 ] && [ -n "$total" ] || exit 1
exit "$rc"
