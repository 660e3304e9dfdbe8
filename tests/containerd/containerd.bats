#!/usr/bin/env bats
# Containers run through containerd with `ctr run --runtime $HUSK_CTD_RUNTIME`: the calls a
# shim gets from containerd in daily use (create, start, wait, exec, pause, resume, kill, ps,
# stats, close-io, resize, delete, shutdown) and the events it must publish. Every test must
# also pass with HUSK_CTD_RUNTIME=io.containerd.runc.v2 (containerd's own runc shim): that is
# how we know a test checks what containerd relies on. Run through tests/containerd/run.sh.

load helpers

teardown() {
	cleanup
}

# in_pty ROWS COLS CMD...: runs CMD with a pseudo-terminal as its stdin and stdout, as `ctr run
# -t` insists on (script(1) makes one; the tests have no terminal of their own). The pty gets
# a window size first: script leaves it 0x0 when its own input is not a terminal.
in_pty() {
	local rows=$1 cols=$2 cmd fifo="$BATS_TEST_TMPDIR/pty-stdin"
	shift 2
	cmd=$(printf '%q ' "$@")
	# script's input is a fifo opened read-write, so it never sees end of file: at end of its
	# input script types an EOF character into the pty, which ctr (terminal in raw mode) would
	# pass on into the container's terminal, where it is echoed into the output.
	[ -p "$fifo" ] || mkfifo "$fifo"
	script -qefc "stty rows $rows cols $cols; exec $cmd" /dev/null <>"$fifo"
}

# Run inside the container: prints the tty, then its size once it is set. ctr sends the size
# (a Resize call to the shim) only after the process has started, so the process waits for it.
# busybox's stty prints nothing on stdout while the size is 0x0.
SHOW_TTY='tty; i=0; while [ -z "$(stty size 2>/dev/null)" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done; stty size'

@test "run --rm: output and exit status 0" {
	local id
	id=$(new_id hello)
	run ctr_run --rm "$IMAGE" "$id" echo hello
	assert_success
	[ "$output" = hello ] || fail "output is '$output', expected 'hello'"
	[ -z "$(task_status "$id")" ] || fail "task $id still listed after run --rm"
}

@test "run --rm: the process's exit status and stderr" {
	local id
	id=$(new_id exit3)
	run ctr_run --rm "$IMAGE" "$id" sh -c 'echo to-stderr >&2; exit 3'
	assert_status 3
	assert_output_line to-stderr
}

@test "exec: output, exit status, and the container's pid namespace" {
	local id
	id=$(new_id exec)
	start_detached "$id" sleep 1000

	run ctr_ task exec --exec-id e1 "$id" sh -c 'echo in-exec'
	assert_success
	[ "$output" = in-exec ] || fail "output is '$output', expected 'in-exec'"

	run ctr_ task exec --exec-id e2 "$id" sh -c 'echo failing >&2; exit 5'
	assert_status 5
	assert_output_line failing

	# The exec joined the container: its pid 1 is the container's sleep.
	run ctr_ task exec --exec-id e3 "$id" cat /proc/1/comm
	assert_success
	assert_output_line sleep

	# An exec id may be used again once its process is gone.
	run ctr_ task exec --exec-id e1 "$id" true
	assert_success
	[ "$(task_status "$id")" = RUNNING ] || fail "task $id is not RUNNING after the execs"
}

@test "task ls, pause and resume" {
	local id
	id=$(new_id pause)
	start_detached "$id" sleep 1000
	[ -n "$(task_pid "$id")" ] || fail "ctr task ls shows no pid for $id"

	run ctr_ task pause "$id"
	assert_success
	[ "$(task_status "$id")" = PAUSED ] || fail "task $id is '$(task_status "$id")' after pause"

	run ctr_ task resume "$id"
	assert_success
	[ "$(task_status "$id")" = RUNNING ] || fail "task $id is '$(task_status "$id")' after resume"

	# Resumed for real: the container still runs processes.
	run ctr_ task exec --exec-id e1 "$id" echo alive
	assert_success
	assert_output_line alive
}

