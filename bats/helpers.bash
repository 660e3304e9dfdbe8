# Shared helpers for the husk integration suite.
#
# Every test gets its own state root ($ROOT), bundle ($BUNDLE, with rootfs/ and config.json) and
# container id ($CID), all under a per-test directory ($TEST_DIR). The busybox root filesystem is
# built once per run and copied into each bundle. Tests drive the runtime through `runtime`
# (foreground verbs, under bats' `run`) or `runtime_detached` (verbs that leave a container
# process behind and so must not hand it bats' capture pipe).
#
# The suite must also pass against the reference runtime (RUNTIME=/usr/sbin/runc): that is how we
# know a test checks the behaviour clients rely on rather than an accident of husk.

bats_require_minimum_version 1.5.0

HUSK_BUILD=${HUSK_BUILD:-"$BATS_TEST_DIRNAME/../build"}
RUNTIME=${RUNTIME:-"$HUSK_BUILD/runtime/cli/husk"}
if [ "$(basename "$RUNTIME")" = runc ]; then
	export IS_RUNC=1
else
	export IS_RUNC=
fi

TESTDATA="$BATS_TEST_DIRNAME/testdata"
# Where the shared busybox rootfs lives; run.sh points this at a directory it owns.
HUSK_TEST_CACHE=${HUSK_TEST_CACHE:-"$BATS_RUN_TMPDIR/husk-cache"}
# Parent of the per-test directories; run.sh checks it for leftovers after the run.
HUSK_TEST_TMP=${HUSK_TEST_TMP:-"$BATS_RUN_TMPDIR/husk-tests"}
# Container ids start with this, so a leftover cgroup or process can be traced to one run of
# the suite (several runs may share a machine).
if [ -z "${HUSK_TEST_RUN:-}" ]; then
	HUSK_TEST_RUN=$(basename "$BATS_RUN_TMPDIR" | tr -dc 'a-zA-Z0-9' | tr 'A-Z' 'a-z' | tail -c 6)
fi
CID_PREFIX="husk-test-${HUSK_TEST_RUN}-"

# Bounded polling: POLL_TRIES * POLL_INTERVAL seconds at most.
POLL_TRIES=${POLL_TRIES:-200}
POLL_INTERVAL=${POLL_INTERVAL:-0.05}

# ---------------------------------------------------------------------------------------------
# Failing with a message (bats 1.8 has no assertion library).

fail() {
	echo "FAIL: $*" >&2
	return 1
}

# assert_status N: the last `run` exited with N.
assert_status() {
	if [ "$status" -ne "$1" ]; then
		echo "expected exit status $1, got $status; output:" >&2
		printf '%s\n' "$output" >&2
		return 1
	fi
}

assert_success() { assert_status 0; }

# assert_failure: the last `run` exited non-zero, and it was not a crash by signal (a runtime
# that segfaults on bad input is not rejecting it). 255 is an exit code (exec failures use it).
assert_failure() {
	if [ "$status" -eq 0 ]; then
		echo "expected failure, got exit status 0; output:" >&2
		printf '%s\n' "$output" >&2
		return 1
	fi
	if [ "$status" -gt 128 ] && [ "$status" -le 192 ]; then
		echo "runtime died from signal $((status - 128)); output:" >&2
		printf '%s\n' "$output" >&2
		return 1
	fi
}

# assert_output_contains TEXT...: each TEXT occurs in $output (fixed strings).
assert_output_contains() {
	local want
	for want in "$@"; do
		if ! grep -qF -- "$want" <<<"$output"; then
			echo "output does not contain '$want'; output:" >&2
			printf '%s\n' "$output" >&2
			return 1
		fi
	done
}

# assert_output_matches REGEX: an extended regex matches somewhere in $output.
assert_output_matches() {
	if ! grep -qE -- "$1" <<<"$output"; then
		echo "output does not match /$1/; output:" >&2
		printf '%s\n' "$output" >&2
		return 1
	fi
}

# assert_output_equals TEXT: $output is exactly TEXT.
assert_output_equals() {
	if [ "$output" != "$1" ]; then
		echo "expected output '$1', got:" >&2
		printf '%s\n' "$output" >&2
		return 1
	fi
}

