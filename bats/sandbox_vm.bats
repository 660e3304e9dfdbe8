#!/usr/bin/env bats
# Containers in real micro-VM sandboxes: QEMU boots the guest image (Debian's kernel and
# husk-agent as /init) and the container runs inside it. The image is built once per run
# with `husk sandbox build-image` into $HUSK_BUILD/sandbox-image (or $HUSK_SANDBOX_IMAGE);
# the guests boot under TCG, so each test here boots one guest and no more. husk's own
# feature: these tests skip against runc.

load helpers

case "$HUSK_BUILD" in
/*) ;;
*) [ -d "$HUSK_BUILD" ] || HUSK_BUILD="$BATS_TEST_DIRNAME/../$HUSK_BUILD" ;;
esac
HUSK_BUILD=$(cd "$HUSK_BUILD" && pwd)

setup_file() {
	[ -z "${IS_RUNC:-}" ] || return 0
	if [ -z "${HUSK_SANDBOX_IMAGE:-}" ]; then
		export HUSK_SANDBOX_IMAGE="$HUSK_BUILD/sandbox-image"
		"$RUNTIME" sandbox build-image --agent "$HUSK_BUILD/sandbox/agent/husk-agent" \
			--builder "$BATS_TEST_DIRNAME/../sandbox/image/build-image.sh" --out "$HUSK_SANDBOX_IMAGE" >&3 2>&1 ||
			echo "# the guest image could not be built" >&3
	fi
}

setup() {
	[ -z "${IS_RUNC:-}" ] || skip "VM sandboxes are husk's own"
	[ -s "$HUSK_SANDBOX_IMAGE/vmlinux" ] && [ -s "$HUSK_SANDBOX_IMAGE/initramfs.cpio" ] ||
		fail "no guest image in $HUSK_SANDBOX_IMAGE"
	command -v qemu-system-x86_64 >/dev/null || fail "qemu-system-x86_64 is not installed"
	setup_bundle
	# TCG: a KVM probe boot costs seconds once per host boot, and /dev/kvm may hang guests.
	export HUSK_CONFIG="$TEST_DIR/husk.yaml"
	printf 'sandbox:\n  image_dir: %s\n  accel: tcg\n' "$HUSK_SANDBOX_IMAGE" >"$HUSK_CONFIG"
	GUEST_RELEASE=$(cat "$HUSK_SANDBOX_IMAGE/kernel.release")
}

teardown() {
	teardown_bundle
	unset HUSK_CONFIG
	if [ -n "${NET_NS:-}" ]; then
		ip netns del "$NET_NS" 2>/dev/null || true
		ip link del "$NET_HOST_IF" 2>/dev/null || true
	fi
}

# No QEMU, monitor, state, mount or cgroup of the container is left.
assert_vm_gone() {
	assert_root_empty
	check_no_leftovers "$CID"
	run pgrep -f -- "qemu-system.*$ROOT"
	[ "$status" -ne 0 ] || fail "a QEMU of this test is still running: $output"
}

@test "sandbox vm: run streams stdin and output, shows the guest's kernel, and exits with the container's code" {
	set_args sh -c 'read line; echo "got $line"; uname -r; cat /proc/version; echo to-stderr >&2; seq 1 50000 | tail -n1; exit 7'
	[ "$GUEST_RELEASE" != "$(uname -r)" ] || skip "the guest kernel is the host's: uname cannot tell them apart"
	echo hello >"$TEST_DIR/stdin"
	status=0
	# With a log file, as containerd's shim runs husk: the VM's processes must not take its
	# descriptor for their own.
	runtime_raw --log "$TEST_DIR/husk.log" --log-format json --sandbox vm run --bundle "$BUNDLE" "$CID" \
		<"$TEST_DIR/stdin" >"$TEST_DIR/stdout" 2>"$TEST_DIR/stderr" || status=$?
	output=$(cat "$TEST_DIR/stdout")
	mapfile -t lines <"$TEST_DIR/stdout"
	assert_status 7
	[ "${lines[0]}" = "got hello" ] || fail "stdin did not arrive: ${lines[0]}"
	[ "${lines[1]}" = "$GUEST_RELEASE" ] || fail "uname -r in the guest: ${lines[1]}, want $GUEST_RELEASE"
	assert_output_contains "Linux version $GUEST_RELEASE"
	[ "${lines[-1]}" = 50000 ] || fail "the output's end: ${lines[-1]}"
	grep -qx to-stderr "$TEST_DIR/stderr" || fail "stderr did not come through: $(cat "$TEST_DIR/stderr")"
	assert_vm_gone
}

@test "sandbox vm: create, start, exec, ps, pause, resume, kill and delete; the memory limit is the guest's" {
	set_args sh -c 'echo started; exec sleep 1000'
	update_config '.linux.resources.memory.limit = 134217728'
	runtime_detached --sandbox vm create --bundle "$BUNDLE" "$CID"
	assert_success
	[ "$(state_field "$CID" status)" = created ]
	[ -f "$ROOT/$CID/sandbox.json" ] || fail "no sandbox record"
	# QEMU runs in the container's cgroup on the host.
	qemu=$(jq -r .qemu_pid "$ROOT/$CID/sandbox.json")
	grep -qE "^0::/(.*/)?$CID\$" "/proc/$qemu/cgroup" || fail "QEMU is not in the container's cgroup: $(cat "/proc/$qemu/cgroup")"
	[ -n "$(leftover_cgroups "$CID")" ] || fail "no cgroup directory named $CID"
	runtime start "$CID"
	assert_success
	wait_for_status "$CID" running

	run runtime exec "$CID" cat /sys/fs/cgroup/memory.max
	assert_success
	assert_output_equals 134217728
	# The guest has the limit plus husk's overhead, not the host's memory.
	run runtime exec "$CID" sh -c "awk '/MemTotal/ {print \$2}' /proc/meminfo"
	assert_success
	[ "$output" -gt 131072 ] && [ "$output" -lt 1048576 ] || fail "guest MemTotal $output kB"
	run runtime exec "$CID" sh -c 'exit 5'
	assert_status 5

	run runtime exec "$CID" sh -c 'kill -TERM $$'
	assert_status 143

	# Detached, a keeper on the host stands for the process: its pid goes to --pid-file, it
	# holds the stdio it was given, and a signal sent to it reaches the process.
	runtime exec -d --pid-file "$TEST_DIR/exec.pid" "$CID" sh -c 'echo exec-out; echo exec-err >&2; exec sleep 1000' \
		>"$TEST_DIR/exec.out" 2>"$TEST_DIR/exec.err"
	keeper=$(cat "$TEST_DIR/exec.pid")
	[ "$(cat "/proc/$keeper/comm")" = husk-keeper ] || fail "pid $keeper is not a keeper"
	run runtime ps "$CID"
	assert_success
	assert_output_contains "sleep 1000"
	[ "$(echo "$output" | grep -c 'sleep 1000')" = 2 ] || fail "expected two sleeps: $output"
	kill -TERM "$keeper"
	wait_for_exit "$keeper"
	grep -qx exec-out "$TEST_DIR/exec.out" || fail "exec stdout: $(cat "$TEST_DIR/exec.out")"
	grep -qx exec-err "$TEST_DIR/exec.err" || fail "exec stderr: $(cat "$TEST_DIR/exec.err")"
	run runtime ps "$CID"
	[ "$(echo "$output" | grep -c 'sleep 1000')" = 1 ] || fail "the exec'd sleep outlived its keeper: $output"
	# The container's own keeper is the pid state reports.
	[ "$(cat "/proc/$(state_field "$CID" pid)/comm")" = husk-keeper ] || fail "state's pid is not a keeper"

	runtime pause "$CID"
	[ "$(state_field "$CID" status)" = paused ]
	runtime resume "$CID"
	[ "$(state_field "$CID" status)" = running ]

	run runtime kill "$CID" KILL
	assert_success
	wait_for_status "$CID" stopped
	grep -q started "$DETACHED_LOG" || fail "the container's output did not reach create's stdout"
	run runtime delete "$CID"
	assert_success
	assert_vm_gone
}

