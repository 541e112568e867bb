#!/bin/sh
# e2e_faults.sh - nothing lost, nothing twice: the Redis output against the
# faults a deployment meets. Each case runs ksd on a generated capture of
# 3,000 DNS detections (--dedup-window 0) against a private redis-server on a
# free loopback port and compares the event ids in the events stream with
# the ids ksd detects (missing, duplicated), printing the figures:
#   oom       Redis at maxmemory (noeviction), --spool; memory freed; replay
#   readonly  a read-only replica, promoted (REPLICAOF NO ONE) while ksd waits
#   late      Redis back shortly before the input ends, with and without
#             --spool
#   kill9     kill -9 during an outage, then a replay run
#   fake-ok / fake-garbage  a server answering +OK / garbage; then a replay
#   wrongtype ksd:events of another type, fixed (DEL) while ksd waits
#   foreign   a file that is not a spool as --spool: exit 2, file unchanged
#   corrupt / truncated  damaged spools replay every intact record
# Waits are on conditions with deadlines. Output: ok / not ok / skip lines.
set -u
KSD=${KSD:-./ksd}
R=signatures/kaspersky.rules
for t in redis-server redis-cli python3; do
    if ! command -v "$t" >/dev/null 2>&1; then
        echo "skip e2e_faults: $t not installed"
        exit 0
    fi
