#!/bin/sh
# live.sh - `make bench-live`: ksd -i on one end of a veth pair in a network
# namespace, the benchmark mix (build/tools/benchgen, BENCH_LIVE_PACKETS
# packets) replayed into the other end with `tcpreplay --topspeed` from a
# second namespace, for 1 and 2 workers. Reports per run: frames sent,
# frames the kernel handed to libpcap and dropped (pcap_stats), frames ksd
# processed, the replay time and processed frames/s over it, and the CPU
# seconds of every ksd thread (utime+stime from /proc/PID/task/*/stat), and
# how many of the generated Kaspersky clients the events name.
#
# Needs root, iproute2 and tcpreplay (Debian package tcpreplay); prints
# "skip bench-live: reason" and exits 0 otherwise. Namespaces carry the
# PID as suffix and are removed on exit. Exits non-zero only on errors.
#
# Environment: BENCH_LIVE_PACKETS (200000), BENCH_LIVE_THREADS ("1 2"),
# BENCH_LIVE_OPTS (extra ksd options, e.g. --no-ndpi), BENCH_LIVE_REPLAY
# (tcpreplay's speed option, default --topspeed; e.g. --pps=50000 for the
# rate without drops), BENCH_DIR, KSD, RULES. The load average is printed:
# on a shared machine the figures move with it.
set -u
KSD=${KSD:-./ksd}
RULES=${RULES:-signatures/kaspersky.rules}
DIR=${BENCH_DIR:-build/bench}
PACKETS=${BENCH_LIVE_PACKETS:-200000}
THREADS=${BENCH_LIVE_THREADS:-1 2}
OPTS=${BENCH_LIVE_OPTS:-}
REPLAY=${BENCH_LIVE_REPLAY:---topspeed}

[ "$(id -u)" -eq 0 ] || { echo "skip bench-live: needs root (network namespaces)"; exit 0; }
for t in ip:iproute2 tcpreplay:tcpreplay; do
    command -v "${t%%:*}" >/dev/null 2>&1 ||
        { echo "skip bench-live: needs ${t%%:*} (Debian package ${t#*:})"; exit 0; }
done
[ -x "$KSD" ] || { echo "bench-live: $KSD not built (run make)" >&2; exit 1; }

mkdir -p "$DIR"
make --no-print-directory build/tools/benchgen >/dev/null || { echo "bench-live: cannot build benchgen" >&2; exit 1; }
PCAP=$DIR/live-$PACKETS.pcap
if [ ! -s "$PCAP" ] || [ tests/tools/benchgen.c -nt "$PCAP" ]; then
    ./build/tools/benchgen -n "$PACKETS" -o "$PCAP" -k 20 -s 1 >"$PCAP.info" 2>&1 ||
        { cat "$PCAP.info" >&2; exit 1; }
fi

NS=kbl$$s
NC=kbl$$c
tmp=$(mktemp -d)
ksd_pid=""
cleanup() {
    [ -n "$ksd_pid" ] && kill "$ksd_pid" 2>/dev/null
    for ns in $NS $NC; do
        for p in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
        ip netns del "$ns" 2>/dev/null
    done
    wait 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
if ! { ip netns add "$NS" && ip netns add "$NC" &&
    ip -n "$NS" link add vS mtu 9000 type veth peer name vC mtu 9000 netns "$NC" &&
    ip -n "$NS" link set vS up && ip -n "$NC" link set vC up; } 2>"$tmp/err"; then
    echo "skip bench-live: network namespaces and veth pairs cannot be set up here ($(head -1 "$tmp/err"))"
    exit 0
fi

echo "bench-live: $PCAP ($PACKETS frames) replayed with tcpreplay $REPLAY into a veth pair," \
    "ksd options: ${OPTS:-(none)}; load average $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-8s %9s %9s %9s %9s %7s %10s %8s  %s\n' workers sent received dropped processed secs \
    frames/s clients "CPU s per thread (main first)"
for T in $THREADS; do
    # shellcheck disable=SC2086
    ip netns exec "$NS" "$KSD" -i vS -s "$RULES" --threads "$T" --stats --json "$tmp/ev.json" $OPTS \
        >"$tmp/out" 2>"$tmp/err" &
    ksd_pid=$!
    tries=300
    until grep -q "capturing on vS" "$tmp/err" 2>/dev/null; do
        tries=$((tries - 1))
        [ $tries -gt 0 ] || { echo "bench-live: ksd did not start" >&2; cat "$tmp/err" >&2; exit 1; }
        sleep 0.1
    done
    ip netns exec "$NC" tcpreplay -i vC "$REPLAY" "$PCAP" >"$tmp/replay" 2>&1 ||
        { echo "bench-live: tcpreplay failed" >&2; cat "$tmp/replay" >&2; exit 1; }
    # the workers finish what is queued: wait until the counter stops moving
    last=-1
    for _ in 1 2 3 4 5 6 7 8 9 10; do
        now=0
        for st in /proc/$ksd_pid/task/*/stat; do
            now=$((now + $(awk '{ print $14 + $15 }' "$st")))
        done
        [ "$now" -eq "$last" ] && break
        last=$now
        sleep 0.5
    done
    cpu=""
    for st in /proc/$ksd_pid/task/*/stat; do
        cpu="$cpu $(awk -v k="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / k }' "$st")"
    done
    kill -TERM "$ksd_pid"
    wait "$ksd_pid"
    ksd_pid=""
    sent=$(sed -n 's/.*Actual: \([0-9]*\) packets.*/\1/p' "$tmp/replay")
    secs=$(sed -n 's/.*Actual: [0-9]* packets ([0-9]* bytes) sent in \([0-9.]*\) seconds.*/\1/p' "$tmp/replay")
    recv=$(sed -n 's/^capture: received=\([0-9]*\) .*/\1/p' "$tmp/err")
    drop=$(sed -n 's/^capture: .*dropped=\([0-9]*\) .*/\1/p' "$tmp/err")
    proc=$(sed -n 's/^packets: \([0-9]*\) .*/\1/p' "$tmp/err")
    rate=$(awk -v p="${proc:-0}" -v s="${secs:-0}" 'BEGIN { printf "%.0f", (s > 0) ? p / s : 0 }')
    # Kaspersky clients found, of those benchgen made (fewer when frames were dropped)
    found=$(sed -n 's/.*"client":"\([^"]*\)".*/\1/p' "$tmp/ev.json" | sort -u | grep -cxF -f "$PCAP.kaspersky")
    printf '%-8s %9s %9s %9s %9s %7s %10s %8s %s\n' "$T" "${sent:-?}" "${recv:-?}" "${drop:-?}" \
        "${proc:-?}" "${secs:-?}" "$rate" "$found/$(wc -l <"$PCAP.kaspersky")" "$cpu"
    sed -n 's/^cpu: /         ksd --stats: /p' "$tmp/err"
done
