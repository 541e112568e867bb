#!/bin/sh
# update-expected.sh - rewrite the expected event files of tests/PCAPLIST
# from the current ./ksd (like tcpdump's update-test.sh). Review the diff!
set -eu
KSD=${KSD:-./ksd}
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
while read -r name pcap expected opts; do
    case "$name" in '' | '#'*) continue ;; esac
    # shellcheck disable=SC2086
    "$KSD" -s signatures/kaspersky.rules -r "tests/pcap/$pcap" --json "$tmp" $opts >/dev/null
    sh tests/events2lines.sh "$tmp" >"tests/pcap/$expected"
    echo "$name: $(wc -l <"tests/pcap/$expected") events"
done <tests/PCAPLIST
