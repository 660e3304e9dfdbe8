#!/usr/bin/env bats
# Regression tests for the known runtime escape classes.

load helpers

setup() {
	setup_bundle
}

teardown() {
	teardown_bundle
}

# CVE-2021-30465 class, the race itself: while the runtime mounts a tmpfs at /race/t, another
# process (standing in for a second container sharing the volume) keeps swapping /race/t
# between a directory and a symlink to a host path. Wherever the symlink points, the mount
# must land inside the rootfs: in every container that starts, /race/t (followed) is the
# tmpfs. A runtime that resolved the path on the host would now and then mount it on the
# host path, and the container would see a plain directory there.
@test "CVE-2021-30465: a symlink swapped in during mount setup never moves the mount out" {
	mkdir -p "$BUNDLE/rootfs/race" "$TEST_DIR/victim"
	update_config '.mounts += [{"destination": "/race/t", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid"]}]'
	set_args sh -c 'stat -f -c %T /race/t/'
	start_holder bash -c "cd '$BUNDLE/rootfs/race' || exit
		while :; do rm -rf t; ln -s '$TEST_DIR/victim' t 2>/dev/null; rm -f t; mkdir t 2>/dev/null; done"
	local swapper=$HOLDER_PID i started=0
	for i in $(seq 1 25); do
		run runtime run --bundle "$BUNDLE" "$CID-$i"
		# A failed start (the path vanished at the wrong moment) is fine; a wrong mount is not.
		if [ "$status" -eq 0 ]; then
			started=$((started + 1))
			[ "$output" = tmpfs ] || fail "run $i: /race/t is not the tmpfs: $output"
		fi
	done
	kill -9 "$swapper"
	wait "$swapper" 2>/dev/null || true
	echo "# $started of 25 started" >&3
	[ "$started" -gt 0 ] || fail "no run started at all"
	! grep -q " $TEST_DIR/victim " /proc/self/mountinfo || fail "a mount on the host path"
	for i in $(seq 1 25); do
		check_no_leftovers "$CID-$i"
	done
}

