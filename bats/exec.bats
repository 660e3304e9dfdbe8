#!/usr/bin/env bats
# exec and ps on a running (or created, or stopped) container. Pause and resume, and exec into
# a paused container, are in pending/pause.bats until husk has them.

load helpers

setup() {
	setup_bundle
	set_args sleep 600
}

teardown() {
	teardown_bundle
}

# ns_links PID: "TYPE LINK" for every namespace of PID, as the host sees it.
ns_links() {
	local n
	for n in /proc/"$1"/ns/*; do
		echo "$(basename "$n") $(readlink "$n")"
	done
}

# read_pid_file FILE: the pid in FILE, which must be the bare number. containerd's shim reads
# exec pid files with go-runc's ReadPidFile, a plain strconv.Atoi of the whole file: a
# trailing newline (or anything else) breaks it.
read_pid_file() {
	local pid
	pid=$(cat "$1") || return 1
	[[ "$pid" =~ ^[1-9][0-9]*$ ]] || fail "pid file $1 holds '$pid', not a pid"
	[ "$(wc -c <"$1")" -eq "${#pid}" ] || fail "pid file $1 is not just the number: $(od -c "$1" | head -n2)"
	echo "$pid"
}

# ---------------------------------------------------------------------------------------------
# Where the exec'd process runs.

@test "exec runs a process in every namespace of the container" {
	requires cgroupns
	# Every kind this runtime can create, so that a namespace left out of the join shows.
	update_config '.linux.namespaces += [{"type": "cgroup"}]'
	if [ -z "$IS_RUNC" ] && [ -e /proc/self/ns/time ]; then
		# (runc 1.1.5 has no time namespaces.)
		update_config '.linux.namespaces += [{"type": "time"}]'
	fi
	run_detached
	local pid
	pid=$(state_field "$CID" pid)
	run runtime exec "$CID" sh -c 'for n in /proc/self/ns/*; do echo "${n##*/} $(readlink $n)"; done'
	assert_success
	[ "$output" = "$(ns_links "$pid")" ] || fail "exec'd: $output; init: $(ns_links "$pid")"
	# And the container's namespaces are not the host's (the comparison means something).
	grep -qx "mnt $(host_ns mnt)" <<<"$output" && fail "exec ran in the host's mount namespace"
	grep -qx "cgroup $(host_ns cgroup)" <<<"$output" && fail "exec ran in the host's cgroup namespace"
	run runtime exec "$CID" hostname
	assert_success
	assert_output_equals "$(jq -r .hostname "$BUNDLE/config.json")"
}

@test "exec joins the container's user namespace" {
	requires userns
	update_config '.linux.namespaces += [{"type": "user"}]
		| .linux.uidMappings = [{"containerID": 0, "hostID": 100000, "size": 65536}]
		| .linux.gidMappings = [{"containerID": 0, "hostID": 100000, "size": 65536}]'
	run_detached
	local pid
	pid=$(state_field "$CID" pid)
	run runtime exec "$CID" sh -c 'readlink /proc/self/ns/user; cat /proc/self/uid_map; id -u'
	assert_success
	[ "$(sed -n 1p <<<"$output")" = "$(readlink "/proc/$pid/ns/user")" ]
	[ "$(sed -n 2p <<<"$output" | xargs)" = "0 100000 65536" ]
	[ "$(sed -n 3p <<<"$output")" = 0 ]
}

@test "exec runs the process in the container's cgroup" {
	run_detached
	local pid
	pid=$(state_field "$CID" pid)
	# (No cgroup namespace: the paths are the host's. The containerd-style test below checks a
	# detached process from the host.)
	run runtime exec "$CID" cat /proc/self/cgroup
	assert_success
	[ "$output" = "$(cat "/proc/$pid/cgroup")" ] || fail "exec'd: $output; init: $(cat "/proc/$pid/cgroup")"
	grep -q "$CID" <<<"$output"
}

