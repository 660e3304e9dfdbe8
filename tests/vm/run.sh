#!/bin/bash
# Runs bats files of the integration suite inside a pure cgroup v2 guest: the host's cgroups are
# hybrid (v1 controllers), so husk's v2 backend is tested in a QEMU microvm booting Debian's
# kernel, with the host's /usr, /etc, /var shared read-only over virtio-9p.
#
#   tests/vm/run.sh                          bats/cgroups.bats and bats/pause.bats
#   tests/vm/run.sh bats/pause.bats          these files; bats options pass through as with
#   tests/vm/run.sh bats/cgroups.bats -f pids   bats/run.sh (which runs inside the guest)
#   RUNTIME=/usr/sbin/runc tests/vm/run.sh   against runc (or RUNTIME=runc)
#
# Environment:
#   RUNTIME             binary under test (default $HUSK_BUILD/runtime/cli/husk; a bare name is
#                       looked up in PATH). It is copied before the boot: a rebuild during the
#                       run does not reach the guest. Its file name is kept (IS_RUNC).
#   HUSK_BUILD          build directory (default <repo>/build)
#   HUSK_VM_ACCEL       auto (default: a bounded probe boot on KVM, TCG when that fails), kvm, tcg
#   HUSK_VM_CACHE       kernel cache (default /var/cache/husk-vm)
#   HUSK_VM_OUT         console log and results (default $HUSK_BUILD/vm/<runtime name>, else
#                       a mktemp dir)
#   HUSK_VM_TIMEOUT     seconds for the whole guest run (default 1800)
#   HUSK_VM_BOOT_TIMEOUT  seconds from QEMU's start to the guest init's first marker (default
#                       60); a boot that stalls before it is retried once (on TCG)
#   HUSK_VM_PROBE_TIMEOUT seconds for the KVM probe boot (default 15)
#   HUSK_VM_MEM, HUSK_VM_CPUS   guest size in MiB and vCPUs (default 2048, 2)
#   HUSK_VM_KERNEL_PKG  kernel package (default: what linux-image-amd64 depends on)
#   HUSK_VM_CPU, HUSK_VM_APPEND  QEMU -cpu model, extra kernel parameters
#   HUSK_TEST_*, POLL_*, BATS_*  passed into the guest's environment for the suite
#   HUSK_VM_CMD         (for work on the harness) a bash command the guest runs instead of the
#                       suite, from the repository, with RUNTIME set
#
# What it needs it installs with apt-get (qemu-system-x86, busybox-static, bats/deps.txt). The
# kernel package is fetched with `apt-get download` into the cache and unpacked there, never
# installed on the host; its ELF vmlinux is taken out of the bzImage once (booted through PVH,
# much faster under TCG than decompressing at every boot) with the modules the guest loads.
# The guest: init.sh (PID 1 in an initramfs of busybox) and stage2.sh (after switch_root).
#
# Exit status: what bats/run.sh returned in the guest (0 every test passed, 1 a failure, 2 the
# suite could not run); 2 also when the host side could not be set up; 3 when the guest did not
# boot or did not report a result (a hang, a crash, the timeout).

set -u

VM_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$VM_DIR/../.." && pwd)
T_START=${EPOCHREALTIME/./}

say() { echo "vm: $*"; }
setup_fail() {
	echo "vm: $*" >&2
	exit 2
}
# Milliseconds since the epoch, and a millisecond count as seconds with one decimal.
now_ms() {
	local t=${EPOCHREALTIME/./}
	echo $((t / 1000))
}
secs() { printf '%d.%d' $(($1 / 1000)) $((($1 % 1000) / 100)); }

if [ "$(id -u)" -ne 0 ]; then
	setup_fail "needs root (apt-get, the suite)"
fi

# ---------------------------------------------------------------------------------------------
# Arguments and the runtime under test.

