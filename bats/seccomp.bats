#!/usr/bin/env bats
# linux.seccomp: profiles that deny, fail with a chosen errno, match on arguments, allow-list,
# kill; and bad profiles, which must fail create naming seccomp and leave nothing behind.

load helpers

AGENT=${HUSK_SECCOMP_AGENT:-"$HUSK_BUILD/tests/seccomp_agent"}

setup() {
	setup_bundle
}

teardown() {
	teardown_bundle
}

# set_seccomp JSON: linux.seccomp of the bundle's config.
set_seccomp() {
	update_config --argjson s "$1" '.linux.seccomp = $s'
}

# create_fails [WORD]: create must fail, name seccomp (or WORD) on stderr, and leave nothing
# behind.
create_fails() {
	local word=${1:-seccomp}
	status=0
	runtime_raw create --bundle "$BUNDLE" "$CID" </dev/null \
		>"$TEST_DIR/create.out" 2>"$TEST_DIR/create.err" || status=$?
	stderr_text=$(cat "$TEST_DIR/create.err")
	output=$(cat "$TEST_DIR/create.out" "$TEST_DIR/create.err")
	assert_failure
	grep -qiF "$word" <<<"$stderr_text" || fail "stderr does not mention $word: $stderr_text"
	check_no_leftovers "$CID"
	assert_root_empty
}

# agent_setup: the notify agent (tests/tools/seccomp_agent) listening on $AGENT_SOCK; it logs
# each container process state it receives, and each mkdir it answered, to $AGENT_LOG.
agent_setup() {
	[ -x "$AGENT" ] || skip "the seccomp agent $AGENT is not built"
	AGENT_SOCK="$TEST_DIR/agent.sock"
	AGENT_LOG="$TEST_DIR/agent.log"
	start_holder "$AGENT" "$AGENT_SOCK" "$AGENT_LOG"
	AGENT_PID=$HOLDER_PID
	wait_for_file "$AGENT_SOCK"
}

# agent_stop: the agent's command line names the test directory, so it must be gone before
# a leftover check.
agent_stop() {
	kill -9 "$AGENT_PID" 2>/dev/null || true
	wait "$AGENT_PID" 2>/dev/null || true
}

# notify_profile: mkdir and mkdirat go to the agent; everything else is allowed.
notify_profile() {
	set_seccomp "{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"listenerPath\": \"$AGENT_SOCK\",
		\"listenerMetadata\": \"husk-test-metadata\",
		\"syscalls\": [{\"names\": [\"mkdir\", \"mkdirat\"], \"action\": \"SCMP_ACT_NOTIFY\"}]}"
}

@test "SCMP_ACT_ERRNO on mkdir: Operation not permitted" {
	set_seccomp '{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"],
		"syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}'
	run_in_container sh -c 'echo before; mkdir /tmp/x'
	assert_status 1
	assert_output_contains before "Operation not permitted"
	[ ! -e "$BUNDLE/rootfs/tmp/x" ] || fail "mkdir went through"
	check_no_leftovers "$CID"
}

@test "SCMP_ACT_ERRNO without errnoRet is EPERM" {
	set_seccomp '{"defaultAction": "SCMP_ACT_ALLOW",
		"syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]}'
	run_in_container mkdir /tmp/x
	assert_status 1
	assert_output_contains "Operation not permitted"
	[ ! -e "$BUNDLE/rootfs/tmp/x" ] || fail "mkdir went through"
}

@test "errnoRet 38: Function not implemented" {
	set_seccomp '{"defaultAction": "SCMP_ACT_ALLOW",
		"syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}]}'
	run_in_container mkdir /tmp/x
	assert_status 1
	assert_output_contains "Function not implemented"
	[ ! -e "$BUNDLE/rootfs/tmp/x" ] || fail "mkdir went through"
}

@test "a profile without the syscall leaves it alone" {
	set_seccomp '{"defaultAction": "SCMP_ACT_ALLOW",
		"syscalls": [{"names": ["getcwd"], "action": "SCMP_ACT_ERRNO"}]}'
	run_in_container sh -c 'mkdir /tmp/x && echo made'
	assert_success
	assert_output_equals made
}