@test "exec sees the container's processes, not PID 1 itself" {
	run_detached
	run runtime exec "$CID" sh -c 'echo $$; cat /proc/1/cmdline | tr "\0" " "'
	assert_success
	[ "$(sed -n 1p <<<"$output")" -gt 1 ]
	[ "$(sed -n 2p <<<"$output")" = "sleep 600 " ]
}

# ---------------------------------------------------------------------------------------------
# The command line.

@test "exec passes the args after the container id unchanged, dashes included" {
	run_detached
	run runtime exec "$CID" sh -c 'for a in "$@"; do echo "[$a]"; done' sh "" -x "two words" --env -u 5 -t
	assert_success
	assert_output_equals $'[]\n[-x]\n[two words]\n[--env]\n[-u]\n[5]\n[-t]'
}

@test "exec propagates the exit code" {
	run_detached
	run runtime exec "$CID" sh -c 'exit 7'
	assert_status 7
	run runtime exec "$CID" true
	assert_success
	[ "$(state_field "$CID" status)" = running ]
}

@test "exec reports death by signal as 128+signal" {
	run_detached
	run runtime exec "$CID" sh -c 'kill -KILL $$'
	assert_status 137
	run runtime exec "$CID" sh -c 'kill -TERM $$'
	assert_status 143
	[ "$(state_field "$CID" status)" = running ]
}

@test "exec passes stdin, stdout and stderr through" {
	run_detached
	echo from-stdin >"$TEST_DIR/in"
	run --separate-stderr runtime_raw exec "$CID" sh -c 'cat; echo to-stderr >&2' <"$TEST_DIR/in"
	assert_success
	assert_output_equals from-stdin
	[ "$stderr" = to-stderr ]
}

@test "exec inherits the container's env, cwd, user and capabilities by default" {
	update_config '.process.env += ["FROM_SPEC=yes"] | .process.cwd = "/tmp"'
	run_detached
	run runtime exec "$CID" sh -c 'echo $FROM_SPEC; pwd; id -u; grep CapBnd /proc/self/status | cut -f2'
	assert_success
	assert_output_equals "yes"$'\n'"/tmp"$'\n'"0"$'\n'"$(cap_mask CAP_AUDIT_WRITE CAP_KILL CAP_NET_BIND_SERVICE)"
}

# limit_of NAME: "SOFT HARD" of the limit whose /proc/PID/limits line starts with NAME, from a
# dump of that file in $output.
limit_of() {
	grep "^$1 " <<<"$output" | sed "s/^$1 *//" | awk '{print $1, $2}'
}

# (RLIMIT_NOFILE keeps soft = hard in these tests: runc 1.1.5, built with Go 1.19, now and
# then gives an exec'd process the hard limit as its soft one, as Go raises its own soft
# limit at start-up. Soft and hard apart are checked on RLIMIT_CORE.)

@test "exec gets the rlimits, env and no_new_privs of config.json" {
	update_config '.process.rlimits = [{"type": "RLIMIT_NOFILE", "soft": 321, "hard": 321},
			{"type": "RLIMIT_CORE", "soft": 10240, "hard": 20480}]
		| .process.env = ["PATH=/bin", "CONFIG_VAR=from-config"]
		| .process.noNewPrivileges = true'
	run_detached
	run runtime exec "$CID" sh -c 'echo $CONFIG_VAR; echo $PATH; grep NoNewPrivs /proc/self/status | cut -f2; cat /proc/self/limits'
	assert_success
	[ "$(sed -n 1,3p <<<"$output")" = $'from-config\n/bin\n1' ]
	[ "$(limit_of "Max open files")" = "321 321" ]
	[ "$(limit_of "Max core file size")" = "10240 20480" ]
}

@test "exec --env, --cwd and --user override the defaults" {
	run_detached
	run runtime exec --env FOO=bar --cwd /tmp --user 1000:1001 "$CID" sh -c 'echo $FOO; pwd; id -u; id -g'
	assert_success
	assert_output_equals $'bar\n/tmp\n1000\n1001'
}

