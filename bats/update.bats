#!/usr/bin/env bats
# `update`: a running container's limits change, by flags or by a linux.resources document
# (-r FILE or -r -), and the new values land in its cgroup; bad values and stopped or
# unknown containers are refused.

load helpers
load cgroup_helpers

setup() {
	setup_bundle
}

teardown() {
	teardown_bundle
}

@test "update --memory, --memory-reservation and --memory-swap" {
	requires_controller memory
	update_config '.linux.resources.memory = {"limit": 67108864}'
	start_limited
	run runtime update --memory 32m --memory-reservation 16777216 --memory-swap 64m "$CID"
	assert_success
	if cgroup_v2; then
		[ "$(host_value memory memory.max)" = 33554432 ]
		[ "$(host_value memory memory.low)" = 16777216 ]
		if [ -e "$(cgroup_dir memory "$PID")/memory.swap.max" ]; then
			[ "$(host_value memory memory.swap.max)" = 33554432 ]
		fi
	else
		[ "$(host_value memory memory.limit_in_bytes)" = 33554432 ]
		[ "$(host_value memory memory.soft_limit_in_bytes)" = 16777216 ]
		if [ -e "$(cgroup_dir memory "$PID")/memory.memsw.limit_in_bytes" ]; then
			[ "$(host_value memory memory.memsw.limit_in_bytes)" = 67108864 ]
		fi
	fi
	stop_limited
}

@test "update --memory -1 lifts the memory limit" {
	requires_controller memory
	update_config '.linux.resources.memory = {"limit": 33554432}'
	start_limited
	run runtime update --memory -1 "$CID"
	assert_success
	if cgroup_v2; then
		[ "$(host_value memory memory.max)" = max ]
	else
		[ "$(host_value memory memory.limit_in_bytes)" -gt 1000000000000 ]
	fi
	stop_limited
}

@test "update --cpu-share, --cpu-quota and --cpu-period" {
	requires_controller cpu
	start_limited
	run runtime update --cpu-share 512 --cpu-quota 30000 --cpu-period 200000 "$CID"
	assert_success
	if cgroup_v2; then
		[ "$(host_value cpu cpu.weight)" = 20 ]
		[ "$(host_value cpu cpu.max)" = "30000 200000" ]
	else
		[ "$(host_value cpu cpu.shares)" = 512 ]
		[ "$(host_value cpu cpu.cfs_quota_us)" = 30000 ]
		[ "$(host_value cpu cpu.cfs_period_us)" = 200000 ]
	fi
	# A lower period with the quota already set: the order of the writes matters.
	run runtime update --cpu-period 50000 --cpu-quota 10000 "$CID"
	assert_success
	if cgroup_v2; then
		[ "$(host_value cpu cpu.max)" = "10000 50000" ]
	else
		[ "$(host_value cpu cpu.cfs_period_us)" = 50000 ]
		[ "$(host_value cpu cpu.cfs_quota_us)" = 10000 ]
	fi
	stop_limited
}

@test "update --cpuset-cpus and --cpuset-mems" {
	requires_controller cpuset
	start_limited
	run runtime update --cpuset-cpus 0 --cpuset-mems 0 "$CID"
	assert_success
	if cgroup_v2; then
		[ "$(host_value cpuset cpuset.cpus)" = 0 ]
		[ "$(host_value cpuset cpuset.mems)" = 0 ]
	else
		[ "$(host_value cpuset cpuset.cpus)" = 0 ]
		[ "$(host_value cpuset cpuset.mems)" = 0 ]
	fi
	grep -q '^Cpus_allowed_list:[[:space:]]*0$' "/proc/$PID/status"
	stop_limited
}

@test "update --pids-limit, and the new limit stops forks" {
	requires_controller pids
	start_limited
	run runtime update --pids-limit 12 "$CID"
	assert_success
	[ "$(host_value pids pids.max)" = 12 ]
	# Twenty background sleeps cannot all fit under twelve tasks.
	run runtime exec "$CID" sh -c 'i=0; while [ $i -lt 20 ]; do sleep 30 & i=$((i + 1)); echo "forked $i"; done'
	assert_output_matches "can't fork|Resource temporarily unavailable"
	if grep -qx "forked 20" <<<"$output"; then
		fail "twenty forks succeeded under the updated pids limit of 12"
	fi
	run runtime update --pids-limit -1 "$CID"
	assert_success
	[ "$(host_value pids pids.max)" = max ]
	stop_limited
}

