#!/usr/bin/env bash
# The README's test command: install, build, then run every test.
#   1. unit tests (doctest, through meson test)
#   2. the bats integration suite against husk
#   3. the same suite against runc (RUNTIME=runc), which validates the tests themselves:
#      a test of a feature runc also has must pass there too; husk-only tests skip.
#   4. the cgroup files of the suite inside a pure cgroup v2 guest (tests/vm/run.sh: QEMU
#      microvm with Debian's kernel), against husk and against runc: the host is hybrid v1.
# Set HUSK_SKIP_RUNC=1 to leave out the runc runs, HUSK_SKIP_VM=1 to leave out step 4.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh || exit 2
bash scripts/build.sh >/dev/null || { bash scripts/build.sh; exit 2; }

# A test that hangs fails on its own after this long instead of stalling the whole run.
export BATS_TEST_TIMEOUT=${BATS_TEST_TIMEOUT:-300}

unit_rc=0 husk_rc=0 runc_rc=0 vm_husk_rc=0 vm_runc_rc=0
echo "== unit tests"
build/tests/unit/unit-tests --no-intro=true >build/unit.log 2>&1
unit_rc=$?
tail -n 4 build/unit.log

echo "== integration tests (husk)"
bash bats/run.sh 2>&1 | tee build/bats-husk.log | grep -vE '^ok '
husk_rc=${PIPESTATUS[0]}

rm -f build/bats-runc.log
if [ "${HUSK_SKIP_RUNC:-0}" != 1 ]; then
  echo "== integration tests (RUNTIME=runc)"
  RUNTIME=$(command -v runc) bash bats/run.sh 2>&1 | tee build/bats-runc.log | grep -vE '^ok '
  runc_rc=${PIPESTATUS[0]}
fi

# The cgroup v2 guest: the cgroup, pause, update and events files.
vm_files=(bats/cgroups.bats bats/pause.bats bats/update.bats bats/events.bats)
rm -f build/vm-husk.log build/vm-runc.log
if [ "${HUSK_SKIP_VM:-0}" != 1 ]; then
  echo "== cgroup v2 guest (husk)"
  bash tests/vm/run.sh "${vm_files[@]}" 2>&1 | tee build/vm-husk.log | grep -vE '^ok '
  vm_husk_rc=${PIPESTATUS[0]}
  if [ "${HUSK_SKIP_RUNC:-0}" != 1 ]; then
    echo "== cgroup v2 guest (RUNTIME=runc)"
    # The first guest's KVM probe decided the accelerator; the second does not probe again.
    accel=$(sed -n 's/^vm: accelerator \([a-z]*\) .*/\1/p' build/vm-husk.log | head -n1)
    HUSK_VM_ACCEL=${HUSK_VM_ACCEL:-${accel:-auto}} \
      RUNTIME=$(command -v runc) bash tests/vm/run.sh "${vm_files[@]}" 2>&1 | tee build/vm-runc.log | grep -vE '^ok '
    vm_runc_rc=${PIPESTATUS[0]}
  fi
fi

# One closing line over everything, in the plain "N passed, N failed" form.
count() { local n; n=$(grep -cE "$1" "$2" 2>/dev/null); echo "${n:-0}"; }
logs=(build/bats-husk.log build/bats-runc.log build/vm-husk.log build/vm-runc.log)
passed=0 failed=0
for log in "${logs[@]}"; do
  passed=$(( passed + $(count '^ok ' "$log") ))
  failed=$(( failed + $(count '^not ok ' "$log") ))
done
unit_line=$(sed -n 's/^\[doctest\] test cases: *\([0-9]*\) | *\([0-9]*\) passed | *\([0-9]*\) failed.*/\2 \3/p' build/unit.log)
[ -n "$unit_line" ] || unit_line="0 1"
passed=$(( passed + ${unit_line%% *} ))
failed=$(( failed + ${unit_line##* } ))
echo "unit rc=$unit_rc, bats husk rc=$husk_rc, bats runc rc=$runc_rc, v2 guest husk rc=$vm_husk_rc, v2 guest runc rc=$vm_runc_rc"
echo "tests: $passed passed, $failed failed"
[ "$unit_rc" = 0 ] && [ "$husk_rc" = 0 ] && [ "$runc_rc" = 0 ] && [ "$vm_husk_rc" = 0 ] && [ "$vm_runc_rc" = 0 ]