@test "exec -e and -u are the short forms; -e replaces a variable of the config" {
	run_detached
	run runtime exec -e TERM=dumb -e NEW=1 -u 1000:1001 "$CID" sh -c 'env | grep -c ^TERM=; echo $TERM $NEW; id -u; id -g'
	assert_success
	assert_output_equals $'1\ndumb 1\n1000\n1001'
}

@test "exec --user with a uid alone runs with gid 0 and no supplementary groups" {
	run_detached
	run runtime exec --user 1000 "$CID" sh -c 'id -u; id -g; grep "^Groups:" /proc/self/status | cut -f2'
	assert_success
	[ "$(sed -n 1p <<<"$output")" = 1000 ]
	[ "$(sed -n 2p <<<"$output")" = 0 ]
	[ -z "$(sed -n 3p <<<"$output" | tr -d ' ')" ]
}

@test "exec --additional-gids and -g set the supplementary groups" {
	run_detached
	run runtime exec --user 1000:1001 --additional-gids 5 --additional-gids 77 "$CID" grep '^Groups:' /proc/self/status
	assert_success
	[ "$(cut -f2 <<<"$output" | xargs)" = "5 77" ]
	run runtime exec -u 1000:1001 -g 42 "$CID" grep '^Groups:' /proc/self/status
	assert_success
	[ "$(cut -f2 <<<"$output" | xargs)" = 42 ]
}

@test "exec --cap adds a capability to the process's sets" {
	run_detached
	run runtime exec --cap CAP_SYS_ADMIN "$CID" cat /proc/self/status
	assert_success
	local want
	want=$(cap_mask CAP_AUDIT_WRITE CAP_KILL CAP_NET_BIND_SERVICE CAP_SYS_ADMIN)
	[ "$(awk '$1 == "CapEff:" {print $2}' <<<"$output")" = "$want" ]
	[ "$(awk '$1 == "CapPrm:" {print $2}' <<<"$output")" = "$want" ]
	[ "$(awk '$1 == "CapBnd:" {print $2}' <<<"$output")" = "$want" ]
	# Only for this process: the next exec has the config's set again.
	run runtime exec "$CID" grep CapEff /proc/self/status
	assert_success
	[ "$(cut -f2 <<<"$output")" = "$(cap_mask CAP_AUDIT_WRITE CAP_KILL CAP_NET_BIND_SERVICE)" ]
}

@test "exec --no-new-privs sets no_new_privs when the config does not" {
	update_config '.process.noNewPrivileges = false'
	run_detached
	run runtime exec "$CID" grep NoNewPrivs /proc/self/status
	assert_success
	[ "$(cut -f2 <<<"$output")" = 0 ]
	run runtime exec --no-new-privs "$CID" grep NoNewPrivs /proc/self/status
	assert_success
	[ "$(cut -f2 <<<"$output")" = 1 ]
}

@test "exec --process runs a process described in a JSON file" {
	run_detached
	cat >"$TEST_DIR/process.json" <<-'EOF'
		{"args": ["sh", "-c", "echo from-file; echo $X; pwd; id -u; id -G"], "cwd": "/etc",
		 "env": ["PATH=/bin", "X=42"], "user": {"uid": 1000, "gid": 1000, "additionalGids": [7]}}
	EOF
	run runtime exec --process "$TEST_DIR/process.json" "$CID"
	assert_success
	assert_output_equals $'from-file\n42\n/etc\n1000\n1000 7'
	run runtime exec -p "$TEST_DIR/process.json" "$CID"
	assert_success
	assert_output_contains from-file
}

