#!/usr/bin/env bash
# bench/run.sh: husk against runc and crun, side by side, on one busybox bundle.
#
#   bash bench/run.sh
#
# Installs what it needs from apt, builds husk in release mode (build-release/), builds the
# timing harness and the floor program (bench/harness.c, bench/floor.c), then, inside a private
# mount namespace where /sys/fs/cgroup/unified is unmounted (crun 1.8.1 refuses this host's
# hybrid layout otherwise; the host's mounts are not touched), runs every figure for husk, runc
# and crun interleaved and prints a markdown table, also written to bench/results/latest.md
# (raw samples in bench/results/latest-raw.tsv).
#
# Knobs (environment): RUNS=20 (samples per runtime for figures 1,2,3,5), WARMUP=3,
# BATCH_RUNS=20 (samples for figure 4), FIGURES=123456, JOBS=2 (ninja), BUILD_DIR=build-release,
# HUSK_BIN=path (benchmark that husk binary instead of building one).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
RUNS=${RUNS:-20}
WARMUP=${WARMUP:-3}
BATCH_RUNS=${BATCH_RUNS:-20}
FIGURES=${FIGURES:-123456}
JOBS=${JOBS:-2}
BUILD_DIR=${BUILD_DIR:-$repo/build-release}
results=$here/results

if [ "${1:-}" != --inside ]; then
  [ "$(id -u)" = 0 ] || { echo "bench/run.sh: needs root (containers, namespaces)" >&2; exit 1; }
  started=$(date +%s)

  # 1. What it needs, from Debian's apt only: husk's build deps (scripts/install-deps.sh also
  # brings busybox-static, jq and runc), then crun, gcc and util-linux (unshare).
  bash "$repo/scripts/install-deps.sh"
  need=(crun gcc libc6-dev util-linux busybox-static runc jq)
  missing=()
  for p in "${need[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1 \
      || { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }
  fi

  # 2. husk in release mode, in its own build directory (HUSK_BIN=path skips this).
  if [ -n "${HUSK_BIN:-}" ]; then
    husk=$(readlink -f "$HUSK_BIN")
  else
    if [ ! -f "$BUILD_DIR/build.ninja" ]; then
      meson setup "$BUILD_DIR" "$repo" --buildtype=release -Dtests=false >/dev/null
    fi
    echo "building husk (release) in $BUILD_DIR ..."
    if ! ninja -C "$BUILD_DIR" -j"$JOBS" runtime/cli/husk bench/seccomp-cache-bench > "$BUILD_DIR/bench-build.log" 2>&1; then
      tail -n 40 "$BUILD_DIR/bench-build.log" >&2
      echo "bench/run.sh: building husk failed (log: $BUILD_DIR/bench-build.log)" >&2
      exit 1
    fi
    husk=$BUILD_DIR/runtime/cli/husk
  fi

  # 3. The harness and the floor, into a scratch dir (nothing built lands in the tree).
  work=$(mktemp -d /tmp/husk-bench.XXXXXX)
  mkdir -p "$work/bin"
  gcc -O2 -Wall -o "$work/bin/harness" "$here/harness.c"
  gcc -O2 -Wall -o "$work/bin/floor" "$here/floor.c"

  # 4. Everything else runs in a private mount namespace (see the header).
  rc=0
  RUNS=$RUNS WARMUP=$WARMUP BATCH_RUNS=$BATCH_RUNS FIGURES=$FIGURES \
    unshare -m --propagation private bash "$0" --inside "$work" "$husk" "$started" || rc=$?
  rm -rf "$work"
  # Every container id is bench-*: anything left in the host's cgroup hierarchies is a leak.
  left=$(find /sys/fs/cgroup -maxdepth 4 -type d -name 'bench-f*' 2>/dev/null | head -n 20)
  if [ -n "$left" ]; then
    echo "bench/run.sh: cgroups left behind on the host:" >&2
    echo "$left" >&2
    [ "$rc" != 0 ] || rc=4
  fi
  exit $rc
fi

# ---------------------------------------------------------------- inside the mount namespace
work=$2
husk=$3
started=$4
runc=$(command -v runc)
crun=$(command -v crun)