bats_args=("$@")
have_files=
for a in "$@"; do
	case "$a" in *.bats | */) have_files=1 ;; esac
done
# Options alone (say -f pids) apply to the default files, not to the whole suite.
[ -n "$have_files" ] || bats_args+=(bats/cgroups.bats bats/pause.bats)
# Files given relative to the caller's directory or to the repository both work; inside the
# guest the suite runs from the repository at the same path.
for i in "${!bats_args[@]}"; do
	a=${bats_args[$i]}
	case "$a" in
	*.bats | */)
		if [ -e "$a" ]; then
			a=$(cd "$(dirname "$a")" && pwd)/$(basename "$a")
		elif [ -e "$REPO/$a" ]; then
			a=$REPO/$a
		else
			setup_fail "no such bats file: $a"
		fi
		case "$a" in
		"$REPO"/*) ;;
		*) setup_fail "$a is not in the repository $REPO (only the repository is shared)" ;;
		esac
		bats_args[$i]=$a
		;;
	esac
done

export HUSK_BUILD=${HUSK_BUILD:-"$REPO/build"}
[ -d "$HUSK_BUILD" ] && HUSK_BUILD=$(cd "$HUSK_BUILD" && pwd)
runtime=${RUNTIME:-"$HUSK_BUILD/runtime/cli/husk"}

# ---------------------------------------------------------------------------------------------
# Packages (Debian's apt only; nothing here assumes a hand install).

apt_install() {
	export DEBIAN_FRONTEND=noninteractive
	say "installing $*"
	if ! apt-get install -y -qq --no-install-recommends "$@" >/dev/null 2>&1; then
		apt-get update -qq >/dev/null 2>&1
		apt-get install -y -qq --no-install-recommends "$@" >/dev/null ||
			setup_fail "apt-get install $* failed"
	fi
}

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

missing=()
for p in qemu-system-x86 busybox-static xz-utils zstd $(grep -v '^#' "$REPO/bats/deps.txt" 2>/dev/null); do
	installed "$p" || missing+=("$p")
done
case "$runtime" in
runc | */runc) [ -x "$runtime" ] || command -v "$runtime" >/dev/null || installed runc || missing+=(runc) ;;
esac
[ ${#missing[@]} -eq 0 ] || apt_install "${missing[@]}"
command -v qemu-system-x86_64 >/dev/null || setup_fail "qemu-system-x86_64 is missing"
[ -x /bin/busybox ] && /bin/busybox --list >/dev/null 2>&1 || setup_fail "/bin/busybox is not busybox-static"

case "$runtime" in
/*) ;;
*/*) runtime="$PWD/$runtime" ;;
*) runtime=$(command -v "$runtime") || setup_fail "runtime $RUNTIME not found in PATH" ;;
esac
[ -x "$runtime" ] && [ -f "$runtime" ] ||
	setup_fail "runtime binary $runtime not found or not executable (build first, or set RUNTIME)"

# ---------------------------------------------------------------------------------------------
# The kernel: the package's ELF vmlinux and the modules the guest loads, cached by version.

CACHE=${HUSK_VM_CACHE:-/var/cache/husk-vm}
# shellcheck source=scripts/guest-kernel.sh
. "$REPO/scripts/guest-kernel.sh"
GK_PREFIX=vm
gk_setup "$CACHE" || setup_fail "no guest kernel"
KDIR=$GK_KDIR
KVER=$(cat "$KDIR/kernel.release")

# ---------------------------------------------------------------------------------------------
# This run's directory: the initramfs, the console logs, and the share the results come
# back through.

if [ -n "${HUSK_VM_OUT:-}" ]; then
	OUT=$HUSK_VM_OUT
elif [ -d "$HUSK_BUILD" ] && [ -w "$HUSK_BUILD" ]; then
	OUT="$HUSK_BUILD/vm/$(basename "$runtime")"
else
	OUT=$(mktemp -d /tmp/husk-vm.XXXXXX)
