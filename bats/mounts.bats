#!/usr/bin/env bats
# The container's filesystem: read-only root, masked and read-only paths, config mounts (tmpfs,
# bind rw/ro/rbind, files), the standard mounts, root propagation, --no-pivot.

load helpers

setup() {
	setup_bundle
}

teardown() {
	teardown_bundle
}

# mount_line MOUNTPOINT: "mountpoint options fstype" of MOUNTPOINT in the mountinfo held in
# $output (the container printed /proc/self/mountinfo).
mount_line() {
	awk -v m="$1" '$5 == m { for (i = 7; $i != "-"; i++); print $5, $6, $(i + 1), $(i + 3) }' <<<"$output" | tail -n1
}

# mount_opts MOUNTPOINT: the per-mount options (field 6) and super block options (last field).
mount_opts() {
	mount_line "$1" | awk '{print $2 "," $4}'
}

has_opt() {
	tr ',' '\n' <<<"$1" | grep -qx -- "$2"
}

@test "root.readonly: the root filesystem cannot be written" {
	update_config '.root.readonly = true'
	run_in_container sh -c 'touch /newfile; echo "rc=$?"; touch /tmp/newfile; echo "rc=$?"'
	assert_success
	assert_output_contains "Read-only file system"
	[ "$(grep -c '^rc=1$' <<<"$output")" = 2 ]
	[ ! -e "$BUNDLE/rootfs/newfile" ]
	[ ! -e "$BUNDLE/rootfs/tmp/newfile" ]
}

@test "root.readonly: mounts on a read-only root stay writable" {
	update_config '.root.readonly = true
		| .mounts += [{"destination": "/scratch", "type": "tmpfs", "source": "tmpfs"}]'
	mkdir "$BUNDLE/rootfs/scratch"
	run_in_container sh -c 'echo ok > /scratch/f && cat /scratch/f && echo x > /dev/shm/f && echo shm'
	assert_success
	assert_output_equals $'ok\nshm'
}

@test "root.readonly false: writes land in the bundle's rootfs" {
	update_config '.root.readonly = false'
	run_in_container sh -c 'echo written > /newfile'
	assert_success
	[ "$(cat "$BUNDLE/rootfs/newfile")" = written ]
}

@test "maskedPaths: files read as empty, directories look empty" {
	mkdir -p "$BUNDLE/rootfs/secretdir"
	echo secret >"$BUNDLE/rootfs/secretdir/data"
	echo secret >"$BUNDLE/rootfs/secretfile"
	update_config '.linux.maskedPaths += ["/secretfile", "/secretdir"]'
	# One stream: runc copies a foreground container's stdout and stderr apart, so the shell's
	# error could land between the counts.
	run_in_container sh -c 'exec 2>&1; cat /secretfile | wc -c; ls -A /secretdir | wc -l; echo x > /secretdir/new; echo "rc=$?"'
	assert_success
	[ "$(sed -n 1p <<<"$output" | xargs)" = 0 ]
	[ "$(sed -n 2p <<<"$output" | xargs)" = 0 ]
	# A masked directory is also read-only.
	assert_output_contains "rc=1"
	# The host's copies are untouched.
	[ "$(cat "$BUNDLE/rootfs/secretfile")" = secret ]
	[ "$(cat "$BUNDLE/rootfs/secretdir/data")" = secret ]
	[ ! -e "$BUNDLE/rootfs/secretdir/new" ]
}

@test "maskedPaths: the default /proc entries are hidden" {
	local checks=()
	# Only the ones this kernel has; masking a missing path is a no-op.
	[ -e /proc/timer_list ] && checks+=('echo "timer_list $(cat /proc/timer_list | wc -c)"')
	[ -e /proc/keys ] && checks+=('echo "keys $(cat /proc/keys | wc -c)"')
	[ -e /proc/kcore ] && checks+=('echo "kcore $(cat /proc/kcore 2>/dev/null | head -c 16 | wc -c)"')
	[ -d /proc/acpi ] && checks+=('echo "acpi $(ls -A /proc/acpi | wc -l)"')
	[ -d /sys/firmware ] && checks+=('echo "firmware $(ls -A /sys/firmware | wc -l)"')
	[ "${#checks[@]}" -gt 0 ] || skip "none of the default masked paths exists on this kernel"
	local script
	script=$(printf '%s; ' "${checks[@]}")
	run_in_container sh -c "$script"
	assert_success
	local line
	while read -r line; do
		[ "$(awk '{print $2}' <<<"$line")" = 0 ] || fail "not masked: $line"
	done <<<"$output"
	[ "$(wc -l <<<"$output")" = "${#checks[@]}" ]
}