if mountpoint -q /sys/fs/cgroup/unified; then
  umount /sys/fs/cgroup/unified
  # crun, seeing no cgroup2 there, still mkdirs /sys/fs/cgroup/unified/<id> and writes its
  # cgroup.procs: without this private tmpfs that lands in the host's /sys/fs/cgroup tmpfs,
  # hidden under the host's cgroup2 mount, and is never removed.
  mount -t tmpfs -o mode=0755 husk-bench-unified /sys/fs/cgroup/unified
  cgroup_note="/sys/fs/cgroup/unified unmounted in this private mount namespace (host mounts untouched) and covered by a private empty tmpfs, for all three runtimes alike: crun 1.8.1 refuses the hybrid layout otherwise; cgroups are the v1 controllers"
else
  cgroup_note="no /sys/fs/cgroup/unified mount here; cgroup layout as found"
fi
# State dirs and bundles on a private tmpfs (runc's advice for --root), gone with the namespace.
mkdir -p "$work/tmp"
mount -t tmpfs -o mode=0700 tmpfs "$work/tmp"
w=$work/tmp

# Bundles: busybox-static rootfs as scripts/make-rootfs.sh builds it; config.json is the
# default `runc spec` with process.args changed, and process.terminal false (the default
# `true` needs a terminal on stdin, which a benchmark run does not have).
mkdir -p "$w/bundle-true" "$w/bundle-sleep"
bash "$repo/scripts/make-rootfs.sh" "$w/bundle-true/rootfs"
(cd "$w/bundle-true" && "$runc" spec)
jq '.process.args = ["true"] | .process.terminal = false' "$w/bundle-true/config.json" > "$w/c.json"
mv "$w/c.json" "$w/bundle-true/config.json"
cp -a "$w/bundle-true/rootfs" "$w/bundle-sleep/rootfs"
jq '.process.args = ["sleep", "1000"]' "$w/bundle-true/config.json" > "$w/bundle-sleep/config.json"
# The seccomp figure: `true` under seccomp-profiles/default.json (what containerd sends).
mkdir -p "$w/bundle-seccomp"
cp -a "$w/bundle-true/rootfs" "$w/bundle-seccomp/rootfs"
jq --slurpfile p "$repo/seccomp-profiles/default.json" '.linux.seccomp = $p[0]' \
  "$w/bundle-true/config.json" > "$w/bundle-seccomp/config.json"

ver() { "$@" --version 2>/dev/null | head -n1; }
git_rev=$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)
git_dirty=$(git -C "$repo" --no-optional-locks status --porcelain -uno 2>/dev/null | wc -l)
[ "$git_dirty" = 0 ] && git_state="clean" || git_state="$git_dirty modified tracked files"
cpu=$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -n1)
load_before=$(cut -d' ' -f1-3 /proc/loadavg)

mkdir -p "$results"
out=$results/latest.md
tmp_out=$w/latest.md
{
  echo "# husk vs runc vs crun ($(date -u '+%Y-%m-%d %H:%M UTC'))"
  echo
  echo "- machine: $(nproc) cores (${cpu:-unknown cpu}), kernel $(uname -r), $(. /etc/os-release && echo "$PRETTY_NAME"), load average before: $load_before"
  echo "- husk $(ver "$husk" | sed 's/^husk version //') (commit $git_rev, working tree: $git_state), release build: $husk"
  echo "- $(ver "$runc"), $(ver "$crun")"
  echo "- cgroups: $cgroup_note"
  echo "- bundle: busybox-static rootfs (scripts/make-rootfs.sh) + default \`runc spec\` config.json, process.args [\"true\"], process.terminal false; figure 3's container runs \`sleep 1000\`; a new container id per iteration; each runtime has its own --root on a private tmpfs"
  echo "- method: bench/harness.c times each command from posix_spawn to wait4 with CLOCK_MONOTONIC (runtime stdio on /dev/null). Runtimes are interleaved, one sample of each per round in the order husk, runc, crun (floor last in figure 1), so drift hits all alike; $WARMUP warm-up rounds untimed, then $RUNS rounds (figure 4: 1 warm-up round, $BATCH_RUNS rounds). Values: median (min–max); ratios are of medians"
  echo "- figure 2: four CLI calls (create --pid-file, start, delete); the harness is a child subreaper, as containerd's shim is, and 'wait for exit' is a pidfd on the init from the pid file becoming readable, then reaping it"
  echo "- figure 5: ru_maxrss from wait4 on the \`create\` process, the number GNU time -v reports as \"Maximum resident set size\": the peak RSS of that process over its life (across execs: crun re-execs a memfd copy of itself, husk re-execs itself from a read-only overlay mount of its directory, both against CVE-2019-5736) and of descendants it reaped itself (runc's nsexec stages, husk's/crun's helpers if any); the container init, which create leaves behind, is not counted"
} > "$tmp_out"
cat "$tmp_out"
echo

