#!/usr/bin/env bash
# bench/sandbox.sh: what a micro-VM sandbox costs, against a floor, in one run.
#
#   bash bench/sandbox.sh          # as root, after the README's install step
#
# Figures, interleaved one sample of each per round (RUNS rounds, after WARMUP):
#   floor   QEMU with the same command line husk uses (same kernel, accelerator, machine,
#           vCPUs, memory, devices but the agent port and the 9p shares), booting a trivial
#           static /init that powers off at once: spawn to exit
#   boot    `husk --sandbox vm create`: QEMU started, the guest booted, husk-agent answered
#           and created the container (boot-to-agent-ready, and the create on top)
#   run     `husk --sandbox vm run` of `true`: create, start, wait, and the VM's shutdown
#   and, inside boot, two spans of the guest's own clock read from the agent's milestones on
#   the console: kernel start to the agent's start, and the agent's start to serving
# Times are wall clock from spawn to exit (date +%s%N); the table gives median, min, max and
# the ratio of each median to the floor's. The accelerator is what husk chose (`auto`: KVM
# when a probe boot works, else TCG) and the floor uses the same. Knobs: RUNS=10, WARMUP=1,
# BUILD_DIR=build (a debugoptimized build made by scripts/build.sh when missing), ACCEL=auto.
# Writes bench/results/sandbox-latest.md.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
RUNS=${RUNS:-10}
WARMUP=${WARMUP:-1}
ACCEL=${ACCEL:-auto}
BUILD_DIR=${BUILD_DIR:-$repo/build}
[ "$(id -u)" = 0 ] || { echo "bench/sandbox.sh: needs root" >&2; exit 1; }

if [ ! -x "$BUILD_DIR/runtime/cli/husk" ] || [ ! -x "$BUILD_DIR/sandbox/agent/husk-agent" ]; then
	[ "$BUILD_DIR" = "$repo/build" ] || { echo "bench/sandbox.sh: no husk build in $BUILD_DIR" >&2; exit 1; }
	bash "$repo/scripts/build.sh" >/dev/null
fi
husk=$BUILD_DIR/runtime/cli/husk
image=${HUSK_SANDBOX_IMAGE:-$BUILD_DIR/sandbox-image}
"$husk" sandbox build-image --agent "$BUILD_DIR/sandbox/agent/husk-agent" \
	--builder "$repo/sandbox/image/build-image.sh" --out "$image" >/dev/null

work=$(mktemp -d /tmp/husk-vm-bench.XXXXXX)
cleanup() {
	"$husk" --root "$work/root" list -q 2>/dev/null | while read -r id; do
		"$husk" --root "$work/root" delete -f "$id" >/dev/null 2>&1 || true
	done
	rm -rf "$work"
}
trap cleanup EXIT
export HUSK_CONFIG=$work/husk.yaml
printf 'sandbox:\n  image_dir: %s\n  accel: %s\n' "$image" "$ACCEL" >"$HUSK_CONFIG"

# The bundle: busybox, `true`, no terminal.
mkdir -p "$work/bundle"
bash "$repo/scripts/make-rootfs.sh" "$work/bundle/rootfs" >/dev/null
(cd "$work/bundle" && runc spec)
jq '.process.terminal = false | .process.args = ["true"]' "$work/bundle/config.json" >"$work/c.json"
mv "$work/c.json" "$work/bundle/config.json"
H=("$husk" --root "$work/root" --sandbox vm)

# The floor's /init, and QEMU's command line as husk builds it, read from a running sandbox.
cat >"$work/floor-init.c" <<'EOF'
#include <sys/reboot.h>
#include <unistd.h>
int main(void)
{
	reboot(RB_POWER_OFF);
	for (;;)
		pause();
}
EOF
mkdir -p "$work/floor-root"
gcc -O2 -static -o "$work/floor-root/init" "$work/floor-init.c"
(cd "$work/floor-root" && echo init | cpio -o -H newc --quiet >"$work/floor.cpio")