@test "exec --process --detach --pid-file, as containerd and conmon call it" {
	run_detached
	local pid
	pid=$(state_field "$CID" pid)
	# What a shim writes: the whole process object, capabilities and rlimits included.
	cat >"$TEST_DIR/process.json" <<-'EOF'
		{"terminal": false, "user": {"uid": 0, "gid": 0},
		 "args": ["sh", "-c", "ls /proc/self/fd | xargs >/tmp/fds; cat /proc/self/limits >/tmp/limits; grep CapEff /proc/self/status | cut -f2 >/tmp/out; echo $X >>/tmp/out; exec sleep 600"],
		 "env": ["PATH=/bin", "X=shim"], "cwd": "/",
		 "capabilities": {"bounding": ["CAP_KILL", "CAP_NET_ADMIN"], "effective": ["CAP_KILL", "CAP_NET_ADMIN"],
		                  "permitted": ["CAP_KILL", "CAP_NET_ADMIN"]},
		 "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 512, "soft": 512},
		             {"type": "RLIMIT_CORE", "hard": 8192, "soft": 4096}],
		 "noNewPrivileges": true}
	EOF
	runtime_detached exec --process "$TEST_DIR/process.json" --detach --pid-file "$TEST_DIR/exec.pid" "$CID"
	assert_success
	local epid
	epid=$(read_pid_file "$TEST_DIR/exec.pid")
	process_alive "$epid"
	[ "$(readlink "/proc/$epid/ns/pid")" = "$(readlink "/proc/$pid/ns/pid")" ]
	[ "$(readlink "/proc/$epid/ns/mnt")" = "$(readlink "/proc/$pid/ns/mnt")" ]
	diff "/proc/$epid/cgroup" "/proc/$pid/cgroup"
	wait_for_file "$BUNDLE/rootfs/tmp/out" shim
	[ "$(cat "$BUNDLE/rootfs/tmp/out")" = "$(cap_mask CAP_KILL CAP_NET_ADMIN)"$'\nshim' ]
	output=$(cat "$BUNDLE/rootfs/tmp/limits")
	[ "$(limit_of "Max open files")" = "512 512" ]
	[ "$(limit_of "Max core file size")" = "4096 8192" ]
	# No descriptor of the runtime leaks into a detached process either (ls's own is 3).
	[ "$(cat "$BUNDLE/rootfs/tmp/fds")" = "0 1 2 3" ]
	# The runtime returned while its process runs on, and nothing of the runtime stays.
	[ "$(tr '\0' ' ' <"/proc/$epid/cmdline")" = "sleep 600 " ]
	run runtime delete --force "$CID"
	assert_success
	wait_for_exit "$epid"
	check_no_leftovers "$CID"
}

@test "exec -d returns at once and the process runs; --pid-file names it" {
	run_detached
	# A relative --pid-file is relative to the caller's cwd; the process's output goes where
	# the caller's stdout points.
	cd "$TEST_DIR"
	runtime_detached exec -d --pid-file rel.pid "$CID" sh -c 'echo ran > /tmp/exec-d; echo detached-output; exec sleep 600'
	assert_success
	wait_for_file "$BUNDLE/rootfs/tmp/exec-d" ran
	wait_for_file "$DETACHED_LOG" detached-output
	local pid
	pid=$(read_pid_file "$TEST_DIR/rel.pid")
	process_alive "$pid"
	[ "$(tr '\0' ' ' <"/proc/$pid/cmdline")" = "sleep 600 " ]
	run runtime delete --force "$CID"
	assert_success
	wait_for_exit "$pid"
	check_no_leftovers "$CID"
}

@test "exec --preserve-fds passes the caller's next N descriptors" {
	run_detached
	echo three >"$TEST_DIR/fd3"
	echo four >"$TEST_DIR/fd4"
	echo five >"$TEST_DIR/fd5"
	run runtime exec --preserve-fds 2 "$CID" sh -c 'cat <&3; cat <&4; ls /proc/self/fd | xargs' \
		3<"$TEST_DIR/fd3" 4<"$TEST_DIR/fd4" 5<"$TEST_DIR/fd5"
	assert_success
	# 3 and 4 are passed, 5 is not: ls's own directory fd takes 5.
	assert_output_equals $'three\nfour\n0 1 2 3 4 5'
}