# CVE-2024-21626: a runtime descriptor leaked into the container lets a cwd of
# /proc/self/fd/N point outside the root. Whatever N is, the process must either fail to
# start or find itself inside its root: a file next to the host's copy of the bundle must
# not be reachable by walking up from its cwd.
@test "CVE-2024-21626: cwd through a leaked runtime fd never reaches the host" {
	echo host-secret >"$TEST_DIR/secret"
	local fd rel
	# Enough ../ to climb from any host directory to /, then down to the secret.
	rel=$(printf '../%.0s' $(seq 1 30))${TEST_DIR#/}/secret
	for fd in 3 4 5 6 7 8 9 10 11 12; do
		update_config --arg cwd "/proc/self/fd/$fd" --arg rel "$rel" \
			'.process.cwd = $cwd | .process.args = ["sh", "-c", "cat " + $rel + " 2>/dev/null; exit 0"]'
		run runtime run --bundle "$BUNDLE" "$CID-$fd"
		if [ "$status" -eq 0 ]; then
			! grep -q host-secret <<<"$output" || fail "fd $fd: the container read a host file: $output"
		fi
		check_no_leftovers "$CID-$fd"
	done
}

# The same through exec: --cwd /proc/self/fd/N for an exec'd process.
@test "CVE-2024-21626: exec --cwd through a leaked runtime fd never reaches the host" {
	echo host-secret >"$TEST_DIR/secret"
	set_args sleep 600
	run_detached
	local fd rel
	rel=$(printf '../%.0s' $(seq 1 30))${TEST_DIR#/}/secret
	for fd in 3 4 5 6 7 8 9 10; do
		run runtime exec --cwd "/proc/self/fd/$fd" "$CID" sh -c "cat $rel 2>/dev/null; exit 0"
		if [ "$status" -eq 0 ]; then
			! grep -q host-secret <<<"$output" || fail "fd $fd: the exec'd process read a host file"
		fi
	done
	run runtime delete --force "$CID"
	assert_success
	check_no_leftovers "$CID"
}

# CVE-2019-5736: the runtime's own binary, visible inside the container as /proc/PID/exe of
# the init until start (and of every process the runtime puts in), must never be writable
# from there. The strongest in-container attacker short of a host mount: a process exec'd
# with CAP_SYS_PTRACE (which passes the non-dumpable check) opens the init's exe while the
# runtime still runs it, and once the container has started and every runtime process has
# exited, reopens it for writing through /proc/self/fd. The runtime under test is a copy,
# so a failure damages only the copy.
@test "CVE-2019-5736: the container cannot write to the runtime binary through /proc/PID/exe" {
	local real=$RUNTIME before after
	cp "$RUNTIME" "$TEST_DIR/runtime-copy"
	RUNTIME="$TEST_DIR/runtime-copy"
	before=$(sha256sum <"$RUNTIME")
	set_args sleep 600
	create_container
	runtime_detached exec -d --cap CAP_SYS_PTRACE "$CID" sh -c '
		exec 3</proc/1/exe || { echo NOOPEN >/tmp/result; exit; }
		while [ "$(cat /proc/1/comm)" != sleep ]; do usleep 10000; done
		for i in $(seq 100); do
			if echo pwned 2>/dev/null >/proc/self/fd/3; then echo WROTE >/tmp/result; exit; fi
			usleep 30000
		done
		echo REFUSED >/tmp/result'
	assert_success
	run runtime start "$CID"
	assert_success
	wait_for_file "$BUNDLE/rootfs/tmp/result"
	after=$(sha256sum <"$RUNTIME")
	# From here the real runtime cleans up, whatever became of the copy.
	RUNTIME=$real
	run cat "$BUNDLE/rootfs/tmp/result"
	[ "$before" = "$after" ] || fail "the runtime binary was changed from the container ($output)"
	[ "$output" != WROTE ] || fail "the container wrote to the runtime's exe"
	run runtime delete --force "$CID"
	assert_success
	check_no_leftovers "$CID"
}

# No descriptor of the runtime is open in the container when its program starts.
@test "only stdio reaches the container process" {
	set_args sh -c 'ls /proc/self/fd'
	run runtime run --bundle "$BUNDLE" "$CID"
	assert_success
	# 0 1 2, and 3 for ls's own directory stream.
	[ "$(echo $output)" = "0 1 2 3" ] || fail "unexpected fds: $output"
}

# The same when the container's seccomp profile refuses close_range (husk closes the
# descriptors after loading the filter): a descriptor the runtime inherited without
# --preserve-fds still must not reach the program.
@test "no inherited descriptor leaks when seccomp refuses close_range" {
	update_config '.linux.seccomp = {"defaultAction": "SCMP_ACT_ALLOW",
		"syscalls": [{"names": ["close_range"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}]}'
	set_args sh -c 'ls /proc/self/fd'
	echo secret >"$TEST_DIR/leak"
	run runtime run --bundle "$BUNDLE" "$CID" 7<"$TEST_DIR/leak"
	assert_success
	[ "$(echo $output)" = "0 1 2 3" ] || fail "unexpected fds: $output"
}

# CVE-2021-30465 class: a mount destination that is a symlink out of the rootfs lands
# inside the rootfs, never on the host path it names.
@test "CVE-2021-30465 class: a symlinked mount destination stays inside the rootfs" {
	local outside="$TEST_DIR/outside" src="$TEST_DIR/src"
	mkdir -p "$outside" "$src"
	echo from-bind >"$src/file"
	ln -s "$outside" "$BUNDLE/rootfs/escape"
	ln -s ../../../../../../../../../.."$outside" "$BUNDLE/rootfs/escape2"
	update_config --arg src "$src" '.mounts += [
		{"destination": "/escape", "type": "bind", "source": $src, "options": ["bind"]},
		{"destination": "/escape2", "type": "bind", "source": $src, "options": ["bind"]}]'
	set_args sh -c 'cat /escape/file; cat /escape2/file'
	run runtime run --bundle "$BUNDLE" "$CID"
	# Either way, the host directory the symlinks name saw no mount and no file.
	[ -z "$(ls -A "$outside")" ] || fail "the host path was written: $(ls -A "$outside")"
	! grep -q " $outside " /proc/self/mountinfo || fail "something is mounted on the host path"
	check_no_leftovers "$CID"
}

# The devices cgroup: with the default rules (deny all, then the usual devices), a node
# the container makes itself with CAP_MKNOD cannot be opened.
@test "device rules: a node made with CAP_MKNOD outside the allowed devices cannot be opened" {
	[ -f /sys/fs/cgroup/devices/devices.list ] || skip "needs the cgroup v1 devices controller (v2 uses an eBPF filter)"
	update_config '.process.capabilities.bounding += ["CAP_MKNOD"]
		| .process.capabilities.effective += ["CAP_MKNOD"]
		| .process.capabilities.permitted += ["CAP_MKNOD"]'
	set_args sh -c 'mknod /dev/husk-mem c 1 1 || exit 9; head -c1 /dev/husk-mem >/dev/null && echo opened; echo x >/dev/null && echo null-ok'
	run runtime run --bundle "$BUNDLE" "$CID"
	assert_success
	assert_output_contains "Operation not permitted" "null-ok"
	! grep -q opened <<<"$output" || fail "the container opened /dev/mem's node"
	check_no_leftovers "$CID"
}

# CVE-2019-16884 class: proc and sysfs only ever land on an ordinary directory of the rootfs.
@test "CVE-2019-16884: proc is not mounted through a symlink in the rootfs" {
	mkdir -p "$BUNDLE/rootfs/tmp/fakeproc"
	rm -rf "$BUNDLE/rootfs/proc"
	ln -s /tmp/fakeproc "$BUNDLE/rootfs/proc"
	set_args true
	run runtime run --bundle "$BUNDLE" "$CID"
	assert_failure
	assert_output_contains "ordinary directory"
	check_no_leftovers "$CID"
	assert_root_empty
}

@test "CVE-2019-16884: sysfs is not mounted on a file" {
	rm -rf "$BUNDLE/rootfs/sys"
	touch "$BUNDLE/rootfs/sys"
	set_args true
	run runtime run --bundle "$BUNDLE" "$CID"
	assert_failure
	assert_output_contains "ordinary directory"
	check_no_leftovers "$CID"
}

# The same defence for the files husk writes under /proc: a sysctl is only written to a
# file on procfs, here not to a look-alike the bundle mounts over /proc/sys.
@test "CVE-2019-16884 class: a sysctl is never written into a fake /proc/sys" {
	[ -z "${IS_RUNC:-}" ] || skip "runc 1.1.5 writes sysctls without checking for procfs"
	mkdir -p "$BUNDLE/fakesys/kernel"
	echo 0 >"$BUNDLE/fakesys/kernel/shm_rmid_forced"
	update_config --arg src "$BUNDLE/fakesys" \
		'.mounts += [{"destination": "/proc/sys", "type": "bind", "source": $src, "options": ["rbind", "rw"]}]
		| .linux.sysctl = {"kernel.shm_rmid_forced": "1"}'
	set_args true
	run runtime run --bundle "$BUNDLE" "$CID"
	assert_failure
	assert_output_contains "not on procfs"
	[ "$(cat "$BUNDLE/fakesys/kernel/shm_rmid_forced")" = 0 ] || fail "the fake sysctl file was written"
	check_no_leftovers "$CID"
}

# CVE-2022-29162: a process gets no inheritable capabilities the spec does not list.
@test "CVE-2022-29162: no inheritable capabilities unless the spec sets them" {
	update_config '.process.capabilities = {"bounding": ["CAP_CHOWN", "CAP_KILL"],
		"effective": ["CAP_CHOWN", "CAP_KILL"], "permitted": ["CAP_CHOWN", "CAP_KILL"]}'
	run_in_container grep CapInh /proc/self/status
	assert_success
	assert_output_matches 'CapInh:[[:space:]]+0000000000000000$'
	# exec'd processes too.
	set_args sleep 600
	run_detached
	run runtime exec "$CID" grep CapInh /proc/self/status
	assert_success
	assert_output_matches 'CapInh:[[:space:]]+0000000000000000$'
	# Listed ones are set.
	echo '{"args": ["grep", "CapInh", "/proc/self/status"], "cwd": "/", "env": ["PATH=/bin:/usr/bin"],
		"capabilities": {"bounding": ["CAP_CHOWN"], "permitted": ["CAP_CHOWN"], "inheritable": ["CAP_CHOWN"]}}' \
		>"$TEST_DIR/process.json"
	run runtime exec --process "$TEST_DIR/process.json" "$CID"
	assert_success
	assert_output_matches 'CapInh:[[:space:]]+0000000000000001$'
	run runtime delete --force "$CID"
	assert_success
}

