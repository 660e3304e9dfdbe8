#!/bin/bash
# Runs inside tests/containerd/run.sh (HUSK_CTD_CMD), against its private containerd: times
# `ctr run --rm` and measures the shims' memory for containerd's runc shim and husk's shim.
# bench/shim.sh is the entry point; see there.
set -u

ROUNDS=${HUSK_BENCH_ROUNDS:-20}
PODS=${HUSK_BENCH_PODS:-5}
OUT=${HUSK_BENCH_OUT:?}
ctr_() { timeout -k 5 60 ctr --address "$CTR_ADDRESS" --namespace "$CTR_NAMESPACE" "$@"; }

# name: label, runtime, extra ctr flags
configs=(
	"runc-shim+runc|io.containerd.runc.v2|"
	"husk-shim+husk|io.containerd.husk.v2|"
	"husk-shim+runc|io.containerd.husk.v2|--runtime-config-path $HUSK_BENCH_RUNC_CONFIG"
)

now_us() { echo $(($(date +%s%N) / 1000)); }
median() { sort -n | awk '{a[NR] = $1} END { if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

# 1. ctr run --rm IMAGE ID true, the configurations interleaved round by round.
declare -A times
for ((r = 0; r < ROUNDS; r++)); do
	for c in "${configs[@]}"; do
		IFS='|' read -r label runtime extra <<<"$c"
		id="bench-$r-${label//+/-}"
		t0=$(now_us)
		# shellcheck disable=SC2086
		ctr_ run --rm --runtime "$runtime" $extra "$HUSK_CTD_IMAGE" "$id" true >/dev/null 2>&1 || {
			echo "bench: ctr run failed for $label" >&2
			exit 1
		}
		t1=$(now_us)
		times[$label]+="$((t1 - t0)) "
	done
done

# 2. Memory: PODS long-running containers per configuration (one shim each: no CRI pod
# grouping here), then each shim's RSS and PSS (shared pages split among their users).
shim_pids() { pgrep -f "containerd-shim.*-id $1( |\$)"; }
declare -A rss pss
for c in "${configs[@]}"; do
	IFS='|' read -r label runtime extra <<<"$c"
	ids=()
	for ((i = 0; i < PODS; i++)); do
		id="mem-$i-${label//+/-}"
		# shellcheck disable=SC2086
		ctr_ run -d --runtime "$runtime" $extra "$HUSK_CTD_IMAGE" "$id" sleep 1000 >/dev/null || exit 1
		ids+=("$id")
	done
	sleep 1
	r_total=0 p_total=0
	for id in "${ids[@]}"; do
		pid=$(shim_pids "$id" | head -n1)
		[ -n "$pid" ] || { echo "bench: no shim for $id" >&2; exit 1; }
		r=$(awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status")
		p=$(awk '/^Pss:/ { print $2 }' "/proc/$pid/smaps_rollup")
		r_total=$((r_total + r))
		p_total=$((p_total + p))
	done
	rss[$label]=$((r_total / PODS))
	pss[$label]=$((p_total / PODS))
	for id in "${ids[@]}"; do
		ctr_ task kill -s SIGKILL "$id" >/dev/null 2>&1
	done
	for id in "${ids[@]}"; do
		for _ in $(seq 50); do
			ctr_ task rm "$id" >/dev/null 2>&1 && break
			sleep 0.1
		done
		ctr_ container rm "$id" >/dev/null 2>&1
	done
done

{
	echo "| configuration | ctr run --rm, median of $ROUNDS (ms) | shim RSS per pod (KiB) | shim PSS per pod (KiB) |"
	echo "|---|---|---|---|"
	for c in "${configs[@]}"; do
		IFS='|' read -r label _ _ <<<"$c"
		m=$(tr ' ' '\n' <<<"${times[$label]}" | grep . | median)
		printf '| %s | %.1f | %d | %d |\n' "$label" "$(echo "$m / 1000" | bc -l)" "${rss[$label]}" "${pss[$label]}"
	done
	base_t=$(tr ' ' '\n' <<<"${times[runc-shim+runc]}" | grep . | median)
	husk_t=$(tr ' ' '\n' <<<"${times[husk-shim+husk]}" | grep . | median)
	echo
	printf 'husk shim / runc shim: ctr run --rm %.2f, RSS %.2f, PSS %.2f\n' \
		"$(echo "$husk_t / $base_t" | bc -l)" \
		"$(echo "${rss[husk-shim+husk]} / ${rss[runc-shim+runc]}" | bc -l)" \
		"$(echo "${pss[husk-shim+husk]} / ${pss[runc-shim+runc]}" | bc -l)"
} >"$OUT"
cat "$OUT"
