#!/bin/bash
# containerd-shim-husk-v2 against containerd's runc shim (containerd-shim-runc-v2), side by
# side in one private containerd (tests/containerd/run.sh sets it up and checks the host
# afterwards):
#   - `ctr run --rm IMAGE ID true`, interleaved, median of HUSK_BENCH_ROUNDS (default 20):
#     runc shim + runc, husk shim + husk, husk shim + runc (the shim alone changed);
#   - memory of one shim per running container (HUSK_BENCH_PODS, default 5, `sleep`): RSS
#     and PSS from /proc.
# Writes bench/results/shim-latest.md. Builds build/ first, or uses $HUSK_BUILD as it is.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
BUILD=${HUSK_BUILD:-build}
bash scripts/install-deps.sh >/dev/null
[ -n "${HUSK_BUILD:-}" ] || bash scripts/build.sh >/dev/null
command -v bc >/dev/null || apt-get install -y -qq bc >/dev/null

work=$(mktemp -d /tmp/husk-bench-shim.XXXXXX)
trap 'rm -rf "$work"' EXIT
case $BUILD in /*) ;; *) BUILD=$REPO/$BUILD ;; esac
printf 'runtime: %s\n' "$BUILD/runtime/cli/husk" >"$work/husk.yaml"
printf 'runtime: %s\n' "$(command -v runc)" >"$work/runc.yaml"
mkdir -p bench/results
HUSK_BUILD=$BUILD HUSK_SHIM_CONFIG="$work/husk.yaml" HUSK_BENCH_RUNC_CONFIG="$work/runc.yaml" \
	HUSK_BENCH_OUT="$work/table.md" HUSK_CTD_CMD="bash $REPO/bench/shim_inner.sh" \
	bash tests/containerd/run.sh
{
	echo "# containerd shims, $(date -u +%Y-%m-%d), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
	echo
	echo "$(nproc) cores, kernel $(uname -r), containerd $(containerd --version | awk '{print $3}')"
	echo
	cat "$work/table.md"
} >bench/results/shim-latest.md
echo "written: bench/results/shim-latest.md"
