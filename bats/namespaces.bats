#!/usr/bin/env bats
# Namespaces: new ones, joined ones, and what is configured inside them (hostname, domainname,
# sysctls, id mappings, time offsets).

load helpers

setup() {
	setup_bundle
}

teardown() {
	teardown_bundle
}

@test "the container process is PID 1 of its own pid namespace" {
	run_in_container sh -c 'echo $$; cut -d" " -f1 /proc/self/stat; readlink /proc/self/ns/pid'
	assert_success
	[ "$(sed -n 1p <<<"$output")" = 1 ]
	# /proc is the container's own: the reading process is not PID 1 there, but low-numbered.
	[ "$(sed -n 2p <<<"$output")" -lt 10 ]
	[ "$(sed -n 3p <<<"$output")" != "$(host_ns pid)" ]
}

@test "only the container's processes are visible in its /proc" {
	run_in_container sh -c 'ls -d /proc/[0-9]* | wc -l'
	assert_success
	# sh, plus ls and wc (or the subshell): a handful, not the host's processes.
	[ "$output" -lt 6 ]
}

@test "hostname comes from the config" {
	update_config '.hostname = "husk-host.example"'
	run_in_container hostname
	assert_success
	assert_output_equals "husk-host.example"
	# The host's name is untouched.
	[ "$(hostname)" != "husk-host.example" ]
}

@test "domainname comes from the config" {
	[ -n "$IS_RUNC" ] && skip "runc 1.1.5 ignores the domainname field"
	update_config '.domainname = "husk.example.org"'
	run_in_container cat /proc/sys/kernel/domainname
	assert_success
	assert_output_equals "husk.example.org"
	[ "$(cat /proc/sys/kernel/domainname)" != "husk.example.org" ]
}

@test "uts, ipc, net, mount and pid namespaces are new" {
	run_in_container sh -c 'for t in uts ipc net mnt pid; do readlink /proc/self/ns/$t; done'
	assert_success
	local t i=1
	for t in uts ipc net mnt pid; do
		local inside
		inside=$(sed -n "${i}p" <<<"$output")
		[[ "$inside" == "$t:["* ]] || fail "no $t namespace link inside: '$inside'"
		[ "$inside" != "$(host_ns "$t")" ] || fail "$t namespace is the host's"
		i=$((i + 1))
	done
}

@test "namespaces not in the config are shared with the host" {
	update_config 'del(.hostname) | .linux.namespaces = [{"type": "mount"}, {"type": "pid"}]'
	run_in_container sh -c 'for t in uts ipc net; do readlink /proc/self/ns/$t; done'
	assert_success
	[ "$(sed -n 1p <<<"$output")" = "$(host_ns uts)" ]
	[ "$(sed -n 2p <<<"$output")" = "$(host_ns ipc)" ]
	[ "$(sed -n 3p <<<"$output")" = "$(host_ns net)" ]
}

@test "a new network namespace has only loopback, and it is up" {
	run_in_container cat /sys/class/net/lo/operstate /proc/net/dev
	assert_success
	# operstate of lo is "unknown" when up (it has no carrier); "down" when not.
	[ "$(sed -n 1p <<<"$output")" != down ]
	[ "$(grep -c ':' <<<"$(sed -n '2,$p' <<<"$output")")" = 1 ]
	grep -q '^ *lo:' <<<"$output"
}

@test "a new network namespace can reach itself on loopback" {
	# busybox nc: listen once (only loopback exists here), connect from the same container.
	run_in_container sh -c '
		nc -l -p 7777 > /tmp/got &
		listener=$!
		sent=
		for i in $(seq 100); do
			# The client keeps its stdin open a moment: one CI run in many saw the listener
			# get nothing when the client saw end of input at once.
			{ echo hello; sleep 0.2; } | nc 127.0.0.1 7777 2>/dev/null && { sent=1; break; }
			sleep 0.05
		done
		[ -n "$sent" ] || { kill $listener; echo "could not connect"; exit 1; }
		wait; cat /tmp/got'
	assert_success
	assert_output_equals hello
}

