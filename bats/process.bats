#!/usr/bin/env bats
# The container process: args, env, cwd, user and groups, umask, rlimits, no_new_privs,
# capabilities, oom_score_adj.

load helpers

setup() {
	setup_bundle
}

teardown() {
	teardown_bundle
}

# status_field NAME: the value of NAME in a /proc/PID/status dump held in $output.
status_field() {
	awk -v k="$1:" '$1 == k { print $2 }' <<<"$output"
}

@test "args are passed unchanged, including empty and dash-leading ones" {
	run_in_container sh -c 'for a in "$@"; do echo "[$a]"; done' sh "" "-x" "two words" '$HOME' "*"
	assert_success
	assert_output_equals $'[]\n[-x]\n[two words]\n[$HOME]\n[*]'
}

@test "args[0] is looked up in the container's PATH" {
	update_config '.process.env = ["PATH=/bin"]'
	run_in_container busybox echo found
	assert_success
	assert_output_equals found
}

@test "env is exactly the configured environment, plus HOME from /etc/passwd" {
	update_config '.process.env = ["PATH=/bin:/usr/bin", "FOO=bar", "EMPTY=", "WITH_EQ=a=b"]'
	run_in_container env
	assert_success
	local sorted
	sorted=$(sort <<<"$output")
	assert_output_contains "FOO=bar" "EMPTY=" "WITH_EQ=a=b" "PATH=/bin:/usr/bin"
	# HOME is not configured, so it comes from root's passwd entry.
	assert_output_contains "HOME=/root"
	# Nothing of the caller's environment leaks in.
	! grep -q '^BATS_' <<<"$output"
	! grep -q '^RUNTIME=' <<<"$output"
	# And nothing else but what sh itself adds.
	[ "$(grep -vE '^(PATH|FOO|EMPTY|WITH_EQ|HOME|PWD|SHLVL|_)=' <<<"$sorted")" = "" ]
}

@test "a configured HOME is kept" {
	update_config '.process.env += ["HOME=/tmp/home"]'
	run_in_container sh -c 'echo $HOME'
	assert_success
	assert_output_equals /tmp/home
}

@test "HOME for a user not in /etc/passwd is /" {
	update_config '.process.user = {"uid": 4242, "gid": 4242}'
	run_in_container sh -c 'echo $HOME'
	assert_success
	assert_output_equals /
}

@test "cwd is the configured directory" {
	mkdir -p "$BUNDLE/rootfs/srv/app"
	update_config '.process.cwd = "/srv/app"'
	run_in_container pwd
	assert_success
	assert_output_equals /srv/app
}

@test "a missing cwd is created" {
	update_config '.process.cwd = "/does/not/exist/yet"'
	run_in_container pwd
	assert_success
	assert_output_equals /does/not/exist/yet
	[ -d "$BUNDLE/rootfs/does/not/exist/yet" ]
}

@test "a missing cwd is created even on a read-only root" {
	update_config '.root.readonly = true | .process.cwd = "/made/by/runtime"'
	run_in_container pwd
	assert_success
	assert_output_equals /made/by/runtime
}

@test "user: uid, gid and additionalGids" {
	update_config '.process.user = {"uid": 1000, "gid": 1001, "additionalGids": [10, 20, 30]}'
	run_in_container sh -c 'id -u; id -g; id -G; grep -E "^(Uid|Gid|Groups):" /proc/self/status'
	assert_success
	[ "$(sed -n 1p <<<"$output")" = 1000 ]
	[ "$(sed -n 2p <<<"$output")" = 1001 ]
	# id -G lists the primary group first, then the supplementary ones.
	[ "$(sed -n 3p <<<"$output" | tr ' ' '\n' | sort -n | tr '\n' ' ')" = "10 20 30 1001 " ]
	# Real, effective, saved and fs ids all changed.
	[ "$(grep '^Uid:' <<<"$output" | awk '{print $2, $3, $4, $5}')" = "1000 1000 1000 1000" ]
	[ "$(grep '^Gid:' <<<"$output" | awk '{print $2, $3, $4, $5}')" = "1001 1001 1001 1001" ]
	[ "$(grep '^Groups:' <<<"$output" | cut -f2 | xargs)" = "10 20 30" ]
}