"${H[@]}" create --bundle "$work/bundle" probe >/dev/null
qemu_pid=$(jq -r .qemu_pid "$work/root/probe/sandbox.json")
accel=$(jq -r .accel "$work/root/probe/sandbox.json")
mapfile -d '' qemu_argv <"/proc/$qemu_pid/cmdline"
"${H[@]}" delete -f probe >/dev/null
floor=()
skip=0
for ((i = 0; i < ${#qemu_argv[@]}; i++)); do
	a=${qemu_argv[$i]}
	if [ "$skip" = 1 ]; then
		skip=0
		continue
	fi
	case "$a" in
	-initrd)
		floor+=(-initrd "$work/floor.cpio")
		skip=1
		continue
		;;
	-fsdev)
		skip=1
		continue
		;;
	-device | -chardev)
		next=${qemu_argv[$((i + 1))]}
		case "$next" in
		virtio-serial-device | virtserialport* | socket,id=agent* | virtio-9p-device*)
			skip=1
			continue
			;;
		file,id=con,*)
			floor+=(-chardev "file,id=con,path=$work/floor-console.log")
			skip=1
			continue
			;;
		esac
		;;
	esac
	floor+=("$a")
done

now_ms() { echo $(($(date +%s%N) / 1000000)); }
declare -A samples
sample() { # NAME CMD...: one timed sample, appended to samples[NAME]
	local name=$1 t0 t1
	shift
	t0=$(now_ms)
	"$@" >/dev/null 2>"$work/last.err" </dev/null || {
		echo "bench/sandbox.sh: $name failed: $(cat "$work/last.err")" >&2
		exit 1
	}
	t1=$(now_ms)
	samples[$name]+="$((t1 - t0)) "
}
n=0
round() {
	n=$((n + 1))
	sample floor "${floor[@]}"
	sample boot "${H[@]}" create --bundle "$work/bundle" "b$n"
	# The guest's own clock (CLOCK_BOOTTIME, ms) at the agent's milestones on the console.
	local con=$work/root/b$n/console.log started ready
	started=$(sed -n 's/^HUSK-AGENT: started at \([0-9.]*\) s.*/\1/p' "$con" | head -1)
	ready=$(sed -n 's/^HUSK-AGENT: ready at \([0-9.]*\) s.*/\1/p' "$con" | head -1)
	if [ -n "$started" ] && [ -n "$ready" ]; then
		samples[kernel]+="$(awk -v a="$started" 'BEGIN { printf "%d", a * 1000 }') "
		samples[agent]+="$(awk -v a="$started" -v b="$ready" 'BEGIN { printf "%d", (b - a) * 1000 }') "
	fi
	"${H[@]}" delete -f "b$n" >/dev/null
	sample run "${H[@]}" run --bundle "$work/bundle" "r$n"
}
for ((r = 0; r < WARMUP; r++)); do round; done
samples=()
for ((r = 0; r < RUNS; r++)); do round; done

stats() { # "a b c ..." -> "median min max"
	tr ' ' '\n' <<<"$1" | grep . | sort -n | awk '{ v[NR] = $1 } END {
		m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		printf "%d %d %d\n", m, v[1], v[NR] }'
}
read -r fmed fmin fmax <<<"$(stats "${samples[floor]}")"
out=$here/results/sandbox-latest.md
mkdir -p "$here/results"
{
	echo "VM sandbox, $(date -u +%Y-%m-%d), $(nproc) cores, kernel $(uname -r), guest $(cat "$image/kernel.release"), accelerator $accel, $RUNS runs (ms)"
	echo
	echo "| figure | median | min | max | / floor |"
	echo "|---|---:|---:|---:|---:|"
	for f in floor boot run kernel agent; do
		[ -n "${samples[$f]:-}" ] || continue
		read -r med min max <<<"$(stats "${samples[$f]}")"
		ratio=$(awk -v a="$med" -v b="$fmed" 'BEGIN { printf "%.2fx", a / b }')
		label=$f
		case $f in
		floor) label="floor: same kernel and QEMU, trivial /init" ;;
		boot) label="boot to agent ready + create (husk create)" ;;
		run) label="run of true (husk run)" ;;
		kernel) label="in boot: guest kernel start to the agent's start (guest clock)" ratio="" ;;
		agent) label="in boot: agent start to ready: mounts, modules, sealed re-exec (guest clock)" ratio="" ;;
		esac
		echo "| $label | $med | $min | $max | $ratio |"
	done
} | tee "$out"
