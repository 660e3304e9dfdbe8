# Helpers for containerd.bats: drive a private containerd with ctr and look at what a task
# leaves on the machine.
#
# tests/containerd/run.sh starts the containerd and sets:
#   CTR_ADDRESS        its grpc socket
#   CTR_NAMESPACE      the containerd namespace of the run (also the parent cgroup of every task)
#   HUSK_CTD_IMAGE     the busybox image it imported
#   HUSK_CTD_RUNTIME   the runtime name under test (io.containerd.husk.v2, io.containerd.runc.v2)
#   HUSK_CTD_STATE     containerd's state directory (bundles and rootfs mounts live below it)
#
# Every container a test makes gets its id from new_id, which records it; teardown removes
# them all, so a failing test does not leave a task behind for the next one.

bats_require_minimum_version 1.5.0

: "${CTR_ADDRESS:?run these tests through tests/containerd/run.sh}"
: "${CTR_NAMESPACE:?}" "${HUSK_CTD_IMAGE:?}" "${HUSK_CTD_RUNTIME:?}" "${HUSK_CTD_STATE:?}"

IMAGE=$HUSK_CTD_IMAGE
# One ctr call may take this long before it is killed: a broken shim fails the test instead of
# hanging it.
CTR_TIMEOUT=${CTR_TIMEOUT:-30}
# Bounded polling: POLL_TRIES * 0.1 s at most.
POLL_TRIES=${POLL_TRIES:-100}

ctr_() {
	timeout -k 5 "$CTR_TIMEOUT" ctr --address "$CTR_ADDRESS" --namespace "$CTR_NAMESPACE" "$@"
}

# ctr_run ARGS...: `ctr run` with the runtime under test.
ctr_run() {
	ctr_ run --runtime "$HUSK_CTD_RUNTIME" "$@"
}

# new_id NAME: a container id unique in the run, recorded for teardown.
new_id() {
	local id="t${BATS_SUITE_TEST_NUMBER:-$BATS_TEST_NUMBER}-$1"
	echo "$id" >>"$BATS_TEST_TMPDIR/ids"
	echo "$id"
}

# start_detached ID CMD...: `ctr run -d`, failing the test if the task does not come up.
start_detached() {
	local id=$1
	shift
	run ctr_run -d "$IMAGE" "$id" "$@"
	assert_success || return
	wait_for_status "$id" RUNNING
}

# bg PID: a background process of the test, killed in teardown.
bg() {
	echo "$1" >>"$BATS_TEST_TMPDIR/bg"
}

