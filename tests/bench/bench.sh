#!/bin/sh
# bench.sh - measure ksd against its peers on one generated capture, in one run.
#
# Generates (once, reused while the parameters and the generator are unchanged)
# build/bench/bench-N-sSEED-kK.pcap with build/tools/benchgen, then times each
# tool BENCH_RUNS times with /usr/bin/time, round-robin, and prints the medians: the libpcap
# read floor (tcpdump), ndpiReader (nDPI 4.2), ksd with and without nDPI on 1
# and 2 workers, ksd with --ndpi-full (nDPI dissects every handshake too),
# and two 1-worker ksd processes at once (the machine's ceiling for two
# workers). Then it checks the targets (PASS/MISS) and the accuracy: the set
# of "client" values in each ksd run's events must equal FILE.kaspersky;
# last, tests/bench/cost.sh splits the capture thread's time per packet.
#
# Environment: BENCH_PACKETS (2000000), BENCH_RUNS (3), BENCH_SEED (1),
# BENCH_KCLIENTS (20), BENCH_DIR (build/bench), KSD (./ksd),
# RULES (signatures/kaspersky.rules).
# Exit status: 0 when everything ran (missed targets included), 1 on an error
# (no generator, a peer tool missing or failing, no capture).
set -eu

cd "$(dirname "$0")/../.."

PACKETS=${BENCH_PACKETS:-2000000}
RUNS=${BENCH_RUNS:-3}
SEED=${BENCH_SEED:-1}
KCLIENTS=${BENCH_KCLIENTS:-20}
DIR=${BENCH_DIR:-build/bench}
KSD=${KSD:-./ksd}
RULES=${RULES:-signatures/kaspersky.rules}
TIME=/usr/bin/time

die() {
    echo "bench: $*" >&2
    exit 1
}

for t in tcpdump ndpiReader; do
    command -v "$t" >/dev/null 2>&1 || die "$t not found (make bench installs it: deploy/install-deps.sh bench)"
done
[ -x "$TIME" ] || die "$TIME not found (Debian package 'time')"
[ -x "$KSD" ] || die "$KSD not built (run make)"
[ -r "$RULES" ] || die "$RULES not readable"

mkdir -p "$DIR"
make --no-print-directory build/tools/benchgen >/dev/null || die "cannot build build/tools/benchgen"

# ---- the capture ------------------------------------------------------------
PCAP=$DIR/bench-$PACKETS-s$SEED-k$KCLIENTS.pcap
STAMP=$PCAP.stamp
want=$(cat tests/tools/benchgen*.[ch] tests/bench/hellos/*.hex | cksum | cut -d' ' -f1)
want="n=$PACKETS seed=$SEED k=$KCLIENTS src=$want"
if [ -s "$PCAP" ] && [ -s "$PCAP.info" ] && [ -f "$PCAP.kaspersky" ] &&
    [ "$(cat "$STAMP" 2>/dev/null)" = "$want" ]; then
    echo "bench: reusing $PCAP"
else
    echo "bench: generating $PCAP"
    rm -f "$PCAP" "$PCAP.info" "$PCAP.kaspersky" "$STAMP"
    start=$(date +%s.%N)
    ./build/tools/benchgen -n "$PACKETS" -o "$PCAP" -k "$KCLIENTS" -s "$SEED" 2>"$PCAP.info" ||
        { cat "$PCAP.info" >&2; die "benchgen failed"; }
    end=$(date +%s.%N)
    echo "$want" >"$STAMP"
    awk -v a="$start" -v b="$end" 'BEGIN { printf "bench: generated in %.1f s\n", b - a }'
fi
sed 's/^/bench: /' "$PCAP.info"
NPKT=$(sed -n 's/^benchgen: \([0-9]*\) packets, \([0-9]*\) bytes.*/\1/p' "$PCAP.info")
NBYTES=$(sed -n 's/^benchgen: \([0-9]*\) packets, \([0-9]*\) bytes.*/\2/p' "$PCAP.info")
if [ -z "$NPKT" ] || [ -z "$NBYTES" ]; then
    die "$PCAP.info: no packet count"
fi

# Warm the page cache so that every tool reads the file from memory.
cat "$PCAP" >/dev/null

echo "bench: host $(nproc) CPU(s), $(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1)"
echo "bench: $RUNS run(s) per tool, median wall time and median peak RSS"
echo

# ---- measurements -----------------------------------------------------------
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT INT TERM

# Tools are timed round-robin (run 1 of every tool, then run 2 of every
# tool, ...), so that a shared machine's slow and fast moments fall on all of
# them alike and the ratios hold. A tool that fails once is "n/a" with the
# reason in $TMP/LABEL.why; else $TMP/LABEL.res is "median_seconds median_rss_kb".
LABELS=
tool() { # tool LABEL CMD...
    label=$1
    shift
    LABELS="$LABELS $label"
    echo "  $label: $*" >>"$TMP/commands"
    for a in "$@"; do # each argument single-quoted, for eval
        printf "'%s' " "$(printf '%s' "$a" | sed "s/'/'\\\\''/g")"
    done >"$TMP/$label.cmd"
    : >"$TMP/$label.runs"
}
run_once() { # run_once LABEL
    label=$1
    [ -f "$TMP/$label.why" ] && return 0
    if ! eval "\"\$TIME\" -f '%e %M' -o \"\$TMP/\$label.time\" $(cat "$TMP/$label.cmd")" \
        >"$TMP/$label.out" 2>"$TMP/$label.err"; then
        grep -v '^Command exited' "$TMP/$label.err" "$TMP/$label.time" 2>/dev/null |
            sed 's/^[^:]*://' | head -2 | tr '\n' ' ' >"$TMP/$label.why"
        return 0
    fi
    tail -1 "$TMP/$label.time" >>"$TMP/$label.runs"
}
median() { # median LABEL
    label=$1
    if [ -f "$TMP/$label.why" ]; then
        echo "n/a" >"$TMP/$label.res"
        return 0
    fi
    awk '{ s[NR] = $1; m[NR] = $2 }
         function med(a, n,   i, j, t) {
             for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j-1] > a[j]; j--) {
                 t = a[j]; a[j] = a[j-1]; a[j-1] = t }
             return a[int((n + 1) / 2)]
         }
         END { printf "%s %s\n", med(s, NR), med(m, NR) }' "$TMP/$label.runs" >"$TMP/$label.res"
}

