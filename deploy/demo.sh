#!/bin/sh
# demo.sh - run ksd on the bundled demo capture (deploy/demo.pcap, made with
# real protocol stacks by deploy/make-captures.sh) into a private Redis, and
# show what it found: the flagged hosts, the events and what landed in Redis.
#
# KSD_REDIS=HOST:PORT uses an existing Redis instead of starting one.
set -eu
cd "$(dirname "$0")/.."
out=build/demo
mkdir -p "$out/redis"
rm -f "$out/redis/dump.rdb"

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

pid=
cleanup() {
    [ -n "$pid" ] && redis-cli -p "$port" shutdown save >/dev/null 2>&1
    [ -n "$pid" ] && wait "$pid" 2>/dev/null
    pid=
}
trap cleanup EXIT INT TERM

if [ -n "${KSD_REDIS:-}" ]; then
    target=$KSD_REDIS
    port=${KSD_REDIS##*:}
else
    port=$(free_port)
    redis-server --port "$port" --bind 127.0.0.1 --dir "$PWD/$out/redis" --save '' \
        --appendonly no --daemonize no --logfile "$PWD/$out/redis/redis.log" </dev/null >/dev/null 2>&1 &
    pid=$!
    i=0
    until redis-cli -p "$port" ping >/dev/null 2>&1; do
        i=$((i + 1))
        [ $i -lt 100 ] || { echo "demo: redis-server did not start" >&2; exit 1; }
        sleep 0.1
    done
    target=127.0.0.1:$port
fi

echo "== ./ksd -r deploy/demo.pcap -s signatures/kaspersky.rules --redis $target --known-hosts deploy/demo.known --sites deploy/demo.sites --json $out/events.json --hosts --stats"
./ksd -r deploy/demo.pcap -s signatures/kaspersky.rules --redis "$target" --sensor-id demo \
    --known-hosts deploy/demo.known --sites deploy/demo.sites \
    --json "$out/events.json" --facts "$out/facts.tsv" --hosts --stats \
    >"$out/hosts.txt" 2>"$out/stats.txt"
echo
echo "== statistics"
cat "$out/stats.txt"
echo
echo "== detection events: $(wc -l <"$out/events.json") in $out/events.json; the first:"
head -n 1 "$out/events.json"
echo
echo "== in Redis ($target): ksd:events holds $(redis-cli -p "$port" xlen ksd:events) entries; ksd:hosts by last seen:"
redis-cli -p "$port" zrevrange ksd:hosts 0 -1 | sed 's/^/   /'
echo "   ksd:host:10.77.0.12 ->" $(redis-cli -p "$port" hgetall ksd:host:10.77.0.12 | paste -sd' ')
echo
echo "== flagged hosts"
cat "$out/hosts.txt"

# Leave the data browsable: the dashboard on the demo Redis, in the background.
if [ -z "${KSD_REDIS:-}" ] && [ -z "${KSD_DEMO_NO_DASHBOARD:-}" ]; then
    dport=8787
    python3 -c 'import socket,sys; s=socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1])))' $dport \
        2>/dev/null || dport=$(free_port)
    # hand the Redis over to the background: it stays up for the dashboard
    pid=
    nohup ./ksd dashboard --redis "127.0.0.1:$port" --listen "127.0.0.1:$dport" \
        </dev/null >"$out/dashboard.log" 2>&1 &
    echo "$! $port" >"$out/dashboard.pid"
    echo
    echo "== dashboard: http://127.0.0.1:$dport/  (ksd report --redis 127.0.0.1:$port for the table;"
    echo "   stop both with: make demo-stop)"
fi
