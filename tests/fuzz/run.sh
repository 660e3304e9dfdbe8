#!/usr/bin/env bash
# Builds the config.json fuzzer (libFuzzer, ASan + UBSan) into build-fuzz/ and runs it.
#
#   bash tests/fuzz/run.sh [SECONDS]        fuzz for SECONDS (default 600), one process
#   bash tests/fuzz/run.sh 0                only build
#   FUZZ_ARGS="-seed=1" bash tests/fuzz/run.sh 60       extra libFuzzer flags
#   bash tests/fuzz/run.sh repro FILE...    run the fuzzer once on each FILE (crash repro)
#
# The compiler: libstdc++ 12's <expected> needs __cpp_concepts >= 202002L, which Debian 12's
# clang 14 (and 15, 16) do not define; bookworm's clang-19 does. It is installed from apt when
# missing. The seed corpus in tests/fuzz/corpus/ is never written: the run works on a copy in
# build-fuzz/corpus/ (with the keywords in config.dict), and crashes land in build-fuzz/artifacts/.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src=$(cd "$here/../.." && pwd)
out="$src/build-fuzz"
llvm_version=19
cxx="clang++-$llvm_version"

mode=fuzz
seconds=600
if [[ ${1:-} == repro ]]; then
    mode=repro
    shift
elif [[ $# -gt 0 ]]; then
    seconds=$1
    [[ $seconds =~ ^[0-9]+$ ]] || { echo "usage: $0 [SECONDS] | repro FILE..." >&2; exit 2; }
fi

# ---- toolchain -------------------------------------------------------------------------------
fuzzer_rt="/usr/lib/llvm-$llvm_version/lib/clang/$llvm_version/lib/linux/libclang_rt.fuzzer-x86_64.a"
if ! command -v "$cxx" >/dev/null || [[ ! -e $fuzzer_rt ]]; then
    echo "== installing clang-$llvm_version from apt"
    export DEBIAN_FRONTEND=noninteractive
    apt-get -o DPkg::Lock::Timeout=600 update -qq
    apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends \
        "clang-$llvm_version" "libclang-rt-$llvm_version-dev" libseccomp-dev nlohmann-json3-dev pkg-config
fi

# ---- build -----------------------------------------------------------------------------------
# Only what parse_config, parse_resources, parse_process and seccomp::compile need.
sources=(
    tests/fuzz/config_fuzz.cpp
    runtime/spec/config.cpp
    runtime/seccomp/seccomp.cpp
    common/error.cpp
    common/fd.cpp
    common/fs.cpp
    common/json_escape.cpp
    common/log.cpp
)
sanitize="-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined"
flags=(-std=c++2b -D_GNU_SOURCE -I"$src" -O1 -g -fno-omit-frame-pointer $sanitize)
# shellcheck disable=SC2207
flags+=($(pkg-config --cflags libseccomp nlohmann_json))

mkdir -p "$out/obj"
echo "== building $out/config_fuzz with $("$cxx" --version | head -1)"
objects=()
for s in "${sources[@]}"; do
    o="$out/obj/$(echo "${s%.cpp}" | tr / _).o"
    "$cxx" "${flags[@]}" -c "$src/$s" -o "$o"
    objects+=("$o")
done
# shellcheck disable=SC2046
"$cxx" $sanitize "${objects[@]}" -o "$out/config_fuzz" $(pkg-config --libs libseccomp)

for sym in "/usr/lib/llvm-$llvm_version/bin/llvm-symbolizer" "$(command -v llvm-symbolizer || true)"; do
    [[ -x $sym ]] && { export ASAN_SYMBOLIZER_PATH="$sym"; break; }
done
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:symbolize=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"

if [[ $mode == repro ]]; then
    exec "$out/config_fuzz" "$@"
fi
[[ $seconds -gt 0 ]] || exit 0

# ---- fuzz ------------------------------------------------------------------------------------
rm -rf "$out/corpus" "$out/artifacts"
mkdir -p "$out/corpus" "$out/artifacts"
cp "$here"/corpus/* "$out/corpus/"
echo "== fuzzing for ${seconds}s on a copy of $(ls "$here/corpus" | wc -l) seeds"
rc=0
# One process (no -jobs/-workers): the machine is shared.
# shellcheck disable=SC2086
"$out/config_fuzz" \
    -max_total_time="$seconds" \
    -max_len=65536 \
    -dict="$here/config.dict" \
    -timeout=10 \
    -rss_limit_mb=2048 \
    -print_final_stats=1 \
    -artifact_prefix="$out/artifacts/" \
    ${FUZZ_ARGS:-} \
    "$out/corpus" 2>&1 | tee "$out/fuzz.log" || rc=$?
echo "== corpus after the run: $(ls "$out/corpus" | wc -l) units in $out/corpus"
if compgen -G "$out/artifacts/*" >/dev/null; then
    echo "== artifacts:"
    ls -l "$out/artifacts/"
fi
exit "$rc"
