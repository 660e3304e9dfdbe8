#!/usr/bin/env bats
# `events`: the container's resource usage as runc prints it (one JSON object per line),
# once with --stats or every --interval, and an "oom" event when the memory limit kills
# a process.

load helpers
load cgroup_helpers

setup() {
	setup_bundle
}

teardown() {
	teardown_bundle
}

@test "events --stats prints one stats event with the container's limits and usage" {
	requires_controller memory
	requires_controller pids
	update_config '.linux.resources.memory = {"limit": 67108864} | .linux.resources.pids = {"limit": 30}'
	start_limited
	run runtime events --stats "$CID"
	assert_success
	[ "$(wc -l <<<"$output")" -eq 1 ] || fail "expected one line: $output"
	[ "$(jq -r .type <<<"$output")" = stats ]
	[ "$(jq -r .id <<<"$output")" = "$CID" ]
	[ "$(jq -r .data.memory.usage.limit <<<"$output")" = 67108864 ]
	[ "$(jq -r .data.memory.usage.usage <<<"$output")" -gt 0 ]
	[ "$(jq -r .data.pids.limit <<<"$output")" = 30 ]
	[ "$(jq -r .data.pids.current <<<"$output")" -ge 1 ]
	[ "$(jq -r .data.cpu.usage.total <<<"$output")" -gt 0 ]
	# The sections runc prints are all there.
	[ "$(jq -r '.data | has("cpu") and has("memory") and has("pids") and has("blkio") and has("hugetlb")' <<<"$output")" = true ]
	stop_limited
}

@test "events --stats counts the container's processes" {
	requires_controller pids
	start_limited
	runtime_detached exec -d "$CID" sleep 600
	assert_success
	runtime_detached exec -d "$CID" sleep 600
	assert_success
	run runtime events --stats "$CID"
	assert_success
	[ "$(jq -r .data.pids.current <<<"$output")" -eq 3 ]
	stop_limited
}

@test "events streams stats every interval until the container stops" {
	requires_controller memory
	start_limited
	local log="$BATS_TEST_TMPDIR/events.log"
	runtime_raw events --interval 200ms "$CID" >"$log" 2>&1 </dev/null &
	local events_pid=$!
	local i
	for ((i = 0; i < POLL_TRIES; i++)); do
		[ "$(grep -c '"type":"stats"' "$log")" -ge 2 ] && break
		sleep "$POLL_INTERVAL"
	done
	[ "$(grep -c '"type":"stats"' "$log")" -ge 2 ] || fail "fewer than two stats events: $(head -c 2000 "$log")"
	jq -e -s 'all(.type == "stats" and .id == "'"$CID"'")' "$log" >/dev/null ||
		fail "not all lines are stats events of $CID: $(head -c 2000 "$log")"
	run runtime kill "$CID" KILL
	assert_success
	wait_for_status "$CID" stopped
	if [ -n "${IS_RUNC:-}" ]; then
		# runc goes on printing the last stats on v1 and fails on v2; husk ends (below).
		kill "$events_pid" 2>/dev/null || true
		wait "$events_pid" || true
	else
		local rc=0
		wait "$events_pid" || rc=$?
		[ "$rc" -eq 0 ] || fail "events exited with $rc: $(tail -c 2000 "$log")"
	fi
	stop_limited
}

@test "events reports an OOM kill" {
	requires_controller memory
	# memory+swap equal to memory: no swap to escape to.
	update_config '.linux.resources.memory = {"limit": 33554432, "swap": 33554432}'
	start_limited
	local log="$BATS_TEST_TMPDIR/events.log"
	runtime_raw events --interval 1s "$CID" >"$log" 2>&1 </dev/null &
	local events_pid=$!
	# A 64 MiB buffer cannot fit under a 32 MiB limit.
	run runtime exec "$CID" sh -c 'dd if=/dev/zero of=/dev/null bs=64M count=1'
	# The OOM killer's SIGKILL: 137 from the exec'd process, as the runtime reports it.
	[ "$status" -eq 137 ] || fail "dd was not killed (status $status): $output"
	wait_for_file "$log" '"type":"oom"'
	[ "$(grep '"type":"oom"' "$log" | head -n1 | jq -r .id)" = "$CID" ]
	kill "$events_pid" 2>/dev/null || true
	wait "$events_pid" || true
	stop_limited
}

@test "events of a stopped or unknown container fails" {
	set_args true
	create_container
	run runtime start "$CID"
	assert_success
	wait_for_status "$CID" stopped
	run runtime events --stats "$CID"
	assert_failure
	run runtime events --stats "$CID-nonexistent"
	assert_failure
	run runtime delete "$CID"
	assert_success
	check_no_leftovers "$CID"
}

@test "events with a zero or malformed interval fails" {
	start_limited
	run runtime events --interval 0s "$CID"
	assert_failure
	run runtime events --interval soon "$CID"
	assert_failure
	stop_limited
}