@test "sandbox vm: a QEMU killed under a running container leaves a stopped container that deletes cleanly" {
	set_args sleep 1000
	runtime_detached --sandbox vm run -d --bundle "$BUNDLE" "$CID"
	assert_success
	wait_for_status "$CID" running
	qemu=$(jq -r .qemu_pid "$ROOT/$CID/sandbox.json")
	[ "$qemu" -gt 0 ] && process_alive "$qemu" || fail "no QEMU pid in sandbox.json"
	kill -KILL "$qemu"
	wait_for_status "$CID" stopped
	run runtime exec "$CID" true
	assert_failure
	run runtime delete "$CID"
	assert_success
	assert_vm_gone
}

@test "sandbox vm: a pod's containers share one VM and the sandbox's namespaces there" {
	# The sandbox, annotated with its own id as CRI does, then a member that names it and
	# joins its network, ipc and uts namespaces (host paths, replaced by the sandbox's in the
	# guest).
	set_args sleep 1000
	# CRI's sum of the pod's memory limits sizes the pod's VM: 320 MiB + 64 of overhead.
	update_config ".annotations[\"io.kubernetes.cri.sandbox-id\"] = \"$CID\"
		| .annotations[\"io.kubernetes.cri.sandbox-memory\"] = \"335544320\""
	runtime_detached --sandbox vm run -d --bundle "$BUNDLE" "$CID"
	assert_success
	[ "$(jq -r .memory_mib "$ROOT/$CID/sandbox.json")" = 384 ] ||
		fail "the pod's VM has $(jq -r .memory_mib "$ROOT/$CID/sandbox.json") MiB, want 384"
	member="$CID-m"
	mkdir -p "$TEST_DIR/member"
	cp -a "$BUNDLE/rootfs" "$TEST_DIR/member/rootfs"
	jq --arg sb "$CID" '.annotations["io.kubernetes.cri.sandbox-id"] = $sb
		| .process.args = ["sh", "-c", "echo member-out > /member-file; exec sleep 1000"]
		| .linux.namespaces |= map(if .type == "network" or .type == "ipc" or .type == "uts"
			then .path = "/proc/1/ns/" + .type else . end)' "$BUNDLE/config.json" >"$TEST_DIR/member/config.json"
	runtime_detached --sandbox vm run -d --bundle "$TEST_DIR/member" "$member"
	assert_success
	wait_for_status "$member" running

	run pgrep -f -- "qemu-system.*$ROOT"
	[ "$(echo "$output" | grep -c .)" = 1 ] || fail "expected one QEMU for the pod: $output"
	[ "$(jq -r .qemu_pid "$ROOT/$member/sandbox.json")" = "$(jq -r .qemu_pid "$ROOT/$CID/sandbox.json")" ] ||
		fail "the member has a QEMU of its own"
	run runtime exec "$CID" sh -c 'for n in net ipc uts mnt; do readlink /proc/self/ns/$n; done'
	assert_success
	sandbox_ns=("${lines[@]}")
	run runtime exec "$member" sh -c 'for n in net ipc uts mnt; do readlink /proc/self/ns/$n; done'
	assert_success
	[ "${lines[0]}" = "${sandbox_ns[0]}" ] && [ "${lines[1]}" = "${sandbox_ns[1]}" ] &&
		[ "${lines[2]}" = "${sandbox_ns[2]}" ] || fail "net/ipc/uts differ: ${lines[*]} vs ${sandbox_ns[*]}"
	[ "${lines[3]}" != "${sandbox_ns[3]}" ] || fail "the member shares the sandbox's mount namespace"
	# The member's root is its own bundle's rootfs, written through to the host.
	wait_for_file "$TEST_DIR/member/rootfs/member-file"
	[ "$(cat "$TEST_DIR/member/rootfs/member-file")" = member-out ] || fail "member-file: $(cat "$TEST_DIR/member/rootfs/member-file")"
	[ ! -e "$BUNDLE/rootfs/member-file" ] || fail "the member wrote into the sandbox's rootfs"

	# The member goes first, as CRI does it; the sandbox's VM stays.
	run runtime delete -f "$member"
	assert_success
	[ ! -e "$ROOT/$member" ] || fail "member state left"
	[ -z "$(mounts_under "$ROOT")" ] || fail "mounts left under the state root: $(mounts_under "$ROOT")"
	[ "$(state_field "$CID" status)" = running ] || fail "the sandbox stopped with its member"
	run runtime delete -f "$CID"
	assert_success
	check_no_leftovers "$member"
	assert_vm_gone
}

@test "sandbox vm: the interface of a joined network namespace is the guest's, through a tap and tc redirects" {
	# A network namespace as CNI leaves it: a veth with an address and a default route, its peer
	# on the host. Named ceth0: the guest's NIC (eth0 there) takes the host interface's name.
	NET_NS=husk-vmnet-$$
	NET_HOST_IF=hvmnet$$
	ip netns add "$NET_NS"
	ip link add name "$NET_HOST_IF" type veth peer name ceth0 netns "$NET_NS"
	ip addr add 10.231.7.1/24 dev "$NET_HOST_IF"
	ip link set "$NET_HOST_IF" up
	ip netns exec "$NET_NS" ip link set ceth0 mtu 1400
	ip netns exec "$NET_NS" ip addr add 10.231.7.2/24 dev ceth0
	ip netns exec "$NET_NS" ip link set ceth0 up
	ip netns exec "$NET_NS" ip route add default via 10.231.7.1
	mac=$(ip netns exec "$NET_NS" cat /sys/class/net/ceth0/address)
	update_config '.linux.namespaces |= map(if .type == "network" then .path = "/var/run/netns/'"$NET_NS"'" else . end)'
	# The container reports its interface and sends a line to a listener on the host's side.
	set_args sh -c 'cat /sys/class/net/ceth0/address /sys/class/net/ceth0/mtu; ip -4 addr show dev ceth0; ip route;
		echo hello-from-the-guest | timeout 5 nc 10.231.7.1 7777; exec sleep 1000'
	timeout 120 busybox nc -l -p 7777 >"$TEST_DIR/received" &
	listener=$!
	runtime_detached --sandbox vm run -d --bundle "$BUNDLE" "$CID"
	assert_success
	for _ in $(seq 1 120); do
		grep -q hello-from-the-guest "$TEST_DIR/received" && break
		sleep 0.5
	done
	kill "$listener" 2>/dev/null || true
	grep -q hello-from-the-guest "$TEST_DIR/received" || fail "nothing reached the host's listener: $(cat "$TEST_DIR/received")"
	# A second VM cannot take the same interface: refused before it boots, and the first keeps it.
	run runtime --sandbox vm create --bundle "$BUNDLE" "$CID-2"
	assert_failure
	assert_output_contains "has an ingress qdisc already"
	[ ! -e "$ROOT/$CID-2" ] || fail "the refused container left state"
	# The host reaches the guest: the veth passes what it receives to the tap.
	busybox ping -c 1 -W 10 10.231.7.2 || fail "the guest does not answer a ping"
	# A tap in the namespace, redirects both ways.
	ip netns exec "$NET_NS" ip link show husktap0 || fail "no tap in the namespace"
	run ip netns exec "$NET_NS" tc filter show dev ceth0 ingress
	assert_output_contains "Egress Redirect to device husktap0"
	run runtime exec "$CID" cat /sys/class/net/ceth0/address
	assert_success
	[ "$output" = "$mac" ] || fail "the guest's ceth0 has MAC $output, want $mac"
	run runtime exec "$CID" ip route
	assert_output_contains "default via 10.231.7.1 dev ceth0"
	run runtime exec "$CID" cat /sys/class/net/ceth0/mtu
	[ "$output" = 1400 ] || fail "the guest's MTU: $output"
	run runtime delete -f "$CID"
	assert_success
	assert_vm_gone
	run ip netns exec "$NET_NS" ip link show husktap0
	[ "$status" -ne 0 ] || fail "the tap outlived the VM: $output"
	run ip netns exec "$NET_NS" tc qdisc show dev ceth0 ingress
	[ -z "$output" ] || fail "the ingress redirect outlived the VM: $output"
}

@test "sandbox vm: a network namespace path that is no network namespace, or the host's, is refused before a VM boots" {
	touch "$TEST_DIR/not-a-netns"
	update_config '.linux.namespaces |= map(if .type == "network" then .path = "'"$TEST_DIR/not-a-netns"'" else . end)'
	run runtime --sandbox vm create --bundle "$BUNDLE" "$CID"
	assert_failure
	assert_output_contains "enter network namespace $TEST_DIR/not-a-netns: not a network namespace"
	assert_vm_gone
	# Nor the host's own: its interfaces are not a VM's to take.
	update_config '.linux.namespaces |= map(if .type == "network" then .path = "/proc/'"$$"'/ns/net" else . end)'
	run runtime --sandbox vm create --bundle "$BUNDLE" "$CID"
	assert_failure
	assert_output_contains "is the host's: a VM cannot take over the host's network"
	assert_vm_gone
}

@test "sandbox vm: terminals: the pty master to --console-socket, input, consoleSize, and exec -t on the caller's terminal" {
	recvtty=${HUSK_RECVTTY:-"$HUSK_BUILD/tests/recvtty"}
	[ -x "$recvtty" ] || fail "the console socket receiver $recvtty is missing (build first)"
	update_config '.process.terminal = true | .process.consoleSize = {"height": 37, "width": 111}'
	set_args sh -c 'tty; stty size; read line; echo "got:$line"; exec sleep 1000'
	"$recvtty" "$TEST_DIR/console.sock" --input $'typed-text\n' </dev/null >"$TEST_DIR/tty.out" 2>"$TEST_DIR/tty.err" 3>&- &
	HOLDER_PIDS+=("$!")
	wait_for_file "$TEST_DIR/console.sock"
	runtime_detached --sandbox vm run -d --console-socket "$TEST_DIR/console.sock" --bundle "$BUNDLE" "$CID"
	assert_success
	for _ in $(seq 1 120); do
		grep -q 'got:typed-text' "$TEST_DIR/tty.out" && break
		sleep 0.5
	done
	output=$(tr -d '\r' <"$TEST_DIR/tty.out")
	assert_output_contains "got:typed-text"
	# (The guest's terminal echoes the input, maybe before the first line.)
	assert_output_matches '^/dev/pts/[0-9]+$'
	grep -qx '37 111' <<<"$output" || fail "the guest's terminal size: $output"
	# exec -t in the foreground: the caller's terminal (script(1)), its size, the exit code.
	status=0
	timeout -k 10 "$HUSK_TEST_TIMEOUT" script -qec "stty rows 33 cols 77; $(printf '%q ' "$RUNTIME" --root "$ROOT") exec -t $CID sh -c 'tty; stty size; exit 4'; echo rc=\$?" /dev/null \
		</dev/null >"$TEST_DIR/script.out" 2>&1 3>&- || status=$?
	# (Without the "^@" a terminal echoes when script's input ends, as in terminal.bats.)
	output=$(tr -d '\r\0' <"$TEST_DIR/script.out" | sed 's/\^@//g')
	assert_output_contains "33 77"
	assert_output_contains "rc=4"
	assert_output_matches '^/dev/pts/[0-9]+$'
	run runtime delete -f "$CID"
	assert_success
	assert_vm_gone
}

@test "sandbox vm: run with a terminal in the foreground: the caller's terminal, its size, and a resize" {
	mkdir -p "$TEST_DIR/shared"
	update_config '.process.terminal = true | .mounts += [{"destination": "/shared", "type": "bind", "source": "'"$TEST_DIR/shared"'", "options": ["rbind", "rw"]}]'
	# The container prints its size, says so through a shared directory, and waits (bounded)
	# for the size to change: the host resizes its terminal once it has seen the file.
	set_args sh -c 'stty size; touch /shared/ready; i=0
		while [ $i -lt 200 ]; do
			s=$(stty size)
			[ "$s" != "30 90" ] && break
			sleep 0.1
			i=$((i + 1))
		done
		echo "now $s"; exit 6'
	status=0
	timeout -k 10 "$HUSK_TEST_TIMEOUT" script -qec "stty rows 30 cols 90
		(while [ ! -e $TEST_DIR/shared/ready ]; do sleep 0.1; done; stty rows 40 cols 100 </dev/tty) &
		$(printf '%q ' "$RUNTIME" --root "$ROOT") --sandbox vm run --bundle $BUNDLE $CID; echo rc=\$?" /dev/null \
		</dev/null >"$TEST_DIR/script.out" 2>&1 3>&- || status=$?
	output=$(tr -d '\r\0' <"$TEST_DIR/script.out" | sed 's/\^@//g')
	grep -qx '30 90' <<<"$output" || fail "the container did not start with the caller's size: $output"
	assert_output_contains "now 40 100"
	assert_output_contains "rc=6"
	assert_vm_gone
}
