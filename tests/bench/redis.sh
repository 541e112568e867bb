#!/bin/sh
# redis.sh - the Redis output against its peer, and packet processing during
# a Redis outage, in one run.
#
# 1. Starts a private redis-server (no persistence) on a free loopback port.
# 2. Peer: redis-benchmark pipelines (-P 64) the XADD of one contract-shaped
#    stream entry (the 15 fields of an event), then a PUBLISH of its JSON:
#    the rate at which this server takes the stream entry alone, and the live
#    message alone, with nothing else written.
# 3. ksd: build/tools/emitbench pushes BENCH_EVENTS events into sensor/output/emit.c
#    (every contract key: stream entry, live message, host hash, hosts sorted
#    set, idempotency marker), BENCH_RUNS times per workload, alternating;
#    the median is compared with the peer's XADD rate.
# 4. Outage: ksd --no-ndpi --dedup-window 0 (an event for every detection)
#    reads a generated capture with many Kaspersky clients (benchgen -k)
#    three ways, round-robin: without --redis, with --redis to the live
#    server, and with --redis to a port where nothing listens (events go to
#    the ring, --redis-queue 4096, and from half full to the --spool file).
#    Compared: the "time:" line of --stats (reading and analysis, before the
#    output drains at exit).
#
# Environment: BENCH_EVENTS (200000), BENCH_RUNS (5), BENCH_DIR (build/bench),
# BENCH_OUTAGE_PACKETS (2000000), BENCH_OUTAGE_KCLIENTS (1000), KSD (./ksd),
# RULES (signatures/kaspersky.rules).
# Exit status: 0 when everything ran (a missed target included), 1 on an error.
set -eu

cd "$(dirname "$0")/../.."

N=${BENCH_EVENTS:-200000}
RUNS=${BENCH_RUNS:-5}
DIR=${BENCH_DIR:-build/bench}
OPKT=${BENCH_OUTAGE_PACKETS:-2000000}
OK=${BENCH_OUTAGE_KCLIENTS:-1000}
KSD=${KSD:-./ksd}
RULES=${RULES:-signatures/kaspersky.rules}

die() {
    echo "redis-bench: $*" >&2
    exit 1
}
for t in redis-server redis-cli redis-benchmark python3; do
    command -v "$t" >/dev/null 2>&1 || die "$t not found (make bench installs it)"
done
[ -x "$KSD" ] || die "$KSD not built (run make)"
make --no-print-directory build/tools/emitbench build/tools/benchgen >/dev/null ||
    die "cannot build the tools"
mkdir -p "$DIR"

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
median() { # numbers on stdin
    sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'
}

TMP=$(mktemp -d)
PORT=$(free_port)
DEAD=$(free_port)
cleanup() {
    redis-cli -p "$PORT" shutdown nosave >/dev/null 2>&1 || true
    rm -rf "$TMP"
}
trap cleanup EXIT INT TERM
redis-server --port "$PORT" --bind 127.0.0.1 --save '' --appendonly no --dir "$TMP" \
    --daemonize no >"$TMP/redis.log" 2>&1 &
i=0
until redis-cli -p "$PORT" ping >/dev/null 2>&1; do
    i=$((i + 1))
    [ $i -le 100 ] || die "redis-server did not start: $(tail -3 "$TMP/redis.log")"
    sleep 0.1
done
echo "redis-bench: $(redis-server --version | cut -d' ' -f1-3) on 127.0.0.1:$PORT, $(nproc) CPU(s)"

# ---- throughput --------------------------------------------------------------
JSON='{"ts":"2026-11-27T05:00:00.123456Z","sensor":"bench","client":"10.0.3.4","server":"203.0.113.5","sport":51514,"dport":443,"proto":"tcp","evidence":"sni","indicator":"ksn-file-geo.kaspersky-labs.com","rule":"kl-ksn-001","category":"telemetry","confidence":90,"app":"TLS","id":"00000000000000ab","count":1}'
rb() { # rb ARGS... -> requests per second
    redis-benchmark -p "$PORT" -P 64 -n "$N" -q "$@" 2>/dev/null | tr '\r' '\n' |
        sed -n 's/.*: \([0-9.]*\) requests per second.*/\1/p' | tail -1
}
peer_xadd() {
    rb XADD pb:events MAXLEN '~' 1000000 '*' ts 2026-11-27T05:00:00.123456Z sensor bench \
        client 10.0.3.4 server 203.0.113.5 sport 51514 dport 443 proto tcp evidence sni \
        indicator ksn-file-geo.kaspersky-labs.com rule kl-ksn-001 category telemetry \
        confidence 90 app TLS id 00000000000000ab count 1
}
: >"$TMP/xadd"
: >"$TMP/pub"
: >"$TMP/ev0"
: >"$TMP/ev1000"
r=0
while [ "$r" -lt "$RUNS" ]; do
    redis-cli -p "$PORT" flushall >/dev/null
    peer_xadd >>"$TMP/xadd"
    rb PUBLISH pb:live "$JSON" >>"$TMP/pub"
    for h in 0 1000; do
        redis-cli -p "$PORT" flushall >/dev/null
        out=$(./build/tools/emitbench "127.0.0.1:$PORT" "$N" "b$r:" "$h") || die "emitbench: $out"
        echo "$out" | sed -n 's/.*: \([0-9]*\) events\/s.*/\1/p' >>"$TMP/ev$h"
        echo "  run $((r + 1)), HOSTS=$h: $out"
    done
    r=$((r + 1))
