#!/usr/bin/env bats
# Terminals: process.terminal with a console socket (create, run -d, exec -t -d: the pty master
# goes to whoever listens on the socket, as containerd's shim and conmon do), and with the
# caller's own terminal (run and exec -t in the foreground). CI has no terminal: the console
# socket receiver is tests/tools/recvtty, and a terminal of our own comes from script(1).

load helpers

RECVTTY=${HUSK_RECVTTY:-"$HUSK_BUILD/tests/recvtty"}

setup() {
	setup_bundle
	[ -x "$RECVTTY" ] || fail "the console socket receiver $RECVTTY is missing (build first)"
	SOCK="$TEST_DIR/console.sock"
	TTY_OUT="$TEST_DIR/tty.out"
}

teardown() {
	teardown_bundle
}

# start_recvtty [--input TEXT]: listen on $SOCK for one pty master (recvtty); what comes out of
# the pty goes to $TTY_OUT, recvtty's "got NAME" line to $TEST_DIR/tty.err.
start_recvtty() {
	"$RECVTTY" "$SOCK" "$@" </dev/null >"$TTY_OUT" 2>"$TEST_DIR/tty.err" 3>&- &
	RECVTTY_PID=$!
	HOLDER_PIDS+=("$RECVTTY_PID")
	wait_for_file "$SOCK"
}

# wait_recvtty: wait until recvtty is done (the pty's last slave closed: the process exited)
# and set $output to what came through, without the terminal's carriage returns.
wait_recvtty() {
	wait_for_exit "$RECVTTY_PID" || return 1
	local rc=0
	wait "$RECVTTY_PID" || rc=$?
	[ "$rc" -eq 0 ] || fail "recvtty failed ($rc): $(cat "$TEST_DIR/tty.err")"
	grep -q '^recvtty: got ' "$TEST_DIR/tty.err" || fail "recvtty received no pty: $(cat "$TEST_DIR/tty.err")"
	output=$(tr -d '\r' <"$TTY_OUT")
}

# stop_recvtty: kill a recvtty that will receive nothing (before a check for leftovers, which
# would count it: its command line names the test directory).
stop_recvtty() {
	kill -9 "$RECVTTY_PID" 2>/dev/null || true
	wait "$RECVTTY_PID" 2>/dev/null || true
}

# in_terminal CMD: run the shell command CMD on a new terminal made by script(1), whose own
# input is /dev/null. Sets $status (CMD's) and $output, without carriage returns, NULs, and
# the "^@" a container's terminal echoes when the end of script's input reaches it through the
# runtime (with runc it precedes the container's output).
in_terminal() {
	status=0
	timeout -k 10 "$HUSK_TEST_TIMEOUT" script -qec "$1" /dev/null \
		</dev/null >"$TEST_DIR/script.out" 2>&1 3>&- || status=$?
	output=$(tr -d '\r\0' <"$TEST_DIR/script.out" | sed 's/\^@//g')
}

# runtime_cmd ARGS...: the runtime command line with our state root, quoted for a shell.
runtime_cmd() {
	printf '%q ' "$RUNTIME" --root "$ROOT" "$@"
}

# ---------------------------------------------------------------------------------------------
# Console socket.

@test "create with a terminal sends the pty master to --console-socket; output comes through it" {
	update_config '.process.terminal = true'
	set_args sh -c 'tty; for fd in 0 1 2; do readlink /proc/self/fd/$fd; done; echo hello-through-the-pty'
	start_recvtty
	runtime_detached create --bundle "$BUNDLE" --console-socket "$SOCK" "$CID"
	assert_success
	run runtime start "$CID"
	assert_success
	wait_recvtty
	local name
	name=$(sed -n 1p <<<"$output")
	[[ "$name" =~ ^/dev/pts/[0-9]+$ ]] || fail "tty printed '$name'"
	# stdin, stdout and stderr are all the terminal.
	[ "$(sed -n 2,4p <<<"$output" | sort -u)" = "$name" ]
	[ "$(sed -n 5p <<<"$output")" = hello-through-the-pty ]
	# Nothing of the container's went to the runtime's own stdout.
	! grep -q hello-through-the-pty "$DETACHED_LOG"
	wait_for_status "$CID" stopped
	run runtime delete "$CID"
	assert_success
	check_no_leftovers "$CID"
}

@test "consoleSize sets the size of the container's terminal" {
	update_config '.process.terminal = true | .process.consoleSize = {"height": 37, "width": 111}'
	set_args stty size
	start_recvtty
	runtime_detached create --bundle "$BUNDLE" --console-socket "$SOCK" "$CID"
	assert_success
	run runtime start "$CID"
	assert_success
	wait_recvtty
	assert_output_equals "37 111"
}

@test "input written to the pty master reaches the container" {
	update_config '.process.terminal = true'
	set_args sh -c 'read line; echo "got:$line"'
	start_recvtty --input $'typed-text\n'
	runtime_detached create --bundle "$BUNDLE" --console-socket "$SOCK" "$CID"
	assert_success
	run runtime start "$CID"
	assert_success
	wait_recvtty
	assert_output_contains "got:typed-text"
}

@test "run -d with a terminal and --console-socket" {
	update_config '.process.terminal = true'
	set_args sh -c 'tty; echo run-d-tty'
	start_recvtty
	runtime_detached run -d --bundle "$BUNDLE" --console-socket "$SOCK" "$CID"
	assert_success
	wait_recvtty
	assert_output_matches '^/dev/pts/[0-9]+$'
	assert_output_contains run-d-tty
}