# LSMs: a profile or label asked for on a host without that LSM fails create, clearly,
# instead of running the container unconfined.
# lsm_refused WORD: running `true` must fail, naming WORD, and leave nothing behind.
lsm_refused() {
	set_args true
	run runtime run --bundle "$BUNDLE" "$CID"
	assert_failure
	grep -qi "$1" <<<"$output" || fail "no word of $1: $output"
	check_no_leftovers "$CID"
	assert_root_empty
}

@test "process.apparmorProfile without AppArmor fails and leaves nothing" {
	[ ! -e /sys/module/apparmor/parameters/enabled ] || ! grep -q Y /sys/module/apparmor/parameters/enabled ||
		skip "AppArmor is enabled here"
	update_config '.process.apparmorProfile = "husk-test-profile"'
	lsm_refused apparmor
}

@test "process.selinuxLabel without SELinux fails and leaves nothing" {
	[ ! -e /sys/fs/selinux/enforce ] || skip "SELinux is enabled here"
	update_config '.process.selinuxLabel = "system_u:system_r:container_t:s0"'
	lsm_refused selinux
}

@test "linux.mountLabel without SELinux fails and leaves nothing" {
	[ ! -e /sys/fs/selinux/enforce ] || skip "SELinux is enabled here"
	update_config '.linux.mountLabel = "system_u:object_r:container_file_t:s0"'
	# (runc 1.1.5 fails later, at the first mount with context=.)
	if [ -n "${IS_RUNC:-}" ]; then lsm_refused context; else lsm_refused "SELinux is not enabled"; fi
}

