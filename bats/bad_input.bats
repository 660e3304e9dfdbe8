#!/usr/bin/env bats
# Bad input: every case must fail with a non-zero exit and a message on stderr, and leave
# nothing behind (no state, process, mount or cgroup). Where the reference runtime's wording
# is specific enough to be part of the contract, a few words of it are asserted.

load helpers

setup() {
	setup_bundle
	set_args true
}

teardown() {
	teardown_bundle
}

# create_fails [ID]: create must fail, say something on stderr, and leave nothing behind.
# Runs with the container's stdio on a file, so a runtime that wrongly succeeds cannot hang the
# suite; stderr of the runtime is in $stderr_text, everything in $output.
create_fails() {
	local id=${1-$CID}
	status=0
	runtime_raw create --bundle "$BUNDLE" "$id" </dev/null \
		>"$TEST_DIR/create.out" 2>"$TEST_DIR/create.err" || status=$?
	stderr_text=$(cat "$TEST_DIR/create.err")
	output=$(cat "$TEST_DIR/create.out" "$TEST_DIR/create.err")
	assert_failure
	[ -n "$stderr_text" ] || fail "create failed without a message on stderr"
	check_no_leftovers "$id"
	assert_root_empty
}

# stderr_contains TEXT...: each TEXT is in the runtime's stderr (case-insensitive).
stderr_contains() {
	local want
	for want in "$@"; do
		grep -qiF -- "$want" <<<"$stderr_text" || fail "stderr lacks '$want': $stderr_text"
	done
}

@test "malformed config.json" {
	echo '{"ociVersion": "1.0.2", "process": {' >"$BUNDLE/config.json"
	create_fails
}

@test "empty config.json" {
	: >"$BUNDLE/config.json"
	create_fails
}

@test "config.json that is not an object" {
	echo '[]' >"$BUNDLE/config.json"
	create_fails
}

@test "wrong JSON type: args is a string" {
	update_config '.process.args = "sh"'
	create_fails
	stderr_contains args
}

@test "wrong JSON type: uid is negative" {
	update_config '.process.user.uid = -1'
	create_fails
	stderr_contains uid
}

@test "wrong JSON type: namespaces is an object" {
	update_config '.linux.namespaces = {"type": "pid"}'
	create_fails
	stderr_contains namespaces
}

@test "no process object" {
	update_config 'del(.process)'
	create_fails
	stderr_contains process
}

@test "empty args" {
	update_config '.process.args = []'
	create_fails
	stderr_contains args
}

@test "relative cwd" {
	update_config '.process.cwd = "relative/dir"'
	create_fails
	stderr_contains cwd absolute
}

@test "no root object" {
	update_config 'del(.root)'
	create_fails
	stderr_contains root
}

@test "missing rootfs directory" {
	update_config '.root.path = "no-such-rootfs"'
	create_fails
	stderr_contains no-such-rootfs
}

@test "rootfs is a file" {
	touch "$BUNDLE/rootfs-file"
	update_config '.root.path = "rootfs-file"'
	create_fails
}

@test "missing config.json" {
	rm "$BUNDLE/config.json"
	create_fails
	stderr_contains config.json
}

@test "missing bundle directory" {
	BUNDLE="$TEST_DIR/no-such-bundle" create_fails
	stderr_contains no-such-bundle
}

@test "create with no id" {
	run runtime create --bundle "$BUNDLE"
	assert_failure
	assert_error_message
	assert_root_empty
}

@test "hostile id: ../x" {
	create_fails "../x"
	[ ! -e "$TEST_DIR/x" ]
	[ ! -e "$ROOT/../x" ]
}

@test "hostile id: a/b" {
	create_fails "a/b"
	[ ! -e "$ROOT/a" ]
}

@test "hostile id: empty" {
	create_fails ""
}

@test "hostile id: . and .." {
	create_fails "."
	create_fails ".."
}

@test "hostile id: 1100 characters" {
	create_fails "$(printf 'a%.0s' {1..1100})"
}

@test "hostile id: contains a space" {
	create_fails "x y"
}

@test "hostile id: contains a newline" {
	create_fails $'x\ny'
}

@test "hostile ids are refused by the other verbs too" {
	local id verb
	for id in "../x" "a/b" "x y"; do
		for verb in start state delete kill; do
			run runtime "$verb" "$id"
			assert_failure
			assert_error_message
		done
	done
	assert_root_empty
}

@test "unknown namespace type" {
	update_config '.linux.namespaces += [{"type": "bogus"}]'
	create_fails
	stderr_contains bogus
}

@test "duplicate namespace type" {
	update_config '.linux.namespaces += [{"type": "pid"}]'
	create_fails
	stderr_contains pid
}

@test "user namespace without mappings" {
	update_config '.linux.namespaces += [{"type": "user"}]'
	create_fails
	stderr_contains mapping
}