@test "kill with SIGTERM: a shell that traps it exits with its own status" {
	local id pid
	id=$(new_id term)
	start_detached "$id" sh -c 'trap "exit 7" TERM; sleep 1000 & wait'
	pid=$(task_pid "$id")
	# The shell forks sleep only after it has set the trap; before that, SIGTERM to a pid 1
	# with no handler would be ignored.
	wait_for_child "$pid"

	run ctr_ task kill "$id"
	assert_success
	wait_for_status "$id" STOPPED

	# ctr reports the exit status the shim returns from Delete.
	run ctr_ task rm "$id"
	assert_success
	assert_output_contains "exit code 7"
	[ -z "$(task_status "$id")" ] || fail "task $id still listed after task rm"

	run ctr_ containers rm "$id"
	assert_success
	run ctr_ containers ls -q
	assert_success
	! grep -qxF "$id" <<<"$output" || fail "container $id still listed after containers rm"
}

@test "kill with SIGKILL: STOPPED with status 137" {
	local id
	id=$(new_id sigkill)
	start_detached "$id" sleep 1000

	run ctr_ task kill -s SIGKILL "$id"
	assert_success
	wait_for_status "$id" STOPPED

	run ctr_ task rm "$id"
	assert_success
	assert_output_contains "exit code 137"
	run ctr_ containers rm "$id"
	assert_success
}

@test "task ps lists the init process and its children" {
	local id pid child
	id=$(new_id ps)
	start_detached "$id" sh -c 'sleep 1000 & exec sleep 1001'
	pid=$(task_pid "$id")
	wait_for_child "$pid"
	child=$(pgrep -P "$pid")

	run ctr_ task ps "$id"
	assert_success
	[ "$(head -n1 <<<"$output" | awk '{ print $1 }')" = PID ] || fail "no header line: $output"
	awk 'NR > 1 { print $1 }' <<<"$output" | grep -qxF "$pid" || fail "init pid $pid not listed: $output"
	awk 'NR > 1 { print $1 }' <<<"$output" | grep -qxF "$child" || fail "child pid $child not listed: $output"
	[ "$(awk 'NR > 1' <<<"$output" | wc -l)" -eq 2 ] || fail "expected 2 processes: $output"
}

@test "tty: run --rm -t gets a terminal of the right size" {
	local id
	id=$(new_id tty)
	run in_pty 24 80 timeout -k 5 "$CTR_TIMEOUT" ctr --address "$CTR_ADDRESS" --namespace "$CTR_NAMESPACE" \
		run --runtime "$HUSK_CTD_RUNTIME" --rm -t "$IMAGE" "$id" sh -c "$SHOW_TTY; exit 4"
	assert_status 4
	assert_output_contains /dev/pts/
	assert_output_line "24 80"
}

@test "tty: exec -t gets a terminal of the right size" {
	local id
	id=$(new_id ttyexec)
	start_detached "$id" sleep 1000
	run in_pty 30 100 timeout -k 5 "$CTR_TIMEOUT" ctr --address "$CTR_ADDRESS" --namespace "$CTR_NAMESPACE" \
		task exec -t --exec-id t1 "$id" sh -c "$SHOW_TTY"
	assert_success
	assert_output_contains /dev/pts/
	assert_output_line "30 100"
}

@test "stdin: data reaches the process, then end of file" {
	local id
	id=$(new_id stdin)
	# ctr run always attaches its stdin; at end of input it asks the shim to close the
	# container's stdin (CloseIO). Without that, cat would wait forever. The input comes only
	# once the task runs: ctr 1.6 drops the CloseIO when its input ends before the task is
	# created (it has no task to call yet), whatever the shim does.
	run ctr_run --rm "$IMAGE" "$id" sh -c 'cat; echo eof' \
		< <(exec 3>&-; wait_for_status "$id" RUNNING >/dev/null 2>&1; printf 'data\nline2\n')
	assert_success
	[ "$output" = "$(printf 'data\nline2\neof')" ] || fail "output is '$output'"
}