@test "sysctl in a new network namespace is applied there only" {
	local before
	before=$(cat /proc/sys/net/ipv4/ip_forward)
	update_config '.linux.sysctl = {"net.ipv4.ip_forward": "1", "net.ipv4.conf.all.forwarding": "1"}'
	run_in_container cat /proc/sys/net/ipv4/ip_forward /proc/sys/net/ipv4/conf/all/forwarding
	assert_success
	assert_output_equals $'1\n1'
	[ "$(cat /proc/sys/net/ipv4/ip_forward)" = "$before" ]
}

@test "sysctl in a new ipc namespace (kernel.msgmax)" {
	update_config '.linux.sysctl = {"kernel.msgmax": "12345"}'
	run_in_container cat /proc/sys/kernel/msgmax
	assert_success
	assert_output_equals 12345
	[ "$(cat /proc/sys/kernel/msgmax)" != 12345 ]
}

@test "joining an existing network namespace by path" {
	start_holder unshare --net sleep 600
	local ns=""
	local i
	for ((i = 0; i < POLL_TRIES; i++)); do
		ns=$(readlink "/proc/$HOLDER_PID/ns/net" 2>/dev/null) || ns=
		[ -n "$ns" ] && [ "$ns" != "$(host_ns net)" ] && break
		sleep "$POLL_INTERVAL"
	done
	[ -n "$ns" ] && [ "$ns" != "$(host_ns net)" ]

	update_config --arg p "/proc/$HOLDER_PID/ns/net" \
		'.linux.namespaces |= map(if .type == "network" then .path = $p else . end)'
	run_in_container readlink /proc/self/ns/net
	assert_success
	assert_output_equals "$ns"
	# The holder's namespace outlives the container.
	[ "$(readlink "/proc/$HOLDER_PID/ns/net")" = "$ns" ]
	check_no_leftovers "$CID"
}

@test "joining an existing uts namespace by path sees its hostname" {
	start_holder unshare --uts sh -c 'hostname holder-host && exec sleep 600'
	local i
	for ((i = 0; i < POLL_TRIES; i++)); do
		[ "$(readlink "/proc/$HOLDER_PID/ns/uts" 2>/dev/null)" != "$(host_ns uts)" ] &&
			[ "$(tr '\0' ' ' <"/proc/$HOLDER_PID/cmdline")" = "sleep 600 " ] && break
		sleep "$POLL_INTERVAL"
	done
	update_config --arg p "/proc/$HOLDER_PID/ns/uts" \
		'del(.hostname) | .linux.namespaces |= map(if .type == "uts" then .path = $p else . end)'
	run_in_container sh -c 'readlink /proc/self/ns/uts; hostname'
	assert_success
	assert_output_equals "$(readlink "/proc/$HOLDER_PID/ns/uts")"$'\n'holder-host
}

@test "joining a namespace path that is not a namespace fails cleanly" {
	touch "$TEST_DIR/not-a-ns"
	update_config --arg p "$TEST_DIR/not-a-ns" \
		'.linux.namespaces |= map(if .type == "network" then .path = $p else . end)'
	set_args true
	runtime_detached create --bundle "$BUNDLE" "$CID"
	assert_failure
	assert_error_message
	check_no_leftovers "$CID"
}

@test "joining a namespace path that does not exist fails cleanly" {
	update_config --arg p "$TEST_DIR/no-such-ns" \
		'.linux.namespaces |= map(if .type == "network" then .path = $p else . end)'
	set_args true
	runtime_detached create --bundle "$BUNDLE" "$CID"
	assert_failure
	assert_error_message
	check_no_leftovers "$CID"
}

@test "cgroup namespace: the container's cgroups look like the root" {
	requires cgroupns
	update_config '.linux.namespaces += [{"type": "cgroup"}]'
	run_in_container sh -c 'readlink /proc/self/ns/cgroup; cat /proc/self/cgroup'
	assert_success
	[ "$(sed -n 1p <<<"$output")" != "$(host_ns cgroup)" ]
	# Every hierarchy's path is "/" inside the namespace.
	local paths
	paths=$(sed -n '2,$p' <<<"$output" | cut -d: -f3- | sort -u)
	[ "$paths" = / ]
}

