#!/usr/bin/env bats
# The default seccomp profile (seccomp-profiles/default.json): an ordinary shell runs under
# it, and what it blocks stays blocked even for a container that holds the capability the
# kernel would otherwise check. Also `husk spec --seccomp`, which embeds a profile.

load helpers

PROFILE="$BATS_TEST_DIRNAME/../seccomp-profiles/default.json"
PROBE=${HUSK_SYSCALL_PROBE:-"$HUSK_BUILD/tests/syscall_probe"}
GEN=${HUSK_SECCOMP_GEN:-"$HUSK_BUILD/seccomp-profiles/gen-default-profile"}

setup() {
	setup_bundle
}

teardown() {
	teardown_bundle
}

# use_profile [FILE]: FILE (default: default.json) becomes the bundle's linux.seccomp.
use_profile() {
	update_config --slurpfile p "${1:-$PROFILE}" '.linux.seccomp = $p[0]'
}

# grant CAP...: the capabilities join the container process's bounding, effective and
# permitted sets, so that a call that fails can only have failed because of the filter.
grant() {
	local cap
	for cap in "$@"; do
		update_config --arg c "$cap" \
			'.process.capabilities |= (.bounding += [$c] | .effective += [$c] | .permitted += [$c])'
	done
}

# install_probe: tests/tools/syscall_probe into the container's /bin.
install_probe() {
	[ -x "$PROBE" ] || skip "the syscall probe $PROBE is not built"
	cp "$PROBE" "$BUNDLE/rootfs/bin/syscall_probe"
}

@test "the default profile lets a shell run, and is in force" {
	use_profile
	run_in_container sh -c 'echo ok; ls / >/dev/null && date >/dev/null && echo "$(cat /etc/hostname 2>/dev/null)x" >/tmp/f &&
		cat /tmp/f >/dev/null && grep "^Seccomp:" /proc/self/status'
	assert_success
	# Seccomp mode 2: a filter is loaded.
	assert_output_matches '^ok'
	assert_output_matches 'Seccomp:[[:space:]]+2'
	check_no_leftovers "$CID"
}

@test "default profile: unshare and mount fail with EPERM even with CAP_SYS_ADMIN" {
	grant CAP_SYS_ADMIN
	# Without the filter the capability is enough: the failures below are the filter's.
	run_in_container sh -c 'unshare -m true && echo unshared; mount -t tmpfs none /mnt && echo mounted'
	assert_success
	assert_output_contains unshared mounted

	use_profile
	run_in_container sh -c 'unshare -m true; echo "unshare=$?"; mount -t tmpfs none /mnt; echo "mount=$?";
		grep -c " /mnt " /proc/self/mounts'
	assert_output_contains "unshare=1" "mount=1" "Operation not permitted"
	# busybox mount words EPERM its own way; what matters is that nothing was mounted.
	assert_output_matches '^0$'
	check_no_leftovers "$CID"
}

@test "default profile: keyctl fails with EPERM" {
	install_probe
	run_in_container syscall_probe keyctl
	assert_success
	assert_output_equals "keyctl: ok"

	use_profile
	run_in_container syscall_probe keyctl
	assert_status 1
	assert_output_equals "keyctl: Operation not permitted"
}

@test "default profile: clone without namespace flags only; clone3 says ENOSYS" {
	install_probe
	grant CAP_SYS_ADMIN
	run_in_container syscall_probe clone clone-newns clone3
	assert_success

	use_profile
	run_in_container syscall_probe clone clone-newns clone-newuser clone3
	assert_status 1
	assert_output_equals "clone: ok
clone-newns: Operation not permitted
clone-newuser: Operation not permitted
clone3: Function not implemented"
}

@test "default profile: personality may query but not turn off address randomization" {
	install_probe
	run_in_container syscall_probe personality-aslr-off
	assert_success

	use_profile
	run_in_container syscall_probe personality personality-aslr-off
	assert_status 1
	assert_output_equals "personality: ok
personality-aslr-off: Operation not permitted"
}

@test "the profile resolved with CAP_SYS_ADMIN allows mount, unshare and namespace clones" {
	[ -x "$GEN" ] || skip "the profile generator $GEN is not built"
	install_probe
	grant CAP_SYS_ADMIN
	"$GEN" --caps CAP_AUDIT_WRITE,CAP_KILL,CAP_NET_BIND_SERVICE,CAP_SYS_ADMIN >"$TEST_DIR/admin.json"
	use_profile "$TEST_DIR/admin.json"
	run_in_container sh -c 'unshare -m true && echo unshared; mount -t tmpfs none /mnt && echo mounted;
		syscall_probe clone-newns clone3'
	assert_success
	assert_output_contains unshared mounted "clone-newns: ok" "clone3: ok"
}

@test "the committed default.json is the generated one" {
	[ -x "$GEN" ] || skip "the profile generator $GEN is not built"
	run "$GEN" --check "$PROFILE"
	assert_success
}

# ---------------------------------------------------------------------------------------------
# husk spec --seccomp