@test "unknown rlimit type" {
	update_config '.process.rlimits += [{"type": "RLIMIT_BOGUS", "soft": 1, "hard": 1}]'
	create_fails
	stderr_contains RLIMIT_BOGUS
}

@test "hostname without a private uts namespace" {
	update_config '.linux.namespaces |= map(select(.type != "uts")) | .hostname = "nope"'
	create_fails
	stderr_contains hostname
}

@test "sysctl that is not namespaced" {
	local before
	before=$(cat /proc/sys/kernel/panic)
	update_config --arg v "$((before + 7))" '.linux.sysctl = {"kernel.panic": $v}'
	create_fails
	stderr_contains kernel.panic
	[ "$(cat /proc/sys/kernel/panic)" = "$before" ]
}

@test "network sysctl without a network namespace" {
	local before
	before=$(cat /proc/sys/net/ipv4/ip_forward)
	update_config '.linux.namespaces |= map(select(.type != "network"))
		| .linux.sysctl = {"net.ipv4.ip_forward": "1"}'
	create_fails
	stderr_contains net.ipv4.ip_forward
	[ "$(cat /proc/sys/net/ipv4/ip_forward)" = "$before" ]
}

@test "an executable that does not exist" {
	set_args /no/such/binary
	create_fails
	stderr_contains /no/such/binary
}

@test "an executable that is not in PATH" {
	set_args no-such-command
	create_fails
	stderr_contains no-such-command
}

@test "a mount with invalid options" {
	update_config '.mounts += [{"destination": "/t", "type": "tmpfs", "source": "tmpfs", "options": ["size=bogus"]}]'
	create_fails
}

@test "a mount of an unknown filesystem type" {
	update_config '.mounts += [{"destination": "/t", "type": "nosuchfs", "source": "none"}]'
	create_fails
}

@test "start, state, kill and delete of a nonexistent container" {
	local verb
	for verb in start state kill delete; do
		run runtime "$verb" "$CID"
		assert_failure
		assert_output_contains "does not exist"
	done
	assert_root_empty
}

@test "create of an id that already exists" {
	set_args sleep 600
	create_container
	local pid
	pid=$(state_field "$CID" pid)
	# The second bundle would say something else; the first container must be untouched.
	local other="$TEST_DIR/bundle2"
	cp -a "$BUNDLE" "$other"
	status=0
	runtime_raw create --bundle "$other" "$CID" </dev/null >"$TEST_DIR/c2.out" 2>&1 || status=$?
	output=$(cat "$TEST_DIR/c2.out")
	assert_failure
	assert_output_contains "already exists"
	[ "$(state_field "$CID" pid)" = "$pid" ]
	[ "$(state_field "$CID" bundle)" = "$BUNDLE" ]
	[ "$(state_field "$CID" status)" = created ]
	run runtime delete --force "$CID"
	assert_success
	check_no_leftovers "$CID"
}

@test "run of an id that already exists leaves the existing container alone" {
	set_args sleep 600
	run_detached
	local pid
	pid=$(state_field "$CID" pid)
	status=0
	runtime_raw run --bundle "$BUNDLE" "$CID" </dev/null >"$TEST_DIR/r2.out" 2>&1 || status=$?
	output=$(cat "$TEST_DIR/r2.out")
	assert_failure
	assert_output_contains "already exists"
	[ "$(state_field "$CID" status)" = running ]
	[ "$(state_field "$CID" pid)" = "$pid" ]
}

@test "mount destination through a symlink that points out of the rootfs stays inside" {
	# rootfs/mnt -> $TEST_DIR/hostdir (an absolute link, as an image could carry). The mount
	# must land on <rootfs>/$TEST_DIR/hostdir, never on the host's $TEST_DIR/hostdir.
	local hostdir="$TEST_DIR/hostdir" src="$TEST_DIR/src"
	mkdir -p "$hostdir" "$src"
	echo host-marker >"$hostdir/marker"
	echo from-source >"$src/from-source"
	rm -rf "$BUNDLE/rootfs/mnt"
	ln -s "$hostdir" "$BUNDLE/rootfs/mnt"
	local before
	before=$(ls -A "$hostdir"; stat -c '%a %u %g %Y %h' "$hostdir" "$hostdir/marker")
	update_config --arg src "$src" \
		'.mounts += [{"destination": "/mnt", "type": "bind", "source": $src, "options": ["rbind", "rw"]}]'
	set_args sh -c 'cat /mnt/from-source 2>/dev/null; echo written-inside > /mnt/written; ls /mnt'

	status=0
	runtime_raw run --bundle "$BUNDLE" "$CID" </dev/null \
		>"$TEST_DIR/out" 2>&1 || status=$?
	output=$(cat "$TEST_DIR/out")
	if [ "$status" -eq 0 ]; then
		# The mount is where the link resolves inside the container: the source shows there.
		assert_output_contains from-source
		! grep -qx marker <<<"$output" || fail "the container saw the host directory"
	else
		assert_error_message
	fi

	# The host side: same listing, same metadata, not a mount point, no new files.
	[ "$(ls -A "$hostdir"; stat -c '%a %u %g %Y %h' "$hostdir" "$hostdir/marker")" = "$before" ]
	[ "$(cat "$hostdir/marker")" = host-marker ]
	[ ! -e "$hostdir/written" ]
	! mountpoint -q "$hostdir"
	! awk -v d="$hostdir" '$5 == d' /proc/self/mountinfo | grep -q .
	run runtime delete --force "$CID"
	check_no_leftovers "$CID"
}