done
XADD=$(median <"$TMP/xadd")
PUB=$(median <"$TMP/pub")
EV0=$(median <"$TMP/ev0")
EV1000=$(median <"$TMP/ev1000")
echo
echo "Commands ($N events, $RUNS runs each, medians):"
echo "  peer: redis-benchmark -p PORT -P 64 -n $N -q XADD pb:events MAXLEN ~ 1000000 * <15 event fields>"
echo "  peer: redis-benchmark -p PORT -P 64 -n $N -q PUBLISH pb:live <event JSON>"
echo "  ksd:  build/tools/emitbench 127.0.0.1:PORT $N PREFIX HOSTS (HOSTS 0: a new client every 4 events; 1000: 1000 clients)"
printf '%-52s %12s %10s\n' "writer" "per second" "x XADD"
printf '%-52s %12.0f %10s\n' "redis-benchmark XADD (stream entry only)" "$XADD" "1.00"
printf '%-52s %12.0f %10.2f\n' "redis-benchmark PUBLISH (live message only)" "$PUB" \
    "$(echo "$PUB $XADD" | awk '{ print $1 / $2 }')"
printf '%-52s %12.0f %10.2f\n' "XADD + PUBLISH, computed (1 / (1/x + 1/p))" \
    "$(echo "$XADD $PUB" | awk '{ print 1 / (1 / $1 + 1 / $2) }')" \
    "$(echo "$XADD $PUB" | awk '{ print 1 / (1 / $1 + 1 / $2) / $1 }')"
printf '%-52s %12.0f %10.2f\n' "ksd events, every key, new client each 4 events" "$EV0" \
    "$(echo "$EV0 $XADD" | awk '{ print $1 / $2 }')"
printf '%-52s %12.0f %10.2f\n' "ksd events, every key, 1000 clients" "$EV1000" \
    "$(echo "$EV1000 $XADD" | awk '{ print $1 / $2 }')"
echo
echo "Target:"
echo "$EV0" | awk '{ ok = ($1 >= 100000); printf "%-6s ksd >= 100,000 events/s into Redis on loopback: %.0f\n", ok ? "PASS" : "MISS", $1 }'
echo

# ---- packet processing during an outage ----------------------------------------
PCAP=$DIR/outage-$OPKT-k$OK.pcap
want="n=$OPKT k=$OK src=$(cat tests/tools/benchgen*.[ch] | cksum | cut -d' ' -f1)"
if [ ! -s "$PCAP" ] || [ "$(cat "$PCAP.stamp" 2>/dev/null)" != "$want" ]; then
    echo "redis-bench: generating $PCAP"
    ./build/tools/benchgen -n "$OPKT" -o "$PCAP" -k "$OK" -s 1 >/dev/null 2>&1 || die "benchgen failed"
    echo "$want" >"$PCAP.stamp"
fi
cat "$PCAP" >/dev/null
outage_run() { # outage_run LABEL ARGS...
    label=$1
    shift
    rm -f "$TMP/spool"
    "$KSD" -r "$PCAP" -s "$RULES" --no-ndpi --threads 1 --dedup-window 0 --stats --json /dev/null "$@" \
        2>"$TMP/$label.err" || die "ksd ($label) failed: $(tail -2 "$TMP/$label.err")"
    sed -n 's/^time: packets processed in \([0-9.]*\) s/\1/p' "$TMP/$label.err" >>"$TMP/$label.t"
    sed -n 's/^redis: //p' "$TMP/$label.err" >"$TMP/$label.redis"
    sed -n 's/^facts: .*events: \([0-9]*\).*/\1/p' "$TMP/$label.err" >"$TMP/$label.events"
}
: >"$TMP/none.t"
: >"$TMP/live.t"
: >"$TMP/down.t"
r=0
while [ "$r" -lt "$RUNS" ]; do
    outage_run none
    redis-cli -p "$PORT" flushall >/dev/null
    outage_run live --redis "127.0.0.1:$PORT" --redis-queue 4096
    outage_run down --redis "127.0.0.1:$DEAD" --redis-queue 4096 --spool "$TMP/spool"
    r=$((r + 1))
done
T0=$(median <"$TMP/none.t")
echo "Packet processing during an outage ($PCAP, $OPKT packets, $(cat "$TMP/none.events") events; 'time:' of --stats, median of $RUNS):"
echo "  ksd -r FILE -s $RULES --no-ndpi --threads 1 --dedup-window 0 --stats --json /dev/null"
echo "      [--redis 127.0.0.1:PORT --redis-queue 4096 | --redis 127.0.0.1:DEADPORT --redis-queue 4096 --spool FILE]"
printf '  %-40s %8s %10s  %s\n' "run" "seconds" "x no Redis" "Redis output"
for l in none live down; do
    t=$(median <"$TMP/$l.t")
    case $l in
        none) name="no --redis" ;;
        live) name="--redis to the live server" ;;
        down) name="--redis to a dead port, --spool" ;;
    esac
    printf '  %-40s %8.3f %10.2f  %s\n' "$name" "$t" "$(echo "$T0 $t" | awk '{ print $1 / ($2 > 0 ? $2 : 0.001) }')" \
        "$(cut -d" " -f1,2,4,6,7 "$TMP/$l.redis" 2>/dev/null)"
done
exit 0
