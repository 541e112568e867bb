#!/bin/sh
# e2e_offline.sh - offline hunts at scale (issue 18): the built-in rule set
# when none is installed, the host table with no output option and as
# CSV/JSON, 150 captures on one command line (split from deploy/demo.pcap
# with editcap, plus the golden captures), globs, a nested directory, a
# damaged file among good ones, concatenated and compressed captures, the
# pcap field of events, and exit statuses (3 for an input not read
# completely, 4 when Redis did not get the events). The 150-capture run is
# timed against one process per file and the figures printed as comments.
# Output: "ok N - what" / "not ok N - what" / "skip - what" lines.
set -u
KSD=${KSD:-./ksd}
tmp=$(mktemp -d)
redis_pid=
trap '[ -n "$redis_pid" ] && kill "$redis_pid" 2>/dev/null; rm -rf "$tmp"' EXIT
n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
no() { n=$((n + 1)); failed=1; echo "not ok $n - $1"; [ -f "$tmp/err" ] && sed 's/^/#   /' "$tmp/err" | head -5; }
check() { if eval "$2"; then ok "$1"; else no "$1"; fi; }
for tool in editcap python3; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "skip - e2e_offline: $tool is not installed (deploy/install-deps.sh test)"
        exit 0
    fi
done
now_ms() { python3 -c 'import time; print(int(time.monotonic() * 1000))'; }

# ---- works from a clone: no -s, no output option --------------------------------------
"$KSD" --print-config >"$tmp/cfg" 2>"$tmp/err"
if [ -e /usr/local/share/ksd/kaspersky.rules ]; then
    echo "skip - built-in rules: an installed /usr/local/share/ksd/kaspersky.rules wins here"
    check "--print-config names the installed rule set and its version" \
        'grep -q "^# rule set in use: /usr/local/share/ksd/kaspersky.rules, version " "$tmp/cfg"'
else
    check "--print-config: no rule file installed, the built-in set and its version" \
        'grep -Eq "^# rule set in use: built-in \(no installed file\), version [0-9]" "$tmp/cfg"'
    "$KSD" --check-signatures built-in >"$tmp/chk" 2>"$tmp/err"
    check "--check-signatures built-in: ok, and says a run uses it" \
        'grep -q "^built-in: ok, version " "$tmp/chk" && grep -q "^rule set a run uses: built-in" "$tmp/chk"'
fi
"$KSD" deploy/demo.pcap >"$tmp/table" 2>"$tmp/err"
st=$?
check "no -s, no -r, no output option: exit 0 (status $st)" '[ "$st" -eq 0 ]'
check "no output option: the flagged-host table on standard output" \
    'head -1 "$tmp/table" | grep -q "^CLIENT  *MACHINE  *SITE" && grep -q "^10\.77\.0\.11  .* product " "$tmp/table"'
check "no output option: standard error says the events were not kept" \
    'grep -q "events not kept (give --json FILE or --redis TARGET)" "$tmp/err"'
check "summary line: files, packets, events, hosts, time" \
    'grep -Eq "^ksd: 1 file \(0 not read completely\), 538 packets, 28 events, 5 flagged hosts, [0-9.]+ s;" "$tmp/err"'

# ---- host table as CSV and JSON: the same rows as the printed table --------------------
"$KSD" deploy/demo.pcap --hosts --hosts-csv "$tmp/hosts.csv" --hosts-json "$tmp/hosts.json" \
    >"$tmp/table2" 2>"$tmp/err"
st=$?
check "--hosts-csv and --hosts-json written (exit $st)" '[ "$st" -eq 0 ] && [ -s "$tmp/hosts.csv" ] && [ -s "$tmp/hosts.json" ]'
cmp -s "$tmp/table" "$tmp/table2" && ok "--hosts prints the same table" || no "--hosts prints the same table"
python3 - "$tmp/table" "$tmp/hosts.csv" "$tmp/hosts.json" >"$tmp/cmp" 2>&1 <<'PY'
import csv, json, re, sys
# the printed table (ksd report's table format) as rows of the same cells
rows = []
for line in open(sys.argv[1]).read().splitlines()[1:]:
    if not line.strip():
        break
    f = re.split(r"  +", line.strip(), maxsplit=9)
    if len(f) == 9:  # no indicators
        f.append("")
    client, machine, site, managed, verdict, first, last, events, evidence, top = f
    iso = lambda t: t.replace(" ", "T") + "Z"
    rows.append([client, "" if machine == "-" else machine, "" if site == "-" else site,
                 "" if managed == "no" else managed, verdict, iso(first), iso(last), events,
                 evidence, top])