@test "a terminal without --console-socket fails for create and run -d" {
	update_config '.process.terminal = true'
	set_args true
	runtime_detached create --bundle "$BUNDLE" "$CID"
	assert_failure
	# runc: "cannot allocate tty if runc will detach without setting console socket".
	assert_output_contains "console socket"
	check_no_leftovers "$CID"
	runtime_detached run -d --bundle "$BUNDLE" "$CID"
	assert_failure
	assert_output_contains "console socket"
	check_no_leftovers "$CID"
	assert_root_empty
}

@test "--console-socket without a terminal fails" {
	set_args true
	start_recvtty
	runtime_detached create --bundle "$BUNDLE" --console-socket "$SOCK" "$CID"
	assert_failure
	# runc: "cannot use console socket if runc will not detach or allocate tty".
	assert_output_contains "console socket"
	stop_recvtty
	check_no_leftovers "$CID"
	assert_root_empty
}

@test "--console-socket naming no socket fails cleanly" {
	update_config '.process.terminal = true'
	set_args true
	runtime_detached create --bundle "$BUNDLE" --console-socket "$TEST_DIR/no-such.sock" "$CID"
	assert_failure
	assert_output_contains "$TEST_DIR/no-such.sock"
	check_no_leftovers "$CID"
	assert_root_empty
}

@test "exec -t -d --console-socket gives the exec'd process a terminal" {
	set_args sleep 600
	run_detached
	start_recvtty
	runtime_detached exec -t -d --console-socket "$SOCK" --pid-file "$TEST_DIR/exec.pid" "$CID" \
		sh -c 'tty; readlink /proc/self/fd/1; echo exec-tty'
	assert_success
	wait_recvtty
	local name
	name=$(sed -n 1p <<<"$output")
	[[ "$name" =~ ^/dev/pts/[0-9]+$ ]] || fail "tty printed '$name'"
	[ "$(sed -n 2p <<<"$output")" = "$name" ]
	[ "$(sed -n 3p <<<"$output")" = exec-tty ]
	[ "$(state_field "$CID" status)" = running ]
}

@test "exec --process with terminal and consoleSize, as containerd calls it" {
	set_args sleep 600
	run_detached
	cat >"$TEST_DIR/process.json" <<-'EOF'
		{"terminal": true, "consoleSize": {"height": 25, "width": 99},
		 "args": ["sh", "-c", "tty; stty size"], "cwd": "/", "env": ["PATH=/bin"],
		 "user": {"uid": 0, "gid": 0}}
	EOF
	start_recvtty
	runtime_detached exec --process "$TEST_DIR/process.json" --console-socket "$SOCK" \
		--detach --pid-file "$TEST_DIR/exec.pid" "$CID"
	assert_success
	wait_recvtty
	assert_output_matches '^/dev/pts/[0-9]+$'
	[ "$(sed -n 2p <<<"$output")" = "25 99" ]
}

@test "exec -t -d without --console-socket, and --console-socket without -t, fail" {
	set_args sleep 600
	run_detached
	run runtime exec -t -d "$CID" true
	assert_status 255
	assert_output_contains "console socket"
	start_recvtty
	run runtime exec -d --console-socket "$SOCK" "$CID" true
	assert_status 255
	assert_output_contains "console socket"
	[ "$(state_field "$CID" status)" = running ]
}

# ---------------------------------------------------------------------------------------------
# The caller's terminal.

@test "run with a terminal in the foreground uses the caller's terminal and exit code" {
	update_config '.process.terminal = true'
	set_args sh -c 'tty; echo hello-on-a-tty; exit 4'
	in_terminal "$(runtime_cmd run --bundle "$BUNDLE" "$CID")"
	assert_status 4
	assert_output_matches '^/dev/pts/[0-9]+$'
	assert_output_contains hello-on-a-tty
	check_no_leftovers "$CID"
	assert_root_empty
}

@test "run with a terminal restores the caller's terminal mode afterwards" {
	update_config '.process.terminal = true'
	set_args sh -c 'echo inside; exit 0'
	in_terminal "stty -g; $(runtime_cmd run --bundle "$BUNDLE" "$CID"); echo rc=\$?; stty -g"
	assert_status 0
	assert_output_contains inside rc=0
	local before after
	before=$(sed -n 1p <<<"$output")
	after=$(tail -n1 <<<"$output")
	[[ "$before" =~ ^[0-9a-f:]+$ ]] || fail "no stty -g output first: $output"
	[ "$before" = "$after" ] || fail "terminal mode before: $before; after: $after"
}

@test "run with a terminal gives the container the caller's window size" {
	update_config '.process.terminal = true'
	# runc sets the size from the caller's terminal while the process may already run: the
	# container waits (bounded) for a size to show.
	set_args sh -c 'i=0
		while [ $i -lt 100 ]; do
			s=$(stty size 2>/dev/null)
			[ -n "$s" ] && [ "$s" != "0 0" ] && break
			sleep 0.05
			i=$((i + 1))
		done
		echo "$s"'
	in_terminal "stty rows 30 cols 90; $(runtime_cmd run --bundle "$BUNDLE" "$CID")"
	assert_status 0
	assert_output_equals "30 90"
}

@test "exec -t in the foreground on the caller's terminal" {
	set_args sleep 600
	run_detached
	in_terminal "stty -g; $(runtime_cmd exec -t "$CID" sh -c 'tty; exit 3'); echo rc=\$?; stty -g"
	assert_output_matches '^/dev/pts/[0-9]+$'
	assert_output_contains rc=3
	[ "$(sed -n 1p <<<"$output")" = "$(tail -n1 <<<"$output")" ]
	[ "$(state_field "$CID" status)" = running ]
}
