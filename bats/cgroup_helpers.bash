# Helpers for the cgroup suites (cgroups, update, events): where a container's cgroup is on
# the host, for v1 and v2, and a long-running container to look at.

# cgroup_v2: the host is unified (no v1 controllers).
cgroup_v2() {
	[ -f /sys/fs/cgroup/cgroup.controllers ]
}

# cgroup_dir CONTROLLER PID: the host directory of PID's cgroup for CONTROLLER (v1), or of its
# one cgroup (v2).
cgroup_dir() {
	local ctrl=$1 pid=$2 path
	if cgroup_v2; then
		path=$(sed -n 's/^0:://p' "/proc/$pid/cgroup")
		echo "/sys/fs/cgroup$path"
		return
	fi
	path=$(awk -F: -v c="$ctrl" '{ n = split($2, a, ","); for (i = 1; i <= n; i++) if (a[i] == c) print $3 }' \
		"/proc/$pid/cgroup")
	[ -n "$path" ] || fail "process $pid is in no $ctrl cgroup"
	echo "/sys/fs/cgroup/$ctrl$path"
}

# v1_mounted CONTROLLER: a v1 hierarchy with CONTROLLER is mounted.
v1_mounted() {
	awk -v c="$1" '$9 == "cgroup" { n = split($NF, o, ","); for (i = 1; i <= n; i++) if (o[i] == c) f = 1 }
		END { exit !f }' /proc/self/mountinfo
}

# requires_controller NAME: skip unless the host offers NAME (v1 mounted, or v2 available).
requires_controller() {
	if cgroup_v2; then
		grep -qw "$1" /sys/fs/cgroup/cgroup.controllers || skip "cgroup v2 controller $1 is not available"
	else
		v1_mounted "$1" || skip "cgroup v1 controller $1 is not mounted"
	fi
}

# start_limited: run -d the bundle's container with `sleep 600` and set $PID to its init.
start_limited() {
	set_args sleep 600
	run_detached
	PID=$(state_field "$CID" pid)
	[ "$PID" -gt 1 ]
}

# host_value CONTROLLER FILE: FILE of the container's cgroup, read on the host.
host_value() {
	cat "$(cgroup_dir "$1" "$PID")/$2"
}

stop_limited() {
	run runtime delete --force "$CID"
	assert_success
	check_no_leftovers "$CID"
}