@test "user: without additionalGids the supplementary groups are empty" {
	update_config '.process.user = {"uid": 65534, "gid": 65534}'
	run_in_container sh -c 'id; grep "^Groups:" /proc/self/status'
	assert_success
	assert_output_contains "uid=65534(nobody)" "gid=65534(nogroup)"
	[ "$(grep '^Groups:' <<<"$output" | cut -f2 | xargs)" = "" ]
}

@test "user: root by default, with no supplementary groups" {
	run_in_container sh -c 'id -u; id -g; grep "^Groups:" /proc/self/status | cut -f2'
	assert_success
	[ "$(sed -n 1p <<<"$output")" = 0 ]
	[ "$(sed -n 2p <<<"$output")" = 0 ]
	[ -z "$(sed -n 3p <<<"$output" | xargs)" ]
}

@test "umask: 0022 by default" {
	run_in_container sh -c umask
	assert_success
	assert_output_equals 0022
}

@test "umask from process.user.umask" {
	update_config '.process.user.umask = 63'
	run_in_container sh -c 'umask; touch /tmp/f; stat -c %a /tmp/f'
	assert_success
	assert_output_equals $'0077\n600'
}

@test "rlimits: RLIMIT_NOFILE soft and hard" {
	update_config '.process.rlimits = [{"type": "RLIMIT_NOFILE", "soft": 512, "hard": 2048}]'
	run_in_container sh -c 'ulimit -n; ulimit -Hn; grep "Max open files" /proc/self/limits'
	assert_success
	[ "$(sed -n 1p <<<"$output")" = 512 ]
	[ "$(sed -n 2p <<<"$output")" = 2048 ]
	[ "$(sed -n 3p <<<"$output" | awk '{print $4, $5}')" = "512 2048" ]
}

@test "rlimits: the default spec sets RLIMIT_NOFILE to 1024" {
	run_in_container sh -c 'ulimit -n; ulimit -Hn'
	assert_success
	assert_output_equals $'1024\n1024'
}

@test "rlimits: several limits at once" {
	update_config '.process.rlimits = [
		{"type": "RLIMIT_NOFILE", "soft": 100, "hard": 200},
		{"type": "RLIMIT_NPROC", "soft": 3000, "hard": 4000},
		{"type": "RLIMIT_CORE", "soft": 0, "hard": 0},
		{"type": "RLIMIT_STACK", "soft": 4194304, "hard": 8388608}]'
	run_in_container cat /proc/self/limits
	assert_success
	[ "$(grep 'Max open files' <<<"$output" | awk '{print $4, $5}')" = "100 200" ]
	[ "$(grep 'Max processes' <<<"$output" | awk '{print $3, $4}')" = "3000 4000" ]
	[ "$(grep 'Max core file size' <<<"$output" | awk '{print $5, $6}')" = "0 0" ]
	[ "$(grep 'Max stack size' <<<"$output" | awk '{print $4, $5}')" = "4194304 8388608" ]
}

@test "noNewPrivileges: true sets no_new_privs" {
	update_config '.process.noNewPrivileges = true'
	run_in_container grep NoNewPrivs /proc/self/status
	assert_success
	[ "$(awk '{print $2}' <<<"$output")" = 1 ]
}

@test "noNewPrivileges: false leaves it clear" {
	update_config '.process.noNewPrivileges = false'
	run_in_container grep NoNewPrivs /proc/self/status
	assert_success
	[ "$(awk '{print $2}' <<<"$output")" = 0 ]
}

@test "capabilities: the default spec's set" {
	run_in_container grep ^Cap /proc/self/status
	assert_success
	local want
	want=$(cap_mask CAP_AUDIT_WRITE CAP_KILL CAP_NET_BIND_SERVICE)
	[ "$(status_field CapBnd)" = "$want" ]
	[ "$(status_field CapPrm)" = "$want" ]
	[ "$(status_field CapEff)" = "$want" ]
	[ "$(status_field CapInh)" = 0000000000000000 ]
	# The default spec lists ambient capabilities but no inheritable ones; the kernel only
	# allows ambient capabilities that are also inheritable, so none can be raised, and that
	# is not an error.
	[ "$(status_field CapAmb)" = 0000000000000000 ]
}

