#!/bin/sh
# run.sh - run the cmocka unit test binaries given as arguments, then the
# end-to-end suites ($E2E, default every tests/e2e_*.sh), recording
# "name passed failed" per suite under $RESULTS so that tests/summary.sh can
# print one closing line.
#
# Environment: KSD (binary under test), BUILD (build dir), TOOLS, RESULTS,
# E2E (the suites to run), KSD_TIER (fast: the suites skip the shared corpus).
set -u
: "${KSD:=./ksd}" "${BUILD:=build}" "${RESULTS:=build/results}"
export KSD BUILD TOOLS
tag=$(echo "$BUILD" | tr '/' '_')
mkdir -p "$RESULTS"
rc=0

for t in "$@"; do
    name=$(basename "$t")
    out=$(mktemp)
    "$t" >"$out" 2>&1
    r=$?
    cat "$out"
    pass=$(sed -n 's/^\[  PASSED  \] \([0-9][0-9]*\) test.*/\1/p' "$out" | awk '{s+=$1} END {print s+0}')
    fail=$(sed -n 's/^\[  FAILED  \] \([0-9][0-9]*\) test.*/\1/p' "$out" | awk '{s+=$1} END {print s+0}')
    if [ "$r" -ne 0 ] && [ "$fail" -eq 0 ]; then
        # crashed or a sanitizer stopped it before cmocka could count
        fail=1
        echo "run.sh: $name exited with status $r" >&2
    fi
    echo "$name $pass $fail" >"$RESULTS/$tag.$name"
    [ "$r" -eq 0 ] || rc=1
    rm -f "$out"
done

# shellcheck disable=SC2086
for s in ${E2E:-tests/e2e_*.sh}; do
    [ -f "$s" ] || continue
    name=$(basename "$s" .sh)
    out=$(mktemp)
    sh "$s" >"$out" 2>&1
    r=$?
    cat "$out"
    pass=$(grep -c '^ok ' "$out")
    fail=$(grep -c '^not ok ' "$out")
    skip=$(grep -c '^skip ' "$out")
    if [ "$r" -ne 0 ] && [ "$fail" -eq 0 ]; then
        fail=1
    fi
    echo "$name $pass $fail $skip" >"$RESULTS/$tag.$name"
    [ "$r" -eq 0 ] || rc=1
    rm -f "$out"
done
exit $rc