@test "task metrics: memory and pids of the task's cgroup" {
	local id
	id=$(new_id metrics)
	start_detached "$id" sh -c 'sleep 1000 & exec sleep 1001'
	wait_for_child "$(task_pid "$id")"

	# ctr decodes the shim's stats as cgroup v1 metrics (memory.usage_in_bytes) or v2 ones
	# (memory.usage), depending on the type the shim sends.
	run ctr_ task metrics "$id"
	assert_success
	grep -qE '^memory\.usage(_in_bytes)?[[:space:]]+[1-9][0-9]*[[:space:]]*$' <<<"$output" ||
		fail "no memory usage line: $output"
	grep -qE '^pids\.current[[:space:]]+2[[:space:]]*$' <<<"$output" ||
		fail "no 'pids.current 2' line: $output"

	run ctr_ task metrics --format json "$id"
	assert_success
	jq -e '.pids.current == 2' <<<"$output" >/dev/null || fail "pids.current is not 2: $output"
}

@test "delete leaves no shim, mount, cgroup or process behind" {
	local id pid
	id=$(new_id gone)
	start_detached "$id" sleep 1000
	pid=$(task_pid "$id")

	# First make sure each check can see the thing while it exists.
	[ -n "$(shim_pids "$id")" ] || fail "no shim process found for $id"
	[ -n "$(rootfs_mounts "$id")" ] || fail "no rootfs mount found for $id"
	[ -n "$(cgroup_dirs "$id")" ] || fail "no cgroup found for $id"
	alive "$pid" || fail "task process $pid not found"

	run ctr_ task kill -s SIGKILL "$id"
	assert_success
	wait_for_status "$id" STOPPED
	run ctr_ task rm "$id"
	assert_success
	run ctr_ containers rm "$id"
	assert_success

	wait_for_no_shim "$id"
	[ -z "$(rootfs_mounts "$id")" ] || fail "rootfs still mounted: $(rootfs_mounts "$id")"
	[ -z "$(cgroup_dirs "$id")" ] || fail "cgroups left: $(cgroup_dirs "$id")"
	! alive "$pid" || fail "task process $pid still alive"
	[ ! -e "$(bundle_dir "$id")" ] || fail "bundle left: $(bundle_dir "$id")"
}

@test "run --rm leaves no shim, mount, cgroup or bundle behind" {
	local id
	id=$(new_id rmgone)
	run ctr_run --rm "$IMAGE" "$id" true
	assert_success

	wait_for_no_shim "$id"
	[ -z "$(rootfs_mounts "$id")" ] || fail "rootfs still mounted: $(rootfs_mounts "$id")"
	[ -z "$(cgroup_dirs "$id")" ] || fail "cgroups left: $(cgroup_dirs "$id")"
	[ ! -e "$(bundle_dir "$id")" ] || fail "bundle left: $(bundle_dir "$id")"
	run ctr_ containers ls -q
	! grep -qxF "$id" <<<"$output" || fail "container $id still listed"
}

@test "events: create, start, exit, delete for a run" {
	local id ev="$BATS_TEST_TMPDIR/events" events
	id=$(new_id events)
	events_start "$ev"

	run ctr_run --rm "$IMAGE" "$id" true
	assert_success
	wait_for_event "$ev" "$id" /tasks/delete

	events=$(task_events "$ev" "$id")
	run jq -r .topic <<<"$events"
	[ "$output" = "$(printf '%s\n' /tasks/create /tasks/start /tasks/exit /tasks/delete)" ] ||
		fail "topics in order: $output"
	# One pid throughout, the init's; the exit event names the init by the container id.
	jq -se 'map(.event.pid) | unique | length == 1 and .[0] > 0' <<<"$events" >/dev/null ||
		fail "pids differ: $events"
	jq -se --arg id "$id" '.[2].event.id == $id and (.[2].event.exit_status // 0) == 0' \
		<<<"$events" >/dev/null || fail "exit event: $events"
	jq -se --arg b "$(bundle_dir "$id")" '.[0].event.bundle == $b' <<<"$events" >/dev/null ||
		fail "create event bundle: $events"
}