tool floor tcpdump -nr "$PCAP" -w /dev/null
tool ndpi ndpiReader -i "$PCAP" -q
tool ksd_ndpi_1 "$KSD" -r "$PCAP" -s "$RULES" --threads 1 --json "$DIR/events-ndpi-1.json"
tool ksd_raw_1 "$KSD" -r "$PCAP" -s "$RULES" --threads 1 --no-ndpi --json "$DIR/events-raw-1.json"
tool ksd_ndpi_2 "$KSD" -r "$PCAP" -s "$RULES" --threads 2 --json "$DIR/events-ndpi-2.json"
tool ksd_raw_2 "$KSD" -r "$PCAP" -s "$RULES" --threads 2 --no-ndpi --json "$DIR/events-raw-2.json"
tool ksd_full_1 "$KSD" -r "$PCAP" -s "$RULES" --threads 1 --ndpi-full --json "$DIR/events-full-1.json"
# The machine's own ceiling for two workers: two independent 1-worker
# processes on the same file at once share nothing but the cores, their
# caches and the memory; 2 x (1 worker's time) / (the pair's time) is the
# most any two-worker design can get here.
pair='"$1" -r "$2" -s "$3" --threads 1 $4 --json /dev/null & "$1" -r "$2" -s "$3" --threads 1 $4 --json /dev/null; wait $!'
tool pair_ndpi sh -c "$pair" sh "$KSD" "$PCAP" "$RULES" ""
tool pair_raw sh -c "$pair" sh "$KSD" "$PCAP" "$RULES" --no-ndpi
i=0
while [ "$i" -lt "$RUNS" ]; do
    for l in $LABELS; do
        run_once "$l"
    done
    i=$((i + 1))
done
for l in $LABELS; do
    median "$l"
done

[ "$(cat "$TMP/floor.res")" != "n/a" ] || die "tcpdump failed: $(cat "$TMP/floor.why")"
[ "$(cat "$TMP/ndpi.res")" != "n/a" ] || die "ndpiReader failed: $(cat "$TMP/ndpi.why")"

res() { cat "$TMP/$1.res"; }

echo "Commands (file: $PCAP, $NPKT packets, $NBYTES wire bytes):"
cat "$TMP/commands"
echo

FLOOR=$(res floor)
NDPI=$(res ndpi)
printf '%-24s %8s %12s %8s %9s %9s %9s  %s\n' tool seconds packets/s Gbit/s "RSS MB" "x floor" \
    "x nDPI" "runs (s)"
