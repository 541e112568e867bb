#!/bin/sh
# e2e_cli.sh - the command line contract: exit codes and messages for bad
# input, --check-signatures, one mac fact per host of a generated many-host
# mix with one and two workers, and one pass over every capture of the shared
# corpus (no crash, no sanitizer report; the sanitizer build makes any report
# fatal; the plain build also compares one and two workers and runs valgrind).
# Output: "ok N - what" / "not ok N - what" / "skip ..." lines.
#
# The corpus (../shared/corpus/real, or $KSD_CORPUS) is not part of the
# repository: without it the corpus checks print a skip with the reason.
# KSD_TIER=fast (make check) skips them too.
set -u
KSD=${KSD:-./ksd}
TOOLS=${TOOLS:-${BUILD:-build}/tools}
corpus=${KSD_CORPUS:-../shared/corpus/real}
cap=tests/pcap/dns-kaspersky.pcap # any readable capture of the repository
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
no() { n=$((n + 1)); failed=1; echo "not ok $n - $1"; [ -f "$tmp/err" ] && sed 's/^/#   /' "$tmp/err" | head -5; }
expect() { # expect DESC WANT_STATUS STDERR_REGEX -- command...
    desc=$1 want=$2 re=$3
    shift 4
    "$@" >"$tmp/out" 2>"$tmp/err"
    got=$?
    if [ "$got" -eq "$want" ] && { [ -z "$re" ] || grep -Eq "$re" "$tmp/err"; }; then
        ok "$desc"
    else
        echo "#   exit $got (want $want)"
        no "$desc"
    fi
}

R=signatures/kaspersky.rules

expect "valid rule file checks" 0 "" -- "$KSD" --check-signatures "$R"
grep -q "by category:" "$tmp/out" && ok "summary lists categories" || no "summary lists categories"

printf 'version 1\nbad-1 domain\n' >"$tmp/bad.rules"
expect "bad rule line: FILE:LINE and exit 1 in --check-signatures" 1 "bad.rules:2: " -- \
    "$KSD" --check-signatures "$tmp/bad.rules"
expect "bad rule line: FILE:LINE and exit 2 when loading" 2 "bad.rules:2: " -- \
    "$KSD" -s "$tmp/bad.rules" -r "$cap"
expect "missing rule file: exit 2" 2 "nonexistent.rules" -- \
    "$KSD" -s "$tmp/nonexistent.rules" -r "$cap"
expect "missing capture: one line, exit 3" 3 "no-such.pcap: cannot open" -- \
    "$KSD" -s "$R" -r "$tmp/no-such.pcap"
[ "$(grep -c no-such.pcap "$tmp/err")" -eq 1 ] && [ "$(grep -vc '^ksd: 1 file ' "$tmp/err")" -eq 1 ] &&
    ok "missing capture: exactly one line, and the summary" ||
    no "missing capture: exactly one line, and the summary"
echo "not a capture" >"$tmp/junk.pcap"
expect "unreadable capture: exit 3" 3 "junk.pcap: not a readable capture file: not a pcap or pcapng" -- \
    "$KSD" -s "$R" -r "$tmp/junk.pcap"
expect "unknown option: exit 2" 2 "unknown option" -- "$KSD" --frobnicate
expect "no input: exit 2" 2 "nothing to read" -- "$KSD" -s "$R"
expect "a positional argument is an input" 3 "no-such-2.pcap: cannot open" -- \
    "$KSD" -s "$R" "$tmp/no-such-2.pcap"
expect "bad --threads value: exit 2" 2 "threads" -- "$KSD" -s "$R" --threads many -r x
printf 'read = %s\nfrobnicate = 1\n' "$cap" >"$tmp/bad.conf"
expect "bad config line: FILE:LINE and exit 2" 2 "bad.conf:2: unknown setting" -- \
    "$KSD" -s "$R" -c "$tmp/bad.conf"
printf 'redis-timeout = 500\nspool-max = 0\n' >"$tmp/bad-spool.conf"
expect "bad Redis output setting: FILE:LINE and exit 2" 2 "bad-spool.conf:2: spool max must be" -- \
    "$KSD" -s "$R" -c "$tmp/bad-spool.conf" -r x