@test "events: exec, pause, resume, kill" {
	local id ev="$BATS_TEST_TMPDIR/events" events
	id=$(new_id events2)
	events_start "$ev"

	start_detached "$id" sleep 1000
	run ctr_ task exec --exec-id x1 "$id" sh -c 'exit 2'
	assert_status 2
	run ctr_ task pause "$id"
	assert_success
	run ctr_ task resume "$id"
	assert_success
	run ctr_ task kill -s SIGKILL "$id"
	assert_success
	wait_for_status "$id" STOPPED
	run ctr_ task rm "$id"
	assert_success
	wait_for_event "$ev" "$id" /tasks/delete

	events=$(task_events "$ev" "$id")
	run jq -r .topic <<<"$events"
	[ "$output" = "$(printf '%s\n' /tasks/create /tasks/start /tasks/exec-added \
		/tasks/exec-started /tasks/exit /tasks/paused /tasks/resumed /tasks/exit \
		/tasks/delete)" ] || fail "topics in order: $output"
	jq -se '.[2].event.exec_id == "x1" and .[3].event.exec_id == "x1"' <<<"$events" >/dev/null ||
		fail "exec events: $events"
	jq -se '.[4].event.id == "x1" and .[4].event.exit_status == 2' <<<"$events" >/dev/null ||
		fail "exec exit event: $events"
	jq -se --arg id "$id" '.[7].event.id == $id and .[7].event.exit_status == 137
		and .[8].event.exit_status == 137' <<<"$events" >/dev/null ||
		fail "task exit and delete events: $events"
}

@test "two containers at once are independent" {
	local a b pa pb
	a=$(new_id a)
	b=$(new_id b)
	start_detached "$a" sleep 1000
	start_detached "$b" sleep 1000
	pa=$(task_pid "$a")
	pb=$(task_pid "$b")
	[ "$pa" != "$pb" ] || fail "both tasks have pid $pa"

	# Separate root filesystems.
	run ctr_ task exec --exec-id w "$a" sh -c 'echo from-a > /tmp/mark'
	assert_success
	run ctr_ task exec --exec-id r "$b" test -e /tmp/mark
	assert_status 1
	run ctr_ task exec --exec-id r "$a" cat /tmp/mark
	assert_success
	assert_output_line from-a

	# Killing one leaves the other running and usable.
	run ctr_ task kill -s SIGKILL "$a"
	assert_success
	wait_for_status "$a" STOPPED
	[ "$(task_status "$b")" = RUNNING ] || fail "task $b is '$(task_status "$b")'"
	run ctr_ task exec --exec-id after "$b" echo still-here
	assert_success
	assert_output_line still-here
	alive "$pb" || fail "task process $pb of $b is gone"
}

@test "the containers of a pod share the sandbox's shim" {
	local sb c pid_sb pid_c
	sb=$(new_id sandbox)
	c=$(new_id member)
	# What CRI puts on every container of a pod: the sandbox's id (on the sandbox itself too).
	run ctr_run -d --annotation "io.kubernetes.cri.sandbox-id=$sb" "$IMAGE" "$sb" sleep 1000
	assert_success
	wait_for_status "$sb" RUNNING
	run ctr_run -d --annotation "io.kubernetes.cri.sandbox-id=$sb" "$IMAGE" "$c" sleep 1000
	assert_success
	wait_for_status "$c" RUNNING

	[ "$(shim_pids "$sb" | wc -l)" = 1 ] || fail "expected one shim for the pod: $(shim_pids "$sb" | xargs)"
	[ -z "$(shim_pids "$c")" ] || fail "the member has a shim of its own: $(shim_pids "$c" | xargs)"
	[ "$(cat "$(bundle_dir "$c")/address")" = "$(cat "$(bundle_dir "$sb")/address")" ] ||
		fail "the member's shim address differs from the sandbox's"

	# Both are served: exec in the member, then the member goes first, as CRI does it.
	run ctr_ task exec --exec-id x "$c" echo member
	assert_success
	[ "$output" = member ] || fail "exec output is '$output'"
	pid_c=$(task_pid "$c")
	run ctr_ task kill -s SIGKILL "$c"
	assert_success
	wait_for_status "$c" STOPPED
	run ctr_ task rm "$c"
	assert_success
	! alive "$pid_c" || fail "member process $pid_c still alive"
	# The shim stays for the sandbox.
	[ "$(shim_pids "$sb" | wc -l)" = 1 ] || fail "the pod's shim went away with the member"
	[ "$(task_status "$sb")" = RUNNING ] || fail "sandbox is $(task_status "$sb")"

	pid_sb=$(task_pid "$sb")
	run ctr_ task kill -s SIGKILL "$sb"
	assert_success
	wait_for_status "$sb" STOPPED
	run ctr_ task rm "$sb"
	assert_success
	wait_for_no_shim "$sb"
	! alive "$pid_sb" || fail "sandbox process $pid_sb still alive"
}

