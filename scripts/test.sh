#!/usr/bin/env bash
# The README's test command: install, build, then run every test.
#   1. unit tests (doctest, through meson test)
#   2. the bats integration suite against husk
#   3. the same suite against runc (RUNTIME=runc), which validates the tests themselves:
#      a test of a feature runc also has must pass there too; husk-only tests skip.
# Set HUSK_SKIP_RUNC=1 to leave out step 3.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh || exit 2
bash scripts/build.sh >/dev/null || { bash scripts/build.sh; exit 2; }

unit_rc=0 husk_rc=0 runc_rc=0
echo "== unit tests"
build/tests/unit/unit-tests --no-intro=true >build/unit.log 2>&1
unit_rc=$?
tail -n 4 build/unit.log

echo "== integration tests (husk)"
bash bats/run.sh 2>&1 | tee build/bats-husk.log | grep -vE '^ok '
husk_rc=${PIPESTATUS[0]}

if [ "${HUSK_SKIP_RUNC:-0}" != 1 ]; then
  echo "== integration tests (RUNTIME=runc)"
  RUNTIME=$(command -v runc) bash bats/run.sh 2>&1 | tee build/bats-runc.log | grep -vE '^ok '
  runc_rc=${PIPESTATUS[0]}
fi

# One closing line over everything, in the plain "N passed, N failed" form.
count() { local n; n=$(grep -cE "$1" "$2" 2>/dev/null); echo "${n:-0}"; }
passed=$(( $(count '^ok ' build/bats-husk.log) + $(count '^ok ' build/bats-runc.log) ))
failed=$(( $(count '^not ok ' build/bats-husk.log) + $(count '^not ok ' build/bats-runc.log) ))
unit_line=$(sed -n 's/^\[doctest\] test cases: *\([0-9]*\) | *\([0-9]*\) passed | *\([0-9]*\) failed.*/\2 \3/p' build/unit.log)
[ -n "$unit_line" ] || unit_line="0 1"
passed=$(( passed + ${unit_line%% *} ))
failed=$(( failed + ${unit_line##* } ))
echo "unit rc=$unit_rc, bats husk rc=$husk_rc, bats runc rc=$runc_rc"
echo "tests: $passed passed, $failed failed"
[ "$unit_rc" = 0 ] && [ "$husk_rc" = 0 ] && [ "$runc_rc" = 0 ]