@test "an argument condition: kill with signal 0 is denied, other signals pass" {
	# busybox's kill builtin calls kill(2) with the signal in argument 1. SIGURG is ignored
	# by default, so sending it to ourselves is harmless.
	set_seccomp '{"defaultAction": "SCMP_ACT_ALLOW",
		"syscalls": [{"names": ["kill"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
			"args": [{"index": 1, "value": 0, "op": "SCMP_CMP_EQ"}]}]}'
	run_in_container sh -c 'kill -0 $$; echo "zero=$?"; kill -URG $$; echo "urg=$?"'
	assert_success
	assert_output_contains "zero=1" "urg=0" "Operation not permitted"
}

@test "conditions on different arguments must all match" {
	# kill(pid, 0) is denied only for signal 0 AND pid 1 (the shell is pid 1 in its pid
	# namespace): kill -0 of another pid is allowed.
	set_seccomp '{"defaultAction": "SCMP_ACT_ALLOW",
		"syscalls": [{"names": ["kill"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
			"args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"},
				{"index": 1, "value": 0, "op": "SCMP_CMP_EQ"}]}]}'
	run_in_container sh -c 'sleep 100 & p=$!; kill -0 1; echo "one=$?"; kill -0 $p; echo "other=$?"; kill $p'
	assert_success
	assert_output_contains "one=1" "other=0"
}

@test "several conditions on one argument: any of them matches" {
	set_seccomp '{"defaultAction": "SCMP_ACT_ALLOW",
		"syscalls": [{"names": ["kill"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
			"args": [{"index": 1, "value": 0, "op": "SCMP_CMP_EQ"},
				{"index": 1, "value": 23, "op": "SCMP_CMP_EQ"}]}]}'
	run_in_container sh -c 'kill -0 $$; echo "zero=$?"; kill -URG $$; echo "urg=$?"; kill -WINCH $$; echo "winch=$?"'
	assert_success
	assert_output_contains "zero=1" "urg=1" "winch=0"
}

@test "unknown syscall names are skipped" {
	set_seccomp '{"defaultAction": "SCMP_ACT_ALLOW",
		"syscalls": [{"names": ["husk_no_such_syscall", "mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]}'
	run_in_container mkdir /tmp/x
	assert_status 1
	assert_output_contains "Operation not permitted"
}

@test "defaultAction SCMP_ACT_ERRNO with an allow-list" {
	# What busybox sh needs (strace of `sh -c 'echo hi'`), what a runtime's init may still do
	# between loading the filter and execve, and common process plumbing. mkdir is not in it.
	local allowed='"access", "arch_prctl", "brk", "capget", "capset", "chdir", "clock_gettime",
		"clock_nanosleep", "clone", "clone3", "close", "close_range", "dup", "dup2", "dup3",
		"epoll_create1", "epoll_ctl", "epoll_pwait", "epoll_wait", "execve", "execveat", "exit",
		"exit_group", "faccessat", "faccessat2", "fchdir", "fcntl", "fstat", "fstatfs", "futex",
		"getcwd", "getdents64", "getegid", "geteuid", "getgid", "getgroups", "getpgid", "getpgrp",
		"getpid", "getppid", "getrandom", "getrlimit", "gettid", "gettimeofday", "getuid", "ioctl",
		"kill", "lseek", "lstat", "madvise", "membarrier", "mmap", "mprotect", "munmap", "nanosleep",
		"newfstatat", "open", "openat", "pipe", "pipe2", "poll", "ppoll", "prctl", "pread64",
		"prlimit64", "pselect6", "read", "readlink", "readlinkat", "readv", "rseq", "rt_sigaction",
		"rt_sigprocmask", "rt_sigreturn", "sched_getaffinity", "sched_yield", "select", "set_robust_list",
		"set_tid_address", "setgid", "setgroups", "setpgid", "setresgid", "setresuid", "setsid",
		"setuid", "sigaltstack", "stat", "statx", "tgkill", "tkill", "umask", "uname", "wait4",
		"waitid", "write", "writev"'
	set_seccomp "{\"defaultAction\": \"SCMP_ACT_ERRNO\",
		\"syscalls\": [{\"names\": [$allowed], \"action\": \"SCMP_ACT_ALLOW\"}]}"
	run_in_container sh -c 'echo hi'
	assert_success
	assert_output_equals hi

	# The default really applies to what is not listed.
	run_in_container sh -c 'echo hi; mkdir /tmp/x'
	assert_status 1
	assert_output_contains hi "Operation not permitted"
	[ ! -e "$BUNDLE/rootfs/tmp/x" ] || fail "mkdir went through"
}

# The killing syscall is made by the container process itself (exec, not a forked applet,
# which would only kill a child of the shell). Not getpid: runc's Go init calls it between
# loading the filter and execve (Go's preemption signals), and then hangs.
@test "SCMP_ACT_KILL kills the process with SIGSYS" {
	set_seccomp '{"defaultAction": "SCMP_ACT_ALLOW",
		"syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_KILL"}]}'
	run_in_container sh -c 'echo before; exec mkdir /tmp/x'
	assert_status 159
	assert_output_contains before
	[ ! -e "$BUNDLE/rootfs/tmp/x" ] || fail "mkdir went through"
	check_no_leftovers "$CID"
}

