#!/bin/sh
# e2e_detect.sh - detection behaviour over whole runs: known-host and site
# labels, list-file errors, the suppression window, and SIGHUP reload of the
# rules while packets keep flowing (capture fed through a FIFO).
set -u
KSD=${KSD:-./ksd}
R=signatures/kaspersky.rules
tmp=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT
n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
no() { n=$((n + 1)); failed=1; echo "not ok $n - $1"; }
check() { if eval "$2"; then ok "$1"; else no "$1"; fi; }
field() { # field FILE CLIENT KEY -> the distinct values of KEY in CLIENT's events
    python3 -c '
import json, sys
vals = {json.loads(l)[sys.argv[3]] for l in open(sys.argv[1]) if json.loads(l)["client"] == sys.argv[2]}
print(" ".join(sorted(str(v) for v in vals)))' "$1" "$2" "$3"
}

cat >"$tmp/known" <<'X'
# managed endpoints and exceptions
10.77.0.0/24   managed
10.77.0.13     exception
X
cat >"$tmp/sites" <<'X'
10.77.0.0/25   hq-berlin
10.77.0.16/32  branch-lyon
fd77::/64      lab
X
"$KSD" -s $R -r deploy/demo.pcap --known-hosts "$tmp/known" --sites "$tmp/sites" \
    --json "$tmp/ev.json" --hosts >"$tmp/hosts" 2>"$tmp/err"
check "known hosts and sites load" '[ $? -eq 0 ]'
check "managed label on a managed host" '[ "$(field "$tmp/ev.json" 10.77.0.11 managed)" = managed ]'
check "longest prefix: exception wins over the /24" \
    '[ "$(field "$tmp/ev.json" 10.77.0.13 managed)" = exception ]'
check "site label from the site map" '[ "$(field "$tmp/ev.json" 10.77.0.11 site)" = hq-berlin ]'
check "host route beats the /25" '[ "$(field "$tmp/ev.json" 10.77.0.16 site)" = branch-lyon ]'
check "host table shows site and verdict" \
    'grep -Eq "^10\.77\.0\.13 +fa:f0:55:f2:04:9a +hq-berlin +exception +website-only" "$tmp/hosts"'
"$KSD" -s $R -r deploy/demo.pcap --threads 2 --dedup-window 0 --json "$tmp/ids.json" 2>/dev/null
check "event ids unique across two workers (the Redis idempotency key)" \
    'python3 -c "import json,sys; i=[json.loads(l)[\"id\"] for l in open(sys.argv[1])]; sys.exit(not (len(i) > 20 and len(set(i)) == len(i) and len({int(x, 16) >> 17 & 63 for x in i}) == 2))" "$tmp/ids.json"'
check "ruleset version in every event" \
    '[ "$(python3 -c "import json,sys; print({json.loads(l)[\"ruleset\"] for l in open(sys.argv[1])})" "$tmp/ev.json")" = "{'"'"'$(sed -n "s/^version //p" $R | head -1)'"'"'}" ]'

printf '10.0.0.0/8 managed\n10.1.0.0/33 managed\n' >"$tmp/bad-known"
"$KSD" -s $R -r deploy/demo.pcap --known-hosts "$tmp/bad-known" >/dev/null 2>"$tmp/err"
st=$?
check "bad known-hosts line: exit 2" '[ $st -eq 2 ]'
check "bad known-hosts line: FILE:LINE: reason" 'grep -q "bad-known:2: bad address or prefix" "$tmp/err"'
printf '10.0.0.0/8 headquarters!\n' >"$tmp/bad-sites"
"$KSD" -s $R -r deploy/demo.pcap --sites "$tmp/bad-sites" >/dev/null 2>"$tmp/err"
check "bad site name: FILE:LINE: reason, exit 2" '[ $? -eq 2 ] && grep -q "bad-sites:1: bad site name" "$tmp/err"'

# nDPI labels every event's flow; the Kaspersky custom protocol comes from the rules.
"$KSD" -s $R -r tests/pcap/tls-sni-update.pcap --json "$tmp/app.json" 2>/dev/null
check "nDPI labels the Kaspersky TLS flow (TLS.Kaspersky)" \
    '[ "$(field "$tmp/app.json" 10.77.0.11 app)" = TLS.Kaspersky ]'
"$KSD" -s $R -r tests/pcap/tls-sni-update.pcap --json "$tmp/app0.json" --no-ndpi 2>/dev/null
check "--no-ndpi: ksd's own dissector label (TLS)" '[ "$(field "$tmp/app0.json" 10.77.0.11 app)" = TLS ]'
# The ClientHello is parsed once: nDPI labels the flow from ksd's SNI through
# its host tables; --ndpi-full has nDPI dissect the handshake itself. Same label.
"$KSD" -s $R -r tests/pcap/tls-sni-update.pcap --json "$tmp/appf.json" --ndpi-full 2>/dev/null
check "--ndpi-full: nDPI's own TLS dissection gives the same label" \
    '[ "$(field "$tmp/appf.json" 10.77.0.11 app)" = TLS.Kaspersky ]'