@test "no descriptor of the runtime or its caller leaks into the exec'd process" {
	run_detached
	# bats holds descriptors of its own (3 and up); the runtime must close them as well.
	exec 7<"$BUNDLE/config.json" 8>"$TEST_DIR/held"
	run runtime exec "$CID" ls /proc/self/fd
	exec 7<&- 8>&-
	assert_success
	# 0, 1, 2, and the directory ls is listing.
	assert_output_equals $'0\n1\n2\n3'
}

# ---------------------------------------------------------------------------------------------
# Failures of exec itself: exit status 255 (runc's), and a message that says why. podman
# (libpod getOCIRuntimeError) and docker map "executable file not found in" and "no such file
# or directory" to exit 127 and "permission denied" to 126, ignoring case: those words matter.

# assert_output_contains_ci TEXT...: each TEXT occurs in $output, ignoring case.
assert_output_contains_ci() {
	local want
	for want in "$@"; do
		grep -qiF -- "$want" <<<"$output" || fail "output does not contain '$want' (any case): $output"
	done
}

@test "exec of a missing executable by path fails" {
	run_detached
	run runtime exec "$CID" /no/such/binary
	assert_status 255
	assert_output_contains /no/such/binary
	assert_output_contains_ci "no such file or directory"
	[ "$(state_field "$CID" status)" = running ]
}

@test "exec of a command not in PATH fails" {
	run_detached
	run runtime exec "$CID" no-such-command
	assert_status 255
	assert_output_contains no-such-command
	assert_output_contains_ci "executable file not found in"
	[ "$(state_field "$CID" status)" = running ]
}

@test "exec of a file that is not executable fails" {
	run_detached
	run runtime exec "$CID" /etc/passwd
	assert_status 255
	assert_output_contains /etc/passwd
	assert_output_contains_ci "permission denied"
	[ "$(state_field "$CID" status)" = running ]
}

@test "exec with a missing --cwd fails" {
	run_detached
	run runtime exec --cwd /no/such/dir "$CID" pwd
	assert_status 255
	assert_output_contains /no/such/dir
	[ "$(state_field "$CID" status)" = running ]
}

@test "exec without a command fails" {
	run_detached
	run runtime exec "$CID"
	# runc: "exec failed: process args cannot be empty".
	assert_status 255
	assert_error_message
	[ "$(state_field "$CID" status)" = running ]
}

@test "exec in a stopped container fails" {
	set_args true
	run_detached
	wait_for_status "$CID" stopped
	run runtime exec "$CID" true
	assert_status 255
	assert_output_contains "stopped"
}

@test "exec in a nonexistent container fails" {
	run runtime exec "$CID" true
	assert_status 255
	assert_output_contains "does not exist"
	assert_root_empty
}

@test "exec in a created container runs the process and leaves the container created" {
	set_args sh -c 'echo init-ran > /tmp/init; exec sleep 600'
	create_container
	run runtime exec "$CID" sh -c 'echo exec-ran; ls /tmp'
	assert_success
	assert_output_equals exec-ran
	[ "$(state_field "$CID" status)" = created ]
	[ ! -e "$BUNDLE/rootfs/tmp/init" ]
	# The container starts as usual afterwards.
	run runtime start "$CID"
	assert_success
	wait_for_file "$BUNDLE/rootfs/tmp/init" init-ran
	[ "$(state_field "$CID" status)" = running ]
}

@test "a failed exec leaves nothing behind" {
	run_detached
	local pid
	pid=$(state_field "$CID" pid)
	run runtime exec "$CID" /no/such/binary
	assert_status 255
	# Only the init is left in the container.
	run runtime ps --format json "$CID"
	assert_success
	[ "$(jq -c . <<<"$output")" = "[$pid]" ]
	run runtime delete --force "$CID"
	assert_success
	check_no_leftovers "$CID"
}

# ---------------------------------------------------------------------------------------------
# ps: runc runs the host's ps(1) (`ps -ef` unless told otherwise) and keeps the header and
# the lines of the container's processes; --format json prints just the pids.