# assert_error_message: something was said on stderr (for `run_detached`/`runtime_detached`
# failures, $output holds the runtime's stdout and stderr).
assert_error_message() {
	if [ -z "$output" ]; then
		fail "the runtime failed without saying why (empty output)"
	fi
}

# ---------------------------------------------------------------------------------------------
# Running the runtime.

# Hang guard for one runtime invocation: a stuck runtime fails its test instead of stalling the
# whole run. It bounds a hang; it is not a performance assertion.
HUSK_TEST_TIMEOUT=${HUSK_TEST_TIMEOUT:-120}

# runtime_raw ARGS...: the runtime under test with the per-test state root, stdio as the caller
# set it up.
runtime_raw() {
	timeout -k 10 "$HUSK_TEST_TIMEOUT" "$RUNTIME" --root "$ROOT" "$@"
}

# runtime ARGS...: runtime_raw with standard input from /dev/null: nothing in the suite may
# wait on a terminal.
runtime() {
	runtime_raw "$@" </dev/null
}

# runtime_detached ARGS...: for create and run -d. A created container inherits the runtime's
# stdio; under bats' `run` that would be the capture pipe and bats would wait for the container
# to exit. So stdout and stderr go to $DETACHED_LOG (the container's output lands there too),
# and afterwards $status and $output are set as `run` would set them.
runtime_detached() {
	status=0
	runtime_raw "$@" </dev/null >"$DETACHED_LOG" 2>&1 || status=$?
	output=$(cat "$DETACHED_LOG")
	return 0
}

# create_container [ID]: create $CID (or ID) from $BUNDLE, asserting success.
create_container() {
	local id=${1:-$CID}
	runtime_detached create --bundle "$BUNDLE" "$id"
	assert_success
}

# run_detached [ID]: run -d $CID (or ID) from $BUNDLE, asserting success.
run_detached() {
	local id=${1:-$CID}
	runtime_detached run -d --bundle "$BUNDLE" "$id"
	assert_success
}

# state_field ID FIELD: print one field of `state ID` (jq path without the leading dot).
state_field() {
	runtime state "$1" | jq -r ".$2"
}

# wait_for_status ID STATUS: poll `state` until the container reports STATUS.
wait_for_status() {
	local id=$1 want=$2 i got=
	for ((i = 0; i < POLL_TRIES; i++)); do
		got=$(runtime state "$id" 2>/dev/null | jq -r .status 2>/dev/null) || got=
		[ "$got" = "$want" ] && return 0
		sleep "$POLL_INTERVAL"
	done
	fail "container $id did not reach status '$want' (last: '${got:-<no state>}')"
}

# wait_for_file PATH [TEXT]: poll until PATH exists (and contains TEXT, if given).
wait_for_file() {
	local path=$1 text=${2-} i
	for ((i = 0; i < POLL_TRIES; i++)); do
		if [ -e "$path" ] && { [ -z "$text" ] || grep -qF -- "$text" "$path"; }; then
			return 0
		fi
		sleep "$POLL_INTERVAL"
	done
	fail "$path did not appear${text:+ with '$text'}"
}

# run_in_container ARGS...: run ARGS as the container process in the foreground (`runtime run`)
# and capture its output with bats' `run`. The bundle's config is changed in place.
run_in_container() {
	set_args "$@"
	run runtime run --bundle "$BUNDLE" "$CID"
}

# set_args ARGS...: the container process's args (any bytes but NUL, leading dashes too).
set_args() {
	local jqargs=() i=0 x
	for x in "$@"; do
		jqargs+=(--arg "$i" "$x")
		i=$((i + 1))
	done
	update_config "${jqargs[@]}" --argjson n "$#" \
		'.process.args = [range($n) as $i | $ARGS.named[$i | tostring]]'
}

# ---------------------------------------------------------------------------------------------
# The bundle.

# update_config [JQ_OPTIONS...] FILTER: rewrite $BUNDLE/config.json through jq.
update_config() {
	local tmp="$BUNDLE/config.json.tmp"
	jq "$@" "$BUNDLE/config.json" >"$tmp" && mv "$tmp" "$BUNDLE/config.json"
}

