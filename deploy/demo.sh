#!/bin/sh
# demo.sh - run ksd on the bundled demo capture (deploy/demo.pcap, made with
# real protocol stacks by deploy/make-captures.sh) and show what it found:
# the detection events and the table of flagged hosts.
set -eu
cd "$(dirname "$0")/.."
out=build/demo
mkdir -p "$out"
echo "== ksd -r deploy/demo.pcap -s signatures/kaspersky.rules --json $out/events.json --hosts --stats"
./ksd -r deploy/demo.pcap -s signatures/kaspersky.rules --json "$out/events.json" \
    --facts "$out/facts.tsv" --hosts --stats >"$out/hosts.txt" 2>"$out/stats.txt"
echo
echo "== detection events ($(wc -l <"$out/events.json") in $out/events.json), first lines:"
head -n 5 "$out/events.json"
echo
echo "== statistics"
cat "$out/stats.txt"
echo
echo "== flagged hosts"
cat "$out/hosts.txt"
