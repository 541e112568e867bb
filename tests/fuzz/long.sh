#!/bin/sh
# long.sh - the long fuzzing campaign: every harness for FUZZ_SECONDS
# (default 600), two at a time, each on a copy of its seed corpus; findings
# are kept in build/fuzz-long/. Rewrites the table between the fuzz markers
# of tests/ORACLE.md (harness, seconds, executions, findings).
set -u
secs=${FUZZ_SECONDS:-600}
out=build/fuzz-long
rm -rf "$out"
mkdir -p "$out"
run() {
    name=$(basename "$1")
    work=$(mktemp -d)
    cp -r "tests/fuzz/corpus/${name#fuzz_}/." "$work/" 2>/dev/null
    "$1" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$out/$name-" "$work" >"$out/$name.log" 2>&1
    echo "$name $? $(sed -n 's/^stat::number_of_executed_units: *//p' "$out/$name.log")" \
        >"$out/$name.result"
    rm -rf "$work"
}
set -- "$@"
while [ $# -gt 0 ]; do
    run "$1" &
    [ $# -gt 1 ] && { run "$2" & }
    wait
    shift
    [ $# -gt 0 ] && shift
done
{
    echo "| harness | seconds | executions | findings |"
    echo "|---|---:|---:|---:|"
    for r in "$out"/*.result; do
        read -r name rc execs <"$r"
        found=$(ls "$out/$name-"* 2>/dev/null | wc -l)
        echo "| $name | $secs | $execs | $found$([ "$rc" -ne 0 ] && echo " (exit $rc)") |"
    done
} >"$out/table.md"
cat "$out/table.md"
python3 - "$out/table.md" tests/ORACLE.md "$(date -u +%Y-%m-%d)" <<'PY'
import sys
table = open(sys.argv[1]).read()
doc = open(sys.argv[2]).read()
a, b = "<!-- fuzz:begin -->\n", "<!-- fuzz:end -->"
i, j = doc.index(a) + len(a), doc.index(b)
open(sys.argv[2], "w").write(doc[:i] + "Campaign of " + sys.argv[3] + " (`make fuzz-long`):\n\n" + table + doc[j:])
PY
! grep -q '| [1-9][0-9]* |$\|(exit' "$out/table.md"