fi
mkdir -p "$OUT" || setup_fail "cannot create $OUT"
OUT=$(cd "$OUT" && pwd)
SHARE="$OUT/share"
rm -rf "$OUT/initramfs" "$SHARE" "$OUT"/console*
mkdir -p "$OUT/initramfs"/{bin,dev,modules} "$SHARE/bin"

ir="$OUT/initramfs"
cp /bin/busybox "$ir/bin/busybox"
cp "$VM_DIR/init.sh" "$ir/init"
cp "$VM_DIR/stage2.sh" "$ir/stage2.sh"
chmod 0755 "$ir/init" "$ir/stage2.sh"
cp "$KDIR"/modules/* "$ir/modules/"
mknod -m 0600 "$ir/dev/console" c 5 1
(cd "$ir" && find . -mindepth 1 | LC_ALL=C sort | /bin/busybox cpio -o -H newc 2>/dev/null) \
	>"$OUT/initramfs.cpio" || setup_fail "cannot build the initramfs"

runtime_name=$(basename "$runtime")
cp "$runtime" "$SHARE/bin/$runtime_name" || setup_fail "cannot copy $runtime"
echo "$REPO" >"$SHARE/repo"
# Some bats files use helpers from the build directory: outside the repository it is shared too.
BUILD_SHARE=
if [ -d "$HUSK_BUILD" ]; then
	BUILD_SHARE=$(cd "$HUSK_BUILD" && pwd)
	case "$BUILD_SHARE/" in
	"$REPO"/*) BUILD_SHARE= ;;
	esac
fi
[ -n "$BUILD_SHARE" ] && echo "$BUILD_SHARE" >"$SHARE/build"
{
	printf 'REPO=%q\n' "$REPO"
	printf 'RUNTIME_NAME=%q\n' "$runtime_name"
	printf 'BATS_ARGS=('
	printf '%q ' "${bats_args[@]}"
	printf ')\n'
	printf 'export HUSK_BUILD=%q\n' "$HUSK_BUILD"
	while IFS= read -r v; do
		case "$v" in
		HUSK_TEST_* | POLL_* | BATS_* | HUSK_VM_CMD) printf 'export %s=%q\n' "$v" "${!v}" ;;
		esac
	done < <(compgen -e)
} >"$SHARE/guest.env"

# ---------------------------------------------------------------------------------------------
# Booting.

MEM=${HUSK_VM_MEM:-2048}
CPUS=${HUSK_VM_CPUS:-2}
BOOT_TIMEOUT=${HUSK_VM_BOOT_TIMEOUT:-60}
RUN_TIMEOUT=${HUSK_VM_TIMEOUT:-1800}
PROBE_TIMEOUT=${HUSK_VM_PROBE_TIMEOUT:-15}

# The TSC frequency the guest would otherwise calibrate (and under TCG, about 1 boot in 4 hangs
# when it cannot): the host's, which TCG's TSC runs at, and which KVM passes through.
tsc_khz() {
	local mhz
	mhz=$(awk -F: '/^cpu MHz/ { gsub(/ /, "", $2); print $2; exit }' /proc/cpuinfo)
	[ -n "$mhz" ] && awk -v m="$mhz" 'BEGIN { printf "%d\n", m * 1000 }'
}
TSC_KHZ=$(tsc_khz)

# qemu_args MODE ACCEL CONSOLE: the command line (into the array QEMU).
qemu_args() {
	local mode=$1 accel=$2 console=$3 cpu append
	if [ -n "${HUSK_VM_CPU:-}" ]; then
		cpu=$HUSK_VM_CPU
	elif [ "$accel" = kvm ]; then
		cpu=host
	else
		# 4-level paging: 5-level (la57 in "max") makes every TLB miss dearer under TCG. The
		# plain qemu64 model runs CPU-bound work faster (glibc takes no AVX2 paths) but its
		# timers fire late: `sleep 0.05` took 780 ms against 365 ms here, and the suite,
		# which polls with short sleeps, ran longer.
		cpu=max,la57=off
	fi
	append="console=ttyS0 panic=-1 reboot=t quiet loglevel=4 rdinit=/init"
	# No address-space randomisation under TCG: QEMU finds translated code by virtual address,
	# so with ASLR every new process retranslates ld.so and libc. Without it /bin/true costs
	# 35 ms instead of 200 ms and the suite runs in about half the time.
	[ "$accel" = tcg ] && append+=" norandmaps"
	append+=" husk_vm.mode=$mode cgroup_no_v1=all random.trust_cpu=on"
	append+=" pci=off nowatchdog no_timer_check cryptomgr.notests 8250.nr_uarts=1"
	[ -n "$TSC_KHZ" ] && append+=" tsc_early_khz=$TSC_KHZ tsc=reliable"
	[ -n "${HUSK_VM_APPEND:-}" ] && append+=" $HUSK_VM_APPEND"
	QEMU=(qemu-system-x86_64
		-M microvm,x-option-roms=off,rtc=on -accel "$accel" -cpu "$cpu" -smp "$CPUS" -m "$MEM"
		-nodefaults -no-user-config -display none -no-reboot
		-kernel "$KDIR/vmlinux" -initrd "$OUT/initramfs.cpio" -append "$append"
		-chardev "file,id=con,path=$console" -serial chardev:con
		-object rng-random,id=rng0,filename=/dev/urandom -device virtio-rng-device,rng=rng0)
	if [ "$mode" = run ]; then
		QEMU+=(
			-fsdev local,id=fshost,path=/,security_model=none,readonly=on,multidevs=remap
			-device virtio-9p-device,fsdev=fshost,mount_tag=hostroot
			-fsdev "local,id=fsrepo,path=$REPO,security_model=none,readonly=on"
			-device virtio-9p-device,fsdev=fsrepo,mount_tag=repo
			-fsdev "local,id=fsout,path=$SHARE,security_model=none"
			-device virtio-9p-device,fsdev=fsout,mount_tag=out
			# A disk (reads as zeros, writes vanish) so the blkio throttle tests have a
			# device to throttle.
			-blockdev null-co,node-name=null0,size=67108864
			-device virtio-blk-device,drive=null0)
		if [ -n "$BUILD_SHARE" ]; then
			QEMU+=(-fsdev "local,id=fsbuild,path=$BUILD_SHARE,security_model=none,readonly=on"
				-device virtio-9p-device,fsdev=fsbuild,mount_tag=build)
		fi
	fi
}

# boot MODE ACCEL CONSOLE STREAM BOOT_TIMEOUT TOTAL_TIMEOUT: run one guest to its end. Sets
# B_STATUS (done: QEMU exited after init's marker; stalled: no marker in time; exited: QEMU
# ended before the marker; timeout), B_BOOT_MS (QEMU start to the marker, as the host saw it),
# B_UPTIME (the guest's uptime at the marker), B_STAGE2_MS, B_TOTAL_MS.
boot() {
	local mode=$1 accel=$2 console=$3 stream=$4 boot_to=$(($5 * 1000)) total_to=$(($6 * 1000))
	local qpid tpid= t0 el seen_init= seen_stage2= fatal_at=
	B_STATUS= B_BOOT_MS= B_UPTIME= B_STAGE2_MS= B_TOTAL_MS=
	: >"$console"
	qemu_args "$mode" "$accel" "$console"
	t0=$(now_ms)
	"${QEMU[@]}" </dev/null >"$console.qemu.err" 2>&1 &
	qpid=$!
	QEMU_PID=$qpid
	if [ "$stream" = 1 ]; then
		tail -n +1 -F -s 0.2 --pid="$qpid" "$console" 2>/dev/null | sed -u 's/\r$//' &
		tpid=$!
	fi
	while kill -0 "$qpid" 2>/dev/null; do
		el=$(($(now_ms) - t0))
		if [ -z "$seen_init" ]; then
			if grep -q '^HUSK-VM: init up=' "$console"; then
				seen_init=1
				B_BOOT_MS=$el
				B_UPTIME=$(tr -d '\r' <"$console" | sed -n 's/^HUSK-VM: init up=\([0-9.]*\).*/\1/p' | head -n1)
			elif [ "$el" -ge "$boot_to" ]; then
				B_STATUS=stalled
				break
			fi
		elif [ -z "$seen_stage2" ] && [ "$mode" = run ]; then
			if grep -q '^HUSK-VM: stage2' "$console"; then
				seen_stage2=1
				B_STAGE2_MS=$el
			elif [ -z "$fatal_at" ] && grep -q '^HUSK-VM: fatal' "$console"; then
				fatal_at=$el
			elif [ -n "$fatal_at" ] && [ $((el - fatal_at)) -ge 10000 ]; then
				# init.sh powers off after a fatal error; if that does not work either, no
				# need to wait for the run's time limit.
				B_STATUS=done
				break
			fi
		fi
		if [ "$el" -ge "$total_to" ]; then
			B_STATUS=timeout
			break
		fi
		if [ -n "$seen_init" ]; then sleep 0.5; else sleep 0.1; fi
	done
	if kill -0 "$qpid" 2>/dev/null; then
		kill -TERM "$qpid" 2>/dev/null
		for _ in 1 2 3 4 5 6 7 8 9 10; do
			kill -0 "$qpid" 2>/dev/null || break
			sleep 0.2
		done
		kill -KILL "$qpid" 2>/dev/null
	fi
	wait "$qpid" 2>/dev/null
	QEMU_PID=
	[ -n "$tpid" ] && wait "$tpid" 2>/dev/null
	B_TOTAL_MS=$(($(now_ms) - t0))
	if [ -z "$B_STATUS" ]; then
		if [ -n "$seen_init" ]; then B_STATUS=done; else B_STATUS=exited; fi
	fi
}

