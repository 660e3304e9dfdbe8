#!/usr/bin/env bats
# What passes between the caller and the container besides stdio: signals to a foreground
# `run` (forwarded to the container's init), systemd socket activation (LISTEN_FDS) and
# readiness notification (NOTIFY_SOCKET).

load helpers

SDNOTIFY=${HUSK_SDNOTIFY:-"$HUSK_BUILD/tests/sdnotify"}

setup() {
	setup_bundle
}

teardown() {
	teardown_bundle
}

# start_foreground: `run` in the foreground, in the background of the test: the runtime binary
# itself (not through `timeout`, whose pid would get our signals), its pid in $RUN_PID, its
# output (and the container's) in $TEST_DIR/run.out.
start_foreground() {
	"$RUNTIME" --root "$ROOT" run --bundle "$BUNDLE" "$CID" </dev/null >"$TEST_DIR/run.out" 2>&1 3>&- &
	RUN_PID=$!
	HOLDER_PIDS+=("$RUN_PID")
}

# finish_foreground: wait (bounded) for the runtime started by start_foreground to exit; set
# $status and $output as `run` would.
finish_foreground() {
	wait_for_exit "$RUN_PID" || return 1
	status=0
	wait "$RUN_PID" || status=$?
	output=$(cat "$TEST_DIR/run.out")
}

# A container init that reports the signals it gets, each with an exit code of its own. PID 1
# of a pid namespace only gets signals it has a handler for, so it traps them; `wait` returns
# as soon as one arrives.
TRAPPER='trap "echo got-usr1; exit 5" USR1
trap "echo got-term; exit 6" TERM
trap "echo got-hup; exit 7" HUP
trap "echo got-int; exit 8" INT
touch /ready
sleep 600 &
wait'

# forward_test SIGNAL WORD CODE: a signal sent to the runtime reaches the init, which says WORD
# and exits with CODE, which the runtime returns.
forward_test() {
	set_args sh -c "$TRAPPER"
	start_foreground
	wait_for_file "$BUNDLE/rootfs/ready"
	kill -s "$1" "$RUN_PID"
	finish_foreground
	assert_status "$3"
	assert_output_contains "$2"
	check_no_leftovers "$CID"
	assert_root_empty
}

# ---------------------------------------------------------------------------------------------
# Signals to a foreground run.

@test "run forwards SIGUSR1 to the container's init" {
	forward_test USR1 got-usr1 5
}

@test "run forwards SIGTERM to the container's init" {
	forward_test TERM got-term 6
}

@test "run forwards SIGHUP to the container's init" {
	forward_test HUP got-hup 7
}

@test "run forwards SIGINT to the container's init" {
	forward_test INT got-int 8
}

@test "the container's processes start with no signal blocked or ignored" {
	# A runtime that takes its signals through a signalfd blocks them; its children must not
	# inherit that mask (a blocked TERM would make the container deaf to kill and to
	# forwarding), nor dispositions it set.
	set_args grep -E '^Sig(Blk|Ign):' /proc/self/status
	run runtime run --bundle "$BUNDLE" "$CID"
	assert_success
	assert_output_equals $'SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000'
	set_args sleep 600
	run_detached
	run runtime exec "$CID" grep -E '^Sig(Blk|Ign):' /proc/self/status
	assert_success
	assert_output_equals $'SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000'
}

@test "run exits 128+signal when a forwarded signal kills the init" {
	# Outside a pid namespace of its own the init is an ordinary process: no handler, so the
	# forwarded signal's default action kills it.
	update_config '.linux.namespaces -= [{"type": "pid"}]'
	set_args sh -c 'touch /ready; exec sleep 600'
	start_foreground
	wait_for_file "$BUNDLE/rootfs/ready"
	kill -s USR1 "$RUN_PID"
	finish_foreground
	assert_status $((128 + 10))
	check_no_leftovers "$CID"

	rm -f "$BUNDLE/rootfs/ready"
	start_foreground
	wait_for_file "$BUNDLE/rootfs/ready"
	kill -s TERM "$RUN_PID"
	finish_foreground
	assert_status $((128 + 15))
	check_no_leftovers "$CID"
	assert_root_empty
}