@test "ps lists the container's processes, as a table and as JSON" {
	run_detached
	local pid
	pid=$(state_field "$CID" pid)
	run runtime ps --format json "$CID"
	assert_success
	[ "$(jq -c . <<<"$output")" = "[$pid]" ]
	runtime_detached exec -d --pid-file "$TEST_DIR/exec.pid" "$CID" sleep 601
	assert_success
	local epid
	epid=$(read_pid_file "$TEST_DIR/exec.pid")
	run runtime ps "$CID"
	assert_success
	# ps -ef's header, then one line per process, with the pid in the PID column.
	[ "$(sed -n 1p <<<"$output" | awk '{print $1, $2, $3, $NF}')" = "UID PID PPID CMD" ]
	[ "$(sed 1d <<<"$output" | wc -l)" -eq 2 ]
	sed 1d <<<"$output" | awk -v p="$pid" '$2 == p' | grep -q "sleep 600"
	sed 1d <<<"$output" | awk -v p="$epid" '$2 == p' | grep -q "sleep 601"
	# -f is the short form of --format.
	run runtime ps -f json "$CID"
	assert_success
	[ "$(jq -c 'sort' <<<"$output")" = "$(jq -nc --argjson a "$pid" --argjson b "$epid" '[$a, $b] | sort')" ]
}

@test "ps passes the arguments after the container id to ps(1)" {
	run_detached
	local pid
	pid=$(state_field "$CID" pid)
	run runtime ps "$CID" -o pid,comm
	assert_success
	[ "$(sed -n 1p <<<"$output" | xargs)" = "PID COMMAND" ]
	[ "$(sed 1d <<<"$output" | xargs)" = "$pid sleep" ]
}

@test "ps with ps(1) arguments that drop the PID column fails" {
	run_detached
	run runtime ps "$CID" -o comm
	assert_failure
	assert_output_contains "PID"
}

@test "ps of a created container lists its (not yet started) process" {
	create_container
	local pid
	pid=$(state_field "$CID" pid)
	run runtime ps --format json "$CID"
	assert_success
	[ "$(jq -c . <<<"$output")" = "[$pid]" ]
}

@test "ps of a stopped container lists nothing" {
	set_args true
	run_detached
	wait_for_status "$CID" stopped
	run runtime ps --format json "$CID"
	assert_success
	# runc prints null; [] means the same to a JSON reader (containerd's shim).
	[ "$(jq 'length' <<<"$output")" -eq 0 ]
	run runtime ps "$CID"
	assert_success
	[ "$(wc -l <<<"$output")" -eq 1 ]
	assert_output_contains PID
}

@test "ps of a nonexistent container fails" {
	run runtime ps "$CID"
	assert_failure
	assert_output_contains "does not exist"
}

@test "ps with an unknown --format fails" {
	run_detached
	run runtime ps --format xml "$CID"
	assert_failure
	assert_output_contains "format"
}

@test "ps without a container id fails with a usage error" {
	run runtime ps
	assert_failure
	assert_output_contains "ps"
}

@test "state reports stopped when the container process is killed behind the runtime's back" {
	run_detached
	local pid
	pid=$(state_field "$CID" pid)
	kill -9 "$pid"
	wait_for_status "$CID" stopped
	run runtime delete "$CID"
	assert_success
	check_no_leftovers "$CID"
}

@test "exec refuses bad --env, --user and --cwd values, and the container keeps running" {
	run_detached
	run runtime exec --env NOVALUE "$CID" true
	assert_status 255
	assert_output_contains NOVALUE
	run runtime exec --user abc "$CID" true
	assert_status 255
	assert_output_contains abc
	run runtime exec --cwd relative/dir "$CID" true
	assert_status 255
	assert_output_contains absolute
	[ "$(state_field "$CID" status)" = running ]
}

@test "exec --cap with an unknown capability fails" {
	[ -z "${IS_RUNC:-}" ] || skip "runc 1.1.5 only warns about unknown capabilities"
	run_detached
	run runtime exec --cap CAP_BOGUS "$CID" true
	assert_status 255
	assert_output_contains CAP_BOGUS
}