@test "maskedPaths: a path that does not exist is ignored" {
	update_config '.linux.maskedPaths += ["/no/such/path", "/proc/no-such-entry"]'
	run_in_container echo started
	assert_success
	assert_output_equals started
}

@test "readonlyPaths: /proc/sys cannot be written" {
	run_in_container sh -c 'echo 1 > /proc/sys/kernel/ns_last_pid; echo "rc=$?"; cat /proc/sys/kernel/ostype'
	assert_success
	assert_output_contains "rc=1" "Linux"
}

@test "readonlyPaths: a directory of the rootfs becomes read-only" {
	mkdir -p "$BUNDLE/rootfs/data" "$BUNDLE/rootfs/other"
	echo keep >"$BUNDLE/rootfs/data/f"
	update_config '.linux.readonlyPaths += ["/data"]'
	run_in_container sh -c 'cat /data/f; echo x > /data/f; echo "rc=$?"; echo y > /other/g; echo "rc=$?"'
	assert_success
	assert_output_contains keep "rc=1" "rc=0"
	[ "$(cat "$BUNDLE/rootfs/data/f")" = keep ]
	[ "$(cat "$BUNDLE/rootfs/other/g")" = y ]
}

@test "mounts: tmpfs with size, mode and flags" {
	update_config '.mounts += [{"destination": "/scratch", "type": "tmpfs", "source": "tmpfs",
		"options": ["nosuid", "noexec", "nodev", "size=1m", "mode=1750"]}]'
	run_in_container sh -c 'stat -c %a /scratch; cat /proc/self/mountinfo'
	assert_success
	[ "$(sed -n 1p <<<"$output")" = 1750 ]
	local line opts
	line=$(mount_line /scratch)
	[ "$(awk '{print $3}' <<<"$line")" = tmpfs ] || fail "no tmpfs at /scratch: '$line'"
	opts=$(mount_opts /scratch)
	has_opt "$opts" nosuid
	has_opt "$opts" noexec
	has_opt "$opts" nodev
	has_opt "$opts" size=1024k
	has_opt "$opts" mode=1750
}

@test "mounts: tmpfs is size-limited" {
	update_config '.mounts += [{"destination": "/small", "type": "tmpfs", "source": "tmpfs",
		"options": ["size=64k"]}]'
	run_in_container sh -c 'dd if=/dev/zero of=/small/f bs=1k count=256 2>&1; echo "rc=$?"'
	assert_success
	assert_output_contains "rc=1"
}

@test "mounts: the destination is created, nested directories too" {
	update_config '.mounts += [{"destination": "/a/b/c", "type": "tmpfs", "source": "tmpfs"}]'
	run_in_container sh -c 'cat /proc/self/mountinfo'
	assert_success
	[ "$(mount_line /a/b/c | awk '{print $3}')" = tmpfs ]
	[ -d "$BUNDLE/rootfs/a/b/c" ]
}

@test "mounts: read-write bind mount of a host directory" {
	mkdir "$TEST_DIR/host-rw"
	echo from-host >"$TEST_DIR/host-rw/in"
	update_config --arg src "$TEST_DIR/host-rw" \
		'.mounts += [{"destination": "/rw", "type": "bind", "source": $src, "options": ["rbind", "rw"]}]'
	run_in_container sh -c 'cat /rw/in; echo from-container > /rw/out'
	assert_success
	assert_output_equals from-host
	[ "$(cat "$TEST_DIR/host-rw/out")" = from-container ]
	check_no_leftovers "$CID"
}

@test "mounts: read-only bind mount of a host directory" {
	mkdir "$TEST_DIR/host-ro"
	echo from-host >"$TEST_DIR/host-ro/in"
	update_config --arg src "$TEST_DIR/host-ro" \
		'.mounts += [{"destination": "/ro", "type": "bind", "source": $src, "options": ["bind", "ro"]}]'
	run_in_container sh -c 'cat /ro/in; echo x > /ro/out; echo "rc=$?"; grep " /ro " /proc/self/mountinfo'
	assert_success
	assert_output_contains from-host "rc=1"
	has_opt "$(mount_opts /ro)" ro
	[ ! -e "$TEST_DIR/host-ro/out" ]
	# The host directory itself stays writable.
	touch "$TEST_DIR/host-ro/still-writable"
	check_no_leftovers "$CID"
}