done
tmp=$(mktemp -d)
ports=""
fakepid=""
cleanup() {
    for p in $ports; do redis-cli -p "$p" shutdown nosave >/dev/null 2>&1; done
    [ -n "$fakepid" ] && kill "$fakepid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
no() {
    n=$((n + 1))
    failed=1
    echo "not ok $n - $1"
    [ -f "$tmp/err" ] && sed 's/^/#   /' "$tmp/err" | tail -8
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
# wait_until SECONDS command...: poll until the command succeeds; 1 on timeout
wait_until() {
    end=$(($(date +%s) + $1))
    shift
    until "$@"; do
        [ "$(date +%s)" -le "$end" ] || return 1
        sleep 0.05
    done
}
pong() { [ "$(redis-cli -p "$1" ping 2>/dev/null)" = PONG ]; }
start_redis() { # start_redis PORT [redis-server options...]
    p=$1
    shift
    mkdir -p "$tmp/r$p"
    redis-server --port "$p" --bind 127.0.0.1 --save '' --appendonly no --dir "$tmp/r$p" \
        --daemonize no "$@" >"$tmp/r$p/log" 2>&1 &
    ports="$ports $p"
    wait_until 10 pong "$p"
}
stop_redis() { redis-cli -p "$1" shutdown nosave >/dev/null 2>&1; }
in_log() { grep -q "$1" "$2" 2>/dev/null; }
exited() { ! kill -0 "$1" 2>/dev/null; }

# the stored ids, one per stream entry
stored_ids() {
    redis-cli -p "$1" --raw XRANGE ksd:events - + | awk 'f { print; f = 0; next } $0 == "id" { f = 1 }'
}
# check NAME PORT EXPECTED_IDS_FILE: print the figures, ok when 0 missing, 0 twice
check() {
    name=$1
    stored_ids "$2" >"$tmp/stored"
    sort -u "$3" >"$tmp/want"
    sort "$tmp/stored" >"$tmp/got"
    sort -u "$tmp/stored" >"$tmp/gotu"
    exp=$(wc -l <"$tmp/want")
    st=$(wc -l <"$tmp/got")
    miss=$(comm -23 "$tmp/want" "$tmp/gotu" | wc -l)
    dup=$((st - $(wc -l <"$tmp/gotu")))
    extra=$(comm -13 "$tmp/want" "$tmp/gotu" | wc -l)
    echo "# $name: expected $exp stored $st missing $miss duplicated $dup unexpected $extra"
    if [ "$miss" -eq 0 ] && [ "$dup" -eq 0 ] && [ "$extra" -eq 0 ] && [ "$exp" -gt 0 ]; then
        ok "$name: every event stored once"
    else
        no "$name: every event stored once"
    fi
}
# expect_rc DESC WANT GOT
expect_rc() {
    if [ "$3" -eq "$2" ]; then ok "$1 (exit $3)"; else no "$1 (exit $3, want $2)"; fi
}

# ---- the capture, the expected ids, the spool reader ----------------------
cat >"$tmp/gen.py" <<'PY'
# N DNS query/answer pairs for a Kaspersky name from N clients: 2N events
import struct, sys
n, out = int(sys.argv[1]), sys.argv[2]
def csum(b):
    b += b'\0' * (len(b) % 2)
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff
def pkt(src, dst, sport, dport, payload):
    udp = struct.pack('!HHHH', sport, dport, 8 + len(payload), 0) + payload
    ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(udp), 0, 0x4000, 64, 17, 0, src, dst)
    ip = ip[:10] + struct.pack('!H', csum(ip)) + ip[12:]
    return b'\x02\0\0\0\0\x02\x02\0\0\0\0\x01\x08\x00' + ip + udp
name = b''.join(bytes([len(p)]) + p for p in b's07.upd.kaspersky.com'.split(b'.')) + b'\0'
srv = bytes([10, 200, 0, 53])
with open(out, 'wb') as f:
    f.write(struct.pack('<IHHiIII', 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
    for i in range(n):
        cli = bytes([10, 1, (i >> 8) & 255, i & 255])
        q = struct.pack('!HHHHHH', i & 0xffff, 0x0100, 1, 0, 0, 0) + name + struct.pack('!HH', 1, 1)
        a = (struct.pack('!HHHHHH', i & 0xffff, 0x8180, 1, 1, 0, 0) + name +
             struct.pack('!HH', 1, 1) + b'\xc0\x0c' + struct.pack('!HHIH', 1, 1, 60, 4) +
             bytes([10, 78, 1, 7]))
        ts, us = 1796000000 + i // 100, (i % 100) * 10000
        for p, d in ((pkt(cli, srv, 30000 + i, 53, q), 0), (pkt(srv, cli, 53, 30000 + i, a), 500)):
            f.write(struct.pack('<IIII', ts, us + d, len(p), len(p)))
            f.write(p)
PY
cat >"$tmp/spoolids.py" <<'PY'
# the ids of the intact records of a ksd spool (layout: sensor/output/spool.h)
import struct, sys, zlib
d = open(sys.argv[1], 'rb').read()
pos = 24 if d[:8] == b'KSDSPOOL' else 0
if pos:
    pos = struct.unpack('<Q', d[16:24])[0]
while pos + 12 <= len(d):
    if d[pos:pos + 4] != b'KSP1':
        pos += 1
        continue
    ln, crc = struct.unpack('<II', d[pos + 4:pos + 12])
    body = d[pos + 12:pos + 12 + ln]
    if len(body) == ln and zlib.crc32(d[pos + 4:pos + 8] + body) == crc:
        print('%016x' % struct.unpack('<Q', body[1:9])[0])
        pos += 12 + ln
    else:
        pos += 1
PY
python3 "$tmp/gen.py" 1500 "$tmp/dns.pcap"
python3 "$tmp/gen.py" 0 "$tmp/empty.pcap"
# event ids depend on the run (start time): each case takes the ids of the
# run that detected the events from its --json output
run() { "$KSD" -s "$R" --dedup-window 0 --sensor-id faults "$@"; }
ids_of() { sed -n 's/.*"id":"\([0-9a-f]*\)".*/\1/p' "$1"; }
run -r "$tmp/dns.pcap" --json "$tmp/all.json" 2>"$tmp/err"
ids_of "$tmp/all.json" >"$tmp/all.ids"
if [ "$(sort -u "$tmp/all.ids" | wc -l)" -eq 3000 ]; then
    ok "the capture gives 3000 distinct detections"
else
    no "the capture gives 3000 distinct detections ($(wc -l <"$tmp/all.ids"))"
fi
DEAD=$(free_port)

# ---- without a spool an undeliverable run says so --------------------------
run -r "$tmp/dns.pcap" --redis "127.0.0.1:$DEAD" --redis-drain-timeout 1 2>"$tmp/err"
expect_rc "Redis unreachable, no spool: detections dropped" 4 $?
in_log dropped_unsent_at_exit "$tmp/err" && ok "the drop cause is logged" || no "the drop cause is logged"

# ---- OOM, then memory freed, then the spool replayed -----------------------
P=$(free_port)
start_redis "$P" --maxmemory-policy noeviction
redis-cli -p "$P" config set maxmemory 1 >/dev/null
rm -f "$tmp/sp"
run -r "$tmp/dns.pcap" --redis "127.0.0.1:$P" --spool "$tmp/sp" --redis-drain-timeout 1 \
    --json "$tmp/ev.json" --stats 2>"$tmp/err"
expect_rc "oom: events kept in the spool" 0 $?
ids_of "$tmp/ev.json" >"$tmp/ev.ids"
echo "# oom: during the outage $(stored_ids "$P" | wc -l) stored, $(python3 "$tmp/spoolids.py" "$tmp/sp" | wc -l) in the spool"
redis-cli -p "$P" config set maxmemory 0 >/dev/null
run -r "$tmp/empty.pcap" --redis "127.0.0.1:$P" --spool "$tmp/sp" 2>"$tmp/err"
expect_rc "oom: replay after memory was freed" 0 $?
check oom "$P" "$tmp/ev.ids"
stop_redis "$P"

# ---- a read-only replica, promoted while ksd retries -----------------------
M=$(free_port)
P=$(free_port)
start_redis "$M"
start_redis "$P" --replicaof 127.0.0.1 "$M"
rm -f "$tmp/sp"
"$KSD" -s "$R" --dedup-window 0 -r "$tmp/dns.pcap" --redis "127.0.0.1:$P" --spool "$tmp/sp" \
    --redis-drain-timeout 60 --json "$tmp/ev.json" 2>"$tmp/err" &
pid=$!
if wait_until 30 in_log READONLY "$tmp/err"; then
    redis-cli -p "$P" replicaof no one >/dev/null
    ok "readonly: the replica's refusal is seen and retried"
else
    no "readonly: the replica's refusal is seen and retried"
fi
wait "$pid"
expect_rc "readonly: delivered after the promotion" 0 $?
ids_of "$tmp/ev.json" >"$tmp/ev.ids"
check readonly "$P" "$tmp/ev.ids"
stop_redis "$P"
stop_redis "$M"

# ---- Redis back shortly before the input ends ------------------------------
# The capture comes through a pipe: the first half while Redis is away (for
# 3 s: the reconnect backoff grows past a second), then Redis starts and the
# rest follows at once, so the input ends before the next reconnect attempt
# is due; the stop must reset the backoff and deliver everything.
half=$(($(wc -c <"$tmp/dns.pcap") / 2))
for mode in nospool spool; do
    P=$(free_port)
    rm -f "$tmp/sp" "$tmp/in"
    mkfifo "$tmp/in"
    opt=""
    [ $mode = spool ] && opt="--spool $tmp/sp"
    # shellcheck disable=SC2086
    "$KSD" -s "$R" --dedup-window 0 -r "$tmp/in" --redis "127.0.0.1:$P" $opt \
        --json "$tmp/ev.json" --stats 2>"$tmp/err" &
    pid=$!
    {
        head -c "$half" "$tmp/dns.pcap"
        wait_until 30 in_log "cannot connect" "$tmp/err"
        sleep 3 # the outage itself (not a wait for a result)
        start_redis "$P"
        tail -c +$((half + 1)) "$tmp/dns.pcap"
    } >"$tmp/in"
    wait "$pid"
    expect_rc "late-$mode: Redis back before the input ends, all delivered" 0 $?
    grep -o 'reconnects=[0-9]*' "$tmp/err" | sed "s/^/# late-$mode: /"
    ids_of "$tmp/ev.json" >"$tmp/ev.ids"
    check "late-$mode" "$P" "$tmp/ev.ids"
    stop_redis "$P"
done

# ---- kill -9 during an outage, then a replay run ---------------------------
rm -f "$tmp/sp"
"$KSD" -s "$R" --dedup-window 0 -r "$tmp/dns.pcap" --redis "127.0.0.1:$DEAD" \
    --spool "$tmp/sp" --json "$tmp/k.json" --redis-drain-timeout 60 --stats 2>"$tmp/err" &
pid=$!
wait_until 30 in_log "packets processed" "$tmp/err"
kill -9 "$pid"
wait "$pid" 2>/dev/null
ids_of "$tmp/k.json" >"$tmp/k.ids"
python3 "$tmp/spoolids.py" "$tmp/sp" >"$tmp/ksp.ids"
# every event reported on --json must be in the spool
sort -u "$tmp/k.ids" >"$tmp/kj"
sort -u "$tmp/ksp.ids" >"$tmp/ks"
notsp=$(comm -23 "$tmp/kj" "$tmp/ks" | wc -l)
echo "# kill9: $(wc -l <"$tmp/kj") events on --json, $(wc -l <"$tmp/ks") in the spool at the kill, $notsp on --json but not in the spool"
[ "$notsp" -eq 0 ] && ok "kill9: every event on --json is in the spool" ||
    no "kill9: every event on --json is in the spool"
cat "$tmp/kj" "$tmp/ks" >"$tmp/ev.ids"
P=$(free_port)
start_redis "$P"
run -r "$tmp/empty.pcap" --redis "127.0.0.1:$P" --spool "$tmp/sp" 2>"$tmp/err"
expect_rc "kill9: replay run" 0 $?
check kill9 "$P" "$tmp/ev.ids"
stop_redis "$P"

# ---- a server that answers +OK, or garbage, to everything ------------------
cat >"$tmp/fake.py" <<'PY'
# a loopback server that reads RESP commands and answers each with +OK, or
# answers anything with bytes that are not RESP
import socket, sys, threading
mode, port = sys.argv[1], int(sys.argv[2])
def serve(c):
    buf = b''
    while True:
        d = c.recv(65536)
        if not d:
            return
        if mode == 'garbage':
            c.sendall(b'garbage, not RESP\r\n')
            continue
        buf += d
        out = b''
        while True:  # one +OK per complete command
            try:
                if not buf.startswith(b'*'):
                    raise ValueError
                e = buf.index(b'\r\n')
                argc, p = int(buf[1:e]), e + 2
                for _ in range(argc):
                    e2 = buf.index(b'\r\n', p)
                    p = e2 + 2 + int(buf[p + 1:e2]) + 2
                    if p > len(buf):
                        raise IndexError
                buf = buf[p:]
                out += b'+OK\r\n'
            except (ValueError, IndexError):
                break
        c.sendall(out)
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('127.0.0.1', port))
s.listen(16)
print('ready', flush=True)
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
PY
for mode in ok garbage; do
    F=$(free_port)
    python3 "$tmp/fake.py" "$mode" "$F" >"$tmp/fake.out" 2>&1 &
    fakepid=$!
    wait_until 10 in_log ready "$tmp/fake.out"
    rm -f "$tmp/sp"
    run -r "$tmp/dns.pcap" --redis "127.0.0.1:$F" --redis-drain-timeout 2 --redis-timeout 200 \
        2>"$tmp/err"
    expect_rc "fake-$mode without spool: not taken for delivery" 4 $?
    run -r "$tmp/dns.pcap" --redis "127.0.0.1:$F" --spool "$tmp/sp" --redis-drain-timeout 2 \
        --redis-timeout 200 --json "$tmp/ev.json" 2>"$tmp/err"
    expect_rc "fake-$mode with spool: kept" 0 $?
    ids_of "$tmp/ev.json" >"$tmp/ev.ids"
    kill "$fakepid"
    fakepid=""
    P=$(free_port)
    start_redis "$P"
    run -r "$tmp/empty.pcap" --redis "127.0.0.1:$P" --spool "$tmp/sp" 2>"$tmp/err"
    expect_rc "fake-$mode: replay to a real Redis" 0 $?
    check "fake-$mode" "$P" "$tmp/ev.ids"
    stop_redis "$P"
done

# ---- ksd:events of the wrong type, fixed while ksd retries -----------------
P=$(free_port)
start_redis "$P"
redis-cli -p "$P" set ksd:events not-a-stream >/dev/null
rm -f "$tmp/sp"
"$KSD" -s "$R" --dedup-window 0 -r "$tmp/dns.pcap" --redis "127.0.0.1:$P" --spool "$tmp/sp" \
    --redis-drain-timeout 60 --json "$tmp/ev.json" 2>"$tmp/err" &
pid=$!
if wait_until 30 in_log WRONGTYPE "$tmp/err"; then
    redis-cli -p "$P" del ksd:events >/dev/null
    ok "wrongtype: the refusal is logged and retried"
else
    no "wrongtype: the refusal is logged and retried"
fi
wait "$pid"
expect_rc "wrongtype: delivered once the key was fixed" 0 $?
ids_of "$tmp/ev.json" >"$tmp/ev.ids"
check wrongtype "$P" "$tmp/ev.ids"
stop_redis "$P"

# ---- a foreign file as --spool ----------------------------------------------
printf '#!/bin/sh\necho precious\n' >"$tmp/foreign"
sum1=$(cksum <"$tmp/foreign")
run -r "$tmp/dns.pcap" --redis "127.0.0.1:$DEAD" --spool "$tmp/foreign" 2>"$tmp/err"
rc=$?
sum2=$(cksum <"$tmp/foreign")
echo "# foreign: exit $rc, checksum before '$sum1' after '$sum2'"
if [ $rc -eq 2 ] && [ "$sum1" = "$sum2" ] && in_log "foreign: not a ksd spool" "$tmp/err"; then
    ok "foreign: refused with 'not a ksd spool', exit 2, file unchanged"
else
    no "foreign: refused with 'not a ksd spool', exit 2, file unchanged"
fi

# ---- damaged spools: every intact record is replayed ------------------------
for mode in corrupt truncated; do
    rm -f "$tmp/sp"
    run -r "$tmp/dns.pcap" --redis "127.0.0.1:$DEAD" --spool "$tmp/sp" --redis-drain-timeout 0 \
        2>"$tmp/err"
    size=$(wc -c <"$tmp/sp")
    if [ $mode = corrupt ]; then
        # flip one byte in three places: three damaged records
        for off in $((size / 4)) $((size / 2)) $((size * 3 / 4)); do
            python3 -c 'import sys
f = open(sys.argv[1], "r+b"); f.seek(int(sys.argv[2])); b = f.read(1)
f.seek(int(sys.argv[2])); f.write(bytes([b[0] ^ 0x55]))' "$tmp/sp" "$off"
        done
    else
        truncate -s $((size - 7)) "$tmp/sp"
    fi
    python3 "$tmp/spoolids.py" "$tmp/sp" >"$tmp/intact.ids"
    echo "# $mode: $(wc -l <"$tmp/intact.ids") intact records of 3000"
    P=$(free_port)
    start_redis "$P"
    run -r "$tmp/empty.pcap" --redis "127.0.0.1:$P" --spool "$tmp/sp" --stats 2>"$tmp/err"
    expect_rc "$mode: replay" 0 $?
    grep -o 'spool_corrupt=[0-9]*' "$tmp/err" | sed "s/^/# $mode: /"
    if in_log "damaged data at byte" "$tmp/err" && ! in_log "spool_corrupt=0" "$tmp/err"; then
        ok "$mode: damage logged with its offset and counted"
    else
        no "$mode: damage logged with its offset and counted"
    fi
    check "$mode" "$P" "$tmp/intact.ids"
    stop_redis "$P"
done

exit $failed
