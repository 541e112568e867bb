#!/bin/sh
# smoke.sh - run every libFuzzer harness for a few seconds on its seed corpus
# (tests/fuzz/corpus/<name>), so a regression on known inputs shows in CI.
# Longer runs: FUZZ_SECONDS=600 sh tests/fuzz/smoke.sh build/fuzz/fuzz_dns
set -u
secs=${FUZZ_SECONDS:-5}
results=build/results
mkdir -p "$results"
pass=0
fail=0
for h in "$@"; do
    name=$(basename "$h")
    seeds=tests/fuzz/corpus/${name#fuzz_}
    work=$(mktemp -d)
    [ -d "$seeds" ] && cp -r "$seeds"/. "$work"/ 2>/dev/null
    if "$h" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$work/" "$work" >"$work/log" 2>&1; then
        execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log")
        echo "ok $name ($execs runs in ${secs}s)"
        pass=$((pass + 1))
    else
        echo "not ok $name"
        tail -n 30 "$work/log"
        fail=$((fail + 1))
    fi
    rm -rf "$work"
done
echo "fuzz-smoke $pass $fail" >"$results/fuzz-smoke"
[ "$fail" -eq 0 ]