@test "mount destination through a relative symlink that climbs out of the rootfs stays inside" {
	local hostdir="$TEST_DIR/hostdir2"
	mkdir -p "$hostdir"
	echo host-marker >"$hostdir/marker"
	rm -rf "$BUNDLE/rootfs/mnt"
	# From rootfs/mnt, ../../hostdir2 is $TEST_DIR/hostdir2 on the host; inside the container
	# it cannot go above /.
	ln -s ../../hostdir2 "$BUNDLE/rootfs/mnt"
	update_config '.mounts += [{"destination": "/mnt", "type": "tmpfs", "source": "tmpfs"}]'
	set_args sh -c 'echo written-inside > /mnt/written; ls /mnt'
	status=0
	runtime_raw run --bundle "$BUNDLE" "$CID" </dev/null \
		>"$TEST_DIR/out" 2>&1 || status=$?
	output=$(cat "$TEST_DIR/out")
	[ "$status" -eq 0 ] || assert_error_message
	! grep -qx marker <<<"$output" || fail "the container saw the host directory"
	[ "$(ls -A "$hostdir")" = marker ]
	! mountpoint -q "$hostdir"
	run runtime delete --force "$CID"
	check_no_leftovers "$CID"
}

@test "a failed create leaves the host's state root usable" {
	update_config '.linux.namespaces += [{"type": "bogus"}]'
	create_fails
	update_config '.linux.namespaces |= map(select(.type != "bogus"))'
	set_args true
	create_container
	run runtime delete --force "$CID"
	assert_success
	check_no_leftovers "$CID"
}

@test "a capability the host's bounding set lacks is refused" {
	[ -n "$IS_RUNC" ] && skip "runc 1.1.5 silently drops capabilities the host lacks"
	local bnd
	bnd=$(awk '/^CapBnd:/ {print $2}' /proc/self/status)
	(((0x$bnd >> $(cap_number CAP_SYS_RESOURCE)) & 1)) &&
		skip "this host's bounding set has CAP_SYS_RESOURCE"
	update_config '.process.capabilities.bounding += ["CAP_SYS_RESOURCE"]
		| .process.capabilities.permitted += ["CAP_SYS_RESOURCE"]
		| .process.capabilities.effective += ["CAP_SYS_RESOURCE"]'
	create_fails
	stderr_contains CAP_SYS_RESOURCE
}

@test "a runtime killed in the middle of create: the init dies, delete removes the rest" {
	# runc 1.1.5 leaves the cgroups of a create killed at this point behind for good.
	[ -z "${IS_RUNC:-}" ] || skip "runc 1.1.5 does not clean up after a killed create"
	# A createRuntime hook that blocks on a fifo holds create half-way: namespaces, mounts
	# and cgroup made, the container init waiting for its parent.
	local gate="$TEST_DIR/gate"
	mkfifo "$gate"
	update_config --arg gate "$gate" \
		'.hooks.createRuntime = [{"path": "/bin/sh", "args": ["sh", "-c", "echo > \($gate).started; read x < \($gate)"]}]'
	"$RUNTIME" --root "$ROOT" create --bundle "$BUNDLE" "$CID" </dev/null >"$TEST_DIR/create.log" 2>&1 &
	local husk=$!
	wait_for_file "$gate.started"
	local init
	init=$(grep -lE -- ":/(.*/)?${CID}\$" /proc/[0-9]*/cgroup 2>/dev/null | head -n1 | cut -d/ -f3)
	kill -9 "$husk"
	wait "$husk" || true
	# Release the orphaned hook.
	timeout 10 sh -c "echo go > '$gate'"
	# The half-made init (in the container's cgroup by now) does not outlive the runtime
	# that was building it.
	[ -n "$init" ] || fail "no process found in the container's cgroup while create was held"
	wait_for_exit "$init"
	# Whatever is left shows as stopped, and delete removes it all.
	run runtime state "$CID"
	if [ "$status" -eq 0 ]; then
		[ "$(jq -r .status <<<"$output")" = stopped ]
	fi
	run runtime delete --force "$CID"
	assert_success
	check_no_leftovers "$CID"
}
