#!/usr/bin/env bats
# linux.seccomp: profiles that deny, fail with a chosen errno, match on arguments, allow-list,
# kill; and bad profiles, which must fail create naming seccomp and leave nothing behind.

load helpers

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

# create_fails: create must fail, name seccomp on stderr, and leave nothing behind.
create_fails() {
	status=0
	runtime_raw create --bundle "$BUNDLE" "$CID" </dev/null \
		>"$TEST_DIR/create.out" 2>"$TEST_DIR/create.err" || status=$?
	stderr_text=$(cat "$TEST_DIR/create.err")
	output=$(cat "$TEST_DIR/create.out" "$TEST_DIR/create.err")
	assert_failure
	grep -qiF seccomp <<<"$stderr_text" || fail "stderr does not mention seccomp: $stderr_text"
	check_no_leftovers "$CID"
	assert_root_empty
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
