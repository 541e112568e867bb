#!/bin/sh
# outputs.sh OUTDIR - write ksd's facts and events (--threads 1, event ids
# and pcap removed: wall clock, temp dir) for every capture of tests/pcap,
# deploy/demo.pcap, the generated captures of tests/tools/mkcaps.py and,
# when present, ../shared/corpus/real, one file per capture, so that two
# builds can be compared with `diff -r A B` (a refactoring must not change
# a byte). KSD=binary (default ./ksd).
set -u
KSD=${KSD:-./ksd}
out=${1:?usage: outputs.sh OUTDIR}
mkdir -p "$out"
gen=$(mktemp -d)
trap 'rm -rf "$gen"' EXIT
python3 tests/tools/mkcaps.py "$gen"
for f in tests/pcap/*.pcap deploy/demo.pcap "$gen"/*.pcap ../shared/corpus/real/*.pcap \
    ../shared/corpus/real/*.pcapng; do
    [ -f "$f" ] || continue
    b=$(basename "$f")
    "$KSD" -s signatures/kaspersky.rules -r "$f" --threads 1 --facts "$out/$b.facts" \
        --json - 2>/dev/null | sed -e 's/,"id":"[0-9a-f]*"}$/}/' -e 's/,"pcap":"[^"]*"//' >"$out/$b.events"
done