@test "spec --seccomp default: linux.seccomp for the spec's own capabilities" {
	[ -z "${IS_RUNC:-}" ] || skip "husk spec flag"
	local dir="$TEST_DIR/spec" plain="$TEST_DIR/plain"
	mkdir -p "$dir" "$plain"
	run runtime spec --seccomp default --bundle "$dir"
	assert_success
	run runtime spec --bundle "$plain"
	assert_success

	# Everything else is the plain spec, and seccomp sits where runc's field order puts it.
	diff -u <(jq -S 'del(.linux.seccomp)' "$plain/config.json") <(jq -S 'del(.linux.seccomp)' "$dir/config.json")
	run jq -c '.linux | keys_unsorted' "$dir/config.json"
	assert_output_equals '["resources","namespaces","seccomp","maskedPaths","readonlyPaths"]'
	# Tabs and no final newline, like the plain spec.
	[ "$(tail -c 1 "$dir/config.json" | od -An -c | tr -d ' ')" = "}" ] || fail "final newline"
	grep -q "^	\"linux\"" "$dir/config.json" || fail "not tab-indented"

	run jq -r '.linux.seccomp | .defaultAction, .defaultErrnoRet' "$dir/config.json"
	assert_output_equals "SCMP_ACT_ERRNO
1"
	# The spec's bounding set has neither CAP_SYS_CHROOT nor CAP_SYS_ADMIN.
	run jq -r '[.linux.seccomp.syscalls[] | select(.names | index("chroot") or index("mount"))] | length' \
		"$dir/config.json"
	assert_output_equals 0
	run jq -c '.linux.seccomp.syscalls[] | select(.names == ["clone"]) | .args[0].op' "$dir/config.json"
	assert_output_equals '"SCMP_CMP_MASKED_EQ"'
}

@test "spec --seccomp default: a container from it runs a shell" {
	[ -z "${IS_RUNC:-}" ] || skip "husk spec flag"
	rm "$BUNDLE/config.json"
	run runtime spec --seccomp default --bundle "$BUNDLE"
	assert_success
	update_config '.process.terminal = false'
	run_in_container sh -c 'echo ok; grep "^Seccomp:" /proc/self/status; unshare -U true; echo "unshare=$?"'
	assert_success
	assert_output_matches '^ok'
	assert_output_matches 'Seccomp:[[:space:]]+2'
	assert_output_contains "unshare=1"
	check_no_leftovers "$CID"
}

@test "spec --rootless --seccomp default" {
	[ -z "${IS_RUNC:-}" ] || skip "husk spec flag"
	local dir="$TEST_DIR/spec"
	mkdir -p "$dir"
	run runtime spec --rootless --seccomp default --bundle "$dir"
	assert_success
	run jq -r '(.linux.uidMappings | length), .linux.seccomp.defaultAction' "$dir/config.json"
	assert_output_equals "1
SCMP_ACT_ERRNO"
}

@test "spec --seccomp FILE embeds the file's profile" {
	[ -z "${IS_RUNC:-}" ] || skip "husk spec flag"
	local dir="$TEST_DIR/spec"
	mkdir -p "$dir"
	run runtime spec --seccomp "$PROFILE" --bundle "$dir"
	assert_success
	diff -u <(jq -S . "$PROFILE") <(jq -S .linux.seccomp "$dir/config.json")
}

# spec_fails PROFILE TEXT...: spec --seccomp PROFILE fails, says TEXT on stderr, writes nothing.
spec_fails() {
	local profile=$1 dir="$TEST_DIR/spec"
	shift
	mkdir -p "$dir"
	run runtime spec --seccomp "$profile" --bundle "$dir"
	assert_failure
	assert_output_contains "$@"
	[ ! -e "$dir/config.json" ] || fail "config.json was written"
	[ -z "$(ls -A "$dir")" ] || fail "left behind: $(ls -A "$dir")"
}

@test "spec --seccomp with a missing file fails and writes nothing" {
	[ -z "${IS_RUNC:-}" ] || skip "husk spec flag"
	spec_fails "$TEST_DIR/no-such-profile.json" "$TEST_DIR/no-such-profile.json" "No such file"
}

@test "spec --seccomp with a bad profile fails, naming the problem, and writes nothing" {
	[ -z "${IS_RUNC:-}" ] || skip "husk spec flag"
	local bad="$TEST_DIR/bad.json"
	echo '{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_FOO"}]}' >"$bad"
	spec_fails "$bad" "$bad" "linux.seccomp.syscalls[0].action" SCMP_ACT_FOO

	echo '{"defaultAction": ' >"$bad"
	spec_fails "$bad" "$bad" "invalid JSON"

	: >"$bad"
	spec_fails "$bad" "$bad" empty

	echo '["SCMP_ACT_ERRNO"]' >"$bad"
	spec_fails "$bad" "$bad" "expected an object"
}

@test "spec --seccomp with a directory fails and writes nothing" {
	[ -z "${IS_RUNC:-}" ] || skip "husk spec flag"
	spec_fails "$TEST_DIR" "$TEST_DIR"
}
