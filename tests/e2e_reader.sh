#!/bin/sh
# e2e_reader.sh - the two offline readers agree: classic pcap files are
# walked through a mapping (sensor/path/capture.c), everything else and
# every record the walk leaves is read by libpcap. For the demo capture
# rewritten in each byte order and timestamp precision, cut inside a frame
# and inside a record header, concatenated, with a snapshot length below
# some frames and with a record longer than libpcap takes, ksd must print
# the same facts, events, messages and exit status with the mapped walk as
# with KSD_CAPTURE_READER=libpcap, with 1 and with 2 workers (the workers
# then read the file each for themselves, see sensor/path/pool.c).
# Output: "ok N - what" / "not ok N - what" / "skip - what" lines.
set -u
. tests/lib_e2e.sh
if ! command -v python3 >/dev/null 2>&1; then
    echo "skip - e2e_reader: python3 is not installed (deploy/install-deps.sh test)"
    exit 0
fi

python3 - "$tmp" <<'EOF'
import struct, sys
d = sys.argv[1]
src = open('deploy/demo.pcap', 'rb').read()
hdr, body = src[:24], src[24:]
snap, link = struct.unpack('<II', hdr[16:24])
recs, o = [], 0
while o + 16 <= len(body):
    ts, us, cl, ln = struct.unpack('<IIII', body[o:o + 16])
    recs.append((ts, us, cl, ln, body[o + 16:o + 16 + cl]))
    o += 16 + cl
def write(name, recs, e='<', ns=False, snaplen=None):
    out = struct.pack(e + 'IHHiIII', 0xa1b23c4d if ns else 0xa1b2c3d4, 2, 4, 0, 0,
                      snap if snaplen is None else snaplen, link)
    for ts, us, cl, ln, data in recs:
        out += struct.pack(e + 'IIII', ts, us * 1000 + 999 if ns else us, cl, ln) + data
    open(d + '/' + name, 'wb').write(out)
write('le.pcap', recs)
write('be.pcap', recs, '>')
write('ns-le.pcap', recs, '<', True)
write('ns-be.pcap', recs, '>', True)
write('snap200.pcap', recs, snaplen=200)
huge = list(recs)
huge.insert(7, (1, 0, 300000, 300000, bytes(300000)))
write('huge-record.pcap', huge)
open(d + '/cut-frame.pcap', 'wb').write(src[:-10])
open(d + '/cut-header.pcap', 'wb').write(src + b'\x01\x02\x03\x04\x05')
open(d + '/concatenated.pcap', 'wb').write(src + src)
open(d + '/header-only.pcap', 'wb').write(hdr)
EOF

run() { # run READER THREADS FILE -> $tmp/out.{facts,ev,err,rc}
    KSD_CAPTURE_READER=$1 "$KSD" -s $R -r "$3" --threads "$2" --dedup-window 0 \
        --facts "$tmp/out.facts" --json "$tmp/out.json" 2>"$tmp/out.err"
    echo "$?" >"$tmp/out.rc"
    sed -e 's/,"id":"[0-9a-f]*"}$/}/' -e 's/,"pcap":"[^"]*"//' "$tmp/out.json" | sort >"$tmp/out.ev"
    sort "$tmp/out.facts" -o "$tmp/out.facts"
    sed -e 's/, [0-9.]* s;/, T s;/' "$tmp/out.err" >"$tmp/out.err2"
}
for f in le be ns-le ns-be snap200 huge-record cut-frame cut-header concatenated header-only; do
    run libpcap 1 "$tmp/$f.pcap"
    for x in facts ev err2 rc; do mv "$tmp/out.$x" "$tmp/ref.$x"; done
    for t in 1 2; do
        run map $t "$tmp/$f.pcap"
        same=1
        for x in facts ev err2 rc; do cmp -s "$tmp/out.$x" "$tmp/ref.$x" || same=0; done
        if [ $same -eq 1 ]; then
            ok "$f.pcap, $t worker(s): mapped walk = libpcap (facts, events, messages, status $(cat "$tmp/ref.rc"))"
        else
            no "$f.pcap, $t worker(s): mapped walk differs from libpcap"
            for x in facts ev err2 rc; do diff "$tmp/ref.$x" "$tmp/out.$x" | head -4 | sed 's/^/#   /'; done
        fi
    done
done
run map 1 "$tmp/le.pcap"
mv "$tmp/out.ev" "$tmp/le.ev"
check "the walk reads the demo capture whole: 538 packets, 60 events" \
    'grep -q "538 packets, 60 events" "$tmp/out.err2" && [ "$(wc -l <"$tmp/le.ev")" -eq 60 ]'
run map 1 "$tmp/ns-be.pcap"
check "nanosecond timestamps (.us999) are cut to the microsecond: the same events as microsecond" \
    'cmp -s "$tmp/out.ev" "$tmp/le.ev"'
run map 1 "$tmp/huge-record.pcap"
check "a record longer than libpcap takes: exit 3 and libpcap's message" \
    '[ "$(cat "$tmp/out.rc")" = 3 ] && grep -q "invalid packet capture length 300000" "$tmp/out.err"'
run map 1 "$tmp/snap200.pcap"
check "frames longer than the snapshot length are read by libpcap, the walk goes on: 538 packets" \
    'grep -q "538 packets" "$tmp/out.err"'
exit $failed