# ---------------------------------------------------------------------------------------------
# Socket activation: with LISTEN_FDS=N and LISTEN_PID=<the runtime's own pid>, the runtime
# passes its fds 3..3+N-1 on and tells the container LISTEN_FDS=N and LISTEN_PID=1 (runc's
# behaviour; the container's process is pid 1 of its namespace). Preserved fds come after them.

# activated ARGS...: the runtime with LISTEN_FDS=1 and LISTEN_PID set to its own pid (sh execs
# it, keeping the pid), under the hang guard.
activated() {
	timeout -k 10 "$HUSK_TEST_TIMEOUT" sh -c 'LISTEN_FDS=1 LISTEN_PID=$$ exec "$@"' sh \
		"$RUNTIME" --root "$ROOT" "$@"
}

@test "socket activation: LISTEN_FDS descriptors are passed with LISTEN_FDS and LISTEN_PID=1" {
	echo activation-data >"$TEST_DIR/fd3"
	echo not-passed >"$TEST_DIR/fd4"
	set_args sh -c 'echo "[$LISTEN_FDS] [$LISTEN_PID]"; cat <&3; ls /proc/self/fd | xargs'
	run activated run --bundle "$BUNDLE" "$CID" 3<"$TEST_DIR/fd3" 4<"$TEST_DIR/fd4" </dev/null
	assert_success
	# fd 4 is not passed: ls's own directory fd takes 4.
	assert_output_equals $'[1] [1]\nactivation-data\n0 1 2 3 4'
	check_no_leftovers "$CID"
}

@test "socket activation: --preserve-fds counts after the LISTEN_FDS descriptors" {
	echo activation-data >"$TEST_DIR/fd3"
	echo preserved >"$TEST_DIR/fd4"
	echo not-passed >"$TEST_DIR/fd5"
	set_args sh -c 'echo "[$LISTEN_FDS]"; cat <&3; cat <&4; ls /proc/self/fd | xargs'
	run activated run --preserve-fds 1 --bundle "$BUNDLE" "$CID" \
		3<"$TEST_DIR/fd3" 4<"$TEST_DIR/fd4" 5<"$TEST_DIR/fd5" </dev/null
	assert_success
	assert_output_equals $'[1]\nactivation-data\npreserved\n0 1 2 3 4 5'
}

@test "socket activation: create passes the descriptors to the process that start runs" {
	echo activation-data >"$TEST_DIR/fd3"
	set_args sh -c 'echo "[$LISTEN_FDS] [$LISTEN_PID]" > /tmp/out; cat <&3 >> /tmp/out'
	status=0
	activated create --bundle "$BUNDLE" "$CID" 3<"$TEST_DIR/fd3" </dev/null >"$DETACHED_LOG" 2>&1 || status=$?
	output=$(cat "$DETACHED_LOG")
	assert_success
	run runtime start "$CID"
	assert_success
	wait_for_status "$CID" stopped
	[ "$(cat "$BUNDLE/rootfs/tmp/out")" = $'[1] [1]\nactivation-data' ]
}

@test "socket activation: LISTEN_PID of another process passes nothing" {
	echo activation-data >"$TEST_DIR/fd3"
	set_args sh -c 'echo "[${LISTEN_FDS-unset}] [${LISTEN_PID-unset}]"; ls /proc/self/fd | xargs'
	run timeout -k 10 "$HUSK_TEST_TIMEOUT" env LISTEN_FDS=1 LISTEN_PID=1 \
		"$RUNTIME" --root "$ROOT" run --bundle "$BUNDLE" "$CID" 3<"$TEST_DIR/fd3" </dev/null
	assert_success
	assert_output_equals $'[unset] [unset]\n0 1 2 3'
}

