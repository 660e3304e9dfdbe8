#!/usr/bin/env bats
# /dev inside the container: the default nodes and links, devpts, shm, and linux.devices.

load helpers

setup() {
	setup_bundle
}

teardown() {
	teardown_bundle
}

# node_line PATH: "type major:minor mode uid:gid" for PATH in the stat dump held in $output
# (the container ran: stat -c '%n %F %t:%T %a %u:%g' PATH...; major/minor are hex).
node_line() {
	awk -v p="$1" '$1 == p { $1 = ""; sub(/^ /, ""); print }' <<<"$output"
}

@test "/dev has the default character devices with the right numbers and modes" {
	run_in_container stat -c '%n %F %t:%T %a %u:%g' \
		/dev/null /dev/zero /dev/full /dev/random /dev/urandom /dev/tty
	assert_success
	[ "$(node_line /dev/null)" = "character special file 1:3 666 0:0" ]
	[ "$(node_line /dev/zero)" = "character special file 1:5 666 0:0" ]
	[ "$(node_line /dev/full)" = "character special file 1:7 666 0:0" ]
	[ "$(node_line /dev/random)" = "character special file 1:8 666 0:0" ]
	[ "$(node_line /dev/urandom)" = "character special file 1:9 666 0:0" ]
	[ "$(node_line /dev/tty)" = "character special file 5:0 666 0:0" ]
}

@test "the default devices work" {
	run_in_container sh -c '
		echo discard > /dev/null && echo null-ok
		[ "$(head -c 4 /dev/zero | od -An -tx1 | xargs)" = "00 00 00 00" ] && echo zero-ok
		head -c 16 /dev/urandom | wc -c
		echo x > /dev/full; echo "full-rc=$?"'
	assert_success
	assert_output_contains null-ok zero-ok 16 "full-rc=1"
}

@test "/dev has the standard symlinks" {
	run_in_container sh -c 'for l in fd stdin stdout stderr ptmx; do echo "$l $(readlink /dev/$l)"; done'
	assert_success
	assert_output_equals $'fd /proc/self/fd\nstdin /proc/self/fd/0\nstdout /proc/self/fd/1\nstderr /proc/self/fd/2\nptmx pts/ptmx'
}

@test "/dev/pts is a private devpts instance with ptmx" {
	run_in_container sh -c 'stat -c "%n %F %t:%T %a" /dev/pts/ptmx; ls -A /dev/pts | grep -vx ptmx | wc -l'
	assert_success
	[ "$(sed -n 1p <<<"$output")" = "/dev/pts/ptmx character special file 5:2 666" ]
	# A new instance: no host terminals in it.
	[ "$(sed -n 2p <<<"$output")" = 0 ]
}

@test "/dev/shm is a writable tmpfs, /dev/mqueue exists" {
	run_in_container sh -c 'echo shm > /dev/shm/f && cat /dev/shm/f; stat -c %a /dev/shm; [ -d /dev/mqueue ] && echo mqueue'
	assert_success
	assert_output_equals $'shm\n1777\nmqueue'
}

@test "/dev holds nothing of the host's devices" {
	run_in_container ls -A /dev
	assert_success
	local entry
	for entry in $output; do
		case "$entry" in
		null | zero | full | random | urandom | tty | console | ptmx | pts | shm | mqueue | fd | stdin | stdout | stderr | core) ;;
		*) fail "unexpected /dev entry: $entry" ;;
		esac
	done
}

@test "/dev/console is absent without a terminal" {
	run_in_container sh -c '[ -e /dev/console ] && echo present || echo absent'
	assert_success
	assert_output_equals absent
}

@test "linux.devices: a character device with its numbers, mode and owner" {
	update_config '.linux.devices = [{"path": "/dev/husk-null", "type": "c", "major": 1, "minor": 3,
		"fileMode": 432, "uid": 1000, "gid": 1001}]'
	run_in_container stat -c '%n %F %t:%T %a %u:%g' /dev/husk-null
	assert_success
	[ "$(node_line /dev/husk-null)" = "character special file 1:3 660 1000:1001" ]
}

@test "linux.devices: a device in a subdirectory of /dev" {
	update_config '.linux.devices = [{"path": "/dev/sub/dir/husk-zero", "type": "c", "major": 1, "minor": 5, "fileMode": 438}]'
	run_in_container stat -c '%n %F %t:%T %a' /dev/sub/dir/husk-zero
	assert_success
	[ "$(node_line /dev/sub/dir/husk-zero)" = "character special file 1:5 666" ]
}

@test "linux.devices: a block device" {
	update_config '.linux.devices = [{"path": "/dev/husk-loop", "type": "b", "major": 7, "minor": 200, "fileMode": 384}]'
	run_in_container stat -c '%n %F %t:%T %a' /dev/husk-loop
	assert_success
	[ "$(node_line /dev/husk-loop)" = "block special file 7:c8 600" ]
}

@test "linux.devices: a fifo" {
	update_config '.linux.devices = [{"path": "/dev/husk-fifo", "type": "p", "fileMode": 420}]'
	run_in_container stat -c '%n %F %a' /dev/husk-fifo
	assert_success
	[ "$(node_line /dev/husk-fifo)" = "fifo 644" ]
}

@test "linux.devices: the device cgroup allows access when a rule says so" {
	# /dev/full (1:7) as a second name; the default spec denies all devices except the
	# defaults, so access needs a rule.
	update_config '.linux.devices = [{"path": "/dev/husk-full", "type": "c", "major": 1, "minor": 7, "fileMode": 438}]
		| .linux.resources.devices += [{"allow": true, "type": "c", "major": 1, "minor": 7, "access": "rwm"}]'
	run_in_container sh -c 'echo x > /dev/husk-full; echo "rc=$?"; head -c 3 /dev/husk-full | wc -c'
	assert_success
	assert_output_contains "No space left on device" "rc=1" 3
}

@test "linux.devices: without an allow rule the device cgroup denies access" {
	# 1:11 is /dev/kmsg, not one of the default devices.
	update_config '.linux.devices = [{"path": "/dev/husk-kmsg", "type": "c", "major": 1, "minor": 11, "fileMode": 438}]'
	run_in_container sh -c 'head -c 1 /dev/husk-kmsg > /dev/null; echo "rc=$?"'
	assert_success
	assert_output_contains "rc=1" "Operation not permitted"
}