# Interrupted or killed (a CI time limit): no guest outlives the harness.
QEMU_PID=
on_signal() {
	[ -n "$QEMU_PID" ] && kill -KILL "$QEMU_PID" 2>/dev/null
	echo "vm: interrupted" >&2
	exit 3
}
trap on_signal INT TERM HUP
on_exit() {
	[ -n "$QEMU_PID" ] && kill -KILL "$QEMU_PID" 2>/dev/null
	# The runtime's copy and the initramfs tree are large and rebuilt every run; logs stay.
	rm -rf "$SHARE/bin" "$OUT/initramfs"
}
trap on_exit EXIT

# First lines QEMU printed on stderr, for a failure message.
qemu_said() {
	local f="$1.qemu.err"
	[ -s "$f" ] && echo " ($(head -n2 "$f" | tr '\n' ' ' | sed 's/ *$//'))"
}

# The accelerator.
accel_req=${HUSK_VM_ACCEL:-auto}
accel=tcg
accel_why=
case "$accel_req" in
tcg) accel_why="(HUSK_VM_ACCEL=tcg)" ;;
kvm) accel=kvm accel_why="(HUSK_VM_ACCEL=kvm)" ;;
auto)
	if [ ! -c /dev/kvm ] || ! [ -r /dev/kvm ] || ! [ -w /dev/kvm ]; then
		accel_why="(no usable /dev/kvm)"
	else
		boot probe kvm "$OUT/console-kvm-probe.log" 0 "$PROBE_TIMEOUT" "$PROBE_TIMEOUT"
		if grep -q '^HUSK-VM: probe ok' "$OUT/console-kvm-probe.log"; then
			accel=kvm
			accel_why="(kvm probe: booted in $(secs "$B_BOOT_MS") s)"
		else
			case "$B_STATUS" in
			stalled | timeout)
				accel_why="(kvm probe: hung after ${PROBE_TIMEOUT}s)"
				;;
			*)
				accel_why="(kvm probe: QEMU exited after $(secs "$B_TOTAL_MS") s without the marker$(qemu_said "$OUT/console-kvm-probe.log"))"
				;;
			esac
		fi
	fi
	;;