@test "capabilities: each set as configured" {
	update_config '.process.capabilities = {
		"bounding": ["CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW"],
		"effective": ["CAP_CHOWN", "CAP_KILL"],
		"permitted": ["CAP_CHOWN", "CAP_KILL"],
		"inheritable": ["CAP_KILL"],
		"ambient": ["CAP_KILL"]}'
	run_in_container grep ^Cap /proc/self/status
	assert_success
	[ "$(status_field CapBnd)" = "$(cap_mask CAP_CHOWN CAP_KILL CAP_NET_RAW)" ]
	[ "$(status_field CapPrm)" = "$(cap_mask CAP_CHOWN CAP_KILL)" ]
	[ "$(status_field CapEff)" = "$(cap_mask CAP_CHOWN CAP_KILL)" ]
	[ "$(status_field CapInh)" = "$(cap_mask CAP_KILL)" ]
	[ "$(status_field CapAmb)" = "$(cap_mask CAP_KILL)" ]
}

@test "capabilities: ambient capabilities survive the switch to a non-root user" {
	update_config '.process.user = {"uid": 1000, "gid": 1000}
		| .process.capabilities = {
		"bounding": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
		"effective": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
		"permitted": ["CAP_KILL", "CAP_NET_BIND_SERVICE"],
		"inheritable": ["CAP_KILL"],
		"ambient": ["CAP_KILL"]}'
	run_in_container grep ^Cap /proc/self/status
	assert_success
	# A non-root exec keeps only the ambient set in permitted and effective.
	[ "$(status_field CapPrm)" = "$(cap_mask CAP_KILL)" ]
	[ "$(status_field CapEff)" = "$(cap_mask CAP_KILL)" ]
	[ "$(status_field CapAmb)" = "$(cap_mask CAP_KILL)" ]
	[ "$(status_field CapBnd)" = "$(cap_mask CAP_KILL CAP_NET_BIND_SERVICE)" ]
}

@test "capabilities: a non-root user without ambient capabilities has none" {
	update_config '.process.user = {"uid": 1000, "gid": 1000}'
	run_in_container grep ^Cap /proc/self/status
	assert_success
	[ "$(status_field CapPrm)" = 0000000000000000 ]
	[ "$(status_field CapEff)" = 0000000000000000 ]
	[ "$(status_field CapBnd)" = "$(cap_mask CAP_AUDIT_WRITE CAP_KILL CAP_NET_BIND_SERVICE)" ]
}

@test "capabilities: no capabilities object means none at all" {
	update_config 'del(.process.capabilities)'
	run_in_container grep ^Cap /proc/self/status
	assert_success
	[ "$(status_field CapBnd)" = 0000000000000000 ]
	[ "$(status_field CapPrm)" = 0000000000000000 ]
	[ "$(status_field CapEff)" = 0000000000000000 ]
}

@test "capabilities: they are enforced (chown without CAP_CHOWN fails)" {
	run_in_container sh -c 'touch /tmp/f && chown 1000 /tmp/f'
	assert_failure
	update_config '.process.capabilities.bounding += ["CAP_CHOWN"]
		| .process.capabilities.effective += ["CAP_CHOWN"]
		| .process.capabilities.permitted += ["CAP_CHOWN"]'
	run_in_container sh -c 'touch /tmp/f && chown 1000 /tmp/f && stat -c %u /tmp/f'
	assert_success
	assert_output_equals 1000
}

@test "oomScoreAdj is applied" {
	update_config '.process.oomScoreAdj = 123'
	run_in_container cat /proc/self/oom_score_adj
	assert_success
	assert_output_equals 123
}

@test "oomScoreAdj unset inherits the caller's value" {
	run_in_container cat /proc/self/oom_score_adj
	assert_success
	assert_output_equals "$(cat /proc/self/oom_score_adj)"
}

@test "the container process does not inherit the runtime's extra file descriptors" {
	# fd 3..9 open in the caller must not show up inside (stdio only, without --preserve-fds).
	set_args sh -c 'ls /proc/self/fd'
	exec 7</etc/hostname 8</etc/passwd
	run runtime run --bundle "$BUNDLE" "$CID"
	exec 7<&- 8<&-
	assert_success
	# ls itself has one more (the directory it reads).
	[ "$(tr '\n' ' ' <<<"$output")" = "0 1 2 3 " ]
}

@test "--preserve-fds passes extra descriptors through" {
	set_args sh -c 'cat /proc/self/fd/3'
	echo "passed through" >"$TEST_DIR/extra"
	run runtime run --preserve-fds 1 --bundle "$BUNDLE" "$CID" 3<"$TEST_DIR/extra"
	assert_success
	assert_output_equals "passed through"
}
