#!/bin/bash
# PID 1 of the tests/vm guest after init.sh's switch_root: runs the bats files with the runtime
# under test and hands the results back through the writable 9p share at /run/husk-vm/out:
#   out/guest.env   (written by run.sh) REPO, RUNTIME_NAME, BATS_ARGS=(...) and the exports of
#                   the caller's environment the suite reads (HUSK_BUILD, HUSK_TEST_*, BATS_*...)
#   out/bin/NAME    (copied by run.sh) the runtime binary; it runs from a tmpfs copy here
#   out/bats.log    everything bats/run.sh printed (TAP, summary, host checks)
#   out/rc          bats/run.sh's exit status, written last
# The same status is printed as "HUSK-VM-RESULT rc=N" on the console, then the guest powers off.

out=/run/husk-vm/out
bb=/run/husk-vm/bin/busybox
exec </dev/null 2>&1
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root LANG=C.UTF-8 TERM=dumb
unset HUSK_VM_MODE

finish() {
	local rc=$1
	echo "$rc" >"$out/rc.tmp" && mv "$out/rc.tmp" "$out/rc"
	echo "HUSK-VM-RESULT rc=$rc"
	sync
	umount "$out" 2>/dev/null
	"$bb" poweroff -f
	sleep 2
	"$bb" reboot -f
}

read -r up _ </proc/uptime
echo "HUSK-VM: stage2 up=$up kernel=$(uname -r)"
echo "HUSK-VM: cgroup2 controllers: $(cat /sys/fs/cgroup/cgroup.controllers)"
echo "HUSK-VM: enabled for children: $(cat /sys/fs/cgroup/cgroup.subtree_control)"

# shellcheck source=/dev/null
. "$out/guest.env" || {
	echo "HUSK-VM: fatal: cannot read $out/guest.env"
	finish 2
}
cp "$out/bin/$RUNTIME_NAME" "/run/husk-vm/bin/$RUNTIME_NAME" || {
	echo "HUSK-VM: fatal: cannot copy the runtime"
	finish 2
}
export RUNTIME="/run/husk-vm/bin/$RUNTIME_NAME"

cd "$REPO" || finish 2
if [ -n "${HUSK_VM_CMD:-}" ]; then
	# For work on the harness itself: a command instead of the suite.
	echo "HUSK-VM: running HUSK_VM_CMD: $HUSK_VM_CMD"
	bash -c "$HUSK_VM_CMD" 2>&1 | tee "$out/bats.log"
else
	echo "HUSK-VM: running bats/run.sh ${BATS_ARGS[*]} with RUNTIME=$RUNTIME"
	bash bats/run.sh "${BATS_ARGS[@]}" 2>&1 | tee "$out/bats.log"
fi
rc=${PIPESTATUS[0]}
finish "$rc"