*) setup_fail "HUSK_VM_ACCEL must be auto, kvm or tcg" ;;
esac
say "accelerator $accel $accel_why"
say "kernel $KVER ($(cat "$KDIR/package")), ${CPUS} vCPUs, ${MEM} MiB; runtime $runtime_name from $runtime"
say "output in $OUT"

attempt=1
while :; do
	console="$OUT/console.log"
	[ "$attempt" -gt 1 ] && console="$OUT/console-$attempt.log"
	rm -f "$SHARE/rc" "$SHARE/bats.log"
	boot run "$accel" "$console" 1 "$BOOT_TIMEOUT" "$RUN_TIMEOUT"
	case "$B_STATUS" in
	stalled | exited)
		if [ "$B_STATUS" = stalled ]; then
			why="no init marker after ${BOOT_TIMEOUT}s"
		else
			why="QEMU exited after $(secs "$B_TOTAL_MS") s before the init marker$(qemu_said "$console")"
		fi
		if [ "$attempt" -ge 2 ]; then
			say "the guest did not boot: $why; console log: $console"
			exit 3
		fi
		if [ "$accel" = kvm ]; then
			say "boot attempt $attempt failed: $why; retrying on tcg"
		else
			say "boot attempt $attempt failed: $why; retrying"
		fi
		accel=tcg
		attempt=$((attempt + 1))
		continue
		;;
	esac
	break