# the MACHINE cell: "name (source) mac", either part alone
def machine(mac, name, src):
    n = name + (" (%s)" % src if name and src else "")
    return (n + " " + mac if n and mac else n or mac)
c = list(csv.reader(open(sys.argv[2])))
h = c[0]
need = ["client", "site", "managed", "verdict", "first_seen", "last_seen", "events", "evidence",
        "top_indicators"]
assert all(k in h for k in need), h
cr = [[r[h.index(k)] for k in need] for r in c[1:]]
cr = [[x[0], machine(r[h.index("mac")], r[h.index("name")], r[h.index("name_source")])] + x[1:]
      for x, r in zip(cr, c[1:])]
assert cr == rows, (cr, rows)
j = json.load(open(sys.argv[3]))
top = lambda t: "; ".join("%s (%d)" % (x["indicator"], x["count"]) for x in t)
jr = [[x["client"], machine(x["mac"], x["name"], x["name_source"]), x["site"], x["managed"], x["verdict"], x["first_seen_iso"],
       x["last_seen_iso"], str(x["events"]), x["evidence"], top(x["top"])] for x in j]
assert jr == rows, (jr, rows)
print(len(rows), "rows")
PY
st=$?
check "CSV and JSON hold the rows of the printed table ($(tail -1 "$tmp/cmp"))" '[ "$st" -eq 0 ]'
"$KSD" deploy/demo.pcap --hosts-json - --hosts-csv "$tmp/h2.csv" >"$tmp/h2.json" 2>"$tmp/err"
check "--hosts-json -: JSON on standard output, no table" \
    'cmp -s "$tmp/h2.json" "$tmp/hosts.json" && cmp -s "$tmp/h2.csv" "$tmp/hosts.csv"'