@test "oom: a task over its memory limit is killed, and /tasks/oom is published" {
	local id ev="$BATS_TEST_TMPDIR/events"
	id=$(new_id oom)
	events_start "$ev"
	# dd allocates its 64 MiB block at once: over the 32 MiB limit, the kernel kills it.
	run ctr_run --rm --memory-limit 33554432 "$IMAGE" "$id" dd if=/dev/zero of=/dev/null bs=64M count=1
	assert_status 137
	wait_for_event "$ev" "$id" /tasks/oom
}

@test "a shim killed with its container running: containerd cleans up through delete" {
	local id pid shim
	id=$(new_id crash)
	start_detached "$id" sleep 1000
	pid=$(task_pid "$id")
	shim=$(shim_pids "$id")
	[ -n "$shim" ] || fail "no shim process found for $id"
	kill -9 $shim
	# containerd sees the shim go, runs `<shim> -id ID -bundle DIR delete` and drops the task.
	poll_until no_task "$id"
	[ -z "$(task_status "$id")" ] || fail "task $id still listed as $(task_status "$id")"
	poll_until dead "$pid"
	! alive "$pid" || fail "container process $pid outlived the cleanup"
	# containerd drops the task before the shim binary's delete has finished: give the
	# unmount and the runtime's cgroup removal the polling budget.
	poll_until no_mount_or_cgroup "$id"
	[ -z "$(rootfs_mounts "$id")" ] || fail "rootfs still mounted: $(rootfs_mounts "$id")"
	[ -z "$(cgroup_dirs "$id")" ] || fail "cgroups left: $(cgroup_dirs "$id")"
	run ctr_ containers rm "$id"
	assert_success
}

# vm_shim_config: a shim config that puts containers in micro-VMs (what a RuntimeClass
# "husk-vm" names as its ConfigPath), in $VM_SHIM_CONFIG. Skips unless the shim under test is
# husk's over husk: a VM is husk's own.
vm_shim_config() {
	[ "$HUSK_CTD_RUNTIME" = io.containerd.husk.v2 ] || skip "micro-VMs are husk's own"
	local husk
	husk=$(sed -n 's/^runtime: *//p' "${HUSK_SHIM_CONFIG:-/dev/null}" 2>/dev/null)
	[ "$(basename "${husk:-x}")" = husk ] || skip "the shim's runtime is not husk"
	local image=${HUSK_SANDBOX_IMAGE:-"$BATS_TEST_DIRNAME/../../build/sandbox-image"}
	[ -s "$image/vmlinux" ] || fail "no guest image in $image (husk sandbox build-image)"
	GUEST_RELEASE=$(cat "$image/kernel.release")
	printf 'sandbox:\n  image_dir: %s\n  accel: tcg\n' "$image" >"$BATS_TEST_TMPDIR/husk.yaml"
	VM_SHIM_CONFIG="$BATS_TEST_TMPDIR/shim-vm.yaml"
	printf 'runtime: %s\nsandbox: vm\nsandbox_config: %s\n' "$husk" "$BATS_TEST_TMPDIR/husk.yaml" >"$VM_SHIM_CONFIG"
}