@test "SCMP_ACT_KILL_PROCESS kills the process with SIGSYS" {
	set_seccomp '{"defaultAction": "SCMP_ACT_ALLOW",
		"syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_KILL_PROCESS"}]}'
	run_in_container sh -c 'echo before; exec mkdir /tmp/x'
	assert_status 159
	assert_output_contains before
	[ ! -e "$BUNDLE/rootfs/tmp/x" ] || fail "mkdir went through"
	check_no_leftovers "$CID"
}

@test "bad profile: unknown action" {
	set_seccomp '{"defaultAction": "SCMP_ACT_ALLOW",
		"syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_FOO"}]}'
	set_args true
	create_fails
	assert_output_contains SCMP_ACT_FOO
}

@test "bad profile: unknown default action" {
	set_seccomp '{"defaultAction": "SCMP_ACT_BAR"}'
	set_args true
	create_fails
	assert_output_contains SCMP_ACT_BAR
}

@test "bad profile: unknown operator" {
	set_seccomp '{"defaultAction": "SCMP_ACT_ALLOW",
		"syscalls": [{"names": ["kill"], "action": "SCMP_ACT_ERRNO",
			"args": [{"index": 1, "value": 0, "op": "SCMP_CMP_FOO"}]}]}'
	set_args true
	create_fails
	assert_output_contains SCMP_CMP_FOO
}

@test "bad profile: unknown architecture" {
	set_seccomp '{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_VAX"]}'
	set_args true
	create_fails
	assert_output_contains SCMP_ARCH_VAX
}

@test "bad profile: unknown flag" {
	set_seccomp '{"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_FOO"]}'
	set_args true
	create_fails
}

@test "SCMP_ACT_NOTIFY: the agent gets the listener and the state, and answers mkdir" {
	agent_setup
	notify_profile
	# The agent makes mkdir "succeed" without creating anything.
	run_in_container sh -c 'mkdir /tmp/handled && echo made; [ -d /tmp/handled ] && echo exists || echo absent'
	assert_success
	assert_output_contains made absent
	[ ! -e "$BUNDLE/rootfs/tmp/handled" ] || fail "the kernel ran mkdir"
	grep -qx "mkdir /tmp/handled" "$AGENT_LOG" || fail "the agent did not answer: $(cat "$AGENT_LOG")"
	# The container process state: one JSON document, with the listener fd attached.
	local msg
	msg=$(head -n 1 "$AGENT_LOG")
	jq -e '.fds == ["seccompFd"]' <<<"$msg" >/dev/null || fail "fds: $msg"
	jq -e '.metadata == "husk-test-metadata"' <<<"$msg" >/dev/null || fail "metadata: $msg"
	jq -e --arg id "$CID" '.state.id == $id and .state.status == "creating"' <<<"$msg" >/dev/null ||
		fail "state: $msg"
	jq -e --arg b "$BUNDLE" '.state.bundle == $b and .pid > 1 and .state.pid == .pid' <<<"$msg" >/dev/null ||
		fail "pid or bundle: $msg"
	jq -e '.ociVersion | type == "string"' <<<"$msg" >/dev/null || fail "ociVersion: $msg"
	agent_stop
	check_no_leftovers "$CID"
}