# ---- 150 captures on one command line --------------------------------------------------
mkdir -p "$tmp/many"
editcap -c 4 deploy/demo.pcap "$tmp/many/demo.pcap" >/dev/null 2>&1
chunks=$(ls "$tmp/many" | wc -l)
for f in tests/pcap/*.pcap; do cp "$f" "$tmp/many/zz-$(basename "$f")"; done
total=$(ls "$tmp/many" | wc -l)
check "150 test captures made ($chunks chunks of demo.pcap + golden captures = $total)" '[ "$total" -eq 150 ]'
t0=$(now_ms)
"$KSD" "$tmp"/many/*.pcap --json "$tmp/many.json" --hosts >"$tmp/many.table" 2>"$tmp/err"
st=$?
t1=$(now_ms)
check "150 captures by a glob in one process: exit 0 (status $st)" '[ "$st" -eq 0 ]'
check "summary counts 150 files" 'grep -q "^ksd: 150 files (0 not read completely), " "$tmp/err"'
# every event names its file; chunk events name a chunk
python3 - "$tmp/many.json" "$tmp/many" >"$tmp/cmp" 2>&1 <<'PY'
import json, os, sys
evs = [json.loads(l) for l in open(sys.argv[1])]
assert evs, "no events"
files = {os.path.join(sys.argv[2], f) for f in os.listdir(sys.argv[2])}
bad = [e for e in evs if e.get("pcap") not in files]
assert not bad, bad[:2]
print(len(evs), "events from", len({e["pcap"] for e in evs}), "files")
PY
st=$?
check "pcap field on every event names the file it came from ($(tail -1 "$tmp/cmp"))" '[ "$st" -eq 0 ]'
# One flow table across files: the chunks of demo.pcap give the hosts of demo.pcap.
"$KSD" "$tmp"/many/demo_*.pcap --hosts-csv - 2>/dev/null >"$tmp/chunks.csv"
check "chunks of one capture read as one: same host table as the capture itself" \
    'cmp -s "$tmp/chunks.csv" "$tmp/hosts.csv"'
# -r any number of times
set --
for f in "$tmp"/many/*.pcap; do set -- "$@" -r "$f"; done
"$KSD" "$@" --json "$tmp/many-r.json" >/dev/null 2>"$tmp/err"
st=$?
check "-r 150 times: exit 0 and the same events (status $st)" \
    '[ "$st" -eq 0 ] && [ "$(wc -l <"$tmp/many-r.json")" -eq "$(wc -l <"$tmp/many.json")" ]'
# the same files, one process per file (a figure to report, not for the sanitizer build)
case "${BUILD:-build}" in
*san*) echo "skip - timing against one process per file: sanitizer build" ;;
*)
    t2=$(now_ms)
    for f in "$tmp"/many/*.pcap; do "$KSD" "$f" --json /dev/null >/dev/null 2>&1; done
    t3=$(now_ms)
    echo "# timing: one process, 150 files: $((t1 - t0)) ms; one process per file: $((t3 - t2)) ms"
    check "one process for 150 files is faster than 150 processes" '[ $((t1 - t0)) -lt $((t3 - t2)) ]'
    ;;
esac

# ---- a nested directory ---------------------------------------------------------------
mkdir -p "$tmp/tree/site-a/day1" "$tmp/tree/site-b" "$tmp/tree/empty"
i=0
for f in "$tmp"/many/demo_*.pcap; do
    i=$((i + 1))
    case $((i % 3)) in
    0) cp "$f" "$tmp/tree/site-a/day1/" ;;
    1) cp "$f" "$tmp/tree/site-a/" ;;
    2) cp "$f" "$tmp/tree/site-b/" ;;
    esac
done
echo "notes" >"$tmp/tree/site-a/README.txt"
gzip -c deploy/demo.pcap >"$tmp/tree/site-b/old.pcap.gz"
"$KSD" "$tmp/tree" --json "$tmp/tree.json" --stats >/dev/null 2>"$tmp/err"
st=$?
check "nested directory: exit 0 (status $st)" '[ "$st" -eq 0 ]'
check "nested directory: every capture read ($chunks files)" \
    'grep -q "^ksd: $chunks files (0 not read completely), 538 packets, " "$tmp/err"'
check "nested directory: the text file skipped with one line" \
    '[ "$(grep -c "site-a/README.txt: skipped: not a pcap or pcapng file" "$tmp/err")" -eq 1 ]'
check "nested directory: the compressed capture skipped, with the pipe to use" \
    'grep -q "site-b/old.pcap.gz: skipped: compressed (gzip): read it through a pipe: zcat FILE | ksd -r -" "$tmp/err"'
check "nested directory: --stats has a line per file" \
    '[ "$(grep -c "^file: $tmp/tree/.* packets=[0-9]* errors=0$" "$tmp/err")" -eq "$chunks" ]'
check "nested directory: events name the path under the directory" \
    'grep -q "\"pcap\":\"$tmp/tree/site-a/day1/demo_" "$tmp/tree.json"'
first=$(grep -o "^file: [^ ]*" "$tmp/err" | head -1)
check "nested directory: read in name order (site-a/day1 first)" \
    'echo "$first" | grep -q "/tree/site-a/day1/"'
gzip -dc "$tmp/tree/site-b/old.pcap.gz" | "$KSD" -r - --hosts-csv - >"$tmp/pipe.csv" 2>"$tmp/err"
check "a compressed capture through a pipe (zcat F | ksd -r -)" 'cmp -s "$tmp/pipe.csv" "$tmp/hosts.csv"'

# ---- damaged inputs --------------------------------------------------------------------
mkdir -p "$tmp/dmg"
cp "$tmp"/many/demo_00000*.pcap "$tmp"/many/demo_00001*.pcap "$tmp/dmg/"
size=$(wc -c <deploy/demo.pcap)
head -c $((size / 2)) deploy/demo.pcap >"$tmp/dmg/b-cut.pcap"
good=$(ls "$tmp"/many/demo_00000*.pcap "$tmp"/many/demo_00001*.pcap | wc -l)
"$KSD" "$tmp/dmg" --stats >/dev/null 2>"$tmp/err"
st=$?
check "a file cut short among good ones: exit 3 (status $st)" '[ "$st" -eq 3 ]'
check "the others still read and counted" \
    'grep -q "^ksd: $((good + 1)) files (1 not read completely), " "$tmp/err" &&
     [ "$(grep -c "^file: .*demo_.* errors=0$" "$tmp/err")" -eq "$good" ] &&
     grep -Eq "^file: .*b-cut.pcap packets=[1-9][0-9]* errors=1$" "$tmp/err"'
cat tests/pcap/dns-kaspersky.pcap tests/pcap/dns-kaspersky.pcap >"$tmp/cat.pcap"
off=$(wc -c <tests/pcap/dns-kaspersky.pcap)
"$KSD" "$tmp/cat.pcap" "$tmp/many/zz-dns-kaspersky.pcap" >/dev/null 2>"$tmp/err"
st=$?
check "concatenated captures: exit 3, named as such with the byte offset and mergecap" \
    '[ "$st" -eq 3 ] && grep -q "cat.pcap: read error: a second pcap file header at byte offset $off: .*concatenated.*mergecap" "$tmp/err"'
"$KSD" "$tmp/tree/site-b/old.pcap.gz" "$tmp/many/zz-dns-kaspersky.pcap" >/dev/null 2>"$tmp/err"
st=$?
check "a compressed file given by name: exit 3 and the pipe to use" \
    '[ "$st" -eq 3 ] && grep -q "old.pcap.gz: not a readable capture file: compressed (gzip): read it through a pipe" "$tmp/err"'
"$KSD" "$tmp/no-such-dir" >/dev/null 2>"$tmp/err"
check "a missing input: exit 3" '[ $? -eq 3 ]'
mkdir -p "$tmp/none"
"$KSD" "$tmp/none" >/dev/null 2>"$tmp/err"
check "a directory without captures: exit 3, said so" '[ $? -eq 3 ] && grep -q "no capture files" "$tmp/err"'

mkdir -p "$tmp/none"
"$KSD" deploy/demo.pcap -f 'tcp port nonsense' >/dev/null 2>"$tmp/err"
check "a bad -f filter is bad usage: exit 2" '[ $? -eq 2 ] && grep -q "bad filter" "$tmp/err"'
"$KSD" deploy/demo.pcap -f 'udp port 53' --hosts-csv - >"$tmp/f.csv" 2>"$tmp/err"
check "a good -f filter applies to every file" '[ $? -eq 0 ] && ! grep -q "tcp/13000" "$tmp/f.csv" && grep -q "ds.kaspersky.com" "$tmp/f.csv"'

# ---- Redis: undelivered detections are not a success ----------------------------------
"$KSD" deploy/demo.pcap --redis 127.0.0.1:1 --redis-connect-timeout 200 >/dev/null 2>"$tmp/err"
st=$?
check "--redis to a closed port: exit 4 (status $st)" '[ "$st" -eq 4 ]'
"$KSD" "$tmp/dmg" --redis 127.0.0.1:1 --redis-connect-timeout 200 >/dev/null 2>"$tmp/err"
st=$?
check "dropped detections win over a damaged input: exit 4 (status $st)" '[ "$st" -eq 4 ]'
if command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1; then
    rport=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    redis-server --port "$rport" --bind 127.0.0.1 --save '' --appendonly no --dir "$tmp" \
        --daemonize no >"$tmp/redis.log" 2>&1 &
    redis_pid=$!
    i=0
    until redis-cli -p "$rport" ping >/dev/null 2>&1 || [ $i -gt 200 ]; do
        i=$((i + 1))
        sleep 0.05
    done
    "$KSD" "$tmp"/many/*.pcap --redis "127.0.0.1:$rport" >/dev/null 2>"$tmp/err"
    st=$?
    evs=$(redis-cli -p "$rport" xlen ksd:events)
    check "--redis reachable: exit 0, every event stored (status $st, $evs in the stream)" \
        '[ "$st" -eq 0 ] && [ "$evs" -eq "$(wc -l <"$tmp/many.json")" ]'
    # provenance in the stream too: every entry names its capture file
    nop=$(redis-cli -p "$rport" --raw xrange ksd:events - + | awk '
        $0 == "id" { if (n && !p) miss++; n++; p = 0 } $0 == "pcap" { p = 1 }
        END { if (n && !p) miss++; print miss + 0 }')
    check "--redis: every stream entry carries pcap ($nop without)" '[ "$nop" -eq 0 ]'
    check "--redis: the stream's pcap names a capture given" \
        'redis-cli -p "$rport" --raw xrange ksd:events - + COUNT 1 | grep -q "many/.*\.pcap$"'
    check "--redis: standard error says where the events went" \
        'grep -q "events to Redis 127.0.0.1:$rport" "$tmp/err"'
else
    echo "skip - redis-server is not installed: the reachable Redis case"
fi

exit $failed
