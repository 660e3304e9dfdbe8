#!/usr/bin/env bats
# pause and resume, and what a paused container refuses (exec).

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

@test "exec in a paused container fails and leaves it paused" {
	run_detached
	run runtime pause "$CID"
	assert_success
	run runtime exec "$CID" true
	# runc: "exec failed: cannot exec in a paused container (use --ignore-paused to override)".
	assert_status 255
	assert_output_contains "paused"
	run runtime exec -d "$CID" true
	assert_status 255
	assert_output_contains "paused"
	[ "$(state_field "$CID" status)" = paused ]
	run runtime resume "$CID"
	assert_success
	run runtime exec "$CID" echo after-resume
	assert_success
	assert_output_equals after-resume
}

@test "ps of a paused container still lists its processes" {
	run_detached
	local pid
	pid=$(state_field "$CID" pid)
	run runtime pause "$CID"
	assert_success
	run runtime ps --format json "$CID"
	assert_success
	[ "$(jq -c . <<<"$output")" = "[$pid]" ]
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