@test "exec --apparmor without AppArmor fails; the container lives on" {
	[ ! -e /sys/module/apparmor/parameters/enabled ] || ! grep -q Y /sys/module/apparmor/parameters/enabled ||
		skip "AppArmor is enabled here"
	set_args sleep 600
	run_detached
	run runtime exec --apparmor husk-test-profile "$CID" true
	assert_failure
	grep -qi apparmor <<<"$output" || fail "no word of AppArmor: $output"
	[ "$(state_field "$CID" status)" = running ]
	run runtime delete --force "$CID"
	assert_success
}

# Each container joins a session keyring of its own, named after it: the host's keys
# (and other containers') are out of its reach. --no-new-keyring keeps the caller's.
@test "a new session keyring per container unless --no-new-keyring" {
	update_config '.linux.maskedPaths -= ["/proc/keys"]'
	set_args cat /proc/keys
	run runtime run --bundle "$BUNDLE" "$CID"
	assert_success
	assert_output_contains "_ses.$CID"
	# Another id: the first container's keyring may linger in /proc/keys until the kernel's
	# key garbage collector runs.
	run runtime run --no-new-keyring --bundle "$BUNDLE" "$CID-nokeyring"
	assert_success
	[[ "$output" != *"_ses.$CID-nokeyring"* ]] || fail "--no-new-keyring made one: $output"
}
