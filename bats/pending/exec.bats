#!/usr/bin/env bats
# exec, ps, pause and resume on a running container.

load helpers

setup() {
	setup_bundle
	set_args sleep 600
}

teardown() {
	teardown_bundle
}

# freezer_state PID: "frozen" or "thawed", from the freezer of PID's cgroup (v1 freezer
# controller, or cgroup v2's cgroup.events).
freezer_state() {
	local path
	path=$(awk -F: '$2 == "freezer" { print $3 }' "/proc/$1/cgroup")
	if [ -n "$path" ]; then
		case "$(cat "/sys/fs/cgroup/freezer$path/freezer.state")" in
		FROZEN) echo frozen ;;
		THAWED) echo thawed ;;
		*) echo "freezing" ;;
		esac
		return
	fi
	path=$(awk -F: '$1 == "0" { print $3 }' "/proc/$1/cgroup")
	if grep -qx 'frozen 1' "/sys/fs/cgroup$path/cgroup.events"; then
		echo frozen
	else
		echo thawed
	fi
}

@test "exec runs a process in the container's namespaces" {
	run_detached
	local pid
	pid=$(state_field "$CID" pid)
	run runtime exec "$CID" sh -c 'for t in pid net mnt; do readlink /proc/self/ns/$t; done; hostname'
	assert_success
	[ "$(sed -n 1p <<<"$output")" = "$(readlink "/proc/$pid/ns/pid")" ]
	[ "$(sed -n 2p <<<"$output")" = "$(readlink "/proc/$pid/ns/net")" ]
	[ "$(sed -n 3p <<<"$output")" = "$(readlink "/proc/$pid/ns/mnt")" ]
	[ "$(sed -n 4p <<<"$output")" = "$(jq -r .hostname "$BUNDLE/config.json")" ]
}

@test "exec sees the container's processes, not PID 1 itself" {
	run_detached
	run runtime exec "$CID" sh -c 'echo $$; cat /proc/1/cmdline | tr "\0" " "'
	assert_success
	[ "$(sed -n 1p <<<"$output")" -gt 1 ]
	[ "$(sed -n 2p <<<"$output")" = "sleep 600 " ]
}

@test "exec propagates the exit code" {
	run_detached
	run runtime exec "$CID" sh -c 'exit 5'
	assert_status 5
	[ "$(state_field "$CID" status)" = running ]
}

@test "exec inherits the container's env, cwd, user and capabilities by default" {
	update_config '.process.env += ["FROM_SPEC=yes"] | .process.cwd = "/tmp"'
	run_detached
	run runtime exec "$CID" sh -c 'echo $FROM_SPEC; pwd; id -u; grep CapBnd /proc/self/status | cut -f2'
	assert_success
	assert_output_equals "yes"$'\n'"/tmp"$'\n'"0"$'\n'"$(cap_mask CAP_AUDIT_WRITE CAP_KILL CAP_NET_BIND_SERVICE)"
}

@test "exec --env, --cwd and --user override the defaults" {
	run_detached
	run runtime exec --env FOO=bar --cwd /tmp --user 1000:1001 "$CID" sh -c 'echo $FOO; pwd; id -u; id -g'
	assert_success
	assert_output_equals $'bar\n/tmp\n1000\n1001'
}

@test "exec --process runs a process described in a JSON file" {
	run_detached
	cat >"$TEST_DIR/process.json" <<-'EOF'
		{"args": ["sh", "-c", "echo from-file; echo $X; pwd"], "cwd": "/etc",
		 "env": ["PATH=/bin", "X=42"], "user": {"uid": 0, "gid": 0}}
	EOF
	run runtime exec --process "$TEST_DIR/process.json" "$CID"
	assert_success
	assert_output_equals $'from-file\n42\n/etc'
}

@test "exec -d returns at once and the process runs" {
	run_detached
	runtime_detached exec -d --pid-file "$TEST_DIR/exec.pid" "$CID" sh -c 'echo ran > /tmp/exec-d; sleep 600'
	assert_success
	wait_for_file "$BUNDLE/rootfs/tmp/exec-d" ran
	local pid
	pid=$(tr -d '\n' <"$TEST_DIR/exec.pid")
	[ -n "$pid" ]
	kill -0 "$pid"
	run runtime delete --force "$CID"
	assert_success
	wait_for_exit "$pid"
	check_no_leftovers "$CID"
}

@test "exec of a missing executable fails" {
	run_detached
	run runtime exec "$CID" /no/such/binary
	# exec reports its own failures (as opposed to the process's exit code) as 255.
	assert_status 255
	assert_output_contains /no/such/binary
	[ "$(state_field "$CID" status)" = running ]
}

@test "exec in a stopped container fails" {
	set_args true
	run_detached
	wait_for_status "$CID" stopped
	run runtime exec "$CID" true
	assert_status 255
	assert_error_message
}

@test "exec in a nonexistent container fails" {
	run runtime exec "$CID" true
	assert_status 255
	assert_output_contains "does not exist"
}

@test "ps lists the container's processes" {
	run_detached
	local pid
	pid=$(state_field "$CID" pid)
	run runtime ps --format json "$CID"
	assert_success
	[ "$(jq -c . <<<"$output")" = "[$pid]" ]
	run runtime ps "$CID"
	assert_success
	assert_output_contains PID "sleep 600"
}

@test "pause and resume freeze and thaw the container" {
	run_detached
	local pid
	pid=$(state_field "$CID" pid)
	run runtime pause "$CID"
	assert_success
	[ "$(state_field "$CID" status)" = paused ]
	[ "$(freezer_state "$pid")" = frozen ]
	run runtime list --format json
	[ "$(jq -r '.[0].status' <<<"$output")" = paused ]

	run runtime resume "$CID"
	assert_success
	[ "$(state_field "$CID" status)" = running ]
	[ "$(freezer_state "$pid")" = thawed ]
	run runtime exec "$CID" true
	assert_success
}

@test "pause of a paused container and resume of a running one fail" {
	run_detached
	run runtime resume "$CID"
	assert_failure
	assert_output_contains "not paused"
	run runtime pause "$CID"
	assert_success
	run runtime pause "$CID"
	assert_failure
	assert_error_message
	run runtime resume "$CID"
	assert_success
}

@test "delete --force of a paused container works" {
	run_detached
	run runtime pause "$CID"
	assert_success
	run runtime delete --force "$CID"
	assert_success
	check_no_leftovers "$CID"
}

@test "state reports stopped when the container process is killed behind the runtime's back" {
	run_detached
	local pid
	pid=$(state_field "$CID" pid)
	kill -9 "$pid"
	wait_for_status "$CID" stopped
	run runtime delete "$CID"
	assert_success
	check_no_leftovers "$CID"
}