@test "mounts: bind mount without a type, by options only" {
	mkdir "$TEST_DIR/host-dir"
	echo yes >"$TEST_DIR/host-dir/f"
	update_config --arg src "$TEST_DIR/host-dir" \
		'.mounts += [{"destination": "/typeless", "source": $src, "options": ["bind"]}]'
	run_in_container cat /typeless/f
	assert_success
	assert_output_equals yes
}

@test "mounts: a relative bind source is relative to the bundle" {
	mkdir "$BUNDLE/vol"
	echo in-bundle >"$BUNDLE/vol/f"
	update_config '.mounts += [{"destination": "/vol", "type": "bind", "source": "vol", "options": ["bind"]}]'
	run_in_container cat /vol/f
	assert_success
	assert_output_equals in-bundle
}

@test "mounts: bind mount of a single file" {
	echo file-content >"$TEST_DIR/host-file"
	update_config --arg src "$TEST_DIR/host-file" \
		'.mounts += [{"destination": "/etc/injected", "type": "bind", "source": $src, "options": ["bind", "ro"]}]'
	run_in_container sh -c 'cat /etc/injected; [ -f /etc/injected ] && echo is-file'
	assert_success
	assert_output_equals $'file-content\nis-file'
}

@test "mounts: rbind carries submounts, bind does not" {
	mkdir -p "$TEST_DIR/tree/sub"
	mount -t tmpfs husk-test-sub "$TEST_DIR/tree/sub"
	echo submount >"$TEST_DIR/tree/sub/f"
	update_config --arg src "$TEST_DIR/tree" \
		'.mounts += [{"destination": "/r", "type": "bind", "source": $src, "options": ["rbind"]},
		             {"destination": "/b", "type": "bind", "source": $src, "options": ["bind"]}]'
	run_in_container sh -c 'cat /r/sub/f; ls -A /b/sub | wc -l'
	assert_success
	assert_output_equals $'submount\n0'
	umount "$TEST_DIR/tree/sub"
}

@test "mounts: a bind mount of a missing source fails cleanly" {
	update_config --arg src "$TEST_DIR/no-such-source" \
		'.mounts += [{"destination": "/x", "type": "bind", "source": $src, "options": ["bind"]}]'
	set_args true
	runtime_detached create --bundle "$BUNDLE" "$CID"
	assert_failure
	assert_error_message
	check_no_leftovers "$CID"
}

@test "the standard mounts of the default spec" {
	run_in_container cat /proc/self/mountinfo
	assert_success
	[ "$(mount_line /proc | awk '{print $3}')" = proc ]
	[ "$(mount_line /dev | awk '{print $3}')" = tmpfs ]
	[ "$(mount_line /dev/pts | awk '{print $3}')" = devpts ]
	[ "$(mount_line /dev/shm | awk '{print $3}')" = tmpfs ]
	[ "$(mount_line /dev/mqueue | awk '{print $3}')" = mqueue ]
	[ "$(mount_line /sys | awk '{print $3}')" = sysfs ]
	has_opt "$(mount_opts /sys)" ro
	has_opt "$(mount_opts /dev)" nosuid
	has_opt "$(mount_opts /dev/shm)" noexec
	has_opt "$(mount_opts /dev/shm)" nodev
	has_opt "$(mount_opts /dev/pts)" noexec
	has_opt "$(mount_opts /dev/pts)" gid=5
	has_opt "$(mount_opts /dev/pts)" ptmxmode=666
}

@test "the cgroup mount shows the container's own cgroups, read-only" {
	if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
		run_in_container sh -c 'cat /sys/fs/cgroup/cgroup.procs | wc -l; echo 1 > /sys/fs/cgroup/cgroup.procs; echo "rc=$?"'
		assert_success
		assert_output_contains "rc=1"
		return
	fi
	# cgroup v1 (or hybrid): one directory per controller.
	run_in_container sh -c '
		for c in cpu memory pids devices; do
			[ -f /sys/fs/cgroup/$c/cgroup.procs ] && echo "$c ok"
		done
		cat /sys/fs/cgroup/pids/cgroup.procs | wc -l
		touch /sys/fs/cgroup/pids/x 2>/dev/null; echo "rc=$?"'
	assert_success
	assert_output_contains "cpu ok" "memory ok" "pids ok" "devices ok" "rc=1"
	# Only the container's own processes are in the cgroup it sees (sh, cat and wc).
	[ "$(grep -xE '[0-9]+' <<<"$output" | head -n1)" -le 3 ]
}

