#!/bin/sh
# summary.sh - add up the per-suite results written by run.sh and print the
# closing line "ksd: N passed, N failed" (", N skipped" when any were skipped).
set -u
dir=${1:-build/results}
[ -d "$dir" ] || { echo "summary.sh: no results in $dir" >&2; exit 1; }
cat "$dir"/* | awk '
    { p += $2; f += $3; s += ($4 == "" ? 0 : $4); if ($3 > 0) bad = bad " " $1 }
    END {
        if (bad != "") print "failing suites:" bad
        line = sprintf("ksd: %d passed, %d failed", p, f)
        if (s > 0) line = line sprintf(", %d skipped", s)
        print line
        exit (f > 0 || p == 0) ? 1 : 0
    }'