"$KSD" -s $R -r tests/pcap/tls-sni-update.pcap --stats 2>&1 >/dev/null | grep '^nDPI:' >"$tmp/nd"
"$KSD" -s $R -r tests/pcap/tls-sni-update.pcap --stats --ndpi-full 2>&1 >/dev/null |
    grep '^nDPI:' >"$tmp/ndf"
apps() { "$KSD" -s $R -r deploy/demo.pcap --threads 1 --facts - "$@" 2>/dev/null | grep '^flow_app' | sort; }
apps >"$tmp/apps"
apps --ndpi-full >"$tmp/apps-full"
check "demo: every flow's label (DNS, TLS, HTTP, Kaspersky or not) as with --ndpi-full" \
    'cmp -s "$tmp/apps" "$tmp/apps-full" && grep -q "DNS.Kaspersky" "$tmp/apps" && grep -q "TLS.Kaspersky" "$tmp/apps"'
check "labels from names ksd parsed are counted (and none with --ndpi-full)" \
    'grep -q "(from a name ksd parsed=1)" "$tmp/nd" && grep -q "(from a name ksd parsed=0)" "$tmp/ndf"'

# Suppression: one event per (client, rule, evidence) per window; 0 = every detection.
"$KSD" -s $R -r deploy/demo.pcap --json "$tmp/d300.json" 2>/dev/null
"$KSD" -s $R -r deploy/demo.pcap --json "$tmp/d0.json" --dedup-window 0 2>/dev/null
a=$(wc -l <"$tmp/d300.json")
b=$(wc -l <"$tmp/d0.json")
check "suppression window folds repeated detections ($a events vs $b without)" '[ "$a" -lt "$b" ]'
check "folded detections are counted in the events" \
    '[ "$(python3 -c "import json,sys; print(sum(json.loads(l)[\"count\"] for l in open(sys.argv[1])))" "$tmp/d300.json")" -le "$b" ]'

# SIGHUP: half the capture, swap the rules, the other half; no packet lost.
python3 - deploy/demo.pcap "$tmp/part1" "$tmp/part2" <<'X'
import struct, sys
data = open(sys.argv[1], "rb").read()
hdr, off, recs = data[:24], 24, []
while off + 16 <= len(data):
    incl = struct.unpack("<I", data[off + 8:off + 12])[0]
    recs.append(data[off:off + 16 + incl])
    off += 16 + incl
half = len(recs) // 2
open(sys.argv[2], "wb").write(hdr + b"".join(recs[:half]))
open(sys.argv[3], "wb").write(b"".join(recs[half:]))
X
cp $R "$tmp/rules"
mkfifo "$tmp/fifo"
"$KSD" -s "$tmp/rules" -r "$tmp/fifo" --json "$tmp/hup.json" --stats 2>"$tmp/hup.err" &
pid=$!
exec 3>"$tmp/fifo"
cat "$tmp/part1" >&3
# Conditions, not sleeps: ksd catches SIGHUP and has drained the first half
# from the FIFO; after the signal, ksd's handler has taken it (no longer pending).
sigbit() { # sigbit FIELD: 1 when SIGHUP's bit is set in /proc/$pid/status FIELD
    python3 -c 'import sys
for l in open("/proc/%s/status" % sys.argv[1]):
    if l.startswith(sys.argv[2] + ":"): print(int(l.split()[1], 16) & 1)' "$pid" "$1"
}
drained() { # the bytes still in the FIFO (fd 3), by FIONREAD
    python3 -c 'import fcntl, struct, termios
print(struct.unpack("i", fcntl.ioctl(3, termios.FIONREAD, b"\0" * 4))[0])'
}
until_ok() { # until_ok DESC COMMAND: poll COMMAND up to 30 s
    i=0
    until eval "$2"; do
        i=$((i + 1))
        [ $i -lt 600 ] || { no "$1 (timed out)"; return 1; }
        sleep 0.05
    done
}
until_ok "ksd catches SIGHUP" '[ "$(sigbit SigCgt)" = 1 ] && [ "$(drained)" = 0 ]'
sed -i 's/^version .*/version reload-test-2/' "$tmp/rules"
kill -HUP "$pid"
until_ok "SIGHUP delivered" '[ "$(sigbit ShdPnd)" = 0 ] && [ "$(sigbit SigPnd)" = 0 ]'
cat "$tmp/part2" >&3
exec 3>&-
wait "$pid"
st=$?
pid=
check "reload run exits 0" '[ $st -eq 0 ]'
check "reload is logged" 'grep -q "reloaded .*version reload-test-2" "$tmp/hup.err"'
check "events after the reload carry the new rule-set version" 'grep -q "\"ruleset\":\"reload-test-2\"" "$tmp/hup.json"'
check "no packet lost across the reload" \
    '[ "$(sed -n "s/^packets: \([0-9]*\).*/\1/p" "$tmp/hup.err")" = "$(python3 -c "import sys; d=open(sys.argv[1],\"rb\").read(); import struct; o=24; c=0
while o+16<=len(d): c+=1; o+=16+struct.unpack(\"<I\",d[o+8:o+12])[0]
print(c)" deploy/demo.pcap)" ]'


[ $failed -eq 0 ] || sed "s/^/#   /" "$tmp/hup.err"
exit $failed
