#!/usr/bin/env bats
# husk-agent, the sandbox guest's PID 1, in its test mode on the host: the Agent API
# (sandbox/proto/agent.proto) over a unix socket, driven by tests/tools/agent_ctl. Share tag T
# is the directory $BUNDLE/T, so the bundle's rootfs is the "rootfs" share. husk's own
# feature: these tests skip against runc.

load helpers

case "$HUSK_BUILD" in
/*) ;;
*) [ -d "$HUSK_BUILD" ] || HUSK_BUILD="$BATS_TEST_DIRNAME/../$HUSK_BUILD" ;;
esac
AGENT=${HUSK_AGENT:-"$HUSK_BUILD/sandbox/agent/husk-agent"}
AGENT_CTL=${HUSK_AGENT_CTL:-"$HUSK_BUILD/tests/agent_ctl"}

setup() {
	[ -z "${IS_RUNC:-}" ] || skip "husk-agent is husk's own"
	[ -x "$AGENT" ] || fail "no husk-agent at $AGENT"
	setup_bundle
	AGENT_ROOT="$TEST_DIR/agent"
	SOCK="$TEST_DIR/agent.sock"
	AGENT_PID=
	start_agent
}

teardown() {
	[ -n "${TEST_DIR:-}" ] || return 0
	if [ -n "${AGENT_PID:-}" ] && kill -0 "$AGENT_PID" 2>/dev/null; then
		ctl Shutdown >/dev/null 2>&1 || true
		local i
		for ((i = 0; i < POLL_TRIES; i++)); do
			kill -0 "$AGENT_PID" 2>/dev/null || break
			sleep "$POLL_INTERVAL"
		done
		kill -9 "$AGENT_PID" 2>/dev/null || true
	fi
	[ -n "${AGENT_PID:-}" ] && wait "$AGENT_PID" 2>/dev/null || true
	# Whatever the agent left behind is cleaned like a husk state root.
	ROOT="$AGENT_ROOT/state"
	teardown_bundle
}

# ctl METHOD [JSON]: one call; the response on stdout, an error on stderr.
ctl() {
	timeout -k 5 60 "$AGENT_CTL" "$SOCK" "$@"
}

start_agent() {
	"$AGENT" --listen "$SOCK" --root "$AGENT_ROOT" --shares-dir "$BUNDLE" \
		</dev/null >"$TEST_DIR/agent.log" 2>&1 3>&- &
	AGENT_PID=$!
	local i
	for ((i = 0; i < POLL_TRIES; i++)); do
		[ -S "$SOCK" ] && ctl Ping >/dev/null 2>&1 && return 0
		kill -0 "$AGENT_PID" 2>/dev/null || break
		sleep "$POLL_INTERVAL"
	done
	cat "$TEST_DIR/agent.log" >&2
	fail "husk-agent did not come up on $SOCK"
}

# agent_create ID STDIN(true|false) ARGS...: CreateContainer from $BUNDLE/config.json with ARGS.
agent_create() {
	local id=$1 stdin=$2
	shift 2
	set_args "$@"
	ctl CreateContainer "$(jq -c --arg id "$id" --argjson stdin "$stdin" \
		'{container_id: $id, config_json: ., rootfs_tag: "rootfs", stdin: $stdin}' "$BUNDLE/config.json")"
}

# read_all ID EXEC_ID STREAM: ReadStream until eof; prints what came.
read_all() {
	local id=$1 exec_id=$2 stream=$3 i resp
	for ((i = 0; i < 1000; i++)); do
		resp=$(ctl ReadStream "$(jq -nc --arg id "$id" --arg e "$exec_id" --arg s "$stream" \
			'{container_id: $id, exec_id: $e, stream: $s}')") || return 1
		jq -j .data <<<"$resp"
		[ "$(jq -r .eof <<<"$resp")" = true ] && return 0
	done
	fail "no end of file on $stream of $id/$exec_id"
}

req() { # req ID [EXEC_ID]: the JSON of a ProcessRequest
	jq -nc --arg id "$1" --arg e "${2:-}" '{container_id: $id, exec_id: $e}'
}

@test "sandbox agent: Ping answers with its version and the kernel release" {
	run ctl Ping
	assert_success
	[ "$(jq -r .kernel_release <<<"$output")" = "$(uname -r)" ] || fail "Ping: $output"
	[ -n "$(jq -r .agent_version <<<"$output")" ] || fail "Ping: $output"
}

@test "sandbox agent: a container's stdout, stderr and exit status" {
	run agent_create "$CID" false sh -c 'echo hello; echo err >&2; exit 3'
	assert_success
	run ctl State "$(req "$CID")"
	assert_success
	[ "$(jq -r .status <<<"$output")" = CREATED ] || fail "State: $output"
	run ctl StartContainer "$(req "$CID")"
	assert_success
	[ "$(jq -r .pid <<<"$output")" -gt 0 ] || fail "StartContainer: $output"
	run read_all "$CID" "" STDOUT
	assert_success
	assert_output_equals hello
	run read_all "$CID" "" STDERR
	assert_success
	assert_output_equals err
	run ctl WaitProcess "$(req "$CID")"
	assert_success
	[ "$(jq -r .exit_status <<<"$output")" = 3 ] || fail "WaitProcess: $output"
	[ "$(jq -r .exited_at_unix_nano <<<"$output")" -gt 0 ] || fail "WaitProcess: $output"
	run ctl State "$(req "$CID")"
	assert_success
	[ "$(jq -r '.status + " " + (.exit_status | tostring)' <<<"$output")" = "STOPPED 3" ] || fail "State: $output"
}

@test "sandbox agent: stdin round trip through cat" {
	run agent_create "$CID" true cat
	assert_success
	run ctl StartContainer "$(req "$CID")"
	assert_success
	run ctl WriteStdin "$(jq -nc --arg id "$CID" '{container_id: $id, data: "ping pong\n"}')"
	assert_success
	[ "$(jq -r .written <<<"$output")" = 10 ] || fail "WriteStdin: $output"
	run ctl CloseStdin "$(req "$CID")"
	assert_success
	run read_all "$CID" "" STDOUT
	assert_success
	assert_output_equals "ping pong"
	run ctl WaitProcess "$(req "$CID")"
	assert_success
	[ "$(jq -r .exit_status <<<"$output")" = 0 ] || fail "WaitProcess: $output"
}

@test "sandbox agent: output beyond the buffer is held back, not lost" {
	# 3 MiB through a 1 MiB buffer: the process blocks until the reads catch up.
	run agent_create "$CID" false sh -c 'head -c 3145728 /dev/zero | tr "\0" x; exit 0'
	assert_success
	run ctl StartContainer "$(req "$CID")"
	assert_success
	sleep 0.5
	local n
	n=$(read_all "$CID" "" STDOUT | wc -c)
	[ "$n" -eq 3145728 ] || fail "read $n bytes of 3145728"
	run ctl WaitProcess "$(req "$CID")"
	assert_success
	[ "$(jq -r .exit_status <<<"$output")" = 0 ] || fail "WaitProcess: $output"
}

@test "sandbox agent: exec a process, list, signal and wait" {
	run agent_create "$CID" false sleep 600
	assert_success
	run ctl StartContainer "$(req "$CID")"
	assert_success
	local init_pid
	init_pid=$(jq -r .pid <<<"$output")
	local proc
	proc=$(jq -c '.process | .args = ["sh", "-c", "echo from-exec; exit 5"]' "$BUNDLE/config.json")
	run ctl ExecProcess "$(jq -nc --arg id "$CID" --argjson p "$proc" '{container_id: $id, exec_id: "e1", process_json: $p}')"
	assert_success
	[ "$(jq -r .pid <<<"$output")" -gt 0 ] || fail "ExecProcess: $output"
	run read_all "$CID" e1 STDOUT
	assert_success
	assert_output_equals from-exec
	run ctl WaitProcess "$(req "$CID" e1)"
	assert_success
	[ "$(jq -r .exit_status <<<"$output")" = 5 ] || fail "WaitProcess e1: $output"
	# The same exec id again is refused; an unknown one is not found.
	run ctl ExecProcess "$(jq -nc --arg id "$CID" --argjson p "$proc" '{container_id: $id, exec_id: "e1", process_json: $p}')"
	assert_failure
	assert_output_contains "already exists"
	run ctl WaitProcess "$(req "$CID" nope)"
	assert_failure
	assert_output_contains "not found" "(code 5)"

	run ctl ListPids "$(req "$CID")"
	assert_success
	jq -e --argjson p "$init_pid" '.processes | map(.pid) | index($p) != null' <<<"$output" >/dev/null ||
		fail "ListPids lacks $init_pid: $output"
	assert_output_contains "sleep 600"
	run ctl State "$(req "$CID")"
	assert_success
	[ "$(jq -r .status <<<"$output")" = RUNNING ] || fail "State: $output"
	run ctl Stats "$(req "$CID")"
	assert_success
	[ "$(jq -r .pids_current <<<"$output")" -ge 1 ] || fail "Stats: $output"

	run ctl SignalProcess "$(jq -nc --arg id "$CID" '{container_id: $id, signal: 9}')"
	assert_success
	run ctl WaitProcess "$(req "$CID")"
	assert_success
	[ "$(jq -r .exit_status <<<"$output")" = 137 ] || fail "WaitProcess: $output"
}

@test "sandbox agent: unknown ids and malformed requests are clear errors, and the agent stays up" {
	run ctl State '{"container_id": "no-such-container"}'
	assert_failure
	assert_output_contains 'container "no-such-container" not found' "(code 5)"
	run ctl CreateContainer '{"container_id": "bad1", "config_json": "{not json", "rootfs_tag": "rootfs"}'
	assert_failure
	assert_output_contains "config_json is not valid JSON" "(code 3)"
	run ctl CreateContainer '{"container_id": "bad2", "config_json": {"ociVersion": "1.0.2"}, "rootfs_tag": "rootfs"}'
	assert_failure
	assert_output_contains "no process" "(code 3)"
	run ctl CreateContainer '{"container_id": "../x", "config_json": {}, "rootfs_tag": "rootfs"}'
	assert_failure
	assert_output_contains "(code 3)"
	run ctl CreateContainer "$(jq -c --arg id "$CID" '{container_id: $id, config_json: ., rootfs_tag: "no-such-tag"}' "$BUNDLE/config.json")"
	assert_failure
	assert_output_contains "no-such-tag"
	run ctl Ping
	assert_success
	kill -0 "$AGENT_PID" || fail "the agent died"
	# Nothing of the failed creates is left.
	[ -z "$(ls -A "$AGENT_ROOT/state")$(ls -A "$AGENT_ROOT/bundles")" ] || fail "leftovers: $(ls -R "$AGENT_ROOT")"
}

@test "sandbox agent: Delete removes a container; a running one only with force" {
	run agent_create "$CID" false sleep 600
	assert_success
	run ctl StartContainer "$(req "$CID")"
	assert_success
	local pid
	pid=$(jq -r .pid <<<"$output")
	run ctl DeleteContainer "$(req "$CID")"
	assert_failure
	assert_output_contains "not stopped" "(code 9)"
	run ctl DeleteContainer "$(jq -nc --arg id "$CID" '{container_id: $id, force: true}')"
	assert_success
	wait_for_exit "$pid"
	run ctl State "$(req "$CID")"
	assert_failure
	assert_output_contains "not found"
	[ -z "$(ls -A "$AGENT_ROOT/state")$(ls -A "$AGENT_ROOT/bundles")" ] || fail "leftovers: $(ls -R "$AGENT_ROOT")"
	# (check_no_leftovers would count the agent itself: its command line names $TEST_DIR.)
	[ -z "$(leftover_cgroups "$CID")" ] || fail "leftover cgroup: $(leftover_cgroups "$CID")"
}

@test "sandbox agent: Shutdown kills the containers and ends the agent" {
	run agent_create "$CID" false sleep 600
	assert_success
	run ctl StartContainer "$(req "$CID")"
	assert_success
	local pid
	pid=$(jq -r .pid <<<"$output")
	run ctl Shutdown
	assert_success
	local status=0
	wait "$AGENT_PID" || status=$?
	AGENT_PID=
	[ "$status" -eq 0 ] || fail "the agent exited with $status: $(cat "$TEST_DIR/agent.log")"
	wait_for_exit "$pid"
	[ ! -e "$SOCK" ] || fail "the socket is still there"
	ROOT="$AGENT_ROOT/state"
	assert_root_empty
}