printf 'redis-connect-timeout = 250\nredis-timeout = 500\nredis-queue = 1000\nspool-max = 8\n' \
    >"$tmp/out.conf"
expect "Redis output settings from the file" 0 "" -- "$KSD" -c "$tmp/out.conf" --print-config
for kv in "redis-connect-timeout = 250" "redis-timeout = 500" "redis-queue = 1000" "spool-max = 8"; do
    grep -qx "$kv" "$tmp/out" && ok "print-config shows $kv" || no "print-config shows $kv"
done
printf '# comment\nread = %s\nstats = yes\n' "$cap" >"$tmp/good.conf"
expect "config file supplies -r" 0 "" -- "$KSD" -s "$R" -c "$tmp/good.conf"
expect "stdin capture" 0 "" -- sh -c "\"$KSD\" -s $R -r - --facts - < tests/pcap/tls-sni-update.pcap"
grep -q "^tls_sni	s07.upd.kaspersky.com$" "$tmp/out" && ok "stdin capture gives the SNI" ||
    no "stdin capture gives the SNI"

# A generated mix of about 5,800 hosts (tests/tools/benchgen), one and two
# workers: the sensor-wide MAC table holds every host, so each gets one `mac`
# fact, whichever worker's update comes first (a table that pushed out live
# hosts repeated facts, and differently with two workers).
if ldd "$KSD" 2>/dev/null | grep -q libasan; then
    echo "skip - many hosts: one and two workers are compared by the plain build"
elif [ ! -x "$TOOLS/benchgen" ]; then
    echo "skip - many hosts: $TOOLS/benchgen is not built (make $TOOLS/benchgen)"
else
    "$TOOLS/benchgen" -n 300000 -o "$tmp/mix.pcap" -k 5 -s 1 >/dev/null
    "$KSD" -s "$R" -r "$tmp/mix.pcap" --threads 1 --facts - 2>/dev/null | sort >"$tmp/t1"
    "$KSD" -s "$R" -r "$tmp/mix.pcap" --threads 2 --facts - 2>/dev/null | sort >"$tmp/t2"
    hosts=$(awk '$1 == "mac" { print $2 }' "$tmp/t1" | sort -u | wc -l)
    macs=$(grep -c '^mac' "$tmp/t1")
    [ "$hosts" -gt 5000 ] && [ "$macs" -eq "$hosts" ] && cmp -s "$tmp/t1" "$tmp/t2" &&
        ok "many hosts: one mac fact for each of $hosts hosts, the same facts with 2 workers" ||
        no "many hosts: $macs mac facts for $hosts hosts, or 2 workers differ"
    rm -f "$tmp/mix.pcap"
fi

if [ "${KSD_TIER:-}" = fast ]; then
    echo "skip corpus: the fast tier (make check) leaves the shared corpus to make test"
    exit $failed
fi
if [ ! -d "$corpus" ]; then
    echo "skip corpus: $corpus not present"
    exit $failed
fi

# TLS on port 80: found by content (the oracle, port-based, misses it).
"$KSD" -s "$R" -r "$corpus/ndpi_tls_port_80.pcapng" --facts "$tmp/p80" 2>/dev/null
grep -q "^ja3	3f2fba0262b1a22b739126dfb2fe7a7d$" "$tmp/p80" &&
    grep -q "^ja4	t12i550500_168bb377f8c8_a1e935682795$" "$tmp/p80" &&
    ok "TLS on port 80: ClientHello found by content (JA3 and JA4)" ||
    no "TLS on port 80: ClientHello found by content (JA3 and JA4)"

# Stray byte before a ClientHello, wrong port guess of the client: both hellos found.
"$KSD" -s "$R" -r "$corpus/ndpi_ossfuzz_seed_fake_traces_1-rawip.pcapng" --facts "$tmp/fz" 2>/dev/null
grep -q "^ja4	t10d010100_a4c07683491e_000000000000$" "$tmp/fz" &&
    grep -q "^ja4	ts3i000000_000000000000_000000000000$" "$tmp/fz" &&
    ok "stray byte before the ClientHello record: fingerprint found" ||
    no "stray byte before the ClientHello record: fingerprint found"