done

boot_line="guest booted in $(secs "$B_BOOT_MS") s to init (kernel uptime ${B_UPTIME:-?} s)"
[ -n "$B_STAGE2_MS" ] && boot_line+=", tests started at $(secs "$B_STAGE2_MS") s"
[ "$attempt" -gt 1 ] && boot_line+=", attempt $attempt"

rc=
if [ -f "$SHARE/rc" ]; then
	rc=$(cat "$SHARE/rc")
else
	rc=$(tr -d '\r' <"$console" | sed -n 's/^HUSK-VM-RESULT rc=\([0-9]*\)$/\1/p' | tail -n1)
fi
total_ms=$(($(now_ms) - T_START / 1000))

echo
say "accelerator $accel $accel_why"
say "$boot_line; guest ran $(secs "$B_TOTAL_MS") s; total wall $(secs "$total_ms") s"
if grep -q '^HUSK-VM: fatal' "$console"; then
	say "guest setup failed: $(tr -d '\r' <"$console" | sed -n 's/^HUSK-VM: fatal: //p' | head -n1)"
fi
if [ "$B_STATUS" = timeout ]; then
	say "the guest run timed out after ${RUN_TIMEOUT}s (HUSK_VM_TIMEOUT); console log: $console"
	exit 3
fi
case "$rc" in
'' | *[!0-9]*)
	say "the guest reported no result; console log: $console"
	exit 3
	;;
esac

log="$SHARE/bats.log"
if [ -f "$log" ]; then
	total=$(sed -n 's/^1\.\.\([0-9]*\)$/\1/p' "$log" | head -n1)
	failed=$(grep -c '^not ok ' "$log")
	skipped=$(grep -cE '^ok [0-9]+ .* # skip' "$log")
	passed=$((${total:-0} - failed - skipped))
	grep '^not ok ' "$log" | sed 's/^/vm: failed: /'
	grep '^HOST CHECK' "$log" | sed 's/^/vm: /'
	say "bats/run.sh exited $rc in the guest; its output: $log"
	say "$passed passed, $failed failed, $skipped skipped"
fi
exit "$rc"