@test "SCMP_ACT_NOTIFY: an exec'd process gets the filter and its own listener" {
	agent_setup
	notify_profile
	set_args sleep 600
	run_detached
	local init_pid
	init_pid=$(state_field "$CID" pid)
	run runtime exec "$CID" sh -c 'mkdir /tmp/from-exec && echo made; [ -d /tmp/from-exec ] || echo absent'
	assert_success
	assert_output_contains made absent
	grep -qx "mkdir /tmp/from-exec" "$AGENT_LOG" || fail "the agent did not answer: $(cat "$AGENT_LOG")"
	local msg
	msg=$(grep '^{' "$AGENT_LOG" | sed -n 2p)
	[ -n "$msg" ] || fail "no second listener: $(cat "$AGENT_LOG")"
	jq -e --arg id "$CID" --argjson init "$init_pid" \
		'.state.id == $id and .state.status == "running" and .pid != $init and .state.pid == $init' \
		<<<"$msg" >/dev/null || fail "exec's process state: $msg"
	run runtime delete --force "$CID"
	assert_success
	agent_stop
	check_no_leftovers "$CID"
}

@test "SCMP_ACT_NOTIFY with no agent listening fails create and leaves nothing" {
	AGENT_SOCK="$TEST_DIR/nobody.sock"
	notify_profile
	set_args true
	create_fails
}

@test "bad profile: SCMP_ACT_NOTIFY without listenerPath" {
	set_seccomp '{"defaultAction": "SCMP_ACT_ALLOW",
		"syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]}'
	set_args true
	create_fails listenerPath
}

@test "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV with a notify agent" {
	[ -z "${IS_RUNC:-}" ] || skip "runc 1.1.5 does not know the flag"
	grep -q . /proc/sys/kernel/seccomp/actions_avail || skip "no seccomp"
	agent_setup
	notify_profile
	update_config '.linux.seccomp.flags = ["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]'
	run_in_container sh -c 'mkdir /tmp/k && echo made; [ -d /tmp/k ] || echo absent'
	assert_success
	assert_output_contains made absent
	agent_stop
}

@test "SCMP_ACT_LOG lets the syscall through" {
	set_seccomp '{"defaultAction": "SCMP_ACT_ALLOW",
		"syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_LOG"}]}'
	run_in_container sh -c 'mkdir /tmp/logged && echo made'
	assert_success
	assert_output_equals made
	[ -d "$BUNDLE/rootfs/tmp/logged" ] || fail "mkdir did not happen"
}

@test "SECCOMP_FILTER_FLAG_LOG: the filter loads and the container runs" {
	[ -z "${IS_RUNC:-}" ] || skip "runc 1.1.5 refuses seccomp flags"
	set_seccomp '{"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_LOG"],
		"syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]}'
	run_in_container sh -c 'echo hi; mkdir /tmp/x'
	assert_status 1
	assert_output_contains hi "Operation not permitted"
}

@test "SCMP_ACT_TRAP sends SIGSYS, which a handler can catch" {
	set_seccomp '{"defaultAction": "SCMP_ACT_ALLOW",
		"syscalls": [{"names": ["umask"], "action": "SCMP_ACT_TRAP"}]}'
	update_config '.process.noNewPrivileges = true'
	# Uncaught: the process dies of SIGSYS.
	run_in_container sh -c 'echo before; umask 077; echo after'
	assert_status 159
	assert_output_contains before
	# Caught: the shell's `umask` builtin makes the call itself, with a SIGSYS trap set.
	# (umask, not mkdir: busybox runs mkdir in a child, where the trap is reset.)
	run_in_container sh -c 'trap "echo caught SIGSYS" SYS; umask 077; echo after'
	assert_success
	assert_output_contains "caught SIGSYS" after
}