# build_rootfs_cache: the busybox root filesystem, built once per run. Concurrent test
# processes race on a rename, so the first complete copy wins and the rest are discarded.
build_rootfs_cache() {
	local dest="$HUSK_TEST_CACHE/rootfs"
	[ -x "$dest/bin/busybox" ] && return 0
	mkdir -p "$HUSK_TEST_CACHE"
	local tmp
	tmp=$(mktemp -d "$HUSK_TEST_CACHE/rootfs.XXXXXX")
	local bb=${BUSYBOX:-/bin/busybox}
	[ -x "$bb" ] || fail "no static busybox at $bb (install busybox-static)"
	mkdir -p "$tmp"/{bin,etc,proc,sys,dev,tmp,root,mnt,var,run}
	chmod 1777 "$tmp/tmp"
	chmod 0755 "$tmp"
	cp "$bb" "$tmp/bin/busybox"
	# One symlink per applet. --install makes them all in one process (a fork per link costs
	# most of a second); its links point at the host binary's path, which resolves inside the
	# rootfs when that is /bin or /usr/bin (usr/bin is a link to bin below). It leaves the
	# copied binary alone.
	"$bb" --install -s "$tmp/bin" 2>/dev/null
	case "$(readlink "$tmp/bin/sh")" in
	/bin/busybox | /usr/bin/busybox) ;;
	*) find "$tmp/bin" -type l -delete ;;
	esac
	local applet
	for applet in $("$bb" --list); do
		[ -e "$tmp/bin/$applet" ] || [ -L "$tmp/bin/$applet" ] || ln -s busybox "$tmp/bin/$applet"
	done
	[ -f "$tmp/bin/busybox" ] && [ ! -L "$tmp/bin/busybox" ] || fail "busybox install clobbered the binary"
	ln -s bin "$tmp/sbin"
	mkdir -p "$tmp/usr"
	ln -s ../bin "$tmp/usr/bin"
	ln -s ../bin "$tmp/usr/sbin"
	cat >"$tmp/etc/passwd" <<-'EOF'
		root:x:0:0:root:/root:/bin/sh
		nobody:x:65534:65534:nobody:/nonexistent:/bin/false
	EOF
	cat >"$tmp/etc/group" <<-'EOF'
		root:x:0:
		nogroup:x:65534:
	EOF
	if ! mv -T "$tmp" "$dest" 2>/dev/null; then
		rm -rf "$tmp"
	fi
	[ -x "$dest/bin/busybox" ] || fail "could not build the rootfs cache in $dest"
}

# setup_test_dir: fresh per-test directory, state root and container id; $BUNDLE is named
# but not made.
setup_test_dir() {
	build_rootfs_cache
	mkdir -p "$HUSK_TEST_TMP"
	TEST_DIR=$(mktemp -d "$HUSK_TEST_TMP/t.XXXXXX")
	# A container in a user namespace runs as an unprivileged host uid that must still reach
	# its bundle: make our part of the path searchable (mktemp makes directories 0700). The
	# directories above HUSK_TEST_TMP must be searchable already (run.sh sees to it).
	chmod go+x "$TEST_DIR" "$HUSK_TEST_TMP"
	if [ "$HUSK_TEST_TMP" = "$BATS_RUN_TMPDIR/husk-tests" ]; then
		chmod go+x "$BATS_RUN_TMPDIR"
	fi
	ROOT="$TEST_DIR/state"
	BUNDLE="$TEST_DIR/bundle"
	DETACHED_LOG="$TEST_DIR/detached.log"
	CID="${CID_PREFIX}$$"
	mkdir -p "$ROOT"
	HOLDER_PIDS=()
}

# setup_bundle: setup_test_dir, and $BUNDLE made from the busybox rootfs and the reference
# config. Call from setup().
setup_bundle() {
	setup_test_dir
	mkdir -p "$BUNDLE"
	cp -a "$HUSK_TEST_CACHE/rootfs" "$BUNDLE/rootfs"
	# The reference `spec` output, with no terminal (CI has none) and a writable root, which
	# most tests need; tests about read-only roots set it back.
	jq '.process.terminal = false | .root.readonly = false' \
		"$TESTDATA/config.json" >"$BUNDLE/config.json"
	HOLDER_PIDS=()
}

