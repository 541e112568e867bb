#!/bin/sh
# e2e_pcap.sh - golden captures: run ./ksd on each capture listed in
# tests/PCAPLIST and compare its detections with the expected file.
# Captures of the shared corpus (../shared/corpus/real, or $KSD_CORPUS) print
# a skip when it is absent, and under KSD_TIER=fast (make check).
#
# PCAPLIST lines: NAME PCAP EXPECTED [ksd options...]; '#' starts a comment.
# Expected files hold one line per event, "client evidence indicator rule
# category", sorted; tests/update-expected.sh rewrites them from the current
# output (review the diff before committing).
set -u
KSD=${KSD:-./ksd}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0
failed=0
corpus=${KSD_CORPUS:-../shared/corpus/real}
while read -r name pcap expected opts; do
    case "$name" in '' | '#'*) continue ;; esac
    case "$pcap" in
    */shared/corpus/real/*)
        if [ "${KSD_TIER:-}" = fast ]; then
            echo "skip $name: the fast tier (make check) leaves the shared corpus to make test"
            continue
        fi
        path=$corpus/${pcap##*/}
        [ -f "$path" ] || { echo "skip $name: $corpus not present"; continue; }
        ;;
    *) path=tests/pcap/$pcap ;;
    esac
    n=$((n + 1))
    # shellcheck disable=SC2086
    if ! "$KSD" -s signatures/kaspersky.rules -r "$path" --json "$tmp/ev.json" \
        $opts >"$tmp/out" 2>"$tmp/err"; then
        echo "not ok $n - $name: ksd failed"
        sed 's/^/#   /' "$tmp/err" | head -5
        failed=1
        continue
    fi
    sh tests/events2lines.sh "$tmp/ev.json" >"$tmp/got"
    if cmp -s "$tmp/got" "tests/pcap/$expected"; then
        echo "ok $n - $name"
    else
        echo "not ok $n - $name"
        diff "tests/pcap/$expected" "$tmp/got" | sed 's/^/#   /' | head -20
        failed=1
    fi
done <tests/PCAPLIST
exit $failed