@test "a container in a micro-VM through the shim: output, exit status, exec, kill, and nothing left" {
	vm_shim_config
	local id pid CTR_TIMEOUT=120
	id=$(new_id vm)
	run ctr_run --rm --runtime-config-path "$VM_SHIM_CONFIG" "$IMAGE" "$id" sh -c 'uname -r; echo to-stderr >&2; exit 3'
	assert_status 3
	assert_output_line "$GUEST_RELEASE"
	assert_output_line to-stderr
	[ "$GUEST_RELEASE" != "$(uname -r)" ] || fail "the guest's kernel is the host's: cannot tell"
	wait_for_no_shim "$id"
	! pgrep -f "qemu-system.*$id" >/dev/null || fail "a QEMU of $id is still running"

	id=$(new_id vmd)
	run ctr_run -d --runtime-config-path "$VM_SHIM_CONFIG" "$IMAGE" "$id" sleep 1000
	assert_success
	wait_for_status "$id" RUNNING
	pid=$(task_pid "$id")
	pgrep -f "qemu-system.*$id" >/dev/null || fail "no QEMU for $id"
	run ctr_ task exec --exec-id x "$id" sh -c 'echo in-vm; uname -r; exit 4'
	assert_status 4
	assert_output_line in-vm
	assert_output_line "$GUEST_RELEASE"
	run ctr_ task kill -s SIGKILL "$id"
	assert_success
	wait_for_status "$id" STOPPED
	run ctr_ task rm "$id"
	assert_success
	run ctr_ containers rm "$id"
	assert_success
	wait_for_no_shim "$id"
	! alive "$pid" || fail "the task's keeper $pid is still alive"
	! pgrep -f "qemu-system.*$id" >/dev/null || fail "a QEMU of $id is still running"
	[ -z "$(rootfs_mounts "$id")" ] || fail "rootfs still mounted: $(rootfs_mounts "$id")"
	[ ! -e "$(bundle_dir "$id")" ] || fail "bundle left: $(bundle_dir "$id")"
}

@test "a pod in one micro-VM through the shim: the sandbox's VM holds the member" {
	vm_shim_config
	local sb c CTR_TIMEOUT=120
	sb=$(new_id vmpod)
	c=$(new_id vmmember)
	run ctr_run -d --runtime-config-path "$VM_SHIM_CONFIG" --annotation "io.kubernetes.cri.sandbox-id=$sb" \
		"$IMAGE" "$sb" sleep 1000
	assert_success
	wait_for_status "$sb" RUNNING
	run ctr_run -d --runtime-config-path "$VM_SHIM_CONFIG" --annotation "io.kubernetes.cri.sandbox-id=$sb" \
		"$IMAGE" "$c" sh -c 'echo member > /member-file; exec sleep 1000'
	assert_success
	wait_for_status "$c" RUNNING
	[ "$(shim_pids "$sb" | wc -l)" = 1 ] || fail "expected one shim for the pod"
	[ "$(pgrep -f "qemu-system.*$sb" | wc -l)" = 1 ] || fail "expected one QEMU for the pod"
	! pgrep -f "qemu-system.*$c" >/dev/null || fail "the member has a QEMU of its own"

	run ctr_ task exec --exec-id x "$c" sh -c 'cat /member-file; uname -r'
	assert_success
	assert_output_line member
	assert_output_line "$GUEST_RELEASE"
	# The member goes first, as CRI does it; the sandbox's VM stays.
	run ctr_ task kill -s SIGKILL "$c"
	assert_success
	wait_for_status "$c" STOPPED
	run ctr_ task rm "$c"
	assert_success
	[ "$(task_status "$sb")" = RUNNING ] || fail "sandbox is $(task_status "$sb")"
	run ctr_ task kill -s SIGKILL "$sb"
	assert_success
	wait_for_status "$sb" STOPPED
	run ctr_ task rm "$sb"
	assert_success
	wait_for_no_shim "$sb"
	! pgrep -f "qemu-system.*$sb" >/dev/null || fail "the pod's QEMU is still running"
	[ -z "$(rootfs_mounts "$c")" ] || fail "member rootfs still mounted: $(rootfs_mounts "$c")"
}

@test "a micro-VM container with a terminal through the shim: the guest's pty, resized by ctr" {
	vm_shim_config
	local id CTR_TIMEOUT=120
	id=$(new_id vmtty)
	run in_pty 27 93 timeout -k 5 "$CTR_TIMEOUT" ctr --address "$CTR_ADDRESS" --namespace "$CTR_NAMESPACE" \
		run --runtime "$HUSK_CTD_RUNTIME" --runtime-config-path "$VM_SHIM_CONFIG" --rm -t "$IMAGE" "$id" \
		sh -c "uname -r; $SHOW_TTY; exit 4"
	assert_status 4
	assert_output_contains /dev/pts/
	assert_output_line "27 93"
	assert_output_line "$GUEST_RELEASE"
	wait_for_no_shim "$id"
	! pgrep -f "qemu-system.*$id" >/dev/null || fail "a QEMU of $id is still running"
}