@test "SCMP_ACT_TRACE with no tracer: Function not implemented" {
	set_seccomp '{"defaultAction": "SCMP_ACT_ALLOW",
		"syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_TRACE", "errnoRet": 5}]}'
	run_in_container mkdir /tmp/x
	assert_status 1
	assert_output_contains "Function not implemented"
	[ ! -e "$BUNDLE/rootfs/tmp/x" ] || fail "mkdir went through"
}

@test "SCMP_ACT_KILL_THREAD kills the process with SIGSYS" {
	set_seccomp '{"defaultAction": "SCMP_ACT_ALLOW",
		"syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_KILL_THREAD"}]}'
	run_in_container sh -c 'echo before; exec mkdir /tmp/x'
	assert_status 159
	assert_output_contains before
}

@test "exec'd processes get the container's filter" {
	set_seccomp '{"defaultAction": "SCMP_ACT_ALLOW",
		"syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}'
	set_args sleep 600
	run_detached
	run runtime exec "$CID" mkdir /tmp/x
	assert_status 1
	assert_output_contains "Operation not permitted"
	[ ! -e "$BUNDLE/rootfs/tmp/x" ] || fail "mkdir went through"
	run runtime delete --force "$CID"
	assert_success
}

@test "SECCOMP_FILTER_FLAG_SPEC_ALLOW keeps speculative store bypass as it was" {
	set_seccomp '{"defaultAction": "SCMP_ACT_ALLOW",
		"syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]}'
	run_in_container grep Speculation_Store_Bypass /proc/self/status
	assert_success
	[ -z "${IS_RUNC:-}" ] || skip "runc 1.1.5 refuses seccomp flags"
	[[ "$output" == *"force mitigated"* ]] ||
		skip "this kernel does not mitigate speculative store bypass for seccomp ($output)"
	update_config '.linux.seccomp.flags = ["SECCOMP_FILTER_FLAG_SPEC_ALLOW"]'
	run_in_container grep Speculation_Store_Bypass /proc/self/status
	assert_success
	[[ "$output" != *"force mitigated"* ]] || fail "still force-mitigated: $output"
}

@test "compiled filters are cached: the second container loads it, and it still filters" {
	[ -z "${IS_RUNC:-}" ] || skip "husk's filter cache"
	export HUSK_SECCOMP_CACHE="$TEST_DIR/seccomp-cache"
	set_seccomp '{"defaultAction": "SCMP_ACT_ALLOW",
		"syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}]}'
	set_args mkdir /tmp/x
	run runtime --debug run --bundle "$BUNDLE" "$CID"
	assert_status 1
	assert_output_contains "Function not implemented"
	[[ "$output" != *"seccomp cache: hit"* ]] || fail "a hit in an empty cache"
	[ "$(ls "$HUSK_SECCOMP_CACHE" | wc -l)" = 1 ] || fail "no entry: $(ls -la "$HUSK_SECCOMP_CACHE")"
	[ "$(stat -c %a "$HUSK_SECCOMP_CACHE")" = 700 ]

	run runtime --debug run --bundle "$BUNDLE" "$CID"
	assert_status 1
	assert_output_contains "seccomp cache: hit" "Function not implemented"
	[ ! -e "$BUNDLE/rootfs/tmp/x" ] || fail "mkdir went through"

	# A damaged entry is compiled over, never loaded.
	local entry
	entry=$(ls "$HUSK_SECCOMP_CACHE")
	printf 'garbage' >"$HUSK_SECCOMP_CACHE/$entry"
	run runtime --debug run --bundle "$BUNDLE" "$CID"
	assert_status 1
	assert_output_contains "Function not implemented"
	[[ "$output" != *"seccomp cache: hit"* ]] || fail "a damaged entry was used"
	check_no_leftovers "$CID"
}

@test "SCMP_ACT_NOTIFY with a listenerPath too long for a unix socket fails and leaves nothing" {
	AGENT_SOCK="/tmp/$(printf 'x%.0s' $(seq 1 120)).sock"
	notify_profile
	set_args true
	create_fails
}
