#!/bin/sh
# events2lines.sh - reduce ksd JSON events to sorted "client evidence
# indicator rule category" lines, for golden-file comparison.
exec python3 -c '
import json, sys
rows = set()
for line in open(sys.argv[1], encoding="utf-8"):
    line = line.strip()
    if not line:
        continue
    e = json.loads(line)
    rows.add(" ".join(str(e[k]) for k in ("client", "evidence", "indicator", "rule", "category")))
for r in sorted(rows):
    print(r)
' "$1"