row() {
    name=$1
    r=$(res "$2")
    if [ "$r" = "n/a" ]; then
        printf '%-24s %8s   (%s)\n' "$name" "n/a" "$(cat "$TMP/$2.why")"
        return
    fi
    spread=$(sort -n "$TMP/$2.runs" | awk 'NR == 1 { lo = $1 } { hi = $1 } END { print lo "-" hi }')
    echo "$r $FLOOR $NDPI" | awk -v n="$name" -v p="$NPKT" -v b="$NBYTES" -v sp="$spread" '{
        s = $1 > 0 ? $1 : 0.01; fs = $3 > 0 ? $3 : 0.01; ns = $5 > 0 ? $5 : 0.01
        printf "%-24s %8.2f %12.0f %8.2f %9.1f %9.2f %9.2f  %s\n", n, $1, p / s, b * 8 / s / 1e9,
               $2 / 1024, fs / s, ns / s, sp }'
}
row "tcpdump (read floor)" floor
row "ndpiReader" ndpi
row "ksd +nDPI 1 worker" ksd_ndpi_1
row "ksd no-nDPI 1 worker" ksd_raw_1
row "ksd +nDPI 2 workers" ksd_ndpi_2
row "ksd no-nDPI 2 workers" ksd_raw_2
row "ksd --ndpi-full 1 worker" ksd_full_1
echo
# pair: two files' worth of packets in the pair's time
ceiling() { # ceiling NAME PAIR ONE
    rp=$(res "$2")
    r1=$(res "$3")
    [ "$rp" != "n/a" ] && [ "$r1" != "n/a" ] || return 0
    echo "$rp $r1" | awk -v n="$1" '{ p = $1 > 0 ? $1 : 0.01
        printf "%s: two 1-worker processes at once did 2 x the work in %.2f s: %.2fx one (the ceiling for 2 workers on this machine)\n", n, p, 2 * $3 / p }'
}
ceiling "+nDPI" pair_ndpi ksd_ndpi_1
ceiling "no-nDPI" pair_raw ksd_raw_1
echo

# ---- targets ----------------------------------------------------------------
# target NAME A B FACTOR OP: PASS when value(A) OP FACTOR * value(B); values are
# packets/s (from seconds) or RSS.
target() {
    desc=$1 a=$2 b=$3 what=$4 factor=$5
    ra=$(res "$a")
    rb=$(res "$b")
    if [ "$ra" = "n/a" ] || [ "$rb" = "n/a" ]; then
        printf '%-6s %s (n/a)\n' "n/a" "$desc"
        return
    fi
    echo "$ra $rb" | awk -v d="$desc" -v w="$what" -v f="$factor" '{
        if (w == "pps") { sa = $1 > 0 ? $1 : 0.01; sb = $3 > 0 ? $3 : 0.01
            v = sb / sa; ok = v >= f; got = sprintf("%.2fx", v) }
        else { v = $2 / $4; ok = v <= f; got = sprintf("%.2f of it", v) }
        printf "%-6s %s: %s\n", ok ? "PASS" : "MISS", d, got }'
}
echo "Targets:"
target "ksd +nDPI 1 worker >= 5x ndpiReader packets/s" ksd_ndpi_1 ndpi pps 5
target "ksd +nDPI 1 worker peak RSS <= 0.15 of ndpiReader's" ksd_ndpi_1 ndpi rss 0.15
target "ksd no-nDPI 1 worker >= 0.65x the read floor packets/s" ksd_raw_1 floor pps 0.65
target "ksd +nDPI 2 workers >= 1.7x 1 worker" ksd_ndpi_2 ksd_ndpi_1 pps 1.7
target "ksd no-nDPI 2 workers >= 1.7x 1 worker" ksd_raw_2 ksd_raw_1 pps 1.7
echo

# ---- accuracy ---------------------------------------------------------------
echo "Accuracy (event clients vs $PCAP.kaspersky, $(wc -l <"$PCAP.kaspersky") Kaspersky clients):"
sort -u "$PCAP.kaspersky" >"$TMP/want"
for v in ndpi-1 raw-1 ndpi-2 raw-2 full-1; do
    label=ksd_$(echo "$v" | tr - _)
    ev=$DIR/events-$v.json
    if [ "$(res "$label")" = "n/a" ] || [ ! -f "$ev" ]; then
        printf '%-6s %s\n' "n/a" "events-$v.json"
        continue
    fi
    sed -n 's/.*"client":"\([^"]*\)".*/\1/p' "$ev" | sort -u >"$TMP/got"
    missing=$(comm -23 "$TMP/want" "$TMP/got" | tr '\n' ' ')
    extra=$(comm -13 "$TMP/want" "$TMP/got" | tr '\n' ' ')
    if [ -z "$missing" ] && [ -z "$extra" ]; then
        printf '%-6s %s: %s events, %s clients, exact\n' PASS "events-$v.json" \
            "$(wc -l <"$ev")" "$(wc -l <"$TMP/got")"
    else
        printf '%-6s %s: missing [ %s] extra [ %s]\n' MISS "events-$v.json" "$missing" "$extra"
    fi
done
echo

# ---- the capture thread's own cost (tests/bench/README.md) ------------------
KSD=$KSD RULES=$RULES sh tests/bench/cost.sh "$PCAP" 3 || die "cost.sh failed"
exit 0