@test "socket activation does not apply to exec" {
	set_args sleep 600
	run_detached
	echo activation-data >"$TEST_DIR/fd3"
	run activated exec "$CID" sh -c 'echo "[${LISTEN_FDS-unset}]"; ls /proc/self/fd | xargs' 3<"$TEST_DIR/fd3" </dev/null
	assert_success
	assert_output_equals $'[unset]\n0 1 2 3'
}

# ---------------------------------------------------------------------------------------------
# NOTIFY_SOCKET: the runtime gives the container a notify socket of its own (runc binds
# ROOT/ID/notify/notify.sock and mounts its directory at /run/notify, setting NOTIFY_SOCKET
# to /run/notify/notify.sock), waits for the container's READY=1 and passes it on to the
# caller's NOTIFY_SOCKET with MAINPID=<the init's host pid> (two datagrams: "READY=1\n",
# "MAINPID=N\n"; other messages of the container, STATUS=... say, are not passed on).
# (runc 1.1.5 waits for READY=1 with no limit, so these containers always send it.)

# notify_setup: the listener on the host (tests/tools/sdnotify listen, its log in
# $TEST_DIR/notify.log) and the sender in the container's /bin.
notify_setup() {
	[ -x "$SDNOTIFY" ] || skip "the sd_notify helper $SDNOTIFY is not built"
	cp "$SDNOTIFY" "$BUNDLE/rootfs/bin/sdnotify"
	HOST_NOTIFY="$TEST_DIR/notify.sock"
	"$SDNOTIFY" listen "$HOST_NOTIFY" </dev/null >"$TEST_DIR/notify.log" 2>&1 3>&- &
	NOTIFY_PID=$!
	HOLDER_PIDS+=("$NOTIFY_PID")
	wait_for_file "$HOST_NOTIFY"
	set_args sh -c 'echo "$NOTIFY_SOCKET" > /tmp/notify-env
		[ -S "$NOTIFY_SOCKET" ] && echo socket >> /tmp/notify-env
		sdnotify send READY=1
		exec sleep 600'
}

# check_notified: what the container saw, and what reached the host's socket.
check_notified() {
	local pid
	pid=$(state_field "$CID" pid)
	wait_for_file "$TEST_DIR/notify.log" "MAINPID=" ||
		fail "nothing relayed; the container saw NOTIFY_SOCKET='$(cat "$BUNDLE/rootfs/tmp/notify-env" 2>/dev/null)'"
	grep -qx "READY=1" "$TEST_DIR/notify.log" || fail "no READY=1: $(cat "$TEST_DIR/notify.log")"
	grep -qx "MAINPID=$pid" "$TEST_DIR/notify.log" || fail "no MAINPID=$pid: $(cat "$TEST_DIR/notify.log")"
	# (runc sends READY=1 and then MAINPID; systemd takes them in either order.)
	# Inside: NOTIFY_SOCKET names a socket there.
	[ -n "$(sed -n 1p "$BUNDLE/rootfs/tmp/notify-env")" ]
	[ "$(sed -n 2p "$BUNDLE/rootfs/tmp/notify-env")" = socket ] ||
		fail "NOTIFY_SOCKET in the container is not a socket: $(cat "$BUNDLE/rootfs/tmp/notify-env")"
}

@test "NOTIFY_SOCKET: run -d relays the container's READY=1 and MAINPID" {
	notify_setup
	NOTIFY_SOCKET=$HOST_NOTIFY runtime_detached run -d --bundle "$BUNDLE" "$CID"
	assert_success
	check_notified
	run runtime delete --force "$CID"
	assert_success
	# (The listener's command line names the test directory: it would count as a leftover.)
	kill -9 "$NOTIFY_PID" 2>/dev/null || true
	wait "$NOTIFY_PID" 2>/dev/null || true
	check_no_leftovers "$CID"
}

@test "NOTIFY_SOCKET: create and start relay the container's READY=1 and MAINPID" {
	notify_setup
	NOTIFY_SOCKET=$HOST_NOTIFY runtime_detached create --bundle "$BUNDLE" "$CID"
	assert_success
	NOTIFY_SOCKET=$HOST_NOTIFY run runtime start "$CID"
	assert_success
	check_notified
}