@test "update --blkio-weight" {
	requires_controller "$(cgroup_v2 && echo io || echo blkio)"
	start_limited
	local file
	for file in blkio.weight blkio.bfq.weight io.bfq.weight io.weight; do
		[ -e "$(cgroup_dir "$(cgroup_v2 && echo io || echo blkio)" "$PID")/$file" ] && break
		file=
	done
	[ -n "$file" ] || skip "this kernel has no block I/O weight in a container's cgroup"
	run runtime update --blkio-weight 300 "$CID"
	assert_success
	case "$file" in
	io.weight) grep -q "^default $((1 + (290 * 9999) / 990))\$" <<<"$(host_value io io.weight)" ;;
	io.*) grep -qw 300 <<<"$(host_value io "$file")" ;;
	*) grep -qw 300 <<<"$(host_value blkio "$file")" ;;
	esac
	stop_limited
}

@test "update -r FILE applies a resources document" {
	requires_controller memory
	requires_controller pids
	start_limited
	cat >"$BATS_TEST_TMPDIR/resources.json" <<-'EOF'
		{"memory": {"limit": 41943040}, "pids": {"limit": 25}}
	EOF
	run runtime update -r "$BATS_TEST_TMPDIR/resources.json" "$CID"
	assert_success
	[ "$(host_value pids pids.max)" = 25 ]
	if cgroup_v2; then
		[ "$(host_value memory memory.max)" = 41943040 ]
	else
		[ "$(host_value memory memory.limit_in_bytes)" = 41943040 ]
	fi
	stop_limited
}

@test "update -r - reads the document from standard input and ignores the flags" {
	requires_controller pids
	start_limited
	run runtime_raw update -r - --pids-limit 99 "$CID" <<<'{"pids": {"limit": 17}}'
	assert_success
	[ "$(host_value pids pids.max)" = 17 ]
	stop_limited
}

@test "update with a malformed value fails and changes nothing" {
	requires_controller pids
	update_config '.linux.resources.pids = {"limit": 40}'
	start_limited
	run runtime update --pids-limit lots "$CID"
	assert_failure
	[ "$(host_value pids pids.max)" = 40 ]
	run runtime_raw update -r - "$CID" <<<'{"pids": {"limit": "many"}}'
	assert_failure
	[ "$(host_value pids pids.max)" = 40 ]
	run runtime_raw update -r - "$CID" <<<'{"pids": '
	assert_failure
	[ "$(host_value pids pids.max)" = 40 ]
	stop_limited
}

@test "update of a stopped or unknown container fails" {
	set_args true
	create_container
	run runtime start "$CID"
	assert_success
	wait_for_status "$CID" stopped
	run runtime update --pids-limit 10 "$CID"
	assert_failure
	run runtime update --pids-limit 10 "$CID-nonexistent"
	assert_failure
	run runtime delete "$CID"
	assert_success
	check_no_leftovers "$CID"
}

@test "update -r with devices replaces the device rules" {
	[ -z "${IS_RUNC:-}" ] || skip "runc's update does not change device rules"
	update_config '.process.capabilities.bounding += ["CAP_MKNOD"] | .process.capabilities.effective += ["CAP_MKNOD"] | .process.capabilities.permitted += ["CAP_MKNOD"]'
	start_limited
	# 240:0 is in the range left to local use: no driver has it, so an open the device
	# rules let through fails with ENXIO, and one they stop fails with EPERM.
	run runtime exec "$CID" sh -c 'mknod /dev/husk-local c 240 0 && echo made; head -c1 /dev/husk-local'
	assert_output_contains made
	assert_output_contains "Operation not permitted"
	run runtime_raw update -r - "$CID" <<<'{"devices": [{"allow": true, "type": "c", "major": 240, "minor": 0, "access": "r"}]}'
	assert_success
	run runtime exec "$CID" head -c1 /dev/husk-local
	assert_failure
	assert_output_contains "No such device or address"
	# Read access only: opening for writing stays denied.
	run runtime exec "$CID" sh -c 'echo husk >/dev/husk-local'
	assert_failure
	assert_output_contains "Operation not permitted"
	stop_limited
}