cleanup() {
	local pid id ours listing tasks containers
	if [ -f "$BATS_TEST_TMPDIR/bg" ]; then
		while read -r pid; do
			kill "$pid" 2>/dev/null
		done <"$BATS_TEST_TMPDIR/bg"
	fi
	[ -f "$BATS_TEST_TMPDIR/ids" ] || return 0
	ours="$BATS_TEST_TMPDIR/ids"
	# A ctr call costs a good part of a second here, so look first and act only on what is
	# left, a few ids per call. Short timeouts: with a broken shim every call here would
	# otherwise wait the full time.
	local CTR_TIMEOUT=10
	mapfile -t containers < <(ctr_ containers ls -q 2>/dev/null | grep -xFf "$ours")
	[ ${#containers[@]} -gt 0 ] || return 0
	listing=$(ctr_ task ls 2>/dev/null | awk 'NR > 1 { print $1, $3 }')
	# A frozen task cannot die from SIGKILL (cgroup v1 freezer): thaw it first.
	for id in $(awk '$2 == "PAUSED" { print $1 }' <<<"$listing" | grep -xFf "$ours"); do
		ctr_ task resume "$id" >/dev/null 2>&1
	done
	mapfile -t tasks < <(awk '{ print $1 }' <<<"$listing" | grep -xFf "$ours")
	# --force: SIGKILL, wait for the exit, then delete.
	[ ${#tasks[@]} -gt 0 ] && ctr_ task rm -f "${tasks[@]}" >/dev/null 2>&1
	ctr_ containers rm "${containers[@]}" >/dev/null 2>&1
	return 0
}

# ---------------------------------------------------------------------------------------------
# Assertions (bats 1.8 has no assertion library).

fail() {
	echo "FAIL: $*" >&2
	return 1
}

assert_status() {
	if [ "$status" -ne "$1" ]; then
		echo "expected exit status $1, got $status; output:" >&2
		printf '%s\n' "$output" >&2
		return 1
	fi
}

assert_success() { assert_status 0; }

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

# assert_output_line TEXT: some line of $output is exactly TEXT (a trailing CR from a terminal
# is ignored).
assert_output_line() {
	if ! tr -d '\r' <<<"$output" | grep -qxF -- "$1"; then
		echo "no output line is exactly '$1'; output:" >&2
		printf '%s\n' "$output" >&2
		return 1
	fi
}

# ---------------------------------------------------------------------------------------------
# Task state as ctr shows it.

# task_field ID COLUMN: a column of `ctr task ls` for ID (2 = pid, 3 = status); empty if ctr
# does not list the task.
task_field() {
	ctr_ task ls | awk -v id="$1" -v col="$2" 'NR > 1 && $1 == id { print $col }'
}

task_status() { task_field "$1" 3; }
task_pid() { task_field "$1" 2; }

# wait_for_status ID STATUS: polls `ctr task ls` until ID shows STATUS.
wait_for_status() {
	local i st=
	for ((i = 0; i < POLL_TRIES; i++)); do
		st=$(task_status "$1")
		[ "$st" = "$2" ] && return 0
		sleep 0.1
	done
	fail "task $1 is '$st', expected $2"
}

# wait_for_child PID: polls until PID has a child process (a shell in the container has run
# past the point where it forks).
wait_for_child() {
	local i
	for ((i = 0; i < POLL_TRIES; i++)); do
		[ -n "$(pgrep -P "$1")" ] && return 0
		sleep 0.1
	done
	fail "process $1 never got a child"
}

# ---------------------------------------------------------------------------------------------
# What a task leaves on the machine.

# shim_pids ID: live containerd-shim processes serving container ID of this run: a command line
# that names a containerd-shim binary, our containerd's address and `-id ID`.
shim_pids() {
	local f p args
	# One grep over every process for the address (an argument of its own) finds the few
	# candidates; only those are looked at closely.
	for f in $(grep -lzxF -- "$CTR_ADDRESS" /proc/[0-9]*/cmdline 2>/dev/null); do
		p=${f#/proc/}
		p=${p%/cmdline}
		args=$(tr '\0' '\n' <"$f" 2>/dev/null) || continue
		case "${args%%$'\n'*}" in
		*containerd-shim*) ;;
		*) continue ;;
		esac
		grep -A1 -xF -- -id <<<"$args" | tail -n +2 | grep -qxF -- "$1" || continue
		grep -q '^State:[[:space:]]*Z' "/proc/$p/status" 2>/dev/null && continue
		echo "$p"
	done
}

# wait_for_no_shim ID: the shim exits after containerd's Shutdown call, which may be a moment
# after ctr returned.
wait_for_no_shim() {
	local i
	for ((i = 0; i < POLL_TRIES; i++)); do
		[ -z "$(shim_pids "$1")" ] && return 0
		sleep 0.1
	done
	fail "shim of $1 still running: $(shim_pids "$1" | xargs)"
}

bundle_dir() {
	echo "$HUSK_CTD_STATE/io.containerd.runtime.v2.task/$CTR_NAMESPACE/$1"
}

# rootfs_mounts ID: mounts of the task's rootfs (the overlay the shim mounts in its bundle).
rootfs_mounts() {
	awk -v m="$(bundle_dir "$1")/rootfs" '$5 == m || index($5, m "/") == 1 { print $5 }' \
		/proc/self/mountinfo
}

# cgroup_dirs ID: the task's cgroup directories (ctr puts a task in /<namespace>/<id>), in
# every v1 hierarchy, the unified one of a hybrid host, or a pure v2 root.
cgroup_dirs() {
	local d
	for d in /sys/fs/cgroup/"$CTR_NAMESPACE/$1" /sys/fs/cgroup/*/"$CTR_NAMESPACE/$1"; do
		[ -d "$d" ] && echo "$d"
	done
}

# poll_until CMD ARGS...: runs CMD every 0.1 s until it succeeds, POLL_TRIES times at most.
poll_until() {
	local i
	for ((i = 0; i < POLL_TRIES; i++)); do
		"$@" && return 0
		sleep 0.1
	done
	return 1
}
no_task() { [ -z "$(task_status "$1")" ]; }
dead() { ! alive "$1"; }
no_mount_or_cgroup() { [ -z "$(rootfs_mounts "$1")" ] && [ -z "$(cgroup_dirs "$1")" ]; }

# alive PID: PID exists and is not a zombie.
alive() {
	[ -e "/proc/$1" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null
}

# ---------------------------------------------------------------------------------------------
# Events.

# events_start FILE: `ctr events` in the background into FILE; returns once it is subscribed.
# A namespace label change is the probe: containerd publishes /namespaces/update for it, and
# once that shows up in FILE every later event will too.
events_start() {
	local file=$1 i
	# fd 3 is bats' own: a background process that keeps it open makes bats wait for it.
	timeout -k 5 120 ctr --address "$CTR_ADDRESS" events >"$file" 2>&1 3>&- &
	bg $!
	for ((i = 0; i < POLL_TRIES; i++)); do
		ctr_ namespaces label "$CTR_NAMESPACE" "husk.test/probe=$BATS_TEST_NUMBER-$i" >/dev/null 2>&1
		grep -q ' /namespaces/update ' "$file" && return 0
		sleep 0.1
	done
	fail "ctr events never saw the probe event; it printed: $(cat "$file")"
}

# task_events FILE ID: the /tasks/* events for container ID from a `ctr events` log, one JSON
# object per line: {"topic": ..., "event": {...}}. A line of `ctr events` is
#   DATE TIME ZONE-OFFSET ZONE NAMESPACE TOPIC EVENT-JSON
task_events() {
	awk -v ns="$CTR_NAMESPACE" '$5 == ns && $6 ~ /^\/tasks\// {
		printf "{\"topic\":\"%s\",\"event\":%s}\n", $6, $7 }' "$1" |
		jq -c --arg id "$2" 'select(.event.container_id == $id)'
}

# wait_for_event FILE ID TOPIC: polls until ID's TOPIC event is in FILE.
wait_for_event() {
	local i
	for ((i = 0; i < POLL_TRIES; i++)); do
		# (grep, not jq -e: jq 1.6's -e looks at the last input, not at whether any matched)
		task_events "$1" "$2" | jq -c --arg t "$3" 'select(.topic == $t)' | grep -q . && return 0
		sleep 0.1
	done
	fail "no $3 event for $2; events seen: $(cat "$1")"
}
