#!/bin/sh
# e2e_decoy.sh - no decoy hides a name, big ClientHellos, strict SNI lists
# (issue "evidence an analyst can act on", points 1-3), on the capture that
# tests/tools/floodgen writes in its "decoys" mode: one client per case, the
# real name s01.upd.kaspersky.com, the decoy's www.decoy-example.org.
set -u
. tests/lib_e2e.sh
names() { # names CLIENT -> the SNI indicators of CLIENT's events, sorted
    python3 -c '
import json, sys
v = {json.loads(l)["indicator"] for l in open(sys.argv[1])
     if json.loads(l)["client"] == sys.argv[2] and json.loads(l)["evidence"] == "sni"}
print(" ".join(sorted(v)))' "$tmp/ev.json" "$1"
}
stat() { sed -n "s/^$1: .*$2=\([0-9]*\).*/\1/p" "$tmp/err"; }

"$TOOLS/floodgen" decoys 0 >"$tmp/decoys.pcap"
for t in 1 2; do
    "$KSD" -r "$tmp/decoys.pcap" -s $R --threads $t --json "$tmp/ev.json" --stats \
        >/dev/null 2>"$tmp/err"
    K=s01.upd.kaspersky.com
    check "threads $t: decoy with a bad checksum first: the real name" '[ "$(names 10.0.0.1)" = $K ]'
    check "threads $t: decoy tail out of order, real hello in order: the real name" \
        '[ "$(names 10.0.0.2)" = $K ]'
    check "threads $t: 17,000-byte padding before server_name: the name" '[ "$(names 10.0.0.3)" = $K ]'
    check "threads $t: 40,000-byte padding before server_name: the name" '[ "$(names 10.0.0.4)" = $K ]'
    check "threads $t: server_name list past its extension: no name" '[ -z "$(names 10.0.0.5)" ]'
    check "threads $t: bad checksums alone (offload): the name" '[ "$(names 10.0.0.6)" = $K ]'
    check "threads $t: real hello then a bad-checksum decoy: the real name" \
        '[ "$(names 10.0.0.7)" = $K ]'
    check "threads $t: counted: 2 bad checksums (before the hello), 1 malformed hello, 1 name from a second version" \
        '[ "$(stat decoys tcp_bad_checksum)" = 2 ] && [ "$(stat "malformed (no evidence)" tls_hello)" = 1 ] &&
         [ "$(stat decoys names_from_second)" = 1 ]'
done
exit $failed