# A ClientHello with a missing segment: the name from the part that arrived, no fingerprint.
"$KSD" -s "$R" -r "$corpus/ndpi_tls_missing_ch_frag.pcap" --facts "$tmp/gap" 2>/dev/null
grep -q "^tls_sni	r1---sn-5f5nxgvh5o-hjul.googlevideo.com$" "$tmp/gap" && ! grep -q "^ja3	" "$tmp/gap" &&
    ok "ClientHello with a missing segment: SNI from the part that arrived, no JA3" ||
    no "ClientHello with a missing segment: SNI from the part that arrived, no JA3"

# One pass over the corpus (and the demo): no crash, no sanitizer report;
# the plain build also checks that two worker threads change the order of
# output, never its content. The sanitizer build runs each capture once,
# with two workers.
san=0
ldd "$KSD" 2>/dev/null | grep -q libasan && san=1
bad=0
diff=0
for f in "$corpus"/*.pcap "$corpus"/*.pcapng deploy/demo.pcap; do
    if [ $san -eq 1 ]; then
        "$KSD" -s "$R" -r "$f" --threads 2 --facts /dev/null --json /dev/null --stats >/dev/null 2>"$tmp/err"
    else
        "$KSD" -s "$R" -r "$f" --threads 1 --facts "$tmp/t1" --json /dev/null --stats >/dev/null 2>"$tmp/err"
    fi
    st=$?
    # the one cut-short file ends with a read error (exit 3); anything else must be 0
    if { [ "$st" -ne 0 ] && [ "$st" -ne 3 ]; } || grep -q "Sanitizer\|runtime error" "$tmp/err"; then
        echo "#   $(basename "$f"): exit $st"
        head -5 "$tmp/err" | sed 's/^/#   /'
        bad=$((bad + 1))
    fi
    [ $san -eq 0 ] || continue
    "$KSD" -s "$R" -r "$f" --facts - --threads 2 2>/dev/null | sort >"$tmp/t2"
    sort "$tmp/t1" | cmp -s - "$tmp/t2" || { echo "#   $(basename "$f") differs"; diff=$((diff + 1)); }
done
[ "$bad" -eq 0 ] && ok "corpus: every capture read without crash or sanitizer report" ||
    no "corpus: $bad captures crashed or raised a sanitizer report"
if [ $san -eq 1 ]; then
    echo "skip - corpus: one and two workers are compared by the plain build"
else
    [ "$diff" -eq 0 ] && ok "corpus: --threads 2 gives the same facts as --threads 1" ||
        no "corpus: $diff captures differ between 1 and 2 workers"
fi
# Uninitialised reads are invisible to AddressSanitizer: the plain build runs
# under valgrind's memcheck over the demo (one and two workers) and the corpus.
if [ $san -eq 1 ]; then
    echo "skip - memcheck: $KSD is the sanitizer build (valgrind runs the plain one)"
elif ! command -v valgrind >/dev/null 2>&1; then
    echo "skip - memcheck: valgrind is not installed"
else
    vg() { valgrind -q --error-exitcode=99 --exit-on-first-error=yes "$KSD" -s "$R" "$@" \
        --hosts --json /dev/null --facts /dev/null >/dev/null 2>"$tmp/err"; }
    vg -r deploy/demo.pcap && vg -r deploy/demo.pcap --threads 2
    st=$?
    if [ "$st" -eq 0 ]; then
        ls "$corpus"/*.pcap "$corpus"/*.pcapng 2>/dev/null | grep -v cut-short >"$tmp/list"
        split -l 50 "$tmp/list" "$tmp/part."
        for p in "$tmp"/part.*; do
            # shellcheck disable=SC2046
            vg $(sed 's/^/-r /' "$p") || { st=$?; break; }
        done
    fi
    [ "$st" -eq 0 ] && ok "memcheck: demo and corpus without a memcheck error" ||
        no "memcheck: valgrind reported an error (exit $st)"
fi
exit $failed
