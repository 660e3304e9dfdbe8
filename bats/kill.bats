#!/usr/bin/env bats
# kill: signal names and numbers, default signal, --all, and containers that are not running.

load helpers

setup() {
	setup_bundle
}

teardown() {
	teardown_bundle
}

# A container init that records which signal it got in /got and then exits. PID 1 of a pid
# namespace only sees signals it has handlers for, so the traps are what makes delivery visible.
start_signal_recorder() {
	set_args sh -c '
		for s in TERM HUP INT USR1 USR2; do
			trap "echo $s > /got; exit 0" $s
		done
		echo ready > /ready
		while :; do sleep 600 & wait $!; done'
	run_detached
	wait_for_file "$BUNDLE/rootfs/ready"
}

# expect_signal NAME: the recorder got NAME and stopped.
expect_signal() {
	wait_for_file "$BUNDLE/rootfs/got"
	wait_for_status "$CID" stopped
	[ "$(cat "$BUNDLE/rootfs/got")" = "$1" ]
}

@test "kill without a signal sends TERM" {
	start_signal_recorder
	run runtime kill "$CID"
	assert_success
	expect_signal TERM
	run runtime delete "$CID"
	assert_success
	check_no_leftovers "$CID"
}

@test "kill by name: TERM" {
	start_signal_recorder
	run runtime kill "$CID" TERM
	assert_success
	expect_signal TERM
}

@test "kill by name with the SIG prefix: SIGUSR1" {
	start_signal_recorder
	run runtime kill "$CID" SIGUSR1
	assert_success
	expect_signal USR1
}

@test "kill by name: HUP" {
	start_signal_recorder
	run runtime kill "$CID" HUP
	assert_success
	expect_signal HUP
}

@test "kill by number: 15 is TERM" {
	start_signal_recorder
	run runtime kill "$CID" 15
	assert_success
	expect_signal TERM
}

@test "kill by number: 2 is INT" {
	start_signal_recorder
	run runtime kill "$CID" 2
	assert_success
	expect_signal INT
}

@test "kill KILL, SIGKILL and 9 stop the container" {
	local sig
	set_args sleep 600
	for sig in KILL SIGKILL 9; do
		run_detached
		run runtime kill "$CID" "$sig"
		assert_success
		wait_for_status "$CID" stopped
		run runtime delete "$CID"
		assert_success
		check_no_leftovers "$CID"
	done
}

@test "kill of a created container stops it" {
	set_args sleep 600
	create_container
	run runtime kill "$CID" KILL
	assert_success
	wait_for_status "$CID" stopped
	run runtime delete "$CID"
	assert_success
	check_no_leftovers "$CID"
}

@test "kill of a stopped container fails" {
	set_args true
	run_detached
	wait_for_status "$CID" stopped
	run runtime kill "$CID" KILL
	assert_failure
	assert_output_contains "not running"
	run runtime delete "$CID"
	assert_success
}

@test "kill with an unknown signal name fails and leaves the container running" {
	set_args sleep 600
	run_detached
	run runtime kill "$CID" NOSUCHSIGNAL
	assert_failure
	assert_output_contains "NOSUCHSIGNAL"
	[ "$(state_field "$CID" status)" = running ]
}

@test "kill with an out-of-range signal number fails" {
	set_args sleep 600
	run_detached
	run runtime kill "$CID" 99
	assert_failure
	assert_error_message
	[ "$(state_field "$CID" status)" = running ]
}

@test "kill --all signals every process of the container" {
	# Without a pid namespace, killing init alone leaves its children alive (they are
	# reparented on the host); --all must reach them through the container's cgroup.
	update_config '.linux.namespaces |= map(select(.type != "pid"))'
	set_args sh -c 'sleep 600 & echo $! > /pids; sleep 600 & echo $! >> /pids; echo ready > /ready; wait'
	run_detached
	wait_for_file "$BUNDLE/rootfs/ready"
	local pids pid
	pids=$(cat "$BUNDLE/rootfs/pids")
	for pid in $pids; do
		kill -0 "$pid"
	done

	run runtime kill --all "$CID" KILL
	assert_success
	wait_for_status "$CID" stopped
	for pid in $pids; do
		wait_for_exit "$pid"
	done
	run runtime delete "$CID"
	assert_success
	check_no_leftovers "$CID"
}

@test "kill -a is the short form of --all" {
	set_args sh -c 'sleep 600 & sleep 600 & wait'
	run_detached
	run runtime kill -a "$CID" KILL
	assert_success
	wait_for_status "$CID" stopped
	run runtime delete "$CID"
	assert_success
	check_no_leftovers "$CID"
}

@test "delete --force of a container without a pid namespace kills all its processes" {
	update_config '.linux.namespaces |= map(select(.type != "pid"))'
	set_args sh -c 'sleep 600 & echo $! > /pids; echo ready > /ready; wait'
	run_detached
	wait_for_file "$BUNDLE/rootfs/ready"
	local pid
	pid=$(cat "$BUNDLE/rootfs/pids")
	kill -0 "$pid"
	run runtime delete --force "$CID"
	assert_success
	check_no_leftovers "$CID"
	wait_for_exit "$pid"
}