FIG=${FIGURES//6/}
"$work/bin/harness" --work "$w" --bundle "$w/bundle-true" --sleep-bundle "$w/bundle-sleep" \
  --floor "$work/bin/floor" --runs "$RUNS" --warmup "$WARMUP" --batch-runs "$BATCH_RUNS" \
  --figures "$FIG" --raw "$results/latest-raw.tsv" \
  husk="$husk" runc="$runc" crun="$crun" > "$w/table.md" || harness_rc=$?
harness_rc=${harness_rc:-0}

# Seccomp: figure 1 again with the default profile as linux.seccomp, first with husk's
# compiled-filter cache (warm after the warm-up rounds), then without it
# (HUSK_SECCOMP_CACHE=off; runc and crun ignore it and compile every time either way);
# and the cache's saving measured inside one process, without exec noise.
if [[ $FIGURES == *6* ]]; then
  for mode in cache off; do
    cache_env=$w/seccomp-cache
    [ "$mode" = off ] && cache_env=off
    HUSK_SECCOMP_CACHE=$cache_env "$work/bin/harness" --work "$w" --bundle "$w/bundle-seccomp" \
      --sleep-bundle "$w/bundle-sleep" --floor "$work/bin/floor" --runs "$RUNS" --warmup "$WARMUP" \
      --figures 1 husk="$husk" runc="$runc" crun="$crun" > "$w/seccomp-$mode.md" || harness_rc=$?
  done
  {
    echo
    echo "Figure 6: \`run\` of \`true\` with seccomp-profiles/default.json as linux.seccomp (floor: no runtime, no filter)."
    echo
    echo "6a, husk with its compiled-filter cache (warm):"
    sed -n '/^|/p' "$w/seccomp-cache.md"
    echo
    echo "6b, husk with HUSK_SECCOMP_CACHE=off (runc and crun as in 6a: they compile every time):"
    sed -n '/^|/p' "$w/seccomp-off.md"
    echo
    echo "6c, one process, 200 interleaved rounds (bench/seccomp_cache.cpp):"
    echo
    echo '```'
    "$(dirname "$husk")/../../bench/seccomp-cache-bench" 200 "$repo/seccomp-profiles/default.json" 2>&1 || true
    echo '```'
  } >> "$w/table.md"
fi

# Installed size: the binary (as found) and every shared library it links, with sizes.
libs_of() { # prints "size path" per resolved library
  ldd "$1" 2>/dev/null | awk '/=> \//{print $3} /^\t\/[^ ]+ \(/{print $1}' | while read -r l; do
    r=$(readlink -f "$l"); printf '%s %s\n' "$(stat -c %s "$r")" "$r"
  done
}
is_glibc() { case $(basename "$1") in libc.so*|libm.so*|ld-linux*|libpthread.so*|libdl.so*|librt.so*) return 0;; esac; return 1; }
{
  echo
  echo "Installed size (bytes; \"own libs\" = the shared libraries the binary links, other than glibc's libc/libm/ld-linux, whether or not another package also uses them):"
  echo
  echo "| runtime | binary | binary stripped | own libs (size) | binary + own libs |"
  echo "|---|---|---|---|---|"
  for pair in "husk=$husk" "runc=$runc" "crun=$crun"; do
    name=${pair%%=*}; bin=$(readlink -f "${pair#*=}")
    bsize=$(stat -c %s "$bin")
    strip -o "$w/stripped" "$bin" 2>/dev/null && ssize=$(stat -c %s "$w/stripped") || ssize="?"
    total=$bsize; list=""
    while read -r size path; do
      [ -n "$path" ] || continue
      is_glibc "$path" && continue
      total=$((total + size)); list+="$(basename "$path") ($size), "
    done < <(libs_of "$bin")
    [ -n "$list" ] || list="none (static), "
    echo "| $name | $bsize | $ssize | ${list%, } | $total |"
  done
  echo
  echo "Load average after: $(cut -d' ' -f1-3 /proc/loadavg). Whole run: $(( $(date +%s) - started )) s."
} > "$w/sizes.md"

{ cat "$w/table.md"; cat "$w/sizes.md"; } | tee -a "$tmp_out" | sed -n '1,$p'
cp "$tmp_out" "$out"
echo
echo "written: $out (raw samples: $results/latest-raw.tsv)"
exit "$harness_rc"