# teardown_bundle: remove every container under $ROOT, anything a broken runtime leaked into
# our mount namespace under $TEST_DIR, helper processes, and the directories. Call from
# teardown().
teardown_bundle() {
	[ -n "${TEST_DIR:-}" ] || return 0
	local id pid
	if [ -d "$ROOT" ]; then
		for id in $(runtime list -q 2>/dev/null); do
			runtime delete --force "$id" >/dev/null 2>&1 || true
		done
		# Containers the runtime cannot list (a broken state file) still get a try.
		for id in "$ROOT"/*; do
			[ -e "$id" ] || continue
			runtime delete --force "$(basename "$id")" >/dev/null 2>&1 || true
		done
	fi
	for pid in "${HOLDER_PIDS[@]}"; do
		kill -9 "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	unmount_under "$TEST_DIR"
	rm -rf --one-file-system "$TEST_DIR"
}

# mounts_under DIR: mount points at or below DIR in our mount namespace, deepest first.
mounts_under() {
	local dir=$1
	awk -v d="$dir" '$5 == d || index($5, d "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r
}

unmount_under() {
	local m
	for m in $(mounts_under "$1"); do
		umount -l "$m" 2>/dev/null || true
	done
}

# start_holder CMD...: start a long-lived helper process (e.g. a namespace holder) that
# teardown kills. Its pid is in $HOLDER_PID. It must not keep bats' output descriptors.
start_holder() {
	"$@" </dev/null >/dev/null 2>&1 3>&- &
	HOLDER_PID=$!
	HOLDER_PIDS+=("$HOLDER_PID")
}

# ---------------------------------------------------------------------------------------------
# Leak checks.

# leftover_pids ID: live (non-zombie) processes whose cgroup path ends in ID or whose command
# line mentions this test's directory (the runtime's own helpers carry --root/--bundle).
leftover_pids() {
	local id=$1 f pid cands=()
	if [ -n "$id" ]; then
		for f in $(grep -lE -- ":/(.*/)?${id//./\\.}(/|\$)" /proc/[0-9]*/cgroup 2>/dev/null); do
			cands+=("${f%/cgroup}")
		done
	fi
	for f in $(grep -lzF -- "$TEST_DIR" /proc/[0-9]*/cmdline 2>/dev/null); do
		cands+=("${f%/cmdline}")
	done
	for f in "${cands[@]}"; do
		pid=${f#/proc/}
		[ "$pid" = "$$" ] || [ "$pid" = "$BASHPID" ] && continue
		process_alive "$pid" && echo "$pid"
	done | sort -u
}

# process_alive PID: PID exists and is not a zombie.
process_alive() {
	local st
	st=$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$1/status" 2>/dev/null)
	[ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

# wait_for_exit PID: poll until PID is gone (or a zombie).
wait_for_exit() {
	local i
	for ((i = 0; i < POLL_TRIES; i++)); do
		process_alive "$1" || return 0
		sleep "$POLL_INTERVAL"
	done
	fail "process $1 is still alive: $(tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null)"
}

# leftover_cgroups ID: cgroup directories named ID under any hierarchy (a container without
# cgroupsPath gets /ID under the runtime's cgroup root, possibly nested under the caller's).
leftover_cgroups() {
	local id=$1
	case "$id" in "" | . | .. | */*) return 0 ;; esac
	# v1: /sys/fs/cgroup/<controller>/.../ID; v2: /sys/fs/cgroup/.../ID.
	find /sys/fs/cgroup -maxdepth 4 -type d -name "$id" 2>/dev/null
}

# check_no_leftovers ID: after a container is gone (deleted, or never created), nothing of it
# is left on the host: no state directory, no process, no mount under the bundle, no cgroup.
check_no_leftovers() {
	local id=$1 bad=0 what
	# ("." and ".." name the state root itself and its parent: assert_root_empty covers them.)
	if [ -n "$id" ] && [ "$id" != . ] && [ "$id" != .. ] && [ -e "$ROOT/$id" ]; then
		echo "leftover state: $ROOT/$id" >&2
		bad=1
	fi
	# A process may take a moment to be reaped after a kill; give it the polling budget.
	local i pids
	for ((i = 0; i < POLL_TRIES; i++)); do
		pids=$(leftover_pids "$id")
		[ -z "$pids" ] && break
		sleep "$POLL_INTERVAL"
	done
	if [ -n "$pids" ]; then
		echo "leftover processes:" >&2
		for what in $pids; do
			echo "  $what: $(tr '\0' ' ' <"/proc/$what/cmdline" 2>/dev/null)" >&2
		done
		bad=1
	fi
	what=$(mounts_under "$BUNDLE")
	if [ -n "$what" ]; then
		echo "leftover mounts:" >&2
		printf '  %s\n' $what >&2
		bad=1
	fi
	what=$(leftover_cgroups "$id")
	if [ -n "$what" ]; then
		echo "leftover cgroups:" >&2
		printf '  %s\n' $what >&2
		bad=1
	fi
	return "$bad"
}

# assert_root_empty: no container state of any name under $ROOT (the runtime may or may not
# have created $ROOT itself).
assert_root_empty() {
	if [ -d "$ROOT" ] && [ -n "$(ls -A "$ROOT")" ]; then
		fail "state root not empty: $(ls -A "$ROOT" | tr '\n' ' ')"
	fi
}

# ---------------------------------------------------------------------------------------------
# Host facts.

# host_ns TYPE: our namespace link for TYPE (e.g. "net:[4026531833]").
host_ns() {
	readlink "/proc/$$/ns/$1"
}

# cap_mask NAME...: the hexadecimal capability mask /proc/PID/status shows for NAMEs.
cap_mask() {
	local mask=0 name n
	for name in "$@"; do
		n=$(cap_number "$name") || return 1
		mask=$((mask | (1 << n)))
	done
	printf '%016x\n' "$mask"
}

cap_number() {
	local names=(CAP_CHOWN CAP_DAC_OVERRIDE CAP_DAC_READ_SEARCH CAP_FOWNER CAP_FSETID CAP_KILL
		CAP_SETGID CAP_SETUID CAP_SETPCAP CAP_LINUX_IMMUTABLE CAP_NET_BIND_SERVICE
		CAP_NET_BROADCAST CAP_NET_ADMIN CAP_NET_RAW CAP_IPC_LOCK CAP_IPC_OWNER CAP_SYS_MODULE
		CAP_SYS_RAWIO CAP_SYS_CHROOT CAP_SYS_PTRACE CAP_SYS_PACCT CAP_SYS_ADMIN CAP_SYS_BOOT
		CAP_SYS_NICE CAP_SYS_RESOURCE CAP_SYS_TIME CAP_SYS_TTY_CONFIG CAP_MKNOD CAP_LEASE
		CAP_AUDIT_WRITE CAP_AUDIT_CONTROL CAP_SETFCAP CAP_MAC_OVERRIDE CAP_MAC_ADMIN
		CAP_SYSLOG CAP_WAKE_ALARM CAP_BLOCK_SUSPEND CAP_AUDIT_READ CAP_PERFMON CAP_BPF
		CAP_CHECKPOINT_RESTORE)
	local i
	for i in "${!names[@]}"; do
		if [ "${names[$i]}" = "$1" ]; then
			echo "$i"
			return 0
		fi
	done
	fail "unknown capability $1"
}

# requires CHECK...: skip the test unless the host can do it.
requires() {
	local c
	for c in "$@"; do
		case "$c" in
		root) [ "$(id -u)" -eq 0 ] || skip "test requires root" ;;
		timens) [ -e /proc/self/ns/time ] || skip "kernel lacks time namespaces" ;;
		cgroupns) [ -e /proc/self/ns/cgroup ] || skip "kernel lacks cgroup namespaces" ;;
		userns) [ -e /proc/self/ns/user ] || skip "kernel lacks user namespaces" ;;
		*) fail "unknown requirement $c" ;;
		esac
	done
}