@test "without a cgroup namespace the container sees its cgroup path" {
	update_config '.linux.namespaces |= map(select(.type != "cgroup"))'
	run_in_container sh -c 'readlink /proc/self/ns/cgroup; cat /proc/self/cgroup'
	assert_success
	[ "$(sed -n 1p <<<"$output")" = "$(host_ns cgroup)" ]
	sed -n '2,$p' <<<"$output" | grep -q "$CID"
}

@test "user namespace with uid and gid mappings" {
	requires userns
	update_config '.linux.namespaces += [{"type": "user"}]
		| .linux.uidMappings = [{"containerID": 0, "hostID": 100000, "size": 65536}]
		| .linux.gidMappings = [{"containerID": 0, "hostID": 200000, "size": 65536}]'
	run_in_container sh -c 'cat /proc/self/uid_map /proc/self/gid_map; id -u; id -g; readlink /proc/self/ns/user'
	assert_success
	[ "$(sed -n 1p <<<"$output" | awk '{print $1, $2, $3}')" = "0 100000 65536" ]
	[ "$(sed -n 2p <<<"$output" | awk '{print $1, $2, $3}')" = "0 200000 65536" ]
	[ "$(sed -n 3p <<<"$output")" = 0 ]
	[ "$(sed -n 4p <<<"$output")" = 0 ]
	[ "$(sed -n 5p <<<"$output")" != "$(host_ns user)" ]
	check_no_leftovers "$CID"
}

@test "user namespace: the container process runs as the mapped host uid" {
	requires userns
	update_config '.linux.namespaces += [{"type": "user"}]
		| .linux.uidMappings = [{"containerID": 0, "hostID": 100000, "size": 65536}]
		| .linux.gidMappings = [{"containerID": 0, "hostID": 100000, "size": 65536}]
		| .process.user = {"uid": 1000, "gid": 1000}'
	set_args sleep 600
	run_detached
	local pid
	pid=$(state_field "$CID" pid)
	[ "$(awk '/^Uid:/ {print $2}' "/proc/$pid/status")" = 101000 ]
	[ "$(awk '/^Gid:/ {print $2}' "/proc/$pid/status")" = 101000 ]
	run runtime delete --force "$CID"
	assert_success
	check_no_leftovers "$CID"
}

@test "user namespace: host files owned by unmapped ids show as the overflow id" {
	requires userns
	update_config '.linux.namespaces += [{"type": "user"}]
		| .linux.uidMappings = [{"containerID": 0, "hostID": 100000, "size": 65536}]
		| .linux.gidMappings = [{"containerID": 0, "hostID": 100000, "size": 65536}]'
	run_in_container stat -c '%u:%g' /bin/busybox
	assert_success
	assert_output_equals "$(cat /proc/sys/kernel/overflowuid):$(cat /proc/sys/kernel/overflowgid)"
}

@test "time namespace with monotonic and boottime offsets" {
	[ -n "$IS_RUNC" ] && skip "runc 1.1.5 does not support time namespaces"
	requires timens
	update_config '.linux.namespaces += [{"type": "time"}]
		| .linux.timeOffsets = {"monotonic": {"secs": 86400, "nanosecs": 0},
		                        "boottime": {"secs": 172800, "nanosecs": 5}}'
	run_in_container sh -c 'readlink /proc/self/ns/time; cat /proc/self/timens_offsets; cut -d. -f1 /proc/uptime'
	assert_success
	[ "$(sed -n 1p <<<"$output")" != "$(host_ns time)" ]
	grep -qE '^monotonic +86400 +0$' <<<"$output"
	grep -qE '^boottime +172800 +5$' <<<"$output"
	# /proc/uptime counts boottime: at least the offset more than the host's.
	local host_up inside_up
	host_up=$(cut -d. -f1 /proc/uptime)
	inside_up=$(sed -n 4p <<<"$output")
	[ "$inside_up" -ge $((host_up + 172800 - 5)) ]
}