# propagation_probe: start a container that waits for $TEST_DIR/sig/go, then lists /vol/sub and
# prints its mountinfo line for /vol. The host side bind-mounts $TEST_DIR/vol onto itself as a
# shared mount and mounts a tmpfs on vol/sub once the container is up.
propagation_probe() {
	mkdir -p "$TEST_DIR/vol/sub" "$TEST_DIR/sig"
	mount --bind "$TEST_DIR/vol" "$TEST_DIR/vol"
	mount --make-shared "$TEST_DIR/vol"
	update_config --arg vol "$TEST_DIR/vol" --arg sig "$TEST_DIR/sig" \
		'.mounts += [{"destination": "/vol", "type": "bind", "source": $vol, "options": ["bind"]},
		             {"destination": "/sig", "type": "bind", "source": $sig, "options": ["bind"]}]'
	set_args sh -c '
		echo ready > /sig/ready
		i=0; while [ ! -e /sig/go ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
		ls -A /vol/sub; echo "--"; grep " /vol " /proc/self/mountinfo'
	run_detached
	wait_for_file "$TEST_DIR/sig/ready"
	mount -t tmpfs husk-test-prop "$TEST_DIR/vol/sub"
	touch "$TEST_DIR/vol/sub/marker"
	touch "$TEST_DIR/sig/go"
	wait_for_status "$CID" stopped
	output=$(cat "$DETACHED_LOG")
	umount "$TEST_DIR/vol/sub"
	run runtime delete "$CID"
	assert_success
	output=$(cat "$DETACHED_LOG")
}

@test "rootfsPropagation: by default host mounts propagate into the container (rslave)" {
	propagation_probe
	assert_output_contains marker
	grep " /vol " <<<"$output" | grep -q " master:"
	! grep " /vol " <<<"$output" | grep -q " shared:"
}

@test "rootfsPropagation: rslave is the same as the default" {
	update_config '.linux.rootfsPropagation = "rslave"'
	propagation_probe
	assert_output_contains marker
	grep " /vol " <<<"$output" | grep -q " master:"
}

@test "rootfsPropagation: rprivate cuts the container off" {
	update_config '.linux.rootfsPropagation = "rprivate"'
	propagation_probe
	! grep -q marker <<<"$output"
	! grep " /vol " <<<"$output" | grep -qE " (master|shared):"
}

@test "rootfsPropagation: rshared keeps mounts shared" {
	update_config '.linux.rootfsPropagation = "rshared"'
	propagation_probe
	assert_output_contains marker
	grep " /vol " <<<"$output" | grep -q " shared:"
}

@test "rootfsPropagation: an unknown value is rejected" {
	update_config '.linux.rootfsPropagation = "sideways"'
	set_args true
	runtime_detached create --bundle "$BUNDLE" "$CID"
	assert_failure
	assert_output_contains sideways
	check_no_leftovers "$CID"
}

@test "--no-pivot: the container still sees only its rootfs" {
	echo marker-in-rootfs >"$BUNDLE/rootfs/marker"
	set_args sh -c 'cat /marker; ls /; grep -c nobody /etc/passwd'
	run runtime run --no-pivot --bundle "$BUNDLE" "$CID"
	assert_success
	assert_output_contains marker-in-rootfs
	[ "$(tail -n1 <<<"$output")" = 1 ]
	# Nothing of the host's root shows up (no work dir, no /work).
	! grep -qx work <<<"$output"
	check_no_leftovers "$CID"
}

@test "--no-pivot with create and start" {
	set_args sh -c 'echo started > /started'
	runtime_detached create --no-pivot --bundle "$BUNDLE" "$CID"
	assert_success
	run runtime start "$CID"
	assert_success
	wait_for_status "$CID" stopped
	[ "$(cat "$BUNDLE/rootfs/started")" = started ]
	run runtime delete "$CID"
	assert_success
	check_no_leftovers "$CID"
}
