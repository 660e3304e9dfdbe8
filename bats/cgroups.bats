#!/usr/bin/env bats
# Resource limits (linux.resources): the values land in the container's cgroup, as the
# container sees it and as the host sees it, on cgroup v1 (hybrid hosts) and v2; limits the
# kernel refuses fail create with a message and leave nothing behind.

load helpers
load cgroup_helpers

setup() {
	setup_bundle
}

teardown() {
	teardown_bundle
}

@test "memory limit" {
	requires_controller memory
	update_config '.linux.resources.memory = {"limit": 33554432}'
	# On v2 the container sees its own cgroup at /sys/fs/cgroup through a cgroup namespace
	# (without one, runc mounts the hierarchy's root there).
	cgroup_v2 && update_config '.linux.namespaces += [{"type": "cgroup"}]'
	if cgroup_v2; then
		run_in_container cat /sys/fs/cgroup/memory.max
	else
		run_in_container cat /sys/fs/cgroup/memory/memory.limit_in_bytes
	fi
	assert_success
	assert_output_equals 33554432
	check_no_leftovers "$CID"
}

@test "memory limit and swap, seen from the host" {
	requires_controller memory
	update_config '.linux.resources.memory = {"limit": 33554432, "swap": 67108864, "reservation": 16777216}'
	start_limited
	if cgroup_v2; then
		[ "$(host_value memory memory.max)" = 33554432 ]
		[ "$(host_value memory memory.low)" = 16777216 ]
		# v2 limits swap alone: memory+swap minus memory.
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

@test "an unlimited memory limit (-1) is the kernel's maximum" {
	requires_controller memory
	update_config '.linux.resources.memory = {"limit": -1}'
	start_limited
	if cgroup_v2; then
		[ "$(host_value memory memory.max)" = max ]
	else
		# v1 shows "no limit" as the largest page-aligned value.
		[ "$(host_value memory memory.limit_in_bytes)" -gt 1000000000000 ]
	fi
	stop_limited
}

@test "cpu shares, quota and period" {
	requires_controller cpu
	update_config '.linux.resources.cpu = {"shares": 512, "quota": 20000, "period": 100000}'
	start_limited
	if cgroup_v2; then
		# shares 512 -> weight 1 + (510 * 9999) / 262142
		[ "$(host_value cpu cpu.weight)" = 20 ]
		[ "$(host_value cpu cpu.max)" = "20000 100000" ]
	else
		[ "$(host_value cpu cpu.shares)" = 512 ]
		[ "$(host_value cpu cpu.cfs_quota_us)" = 20000 ]
		[ "$(host_value cpu cpu.cfs_period_us)" = 100000 ]
	fi
	stop_limited
}

@test "cpu shares below the kernel's minimum fail create" {
	requires_controller cpu
	cgroup_v2 && skip "v2 converts shares to a weight, which has no such minimum"
	update_config '.linux.resources.cpu = {"shares": 1}'
	set_args sleep 600
	runtime_detached create --bundle "$BUNDLE" "$CID"
	assert_failure
	assert_output_contains "cpu"
	check_no_leftovers "$CID"
}

@test "cpuset cpus and mems" {
	requires_controller cpuset
	update_config '.linux.resources.cpu = {"cpus": "0", "mems": "0"}'
	set_args sh -c 'grep -E "^(Cpus|Mems)_allowed_list" /proc/self/status'
	run runtime run --bundle "$BUNDLE" "$CID"
	assert_success
	assert_output_contains "Cpus_allowed_list:	0" "Mems_allowed_list:	0"
	check_no_leftovers "$CID"
}

@test "cpuset cpus seen from the host" {
	requires_controller cpuset
	update_config '.linux.resources.cpu = {"cpus": "0"}'
	start_limited
	[ "$(host_value cpuset cpuset.cpus)" = 0 ]
	stop_limited
}

@test "pids limit" {
	requires_controller pids
	update_config '.linux.resources.pids = {"limit": 10}'
	start_limited
	[ "$(host_value pids pids.max)" = 10 ]
	stop_limited
}

@test "a pids limit of 10 makes the fork past 10 tasks fail" {
	requires_controller pids
	update_config '.linux.resources.pids = {"limit": 10}'
	# sh and nine sleeps are ten tasks; the next fork must fail.
	run_in_container sh -c 'i=0; while [ $i -lt 9 ]; do sleep 60 & i=$((i + 1)); done; echo forked $i; sleep 60 & echo forked more'
	assert_failure
	assert_output_contains "forked 9"
	if grep -qF "forked more" <<<"$output"; then
		fail "a fork past the pids limit succeeded"
	fi
	assert_output_matches "can't fork|Resource temporarily unavailable"
	check_no_leftovers "$CID"
}

@test "an unlimited pids limit (-1) is max" {
	requires_controller pids
	update_config '.linux.resources.pids = {"limit": -1}'
	start_limited
	[ "$(host_value pids pids.max)" = max ]
	stop_limited
}

@test "blkio weight" {
	if cgroup_v2; then
		requires_controller io
		update_config '.linux.resources.blockIO = {"weight": 500}'
		start_limited
		# BFQ keeps the v1 scale; io.weight is 1-10000 (1 + (500 - 10) * 9999 / 990).
		if [ -e "$(cgroup_dir io "$PID")/io.bfq.weight" ]; then
			[ "$(host_value io io.bfq.weight | head -n1)" = "default 500" ]
		else
			[ "$(host_value io io.weight | head -n1)" = "default $((1 + (490 * 9999) / 990))" ]
		fi
		stop_limited
		return
	fi
	requires_controller blkio
	# Which weight file a v1 cgroup has depends on the kernel's schedulers (CFQ is gone; BFQ
	# may be loaded): look at a container without a weight first.
	start_limited
	local dir file
	dir=$(cgroup_dir blkio "$PID")
	for file in blkio.weight blkio.bfq.weight; do
		[ -e "$dir/$file" ] && break
		file=
	done
	stop_limited
	[ -n "$file" ] || skip "this kernel has no block I/O weight in a container's cgroup"

	update_config '.linux.resources.blockIO = {"weight": 500}'
	start_limited
	host_value blkio "$file" | head -n1 | grep -qE '^(default )?500$'
	stop_limited
}

@test "blkio read and write throttles" {
	if cgroup_v2; then
		requires_controller io
	else
		requires_controller blkio
	fi
	local dev
	dev=$(cat "$(ls -d /sys/block/*/dev | head -n1)" 2>/dev/null) || dev=
	[ -n "$dev" ] || skip "no block device to throttle"
	local major=${dev%%:*} minor=${dev##*:}
	update_config --argjson ma "$major" --argjson mi "$minor" '.linux.resources.blockIO = {
		"throttleReadBpsDevice": [{"major": $ma, "minor": $mi, "rate": 1048576}],
		"throttleWriteIOPSDevice": [{"major": $ma, "minor": $mi, "rate": 300}]}'
	start_limited
	if cgroup_v2; then
		host_value io io.max | grep -qxF "$dev rbps=1048576 wbps=max riops=max wiops=300"
	else
		host_value blkio blkio.throttle.read_bps_device | grep -qxF "$dev 1048576"
		host_value blkio blkio.throttle.write_iops_device | grep -qxF "$dev 300"
	fi
	stop_limited
}

@test "hugepage limit" {
	requires_controller hugetlb
	[ -d /sys/kernel/mm/hugepages/hugepages-2048kB ] || skip "this kernel has no 2MB huge pages"
	update_config '.linux.resources.hugepageLimits = [{"pageSize": "2MB", "limit": 4194304}]'
	start_limited
	if cgroup_v2; then
		[ "$(host_value hugetlb hugetlb.2MB.max)" = 4194304 ]
	else
		[ "$(host_value hugetlb hugetlb.2MB.limit_in_bytes)" = 4194304 ]
	fi
	stop_limited
}

@test "an impossible memory limit fails create and leaves nothing behind" {
	requires_controller memory
	cgroup_v2 && skip "v2 takes any limit and OOM-kills instead of refusing it"
	update_config '.linux.resources.memory = {"limit": 4096}'
	set_args sleep 600
	runtime_detached create --bundle "$BUNDLE" "$CID"
	assert_failure
	assert_output_contains "memory" "4096"
	run runtime state "$CID"
	assert_failure
	check_no_leftovers "$CID"
}

@test "memory+swap below the memory limit fails create" {
	requires_controller memory
	update_config '.linux.resources.memory = {"limit": 67108864, "swap": 33554432}'
	set_args sleep 600
	runtime_detached create --bundle "$BUNDLE" "$CID"
	assert_failure
	assert_error_message
	check_no_leftovers "$CID"
}

@test "unified resources on a cgroup v1 host fail create" {
	cgroup_v2 && skip "the host is cgroup v2"
	update_config '.linux.resources.unified = {"memory.max": "33554432"}'
	set_args sleep 600
	runtime_detached create --bundle "$BUNDLE" "$CID"
	assert_failure
	assert_output_contains "unified"
	check_no_leftovers "$CID"
}

@test "unified resources are written as given on cgroup v2" {
	cgroup_v2 || skip "the host has cgroup v1 controllers"
	requires_controller memory
	update_config '.linux.resources.unified = {"memory.high": "33554432"}'
	start_limited
	[ "$(host_value memory memory.high)" = 33554432 ]
	stop_limited
}

@test "limits are per container" {
	requires_controller pids
	update_config '.linux.resources.pids = {"limit": 20}'
	start_limited
	local first=$PID
	local other="${CID}-b"
	update_config '.linux.resources.pids = {"limit": 30}'
	runtime_detached run -d --bundle "$BUNDLE" "$other"
	assert_success
	PID=$(state_field "$other" pid)
	[ "$(host_value pids pids.max)" = 30 ]
	PID=$first
	[ "$(host_value pids pids.max)" = 20 ]
	run runtime delete --force "$other"
	assert_success
	check_no_leftovers "$other"
	stop_limited
}

# 240:0 is in the range left to local use: no driver has it, so an open the device rules let
# through fails with ENXIO, and one they stop fails with EPERM (v1 devices controller, or the
# v2 eBPF device filter).
@test "device rules: a node outside the allowed set cannot be opened" {
	update_config '.process.capabilities.bounding += ["CAP_MKNOD"] | .process.capabilities.effective += ["CAP_MKNOD"] | .process.capabilities.permitted += ["CAP_MKNOD"]'
	run_in_container sh -c 'mknod /dev/husk-local c 240 0 && echo made; head -c1 /dev/husk-local; head -c1 /dev/null && echo null-ok'
	assert_output_contains made
	assert_output_contains "Operation not permitted"
	assert_output_contains null-ok
	check_no_leftovers "$CID"
}

@test "device rules: an allow rule in linux.resources.devices opens a device for what it names" {
	update_config '.process.capabilities.bounding += ["CAP_MKNOD"] | .process.capabilities.effective += ["CAP_MKNOD"] | .process.capabilities.permitted += ["CAP_MKNOD"]'
	update_config '.linux.resources.devices += [{"allow": true, "type": "c", "major": 240, "minor": 0, "access": "r"}]'
	run_in_container sh -c 'mknod /dev/husk-local c 240 0 && echo made; head -c1 /dev/husk-local; echo x >/dev/husk-local'
	assert_output_contains made
	# Reading gets through the rules to the (absent) driver; writing stays denied.
	assert_output_contains "No such device or address"
	assert_output_contains "Operation not permitted"
	check_no_leftovers "$CID"
}
